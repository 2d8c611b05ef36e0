"""The SpMV kernels that prefetch a matrix streaming from DRAM (BSR 4×4 and VectorSkip float32)
give the products they give without prefetching, and VectorSkip's decoded column index (what
its SpMV kernels read instead of the bitmap) is exactly the bitmap's set bits."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsekit as sk
from helpers import assert_matmul_close, bitmap_bits, sparse_matrices
from sparsekit import kernels
from sparsekit.kernels import bsr as bsr_kernels
from sparsekit.kernels import caches
from sparsekit.kernels import vectorskip as vectorskip_kernels


def _prefetching(mp, ahead_bytes):
    """Make every SpMV prefetch ``ahead_bytes`` ahead, whatever the matrix's size."""
    def ahead(nbytes, itemsize):
        return ahead_bytes // itemsize
    mp.setattr(bsr_kernels, "prefetch_ahead", ahead)
    mp.setattr(vectorskip_kernels, "prefetch_ahead", ahead)


def _with_and_without(W, fmt, ahead_bytes):
    """(A @ x prefetching ``ahead_bytes`` ahead, A @ x as the kernels choose) for W packed as
    ``fmt``, x spanning -1 .. 1."""
    A = {"bsr4x4": lambda: sk.BSR.from_dense(W, block=(4, 4)),
         "vectorskip8": lambda: sk.VectorSkip.from_dense(W, vector=8),
         "vectorskip3": lambda: sk.VectorSkip.from_dense(W, vector=3)}[fmt]()
    x = np.linspace(-1, 1, W.shape[1]).astype(np.float32)
    without = A @ x
    with pytest.MonkeyPatch.context() as mp:
        _prefetching(mp, ahead_bytes)
        return A @ x, without


@settings(max_examples=60, deadline=None)
@given(W=sparse_matrices(max_side=70, dtype=np.float32, special=False), fmt=st.sampled_from(
    ["bsr4x4", "vectorskip8", "vectorskip3"]), ahead=st.sampled_from([64, 4096]))
def test_prefetching_spmv_matches_dense(W, fmt, ahead):
    """Prefetches run past the end of the matrix at its last blocks and vectors: a hint, they
    never fault and never change a value. Finite values, as the other kernel accuracy tests
    draw: with ±3.4e38 allowed, a float32 sum can overflow where the float64 reference does
    not (32 values of 4.1e37 times x from -1 to 1: -inf against a finite sum). The NaN/inf
    rule has tests of its own (test_kernels_matmul)."""
    got, without = _with_and_without(W, fmt, ahead)
    assert_matmul_close(got, W, np.linspace(-1, 1, W.shape[1]).astype(np.float32))
    np.testing.assert_array_equal(got, without)


@settings(max_examples=60, deadline=None)
@given(W=sparse_matrices(max_side=70, dtype=np.float32), fmt=st.sampled_from(
    ["bsr4x4", "vectorskip8", "vectorskip3"]), ahead=st.sampled_from([64, 4096]))
def test_prefetching_spmv_changes_no_special_value(W, fmt, ahead):
    """With NaN, ±inf, -0.0 and subnormals among the values: the same bits as without."""
    got, without = _with_and_without(W, fmt, ahead)
    np.testing.assert_array_equal(got, without)


@settings(max_examples=40, deadline=None)
@given(W=sparse_matrices(max_side=150, special=False), vector=st.sampled_from([1, 3, 8]))
def test_vector_columns_are_the_bitmaps_set_bits(W, vector):
    A = sk.VectorSkip.from_dense(W, vector=vector)
    columns = A._vector_columns()
    bits = bitmap_bits(A.bitmap, W.shape[1])
    assert columns.dtype == np.uint16
    np.testing.assert_array_equal(columns, np.nonzero(bits)[1])
    assert A._vector_columns() is columns and not columns.flags.writeable


def test_columns_dtype_holds_the_last_column():
    assert kernels.columns_dtype(1 << 16) == np.uint16      # columns 0 .. 65535
    assert kernels.columns_dtype((1 << 16) + 1) == np.int32


def test_vector_columns_past_65536_columns():
    W = np.zeros((8, 70000), np.float32)
    W[:, [0, 65535, 65536, 69999]] = 1
    A = sk.VectorSkip.from_dense(W, vector=8)
    columns = A._vector_columns()
    assert columns.dtype == np.int32
    np.testing.assert_array_equal(columns, [0, 65535, 65536, 69999])
    x = np.arange(70000, dtype=np.float32)
    np.testing.assert_array_equal(A @ x, np.full(8, 0 + 65535 + 65536 + 69999, np.float32))


def test_prefetch_only_past_the_dram_share_of_the_last_level_cache(monkeypatch):
    monkeypatch.setattr(caches, "_LAST_LEVEL", 32 << 20)
    assert caches.prefetch_ahead(16 << 20, 4) == 0
    assert caches.prefetch_ahead((16 << 20) + 1, 4) == caches.PREFETCH_AHEAD_BYTES // 4
    assert caches.prefetch_ahead((16 << 20) + 1, 8) == caches.PREFETCH_AHEAD_BYTES // 8
