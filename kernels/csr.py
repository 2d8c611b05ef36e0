"""CSR kernels: y = A @ x (SpMV) and Y = A @ X (SpMM, X is K×N row-major)."""
import numba
import numpy as np

from .axpy import FASTMATH
from .epilogue import epilogue, finish
from . import rows
from .simd import (PANEL_BYTES, VECTOR_BYTES, lanes, vadd, vfma, vload_first, vsplat_at,
                   vstore_finish, vstore_first, vzero)
from .threads import part_range, num_parts, split_by_columns, split_point



@numba.njit(cache=True, fastmath=FASTMATH)
def _spmv_rows(data, indices, indptr, x, y, r0, r1, bias, residual, relu):
    for i in range(r0, r1):
        acc = data.dtype.type(0)
        for p in range(np.int64(indptr[i]), np.int64(indptr[i + 1])):
            acc += data[p] * x[indices[p]]
        y[i] = finish(acc, bias, residual, relu, i, i)


@numba.njit(cache=True, parallel=True)
def _spmv_parallel(data, indices, indptr, x, y, nparts, bias, residual, relu):
    for part in numba.prange(nparts):
        _spmv_rows(data, indices, indptr, x, y,
                   split_point(indptr, part, nparts), split_point(indptr, part + 1, nparts),
                   bias, residual, relu)


# K-tiling: a row's nonzeros read rows of X from anywhere in X. Once an X panel (K rows of
# four vectors, 256 bytes each) outgrows L2, those reads come from L3 and pace the kernel
# (4096 x 4096 at 90 %, 64 columns: 14 GMAC/s against 23 with the same nonzeros over K = 512).
# So a matrix spanning two K-tiles of TILE_K columns or more keeps a copy of its entries
# ordered by K-tile (``csr_k_tiles``); the kernel then takes each block of ROW_BLOCK rows one
# K-tile at a time, so that the tile of X it reads (64 KB) stays in L2 and the block's rows
# of Y in L1/L2 between tiles. Measured at 90 %, 64 columns, one thread, three layers in a
# row each timed alone: 1.24x at 1024 x 1024, 1.12x at 512, 0.98x at 256 (one tile), 1.29x at
# 2048; the 4096-4096-4096-1024 MLP at batch 64 1.37x (9.42 against 12.89 ms), 1.28x on two
# threads; resnet50 at 90 %, batch 1, 1.08x (convs read in place included).
TILE_K = (64 * 1024) // PANEL_BYTES
ROW_BLOCK = 256
# Rows of Y a segmented product (_spmm_segments) takes at a time, each through all its
# segments: resnet50's 7×7 stem (64 rows, 112 segments) 894 µs, against 936 with all 64.
SEGMENT_ROWS = 8


# UNSIGNED: the SpMM loops over stored entries count with unsigned integers. Numba indexes an
# array with a signed integer through its negative-index wraparound, six more instructions
# a stored entry here (sar, and, and, lea, lea, mov) that LLVM cannot drop; an unsigned index
# has none. (An unsigned value plus a plain int literal is signed again in Numba: the steps
# are np.uint64 too.) One thread, one process, interleaved, 90 %, aligned X and Y: 4096 ×
# 4096 × 64 2614 → 2307 µs, 256 × 2304 × 196 327 → 279, 128 × 1152 × 784 266 → 225; the
# one-vector passes 256 × 512 × 20 22.9 → 15.4, 512 × 512 × 8 19.6 → 12.7. The SpMV's loop,
# vectorised into gathers, ran alike either way (4096², 409 against 403 µs).
@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _segment(data, indices, p, end, X, pitch, c, t0, t1, t2, t3, a0, a1, a2, a3):
    """a0..a3 plus stored entries [p, end) of one row times columns c .. c + t0 + .. + t3 of
    X (four vectors, each of its first t lanes)."""
    step = lanes(X)
    for q in range(np.uint64(p), np.uint64(end)):   # unsigned: see UNSIGNED
        s = data[q]
        o = np.int64(indices[q]) * pitch + c
        a0 = vfma(a0, s, vload_first(X, o, t0))
        a1 = vfma(a1, s, vload_first(X, o + step, t1))
        a2 = vfma(a2, s, vload_first(X, o + 2 * step, t2))
        a3 = vfma(a3, s, vload_first(X, o + 3 * step, t3))
    return a0, a1, a2, a3


@numba.njit(cache=True)
def _spmm_block(data, indices, indptr, X, pitch, Y, r0, r1, c0, c1, tiles, bias, residual,
                relu, xshift=0):
    """Rows [r0, r1), columns [c0, c1) of Y = A @ X, one column panel at a time. A row's panel
    sums stay in SIMD registers across its nonzeros (see ``simd``): each nonzero costs one
    load of X per vector and no load or store of Y. Panels are four vectors wide
    (``_spmm_panel``); columns left over that fit two vectors take four-chain passes of one
    vector (``_spmm_rows_narrow``).
    With ``tiles`` (``csr_k_tiles``; None is decided when the kernel compiles) the panels
    are read K-tile by K-tile (``_spmm_panel_tiled``). Row k of X starts at k·pitch of X's
    flat buffer (``indices`` may hold each entry's offset there, with pitch 1). Row i's sums
    are finished (bias, residual, ReLU: ``bias, residual, relu``) as they are stored. Column
    c of Y reads column c + ``xshift`` of X (``_spmm_segments``)."""
    n = c1
    step = lanes(X)
    c = c0
    while c + 4 * step <= n:
        _spmm_panel_any(data, indices, indptr, X, pitch, xshift, Y, r0, r1, tiles, c,
                        step, step, step, step, bias, residual, relu)
        c += 4 * step
    if c + 2 * step < n:
        _spmm_panel_any(data, indices, indptr, X, pitch, xshift, Y, r0, r1, tiles, c,
                        min(step, n - c), min(step, n - c - step),
                        min(step, n - c - 2 * step), max(n - c - 3 * step, 0), bias, residual, relu)
    elif c < n:
        _spmm_rows_narrow(data, indices, indptr, X, pitch, xshift, Y, r0, r1, c, n, bias,
                          residual, relu)


@numba.njit(cache=True, inline="always")
def _spmm_panel_any(data, indices, indptr, X, pitch, xshift, Y, r0, r1, tiles, c, t0, t1, t2,
                    t3, bias, residual, relu):
    """One panel, from the K-tiled copy when there is one. The panel functions are inlined in
    Numba's IR, unlike the other kernels' helpers: left to LLVM, the 4096-wide MLP at batch 64
    ran 3 % slower (its three products in a row, one process, interleaved)."""
    if tiles is None:
        _spmm_panel(data, indices, indptr, X, pitch, xshift, Y, r0, r1, c, t0, t1, t2, t3, bias,
                    residual, relu)
    else:
        _spmm_panel_tiled(tiles[0], tiles[1], tiles[2], X, pitch, xshift, Y, r0, r1, c,
                          t0, t1, t2, t3, bias, residual, relu)


@numba.njit(cache=True, inline="always")
def _spmm_panel(data, indices, indptr, X, pitch, xshift, Y, r0, r1, c, t0, t1, t2, t3, bias,
                residual, relu):
    """Columns c .. c + t0 + t1 + t2 + t3 of rows [r0, r1): four vectors, each of its first
    t lanes (all of them in a full panel; the last panel of n = 49 is 16, 16, 16, 1 rather
    than four one-vector passes: 1.47x faster at 512 × 4608, 90 %)."""
    n = Y.shape[1]
    step = lanes(X)
    for i in range(r0, r1):
        z = vzero(X)
        a0, a1, a2, a3 = _segment(data, indices, np.int64(indptr[i]),
                                  np.int64(indptr[i + 1]), X, pitch, c + xshift,
                                  t0, t1, t2, t3, z, z, z, z)
        o = i * n + c
        added = vsplat_at(bias, i, X)
        vstore_finish(Y, o, a0, t0, added, residual, relu)
        vstore_finish(Y, o + step, a1, t1, added, residual, relu)
        vstore_finish(Y, o + 2 * step, a2, t2, added, residual, relu)
        vstore_finish(Y, o + 3 * step, a3, t3, added, residual, relu)


@numba.njit(cache=True, inline="always")
def _spmm_panel_tiled(tdata, tindices, tptr, X, pitch, xshift, Y, r0, r1, c, t0, t1, t2, t3,
                      bias, residual, relu):
    """``_spmm_panel`` from the K-tiled copy: ROW_BLOCK rows at a time, each K-tile in turn;
    a row's sums go back to Y between tiles (row i's entries in tile t are
    [tptr[t·M + i], tptr[t·M + i + 1]))."""
    m, n = Y.shape
    step = lanes(X)
    ntiles = (tptr.shape[0] - 1) // max(m, 1)
    for b0 in range(r0, r1, ROW_BLOCK):
        b1 = min(b0 + ROW_BLOCK, r1)
        for t in range(ntiles):
            for i in range(b0, b1):
                o = i * n + c
                if t == 0:
                    a0 = vzero(X)
                    a1 = a0
                    a2 = a0
                    a3 = a0
                else:
                    a0 = vload_first(Y, o, t0)
                    a1 = vload_first(Y, o + step, t1)
                    a2 = vload_first(Y, o + 2 * step, t2)
                    a3 = vload_first(Y, o + 3 * step, t3)
                q = t * m + i
                a0, a1, a2, a3 = _segment(tdata, tindices, tptr[q], tptr[q + 1], X, pitch,
                                          c + xshift, t0, t1, t2, t3, a0, a1, a2, a3)
                if t == ntiles - 1:   # the epilogue comes last, as in the plain kernel
                    added = vsplat_at(bias, i, X)
                    vstore_finish(Y, o, a0, t0, added, residual, relu)
                    vstore_finish(Y, o + step, a1, t1, added, residual, relu)
                    vstore_finish(Y, o + 2 * step, a2, t2, added, residual, relu)
                    vstore_finish(Y, o + 3 * step, a3, t3, added, residual, relu)
                else:
                    vstore_first(Y, o, a0, t0)
                    vstore_first(Y, o + step, a1, t1)
                    vstore_first(Y, o + 2 * step, a2, t2)
                    vstore_first(Y, o + 3 * step, a3, t3)


@numba.njit(cache=True, inline="always")
def _spmm_rows_narrow(data, indices, indptr, X, pitch, xshift, Y, r0, r1, c, c1, bias,
                      residual, relu):
    """Columns [c, c1) of rows [r0, r1), at most two vectors, one at a time: its sum split
    over four registers (alternate nonzeros), so that four fused multiply-adds are in
    flight instead of a chain waiting on each one's latency; masked on the last vector."""
    n = Y.shape[1]
    step = lanes(X)
    one, two, three, four = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4)
    while c < c1:
        t = min(step, c1 - c)
        xc = c + xshift
        for i in range(r0, r1):
            a0 = vzero(X)
            a1 = vzero(X)
            a2 = vzero(X)
            a3 = vzero(X)
            p = np.uint64(indptr[i])   # unsigned, and so are the steps: see UNSIGNED
            end = np.uint64(indptr[i + 1])
            while p + four <= end:
                a0 = vfma(a0, data[p], vload_first(X, np.int64(indices[p]) * pitch + xc, t))
                a1 = vfma(a1, data[p + one],
                          vload_first(X, np.int64(indices[p + one]) * pitch + xc, t))
                a2 = vfma(a2, data[p + two],
                          vload_first(X, np.int64(indices[p + two]) * pitch + xc, t))
                a3 = vfma(a3, data[p + three],
                          vload_first(X, np.int64(indices[p + three]) * pitch + xc, t))
                p += four
            while p < end:
                a0 = vfma(a0, data[p], vload_first(X, np.int64(indices[p]) * pitch + xc, t))
                p += one
            total = vadd(vadd(a0, a1), vadd(a2, a3))
            vstore_finish(Y, i * n + c, total, t, vsplat_at(bias, i, X), residual, relu)
        c += step


@numba.njit(cache=True, parallel=True)
def _spmm_parallel_cols(data, indices, indptr, X, pitch, Y, nparts, tiles, bias, residual,
                        relu):
    """The product split by column panels instead of rows (``split_by_columns``): each thread
    takes every row of its columns, so it reads only its columns of X, and the next layer's
    thread finds most of its columns' activations in its own cache."""
    for part in numba.prange(nparts):
        c0, c1 = part_range(Y.shape[1], 4 * lanes(X), part, nparts)
        _spmm_block(data, indices, indptr, X, pitch, Y, 0, Y.shape[0], c0, c1, tiles, bias,
                    residual, relu)


@numba.njit(cache=True)
def _spmm_segments(data, indices, indptr, X, pitch, Y, r0, r1, s0, s1, width, x_pitch, tiles,
                   bias, residual, relu):
    """Rows [r0, r1) of segments [s0, s1) of Y: segment s is Y's columns [s·width,
    (s + 1)·width), read from X's columns [s·x_pitch, s·x_pitch + width) (``csr_spmm``'s
    ``segments``), SEGMENT_ROWS rows of Y at a time."""
    for b0 in range(r0, r1, SEGMENT_ROWS):
        b1 = min(b0 + SEGMENT_ROWS, r1)
        for s in range(s0, s1):
            _spmm_block(data, indices, indptr, X, pitch, Y, b0, b1, s * width, (s + 1) * width,
                        tiles, bias, residual, relu, s * (x_pitch - width))


@numba.njit(cache=True, parallel=True)
def _spmm_parallel_segments(data, indices, indptr, X, pitch, Y, nparts, count, width, x_pitch,
                            tiles, bias, residual, relu):
    """``_spmm_segments`` split by segments: each thread takes every row of its segments."""
    for part in numba.prange(nparts):
        _spmm_segments(data, indices, indptr, X, pitch, Y, 0, Y.shape[0], count * part // nparts,
                       count * (part + 1) // nparts, width, x_pitch, tiles, bias, residual,
                       relu)


@numba.njit(cache=True, parallel=True)
def _spmm_parallel(data, indices, indptr, X, pitch, Y, nparts, tiles, bias, residual, relu):
    for part in numba.prange(nparts):
        _spmm_block(data, indices, indptr, X, pitch, Y,
                    split_point(indptr, part, nparts), split_point(indptr, part + 1, nparts),
                    0, Y.shape[1], tiles, bias, residual, relu)


def csr_spmv(data, indices, indptr, x, y, bias=None, residual=None, relu=False):
    """y[:] = relu?(A @ x + bias + residual) for a validated CSR matrix; x and y 1-D
    contiguous, same dtype as data; ``bias`` (M values of that dtype), ``residual`` (y's
    shape) or None, checked by the caller (``kernels.epilogue``)."""
    epi = epilogue(bias, residual, relu, y)
    nparts = num_parts(data.shape[0])
    if nparts == 1:
        _spmv_rows(data, indices, indptr, x, y, 0, y.shape[0], *epi)
    else:
        _spmv_parallel(data, indices, indptr, x, y, nparts, *epi)
    return y


def csr_spmm(data, indices, indptr, X, Y, starts=None, tiles=None, bias=None, residual=None,
             relu=False, pitch=None, segments=None):
    """Y[:] = relu?(A @ X + bias + residual) for a validated CSR matrix; X (K, N) and Y (M, N)
    C-contiguous. Row k of X may also lie elsewhere in a C-contiguous buffer X, the caller
    having checked that every row lies inside it:
    - ``starts`` (int64, one per column of A): row k is the N values from flat offset
      ``starts[k]`` (rows may overlap: a padded image read as its im2col matrix in place);
    - ``pitch``: row k starts at k · pitch, and with pitch 1 ``indices`` hold each entry's
      offset itself (what ``starts`` becomes: a caller that reads the same rows again keeps
      ``starts[indices]`` and passes it so).
    ``tiles``: the matrix's ``csr_k_tiles``, where ``csr_tiling_pays``. ``bias``,
    ``residual`` (Y's shape), ``relu``: as ``csr_spmv`` takes them. On one thread, a plain X
    may be read from an aligned copy (``rows``); on more, wide products split by column
    panels (``split_by_columns``), the others by rows.
    ``segments`` (count, width, x_pitch), with ``starts`` (or their offsets in ``indices``,
    pitch 1): Y's N = count · width columns are that many segments, segment s read from X's
    columns from s · x_pitch on (a conv's output rows, each read from its row of the padded
    image in place, where Y is the output itself; the caller has checked that each lies
    inside X)."""
    epi = epilogue(bias, residual, relu, Y, scratch=tiles is not None)
    nparts = num_parts(data.shape[0] * Y.shape[1])
    if starts is not None:
        indices, tiles = row_offsets(starts, indices, tiles)
        pitch = 1
    elif pitch is None:
        pitch = rows.pitch(X, data.shape[0]) if nparts == 1 else None
        if pitch is None:
            pitch = Y.shape[1]
        else:
            X = rows.copy_rows(X, pitch)
    if segments is not None:
        count, width, x_pitch = segments
        if nparts == 1:
            _spmm_segments(data, indices, indptr, X, pitch, Y, 0, Y.shape[0], 0, count, width,
                           x_pitch, tiles, *epi)
        else:
            _spmm_parallel_segments(data, indices, indptr, X, pitch, Y, min(nparts, count),
                                    count, width, x_pitch, tiles, *epi)
    elif nparts == 1:
        _spmm_block(data, indices, indptr, X, pitch, Y, 0, Y.shape[0], 0, Y.shape[1], tiles,
                    *epi)
    elif split_by_columns(Y.shape[1], nparts, Y.dtype):
        _spmm_parallel_cols(data, indices, indptr, X, pitch, Y, nparts, tiles, *epi)
    else:
        _spmm_parallel(data, indices, indptr, X, pitch, Y, nparts, tiles, *epi)
    return Y


def row_offsets(starts, indices, tiles=None):
    """(offsets, tiles): where each stored entry's row of X starts, ``starts[indices]``, as
    the kernel reads it with pitch 1 (int32 where every start fits), and ``tiles``
    (``csr_k_tiles``, or None) with its indices replaced likewise."""
    width = np.int32 if starts.max(initial=0) < np.iinfo(np.int32).max else np.int64
    if tiles is not None:
        tiles = (tiles[0], starts[tiles[1]].astype(width), tiles[2])
    return starts[indices].astype(width), tiles


def csr_tiling_pays(k: int, n: int, dtype) -> bool:
    """Whether Y = A @ X, A K columns wide and X N columns, should read A's K-tiled copy:
    A spans two tiles or more, and X fills more than two vectors (the panels the tiled kernel
    takes; narrower products take the one- or two-vector passes)."""
    return k > TILE_K and n > 2 * VECTOR_BYTES // np.dtype(dtype).itemsize


def csr_k_tiles(data, indices, indptr, k):
    """A CSR matrix's entries ordered by K-tile (TILE_K columns), row by row within a tile:
    (values, column indices, pointers), row i's entries of tile t at [ptr[t·M + i],
    ptr[t·M + i + 1]). A second copy of the values and indices; M·T + 1 int64 pointers."""
    m = indptr.shape[0] - 1
    ntiles = max(-(-k // TILE_K), 1)
    tile = indices.astype(np.int64) // TILE_K   # row by row, each row's tiles rising
    # tile-major, rows in order within a tile (a 16-bit key sorts by radix: 4x faster)
    order = np.argsort(tile.astype(np.uint16) if ntiles <= 1 << 16 else tile, kind="stable")
    rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(indptr.astype(np.int64)))
    counts = np.bincount(tile * m + rows, minlength=ntiles * m)
    ptr = np.zeros(ntiles * m + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    return data[order], indices[order], ptr
