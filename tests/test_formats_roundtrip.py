"""from_dense(W).to_dense() == W exactly, and the size properties (shape, dtype, nnz, stored,
density, sparsity) for CSR, BSR and VectorSkip."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import sparsekit as sk
from helpers import (FLOATS, expected_stored, format_specs, random_sparse, special_matrix,
                     sparse_matrices, build)


def _dense(m, k, dtype):
    rng = np.random.default_rng(m * 1000 + k)
    w = rng.uniform(0.5, 2.0, (m, k)) * rng.choice([-1.0, 1.0], (m, k))
    return w.astype(dtype)


# name -> W builder (dtype -> 2-D array)
CASES = {
    "zeros5x7": lambda dt: np.zeros((5, 7), dt),
    "dense5x7": lambda dt: _dense(5, 7, dt),
    "dense16x16": lambda dt: _dense(16, 16, dt),
    "0x0": lambda dt: np.zeros((0, 0), dt),
    "0x5": lambda dt: np.zeros((0, 5), dt),
    "5x0": lambda dt: np.zeros((5, 0), dt),
    "1x1": lambda dt: np.full((1, 1), 3.25, dt),
    "1x1zero": lambda dt: np.zeros((1, 1), dt),
    "1x17": lambda dt: random_sparse(np.random.default_rng(1), 1, 17, 0.5, dt),
    "17x1": lambda dt: random_sparse(np.random.default_rng(2), 17, 1, 0.5, dt),
    "13x11": lambda dt: random_sparse(np.random.default_rng(3), 13, 11, 0.3, dt),
    "70x130": lambda dt: random_sparse(np.random.default_rng(4), 70, 130, 0.05, dt),
    "special7x9": special_matrix,
}


@pytest.fixture(params=list(CASES), ids=list(CASES))
def case(request):
    return CASES[request.param]


def assert_round_trip(A, W):
    D = A.to_dense()
    assert isinstance(D, np.ndarray)
    assert D.shape == W.shape and D.dtype == W.dtype
    # equal_nan keeps NaN; array_equal treats -0.0 == 0.0, which the contract allows.
    assert np.array_equal(D, W, equal_nan=True), (D, W)
    # The infinities keep their sign (array_equal already implies it; be explicit).
    np.testing.assert_array_equal(np.isposinf(D), np.isposinf(W))
    np.testing.assert_array_equal(np.isneginf(D), np.isneginf(W))


def assert_properties(A, W):
    m, k = W.shape
    assert A.shape == (m, k)
    assert all(type(s) is int for s in A.shape)
    assert A.ndim == 2
    assert A.dtype == W.dtype and isinstance(A.dtype, np.dtype)
    nnz = int(np.count_nonzero(W))  # NaN and inf count, -0.0 does not
    assert A.nnz == nnz
    assert A.stored == expected_stored(A, W)
    assert A.stored >= A.nnz
    if m * k:
        assert A.density == pytest.approx(nnz / (m * k))
        assert A.sparsity == pytest.approx(1 - nnz / (m * k))
    else:
        assert A.density == 0.0
        assert np.isfinite(A.sparsity)
    assert 0.0 <= A.density <= 1.0 and 0.0 <= A.sparsity <= 1.0
    assert type(A).__name__ in repr(A)


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_round_trip_and_properties(spec, case, dtype, kind):
    W = case(dtype)
    A = build(spec, torch.from_numpy(W.copy()) if kind == "torch" else W)
    assert_round_trip(A, W)
    assert_properties(A, W)


def test_special_values_counted(spec):
    W = special_matrix(np.float32)
    A = build(spec, W)
    # NaN, +inf, -inf, max, -max, subnormal, 1.5 are nonzero; -0.0 is not.
    assert A.nnz == 7
    D = A.to_dense()
    assert np.isnan(D[0, 0]) and D[0, 8] == np.inf and D[3, 4] == -np.inf
    assert D[6, 0] == 0.0
    assert D[2, 2] == np.finfo(np.float32).smallest_subnormal


def test_negative_zero_only_matrix_is_empty(spec):
    W = np.full((6, 5), -0.0)
    A = build(spec, W)
    assert A.nnz == 0 and A.stored == 0
    assert np.array_equal(A.to_dense(), np.zeros((6, 5)))


@pytest.mark.parametrize("view", ["transposed", "stepped", "negative", "fortran"])
def test_non_contiguous_input(spec, view):
    base = random_sparse(np.random.default_rng(5), 24, 30, 0.3, np.float32)
    W = {"transposed": base.T, "stepped": base[::3, 1::2], "negative": base[::-1, ::-2],
         "fortran": np.asfortranarray(base)}[view]
    assert_round_trip(build(spec, W), np.ascontiguousarray(W))


def test_non_contiguous_torch_input(spec):
    base = torch.from_numpy(random_sparse(np.random.default_rng(6), 9, 21, 0.4))
    W = base.t()[::2]
    assert not W.is_contiguous()
    assert_round_trip(build(spec, W), W.contiguous().numpy())


def test_input_is_copied(spec):
    """Mutating the dense input afterwards must not change the compressed matrix."""
    W = random_sparse(np.random.default_rng(7), 10, 12, 0.5)
    keep = W.copy()
    A = build(spec, W)
    W[...] = 7.0
    assert_round_trip(A, keep)


def test_to_dense_returns_fresh_array(spec):
    W = random_sparse(np.random.default_rng(8), 9, 10, 0.5)
    A = build(spec, W)
    D = A.to_dense()
    D[...] = 99.0
    assert_round_trip(A, W)


@given(W=sparse_matrices(), fmt=format_specs(), use_torch=st.booleans())
def test_round_trip_property(W, fmt, use_torch):
    A = build(fmt, torch.from_numpy(W.copy()) if use_torch else W)
    assert_round_trip(A, W)
    assert_properties(A, W)


@given(W=sparse_matrices(max_side=40, special=False), fmt=format_specs())
def test_double_round_trip_is_stable(W, fmt):
    """Packing the unpacked matrix again gives identical arrays (canonical form)."""
    A = build(fmt, W)
    B = build(fmt, A.to_dense())
    assert A.nnz == B.nnz and A.stored == B.stored
    for a, b in zip(_arrays(A), _arrays(B)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def _arrays(A):
    if isinstance(A, sk.CSR):
        return A.data, A.indices, A.indptr
    if isinstance(A, sk.BSR):
        return A.blocks, A.indices, A.indptr
    return A.vectors, A.bitmap, A.panel_ptr


def test_formats_share_the_nnz(case):
    W = case(np.float64)
    counts = {sk.CSR.from_dense(W).nnz, sk.BSR.from_dense(W, block=(3, 2)).nnz,
              sk.VectorSkip.from_dense(W, vector=4).nnz}
    assert counts == {int(np.count_nonzero(W))}


def test_default_block_and_vector():
    W = random_sparse(np.random.default_rng(9), 16, 16, 0.2)
    assert sk.BSR.from_dense(W).block == (4, 4)
    assert sk.VectorSkip.from_dense(W).vector == 8
