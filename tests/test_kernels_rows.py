"""An X whose rows lie 4 KiB apart is read from a spread copy by the one-thread CSR SpMM
(``kernels.rows``): the same products, bit for bit, and only where it applies."""
import numba
import numpy as np
import pytest

import sparsekit as sk
from helpers import FLOATS, assert_matmul_close, random_sparse
from sparsekit.kernels import csr as csr_kernels
from sparsekit.kernels.rows import LINE_BYTES, SPREAD_MIN_ROWS, spread, spreads


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_spread_keeps_every_row_one_line_further_apart(dtype):
    n = 4096 // np.dtype(dtype).itemsize
    X = np.random.default_rng(0).standard_normal((40, n)).astype(dtype)
    assert spreads(X)
    buffer, starts = spread(X)
    width = n + LINE_BYTES // X.itemsize
    np.testing.assert_array_equal(starts, np.arange(40) * width)
    for k in range(40):
        np.testing.assert_array_equal(buffer[starts[k]:starts[k] + n], X[k])


@pytest.mark.parametrize("shape", [(SPREAD_MIN_ROWS - 1, 1024), (64, 1008), (64, 1040),
                                   (64, 0), (4096,)])
def test_only_rows_4k_apart_and_enough_of_them_spread(shape):
    assert not spreads(np.zeros(shape, np.float32))


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_csr_spmm_on_aliasing_rows_is_unchanged(dtype, threads, monkeypatch,
                                                 restore_threads):
    sk.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    n = 4096 // np.dtype(dtype).itemsize
    rng = np.random.default_rng(1)
    W = random_sparse(rng, 48, 96, 0.2, dtype)
    X = rng.uniform(-1, 1, (96, n)).astype(dtype)
    bias = rng.uniform(-1, 1, 48).astype(dtype)
    A = sk.CSR.from_dense(W)
    spread_out = A.matmul(X, bias=bias, relu=True)
    monkeypatch.setattr(csr_kernels, "spreads", lambda X: False)
    plain_out = A.matmul(X, bias=bias, relu=True)
    np.testing.assert_array_equal(spread_out, plain_out)
    assert_matmul_close(A @ X, W, X)


def test_one_thread_csr_spmm_reads_the_spread_copy(monkeypatch, restore_threads):
    sk.set_num_threads(1)
    calls = []
    monkeypatch.setattr(csr_kernels, "spread", lambda X: calls.append(X.shape) or spread(X))
    A = sk.CSR.from_dense(random_sparse(np.random.default_rng(2), 8, 64, 0.3, np.float32))
    A @ np.ones((64, 1024), np.float32)
    A @ np.ones((64, 1040), np.float32)
    assert calls == [(64, 1024)]
