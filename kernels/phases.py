"""A strided convolution's input, zero-padded and split into its stride phases in one pass.

A conv of stride (sh, sw) reads its padded image in place (``SparseConv2d``) once the image
is split into sh · sw phases: phase (p, q) holds the padded rows p, p + sh, ... and columns
q, q + sw, ... . torch builds them in two passes, ``F.pad`` then a copy of a six-dimensional
permuted view whose innermost run is one element. Here each phase row is written once from
its source row, zeros where it falls in the padding. One thread, both ways, torch against
this (the pad included): 324 → 153 µs for 128 × 56 × 56 at stride 2 (resnet50's
layer2.0.conv2), 180 → 103 for 256 × 28 × 28, 122 → 84 for 512 × 14 × 14, 123 → 55 for its
first conv (3 × 224 × 224, 7 × 7, pad 3).

Offsets are unsigned: with Numba's signed indices (negative ones wrap around) LLVM did not
vectorise the strided copy, and the pass ran 2.7x slower than this.

On several threads each takes a share of every phase's rows (``threads.part_range``): the
rows that the conv before wrote on that thread, and that the conv after reads on it.
"""
import numba
import numpy as np

from .threads import num_parts, part_range


@numba.njit(cache=True)
def _split(x, sh, sw, top, left, out, i0, i1):
    """out[p, q, c, i, j] = x[c, i·sh + p − top, j·sw + q − left], zero outside x, for the
    phases out holds (its first two dimensions: all sh × sw of them, or fewer), rows i in
    [i0, i1) of each."""
    phases_h, phases_w, channels, hq, wq = out.shape
    _, h, w = x.shape
    zero = x.dtype.type(0)
    dst = out.reshape(out.size)
    src = x.reshape(x.size)
    for p in range(phases_h):
        for q in range(phases_w):
            # the columns j whose source column j·sw + q − left lies in [0, w)
            j0 = min(max(-((q - left) // sw), 0), wq)
            j1 = max(min((w - 1 - q + left) // sw + 1, wq), j0)
            for c in range(channels):
                for i in range(i0, i1):
                    o = np.uint64((((p * phases_w + q) * channels + c) * hq + i) * wq)
                    y = i * sh + p - top
                    if y < 0 or y >= h:
                        for j in range(wq):
                            dst[o + np.uint64(j)] = zero
                        continue
                    for j in range(j0):
                        dst[o + np.uint64(j)] = zero
                    s = np.uint64((c * h + y) * w + j0 * sw + q - left)
                    for j in range(j1 - j0):
                        dst[o + np.uint64(j0 + j)] = src[s + np.uint64(j * sw)]
                    for j in range(j1, wq):
                        dst[o + np.uint64(j)] = zero


@numba.njit(cache=True, parallel=True)
def _split_parallel(x, sh, sw, top, left, out, nparts):
    for part in numba.prange(nparts):
        i0, i1 = part_range(out.shape[3], 1, part, nparts)
        _split(x, sh, sw, top, left, out, i0, i1)


def _run_split(x, sh, sw, top, left, out):
    """``_split`` of all of ``out``, its rows shared across threads (``num_parts``)."""
    nparts = min(num_parts(out.size), out.shape[3])
    if nparts <= 1:
        _split(x, sh, sw, top, left, out, 0, out.shape[3])
    else:
        _split_parallel(x, sh, sw, top, left, out, nparts)


def split_phases(x, pad, out):
    """``out`` (sh, sw, C, Hq, Wq) = image ``x`` (C, H, W), padded by ``pad`` (left, right,
    top, bottom; non-negative) with zeros and then to whole phases, split into its stride
    phases (sh, sw: ``out``'s first two dimensions). Both C-contiguous numpy arrays of one
    float dtype; Hq = ceil((H + top + bottom) / sh), likewise Wq."""
    left, right, top, bottom = pad
    sh, sw, channels, hq, wq = out.shape
    c, h, w = x.shape
    if not (x.flags.c_contiguous and out.flags.c_contiguous and x.dtype == out.dtype
            and min(pad) >= 0 and sh > 0 and sw > 0 and channels == c
            and hq == -(-(h + top + bottom) // sh) and wq == -(-(w + left + right) // sw)):
        raise ValueError(f"split_phases: image {x.shape} {x.dtype} with pad {pad} does not "
                         f"split into {out.shape} {out.dtype}")
    _run_split(x, sh, sw, top, left, out)
    return out


def subsample(x, stride, out):
    """``out`` (C, Ho, Wo) = ``x`` (C, H, W)[:, ::sh, ::sw]: a strided 1×1 conv's im2col,
    its first stride phase, in one pass. Both C-contiguous numpy arrays of one float dtype,
    Ho = ceil(H / sh), Wo = ceil(W / sw)."""
    sh, sw = stride
    c, h, w = x.shape
    if not (x.flags.c_contiguous and out.flags.c_contiguous and x.dtype == out.dtype
            and sh > 0 and sw > 0 and out.shape == (c, -(-h // sh), -(-w // sw))):
        raise ValueError(f"subsample: image {x.shape} {x.dtype} at stride {stride} does not "
                         f"give {out.shape} {out.dtype}")
    _run_split(x, sh, sw, 0, 0, out.reshape((1, 1) + out.shape))
    return out
