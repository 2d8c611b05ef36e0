"""2-D max pooling over NCHW images, separably: for each output row, the maximum of its kh
input rows first (whole rows, contiguous), then the maximum over each window of that row.

Why: torch's CPU max_pool2d (one thread, NCHW) takes several milliseconds on a ResNet stem
(64 × 112 × 112): as much as all of a 90 %-sparse model's convolutions after it. Splitting the
window into two passes does about kh + kw comparisons per output instead of kh · kw, and the
first pass, over contiguous rows, is the one LLVM vectorises: doing it first, on Ho rows of W
elements, leaves only Ho · Wo windows to the scalar pass (1.8× faster than reducing each input
row's windows first: 64 × 112² at stride 2, 0.87 ms against 1.62 ms, one thread).
"""
import numba
import numpy as np

from .threads import num_parts


@numba.njit(cache=True)
def _max(m, v):
    """max(m, v) that propagates NaN from either side, as torch's max_pool2d does."""
    return m if (m != m or m >= v) else v


@numba.njit(cache=True)
def _pool_planes(x, kh, kw, sh, sw, top, left, out, p0, p1):
    """Planes [p0, p1) of the B·C image planes (see ``max_pool2d``)."""
    nc, h, w = x.shape[1], x.shape[2], x.shape[3]
    ho, wo = out.shape[2], out.shape[3]
    row = np.empty(w, x.dtype)
    lowest = x.dtype.type(-np.inf)
    for plane in range(p0, p1):
        b, c = plane // nc, plane % nc
        image = x[b, c]
        pooled = out[b, c]
        for oh in range(ho):
            h0 = oh * sh - top
            row[:] = lowest
            for i in range(max(h0, 0), min(h0 + kh, h)):   # the window's rows, whole
                src = image[i]
                for j in range(w):
                    row[j] = _max(row[j], src[j])
            dst = pooled[oh]
            for ow in range(wo):                            # then across each window
                w0 = ow * sw - left
                m = lowest
                for j in range(max(w0, 0), min(w0 + kw, w)):
                    m = _max(m, row[j])
                dst[ow] = m


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
