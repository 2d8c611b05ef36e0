"""A.matmul(X, bias=b, residual=R, relu=True) = relu(A @ X + b[:, None] + R): the kernels
finish each output as they store it (every format, SpMV and SpMM, plain and K-tiled CSR, rows
read in place), so a ResNet block's skip connection and activation cost no pass of their own.
Bad residuals and relu flags raise clear errors."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsekit as sk
from helpers import FLOATS, SPEC_BY_ID, SPEC_IDS, build, random_sparse, tolerances
from sparsekit.kernels import csr as kcsr


def _reference(W, X, b, R, relu):
    ref = W.astype(np.float64) @ X.astype(np.float64)
    if b is not None:
        ref = ref + (b[:, None] if ref.ndim == 2 else b)
    if R is not None:
        ref = ref + R
    return np.maximum(ref, 0) if relu else ref


def _close(Y, W, X, b, R, relu):
    rtol, atol = tolerances(W.dtype, X.shape[0], W, X)
    scale = max(np.abs(b).max(initial=0) if b is not None else 0,
                np.abs(R).max(initial=0) if R is not None else 0)
    np.testing.assert_allclose(Y, _reference(W, X, b, R, relu), rtol=rtol,
                               atol=atol + 1e-6 * scale)


@settings(max_examples=200, deadline=None)
@given(spec_id=st.sampled_from(SPEC_IDS), m=st.integers(1, 70), k=st.integers(1, 90),
       n=st.sampled_from([None, 0, 1, 5, 16, 33, 70]), density=st.floats(0.0, 0.6),
       dtype=st.sampled_from(FLOATS), seed=st.integers(0, 2**16),
       with_bias=st.booleans(), with_residual=st.booleans(), relu=st.booleans())
def test_every_format_finishes_its_outputs(spec_id, m, k, n, density, dtype, seed, with_bias,
                                           with_residual, relu):
    spec = SPEC_BY_ID[spec_id]
    rng = np.random.default_rng(seed)
    W = random_sparse(rng, m, k, density, dtype)
    shape = (m,) if n is None else (m, n)
    X = rng.uniform(-1, 1, (k,) if n is None else (k, n)).astype(dtype)
    b = rng.uniform(-3, 3, m).astype(dtype) if with_bias else None
    R = rng.uniform(-3, 3, shape).astype(dtype) if with_residual else None
    A = build(spec, W)
    Y = A.matmul(X, bias=b, residual=R, relu=relu)
    _close(Y, W, X, b, R, relu)
    if relu:
        assert (Y >= 0).all()
    # the same through out= and torch operands
    out = torch.full(shape, float("nan"), dtype=getattr(torch, np.dtype(dtype).name))
    A.matmul(torch.from_numpy(X), out=out, bias=None if b is None else torch.from_numpy(b),
             residual=None if R is None else torch.from_numpy(R), relu=relu)
    _close(out.numpy(), W, X, b, R, relu)


def test_relu_keeps_nan_as_torch_does(spec):
    W = np.zeros((8, 4), np.float32)
    W[:, 0] = 1.0
    A = build(spec, W)
    x = np.array([np.nan, 1, 1, 1], np.float32)
    y = A.matmul(x, relu=True)
    assert np.isnan(y).all()
    X = np.tile(np.array([[-1.0], [0], [0], [0]], np.float32), (1, 40))
    X[0, 3] = np.nan
    Y = A.matmul(X, relu=True)
    expected = torch.relu(torch.from_numpy(W @ np.nan_to_num(X, nan=0.0))).numpy()
    expected[:, 3] = np.nan
    np.testing.assert_array_equal(Y, expected)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("with_residual, relu", [(False, False), (True, True)])
def test_k_tiled_csr_finishes_bit_equal_to_the_plain_kernel(dtype, with_residual, relu):
    rng = np.random.default_rng(3)
    k = 3 * kcsr.TILE_K + 5
    W = random_sparse(rng, 300, k, 0.1, dtype)
    X = rng.uniform(-1, 1, (k, 70)).astype(dtype)
    b = rng.uniform(-1, 1, 300).astype(dtype)
    R = rng.uniform(-1, 1, (300, 70)).astype(dtype) if with_residual else None
    A = sk.CSR.from_dense(W)
    assert A._k_tiles(70) is not None
    plain = sk.kernels.csr_spmm(A.data, A.indices, A.indptr, X, np.empty((300, 70), dtype),
                                bias=b, residual=R, relu=relu)
    np.testing.assert_array_equal(A.matmul(X, bias=b, residual=R, relu=relu), plain)
    _close(plain, W, X, b, R, relu)


@pytest.mark.parametrize("with_residual, relu", [(False, False), (True, True)])
def test_rows_read_in_place_are_finished(spec, with_residual, relu):
    rng = np.random.default_rng(4)
    W = random_sparse(rng, 19, 6, 0.5, np.float64)
    x = rng.uniform(-1, 1, 200)
    starts = np.array([0, 3, 50, 51, 120, 7], np.int64)
    b = rng.uniform(-1, 1, 19)
    R = rng.uniform(-1, 1, (19, 40)) if with_residual else None
    X = np.stack([x[s:s + 40] for s in starts])
    out = build(spec, W).matmul_rows_at(x, starts, np.empty((19, 40)), bias=b, residual=R,
                                        relu=relu)
    _close(out, W, X, b, R, relu)


@pytest.mark.parametrize("m, k, n", [(23, 17, 9), (40, 3 * kcsr.TILE_K + 5, 70)],
                         ids=["plain", "k-tiled"])
def test_a_residual_that_is_the_output_is_read_before_it_is_written(spec, m, k, n):
    """Each kernel stores an output after reading its residual, or (K-tiled CSR, rows summed
    in memory) reads a copy of a residual that is its output: a layer writes its output over
    a residual nothing reads afterwards (``into_residual``). Bit-equal to a separate one."""
    rng = np.random.default_rng(5)
    W = random_sparse(rng, m, k, 0.4, np.float32)
    X = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    Y = rng.uniform(-1, 1, (m, n)).astype(np.float32)
    A = build(spec, W)
    expected = A.matmul(X, residual=Y.copy(), relu=True)
    A.matmul(X, out=Y, residual=Y, relu=True)
    np.testing.assert_array_equal(Y, expected)


@pytest.mark.parametrize("residual, relu, error, match", [
    (np.zeros((21, 4), np.float32), False, ValueError, r"residual must have the output's shape"),
    (np.zeros(21 * 5, np.float32), False, ValueError, r"residual must have the output's shape"),
    (np.zeros((21, 5), np.float64), False, TypeError, "dtype mismatch"),
    (np.zeros((21, 5), np.int64), False, TypeError, "residual"),
    ("zeros", False, TypeError, "residual"),
    (None, 1, TypeError, "relu must be a bool"),
    (None, "yes", TypeError, "relu must be a bool"),
])
def test_a_bad_residual_or_relu_raises_and_names_it(spec, residual, relu, error, match):
    W = random_sparse(np.random.default_rng(0), 21, 37, 0.3, np.float32)
    X = np.ones((37, 5), np.float32)
    with pytest.raises(error, match=match):
        build(spec, W).matmul(X, residual=residual, relu=relu)
