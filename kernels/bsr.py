"""BSR kernels: r×c dense blocks; edge blocks are padded with zeros and cropped on output."""
import numba
import numpy as np

from .axpy import FASTMATH, FASTMATH_FUSE, axpy, axpy4
from .caches import prefetch_ahead
from .epilogue import epilogue, fill_start, finish, finish_row
from .simd import (lanes, prefetch, row_count, row_start, vadd, vfma_pair, vfmav, vload_first,
                   vload_quads, vquad_sum, vsplat_at, vstore_finish, vzero, x_row)
from .threads import num_parts, split_point


@numba.njit(cache=True)
def _x_or_zero(x, j):
    """x[j], or 0 past the end of x (the zero-padded columns of an edge block)."""
    return x[j] if j < x.shape[0] else x.dtype.type(0)


@numba.njit(cache=True, fastmath=FASTMATH_FUSE)
def _spmv_rows_4x4(blocks, indices, indptr, x, y, br0, br1, ahead, bias, residual, relu):
    """SpMV of block rows [br0, br1) for 4×4 blocks: the four row sums live in registers and
    each block is one unrolled 16-FMA step (the generic loop keeps them in memory)."""
    m = y.shape[0]
    kdim = x.shape[0]
    zero = blocks.dtype.type(0)
    flat = blocks.reshape(blocks.shape[0] * 16)
    for br in range(br0, br1):
        a0 = zero
        a1 = zero
        a2 = zero
        a3 = zero
        for b in range(np.int64(indptr[br]), np.int64(indptr[br + 1])):
            col0 = np.int64(indices[b]) * 4
            x0 = x[col0]
            if col0 + 4 <= kdim:
                x1 = x[col0 + 1]
                x2 = x[col0 + 2]
                x3 = x[col0 + 3]
            else:   # the last block column of a K not divisible by 4
                x1 = _x_or_zero(x, col0 + 1)
                x2 = _x_or_zero(x, col0 + 2)
                x3 = _x_or_zero(x, col0 + 3)
            o = b * 16
            a0 += flat[o] * x0 + flat[o + 1] * x1 + flat[o + 2] * x2 + flat[o + 3] * x3
            a1 += flat[o + 4] * x0 + flat[o + 5] * x1 + flat[o + 6] * x2 + flat[o + 7] * x3
            a2 += flat[o + 8] * x0 + flat[o + 9] * x1 + flat[o + 10] * x2 + flat[o + 11] * x3
            a3 += flat[o + 12] * x0 + flat[o + 13] * x1 + flat[o + 14] * x2 + flat[o + 15] * x3
        row0 = br * 4
        y[row0] = finish(a0, bias, residual, relu, row0, row0)
        if row0 + 1 < m:
            y[row0 + 1] = finish(a1, bias, residual, relu, row0 + 1, row0 + 1)
        if row0 + 2 < m:
            y[row0 + 2] = finish(a2, bias, residual, relu, row0 + 2, row0 + 2)
        if row0 + 3 < m:
            y[row0 + 3] = finish(a3, bias, residual, relu, row0 + 3, row0 + 3)


@numba.njit(cache=True)
def _spmv_rows_4x4_f32(blocks, indices, indptr, x, y, br0, br1, ahead, bias, residual, relu):
    """SpMV of block rows [br0, br1) for 4×4 float32 blocks: a whole block is one 16-lane
    vector, so each block is one load, one load of x's four values repeated in every row's
    lanes (``vload_quads``) and one FMA; each row's four lanes are added once per block row.
    Two sums alternate, so consecutive blocks do not wait on each other's FMA. (The scalar
    kernel takes ~13 cycles a block: 4096² at 90 %, 378 µs.) With ``ahead`` > 0 the blocks
    are prefetched that many values ahead (``caches.prefetch_ahead``): 8192² at 90 %, in
    DRAM, 1211 against 1240 µs. (The other SpMV kernels take ``ahead`` too, so that all
    share one signature, and ignore it.)"""
    m = y.shape[0]
    kdim = x.shape[0]
    flat = blocks.reshape(blocks.shape[0] * 16)
    for br in range(br0, br1):
        even = vzero(flat)
        odd = vzero(flat)
        b = np.int64(indptr[br])
        end = np.int64(indptr[br + 1])
        while b + 1 < end:
            if ahead > 0:
                prefetch(flat, b * 16 + ahead)
                prefetch(flat, b * 16 + 16 + ahead)
            even = vfmav(even, vload_first(flat, b * 16, 16), _x_quads(x, indices[b], kdim))
            odd = vfmav(odd, vload_first(flat, b * 16 + 16, 16),
                        _x_quads(x, indices[b + 1], kdim))
            b += 2
        if b < end:
            even = vfmav(even, vload_first(flat, b * 16, 16), _x_quads(x, indices[b], kdim))
        acc = vadd(even, odd)
        row0 = br * 4
        for r in range(min(4, m - row0)):
            y[row0 + r] = finish(vquad_sum(acc, r), bias, residual, relu, row0 + r, row0 + r)


@numba.njit(cache=True)
def _x_quads(x, block_col, kdim):
    """x's four values of block column ``block_col`` in every group of four lanes, zero past
    the end of x (the padded columns of the last block column when K % 4 != 0)."""
    col0 = np.int64(block_col) * 4
    if col0 + 4 <= kdim:
        return vload_quads(x, col0, 4)
    return vload_quads(x, col0, kdim - col0)


@numba.njit(cache=True, fastmath=FASTMATH)
def _spmv_rows_any(blocks, indices, indptr, x, y, br0, br1, ahead, bias, residual, relu):
    r = blocks.shape[1]
    c = blocks.shape[2]
    m = y.shape[0]
    kdim = x.shape[0]
    flat = blocks.reshape(blocks.shape[0], r * c)
    acc = np.zeros(r, y.dtype)
    for br in range(br0, br1):
        row0 = br * r
        rmax = min(r, m - row0)
        acc[:] = 0
        for b in range(np.int64(indptr[br]), np.int64(indptr[br + 1])):
            col0 = np.int64(indices[b]) * c
            cmax = min(c, kdim - col0)
            jj = 0
            while jj + 4 <= cmax:
                x0 = x[col0 + jj]
                x1 = x[col0 + jj + 1]
                x2 = x[col0 + jj + 2]
                x3 = x[col0 + jj + 3]
                for ii in range(r):
                    o = ii * c + jj
                    acc[ii] += (flat[b, o] * x0 + flat[b, o + 1] * x1
                                + flat[b, o + 2] * x2 + flat[b, o + 3] * x3)
                jj += 4
            while jj < cmax:
                xj = x[col0 + jj]
                for ii in range(r):
                    acc[ii] += flat[b, ii * c + jj] * xj
                jj += 1
        for ii in range(rmax):
            y[row0 + ii] = finish(acc[ii], bias, residual, relu, row0 + ii, row0 + ii)


# One parallel launcher per path (4×4 or any block), so that a first call compiles only the
# path it runs: a launcher holding both took twice as long to compile.
@numba.njit(cache=True, parallel=True)
def _spmv_parallel_4x4(blocks, indices, indptr, x, y, nparts, ahead, bias, residual, relu):
    for part in numba.prange(nparts):
        _spmv_rows_4x4(blocks, indices, indptr, x, y,
                       split_point(indptr, part, nparts), split_point(indptr, part + 1, nparts),
                       ahead, bias, residual, relu)


@numba.njit(cache=True, parallel=True)
def _spmv_parallel_4x4_f32(blocks, indices, indptr, x, y, nparts, ahead, bias, residual,
                           relu):
    for part in numba.prange(nparts):
        _spmv_rows_4x4_f32(blocks, indices, indptr, x, y, split_point(indptr, part, nparts),
                           split_point(indptr, part + 1, nparts), ahead, bias, residual, relu)


@numba.njit(cache=True, parallel=True)
def _spmv_parallel_any(blocks, indices, indptr, x, y, nparts, ahead, bias, residual, relu):
    for part in numba.prange(nparts):
        _spmv_rows_any(blocks, indices, indptr, x, y,
                       split_point(indptr, part, nparts), split_point(indptr, part + 1, nparts),
                       ahead, bias, residual, relu)


@numba.njit(cache=True)
def _x_row(X, starts, kdim, n, row, c, t0, t1, step):
    """The two-vector panel of X's row ``row`` from column c; zeros past the last row (the
    zero-padded columns of an edge block)."""
    if row < kdim:
        o = row_start(starts, row, n) + c
        return vload_first(X, o, t0), vload_first(X, o + step, t1)
    return vzero(X), vzero(X)


@numba.njit(cache=True)
def _spmm_rows_4x4(blocks, indices, indptr, X, starts, Y, br0, br1, bias, residual, relu):
    """SpMM of block rows [br0, br1) for 4×4 blocks, two SIMD vectors of columns at a time:
    the block row's 4 × 2 output vectors stay in registers; each block costs eight loads of X
    for thirty-two fused multiply-adds (each X row is shared by the block's four rows). Row k
    of X is at ``simd.row_start(starts, k, n)`` of X's buffer, n = Y's columns."""
    m = Y.shape[0]
    n = Y.shape[1]
    kdim = row_count(starts, X)
    step = lanes(X)
    flat = blocks.reshape(blocks.shape[0] * 16)
    c = 0
    while c < n:
        t0 = min(step, n - c)
        t1 = min(step, n - c - t0)
        for br in range(br0, br1):
            a0, b0, a1, b1 = vzero(X), vzero(X), vzero(X), vzero(X)
            a2, b2, a3, b3 = vzero(X), vzero(X), vzero(X), vzero(X)
            for b in range(np.int64(indptr[br]), np.int64(indptr[br + 1])):
                col0 = np.int64(indices[b]) * 4
                o = b * 16
                for j in range(4):
                    xa, xb = _x_row(X, starts, kdim, n, col0 + j, c, t0, t1, step)
                    a0, b0 = vfma_pair(a0, b0, flat[o + j], xa, xb)
                    a1, b1 = vfma_pair(a1, b1, flat[o + 4 + j], xa, xb)
                    a2, b2 = vfma_pair(a2, b2, flat[o + 8 + j], xa, xb)
                    a3, b3 = vfma_pair(a3, b3, flat[o + 12 + j], xa, xb)
            row0 = br * 4
            o = row0 * n + c
            added = vsplat_at(bias, row0, Y)
            vstore_finish(Y, o, a0, t0, added, residual, relu)
            vstore_finish(Y, o + step, b0, t1, added, residual, relu)
            if row0 + 1 < m:
                added = vsplat_at(bias, row0 + 1, Y)
                vstore_finish(Y, o + n, a1, t0, added, residual, relu)
                vstore_finish(Y, o + n + step, b1, t1, added, residual, relu)
            if row0 + 2 < m:
                added = vsplat_at(bias, row0 + 2, Y)
                vstore_finish(Y, o + 2 * n, a2, t0, added, residual, relu)
                vstore_finish(Y, o + 2 * n + step, b2, t1, added, residual, relu)
            if row0 + 3 < m:
                added = vsplat_at(bias, row0 + 3, Y)
                vstore_finish(Y, o + 3 * n, a3, t0, added, residual, relu)
                vstore_finish(Y, o + 3 * n + step, b3, t1, added, residual, relu)
        c += 2 * step


@numba.njit(cache=True, fastmath=FASTMATH)
def _spmm_rows_any(blocks, indices, indptr, X, starts, Y, br0, br1, bias, residual, relu):
    r = blocks.shape[1]
    c = blocks.shape[2]
    m = Y.shape[0]
    n = Y.shape[1]
    kdim = row_count(starts, X)
    flat = blocks.reshape(blocks.shape[0], r * c)  # row ii of block b: flat[b, ii*c:(ii+1)*c]
    for br in range(br0, br1):
        row0 = br * r
        rmax = min(r, m - row0)
        for ii in range(rmax):
            fill_start(Y[row0 + ii], bias, row0 + ii)
        for b in range(np.int64(indptr[br]), np.int64(indptr[br + 1])):
            col0 = np.int64(indices[b]) * c
            cmax = min(c, kdim - col0)
            jj = 0
            # Four block columns per pass: their X rows are reused by all r block rows from
            # L1, and each output row is loaded and stored once per four FMAs.
            while jj + 4 <= cmax:
                x0 = x_row(X, starts, col0 + jj, n)
                x1 = x_row(X, starts, col0 + jj + 1, n)
                x2 = x_row(X, starts, col0 + jj + 2, n)
                x3 = x_row(X, starts, col0 + jj + 3, n)
                for ii in range(rmax):
                    o = ii * c + jj
                    a0 = flat[b, o]
                    a1 = flat[b, o + 1]
                    a2 = flat[b, o + 2]
                    a3 = flat[b, o + 3]
                    yi = Y[row0 + ii]
                    axpy4(yi, a0, x0, a1, x1, a2, x2, a3, x3)
                jj += 4
            while jj < cmax:
                x0 = x_row(X, starts, col0 + jj, n)
                for ii in range(rmax):
                    a0 = flat[b, ii * c + jj]
                    yi = Y[row0 + ii]
                    axpy(yi, a0, x0)
                jj += 1
        for ii in range(rmax):
            finish_row(Y, row0 + ii, residual, relu)


@numba.njit(cache=True, parallel=True)
def _spmm_parallel_4x4(blocks, indices, indptr, X, starts, Y, nparts, bias, residual, relu):
    for part in numba.prange(nparts):
        _spmm_rows_4x4(blocks, indices, indptr, X, starts, Y,
                       split_point(indptr, part, nparts), split_point(indptr, part + 1, nparts),
                       bias, residual, relu)


@numba.njit(cache=True, parallel=True)
def _spmm_parallel_any(blocks, indices, indptr, X, starts, Y, nparts, bias, residual, relu):
    for part in numba.prange(nparts):
        _spmm_rows_any(blocks, indices, indptr, X, starts, Y,
                       split_point(indptr, part, nparts), split_point(indptr, part + 1, nparts),
                       bias, residual, relu)


def bsr_spmv(blocks, indices, indptr, x, y, bias=None, residual=None, relu=False):
    """y[:] = relu?(A @ x + bias + residual) for a validated BSR matrix; blocks (nblocks, r, c)
    C-contiguous; ``bias``, ``residual``, ``relu``: as ``csr_spmv`` takes them."""
    epi = epilogue(bias, residual, relu, y)
    nparts = num_parts(blocks.size)
    path = _spmv_path(blocks)
    ahead = prefetch_ahead(blocks.nbytes, blocks.itemsize)
    if nparts == 1:
        _SPMV_ROWS[path](blocks, indices, indptr, x, y, 0, indptr.shape[0] - 1, ahead, *epi)
    else:
        _SPMV_PARALLEL[path](blocks, indices, indptr, x, y, nparts, ahead, *epi)
    return y


def _spmv_path(blocks):
    """Which SpMV kernel runs these blocks: 4×4 float32 (one vector a block), other 4×4
    (float64: scalar sums in registers), or any other block shape."""
    if blocks.shape[1:] != (4, 4):
        return "any"
    return "4x4 f32" if blocks.dtype == np.float32 else "4x4"


_SPMV_ROWS = {"4x4 f32": _spmv_rows_4x4_f32, "4x4": _spmv_rows_4x4, "any": _spmv_rows_any}
_SPMV_PARALLEL = {"4x4 f32": _spmv_parallel_4x4_f32, "4x4": _spmv_parallel_4x4,
                  "any": _spmv_parallel_any}


def bsr_spmm(blocks, indices, indptr, X, Y, starts=None, bias=None, residual=None,
             relu=False):
    """Y[:] = relu?(A @ X + bias + residual) for a validated BSR matrix; X (K, N) and Y (M, N)
    C-contiguous. ``starts`` (X's rows read in place), ``bias``, ``residual``, ``relu``: as
    ``csr_spmm`` takes them."""
    square4 = blocks.shape[1:] == (4, 4)
    epi = epilogue(bias, residual, relu, Y, scratch=not square4)
    nparts = num_parts(blocks.size * Y.shape[1])
    if nparts == 1:
        rows = _spmm_rows_4x4 if square4 else _spmm_rows_any
        rows(blocks, indices, indptr, X, starts, Y, 0, indptr.shape[0] - 1, *epi)
    else:
        launch = _spmm_parallel_4x4 if square4 else _spmm_parallel_any
        launch(blocks, indices, indptr, X, starts, Y, nparts, *epi)
    return Y
