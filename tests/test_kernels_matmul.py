"""A @ X and A.matmul(X, out=...) against the dense product, for every format; and the
kernels called directly with every index/pointer width the formats hand them."""
import numba
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sparsekit import kernels
import sparsekit as sk
from helpers import (FLOATS, SPEC_BY_ID, assert_matmul_close, bitmap_bits, build,
                     format_specs, random_sparse, sparse_matrices, tolerances, to_np)
from sparsekit.kernels.threads import PARALLEL_MIN_MACS

BATCHES = [None, 0, 1, 3, 16, 64, 100]  # None: X is 1-D


def _mixed(m, k, dtype, seed=0):
    """Unstructured nonzeros plus an empty row, a dense row and an empty column."""
    w = random_sparse(np.random.default_rng(seed), m, k, 0.3, dtype)
    w[m // 3] = 0
    w[m // 2] = np.random.default_rng(seed + 1).uniform(-2, 2, k)
    w[:, k // 4] = 0
    return w


def _x(k, n, dtype, seed=1):
    rng = np.random.default_rng(seed)
    shape = (k,) if n is None else (k, n)
    return rng.uniform(-1, 1, shape).astype(dtype)


# -- batches, dtypes, numpy/torch ------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("n", BATCHES, ids=["1d" if n is None else f"n{n}" for n in BATCHES])
def test_matmul_numpy(spec, dtype, n):
    W = _mixed(37, 29, dtype)
    A = build(spec, W)
    X = _x(29, n, dtype)
    X_before = X.copy()
    Y = A @ X
    assert isinstance(Y, np.ndarray)
    assert_matmul_close(Y, W, X)
    np.testing.assert_array_equal(X, X_before)  # X is not touched
    # matmul(out=...) writes every entry (the buffer starts as NaN) and returns out itself.
    out = np.full(Y.shape, np.nan, dtype)
    assert A.matmul(X, out=out) is out
    np.testing.assert_array_equal(out, Y)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("n", [None, 1, 16], ids=["1d", "n1", "n16"])
def test_matmul_torch(spec, dtype, n):
    np_dtype = torch.empty(0, dtype=dtype).numpy().dtype
    W = _mixed(37, 29, np_dtype)
    A = build(spec, torch.from_numpy(W))
    X = torch.from_numpy(_x(29, n, np_dtype))
    Y = A @ X
    assert isinstance(Y, torch.Tensor) and Y.dtype == dtype and Y.layout == torch.strided
    assert_matmul_close(Y, W, X)
    out = torch.full(tuple(Y.shape), float("nan"), dtype=dtype)
    assert A.matmul(X, out=out) is out
    torch.testing.assert_close(out, Y, rtol=0, atol=0)
    # Mixed kinds: numpy out for torch X (and the reverse) is filled and returned.
    out_np = np.full(tuple(Y.shape), np.nan, np_dtype)
    assert A.matmul(X, out=out_np) is out_np
    np.testing.assert_array_equal(out_np, Y.numpy())
    out_t = torch.full(tuple(Y.shape), float("nan"), dtype=dtype)
    assert A.matmul(X.numpy(), out=out_t) is out_t
    np.testing.assert_array_equal(out_t.numpy(), Y.numpy())


# Column counts around the SIMD panels of the SpMM kernels (16 float32 / 8 float64 lanes a
# vector; panels of one, two or four vectors, the last one masked).
LANE_EDGES = [7, 8, 9, 15, 17, 24, 31, 32, 33, 48, 63, 65, 127, 129]


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("n", LANE_EDGES)
def test_matmul_across_simd_panel_edges(spec, dtype, n):
    W = _mixed(37, 29, dtype, seed=n)
    X = _x(29, n, dtype, seed=n + 1)
    out = np.full((37, n), np.nan, dtype)
    build(spec, W).matmul(X, out=out)
    assert_matmul_close(out, W, X)


def test_matmul_result_is_new_memory(spec):
    W = _mixed(12, 12, np.float64)
    A = build(spec, W)
    X = _x(12, 4, np.float64)
    Y = A @ X
    assert not np.shares_memory(Y, X)
    assert not np.shares_memory(Y, A.values)
    Y2 = A @ X
    assert not np.shares_memory(Y, Y2)
    np.testing.assert_array_equal(A.to_dense(), W)  # A unchanged by products


# -- strides -------------------------------------------------------------------------------
def _x_views(k, dtype):
    rng = np.random.default_rng(3)
    Z = rng.uniform(-1, 1, (3 * k, 12)).astype(dtype)
    z = rng.uniform(-1, 1, 3 * k).astype(dtype)
    return {
        "transposed": rng.uniform(-1, 1, (7, k)).astype(dtype).T,
        "stepped": Z[::3, ::4],
        "negative": Z[:k][::-1, ::-1],
        "negative_rows": Z[k - 1::-1, :5] if k else Z[:0, :5],
        "fortran": np.asfortranarray(Z[:k, :6]),
        "column": Z[:k, 2:3],
        "broadcast": np.broadcast_to(z[:k, None], (k, 5)),
        "1d_stepped": z[::3],
        "1d_negative": z[:k][::-1],
        "1d_readonly": _readonly(z[:k].copy()),
    }


def _readonly(a):
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("view", list(_x_views(4, np.float64)))
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_non_contiguous_x(spec, view, dtype):
    k = 29
    W = _mixed(37, k, dtype)
    X = _x_views(k, dtype)[view]
    assert X.shape[0] == k
    before = X.copy()
    Y = build(spec, W) @ X
    assert_matmul_close(Y, W, X)
    assert Y.flags.c_contiguous
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize("view", ["t", "step", "narrow", "1d_step", "expand"])
def test_non_contiguous_torch_x(spec, view):
    k = 29
    W = _mixed(37, k, np.float32)
    base = torch.from_numpy(np.random.default_rng(4).uniform(-1, 1, (3 * k, 3 * k))
                            .astype(np.float32))
    X = {"t": base[:6, :k].t(), "step": base[::3, ::5], "narrow": base[:k, 3:9],
         "1d_step": base[0, ::3], "expand": base[0, :k, None].expand(k, 4)}[view]
    assert not X.is_contiguous()
    Y = build(spec, W) @ X
    assert isinstance(Y, torch.Tensor)
    assert_matmul_close(Y, W, X.contiguous().numpy())


@pytest.mark.parametrize("kind", ["stepped", "transposed", "negative", "1d_stepped",
                                  "torch_t", "torch_1d_step"])
def test_non_contiguous_out(spec, kind):
    W = _mixed(37, 29, np.float64)
    A = build(spec, W)
    one_d = kind.endswith("1d_stepped") or kind == "torch_1d_step"
    X = _x(29, None if one_d else 5, np.float64)
    big = np.full((3 * 37, 17), -7.0)
    if kind == "stepped":
        out = big[::3, 1:16:3]
    elif kind == "transposed":
        big = np.full((5, 37), -7.0)
        out = big.T                        # column-major (37, 5)
    elif kind == "negative":
        out = big[:37][::-1, ::-2][:, :5]
    elif kind == "1d_stepped":
        out = big[::3, 4]
    elif kind == "torch_t":
        tbig = torch.full((5, 37), -7.0, dtype=torch.float64)
        out = tbig.t()
        big = tbig.numpy()
    else:
        tbig = torch.full((3 * 37,), -7.0, dtype=torch.float64)
        out = tbig[::3]
        big = tbig.numpy()
    assert tuple(out.shape) == ((37,) if one_d else (37, 5))
    mask = np.zeros(big.shape, bool)
    to_np(out)[...] = 0.0                  # mark the entries the view covers ...
    mask[...] = big == 0.0
    to_np(out)[...] = np.nan               # ... then poison them
    assert A.matmul(X, out=out) is out
    assert_matmul_close(to_np(out), W, X)
    assert np.all(big[~mask] == -7.0), "matmul wrote outside the out view"


@pytest.mark.parametrize("n", [None, 4])
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_out_aliasing_x(spec, n, kind):
    """out may be X itself (square A): the product must still be A @ X_before."""
    W = _mixed(24, 24, np.float64)
    A = build(spec, W)
    X = _x(24, n, np.float64)
    ref = W @ X
    Xk = torch.from_numpy(X.copy()) if kind == "torch" else X.copy()
    assert A.matmul(Xk, out=Xk) is Xk
    np.testing.assert_allclose(to_np(Xk), ref, rtol=1e-12, atol=1e-12)


def test_out_overlapping_x_view():
    W = _mixed(20, 20, np.float64)
    A = sk.CSR.from_dense(W)
    buf = np.random.default_rng(5).uniform(-1, 1, 30)
    X = buf[:20]
    ref = W @ X
    A.matmul(X, out=buf[10:30])  # overlaps the last half of X
    np.testing.assert_allclose(buf[10:30], ref, rtol=1e-12, atol=1e-12)


# -- edge shapes -------------------------------------------------------------------------------
EDGE = {
    "0x0": lambda dt: np.zeros((0, 0), dt),
    "0x5": lambda dt: np.zeros((0, 5), dt),
    "5x0": lambda dt: np.zeros((5, 0), dt),
    "1x1": lambda dt: np.full((1, 1), -1.5, dt),
    "1x1zero": lambda dt: np.zeros((1, 1), dt),
    "allzero": lambda dt: np.zeros((19, 23), dt),
    "empty_rows": lambda dt: _rows_only(dt, 40, 30, [0, 39]),
    "only_middle_row": lambda dt: _rows_only(dt, 40, 30, [17]),
    "13x11": lambda dt: random_sparse(np.random.default_rng(6), 13, 11, 0.4, dt),
    "wide": lambda dt: random_sparse(np.random.default_rng(7), 3, 3000, 0.1, dt),
    "tall": lambda dt: random_sparse(np.random.default_rng(8), 3000, 3, 0.3, dt),
    "1x300": lambda dt: random_sparse(np.random.default_rng(9), 1, 300, 0.5, dt),
    "300x1": lambda dt: random_sparse(np.random.default_rng(10), 300, 1, 0.5, dt),
    "dense": lambda dt: np.random.default_rng(11).uniform(0.5, 1, (21, 18)).astype(dt),
}


def _rows_only(dtype, m, k, rows):
    w = np.zeros((m, k), dtype)
    w[rows] = np.random.default_rng(12).uniform(-1, 1, (len(rows), k))
    return w


@pytest.mark.parametrize("name", list(EDGE))
@pytest.mark.parametrize("n", [None, 0, 5], ids=["1d", "n0", "n5"])
def test_edge_shapes(spec, name, n):
    W = EDGE[name](np.float32)
    A = build(spec, W)
    X = _x(W.shape[1], n, np.float32)
    Y = A @ X
    assert_matmul_close(Y, W, X)
    out = np.full(Y.shape, np.nan, np.float32)
    A.matmul(X, out=out)
    np.testing.assert_array_equal(out, Y)
    if not W.any():
        assert not out.any()  # exactly zero, every entry written


# -- threads -------------------------------------------------------------------------------------
needs_two_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                                       reason="Numba has a single thread here")


def _threads_case(spec_id, n, dtype):
    rng = np.random.default_rng(13)
    if n is None:   # SpMV: the kernels go parallel from 2**16 stored values
        m, k, density = 300, 600, 0.45
    else:
        m, k, density = 160, 200, 0.3
    W = random_sparse(rng, m, k, density, dtype)
    W[7] = 0
    W[100:110] = rng.uniform(-1, 1, (10, k))   # a dense band among sparse rows
    A = build(SPEC_BY_ID[spec_id], W)
    X = _x(k, n, dtype)
    macs = A.stored * (1 if n is None else n)
    assert macs >= PARALLEL_MIN_MACS, "too small to take the parallel path"
    return W, A, X


@needs_two_threads
@pytest.mark.parametrize("spec_id", ["csr", "bsr4x4", "bsr3x5", "vs8", "vs1"])
@pytest.mark.parametrize("n", [None, 16, 64, 196, 300], ids=["1d", "n16", "n64", "n196", "n300"])
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_one_and_two_threads_agree(spec_id, n, dtype, restore_threads):
    """n196 (float32: VectorSkip(8)) and n300 (CSR too): wide enough to split by columns on
    two threads (``split_by_columns``), in passes that do not divide it."""
    W, A, X = _threads_case(spec_id, n, dtype)
    results = []
    for threads in (1, 2):
        sk.set_num_threads(threads)
        assert sk.get_num_threads() == threads and torch.get_num_threads() == threads
        out = np.full((W.shape[0],) + X.shape[1:], np.nan, dtype)
        A.matmul(X, out=out)
        assert_matmul_close(out, W, X)
        results.append(out)
    rtol, atol = tolerances(dtype, W.shape[1], W, X)
    np.testing.assert_allclose(results[0], results[1], rtol=rtol, atol=atol)


@needs_two_threads
def test_wide_products_split_by_columns(monkeypatch, restore_threads):
    """On two threads, float32 products of 256 columns or more run the column-split launchers,
    VectorSkip(8)'s from 128 (the agreement test above checks their results)."""
    from sparsekit.kernels import csr as csr_kernels, vectorskip as vs_kernels
    sk.set_num_threads(2)
    calls = []
    for module, name in ((csr_kernels, "_spmm_parallel_cols"),
                         (vs_kernels, "_spmm_parallel_v8_cols")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name,
                            lambda *args, real=real, name=name: calls.append(name) or real(*args))
    for spec_id, n in (("csr", 300), ("vs8", 300), ("csr", 196), ("vs8", 196), ("vs8", 127)):
        W, A, X = _threads_case(spec_id, n, np.float32)
        out = np.full((W.shape[0], n), np.nan, np.float32)
        A.matmul(X, out=out)
        assert_matmul_close(out, W, X)
    assert calls == ["_spmm_parallel_cols", "_spmm_parallel_v8_cols", "_spmm_parallel_v8_cols"]


def _uneven(kind, m, k, dtype):
    rng = np.random.default_rng(14)
    w = np.zeros((m, k), dtype)
    rows = {"first": [0], "middle": [m // 2], "last": [m - 1], "two": [1, m - 2]}[kind]
    w[rows] = rng.uniform(-1, 1, (len(rows), k))
    return w


@needs_two_threads
@pytest.mark.parametrize("spec_id", ["csr", "bsr4x4", "vs8"])
@pytest.mark.parametrize("kind", ["first", "middle", "last", "two"])
@pytest.mark.parametrize("n", [None, 64], ids=["1d", "n64"])
def test_uneven_rows_parallel(spec_id, kind, n, restore_threads):
    """One dense row (or two), every other row empty, large enough to be split in two."""
    m, k = (50, 70000) if n is None else (2000, 1300)
    W = _uneven(kind, m, k, np.float32)
    A = build(SPEC_BY_ID[spec_id], W)
    X = _x(k, n, np.float32)
    assert A.stored * (1 if n is None else n) >= PARALLEL_MIN_MACS
    outs = []
    for threads in (2, 1):
        sk.set_num_threads(threads)
        out = np.full((m,) + X.shape[1:], np.nan, np.float32)
        A.matmul(X, out=out)
        assert_matmul_close(out, W, X)
        outs.append(out)
    rtol, atol = tolerances(np.float32, k, W, X)
    np.testing.assert_allclose(outs[0], outs[1], rtol=rtol, atol=atol)


def test_set_num_threads_rejects_bad_counts(restore_threads):
    with pytest.raises(ValueError):
        sk.set_num_threads(0)
    with pytest.raises(ValueError):
        sk.set_num_threads(numba.config.NUMBA_NUM_THREADS + 1)
    with pytest.raises(TypeError):
        sk.set_num_threads(1.5)


# -- NaN and inf ------------------------------------------------------------------------------
def _with_specials(dtype, m=23, k=19):
    W = random_sparse(np.random.default_rng(15), m, k, 0.3, dtype)
    W[0, 3] = np.nan
    W[4, 0] = np.inf
    W[4, 7] = -np.inf      # row 4: inf + -inf -> NaN
    W[9, k - 1] = np.inf   # row 9: +inf
    W[m - 1, 5] = -np.inf  # last row: -inf (in a padded edge block/panel for most shapes)
    W[12, :] = 0
    W[12, 2] = np.nan      # a row whose only entry is NaN
    return W


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("n", [None, 1, 6], ids=["1d", "n1", "n6"])
def test_nan_inf_propagate(spec, dtype, n):
    W = _with_specials(dtype)
    X = np.abs(_x(W.shape[1], n, dtype)) + dtype(0.5)   # finite, nonzero, positive
    Y = build(spec, W) @ X
    assert_matmul_close(Y, W, X)   # compares the NaN / +inf / -inf masks exactly
    assert np.isnan(Y[0]).all() and np.isnan(Y[4]).all() and np.isnan(Y[12]).all()
    assert np.isposinf(Y[9]).all() and np.isneginf(Y[-1]).all()


@needs_two_threads
@pytest.mark.parametrize("spec_id", ["csr", "bsr4x4", "vs8"])
def test_nan_inf_propagate_parallel(spec_id, restore_threads):
    sk.set_num_threads(2)
    W = random_sparse(np.random.default_rng(16), 300, 600, 0.45)
    W[5, 5] = np.nan
    W[150, 7] = np.inf
    W[299, 599] = -np.inf
    A = build(SPEC_BY_ID[spec_id], W)
    assert A.stored >= PARALLEL_MIN_MACS
    X = np.abs(_x(600, None, np.float64)) + 0.5
    assert_matmul_close(A @ X, W, X)


# -- the NaN/inf rule: stored entries are multiplied, structural zeros never ----------------
def _stored_mask(A) -> np.ndarray:
    """M×K booleans: which entries A stores, read from its public arrays (CSR: its entries;
    BSR: whole blocks; VectorSkip: whole vectors; padding outside the shape cropped)."""
    m, k = A.shape
    if isinstance(A, sk.VectorSkip):
        return np.repeat(bitmap_bits(A.bitmap, k), A.vector, axis=0)[:m]
    r, c = A.block if isinstance(A, sk.BSR) else (1, 1)
    tile_rows = np.repeat(np.arange(A.indptr.size - 1), np.diff(A.indptr.astype(np.int64)))
    tiles = np.zeros((-(-m // r), -(-k // c)), bool)
    tiles[tile_rows, A.indices.astype(np.int64)] = True
    return np.kron(tiles, np.ones((r, c), bool)).astype(bool)[:m, :k]


def _stored_product(A, X) -> np.ndarray:
    """Σ_j A[i, j]·X[j] over the stored (i, j) only, in float64: a structural zero adds
    nothing, even against inf or NaN; a stored zero adds 0·x (NaN for x = ±inf or NaN)."""
    X2 = np.asarray(X, np.float64).reshape(X.shape[0], -1)
    with np.errstate(invalid="ignore"):  # 0·inf and inf - inf are expected here
        terms = A.to_dense().astype(np.float64)[:, :, None] * X2[None, :, :]
        Y = np.where(_stored_mask(A)[:, :, None], terms, 0.0).sum(axis=1)
    return Y.reshape((A.shape[0],) + X.shape[1:])


def _assert_matches_stored(A, X):
    Y, ref = A @ X, _stored_product(A, X)
    np.testing.assert_array_equal(np.isnan(Y), np.isnan(ref), err_msg="NaN positions differ")
    np.testing.assert_array_equal(np.isposinf(Y), np.isposinf(ref), err_msg="+inf differs")
    np.testing.assert_array_equal(np.isneginf(Y), np.isneginf(ref), err_msg="-inf differs")
    finite = np.isfinite(ref)
    rtol, atol = tolerances(A.dtype, A.shape[1], A.to_dense(), X)
    np.testing.assert_allclose(Y[finite], ref[finite], rtol=rtol, atol=atol)


def test_nan_pattern_repro():
    """repro/nan_pattern.py: W = [[1, 0]], x = [1, inf]. CSR does not store the 0 (1); a 1×2
    BSR block stores it (0·inf = nan, like dense); VectorSkip(1) skips the all-zero vector."""
    W = np.array([[1, 0]], np.float32)
    x = np.array([1, np.inf], np.float32)
    assert np.isnan(sk.BSR.from_dense(W, (1, 2)) @ x).all()
    assert (sk.CSR.from_dense(W) @ x == 1).all()
    assert (sk.VectorSkip.from_dense(W, 1) @ x == 1).all()
    assert (sk.BSR.from_dense(W, (1, 1)) @ x == 1).all()
    W2 = np.array([[1], [0]], np.float32)  # VectorSkip(2) stores the 0 beside the 1
    assert np.isnan(sk.VectorSkip.from_dense(W2, 2) @ np.array([np.inf], np.float32))[1]


@pytest.mark.parametrize("present", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("special", [np.inf, -np.inf, np.nan])
def test_vectorskip8_spmv_never_multiplies_its_padding(present, special):
    """VectorSkip(8) float32 SpMV takes two present vectors per FMA; a last one alone used to
    meet its x in the empty upper half too, 0 · inf = NaN in a row that stores no such entry
    (found by test_nan_rule_property: [[1]] @ [inf] gave NaN)."""
    W = np.zeros((1, 16), np.float32)
    W[0, :present] = 1
    x = np.ones(16, np.float32)
    x[present - 1] = special
    y = sk.VectorSkip.from_dense(W, 8) @ x
    np.testing.assert_array_equal(y, W[:, :present] @ x[:present])


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("n", [None, 3], ids=["1d", "n3"])
def test_stored_zeros_are_multiplied_structural_zeros_are_not(spec, dtype, n):
    W = _with_specials(dtype)
    X = _x(W.shape[1], n, dtype)
    X[2] = np.inf       # column 2 meets W[12, 2] = NaN and zeros stored beside nonzeros
    X[6] = -np.inf
    X[11] = np.nan
    A = build(spec, W)
    assert (_stored_mask(A) | (W == 0)).all() and _stored_mask(A)[W != 0].all()
    _assert_matches_stored(A, X)


@given(fmt=format_specs(), data=st.data())
def test_nan_rule_property(fmt, data):
    W = data.draw(sparse_matrices(max_side=12, min_side=1, special=False))
    specials = data.draw(hnp.arrays(np.int8, W.shape, elements=st.integers(0, 9)))
    W = W.copy()
    W[specials == 1] = np.nan
    W[specials == 2] = np.inf
    n = data.draw(st.sampled_from([None, 2]))
    X = _x(W.shape[1], n, W.dtype, seed=data.draw(st.integers(0, 99)))
    xs = data.draw(hnp.arrays(np.int8, X.shape, elements=st.integers(0, 6)))
    X[xs == 1] = np.inf
    X[xs == 2] = -np.inf
    X[xs == 3] = np.nan
    _assert_matches_stored(build(fmt, W), X)


@pytest.mark.parametrize("make", [
    lambda d: sk.CSR(np.array([1, 0], d), [0, 1], [0, 2], (1, 2)),
    lambda d: sk.BSR(np.array([[[1, 0]]], d), [0], [0, 1], (1, 2)),
    lambda d: sk.BSR(np.zeros((1, 1, 1), d), [1], [0, 1], (1, 2)),
    lambda d: sk.VectorSkip(np.zeros((1, 1), d), np.array([[2]], np.uint64), [0, 1], (1, 2)),
], ids=["csr_explicit_zero", "bsr_zero_in_block", "bsr_zero_block", "vs_zero_vector"])
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_explicit_zeros_from_a_constructor_are_stored(make, dtype):
    A = make(dtype)
    assert A.stored > A.nnz
    y = A @ np.array([1, np.inf], dtype)
    assert np.isnan(y).all()
    _assert_matches_stored(A, np.array([[1, 2], [np.inf, np.nan]], dtype))


def test_from_dense_stores_nan_and_inf_entries(spec):
    W = np.zeros((5, 6))
    W[1, 2], W[3, 4], W[4, 0] = np.nan, np.inf, -np.inf
    A = build(spec, W)
    assert A.nnz == 3 and _stored_mask(A)[W != 0].all()
    x = np.ones(6)
    y = A @ x
    assert np.isnan(y[1]) and np.isposinf(y[3]) and np.isneginf(y[4])


# -- errors ---------------------------------------------------------------------------------
def _a32():
    return sk.CSR.from_dense(_mixed(6, 5, np.float32))


def _errors():
    f32 = np.ones(5, np.float32)
    return {
        "dtype_mismatch": (dict(X=np.ones(5, np.float64)), TypeError, "dtype"),
        "dtype_mismatch_2d": (dict(X=np.ones((5, 2), np.float64)), TypeError, "dtype"),
        "int_x": (dict(X=np.ones(5, np.int32)), TypeError, "float32 or float64"),
        "bool_x": (dict(X=np.ones(5, bool)), TypeError, "float32 or float64"),
        "f16_x": (dict(X=np.ones(5, np.float16)), TypeError, "float32 or float64"),
        "torch_bf16_x": (dict(X=torch.ones(5, dtype=torch.bfloat16)), TypeError,
                         "must be float32 or float64, got bfloat16; cast it first"),
        "torch_f16_x": (dict(X=torch.ones(5, dtype=torch.float16)), TypeError,
                        "must be float32 or float64, got float16; cast it first"),
        "out_bf16": (dict(X=f32, out=torch.empty(6, dtype=torch.bfloat16)), TypeError,
                     "out must be float32 or float64, got bfloat16"),
        "sparse_x": (dict(X=sk.CSR.from_dense(np.eye(5, dtype=np.float32))), TypeError,
                     "sparse @ sparse"),
        "torch_int_x": (dict(X=torch.ones(5, dtype=torch.int64)), TypeError, "float32"),
        "torch_f64_x": (dict(X=torch.ones(5, dtype=torch.float64)), TypeError, "dtype"),
        "torch_sparse_x": (dict(X=torch.ones(5, 2).to_sparse()), TypeError, "sparse"),
        "short_x": (dict(X=np.ones(4, np.float32)), ValueError, "shape"),
        "long_x": (dict(X=np.ones((6, 3), np.float32)), ValueError, "shape"),
        "x_3d": (dict(X=np.ones((5, 2, 2), np.float32)), ValueError, "1-D or 2-D"),
        "x_0d": (dict(X=np.float32(1.0)), ValueError, "1-D or 2-D"),
        "x_transposed_wrong": (dict(X=np.ones((2, 5), np.float32)), ValueError, "shape"),
        "out_shape": (dict(X=f32, out=np.empty(5, np.float32)), ValueError, "out"),
        "out_2d_for_1d": (dict(X=f32, out=np.empty((6, 1), np.float32)), ValueError, "out"),
        "out_1d_for_2d": (dict(X=np.ones((5, 1), np.float32), out=np.empty(6, np.float32)),
                          ValueError, "out"),
        "out_dtype": (dict(X=f32, out=np.empty(6, np.float64)), TypeError, "out"),
        "out_int": (dict(X=f32, out=np.empty(6, np.int32)), TypeError, "out"),
        "out_torch_dtype": (dict(X=f32, out=torch.empty(6, dtype=torch.float64)), TypeError,
                            "out"),
        "out_readonly": (dict(X=f32, out=_readonly(np.empty(6, np.float32))), ValueError,
                         "read-only"),
        "x_requires_grad": (dict(X=torch.ones(5, requires_grad=True)), RuntimeError, "grad"),
        "out_requires_grad": (dict(X=f32, out=torch.zeros(6, requires_grad=True)),
                              RuntimeError, "grad"),
    }


@pytest.mark.parametrize("name", list(_errors()))
def test_matmul_errors(name):
    kwargs, exc, match = _errors()[name]
    A = _a32()
    with pytest.raises(exc, match=match):
        A.matmul(kwargs["X"], out=kwargs.get("out"))
    if "out" not in kwargs:
        with pytest.raises(exc, match=match):
            A @ kwargs["X"]


def test_matmul_errors_every_format(spec):
    W = _mixed(9, 7, np.float32)
    A = build(spec, W)
    with pytest.raises(TypeError, match="dtype"):
        A @ np.ones(7)
    with pytest.raises(ValueError, match="shape"):
        A @ np.ones((8, 2), np.float32)
    with pytest.raises(ValueError):
        A @ np.ones((7, 2, 1), np.float32)


def test_requires_grad_fine_without_grad_mode():
    A = _a32()
    X = torch.ones(5, requires_grad=True)
    with torch.no_grad():
        Y = A @ X
    assert_matmul_close(Y, A.to_dense(), X.detach().numpy())
    Y2 = A @ X.detach()
    torch.testing.assert_close(Y, Y2)


def test_failed_matmul_leaves_out_alone():
    A = _a32()
    out = np.full(6, 3.0, np.float32)
    with pytest.raises(TypeError):
        A.matmul(np.ones(5, np.float64), out=out)
    np.testing.assert_array_equal(out, 3.0)



# -- the unrolled SpMV paths (BSR 4×4, VectorSkip V = 8) --------------------------------------
@pytest.mark.parametrize("spec_id", ["bsr4x4", "vs8"])
@pytest.mark.parametrize("m, k", [(m, k) for m in (1, 5, 6, 7, 8, 9, 15, 17)
                                  for k in (1, 2, 3, 4, 5, 63, 64, 65, 128, 130)])
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_unrolled_spmv_ragged_edges(spec_id, m, k, dtype):
    """Every remainder of M and K: the last block's missing columns read as zero (never past
    x), the last block's / panel's missing rows are never written past y; nothing else is
    left unwritten, and an empty row gives an exact 0."""
    W = random_sparse(np.random.default_rng(m * 1000 + k), m, k, 0.5, dtype)
    empty = m // 3          # an empty row (not the last one, once m > 1)
    W[empty] = 0
    W[-1, -1] = 2.0   # the last, padded block / panel is stored
    A = build(SPEC_BY_ID[spec_id], W)
    xbuf = np.full(k + 8, np.nan, dtype)  # NaN after x: a read past its end shows in y
    x = xbuf[:k]
    x[:] = _x(k, None, dtype)
    buf = np.full(m + 8, np.nan, dtype)   # sentinels after y catch a write past its end
    A.matmul(x, out=buf[:m])
    assert_matmul_close(buf[:m], W, x)
    assert np.isnan(buf[m:]).all()
    if m > 1:
        assert buf[empty] == 0


# -- properties ----------------------------------------------------------------------------
@given(W=sparse_matrices(max_side=30, special=False), fmt=format_specs(),
       n=st.sampled_from([None, 0, 1, 2, 5, 8, 17, 33, 70]), seed=st.integers(0, 2**16))
def test_matmul_property(W, fmt, n, seed):
    A = build(fmt, W)
    X = _x(W.shape[1], n, W.dtype, seed)
    assert_matmul_close(A @ X, W, X)


@given(fmt=format_specs(), data=st.data())
def test_matmul_property_special_values(fmt, data):
    W = data.draw(sparse_matrices(max_side=12, min_side=1, special=False))
    specials = data.draw(hnp.arrays(np.int8, W.shape, elements=st.integers(0, 9)))
    W = W.copy()
    W[specials == 1] = np.nan
    W[specials == 2] = np.inf
    W[specials == 3] = -np.inf
    X = np.abs(_x(W.shape[1], data.draw(st.sampled_from([None, 3])), W.dtype)) + 0.5
    assert_matmul_close(build(fmt, W) @ X, W, X)


# -- kernels called directly ------------------------------------------------------------------
INDEX_DTYPES = [np.uint8, np.uint16, np.uint32]
POINTER_DTYPES = [np.uint16, np.uint32, np.int64]


def _kernel_case(dtype):
    W = _mixed(45, 70, dtype, seed=17)
    W[-1, -1] = 1.0  # use the last column and the last (padded) block/panel
    return W


def _call(kernel, *arrays, n=None, dtype=np.float64, k=70, m=45):
    X = _x(k, n, dtype, seed=18)
    Y = np.full((m,) + X.shape[1:], np.nan, dtype)
    kernel(*arrays, X, Y)
    return X, Y


@pytest.mark.parametrize("idt", INDEX_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("pdt", POINTER_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("n", [None, 5], ids=["spmv", "spmm"])
def test_csr_kernels_index_widths(idt, pdt, n):
    W = _kernel_case(np.float64)
    A = sk.CSR.from_dense(W)
    kern = kernels.csr_spmv if n is None else kernels.csr_spmm
    X, Y = _call(kern, A.data, A.indices.astype(idt), A.indptr.astype(pdt), n=n)
    assert_matmul_close(Y, W, X)
    np.testing.assert_allclose(Y, A @ X, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("idt", INDEX_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("pdt", POINTER_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("n", [None, 5], ids=["spmv", "spmm"])
def test_bsr_kernels_index_widths(idt, pdt, n):
    W = _kernel_case(np.float64)
    A = sk.BSR.from_dense(W, block=(4, 3))
    kern = kernels.bsr_spmv if n is None else kernels.bsr_spmm
    X, Y = _call(kern, A.blocks, A.indices.astype(idt), A.indptr.astype(pdt), n=n)
    assert_matmul_close(Y, W, X)
    np.testing.assert_allclose(Y, A @ X, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("pdt", POINTER_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("n", [None, 5], ids=["spmv", "spmm"])
def test_vectorskip_kernels_pointer_widths(pdt, n):
    W = _kernel_case(np.float64)
    A = sk.VectorSkip.from_dense(W, vector=8)
    kern = kernels.vectorskip_spmv if n is None else kernels.vectorskip_spmm
    X, Y = _call(kern, A.vectors, A.bitmap, A.panel_ptr.astype(pdt), n=n)
    assert_matmul_close(Y, W, X)
    np.testing.assert_allclose(Y, A @ X, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_kernels_float32_and_float64(dtype):
    W = _kernel_case(dtype)
    for A, kern, arrays in [
        (sk.CSR.from_dense(W), kernels.csr_spmm, lambda A: (A.data, A.indices, A.indptr)),
        (sk.BSR.from_dense(W, block=(4, 4)), kernels.bsr_spmm,
         lambda A: (A.blocks, A.indices, A.indptr)),
        (sk.VectorSkip.from_dense(W, vector=4), kernels.vectorskip_spmm,
         lambda A: (A.vectors, A.bitmap, A.panel_ptr)),
    ]:
        X, Y = _call(kern, *arrays(A), n=3, dtype=dtype)
        assert_matmul_close(Y, W, X)


@needs_two_threads
@pytest.mark.parametrize("fmt", ["csr", "bsr", "vectorskip"])
def test_kernels_parallel_wide_pointers(fmt, restore_threads):
    """The parallel split reads the pointers too: uint32 indices with int64 pointers."""
    sk.set_num_threads(2)
    W = random_sparse(np.random.default_rng(19), 300, 600, 0.45)
    X = _x(600, None, np.float64)
    Y = np.full(300, np.nan)
    if fmt == "csr":
        A = sk.CSR.from_dense(W)
        kernels.csr_spmv(A.data, A.indices.astype(np.uint32), A.indptr.astype(np.int64), X, Y)
    elif fmt == "bsr":
        A = sk.BSR.from_dense(W, block=(4, 4))
        kernels.bsr_spmv(A.blocks, A.indices.astype(np.uint32), A.indptr.astype(np.int64), X,
                         Y)
    else:
        A = sk.VectorSkip.from_dense(W, vector=8)
        kernels.vectorskip_spmv(A.vectors, A.bitmap, A.panel_ptr.astype(np.int64), X, Y)
    assert A.stored >= PARALLEL_MIN_MACS
    assert_matmul_close(Y, W, X)


def test_formats_hand_kernels_unsigned_indices():
    """What the issue asks: unsigned 8/16/32-bit indices where they fit."""
    assert sk.CSR.from_dense(np.eye(3)).indices.dtype == np.uint8
    assert sk.CSR.from_dense(np.eye(3, 300)).indices.dtype == np.uint16
    assert sk.BSR.from_dense(np.eye(3, 300), block=(1, 2)).indices.dtype == np.uint8
    for A in (sk.CSR.from_dense(np.eye(3)), sk.BSR.from_dense(np.eye(3)),
              sk.VectorSkip.from_dense(np.eye(3))):
        ptr = A.panel_ptr if isinstance(A, sk.VectorSkip) else A.indptr
        assert ptr.dtype in (np.uint16, np.uint32, np.int64)
