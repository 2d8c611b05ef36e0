"""A conv read in place keeps the first Wo columns of each of its Wq-wide output rows.

A conv whose padded image is read in place as its im2col matrix (``SparseConv2d``) computes
Ho rows of Wq columns each, the width of the padded image (or of a stride phase), into one
buffer (C_out, (Ho − 1)·Wq + Wo); the last Wq − Wo columns of each row are not outputs. This
pass copies the others out, each thread a share of the rows (``threads.part_range``): the
columns the product wrote on that thread, and the rows the layer after reads there. (torch's
copy of the strided view ran on the calling thread alone, reading the other thread's half.)
"""
import numba
import numpy as np

from .threads import num_parts, part_range


@numba.njit(cache=True)
def _keep(wide, wq, out, r0, r1):
    """out[c, r, j] = wide[c, r·wq + j] for rows r in [r0, r1)."""
    channels, ho, wo = out.shape
    span = wide.shape[1]
    src = wide.reshape(wide.size)
    dst = out.reshape(out.size)
    for c in range(channels):
        for r in range(r0, r1):
            s = np.uint64(c * span + r * wq)   # unsigned: see kernels.phases
            o = np.uint64((c * ho + r) * wo)
            for j in range(wo):
                dst[o + np.uint64(j)] = src[s + np.uint64(j)]


@numba.njit(cache=True, parallel=True)
def _keep_parallel(wide, wq, out, nparts):
    for part in numba.prange(nparts):
        r0, r1 = part_range(out.shape[1], 1, part, nparts)
        _keep(wide, wq, out, r0, r1)


def keep_columns(wide, wq, out):
    """``out`` (C, Ho, Wo) = the first Wo columns of each row of ``wide`` (C, (Ho − 1)·wq +
    Wo), row r starting at column r·wq (wq ≥ Wo). Both C-contiguous numpy arrays of one float
    dtype."""
    channels, ho, wo = out.shape
    if not (wide.ndim == 2 and wide.flags.c_contiguous and out.flags.c_contiguous
            and wide.dtype == out.dtype and wq >= wo and ho > 0
            and wide.shape == (channels, (ho - 1) * wq + wo)):
        raise ValueError(f"keep_columns: rows of {wq} columns of {wide.shape} {wide.dtype} do "
                         f"not give {out.shape} {out.dtype}")
    nparts = min(num_parts(out.size), ho)
    if nparts <= 1:
        _keep(wide, wq, out, 0, ho)
    else:
        _keep_parallel(wide, wq, out, nparts)
    return out
