"""The bias the kernels add: Y = A @ X + bias, one value per output row.

``bias`` is an array of M values of the kernel's dtype, or an empty one for none: one compiled
kernel serves both (a None would compile a second one). Row i's sums get bias[i] in registers
as they are stored (``simd.vsplat_at`` in the SIMD kernels; ``plus_bias`` for scalar sums),
so a layer's bias costs no pass over its output: a torch ``add_`` after the kernel re-read and
re-wrote all of it, 0.84 ms of a 21 ms VectorSkip resnet50 at batch 1, one thread. The sums
themselves start from zero; the bias comes last, so a K-tiled product adds it with its last
tile and stays bit-equal to the plain one.
"""
import numba
import numpy as np


@numba.njit(cache=True)
def plus_bias(acc, bias, row):
    """A row's scalar sum plus its bias; the sum alone when there is none, or for a row past M
    (the padding rows of an edge block or panel)."""
    if row < bias.shape[0]:
        return acc + bias[row]
    return acc


@numba.njit(cache=True)
def fill_start(sums, bias, row):
    """A row summed in memory (the kernels for any block or vector shape) starts from its
    bias, or zero."""
    sums[:] = plus_bias(sums.dtype.type(0), bias, row)


def bias_or_none(bias, dtype):
    """The array a kernel takes for ``bias``: an empty one for None (no bias)."""
    return np.empty(0, dtype) if bias is None else bias
