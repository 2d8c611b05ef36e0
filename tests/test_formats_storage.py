"""storage(): itemised bytes (values, indices, pointers, bitmap, total) that equal what the
kernels read, at the stated value and index widths."""
import numpy as np
import pytest
from hypothesis import given

import sparsekit as sk
from helpers import build, format_specs, sparse_matrices

BITS = (8, 16, 32, 64)


def _csr_example():
    # 3×4, 4 nonzeros; row 2 empty.
    W = np.array([[1, 0, 0, 2], [0, 0, 3, 0], [0, 0, 0, 0]], np.float32)
    W[0, 1] = 4
    return sk.CSR.from_dense(W)


def test_csr_hand_computed():
    s = _csr_example().storage()
    # 4 float32 values, 4 uint8 column indices, 3+1 uint16 row pointers.
    assert (s.values, s.indices, s.pointers, s.bitmap) == (16, 4, 8, 0)
    assert s.total == 28 and s.metadata == 12
    assert (s.value_bits, s.index_bits, s.format) == (32, 8, "csr")


@pytest.mark.parametrize("vb", BITS)
@pytest.mark.parametrize("ib", BITS)
def test_csr_widths(vb, ib):
    s = _csr_example().storage(value_bits=vb, index_bits=ib)
    assert s.values == 4 * vb // 8
    assert s.indices == 4 * ib // 8
    assert s.pointers == 8          # the pointer array the kernel reads is unchanged
    assert s.bitmap == 0
    assert s.total == 4 * vb // 8 + 4 * ib // 8 + 8
    assert (s.value_bits, s.index_bits) == (vb, ib)


def test_csr_float64_default_width():
    s = sk.CSR.from_dense(np.eye(3)).storage()
    assert s.value_bits == 64 and s.values == 3 * 8


def _bsr_example():
    # 5×7 with 2×3 blocks: 3 block rows × 3 block columns; 3 blocks present.
    W = np.zeros((5, 7), np.float32)
    W[0, 0] = 1    # block (0, 0)
    W[1, 6] = 2    # block (0, 2), a padded edge block
    W[4, 3] = 3    # block (2, 1), padded below
    W[4, 4] = 4    # same block
    return sk.BSR.from_dense(W, block=(2, 3))


def test_bsr_hand_computed():
    A = _bsr_example()
    assert A.stored == 3 * 6 and A.nnz == 4
    s = A.storage()
    # 3 blocks × 6 float32 (padding included), 3 uint8 block-column indices, 4 uint16 pointers.
    assert (s.values, s.indices, s.pointers, s.bitmap) == (72, 3, 8, 0)
    assert s.total == 83
    assert (s.value_bits, s.index_bits, s.format) == (32, 8, "bsr")


@pytest.mark.parametrize("vb", BITS)
@pytest.mark.parametrize("ib", BITS)
def test_bsr_widths(vb, ib):
    s = _bsr_example().storage(value_bits=vb, index_bits=ib)
    assert (s.values, s.indices, s.pointers, s.bitmap) == (18 * vb // 8, 3 * ib // 8, 8, 0)
    assert s.total == s.values + s.indices + s.pointers


def _vs_example():
    # 5×70 with V=2: 3 panels (the last padded), 2 bitmap words each; 4 vectors present.
    W = np.zeros((5, 70), np.float32)
    W[0, 1] = 1
    W[1, 1] = 5    # same vector as (0, 1)
    W[1, 65] = 2
    W[2, 0] = 3
    W[4, 69] = 4
    return sk.VectorSkip.from_dense(W, vector=2)


def test_vectorskip_hand_computed():
    A = _vs_example()
    assert A.stored == 4 * 2 and A.nnz == 5
    s = A.storage()
    # 4 vectors × 2 float32; no indices; 4 uint16 panel pointers; 3 × 2 uint64 words.
    assert (s.values, s.indices, s.pointers, s.bitmap) == (32, 0, 8, 48)
    assert s.total == 88 and s.metadata == 56
    assert (s.value_bits, s.index_bits, s.format) == (32, 16, "vectorskip")


@pytest.mark.parametrize("vb", BITS)
@pytest.mark.parametrize("ib", BITS)
def test_vectorskip_widths(vb, ib):
    s = _vs_example().storage(value_bits=vb, index_bits=ib)
    # VectorSkip has no index array: index_bits is the width of the panel pointers.
    assert (s.values, s.indices, s.pointers, s.bitmap) == (8 * vb // 8, 0, 4 * ib // 8, 48)
    assert s.total == s.values + s.pointers + s.bitmap


def test_vectorskip_bitmap_words_per_64_columns():
    for k, words in [(1, 1), (64, 1), (65, 2), (128, 2), (129, 3)]:
        A = sk.VectorSkip.from_dense(np.ones((8, k)), vector=4)
        assert A.storage().bitmap == 2 * words * 8, k


def test_storage_dict_and_str():
    s = _csr_example().storage()
    d = s.to_dict()
    assert d["total"] == 28 and d["metadata"] == 12 and d["values"] == 16
    assert d["value_bits"] == 32 and d["index_bits"] == 8 and d["format"] == "csr"
    text = str(s)
    assert "28" in text and "csr" in text


def test_empty_matrices():
    for A in (sk.CSR.from_dense(np.zeros((0, 0))), sk.BSR.from_dense(np.zeros((0, 5))),
              sk.VectorSkip.from_dense(np.zeros((0, 5)))):
        s = A.storage()
        assert s.values == 0 and s.indices == 0 and s.bitmap == 0
        assert s.pointers == _pointer_array(A).nbytes  # the single 0 pointer


# -- default widths are those of the kernel arrays, and the smallest that fit ---------------
def _pointer_array(A):
    return A.panel_ptr if isinstance(A, sk.VectorSkip) else A.indptr


def _assert_counts_arrays(A):
    s = A.storage()
    assert s.values == A.values.nbytes
    assert s.value_bits == A.values.dtype.itemsize * 8
    assert s.pointers == _pointer_array(A).nbytes
    if isinstance(A, sk.VectorSkip):
        assert s.indices == 0
        assert s.bitmap == A.bitmap.nbytes
        assert s.index_bits == A.panel_ptr.dtype.itemsize * 8
    else:
        assert s.bitmap == 0
        assert s.indices == A.indices.nbytes
        assert s.index_bits == A.indices.dtype.itemsize * 8
    assert s.total == s.values + s.indices + s.pointers + s.bitmap


@given(W=sparse_matrices(max_side=20), fmt=format_specs())
def test_default_storage_is_what_kernels_read(W, fmt):
    _assert_counts_arrays(build(fmt, W))


# (K, expected width): the largest column index is K - 1.
CSR_WIDTHS = [(1, 8), (255, 8), (256, 8), (257, 16), (65536, 16), (65537, 32)]


@pytest.mark.parametrize("k,bits", CSR_WIDTHS)
def test_csr_index_width_boundaries(k, bits):
    W = np.zeros((2, k), np.float32)
    W[0, -1] = 1.0
    W[1, 0] = 2.0
    A = sk.CSR.from_dense(W)
    assert A.indices.dtype.itemsize * 8 == bits
    assert A.indices.dtype.kind == "u"
    assert A.storage().index_bits == bits
    _assert_counts_arrays(A)
    for smaller in [b for b in BITS if b < bits]:
        with pytest.raises(ValueError, match="cannot hold"):
            A.storage(index_bits=smaller)
    for wider in [b for b in BITS if b >= bits]:
        assert A.storage(index_bits=wider).indices == 2 * wider // 8


# (K, block columns c, expected width): the largest block-column index is ceil(K/c) - 1.
BSR_WIDTHS = [(256, 1, 8), (257, 1, 16), (512, 2, 8), (513, 2, 16), (1020, 4, 8),
              (1021, 4, 8), (1025, 4, 16)]


@pytest.mark.parametrize("k,c,bits", BSR_WIDTHS)
def test_bsr_index_width_boundaries(k, c, bits):
    W = np.zeros((3, k), np.float32)
    W[0, -1] = 1.0
    A = sk.BSR.from_dense(W, block=(2, c))
    assert A.indices.dtype.itemsize * 8 == bits
    assert A.storage().index_bits == bits
    _assert_counts_arrays(A)
    for smaller in [b for b in BITS if b < bits]:
        with pytest.raises(ValueError, match="cannot hold"):
            A.storage(index_bits=smaller)


@pytest.mark.parametrize("nnz,bits", [(65535, 16), (65536, 32)])
def test_pointer_width_follows_nnz(nnz, bits):
    """Row pointers hold values up to nnz: the kernels get the smallest of uint16/uint32."""
    A = sk.CSR.from_dense(np.ones((1, nnz), np.float32))
    assert A.indptr.dtype.itemsize * 8 == bits
    assert A.storage().pointers == 2 * bits // 8
    V = sk.VectorSkip.from_dense(np.ones((1, nnz), np.float32), vector=1)
    assert V.panel_ptr.dtype.itemsize * 8 == bits
    assert V.storage().pointers == 2 * bits // 8
    assert V.storage().bitmap == -(-nnz // 64) * 8
    with pytest.raises(ValueError, match="cannot hold"):
        V.storage(index_bits=8)
    if bits == 32:
        with pytest.raises(ValueError, match="cannot hold"):
            V.storage(index_bits=16)
    else:
        assert V.storage(index_bits=16).pointers == 4


def test_vectorskip_pointer_bits_small():
    A = _vs_example()
    assert A.storage(index_bits=8).pointers == 4
    B = sk.VectorSkip.from_dense(np.ones((1, 300), np.float32), vector=1)
    assert B.storage(index_bits=16).pointers == 4
    with pytest.raises(ValueError, match="cannot hold"):
        B.storage(index_bits=8)


@pytest.mark.parametrize("make", [_csr_example, _bsr_example, _vs_example],
                         ids=["csr", "bsr", "vectorskip"])
@pytest.mark.parametrize("bad", [0, 4, 12, 24, 128, 32.0, True, "32", -32])
def test_bad_value_bits(make, bad):
    with pytest.raises(ValueError, match="value_bits"):
        make().storage(value_bits=bad)


@pytest.mark.parametrize("make", [_csr_example, _bsr_example, _vs_example],
                         ids=["csr", "bsr", "vectorskip"])
@pytest.mark.parametrize("bad", [0, 4, 12, 24, 128, 16.0, True, "16"])
def test_bad_index_bits(make, bad):
    with pytest.raises(ValueError, match="index_bits"):
        make().storage(index_bits=bad)


def test_numpy_integer_widths_accepted():
    s = _csr_example().storage(value_bits=np.int64(16), index_bits=np.uint8(32))
    assert (s.values, s.indices) == (8, 16)
    assert type(s.value_bits) is int and type(s.index_bits) is int


def test_storage_counts_stored_not_nnz():
    """A BSR block keeps its zeros: bytes follow stored, not nnz."""
    W = np.zeros((8, 8), np.float64)
    W[0, 0] = W[5, 7] = 1.0
    A = sk.BSR.from_dense(W, block=(4, 4))
    assert A.nnz == 2 and A.stored == 32
    assert A.storage().values == 32 * 8
    assert A.storage(value_bits=16).values == 32 * 2
