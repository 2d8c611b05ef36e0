"""VectorSkip kernels: panels of V output rows; a bitmap word per 64 columns says which
length-V column vectors are present; present vectors are stored contiguously, panel by panel."""
import numba
import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from .axpy import FASTMATH, FASTMATH_FUSE, axpy, axpy4
from .caches import prefetch_ahead
from .epilogue import epilogue, fill_start, finish, finish_row
from .simd import (VECTOR_BYTES, lanes, prefetch, row_start, vadd, vfma_pair, vfmav,
                   vhalves_sum, vload_first, vsplat_at, vsplat_halves, vstore_finish, vzero,
                   x_row)
from .threads import part_range, num_parts, split_by_columns, split_point



@numba.njit(cache=True)
def _decode_panel(bitmap, p, cols):
    """Write the present column indices of panel p into cols; return their count."""
    count = 0
    for w in range(bitmap.shape[1]):
        bits = bitmap[p, w]
        while bits != 0:
            cols[count] = w * 64 + np.int64(trailing_zeros(bits))
            count += 1
            bits &= bits - np.uint64(1)
    return count


def vector_columns(bitmap, panel_ptr, k: int) -> np.ndarray:
    """The column of every stored vector of a K-column matrix, in storage order, as
    ``columns_dtype(k)``: the bitmap decoded once, for the SpMV kernels."""
    columns = np.empty(int(panel_ptr[-1]) if len(panel_ptr) else 0, columns_dtype(k))
    _decode_columns(bitmap, panel_ptr, columns)
    return columns


@numba.njit(cache=True)
def _decode_columns(bitmap, panel_ptr, columns):
    for p in range(bitmap.shape[0]):
        _decode_panel(bitmap, p, columns[np.int64(panel_ptr[p]):])


def columns_dtype(k: int):
    """The narrowest dtype the SpMV kernels take for the column indices of a K-column matrix."""
    return np.uint16 if k <= 1 << 16 else np.int32


@numba.njit(cache=True, fastmath=FASTMATH_FUSE)
def _spmv_panels_v8(vectors, columns, panel_ptr, x, y, p0, p1, ahead, bias, residual, relu):
    """SpMV of panels [p0, p1) for V = 8 (float64): the eight row sums live in registers,
    one 8-wide FMA per present vector, its x found through ``columns``. (``ahead`` is taken
    for the float32 kernel's signature.)"""
    m = y.shape[0]
    zero = vectors.dtype.type(0)
    for p in range(p0, p1):
        a0 = zero
        a1 = zero
        a2 = zero
        a3 = zero
        a4 = zero
        a5 = zero
        a6 = zero
        a7 = zero
        for q in range(np.int64(panel_ptr[p]), np.int64(panel_ptr[p + 1])):
            xj = x[np.int64(columns[q])]
            a0 += vectors[q, 0] * xj
            a1 += vectors[q, 1] * xj
            a2 += vectors[q, 2] * xj
            a3 += vectors[q, 3] * xj
            a4 += vectors[q, 4] * xj
            a5 += vectors[q, 5] * xj
            a6 += vectors[q, 6] * xj
            a7 += vectors[q, 7] * xj
        row0 = p * 8
        rows = min(8, m - row0)
        y[row0] = finish(a0, bias, residual, relu, row0, row0)
        if rows > 1:
            y[row0 + 1] = finish(a1, bias, residual, relu, row0 + 1, row0 + 1)
        if rows > 2:
            y[row0 + 2] = finish(a2, bias, residual, relu, row0 + 2, row0 + 2)
        if rows > 3:
            y[row0 + 3] = finish(a3, bias, residual, relu, row0 + 3, row0 + 3)
        if rows > 4:
            y[row0 + 4] = finish(a4, bias, residual, relu, row0 + 4, row0 + 4)
        if rows > 5:
            y[row0 + 5] = finish(a5, bias, residual, relu, row0 + 5, row0 + 5)
        if rows > 6:
            y[row0 + 6] = finish(a6, bias, residual, relu, row0 + 6, row0 + 6)
        if rows > 7:
            y[row0 + 7] = finish(a7, bias, residual, relu, row0 + 7, row0 + 7)


@numba.njit(cache=True)
def _spmv_panels_v8_f32(vectors, columns, panel_ptr, x, y, p0, p1, ahead, bias, residual,
                        relu):
    """SpMV of panels [p0, p1) for V = 8, float32: two vectors at a time are one 16-lane load
    and one FMA against their two x values (``columns`` says where), two sums alternating;
    a lone last vector is added lane by lane at the end (its empty upper half must never
    meet an inf x: 0 · inf = NaN). With ``ahead`` > 0 the vectors are prefetched that many
    values ahead (``caches.prefetch_ahead``). Against packing each panel's x values first
    by compressing x under its bitmap (the previous kernel), 90 %, one thread: 4096² run
    alone (L3) 146 against 280 µs. 8192², in DRAM: 1443 µs, 1650 without prefetching (the
    previous kernel 1650-1760), where x's values (32 KB) come from L2: the streamed vectors
    evict them from L1."""
    m = y.shape[0]
    flat = vectors.reshape(vectors.size)
    for p in range(p0, p1):
        t = np.int64(panel_ptr[p])
        end = np.int64(panel_ptr[p + 1])
        q = t * 8
        even = vzero(flat)
        odd = vzero(flat)
        while t + 3 < end:
            if ahead > 0:
                prefetch(flat, q + ahead)
                prefetch(flat, q + ahead + 16)
            even = vfmav(even, vload_first(flat, q, 16),
                         vsplat_halves(x, np.int64(columns[t]), np.int64(columns[t + 1]), flat))
            odd = vfmav(odd, vload_first(flat, q + 16, 16),
                        vsplat_halves(x, np.int64(columns[t + 2]), np.int64(columns[t + 3]),
                                      flat))
            t += 4
            q += 32
        if t + 1 < end:
            even = vfmav(even, vload_first(flat, q, 16),
                         vsplat_halves(x, np.int64(columns[t]), np.int64(columns[t + 1]), flat))
            t += 2
            q += 16
        acc = vadd(even, odd)
        lone = x[np.int64(columns[t])] if t < end else x.dtype.type(0)
        row0 = p * 8
        for r in range(min(8, m - row0)):
            total = vhalves_sum(acc, r)
            if t < end:
                total += flat[q + r] * lone
            y[row0 + r] = finish(total, bias, residual, relu, row0 + r, row0 + r)


@numba.njit(cache=True, fastmath=FASTMATH)
def _spmv_panels_any(vectors, columns, panel_ptr, x, y, p0, p1, ahead, bias, residual, relu):
    """SpMV of panels [p0, p1) for any V: the V sums in a small array. (``ahead``: as
    ``_spmv_panels_v8`` takes it.)"""
    v_len = vectors.shape[1]
    m = y.shape[0]
    acc = np.zeros(v_len, vectors.dtype)
    for p in range(p0, p1):
        acc[:] = 0
        for q in range(np.int64(panel_ptr[p]), np.int64(panel_ptr[p + 1])):
            xj = x[np.int64(columns[q])]
            vec = vectors[q]
            for v in range(v_len):
                acc[v] += vec[v] * xj
        row0 = p * v_len
        for v in range(min(v_len, m - row0)):
            y[row0 + v] = finish(acc[v], bias, residual, relu, row0 + v, row0 + v)


# One parallel launcher per path (V = 8 or any V), so that a first call compiles only the
# path it runs: a launcher holding both took twice as long to compile.
@numba.njit(cache=True, parallel=True)
def _spmv_parallel_v8(vectors, columns, panel_ptr, x, y, nparts, ahead, bias, residual,
                      relu):
    for part in numba.prange(nparts):
        _spmv_panels_v8(vectors, columns, panel_ptr, x, y, split_point(panel_ptr, part, nparts),
                        split_point(panel_ptr, part + 1, nparts), ahead, bias, residual, relu)


@numba.njit(cache=True, parallel=True)
def _spmv_parallel_v8_f32(vectors, columns, panel_ptr, x, y, nparts, ahead, bias, residual,
                          relu):
    for part in numba.prange(nparts):
        _spmv_panels_v8_f32(vectors, columns, panel_ptr, x, y,
                            split_point(panel_ptr, part, nparts),
                            split_point(panel_ptr, part + 1, nparts), ahead, bias, residual,
                            relu)


@numba.njit(cache=True, parallel=True)
def _spmv_parallel_any(vectors, columns, panel_ptr, x, y, nparts, ahead, bias, residual,
                       relu):
    for part in numba.prange(nparts):
        _spmv_panels_any(vectors, columns, panel_ptr, x, y,
                         split_point(panel_ptr, part, nparts),
                         split_point(panel_ptr, part + 1, nparts), ahead, bias, residual, relu)


@numba.njit(cache=True)
def _spmm_panels_v8(vectors, bitmap, panel_ptr, X, starts, Y, p0, p1, c0, c1, bias, residual,
                    relu):
    """SpMM of panels [p0, p1), columns [c0, c1), for V = 8, two SIMD vectors of columns at
    a time: the panel's 8 × 2 output vectors stay in registers, and each present vector costs
    two loads of X for sixteen fused multiply-adds (the X row is shared by the panel's eight
    rows). Row k of X is at ``simd.row_start(starts, k, n)`` of X's buffer, n = Y's
    columns."""
    m = Y.shape[0]
    n = Y.shape[1]
    step = lanes(X)
    one = np.uint64(1)
    c = c0
    while c < c1:
        t0 = min(step, c1 - c)
        t1 = min(step, c1 - c - t0)
        for p in range(p0, p1):
            q = np.int64(panel_ptr[p])
            a0, b0, a1, b1 = vzero(X), vzero(X), vzero(X), vzero(X)
            a2, b2, a3, b3 = vzero(X), vzero(X), vzero(X), vzero(X)
            a4, b4, a5, b5 = vzero(X), vzero(X), vzero(X), vzero(X)
            a6, b6, a7, b7 = vzero(X), vzero(X), vzero(X), vzero(X)
            for w in range(bitmap.shape[1]):
                bits = bitmap[p, w]
                base = w * 64
                while bits != 0:
                    o = row_start(starts, base + np.int64(trailing_zeros(bits)), n) + c
                    xa = vload_first(X, o, t0)
                    xb = vload_first(X, o + step, t1)
                    a0, b0 = vfma_pair(a0, b0, vectors[q, 0], xa, xb)
                    a1, b1 = vfma_pair(a1, b1, vectors[q, 1], xa, xb)
                    a2, b2 = vfma_pair(a2, b2, vectors[q, 2], xa, xb)
                    a3, b3 = vfma_pair(a3, b3, vectors[q, 3], xa, xb)
                    a4, b4 = vfma_pair(a4, b4, vectors[q, 4], xa, xb)
                    a5, b5 = vfma_pair(a5, b5, vectors[q, 5], xa, xb)
                    a6, b6 = vfma_pair(a6, b6, vectors[q, 6], xa, xb)
                    a7, b7 = vfma_pair(a7, b7, vectors[q, 7], xa, xb)
                    q += 1
                    bits &= bits - one
            row0 = p * 8
            rows = min(8, m - row0)
            o = row0 * n + c
            added = vsplat_at(bias, row0, Y)
            vstore_finish(Y, o, a0, t0, added, residual, relu)
            vstore_finish(Y, o + step, b0, t1, added, residual, relu)
            if rows > 1:
                added = vsplat_at(bias, row0 + 1, Y)
                vstore_finish(Y, o + n, a1, t0, added, residual, relu)
                vstore_finish(Y, o + n + step, b1, t1, added, residual, relu)
            if rows > 2:
                added = vsplat_at(bias, row0 + 2, Y)
                vstore_finish(Y, o + 2 * n, a2, t0, added, residual, relu)
                vstore_finish(Y, o + 2 * n + step, b2, t1, added, residual, relu)
            if rows > 3:
                added = vsplat_at(bias, row0 + 3, Y)
                vstore_finish(Y, o + 3 * n, a3, t0, added, residual, relu)
                vstore_finish(Y, o + 3 * n + step, b3, t1, added, residual, relu)
            if rows > 4:
                added = vsplat_at(bias, row0 + 4, Y)
                vstore_finish(Y, o + 4 * n, a4, t0, added, residual, relu)
                vstore_finish(Y, o + 4 * n + step, b4, t1, added, residual, relu)
            if rows > 5:
                added = vsplat_at(bias, row0 + 5, Y)
                vstore_finish(Y, o + 5 * n, a5, t0, added, residual, relu)
                vstore_finish(Y, o + 5 * n + step, b5, t1, added, residual, relu)
            if rows > 6:
                added = vsplat_at(bias, row0 + 6, Y)
                vstore_finish(Y, o + 6 * n, a6, t0, added, residual, relu)
                vstore_finish(Y, o + 6 * n + step, b6, t1, added, residual, relu)
            if rows > 7:
                added = vsplat_at(bias, row0 + 7, Y)
                vstore_finish(Y, o + 7 * n, a7, t0, added, residual, relu)
                vstore_finish(Y, o + 7 * n + step, b7, t1, added, residual, relu)
        c += 2 * step


@numba.njit(cache=True, fastmath=FASTMATH)
def _spmm_panels_any(vectors, bitmap, panel_ptr, X, starts, Y, p0, p1, bias, residual, relu):
    v_len = vectors.shape[1]
    m = Y.shape[0]
    n = Y.shape[1]
    cols = np.empty(bitmap.shape[1] * 64, np.int64)
    for p in range(p0, p1):
        count = _decode_panel(bitmap, p, cols)
        q0 = np.int64(panel_ptr[p])
        row0 = p * v_len
        vmax = min(v_len, m - row0)
        for v in range(vmax):
            fill_start(Y[row0 + v], bias, row0 + v)
        t = 0
        # Four vectors per pass: each output row is loaded and stored once per four FMAs,
        # and the four X rows are reused from L1 by all V rows of the panel.
        while t + 4 <= count:
            x0 = x_row(X, starts, cols[t], n)
            x1 = x_row(X, starts, cols[t + 1], n)
            x2 = x_row(X, starts, cols[t + 2], n)
            x3 = x_row(X, starts, cols[t + 3], n)
            q = q0 + t
            for v in range(vmax):
                a0 = vectors[q, v]
                a1 = vectors[q + 1, v]
                a2 = vectors[q + 2, v]
                a3 = vectors[q + 3, v]
                yv = Y[row0 + v]
                axpy4(yv, a0, x0, a1, x1, a2, x2, a3, x3)
            t += 4
        while t < count:
            x0 = x_row(X, starts, cols[t], n)
            for v in range(vmax):
                a0 = vectors[q0 + t, v]
                yv = Y[row0 + v]
                axpy(yv, a0, x0)
            t += 1
        for v in range(vmax):
            finish_row(Y, row0 + v, residual, relu)


@numba.njit(cache=True, parallel=True)
def _spmm_parallel_v8(vectors, bitmap, panel_ptr, X, starts, Y, nparts, bias, residual, relu):
    for part in numba.prange(nparts):
        _spmm_panels_v8(vectors, bitmap, panel_ptr, X, starts, Y,
                        split_point(panel_ptr, part, nparts),
                        split_point(panel_ptr, part + 1, nparts), 0, Y.shape[1], bias,
                        residual, relu)


@numba.njit(cache=True, parallel=True)
def _spmm_parallel_v8_cols(vectors, bitmap, panel_ptr, X, starts, Y, nparts, bias, residual,
                           relu):
    """The V = 8 product split by columns instead of panels (``split_by_columns``), in whole
    passes of two vectors: each thread takes every panel of its columns."""
    for part in numba.prange(nparts):
        c0, c1 = part_range(Y.shape[1], 2 * lanes(X), part, nparts)
        _spmm_panels_v8(vectors, bitmap, panel_ptr, X, starts, Y, 0, bitmap.shape[0], c0, c1,
                        bias, residual, relu)


@numba.njit(cache=True, parallel=True)
def _spmm_parallel_any(vectors, bitmap, panel_ptr, X, starts, Y, nparts, bias, residual, relu):
    for part in numba.prange(nparts):
        _spmm_panels_any(vectors, bitmap, panel_ptr, X, starts, Y,
                         split_point(panel_ptr, part, nparts),
                         split_point(panel_ptr, part + 1, nparts), bias, residual, relu)


def vectorskip_spmv(vectors, bitmap, panel_ptr, x, y, bias=None, residual=None, relu=False,
                    columns=None):
    """y[:] = relu?(A @ x + bias + residual); vectors (nvec, V), bitmap (npanels, ceil(K/64))
    uint64; ``bias``, ``residual``, ``relu``: as ``csr_spmv`` takes them. The kernels read
    each vector's column (``vector_columns``) instead of walking the bitmap: pass them as
    ``columns`` (of ``columns_dtype``), or they are decoded here at every call."""
    epi = epilogue(bias, residual, relu, y)
    if columns is None:
        columns = vector_columns(bitmap, panel_ptr, x.shape[0])
    nparts = num_parts(vectors.size)
    path = _spmv_path(vectors)
    ahead = prefetch_ahead(vectors.nbytes, vectors.itemsize)
    if nparts == 1:
        _SPMV_PANELS[path](vectors, columns, panel_ptr, x, y, 0, bitmap.shape[0], ahead, *epi)
    else:
        _SPMV_PARALLEL[path](vectors, columns, panel_ptr, x, y, nparts, ahead, *epi)
    return y


def _spmv_path(vectors):
    """Which SpMV kernel runs these vectors: V = 8 float32 (two vectors an FMA), other V = 8
    (float64: scalar sums in registers), or any other V."""
    if vectors.shape[1] != 8:
        return "any"
    return "v8 f32" if vectors.dtype == np.float32 else "v8"


_SPMV_PANELS = {"v8 f32": _spmv_panels_v8_f32, "v8": _spmv_panels_v8, "any": _spmv_panels_any}
_SPMV_PARALLEL = {"v8 f32": _spmv_parallel_v8_f32, "v8": _spmv_parallel_v8,
                  "any": _spmv_parallel_any}


def vectorskip_spmm(vectors, bitmap, panel_ptr, X, Y, starts=None, bias=None, residual=None,
                    relu=False):
    """Y[:] = relu?(A @ X + bias + residual); X (K, N) and Y (M, N) C-contiguous. ``starts``
    (X's rows read in place), ``bias``, ``residual``, ``relu``: as ``csr_spmm`` takes them."""
    v8 = vectors.shape[1] == 8
    epi = epilogue(bias, residual, relu, Y, scratch=not v8)
    nparts = num_parts(vectors.size * Y.shape[1])
    if nparts == 1:
        if v8:
            _spmm_panels_v8(vectors, bitmap, panel_ptr, X, starts, Y, 0, bitmap.shape[0], 0,
                            Y.shape[1], *epi)
        else:
            _spmm_panels_any(vectors, bitmap, panel_ptr, X, starts, Y, 0, bitmap.shape[0], *epi)
    elif v8 and split_by_columns(Y.shape[1], nparts, Y.dtype, 2 * VECTOR_BYTES):
        _spmm_parallel_v8_cols(vectors, bitmap, panel_ptr, X, starts, Y, nparts, *epi)
    else:
        launch = _spmm_parallel_v8 if v8 else _spmm_parallel_any
        launch(vectors, bitmap, panel_ptr, X, starts, Y, nparts, *epi)
    return Y
