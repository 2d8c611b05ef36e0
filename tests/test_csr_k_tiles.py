"""CSR's K-tiled SpMM: wide enough products (K > TILE_K columns of A, X with more than two
SIMD vectors of columns) read a copy of A's entries ordered by K-tile. Its sums run in the
same order as the plain kernel's, so the two agree bit for bit; and both agree with the dense
product."""
import copy
import pickle

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsekit as sk
from helpers import assert_matmul_close, random_sparse
from sparsekit.kernels import csr as kcsr

TILE_K = kcsr.TILE_K


def _lanes(dtype) -> int:
    """Columns of X in one SIMD vector."""
    return kcsr.VECTOR_BYTES // np.dtype(dtype).itemsize


def _plain(A, X):
    """A @ X by the untiled kernel."""
    Y = np.empty((A.shape[0], X.shape[1]), A.dtype)
    return sk.kernels.csr_spmm(A.data, A.indices, A.indptr, X, Y)


def _matrix(rng, m, k, density, dtype):
    """Random entries plus an empty row, a full row and entries on the tile borders."""
    w = random_sparse(rng, m, k, density, dtype)
    if m >= 3:
        w[m // 3] = 0
        w[m // 2] = rng.uniform(-2, 2, k)
        for c in (TILE_K - 1, TILE_K, 2 * TILE_K - 1, 2 * TILE_K, k - 1):
            if c < k:
                w[-1, c] = 1.5
    return w


@settings(max_examples=40, deadline=None)
@given(m=st.integers(0, 300), k=st.integers(TILE_K + 1, 5 * TILE_K + 3),
       extra=st.sampled_from([0, 1, 14, 15, 31, 32, 47, 64, 97]), density=st.floats(0.0, 0.4),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_tiled_matches_dense_and_the_plain_kernel(m, k, extra, density, dtype, seed):
    rng = np.random.default_rng(seed)
    W = _matrix(rng, m, k, density, dtype)
    X = rng.uniform(-1, 1, (k, 2 * _lanes(dtype) + 1 + extra)).astype(dtype)
    A = sk.CSR.from_dense(W)
    assert A._k_tiles(X.shape[1]) is not None      # this product takes the tiled kernel
    Y = A @ X
    assert_matmul_close(Y, W, X)
    np.testing.assert_array_equal(Y, _plain(A, X))


@pytest.mark.parametrize("k, n", [(TILE_K, 64), (4096, 32), (4096, 16), (100, 200)])
def test_narrow_products_take_the_plain_kernel(k, n):
    A = sk.CSR.from_dense(random_sparse(np.random.default_rng(0), 20, k, 0.2, np.float32))
    assert A._k_tiles(n) is None
    assert "_tiles" not in vars(A)


def test_tiles_are_a_reordering_of_the_entries():
    rng = np.random.default_rng(3)
    m, k = 57, 3 * TILE_K + 10
    A = sk.CSR.from_dense(_matrix(rng, m, k, 0.2, np.float32))
    data, indices, ptr = kcsr.csr_k_tiles(A.data, A.indices, A.indptr, k)
    ntiles = -(-k // TILE_K)
    assert ptr.shape == (ntiles * m + 1,) and ptr[0] == 0 and ptr[-1] == A.nnz
    assert np.all(np.diff(ptr) >= 0)
    rows = np.repeat(np.arange(m), np.diff(A.indptr.astype(np.int64)))
    expected = {(r, c): v for r, c, v in zip(rows, A.indices, A.data)}
    got = {}
    for t in range(ntiles):
        for i in range(m):
            lo, hi = ptr[t * m + i], ptr[t * m + i + 1]
            cols = indices[lo:hi].astype(np.int64)
            assert np.all((cols >= t * TILE_K) & (cols < (t + 1) * TILE_K))
            assert np.all(np.diff(cols) > 0)
            got.update({(i, c): v for c, v in zip(cols, data[lo:hi])})
    assert got == expected


def test_tiles_are_built_once_owned_and_not_pickled():
    rng = np.random.default_rng(4)
    A = sk.CSR.from_dense(random_sparse(rng, 40, 2 * TILE_K + 1, 0.2, np.float32))
    X = rng.uniform(-1, 1, (A.shape[1], 64)).astype(np.float32)
    Y = A @ X
    tiles = A._k_tiles(64)
    assert tiles is A._k_tiles(64)                 # kept
    assert all(not t.flags.writeable for t in tiles)
    for B in (pickle.loads(pickle.dumps(A)), copy.deepcopy(A), A.copy()):
        assert "_tiles" not in vars(B)
        np.testing.assert_array_equal(B @ X, Y)


def test_nan_and_inf_propagate_through_the_tiles():
    W = np.zeros((5, 2 * TILE_K + 7), np.float32)
    W[0, 3], W[1, TILE_K + 2], W[2, 2 * TILE_K], W[3, 1] = np.nan, 2.0, np.inf, 1.0
    X = np.ones((W.shape[1], 64), np.float32)
    A = sk.CSR.from_dense(W)
    assert A._k_tiles(64) is not None
    assert_matmul_close(A @ X, W, X)
    X[1, 5] = np.inf        # read by the stored entry (3, 1) only: structural zeros are skipped
    Y = A @ X
    assert Y[3, 5] == np.inf and np.isfinite(Y[1]).all() and (Y[4] == 0).all()
    np.testing.assert_array_equal(Y, _plain(A, X))


@pytest.mark.parametrize("n", [33, 64, 100])
def test_rows_read_in_place_through_the_tiles(n):
    """A conv's padded image read in place as its im2col matrix (rows at ``starts``,
    overlapping) takes the tiled kernel too."""
    rng = np.random.default_rng(6)
    m, k = 70, 2 * TILE_K + 40
    W = _matrix(rng, m, k, 0.15, np.float32)
    A = sk.CSR.from_dense(W)
    x = rng.uniform(-1, 1, 3000).astype(np.float32)
    starts = rng.integers(0, x.size - n, k).astype(np.int64)
    assert A._k_tiles(n) is not None
    out = A.matmul_rows_at(x, starts, np.empty((m, n), np.float32))
    rows = np.stack([x[s:s + n] for s in starts])
    assert_matmul_close(out, W, rows)
    plain = sk.kernels.csr_spmm(A.data, A.indices, A.indptr, x, np.empty((m, n), np.float32),
                                starts)
    np.testing.assert_array_equal(out, plain)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="Numba has a single thread here")
def test_tiled_on_two_threads(restore_threads):
    rng = np.random.default_rng(5)
    W = _matrix(rng, 700, 3 * TILE_K + 5, 0.1, np.float32)
    X = rng.uniform(-1, 1, (W.shape[1], 130)).astype(np.float32)
    A = sk.CSR.from_dense(W)
    sk.set_num_threads(1)
    one = A @ X
    sk.set_num_threads(2)
    np.testing.assert_array_equal(A @ X, one)
    assert_matmul_close(one, W, X)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="Numba has a single thread here")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [100, 3 * TILE_K + 7])
@pytest.mark.parametrize("n", [129, 255, 256, 300, 520])
def test_two_threads_split_wide_products_by_column_panels(n, k, dtype, restore_threads):
    """Two threads take wide products by column panels (``split_by_columns``), narrow ones by
    rows: either way every sum runs in the one-thread order, so the outputs are bit-equal."""
    rng = np.random.default_rng(n + k)
    W = _matrix(rng, 90, k, 0.1, dtype)
    X = rng.uniform(-1, 1, (k, n)).astype(dtype)
    bias = rng.uniform(-1, 1, 90).astype(dtype)
    R = rng.uniform(-1, 1, (90, n)).astype(dtype)
    A = sk.CSR.from_dense(W)
    sk.set_num_threads(1)
    one = A.matmul(X, bias=bias, residual=R, relu=True)
    sk.set_num_threads(2)
    assert kcsr.num_parts(A.stored * n) == 2
    assert kcsr.split_by_columns(n, 2, dtype) == (n * np.dtype(dtype).itemsize >= 1024)
    np.testing.assert_array_equal(A.matmul(X, bias=bias, residual=R, relu=True), one)
    assert_matmul_close(A @ X, W, X)
