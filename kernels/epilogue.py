"""What the kernels do to each output as they store it: Y = relu?(A @ X + bias + residual).

The epilogue is three arguments that every kernel function takes and passes on, built by
``epilogue``. (Passed as one tuple of arrays instead, the SpMM kernels ran 2-9x slower: 940
against 150 µs for VectorSkip(8) 256 × 64 × 3136, one process.)
- ``bias``: M values of the kernel's dtype, or an empty array for none (one compiled kernel
  serves both);
- ``residual``: an array of Y's shape, C-contiguous, read at Y's flat offsets (what a ResNet
  block adds to its last conv's output), or None;
- ``relu``: True to clamp each result at zero (NaN stays NaN, as in torch), or None (any
  value but None turns it on: the kernels decide it when they compile).
A None residual or ReLU is decided when the kernel compiles (a product with them compiles
its own kernel, at its first call), so a product without them runs the code it ran before
they existed.

Each row's sums get all three in registers as they are stored (``simd.vstore_finish`` for
SIMD sums, with the row's bias splat once per row; ``finish`` for scalar ones), so a layer's
bias, residual add and ReLU cost no pass over its output: torch's ``add_`` after the kernel
re-read and re-wrote all of it (the bias alone: 0.84 ms of a 21 ms VectorSkip resnet50 at
batch 1, one thread). The sums start from zero and the epilogue comes last, so a K-tiled
product applies it with its last tile and stays bit-equal to the plain one.
"""
import numba
import numpy as np


def epilogue(bias, residual, relu, y, scratch=False):
    """(bias, residual, relu) as the kernels take them, for output ``y``: an empty bias for
    none, None for no residual or no ReLU. (The caller has checked shapes, dtypes and
    layout: the kernels trust them.) The residual may be ``y`` itself (a layer writing its
    output over a residual nothing reads afterwards): each output is stored after its own
    residual value is read, and no other is read later. A kernel that writes partial sums
    to ``y`` first (``scratch``: K-tiles, rows summed in memory) gets a copy of a residual
    sharing ``y``'s memory instead."""
    if scratch and residual is not None and np.may_share_memory(residual, y):
        residual = residual.copy()
    return (np.empty(0, y.dtype) if bias is None else bias, residual, True if relu else None)


@numba.njit(cache=True)
def finish(acc, bias, residual, relu, row, off):
    """A scalar sum of output row ``row`` at flat offset ``off`` of Y, finished: plus the
    row's bias (none for a row past M: the padding rows of an edge block or panel), plus the
    residual there, then ReLU."""
    if row < bias.shape[0]:
        acc += bias[row]
    if residual is not None:
        acc += residual.reshape(residual.size)[off]
    if relu is not None and acc <= 0:   # NaN stays NaN
        acc = bias.dtype.type(0)
    return acc


@numba.njit(cache=True)
def fill_start(sums, bias, row):
    """A row summed in memory (the kernels for any block or vector shape) starts from its
    bias, or zero; ``finish_row`` adds the rest once the row is complete."""
    sums[:] = bias[row] if row < bias.shape[0] else sums.dtype.type(0)


@numba.njit(cache=True)
def finish_row(Y, row, residual, relu):
    """Row ``row`` of Y, summed in memory from ``fill_start``: plus the residual, then
    ReLU."""
    if residual is None and relu is None:
        return
    n = Y.shape[1]
    flat = Y.reshape(Y.size)
    for j in range(n):
        v = flat[row * n + j]
        if residual is not None:
            v += residual.reshape(residual.size)[row * n + j]
        if relu is not None and v <= 0:
            v = Y.dtype.type(0)
        flat[row * n + j] = v
