"""The raw-array constructors CSR(data, indices, indptr, shape), BSR(blocks, indices, indptr,
shape) and VectorSkip(vectors, bitmap, panel_ptr, shape) reject every malformed structure
with a ValueError or TypeError naming the problem, and never accept one a kernel would read
out of bounds (Numba does not bounds-check)."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sparsekit as sk
from helpers import assert_valid, random_sparse

INT_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]

# -- valid base structures ----------------------------------------------------------------
# CSR of [[1, 0, 2], [0, 0, 3], [4, 0, 0]]
CSR_BASE = dict(data=np.array([1.0, 2.0, 3.0, 4.0]), indices=np.array([0, 2, 2, 0]),
                indptr=np.array([0, 2, 3, 4]), shape=(3, 3))


def csr(**changes):
    args = {**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in CSR_BASE.items()},
            **changes}
    return sk.CSR(args["data"], args["indices"], args["indptr"], args["shape"])


def bsr_base():
    """5×7 with 2×3 blocks: 3 block rows, 3 block columns; edges padded in both directions."""
    W = np.zeros((5, 7))
    W[0, 0] = 1.0
    W[1, 8 - 2] = 2.0   # block (0, 2)
    W[2, 3] = 3.0       # block (1, 1)
    W[4, 6] = 4.0       # block (2, 2): the corner block, padded on both sides
    A = sk.BSR.from_dense(W, block=(2, 3))
    return dict(blocks=A.blocks.copy(), indices=A.indices.astype(np.int64),
                indptr=A.indptr.astype(np.int64), shape=(5, 7))


def bsr(**changes):
    args = {**bsr_base(), **changes}
    return sk.BSR(args["blocks"], args["indices"], args["indptr"], args["shape"])


def vs_base():
    """5×70 with V=2: 3 panels (the last one padded), 2 bitmap words per panel."""
    W = np.zeros((5, 70))
    W[0, 1] = 1.0
    W[1, 65] = 2.0
    W[2, 0] = 3.0
    W[4, 69] = 4.0
    A = sk.VectorSkip.from_dense(W, vector=2)
    return dict(vectors=A.vectors.copy(), bitmap=A.bitmap.copy(),
                panel_ptr=A.panel_ptr.astype(np.int64), shape=(5, 70))


def vs(**changes):
    args = {**vs_base(), **changes}
    return sk.VectorSkip(args["vectors"], args["bitmap"], args["panel_ptr"], args["shape"])


def test_bases_are_valid():
    for A in (csr(), bsr(), vs()):
        assert_valid(A)
    np.testing.assert_array_equal(csr().to_dense(), [[1, 0, 2], [0, 0, 3], [4, 0, 0]])
    assert bsr().to_dense()[4, 6] == 4.0 and bsr().nnz == 4
    assert vs().to_dense()[4, 69] == 4.0 and vs().nnz == 4


def test_raw_constructors_accept_torch_and_lists():
    A = sk.CSR(torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([0, 2, 2, 0]),
               torch.tensor([0, 2, 3, 4]), torch.Size([3, 3]))
    np.testing.assert_array_equal(A.to_dense(), csr().to_dense())
    B = sk.CSR([1.0, 2.0, 3.0, 4.0], [0, 2, 2, 0], [0, 2, 3, 4], [3, 3])
    np.testing.assert_array_equal(B.to_dense(), csr().to_dense())
    b = bsr_base()
    C = sk.BSR(torch.from_numpy(b["blocks"]), torch.from_numpy(b["indices"]),
               torch.from_numpy(b["indptr"]), b["shape"])
    np.testing.assert_array_equal(C.to_dense(), bsr().to_dense())
    v = vs_base()
    D = sk.VectorSkip(torch.from_numpy(v["vectors"]), v["bitmap"],
                      torch.from_numpy(v["panel_ptr"]), v["shape"])
    np.testing.assert_array_equal(D.to_dense(), vs().to_dense())


def test_every_index_dtype_accepted():
    for dt in INT_DTYPES:
        A = csr(indices=CSR_BASE["indices"].astype(dt), indptr=CSR_BASE["indptr"].astype(dt))
        np.testing.assert_array_equal(A.to_dense(), csr().to_dense())
        assert A.indices.dtype.kind == "u"  # what the kernels are fed


def test_empty_structures_accepted():
    A = sk.CSR(np.zeros(0), np.zeros(0, np.int32), np.zeros(4, np.int32), (3, 5))
    assert A.nnz == 0 and A.to_dense().shape == (3, 5)
    B = sk.BSR(np.zeros((0, 2, 2)), np.zeros(0, np.int32), np.zeros(3, np.int32), (3, 3))
    assert B.block == (2, 2) and B.to_dense().shape == (3, 3)
    C = sk.VectorSkip(np.zeros((0, 4)), np.zeros((1, 1), np.uint64), np.zeros(2, np.int32),
                      (3, 3))
    assert C.vector == 4 and C.to_dense().shape == (3, 3)
    D = sk.CSR(np.zeros(0), np.zeros(0, np.int32), np.zeros(1, np.int32), (0, 0))
    assert D.shape == (0, 0)


# -- CSR ------------------------------------------------------------------------------------
I64 = np.int64
CSR_BAD = {
    # name: (changes, exception, message keyword)
    "indices_short": (dict(indices=np.array([0, 2, 2])), ValueError, "same length"),
    "data_long": (dict(data=np.arange(5.0)), ValueError, "same length"),
    "indptr_short": (dict(indptr=np.array([0, 2, 4])), ValueError, "indptr must have 4"),
    "indptr_long": (dict(indptr=np.array([0, 2, 3, 4, 4])), ValueError, "indptr must have 4"),
    "indptr_empty": (dict(indptr=np.zeros(0, I64)), ValueError, "indptr"),
    "indptr_start": (dict(indptr=np.array([1, 2, 3, 4])), ValueError, r"indptr\[0\]"),
    "indptr_negative_start": (dict(indptr=np.array([-1, 2, 3, 4])), ValueError,
                              r"indptr\[0\]"),
    "indptr_decreasing": (dict(indptr=np.array([0, 3, 2, 4])), ValueError, "non-decreasing"),
    "indptr_dip_negative": (dict(indptr=np.array([0, -2, 3, 4])), ValueError,
                            "non-decreasing"),
    "indptr_overshoot": (dict(indptr=np.array([0, 5, 3, 4])), ValueError, "non-decreasing"),
    "indptr_last_small": (dict(indptr=np.array([0, 2, 3, 3])), ValueError, "stored entries"),
    "indptr_last_big": (dict(indptr=np.array([0, 2, 3, 5])), ValueError, "stored entries"),
    "indptr_uint64_wrap": (dict(indptr=np.array([0, 2**64 - 1, 3, 4], np.uint64)),
                           ValueError, "non-decreasing"),
    "index_negative": (dict(indices=np.array([0, -1, 2, 0])), ValueError, r"\[0, 3\)"),
    "index_too_big": (dict(indices=np.array([0, 3, 2, 0])), ValueError, r"\[0, 3\)"),
    "index_huge_uint64": (dict(indices=np.array([0, 2**63, 2, 0], np.uint64)), ValueError,
                          r"\[0, 3\)"),
    "index_unsorted": (dict(indices=np.array([2, 0, 2, 0])), ValueError, "sorted"),
    "index_duplicate": (dict(indices=np.array([0, 0, 2, 0])), ValueError, "unique"),
    "index_duplicate_after_empty_row": (
        dict(data=np.ones(3), indices=np.array([0, 1, 1]), indptr=np.array([0, 1, 1, 3])),
        ValueError, "sorted"),
    "shape_too_narrow": (dict(shape=(3, 2)), ValueError, r"\[0, 2\)"),
    "shape_too_few_rows": (dict(shape=(2, 3)), ValueError, "indptr must have 3"),
    "indices_float": (dict(indices=np.array([0.0, 2.0, 2.0, 0.0])), TypeError, "integer"),
    "indices_bool": (dict(indices=np.array([0, 1, 1, 0], bool)), TypeError, "integer"),
    "indptr_float": (dict(indptr=np.array([0.0, 2.0, 3.0, 4.0])), TypeError, "integer"),
    "indptr_object": (dict(indptr=np.array([0, 2, 3, 4], object)), TypeError, "integer"),
    "data_int": (dict(data=np.array([1, 2, 3, 4])), TypeError, "float32 or float64"),
    "data_float16": (dict(data=np.ones(4, np.float16)), TypeError, "float32 or float64"),
    "data_complex": (dict(data=np.ones(4, np.complex128)), TypeError, "float32 or float64"),
    "data_bool": (dict(data=np.ones(4, bool)), TypeError, "float32 or float64"),
    "data_bigendian": (dict(data=np.ones(4, ">f8")), TypeError, "float32 or float64"),
    "data_2d": (dict(data=np.ones((4, 1))), ValueError, "data must be 1-D"),
    "data_0d": (dict(data=np.float64(1.0)), ValueError, "data must be 1-D"),
    "indices_2d": (dict(indices=np.array([[0, 2], [2, 0]])), ValueError, "indices must be 1-D"),
    "indptr_2d": (dict(indptr=np.array([[0, 2, 3, 4]])), ValueError, "indptr must be 1-D"),
    "shape_negative": (dict(shape=(-3, 3)), ValueError, "shape"),
    "shape_negative_k": (dict(shape=(3, -1)), ValueError, "shape"),
    "shape_fraction": (dict(shape=(3, 3.5)), ValueError, "shape"),
    "shape_three": (dict(shape=(3, 3, 1)), ValueError, "shape"),
    "shape_one": (dict(shape=(3,)), ValueError, "shape"),
    "shape_scalar": (dict(shape=3), ValueError, "shape"),
    "shape_none": (dict(shape=None), ValueError, "shape"),
    "shape_string": (dict(shape="33"), ValueError, "shape"),
    "shape_strings": (dict(shape=("3", "3")), ValueError, "shape"),
    "shape_inf": (dict(shape=(float("inf"), 3)), ValueError, "shape"),
    "shape_nan": (dict(shape=(3, float("nan"))), ValueError, "shape"),
    "shape_complex": (dict(shape=(3, 3j)), ValueError, "shape"),
}


@pytest.mark.parametrize("name", list(CSR_BAD))
def test_csr_rejects(name):
    changes, exc, match = CSR_BAD[name]
    with pytest.raises(exc, match=match):
        csr(**changes)


# -- BSR -------------------------------------------------------------------------------------
def _bsr_bad():
    b = bsr_base()
    nb = b["blocks"].shape[0]
    assert nb == 4 and list(b["indptr"]) == [0, 2, 3, 4] and list(b["indices"]) == [0, 2, 1, 2]
    pad_row = b["blocks"].copy()
    pad_row[3, 1, 0] = 5.0     # row 5 of a 5-row matrix
    pad_col = b["blocks"].copy()
    pad_col[1, 0, 1] = 5.0     # column 7 of a 7-column matrix (block column 2 holds 6..8)
    pad_nan = b["blocks"].copy()
    pad_nan[3, 0, 2] = np.nan  # padding NaN is nonzero too
    return {
        "indices_short": (dict(indices=b["indices"][:3]), ValueError, "same length"),
        "blocks_long": (dict(blocks=np.zeros((5, 2, 3))), ValueError, "same length"),
        "indptr_short": (dict(indptr=np.array([0, 2, 4])), ValueError, "indptr must have 4"),
        "indptr_start": (dict(indptr=np.array([1, 2, 3, 4])), ValueError, r"indptr\[0\]"),
        "indptr_decreasing": (dict(indptr=np.array([0, 3, 2, 4])), ValueError,
                              "non-decreasing"),
        "indptr_last": (dict(indptr=np.array([0, 2, 3, 3])), ValueError, "stored entries"),
        "index_negative": (dict(indices=np.array([0, 2, -1, 2])), ValueError, r"\[0, 3\)"),
        "index_too_big": (dict(indices=np.array([0, 3, 1, 2])), ValueError, r"\[0, 3\)"),
        "index_unsorted": (dict(indices=np.array([2, 0, 1, 2])), ValueError, "sorted"),
        "index_duplicate": (dict(indices=np.array([2, 2, 1, 2])), ValueError, "unique"),
        "shape_too_narrow": (dict(shape=(5, 6)), ValueError, r"\[0, 2\)"),
        "shape_too_few_rows": (dict(shape=(4, 7)), ValueError, "indptr must have 3"),
        "pad_row": (dict(blocks=pad_row), ValueError, "padding"),
        "pad_col": (dict(blocks=pad_col), ValueError, "padding"),
        "pad_nan": (dict(blocks=pad_nan), ValueError, "padding"),
        "blocks_2d": (dict(blocks=np.zeros((4, 6))), ValueError, "3-D"),
        "blocks_4d": (dict(blocks=np.zeros((4, 2, 3, 1))), ValueError, "3-D"),
        "block_zero_rows": (dict(blocks=np.zeros((4, 0, 3))), ValueError, "block"),
        "block_zero_cols": (dict(blocks=np.zeros((4, 2, 0))), ValueError, "block"),
        "blocks_int": (dict(blocks=np.zeros((4, 2, 3), np.int32)), TypeError, "float"),
        "blocks_float16": (dict(blocks=np.zeros((4, 2, 3), np.float16)), TypeError, "float"),
        "indices_float": (dict(indices=b["indices"].astype(float)), TypeError, "integer"),
        "indptr_float": (dict(indptr=b["indptr"].astype(float)), TypeError, "integer"),
        "indices_2d": (dict(indices=b["indices"][None]), ValueError, "1-D"),
        "shape_negative": (dict(shape=(-5, 7)), ValueError, "shape"),
        "shape_fraction": (dict(shape=(5.5, 7)), ValueError, "shape"),
        "shape_three": (dict(shape=(5, 7, 1)), ValueError, "shape"),
    }


BSR_BAD = _bsr_bad()


@pytest.mark.parametrize("name", list(BSR_BAD))
def test_bsr_rejects(name):
    changes, exc, match = BSR_BAD[name]
    with pytest.raises(exc, match=match):
        bsr(**changes)


def test_bsr_padding_zero_is_fine_and_cropped():
    """Zeros (and -0.0) in the padding are accepted; to_dense crops them."""
    b = bsr_base()
    b["blocks"][3, 1, :] = -0.0
    A = sk.BSR(**b)
    assert A.to_dense().shape == (5, 7)


# -- VectorSkip ----------------------------------------------------------------------------
def _vs_bad():
    v = vs_base()
    assert v["vectors"].shape == (4, 2) and list(v["panel_ptr"]) == [0, 2, 3, 4]
    bm = v["bitmap"]
    assert bm.shape == (3, 2)
    # A bit past column 69 (bit 6 of word 1), with a vector and pointers to match, so the
    # only fault is the bit's position.
    past = bm.copy()
    past[1, 1] |= np.uint64(1) << np.uint64(6)
    past_vectors = np.insert(v["vectors"], 3, [1.0, 1.0], axis=0)
    past_ptr = np.array([0, 2, 4, 5])
    # Popcount of panel 0 raised by one bit without a vector for it.
    extra = bm.copy()
    extra[0, 0] |= np.uint64(1) << np.uint64(10)
    # Bits moved between panels: total matches but per-panel counts do not.
    moved = bm.copy()
    moved[0, 0] = np.uint64(0)
    moved[0, 1] = np.uint64(0)
    moved[1, 0] |= np.uint64(0b110)
    pad = v["vectors"].copy()
    pad[3, 1] = 9.0  # row 5 of a 5-row matrix
    pad_inf = v["vectors"].copy()
    pad_inf[3, 1] = -np.inf
    return {
        "bits_past_k": (dict(bitmap=past, vectors=past_vectors, panel_ptr=past_ptr),
                        ValueError, "past column"),
        "bits_past_k_high": (dict(bitmap=np.where(np.arange(2) == 1, bm | np.uint64(1 << 63),
                                                  bm)), ValueError, "past column"),
        "popcount_extra": (dict(bitmap=extra), ValueError, "disagree"),
        "popcount_moved": (dict(bitmap=moved), ValueError, "disagree"),
        "popcount_missing": (dict(bitmap=np.zeros_like(bm)), ValueError, "disagree"),
        "bitmap_int64": (dict(bitmap=bm.astype(np.int64)), TypeError, "uint64"),
        "bitmap_uint32": (dict(bitmap=bm.astype(np.uint32)), TypeError, "uint64"),
        "bitmap_float": (dict(bitmap=bm.astype(np.float64)), TypeError, "uint64"),
        "bitmap_bool": (dict(bitmap=np.zeros((3, 70), bool)), TypeError, "uint64"),
        "bitmap_1d": (dict(bitmap=bm.ravel()), ValueError, "bitmap must have shape"),
        "bitmap_few_words": (dict(bitmap=bm[:, :1].copy()), ValueError,
                             "bitmap must have shape"),
        "bitmap_few_panels": (dict(bitmap=bm[:2].copy()), ValueError,
                              "bitmap must have shape"),
        "bitmap_3d": (dict(bitmap=bm[None]), ValueError, "bitmap must have shape"),
        "pad_rows": (dict(vectors=pad), ValueError, "padding"),
        "pad_rows_inf": (dict(vectors=pad_inf), ValueError, "padding"),
        "ptr_short": (dict(panel_ptr=np.array([0, 2, 4])), ValueError, "panel_ptr must have 4"),
        "ptr_start": (dict(panel_ptr=np.array([1, 2, 3, 4])), ValueError, r"panel_ptr\[0\]"),
        "ptr_decreasing": (dict(panel_ptr=np.array([0, 3, 2, 4])), ValueError,
                           "non-decreasing|disagree"),
        "ptr_last": (dict(panel_ptr=np.array([0, 2, 3, 3])), ValueError, "stored entries"),
        "ptr_float": (dict(panel_ptr=np.array([0.0, 2.0, 3.0, 4.0])), TypeError, "integer"),
        "ptr_2d": (dict(panel_ptr=np.array([[0, 2, 3, 4]])), ValueError, "1-D"),
        "vectors_1d": (dict(vectors=np.ones(8)), ValueError, "2-D"),
        "vectors_3d": (dict(vectors=np.ones((4, 2, 1))), ValueError, "2-D"),
        "vectors_zero_length": (dict(vectors=np.ones((4, 0))), ValueError, "vector length"),
        "vectors_int": (dict(vectors=np.ones((4, 2), np.int64)), TypeError, "float"),
        "vectors_extra": (dict(vectors=np.ones((5, 2))), ValueError, "stored entries"),
        "wrong_v": (dict(vectors=np.ones((4, 3))), ValueError, "bitmap must have shape"),
        "shape_negative": (dict(shape=(5, -70)), ValueError, "shape"),
        "shape_fraction": (dict(shape=(5, 69.5)), ValueError, "shape"),
        "shape_one": (dict(shape=(5,)), ValueError, "shape"),
        "shape_narrower": (dict(shape=(5, 66)), ValueError, "past column"),
    }


VS_BAD = _vs_bad()


@pytest.mark.parametrize("name", list(VS_BAD))
def test_vectorskip_rejects(name):
    changes, exc, match = VS_BAD[name]
    with pytest.raises(exc, match=match):
        vs(**changes)


def test_vectorskip_zero_vectors_may_be_stored():
    """A present bit with an all-zero vector is legal (stored > nnz), like BSR zero blocks."""
    v = vs_base()
    v["vectors"][0] = 0.0
    A = sk.VectorSkip(**v)
    assert A.stored == 8 and A.nnz == 3
    np.testing.assert_array_equal(A @ np.ones(70), A.to_dense() @ np.ones(70))


# -- from_dense argument checks --------------------------------------------------------------
@pytest.mark.parametrize("cls", [sk.CSR, sk.BSR, sk.VectorSkip])
@pytest.mark.parametrize("W,exc,match", [
    (np.ones(4), ValueError, "2-D"),
    (np.ones((2, 2, 2)), ValueError, "2-D"),
    (np.float64(1.0), ValueError, "2-D"),
    (np.ones((2, 2), np.int64), TypeError, "float32 or float64"),
    (np.ones((2, 2), np.float16), TypeError, "float32 or float64"),
    (np.ones((2, 2), bool), TypeError, "float32 or float64"),
    (np.ones((2, 2), np.complex64), TypeError, "float32 or float64"),
    (torch.ones(2, 2, dtype=torch.int32), TypeError, "float32 or float64"),
    (torch.ones(2, 2, 2), ValueError, "2-D"),
], ids=["1d", "3d", "0d", "int", "f16", "bool", "complex", "torch_int", "torch_3d"])
def test_from_dense_rejects(cls, W, exc, match):
    with pytest.raises(exc, match=match):
        cls.from_dense(W)


@pytest.mark.parametrize("block", [(0, 4), (4, 0), (-1, 2), (4,), (4, 4, 4), 4, None, "ab",
                                   (2.5, 2), (float("inf"), 2), (float("nan"), 2)])
def test_bsr_rejects_bad_block(block):
    with pytest.raises(ValueError, match="block"):
        sk.BSR.from_dense(np.ones((4, 4)), block=block)


@pytest.mark.parametrize("vector", [0, -4, 2.0, 2.5, True, None, "8", (8,)])
def test_vectorskip_rejects_bad_vector(vector):
    with pytest.raises(ValueError, match="vector"):
        sk.VectorSkip.from_dense(np.ones((4, 4)), vector=vector)


# -- fuzz ---------------------------------------------------------------------------------
def _exercise(A):
    """An accepted object must be structurally sound and usable end to end."""
    assert_valid(A)
    D = A.to_dense()
    assert D.shape == A.shape
    m, k = A.shape
    x = np.linspace(-1, 1, k).astype(A.dtype)
    X = np.stack([x, 2 * x + 1], axis=1).astype(A.dtype)
    y = A @ x
    Y = A @ X
    np.testing.assert_allclose(y, D.astype(np.float64) @ x, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(Y, D.astype(np.float64) @ X, rtol=1e-4, atol=1e-3)
    assert A.storage().total >= 0


def _construct(cls, *args):
    try:
        A = cls(*args)
    except (ValueError, TypeError):
        return None
    _exercise(A)
    return A


@st.composite
def int_arrays(draw, length, low=-2, high=8):
    """1-D integer arrays of any integer dtype, values in [low, high] (clipped to the dtype)."""
    dt = np.dtype(draw(st.sampled_from(INT_DTYPES)))
    lo = max(low, int(np.iinfo(dt).min))
    a = draw(hnp.arrays(dt, length, elements=st.integers(lo, high)))
    if draw(st.booleans()):
        a = np.sort(a)  # monotone pointers get past the first checks more often
    return a


def _near(draw, n):
    """n, or occasionally a wrong length next to it."""
    return max(0, n + draw(st.sampled_from([0, 0, 0, 0, -1, 1])))


def _small_floats(shape):
    return hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0, -2.0, 0.5]))


@st.composite
def raw_csr(draw):
    m, k = draw(st.integers(-1, 4)), draw(st.integers(-1, 5))
    n = draw(st.integers(0, 7))
    data = draw(_small_floats(n))
    indices = draw(int_arrays(_near(draw, n), high=6))
    indptr = draw(int_arrays(_near(draw, max(m, 0) + 1), high=8))
    return data, indices, indptr, (m, k)


@st.composite
def raw_bsr(draw):
    m, k = draw(st.integers(-1, 7)), draw(st.integers(-1, 7))
    r, c = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    n = draw(st.integers(0, 5))
    blocks = draw(_small_floats((n, r, c)))
    nbr = -(-max(m, 0) // r) if r else 1
    indices = draw(int_arrays(_near(draw, n), high=4))
    indptr = draw(int_arrays(_near(draw, nbr + 1), high=6))
    return blocks, indices, indptr, (m, k)


@st.composite
def raw_vectorskip(draw):
    m, k = draw(st.integers(-1, 7)), draw(st.integers(-1, 70))
    v = draw(st.integers(0, 4))
    n = draw(st.integers(0, 6))
    vectors = draw(_small_floats((n, v)))
    npanels = -(-max(m, 0) // v) if v else 1
    nwords = -(-max(k, 0) // 64)
    shape = (_near(draw, npanels), _near(draw, nwords))
    word = st.sampled_from([0, 1, 2, 3, 5, 1 << 5, 1 << 6, (1 << 64) - 1, 1 << 63, 0b1011])
    bitmap = draw(hnp.arrays(np.uint64, shape, elements=word))
    panel_ptr = draw(int_arrays(_near(draw, npanels + 1), high=7))
    return vectors, bitmap, panel_ptr, (m, k)


@given(raw_csr())
def test_fuzz_csr(args):
    _construct(sk.CSR, *args)


@given(raw_bsr())
def test_fuzz_bsr(args):
    _construct(sk.BSR, *args)


@given(raw_vectorskip())
def test_fuzz_vectorskip(args):
    _construct(sk.VectorSkip, *args)


def _components(A):
    if isinstance(A, sk.CSR):
        return [A.data, A.indices.astype(np.int64), A.indptr.astype(np.int64)]
    if isinstance(A, sk.BSR):
        return [A.blocks, A.indices.astype(np.int64), A.indptr.astype(np.int64)]
    return [A.vectors, A.bitmap, A.panel_ptr.astype(np.int64)]


@st.composite
def mutated(draw):
    """A valid structure with one entry of one array changed (or one dropped/appended):
    the near misses a validator is most likely to let through."""
    cls = draw(st.sampled_from([sk.CSR, sk.BSR, sk.VectorSkip]))
    m, k = draw(st.integers(1, 9)), draw(st.integers(1, 80))
    seed = draw(st.integers(0, 2**16))
    W = random_sparse(np.random.default_rng(seed), m, k, draw(st.sampled_from([0.1, 0.3, 0.8])))
    kw = ({"block": (draw(st.integers(1, 4)), draw(st.integers(1, 4)))} if cls is sk.BSR else
          {"vector": draw(st.integers(1, 5))} if cls is sk.VectorSkip else {})
    A = cls.from_dense(W, **kw)
    parts = _components(A)
    which = draw(st.integers(1, 2))  # index-like arrays (values are checked elsewhere)
    a = parts[which].copy()
    how = draw(st.sampled_from(["set", "set", "set", "drop", "append"]))
    if how == "set" and a.size:
        pos = tuple(draw(st.integers(0, s - 1)) for s in a.shape)
        if a.dtype == np.uint64:
            a[pos] ^= np.uint64(1) << np.uint64(draw(st.integers(0, 63)))
        else:
            a[pos] = draw(st.integers(-2, int(a.max()) + 3))
    elif how == "drop" and a.shape[0]:
        a = a[:-1]
    elif how == "append":
        a = np.concatenate([a, a[-1:] if a.shape[0] else np.zeros((1,) + a.shape[1:], a.dtype)])
    parts[which] = a
    return cls, parts, A.shape


@given(mutated())
def test_fuzz_mutated(case):
    cls, parts, shape = case
    _construct(cls, *parts, shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.dtype("float32"), "float64",
                                   torch.float32, torch.float64])
def test_float_dtype_check_answers_the_same_from_its_cache(dtype):
    from sparsekit.formats.arrays import check_float_dtype
    first = check_float_dtype(dtype, "x")
    assert check_float_dtype(dtype, "x") == first == np.dtype(str(first))


@pytest.mark.parametrize("dtype", [np.float16, np.int32, torch.float16, torch.bfloat16,
                                   torch.int64, None, "float32x"])
def test_float_dtype_check_refuses_others_every_time(dtype):
    from sparsekit.formats.arrays import check_float_dtype
    for _ in range(2):
        with pytest.raises(TypeError, match="float32 or float64"):
            check_float_dtype(dtype, "x")
