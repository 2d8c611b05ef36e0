"""Structure sparsities in Distiller's sense: the share of groups of weights that are all zero.

Groups, for a weight seen as the M×K matrix of its GEMM view (conv: C_out × C_in/g·kh·kw):

- ``fine``: single elements (plain sparsity);
- ``rows``: output rows, i.e. filters of a conv / output neurons of a Linear;
- ``channels``: input channels of a conv (``w[:, c]`` over every filter and kernel position),
  input columns of a Linear or other matrix;
- ``kernels``: 2-D kernels ``w[o, c]`` of a conv with 2-D kernels (None otherwise);
- ``blocks``: r×c tiles of the matrix, edge tiles padded with zeros (what BSR stores);
- ``vectors``: panels of V consecutive rows, one column (what VectorSkip skips).

Every function takes numpy or torch input and returns a float in [0, 1] (0 for empty input).
Only the zero pattern matters, so a boolean array is taken as that pattern itself: a caller
that already holds ``nonzero(w)`` passes it and no function compares the values again.
"""
import numpy as np


def _np(w) -> np.ndarray:
    """A numpy view of a weight. Only its zero pattern matters here, so a dtype numpy lacks
    (bfloat16) is widened to float32 first: zeros stay zeros."""
    if hasattr(w, "detach"):
        w = w.detach().cpu()
        if w.dtype.is_floating_point and w.dtype.itemsize < 4:
            w = w.float()
        w = w.numpy()
    return np.asarray(w)


def nonzero(w) -> np.ndarray:
    """The nonzero pattern of ``w`` as a boolean numpy array (``w`` itself if it is one)."""
    a = _np(w)
    return a if a.dtype == bool else a != 0


def _any_last(a: np.ndarray) -> np.ndarray:
    """``a.any(axis=-1)`` of a boolean array. numpy reduces a short last axis one element at
    a time (resnet50's 3×3 kernels: 5 ms a layer); OR-ing its few columns is vectorised."""
    if not 0 < a.shape[-1] <= 16:
        return a.any(axis=-1)
    out = a[..., 0].copy()
    for j in range(1, a.shape[-1]):
        out |= a[..., j]
    return out


def _share_zero(groups_nonzero: np.ndarray) -> float:
    """Share of groups whose nonzero flag is False."""
    return float(1.0 - np.count_nonzero(groups_nonzero) / groups_nonzero.size) \
        if groups_nonzero.size else 0.0


def fine(w) -> float:
    """Share of zero elements."""
    return _share_zero(nonzero(w))


def rows(w) -> float:
    """Share of all-zero rows (dim 0): filters / output neurons."""
    a = nonzero(w)
    if a.size == 0:
        return 0.0
    return _share_zero(_any_last(a.reshape(a.shape[0], -1)))


def channels(w) -> float:
    """Share of all-zero input channels (dim 1 across every other dim)."""
    a = nonzero(w)
    if a.size == 0 or a.ndim < 2:
        return 0.0
    per_input = np.logical_or.reduce(a.reshape(a.shape[0], a.shape[1], -1), axis=0)
    return _share_zero(_any_last(per_input))


def kernels(w) -> float | None:
    """Share of all-zero 2-D kernels of a 4-D conv weight; None for any other shape."""
    a = nonzero(w)
    if a.ndim != 4:
        return None
    if a.size == 0:
        return 0.0
    return _share_zero(_any_last(a.reshape(a.shape[0] * a.shape[1], -1)))


def group_nonzero(matrix, r: int, c: int) -> np.ndarray:
    """(ceil(M/r), ceil(K/c)) flags: does the r×c tile hold a nonzero (edges padded)?"""
    nz = nonzero(matrix)
    if nz.ndim != 2:
        raise ValueError(f"expected an M×K matrix, got shape {nz.shape}")
    m, k = nz.shape
    pm, pk = -(-m // r) * r, -(-k // c) * c
    if (pm, pk) != (m, k):
        padded = np.zeros((pm, pk), bool)
        padded[:m, :k] = nz
        nz = padded
    panels = np.logical_or.reduce(nz.reshape(pm // r, r, pk), axis=1)  # over r rows first
    return _any_last(panels.reshape(pm // r, pk // c, c))


def blocks(matrix, block=(4, 4)) -> float:
    """Share of all-zero r×c blocks of the M×K matrix (the blocks BSR would skip)."""
    r, c = block
    return _share_zero(group_nonzero(matrix, r, c))


def vectors(matrix, vector: int = 8) -> float:
    """Share of all-zero length-V column vectors of V-row panels (what VectorSkip skips)."""
    return _share_zero(group_nonzero(matrix, vector, 1))


def structure_sparsities(weight, matrix, block=(4, 4), vector: int = 8) -> dict:
    """All of the above for one layer: ``weight`` in its own shape, ``matrix`` its M×K view
    (either may be given as its ``nonzero`` pattern)."""
    weight, matrix = nonzero(weight), nonzero(matrix)
    return {"fine": fine(matrix), "rows": rows(matrix), "channels": channels(weight),
            "kernels": kernels(weight), "blocks": blocks(matrix, block),
            "vectors": vectors(matrix, vector)}
