"""to_scipy/from_scipy and to_torch/from_torch for CSR, BSR and VectorSkip."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given

import sparsekit as sk
from helpers import FLOATS, build, format_specs, random_sparse, sparse_matrices

DIVISIBLE = [("csr", sk.CSR, {}), ("bsr2x3", sk.BSR, {"block": (2, 3)}),
             ("bsr1x1", sk.BSR, {"block": (1, 1)}), ("vs4", sk.VectorSkip, {"vector": 4}),
             ("vs1", sk.VectorSkip, {"vector": 1})]


@pytest.fixture(params=DIVISIBLE, ids=[d[0] for d in DIVISIBLE])
def dspec(request):
    return request.param


def _w(dtype=np.float64, shape=(12, 18), seed=0, density=0.3):
    w = random_sparse(np.random.default_rng(seed), *shape, density, dtype)
    w[1, 2] = np.nan
    w[5, 17] = -np.inf
    return w


def _kw(A):
    if isinstance(A, sk.BSR):
        return {"block": A.block}
    if isinstance(A, sk.VectorSkip):
        return {"vector": A.vector}
    return {}


# -- scipy ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_to_scipy(dspec, dtype):
    W = _w(dtype)
    A = build(dspec, W)
    s = A.to_scipy()
    assert sp.issparse(s) and s.shape == W.shape and s.dtype == W.dtype
    if isinstance(A, sk.CSR):
        assert s.format == "csr" and isinstance(s, sp.csr_array)
        assert s.nnz == A.nnz
    elif isinstance(A, sk.BSR):
        assert s.format == "bsr" and isinstance(s, sp.bsr_array)
        assert s.blocksize == A.block
        assert s.data.size == A.stored
    else:
        assert s.format == "bsr" and s.blocksize == (A.vector, 1)
        assert s.data.size == A.stored
    assert np.array_equal(s.toarray(), W, equal_nan=True)
    s.check_format(full_check=True)
    # The scipy object owns its values: changing it leaves A alone.
    s.data[...] = 0
    assert np.array_equal(A.to_dense(), W, equal_nan=True)


def test_scipy_round_trip(dspec):
    W = _w()
    A = build(dspec, W)
    B = type(A).from_scipy(A.to_scipy(), **_kw(A))
    assert np.array_equal(B.to_dense(), W, equal_nan=True)
    assert B.nnz == A.nnz and B.stored == A.stored and B.dtype == A.dtype


def test_scipy_product_matches():
    W = random_sparse(np.random.default_rng(1), 16, 24, 0.3)
    x = np.random.default_rng(2).standard_normal(24)
    for A in (sk.CSR.from_dense(W), sk.BSR.from_dense(W, block=(4, 4)),
              sk.VectorSkip.from_dense(W, vector=8)):
        np.testing.assert_allclose(A.to_scipy() @ x, A @ x, rtol=1e-12, atol=1e-12)


def _with_duplicates(dtype=np.float64):
    """COO with duplicates (summed), explicit zeros (dropped), and a pair cancelling to 0."""
    rows = np.array([0, 0, 1, 2, 2, 3, 3, 4])
    cols = np.array([1, 1, 2, 0, 0, 4, 3, 4])
    vals = np.array([1.0, 2.0, 0.0, 5.0, -5.0, 7.0, 0.0, 0.5], dtype)
    dense = np.zeros((5, 6), dtype)
    dense[0, 1], dense[3, 4], dense[4, 4] = 3.0, 7.0, 0.5
    return (vals, (rows, cols)), dense


@pytest.mark.parametrize("kind", ["coo_array", "coo_matrix", "csr_array", "csr_matrix",
                                  "csc_array", "csc_matrix", "lil_array", "dok_array"])
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_from_scipy_sums_duplicates_drops_zeros(spec, kind, dtype):
    args, dense = _with_duplicates(dtype)
    s = getattr(sp, kind)(sp.coo_array(args, shape=(5, 6)))
    if kind.startswith("coo"):
        s = getattr(sp, kind)(args, shape=(5, 6))   # keep the raw duplicates
        assert s.nnz == 8
    _, cls, kw = spec
    A = cls.from_scipy(s, **kw)
    assert A.dtype == dtype
    np.testing.assert_array_equal(A.to_dense(), dense)
    assert A.nnz == 3
    if cls is sk.CSR:
        assert A.stored == 3  # neither explicit zeros nor cancelled pairs are stored


def test_from_scipy_csr_with_explicit_zeros_and_unsorted_indices():
    s = sp.csr_array((np.array([2.0, 0.0, 1.0, 3.0]), np.array([3, 1, 0, 2]),
                      np.array([0, 3, 3, 4])), shape=(3, 4))
    s.has_sorted_indices = False
    A = sk.CSR.from_scipy(s)
    np.testing.assert_array_equal(A.to_dense(), [[1, 0, 0, 2], [0, 0, 0, 0], [0, 0, 3, 0]])
    assert A.stored == 3
    assert list(A.indices) == [0, 3, 2]
    # The input is left as it was.
    assert s.nnz == 4


def test_from_scipy_bsr_defaults_to_its_blocksize():
    W = random_sparse(np.random.default_rng(3), 8, 12, 0.3)
    s = sp.bsr_array(W, blocksize=(2, 4))
    A = sk.BSR.from_scipy(s)
    assert A.block == (2, 4)
    np.testing.assert_array_equal(A.to_dense(), W)
    B = sk.BSR.from_scipy(s, block=(4, 3))
    assert B.block == (4, 3)
    np.testing.assert_array_equal(B.to_dense(), W)


def test_from_scipy_bsr_needs_block_for_other_formats():
    with pytest.raises(ValueError, match="block"):
        sk.BSR.from_scipy(sp.csr_array(np.eye(4)))


def test_from_scipy_keeps_nan_and_inf():
    s = sp.coo_array((np.array([np.nan, np.inf, -np.inf]), ([0, 1, 2], [2, 1, 0])),
                     shape=(3, 3))
    for A in (sk.CSR.from_scipy(s), sk.BSR.from_scipy(s, block=(2, 2)),
              sk.VectorSkip.from_scipy(s, vector=2)):
        assert A.nnz == 3
        assert np.array_equal(A.to_dense(), s.toarray(), equal_nan=True)


@pytest.mark.parametrize("bad,exc,match", [
    (sp.csr_array(np.eye(3, dtype=np.int64)), TypeError, "float32 or float64"),
    (sp.csr_array(np.eye(3, dtype=np.complex128)), TypeError, "float32 or float64"),
    (np.eye(3), TypeError, "scipy"),
    (torch.eye(3), TypeError, "scipy"),
], ids=["int", "complex", "ndarray", "tensor"])
def test_from_scipy_rejects(bad, exc, match):
    for cls, kw in [(sk.CSR, {}), (sk.BSR, {"block": (2, 2)}), (sk.VectorSkip, {})]:
        with pytest.raises(exc, match=match):
            cls.from_scipy(bad, **kw)


@given(W=sparse_matrices(max_side=12), fmt=format_specs())
def test_from_scipy_property(W, fmt):
    _, cls, kw = fmt
    A = cls.from_scipy(sp.csr_array(W), **kw)
    assert np.array_equal(A.to_dense(), W, equal_nan=True)
    assert A.nnz == np.count_nonzero(W)


# -- torch ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_to_torch(dspec, dtype):
    W = _w(dtype)
    A = build(dspec, W)
    t = A.to_torch()
    assert isinstance(t, torch.Tensor) and tuple(t.shape) == W.shape
    assert t.dtype == torch.from_numpy(W).dtype
    if isinstance(A, sk.CSR):
        assert t.layout == torch.sparse_csr
        assert t.values().numel() == A.nnz
    else:
        assert t.layout == torch.sparse_bsr
        block = A.block if isinstance(A, sk.BSR) else (A.vector, 1)
        assert tuple(t.values().shape[1:]) == block
        assert t.values().numel() == A.stored
    assert np.array_equal(t.to_dense().numpy(), W, equal_nan=True)
    # The tensor owns its values.
    t.values().zero_()
    assert np.array_equal(A.to_dense(), W, equal_nan=True)


def test_torch_round_trip(dspec):
    W = _w()
    A = build(dspec, W)
    B = type(A).from_torch(A.to_torch(), **_kw(A))
    assert np.array_equal(B.to_dense(), W, equal_nan=True)
    assert B.nnz == A.nnz and B.stored == A.stored


def test_torch_product_matches():
    W = random_sparse(np.random.default_rng(4), 16, 24, 0.3, np.float32)
    X = torch.randn(24, 5)
    # (Not VectorSkip: its V×1 blocks are non-square, which torch's BSR matmul refuses.)
    for A in (sk.CSR.from_dense(W), sk.BSR.from_dense(W, block=(4, 4))):
        np.testing.assert_allclose((A.to_torch() @ X).numpy(), (A @ X).numpy(),
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", ["dense", "coo", "coo_uncoalesced", "csr", "csc", "bsr"])
def test_from_torch_layouts(spec, layout):
    W = random_sparse(np.random.default_rng(5), 8, 12, 0.4)
    W[2, 3] = np.nan
    t = torch.from_numpy(W.copy())
    if layout == "coo":
        t = t.to_sparse()
    elif layout == "coo_uncoalesced":
        # Every nonzero split in two halves: duplicates must be summed.
        c = t.to_sparse().coalesce()
        idx = torch.cat([c.indices(), c.indices()], dim=1)
        t = torch.sparse_coo_tensor(idx, torch.cat([c.values() / 2, c.values() / 2]), (8, 12))
        assert not t.is_coalesced()
    elif layout == "csr":
        t = t.to_sparse_csr()
    elif layout == "csc":
        t = t.to_sparse_csc()
    elif layout == "bsr":
        t = t.to_sparse_bsr((2, 3))
    _, cls, kw = spec
    A = cls.from_torch(t, **kw)
    assert np.array_equal(A.to_dense(), W, equal_nan=True)
    assert A.nnz == np.count_nonzero(W)


def test_from_torch_drops_explicit_zeros():
    t = torch.sparse_coo_tensor(torch.tensor([[0, 1, 1], [0, 1, 2]]),
                                torch.tensor([0.0, 2.0, 0.0]), (2, 3))
    A = sk.CSR.from_torch(t)
    assert A.stored == 1 and A.nnz == 1
    np.testing.assert_array_equal(A.to_dense(), [[0, 0, 0], [0, 2, 0]])


def test_from_torch_bsr_defaults_to_its_blocksize():
    t = torch.arange(24.0).reshape(4, 6).to_sparse_bsr((2, 3))
    A = sk.BSR.from_torch(t)
    assert A.block == (2, 3)
    np.testing.assert_array_equal(A.to_dense(), np.arange(24.0).reshape(4, 6))
    with pytest.raises(ValueError, match="block"):
        sk.BSR.from_torch(torch.eye(4))
    with pytest.raises(ValueError, match="block"):
        sk.BSR.from_torch(torch.eye(4).to_sparse_csr())


def test_from_torch_float32_kept():
    t = torch.eye(5, dtype=torch.float32).to_sparse_csr()
    for A in (sk.CSR.from_torch(t), sk.BSR.from_torch(t, block=(2, 2)),
              sk.VectorSkip.from_torch(t)):
        assert A.dtype == np.float32


@pytest.mark.parametrize("bad,exc,match", [
    (np.eye(3), TypeError, "torch"),
    (torch.eye(3, dtype=torch.int64).to_sparse(), TypeError, "float32 or float64"),
    (torch.eye(3, dtype=torch.float16).to_sparse(), TypeError, "float32 or float64"),
    (torch.zeros(2, 2, 2).to_sparse(), ValueError, "2-D"),
    (torch.zeros(2, 2, 2), ValueError, "2-D"),
    (torch.sparse_coo_tensor(torch.tensor([[0, 1]]), torch.ones(2, 3), (2, 3)), ValueError,
     "dense dim"),
], ids=["ndarray", "int", "f16", "3d_sparse", "3d_dense", "hybrid"])
def test_from_torch_rejects(bad, exc, match):
    for cls, kw in [(sk.CSR, {}), (sk.BSR, {"block": (2, 2)}), (sk.VectorSkip, {})]:
        with pytest.raises(exc, match=match):
            cls.from_torch(bad, **kw)


def test_from_dense_of_sparse_tensor_is_a_clear_error():
    with pytest.raises(TypeError, match="from_torch"):
        sk.CSR.from_dense(torch.eye(3).to_sparse())


# -- shapes a blocked library format cannot hold --------------------------------------------
@pytest.mark.parametrize("make", [
    lambda W: sk.BSR.from_dense(W, block=(4, 4)),
    lambda W: sk.BSR.from_dense(W, block=(3, 5)),
    lambda W: sk.VectorSkip.from_dense(W, vector=8),
], ids=["bsr4x4", "bsr3x5", "vs8"])
@pytest.mark.parametrize("method", ["to_scipy", "to_torch"])
def test_indivisible_shape_is_a_clear_error(make, method):
    A = make(random_sparse(np.random.default_rng(6), 10, 11, 0.5))
    with pytest.raises(ValueError, match="divisible"):
        getattr(A, method)()


def test_vectorskip_any_column_count_is_fine():
    """V×1 blocks divide every K: only the rows must be a multiple of V."""
    W = random_sparse(np.random.default_rng(7), 16, 13, 0.3)
    A = sk.VectorSkip.from_dense(W, vector=8)
    np.testing.assert_array_equal(A.to_scipy().toarray(), W)
    np.testing.assert_array_equal(A.to_torch().to_dense().numpy(), W)


@pytest.mark.parametrize("shape", [(0, 0), (0, 12), (12, 0)])
def test_empty_interop(shape, dspec):
    W = np.zeros(shape)
    A = build(dspec, W)
    assert A.to_scipy().shape == shape
    assert tuple(A.to_torch().shape) == shape
    assert type(A).from_scipy(A.to_scipy(), **_kw(A)).shape == shape
    assert type(A).from_torch(A.to_torch(), **_kw(A)).shape == shape


# -- torch's beta warnings stay quiet -------------------------------------------------------
QUIET_SCRIPT = """
import warnings
import numpy as np, torch, sparsekit as sk
W = np.kron(np.eye(3, dtype=np.float32), np.ones((2, 2), np.float32))
for A in (sk.CSR.from_dense(W), sk.BSR.from_dense(W, (2, 2)), sk.VectorSkip.from_dense(W, 2)):
    t = A.to_torch()
    kw = {"block": (2, 2)} if isinstance(A, sk.BSR) else {}
    type(A).from_torch(t, **kw)
    sk.CSR.from_torch(t)
print("quiet")
"""


def test_to_torch_and_from_torch_raise_no_beta_warning():
    """torch warns once per process (TORCH_WARN_ONCE), so a fresh interpreter with every
    warning turned into an error is the only place where a leak can show."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-W", "error", "-c", QUIET_SCRIPT],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "quiet" in r.stdout, r.stderr[-2000:]


def test_quiet_leaves_other_warnings_alone():
    import warnings
    from sparsekit.formats.interop import quiet
    with pytest.warns(UserWarning, match="unrelated"), quiet():
        warnings.warn("unrelated", UserWarning)


# -- Python and numpy protocol --------------------------------------------------------------
TRANSPOSABLE = [("csr", sk.CSR, {}), ("bsr1x1", sk.BSR, {"block": (1, 1)}),
                ("bsr3x5", sk.BSR, {"block": (3, 5)}), ("bsr64x64", sk.BSR, {"block": (64, 64)})]


@pytest.mark.parametrize("tspec", TRANSPOSABLE, ids=[t[0] for t in TRANSPOSABLE])
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_transpose(tspec, dtype):
    W = _w(dtype, shape=(13, 19))
    A = build(tspec, W)
    T = A.T
    assert type(T) is type(A) and T.shape == (19, 13) and T.dtype == A.dtype
    assert np.array_equal(T.to_dense(), W.T, equal_nan=True)
    assert T.stored == A.stored and T.nnz == A.nnz
    if isinstance(A, sk.BSR):
        assert T.block == A.block[::-1]
    assert np.array_equal(T.T.to_dense(), W, equal_nan=True)


@given(W=sparse_matrices(max_side=12), fmt=format_specs())
def test_transpose_property(W, fmt):
    A = build(fmt, W)
    if isinstance(A, sk.VectorSkip):
        with pytest.raises(TypeError, match="transpose"):
            A.T
        return
    assert np.array_equal(A.T.to_dense(), W.T, equal_nan=True)


@pytest.mark.parametrize("tspec", TRANSPOSABLE, ids=[t[0] for t in TRANSPOSABLE])
@pytest.mark.parametrize("kind", ["numpy", "torch", "list"])
@pytest.mark.parametrize("n", [None, 1, 4], ids=["1d", "n1", "n4"])
def test_rmatmul(tspec, kind, n):
    W = random_sparse(np.random.default_rng(8), 13, 17, 0.3)
    A = build(tspec, W)
    X = np.random.default_rng(9).uniform(-1, 1, (13,) if n is None else (n, 13))
    ref = X @ W
    Xk = {"numpy": X, "torch": torch.from_numpy(X), "list": X.tolist()}[kind]
    Y = Xk @ A
    assert isinstance(Y, torch.Tensor) == (kind == "torch")
    Y = Y.numpy() if kind == "torch" else Y
    assert Y.shape == ref.shape
    np.testing.assert_allclose(Y, ref, rtol=1e-12, atol=1e-12)


def test_rmatmul_errors():
    W = random_sparse(np.random.default_rng(10), 8, 5, 0.5)
    with pytest.raises(TypeError, match="supported products.*CSR and BSR"):
        np.ones((2, 8)) @ sk.VectorSkip.from_dense(W, 4)
    with pytest.raises(TypeError, match="supported products"):
        torch.ones(2, 8, dtype=torch.float64) @ sk.VectorSkip.from_dense(W, 4)
    A = sk.CSR.from_dense(W)
    with pytest.raises(ValueError, match=r"X must have shape \(8,\) or \(N, 8\)"):
        np.ones((2, 5)) @ A
    with pytest.raises(ValueError, match="shape"):
        np.ones((2, 2, 8)) @ A
    with pytest.raises(TypeError, match="dtype"):
        np.ones((2, 8), np.float32) @ A
    with pytest.raises(TypeError, match="sparse @ sparse"):
        A @ A.T


def test_asarray_is_a_clear_error(spec):
    A = build(spec, np.eye(4))
    with pytest.raises(TypeError, match=r"to_dense\(\)"):
        np.asarray(A)
    with pytest.raises(TypeError, match=r"to_dense\(\)"):
        np.array(A, dtype=np.float64)
    with pytest.raises(TypeError):
        np.ones(4) * A  # numpy defers, and formats define no elementwise products


def test_toarray_todense_astype_copy(spec):
    W = _w(np.float64, shape=(9, 19))
    A = build(spec, W)
    for D in (A.toarray(), A.todense()):
        assert type(D) is np.ndarray and D.flags.writeable
        assert np.array_equal(D, W, equal_nan=True)
    B = A.astype(np.float32)
    assert type(B) is type(A) and B.dtype == np.float32 and B.stored == A.stored
    assert np.array_equal(B.to_dense(), W.astype(np.float32), equal_nan=True)
    assert B.astype("float64").dtype == np.float64
    for bad in (np.float16, "int32", None, torch.bfloat16):
        with pytest.raises(TypeError, match="float32 or float64"):
            A.astype(bad)
    C = A.copy()
    assert type(C) is type(A) and C is not A and repr(C) == repr(A)
    for a, c in zip(A._parts()[:3], C._parts()[:3]):
        assert not np.shares_memory(a, c)
    assert np.array_equal(C.to_dense(), W, equal_nan=True)


def test_pickle_and_deepcopy_round_trip_and_revalidate(spec):
    import copy
    import pickle
    W = _w(np.float32, shape=(9, 19))
    A = build(spec, W)
    for B in (pickle.loads(pickle.dumps(A)), copy.deepcopy(A), copy.copy(A)):
        assert type(B) is type(A) and np.array_equal(B.to_dense(), W, equal_nan=True)
        assert not any(p.flags.writeable for p in B._parts()[:3])
    cls, (values, first, second, shape) = A.__reduce__()
    if second.size > 1:  # a pickle whose pointers were tampered with is rejected on load
        bad = second.copy()
        bad[-1] += 1
        with pytest.raises(ValueError):
            cls(values, first, bad, shape)
