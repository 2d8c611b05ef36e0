"""Shared helpers for the format and kernel tests: the formats under test, independent
reference computations (dense products, expected stored counts, structural invariants) and
hypothesis strategies for sparse float matrices.

Everything here recomputes what the formats should do from first principles (dense numpy),
so a test comparing against it can fail when the implementation is wrong."""
import json
import math
import subprocess
import sys
import textwrap

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sparsekit as sk

FLOATS = (np.float32, np.float64)

# (id, class, from_dense keyword arguments). Blocks/vectors larger than every matrix used
# with them are included on purpose ("bsr64x64", "vs64").
SPECS = [
    ("csr", sk.CSR, {}),
    ("bsr1x1", sk.BSR, {"block": (1, 1)}),
    ("bsr4x4", sk.BSR, {"block": (4, 4)}),
    ("bsr3x5", sk.BSR, {"block": (3, 5)}),
    ("bsr8x1", sk.BSR, {"block": (8, 1)}),
    ("bsr64x64", sk.BSR, {"block": (64, 64)}),
    ("vs1", sk.VectorSkip, {"vector": 1}),
    ("vs4", sk.VectorSkip, {"vector": 4}),
    ("vs8", sk.VectorSkip, {"vector": 8}),
    ("vs16", sk.VectorSkip, {"vector": 16}),
    ("vs64", sk.VectorSkip, {"vector": 64}),
]
SPEC_IDS = [s[0] for s in SPECS]
SPEC_BY_ID = {s[0]: s for s in SPECS}


def build(spec, W):
    _, cls, kw = spec
    return cls.from_dense(W, **kw)


def to_np(a) -> np.ndarray:
    """numpy view of a numpy array or (dense, CPU) torch tensor."""
    if isinstance(a, np.ndarray):
        return a
    return a.detach().numpy()


# -- independent expectations --------------------------------------------------------------
def group_shape(A) -> tuple[int, int]:
    """(rows, cols) of the tile a format stores as a unit."""
    if isinstance(A, sk.BSR):
        return A.block
    if isinstance(A, sk.VectorSkip):
        return (A.vector, 1)
    return (1, 1)


def present_tiles(W: np.ndarray, r: int, c: int) -> np.ndarray:
    """Boolean (ceil(M/r), ceil(K/c)): which r×c tiles of W hold a nonzero (NaN counts)."""
    m, k = W.shape
    mp, kp = -(-m // r) * r, -(-k // c) * c
    nz = np.zeros((mp, kp), bool)
    nz[:m, :k] = W != 0
    return nz.reshape(mp // r, r, kp // c, c).any(axis=(1, 3))


def expected_stored(A, W: np.ndarray) -> int:
    r, c = group_shape(A)
    return int(present_tiles(W, r, c).sum()) * r * c


def dense_ref(W, X) -> np.ndarray:
    """The dense product in float64 (the accuracy reference)."""
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is expected here
        return np.asarray(W, np.float64) @ np.asarray(X, np.float64)


def tolerances(dtype, K: int, W, X) -> tuple[float, float]:
    """rtol and an atol scaled by K·max|W|·max|X| (rounding grows with the reduction)."""
    scale = max(K, 1) * _maxabs(W) * _maxabs(X)
    if np.dtype(dtype) == np.float32:
        return 1e-5, scale * 1e-6 + 1e-30
    return 1e-12, scale * 1e-14 + 1e-300


def _maxabs(a) -> float:
    a = np.asarray(a)
    finite = a[np.isfinite(a)]
    return float(np.abs(finite).max()) if finite.size else 0.0


def assert_matmul_close(Y, W, X):
    """Y must equal W @ X: same shape and dtype as the dense product; NaN / ±inf exactly
    where the float64 dense product has them; finite entries within tolerance."""
    Y = to_np(Y)
    W = np.asarray(W)
    X = to_np(X)
    ref = dense_ref(W, X)
    assert Y.shape == ref.shape, (Y.shape, ref.shape)
    assert Y.dtype == W.dtype, (Y.dtype, W.dtype)
    np.testing.assert_array_equal(np.isnan(Y), np.isnan(ref), err_msg="NaN positions differ")
    np.testing.assert_array_equal(np.isposinf(Y), np.isposinf(ref), err_msg="+inf differs")
    np.testing.assert_array_equal(np.isneginf(Y), np.isneginf(ref), err_msg="-inf differs")
    finite = np.isfinite(ref)
    rtol, atol = tolerances(W.dtype, W.shape[1], W, X)
    np.testing.assert_allclose(Y[finite], ref[finite], rtol=rtol, atol=atol)


# -- structural invariants, checked with numpy only ----------------------------------------
def _assert_pointers(ptr, length, end):
    p = np.asarray(ptr).astype(np.int64)
    assert p.shape == (length,), (p.shape, length)
    assert p[0] == 0 and p[-1] == end, p
    assert np.all(np.diff(p) >= 0), p


def _assert_row_indices(indices, ptr, bound):
    idx = np.asarray(indices).astype(np.int64)
    p = np.asarray(ptr).astype(np.int64)
    assert idx.size == 0 or (idx.min() >= 0 and idx.max() < bound), (idx, bound)
    for a, b in zip(p[:-1], p[1:]):
        assert np.all(np.diff(idx[a:b]) > 0), ("unsorted or duplicate", idx[a:b])


def assert_valid(A):
    """What the kernels trust, re-checked independently of the formats' own validation: any
    object a constructor accepts must pass this (else a kernel could read out of bounds)."""
    m, k = A.shape
    assert isinstance(m, int) and isinstance(k, int) and m >= 0 and k >= 0
    assert A.dtype in (np.dtype(np.float32), np.dtype(np.float64))
    if isinstance(A, sk.CSR):
        assert A.data.ndim == 1 and A.data.flags.c_contiguous and A.data.dtype == A.dtype
        assert A.indices.shape == A.data.shape
        _assert_pointers(A.indptr, m + 1, A.data.shape[0])
        _assert_row_indices(A.indices, A.indptr, k)
    elif isinstance(A, sk.BSR):
        r, c = A.block
        assert r >= 1 and c >= 1
        assert A.blocks.shape[1:] == (r, c) and A.blocks.flags.c_contiguous
        assert A.indices.shape == (A.blocks.shape[0],)
        nbr, nbc = -(-m // r), -(-k // c)
        _assert_pointers(A.indptr, nbr + 1, A.blocks.shape[0])
        _assert_row_indices(A.indices, A.indptr, nbc)
    else:
        v = A.vector
        assert v >= 1 and A.vectors.shape[1] == v and A.vectors.flags.c_contiguous
        npanels, nwords = -(-m // v), -(-k // 64)
        assert A.bitmap.dtype == np.uint64 and A.bitmap.shape == (npanels, nwords)
        bits = bitmap_bits(A.bitmap, nwords * 64)
        assert not bits[:, k:].any(), "bits past column K"
        _assert_pointers(A.panel_ptr, npanels + 1, A.vectors.shape[0])
        np.testing.assert_array_equal(bits.sum(axis=1),
                                      np.diff(A.panel_ptr.astype(np.int64)))


def bitmap_bits(bitmap: np.ndarray, ncols: int) -> np.ndarray:
    """(npanels, ncols) booleans: bit j % 64 of word j // 64."""
    words = np.asarray(bitmap, np.uint64)
    j = np.arange(ncols)
    if words.shape[1] == 0:
        return np.zeros((words.shape[0], ncols), bool)
    return ((words[:, j // 64] >> (j % 64).astype(np.uint64)) & np.uint64(1)).astype(bool)


# -- matrices --------------------------------------------------------------------------------
def random_sparse(rng, m, k, density, dtype=np.float64, low=-2.0, high=2.0):
    """Uniform values in [low, high) at the given density (unstructured), exact zeros elsewhere."""
    w = rng.uniform(low, high, size=(m, k)).astype(dtype)
    w[rng.random((m, k)) >= density] = 0
    return w


def special_matrix(dtype=np.float64):
    """A 7×9 matrix with NaN, ±inf, -0.0, a subnormal and the extremes of the dtype."""
    info = np.finfo(dtype)
    w = np.zeros((7, 9), dtype)
    w[0, 0] = np.nan
    w[0, 8] = np.inf
    w[3, 4] = -np.inf
    w[6, 0] = -0.0
    w[6, 8] = info.max
    w[2, 2] = info.smallest_subnormal
    w[5, 1] = -info.max
    w[1, 7] = 1.5
    return w


@st.composite
def sparse_matrices(draw, max_side=14, dtype=None, special=True, min_side=0):
    """Float32/float64 matrices of random shape (0 allowed) in one of four styles:
    scattered nonzeros, fully dense, all-zero, or block-structured; with ``special`` the
    values include NaN, ±inf, -0.0 and subnormals."""
    dtype = np.dtype(draw(st.sampled_from(FLOATS)) if dtype is None else dtype)
    m = draw(st.integers(min_side, max_side))
    k = draw(st.integers(min_side, max_side))
    width = 32 if dtype == np.float32 else 64
    if special:
        elements = st.floats(width=width, allow_nan=True, allow_infinity=True)
    else:
        elements = st.floats(-100, 100, width=width)
    style = draw(st.sampled_from(["scattered", "dense", "zeros", "blocky"]))
    if style == "zeros":
        return np.zeros((m, k), dtype)
    if style == "scattered":
        return draw(hnp.arrays(dtype, (m, k), elements=elements, fill=st.just(0.0)))
    w = draw(hnp.arrays(dtype, (m, k), elements=elements))
    if style == "blocky":
        r = draw(st.integers(1, 5))
        c = draw(st.integers(1, 5))
        keep = draw(hnp.arrays(bool, (math.ceil(m / r), math.ceil(k / c))))
        mask = np.kron(keep, np.ones((r, c), bool))[:m, :k]
        w = np.where(mask, w, dtype.type(0))
    return w


@st.composite
def format_specs(draw):
    """A format with a random block shape or vector length (including ones larger than the
    matrices drawn alongside)."""
    kind = draw(st.sampled_from(["csr", "bsr", "vectorskip"]))
    if kind == "csr":
        return ("csr", sk.CSR, {})
    if kind == "bsr":
        block = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
        return (f"bsr{block}", sk.BSR, {"block": block})
    v = draw(st.sampled_from([1, 2, 3, 4, 5, 8, 16, 17, 32]))
    return (f"vs{v}", sk.VectorSkip, {"vector": v})


NN_TOL = dict(rtol=1e-4, atol=1e-5)   # sparse layers against the dense torch layer


def pruned(module, level=0.7, seed=0):
    """``module`` with standard-normal weights, magnitude-pruned to ``level`` (torch is
    imported here, not at the top: the format tests stay torch-free)."""
    import torch
    torch.manual_seed(seed)
    for p in module.parameters():
        with torch.no_grad():
            p.copy_(torch.randn_like(p))
    sk.prune.magnitude(module, level)
    return module


def run_fresh(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (what it imports is not already loaded, as it is in
    the test process); the JSON object it prints on its last line."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])
