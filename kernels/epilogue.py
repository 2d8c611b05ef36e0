"""What the kernels do to each output as they store it: Y = relu?(A @ X + bias + residual).

The epilogue is one tuple ``epi = (bias, residual, relu)``, built by ``epilogue``:
- ``bias``: M values of the kernel's dtype, or an empty array for none;
- ``residual``: an array of Y's shape, C-contiguous, read at Y's flat offsets (what a ResNet
  block adds to its last conv's output), or an empty array of Y's rank for none;
- ``relu``: clamp each result at zero (NaN stays NaN, as in torch).
One compiled kernel serves every combination (a None would compile another one).

Each row's sums get all three in registers as they are stored (``store_finish`` for SIMD
sums, ``finish`` for scalar ones), so a layer's bias, residual add and ReLU cost no pass over
its output: torch's ``add_`` after the kernel re-read and re-wrote all of it (the bias alone:
0.84 ms of a 21 ms VectorSkip resnet50 at batch 1, one thread). The sums start from zero and
the epilogue comes last, so a K-tiled product applies it with its last tile and stays
bit-equal to the plain one.
"""
import numba
import numpy as np

from .simd import lanes, vadd, vload_first, vrelu, vsplat_at, vstore_first


def epilogue(bias, residual, relu, y):
    """The ``epi`` tuple for output ``y``: empty arrays for a missing bias or residual.
    (The caller has checked shapes, dtypes and layout: the kernels trust them.)"""
    empty = np.empty((0,) * y.ndim, y.dtype)
    return (np.empty(0, y.dtype) if bias is None else bias,
            empty if residual is None else residual, bool(relu))


@numba.njit(cache=True)
def finish(acc, epi, row, off):
    """A scalar sum of output row ``row`` at flat offset ``off`` of Y, finished: plus the
    row's bias (none for a row past M: the padding rows of an edge block or panel), plus the
    residual there, then ReLU."""
    bias, residual, relu = epi
    if row < bias.shape[0]:
        acc += bias[row]
    if residual.size:
        acc += residual.reshape(residual.size)[off]
    if relu and acc <= 0:   # NaN stays NaN
        acc = bias.dtype.type(0)
    return acc


@numba.njit(cache=True)
def store_finish(Y, off, v, count, epi, row):
    """Y[off : off + count] = the first ``count`` lanes of v, finished as ``finish`` does."""
    bias, residual, relu = epi
    v = vadd(v, vsplat_at(bias, row, Y))
    if residual.size:
        v = vadd(v, vload_first(residual, off, count))
    if relu:
        v = vrelu(v)
    vstore_first(Y, off, v, count)


@numba.njit(cache=True)
def store_pair(Y, off, v0, v1, count0, count1, epi, row):
    """The two-vector panel of output row ``row`` from flat offset ``off``: ``count0`` lanes
    of v0, then ``count1`` of v1 (the last columns possibly partial), finished."""
    store_finish(Y, off, v0, count0, epi, row)
    store_finish(Y, off + lanes(Y), v1, count1, epi, row)


@numba.njit(cache=True)
def fill_start(sums, epi, row):
    """A row summed in memory (the kernels for any block or vector shape) starts from its
    bias, or zero; ``finish_row`` adds the rest once the row is complete."""
    bias = epi[0]
    sums[:] = bias[row] if row < bias.shape[0] else sums.dtype.type(0)


@numba.njit(cache=True)
def finish_row(Y, row, c0, c1, epi):
    """Columns [c0, c1) of a row summed in memory from ``fill_start``: plus the residual,
    then ReLU."""
    residual, relu = epi[1], epi[2]
    if residual.size == 0 and not relu:
        return
    n = Y.shape[1]
    flat = Y.reshape(Y.size)
    res = residual.reshape(residual.size)
    for j in range(c0, c1):
        v = flat[row * n + j]
        if residual.size:
            v += res[row * n + j]
        if relu and v <= 0:
            v = Y.dtype.type(0)
        flat[row * n + j] = v
