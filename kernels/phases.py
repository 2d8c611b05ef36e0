"""A strided convolution's input, zero-padded and split into its stride phases in one pass.

A conv of stride (sh, sw) reads its padded image in place (``SparseConv2d``) once the image
is split into sh · sw phases: phase (p, q) holds the padded rows p, p + sh, ... and columns
q, q + sw, ... . torch builds them as ``F.pad`` then a copy of a six-dimensional permuted
view, two passes, the second at a few GB/s (its innermost run is one element): 323 µs for a
128 × 56 × 56 image at stride 2 (resnet50's layer2.0.conv2), one thread. Here each phase row
is written once from its source row (zeros where it falls in the padding), in
``phases``: 128 × 56 × 56 → 2 × 2 × 128 × 29 × 29 in µs figures measured against torch's
two passes in ``tests``' neighbour ``bench``: see ``SparseConv2d``.
"""
import numba
import numpy as np


@numba.njit(cache=True)
def _split(x, top, left, out):
    """out[p, q, c, i, j] = x[c, i·sh + p − top, j·sw + q − left], zero outside x."""
    sh, sw, channels, hq, wq = out.shape
    _, h, w = x.shape
    zero = x.dtype.type(0)
    for p in range(sh):
        for q in range(sw):
            # the columns j whose source column j·sw + q − left lies in [0, w)
            j0 = min(max(-((q - left) // sw), 0), wq)
            j1 = max(min((w - 1 - q + left) // sw + 1, wq), j0)
            for c in range(channels):
                for i in range(hq):
                    row = out[p, q, c, i]
                    y = i * sh + p - top
                    if y < 0 or y >= h:
                        row[:] = zero
                        continue
                    src = x[c, y]
                    row[:j0] = zero
                    first = j0 * sw + q - left
                    for j in range(j1 - j0):
                        row[j0 + j] = src[first + j * sw]
                    row[j1:] = zero


def split_phases(x, pad, stride, out):
    """``out`` (sh, sw, C, Hq, Wq) = image ``x`` (C, H, W), padded by ``pad`` (left, right,
    top, bottom) with zeros and then to whole phases, split into its stride phases. The
    caller has checked that the shapes agree (Hq = ceil((H + top + bottom) / sh), likewise
    Wq) and that both arrays are C-contiguous of one dtype."""
    left, _, top, _ = pad
    _split(x, top, left, out)
    return out
