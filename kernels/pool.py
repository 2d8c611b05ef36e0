"""2-D max pooling over NCHW images, separably: each input row is reduced to its Wo window
maxima first, then each output row is the maximum of kh such rows.

Why: torch's CPU max_pool2d (one thread, NCHW) takes several milliseconds on a ResNet stem
(64 × 112 × 112): as much as all of a 90 %-sparse model's convolutions after it. Splitting the
window into a row pass and a column pass does kh + kw comparisons per output instead of
kh · kw, and the column pass runs over contiguous rows, which LLVM vectorises.
"""
import numba
import numpy as np

from .threads import num_parts


@numba.njit(cache=True, inline="always")
def _max(m, v):
    """max(m, v) that propagates NaN from either side, as torch's max_pool2d does."""
    return m if (m != m or m >= v) else v


@numba.njit(cache=True)
def _pool_planes(x, kh, kw, sh, sw, top, left, out, p0, p1):
    """Planes [p0, p1) of the B·C image planes (see ``max_pool2d``)."""
    nc, h, w = x.shape[1], x.shape[2], x.shape[3]
    ho, wo = out.shape[2], out.shape[3]
    rows = np.empty((h, wo), x.dtype)
    lowest = x.dtype.type(-np.inf)
    for plane in range(p0, p1):
        b, c = plane // nc, plane % nc
        image = x[b, c]
        for i in range(h):
            src = image[i]
            dst = rows[i]
            for ow in range(wo):
                w0 = ow * sw - left
                m = lowest
                for j in range(max(w0, 0), min(w0 + kw, w)):
                    m = _max(m, src[j])
                dst[ow] = m
        pooled = out[b, c]
        for oh in range(ho):
            h0 = oh * sh - top
            dst = pooled[oh]
            dst[:] = lowest
            for i in range(max(h0, 0), min(h0 + kh, h)):
                row = rows[i]
                for ow in range(wo):
                    dst[ow] = _max(dst[ow], row[ow])


@numba.njit(cache=True, parallel=True)
def _pool_parallel(x, kh, kw, sh, sw, top, left, out, nparts):
    planes = x.shape[0] * x.shape[1]
    for part in numba.prange(nparts):
        _pool_planes(x, kh, kw, sh, sw, top, left, out, part * planes // nparts,
                     (part + 1) * planes // nparts)


def max_pool2d(x, kh, kw, sh, sw, top, left, out):
    """out[b, c, oh, ow] = max of x[b, c, oh·sh − top + i, ow·sw − left + j] over the
    0 <= i < kh, 0 <= j < kw that fall inside the image (padding never wins); -inf for a
    window wholly in the padding. x (B, C, H, W) and out (B, C, Ho, Wo) C-contiguous. The
    image planes are split across threads (``threads.num_parts``)."""
    planes = x.shape[0] * x.shape[1]
    nparts = min(num_parts(x.size * kw + out.size * kh), planes)
    if nparts <= 1:
        _pool_planes(x, kh, kw, sh, sw, top, left, out, 0, planes)
    else:
        _pool_parallel(x, kh, kw, sh, sw, top, left, out, nparts)
    return out
