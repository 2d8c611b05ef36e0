"""The one-thread CSR SpMM reads X from a copy with aligned rows, none 4 KiB apart, where that
pays (``kernels.rows``): the same products, bit for bit, and only where it applies."""
import numba
import numpy as np
import pytest

import sparsekit as sk
from helpers import FLOATS, assert_matmul_close, random_sparse
from sparsekit.kernels import csr as csr_kernels
from sparsekit.kernels.aligned import LINE_BYTES, aligned_empty
from sparsekit.kernels.rows import MIN_ROWS, REUSE_MIN, copy_rows, pitch


def _aligned(shape, dtype, off=0):
    """A C-contiguous array starting ``off`` elements past a 64-byte boundary."""
    size = int(np.prod(shape))
    return aligned_empty(size + off, dtype)[off:].reshape(shape)


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("size", [1, 15, 16, 1000])
def test_aligned_empty_starts_on_a_line(dtype, size):
    a = aligned_empty(size, dtype)
    assert a.shape == (size,) and a.dtype == dtype and a.ctypes.data % LINE_BYTES == 0


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_rows_4k_apart_are_copied_one_line_further_apart(dtype):
    n = 4096 // np.dtype(dtype).itemsize
    X = _aligned((40, n), dtype)
    X[:] = np.random.default_rng(0).standard_normal((40, n))
    p = pitch(X, stored=0)   # aliasing rows are copied however few entries read them
    assert p == n + LINE_BYTES // X.itemsize
    buffer = copy_rows(X, p)
    assert buffer.ctypes.data % LINE_BYTES == 0
    for k in range(40):
        np.testing.assert_array_equal(buffer[k * p:k * p + n], X[k])


@pytest.mark.parametrize("n, expected", [(196, 208), (49, 64), (30, 32)])
def test_misaligned_rows_are_copied_to_whole_lines(n, expected):
    X = _aligned((64, n), np.float32)
    assert pitch(X, stored=REUSE_MIN * 64) == expected
    assert pitch(X, stored=REUSE_MIN * 64 - 1) is None   # too few reads to repay the copy


def test_an_aligned_x_off_its_line_is_copied():
    assert pitch(_aligned((64, 64), np.float32), REUSE_MIN * 64) is None
    assert pitch(_aligned((64, 64), np.float32, off=4), REUSE_MIN * 64) == 64


@pytest.mark.parametrize("shape", [(MIN_ROWS - 1, 1024), (64, 1008), (64, 1040), (64, 0),
                                   (64, 8), (4096,)])
def test_no_copy_for_few_rows_aligned_rows_or_rows_under_a_line(shape):
    assert pitch(_aligned(shape, np.float32), stored=10**9) is None


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n, off", [(4096, 0), (196, 0), (64, 4), (49, 1)])
def test_csr_spmm_through_the_copy_is_unchanged(dtype, threads, n, off, monkeypatch,
                                                restore_threads):
    sk.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    n = n * 4 // np.dtype(dtype).itemsize if n == 4096 else n
    rng = np.random.default_rng(1)
    W = random_sparse(rng, 48, 96, 0.2, dtype)
    X = _aligned((96, n), dtype, off)
    X[:] = rng.uniform(-1, 1, (96, n))
    bias = rng.uniform(-1, 1, 48).astype(dtype)
    A = sk.CSR.from_dense(W)
    copied_out = A.matmul(X, bias=bias, relu=True)
    monkeypatch.setattr(csr_kernels.rows, "pitch", lambda X, stored: None)
    plain_out = A.matmul(X, bias=bias, relu=True)
    np.testing.assert_array_equal(copied_out, plain_out)
    assert_matmul_close(A @ X, W, X)


def test_only_the_one_thread_csr_spmm_copies(monkeypatch, restore_threads):
    calls = []
    monkeypatch.setattr(csr_kernels.rows, "copy_rows",
                        lambda X, p: calls.append(X.shape) or copy_rows(X, p))
    A = sk.CSR.from_dense(random_sparse(np.random.default_rng(2), 512, 64, 0.3, np.float32))
    sk.set_num_threads(1)
    A @ _aligned((64, 1024), np.float32)
    A @ _aligned((64, 1040), np.float32)
    if numba.config.NUMBA_NUM_THREADS >= 2:
        sk.set_num_threads(2)
        assert csr_kernels.num_parts(A.stored * 1024) == 2
        A @ _aligned((64, 1024), np.float32)
    assert calls == [(64, 1024)]
