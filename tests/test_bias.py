"""A.matmul(X, bias=b) = A @ X + b[:, None]: the kernels add each row's bias as they store its
sums (every format, SpMV and SpMM, plain and K-tiled CSR, rows read in place), so the sparse
layers add theirs without a second pass over the output. Bad biases raise clear errors."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsekit as sk
from helpers import FLOATS, SPEC_BY_ID, SPEC_IDS, build, random_sparse, tolerances


def _close(Y, W, X, b):
    ref = W.astype(np.float64) @ X.astype(np.float64)
    ref = ref + (b[:, None] if ref.ndim == 2 else b)
    rtol, atol = tolerances(W.dtype, X.shape[0], W, X)
    np.testing.assert_allclose(Y, ref, rtol=rtol, atol=atol + 1e-6 * np.abs(b).max(initial=0))


@settings(max_examples=150, deadline=None)
@given(spec_id=st.sampled_from(SPEC_IDS), m=st.integers(1, 70), k=st.integers(1, 90),
       n=st.sampled_from([None, 0, 1, 5, 16, 33, 70]), density=st.floats(0.0, 0.6),
       dtype=st.sampled_from(FLOATS), seed=st.integers(0, 2**16))
def test_every_format_adds_the_bias(spec_id, m, k, n, density, dtype, seed):
    spec = SPEC_BY_ID[spec_id]
    rng = np.random.default_rng(seed)
    W = random_sparse(rng, m, k, density, dtype)
    X = rng.uniform(-1, 1, (k,) if n is None else (k, n)).astype(dtype)
    b = rng.uniform(-3, 3, m).astype(dtype)
    A = build(spec, W)
    _close(A.matmul(X, bias=b), W, X, b)
    # the same result through out=, and with a torch bias
    out = np.full((m,) if n is None else (m, n), np.nan, dtype)
    A.matmul(X, out=out, bias=torch.from_numpy(b))
    _close(out, W, X, b)


@pytest.mark.parametrize("n", [None, 40])
def test_no_bias_is_the_plain_product(spec, n):
    W = random_sparse(np.random.default_rng(0), 21, 37, 0.3, np.float32)
    X = np.random.default_rng(1).uniform(-1, 1, (37,) if n is None else (37, n))
    X = X.astype(np.float32)
    A = build(spec, W)
    np.testing.assert_array_equal(A.matmul(X, bias=None), A @ X)
    np.testing.assert_array_equal(A.matmul(X, bias=np.zeros(21, np.float32)), A @ X)


@pytest.mark.parametrize("bias, error, match", [
    (np.zeros(20, np.float32), ValueError, r"bias must have shape \(21,\)"),
    (np.zeros((21, 1), np.float32), ValueError, r"bias must have shape \(21,\)"),
    (np.zeros(21, np.float64), TypeError, "dtype mismatch"),
    (np.zeros(21, np.int64), TypeError, "bias"),
    (torch.zeros(21, dtype=torch.bfloat16), TypeError, "bias"),
    ("abc", TypeError, "bias"),
])
def test_a_bad_bias_raises_and_names_it(spec, bias, error, match):
    A = build(spec, np.eye(21, 9, dtype=np.float32))
    for X in (np.ones(9, np.float32), np.ones((9, 4), np.float32)):
        with pytest.raises(error, match=match):
            A.matmul(X, bias=bias)
    with pytest.raises(error, match=match):
        A.matmul_rows_at(np.ones(20, np.float32), np.zeros(9, np.int64),
                         np.empty((21, 3), np.float32), bias=bias)


def test_layers_add_their_bias_in_the_kernels(monkeypatch):
    """SparseLinear and SparseConv2d run no torch add for their bias (it is in the kernels),
    and match the dense layers."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(30, 12)
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    with torch.no_grad():
        lin.weight[lin.weight.abs() < 0.1] = 0
        conv.weight[conv.weight.abs() < 0.1] = 0
    x1, x2 = torch.randn(5, 30), torch.randn(2, 3, 20, 20)
    s1, s2 = sk.nn.SparseLinear.from_dense(lin), sk.nn.SparseConv2d.from_dense(conv, "vectorskip")
    calls = []
    for name in ("add", "add_"):
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name,
                            lambda self, *a, _o=original, _n=name, **k: calls.append(_n)
                            or _o(self, *a, **k))
    with torch.no_grad():
        y1, y2 = s1(x1), s2(x2)
    monkeypatch.undo()
    assert calls == []
    with torch.no_grad():
        torch.testing.assert_close(y1, lin(x1), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(y2, conv(x2), rtol=1e-5, atol=1e-5)
