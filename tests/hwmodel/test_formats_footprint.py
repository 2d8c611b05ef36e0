"""Exact footprints: the per-rank identities, RLE and N:M padding, and sparsekit's executable
formats agreeing byte for byte (tests may import sparsekit; hwmodel never does)."""

import numpy as np
import pytest
from format_strategies import random_matrix, spec_and_matrix
from hypothesis import given
from hypothesis import strategies as st

import sparsekit as sk
from hwmodel import formats as hf

INDEX_BITS = (None, 8, 16, 32, 64)


@st.composite
def sparse_matrix(draw, max_m=40, max_k=300):
    m, k = draw(st.integers(0, max_m)), draw(st.integers(0, max_k))
    return random_matrix(draw, m, k).astype(np.float32)


def _agree(packed, spec_for, W, value_bits, index_bits):
    """footprint(spec, W != 0) == packed.storage(...).total, or both refuse the index width."""
    try:
        expected = packed.storage(value_bits=value_bits, index_bits=index_bits).total
    except ValueError:
        with pytest.raises(hf.FormatError, match="bits cannot hold"):
            hf.footprint(spec_for(index_bits), W != 0, value_bits=value_bits)
        return
    fp = hf.footprint(spec_for(index_bits), W != 0, value_bits=value_bits)
    assert fp.total_bytes == expected
    assert fp.total_bits == 8 * expected


@given(sparse_matrix(), st.sampled_from([8, 16, 32, 64]), st.sampled_from(INDEX_BITS))
def test_csr_spec_equals_storage(W, value_bits, index_bits):
    _agree(sk.CSR.from_dense(W), lambda ib: hf.builtin("csr", index_bits=ib), W, value_bits,
           index_bits)


@given(sparse_matrix(), st.integers(1, 7), st.integers(1, 7), st.sampled_from([8, 16, 32, 64]),
       st.sampled_from(INDEX_BITS))
def test_bsr_spec_equals_storage(W, r, c, value_bits, index_bits):
    _agree(sk.BSR.from_dense(W, block=(r, c)),
           lambda ib: hf.builtin("bsr", block=(r, c), index_bits=ib), W, value_bits, index_bits)


@given(sparse_matrix(), st.integers(1, 12), st.sampled_from([8, 16, 32, 64]),
       st.sampled_from(INDEX_BITS))
def test_vectorskip_spec_equals_storage(W, v, value_bits, index_bits):
    _agree(sk.VectorSkip.from_dense(W, vector=v),
           lambda ib: hf.builtin("vectorskip", vector=v, index_bits=ib), W, value_bits,
           index_bits)


def test_wide_pointers_and_indices_agree():
    """Past 65535 stored entries pointers go to 32 bits; past 256 columns indices to 16."""
    W = np.ones((300, 300), np.float32)
    W[::7] = 0
    cases = [(sk.CSR.from_dense(W), lambda ib: hf.builtin("csr", index_bits=ib)),
             (sk.BSR.from_dense(W, block=(1, 1)),
              lambda ib: hf.builtin("bsr", block=(1, 1), index_bits=ib)),
             (sk.VectorSkip.from_dense(W, vector=1),
              lambda ib: hf.builtin("vectorskip", vector=1, index_bits=ib))]
    for packed, spec_for in cases:
        for vb in (8, 16, 32, 64):
            for ib in INDEX_BITS:
                _agree(packed, spec_for, W, vb, ib)
    assert hf.footprint(hf.builtin("csr"), W != 0).per_rank[0].bits == 32


@given(spec_and_matrix())
def test_rank_identities(case):
    """U costs nothing beyond its payload; B one bit per coordinate of each fibre; CP one
    coordinate per entry (plus a length per fibre without a UOP parent); UOP n + 1 offsets per
    fibre. Entries of one rank are the fibres of the next; the leaf's entries are the values."""
    spec, W = case
    fp = hf.footprint(spec, W != 0)
    for i, (rank, share) in enumerate(zip(spec.ranks, fp.per_rank)):
        unaligned = rank.align == 1
        if rank.format == "U":
            assert share.metadata_bits == 0
            assert share.entries == share.fibres * share.extent
        elif rank.format == "B":
            assert share.entries == share.occupancy
            if unaligned:
                assert share.metadata_bits == share.fibres * share.extent
        elif rank.format == "UOP":
            assert share.entries == share.fibres * share.extent
            if unaligned:
                assert share.metadata_bits == share.fibres * (share.extent + 1) * share.bits
        elif rank.format == "CP":
            assert share.entries == (share.fibres * min(rank.fixed, share.extent)
                                     if rank.fixed else share.occupancy)
            if unaligned:
                assert share.metadata_bits == share.entries * share.bits + \
                    share.fibres * share.length_bits
        else:
            assert share.entries == share.occupancy + share.padding_entries
        if i + 1 < len(spec.ranks):
            assert fp.per_rank[i + 1].fibres == share.entries
            assert share.payload_bits == 0
    assert fp.per_rank[0].fibres == 1
    assert fp.stored_values == fp.per_rank[-1].entries
    assert fp.payload_bits == fp.stored_values * spec.value_bits
    assert fp.per_rank[-1].occupancy == fp.nnz == np.count_nonzero(W)
    assert fp.total_bytes == -(-fp.total_bits // 8)
    assert all(isinstance(x, int) for x in (fp.total_bytes, fp.metadata_bits, fp.payload_bits))


def test_known_formats_by_hand():
    W = np.zeros((6, 10), bool)
    W[0, [1, 2]] = W[3, 9] = W[5, 0] = True
    nnz = 4
    dense = hf.footprint(hf.builtin("dense"), W, value_bits=16)
    assert (dense.metadata_bits, dense.payload_bits, dense.compression) == (0, 6 * 10 * 16, 1.0)
    bitmap = hf.footprint(hf.builtin("bitmap"), W, value_bits=16)
    assert (bitmap.metadata_bits, bitmap.payload_bits) == (60, nnz * 16)
    csr = hf.footprint(hf.builtin("csr"), W, value_bits=16)
    assert [r.metadata_bits for r in csr.per_rank] == [7 * 16, nnz * 8]
    assert csr.bits_per_nonzero == (7 * 16 + nnz * 8 + nnz * 16) / nnz
    coo = hf.footprint(hf.builtin("coo"), W)
    assert coo.per_rank[0].metadata_bits == 8 + nnz * (8 + 8)        # count + (row, col)
    tlb = hf.footprint(hf.builtin("two-level-bitmap"), W)             # 2 x 3 tiles of 4 x 4
    blocks = 3                                                        # (0,0), (0,2), (1,0)
    assert [r.metadata_bits for r in tlb.per_rank] == [0, 2 * 3, 0, blocks * 4 * 4]
    vs = hf.footprint(hf.builtin("vectorskip", vector=4), W, value_bits=8)
    # 2 panels: columns {1, 2, 9} and {0}; bitmap words of 64 bits; pointers 16 bits
    assert [r.metadata_bits for r in vs.per_rank] == [3 * 16, 2 * 64, 0]
    assert vs.stored_values == 4 * 4 and vs.padding_entries == 0


@pytest.mark.parametrize("gap, fillers", [(0, 0), (15, 0), (16, 1), (31, 1), (32, 2), (47, 2)])
def test_rle_fillers_are_gap_over_run_limit(gap, fillers):
    """A run of 4 bits holds 0..15 zeros; each filler entry (15 zeros + a stored zero)
    advances 16 coordinates."""
    W = np.zeros((1, gap + 2), bool)
    W[0, 0] = W[0, gap + 1] = True
    fp = hf.footprint(hf.builtin("csr-rle", run_bits=4), W, value_bits=8)
    assert fp.padding_entries == fillers
    assert fp.per_rank[1].entries == 2 + fillers
    assert fp.per_rank[1].metadata_bits == (2 + fillers) * 4
    assert fp.stored_values == 2 + fillers


def test_a_leading_gap_needs_fillers_too():
    W = np.zeros((2, 40), bool)
    W[0, 35] = True                                     # 35 zeros before: 2 fillers
    fp = hf.footprint(hf.builtin("csr-rle", run_bits=4), W)
    assert fp.padding_entries == 2


def test_nm_counts_fill_and_rejects_too_many():
    W = np.zeros((2, 8), bool)
    W[0, [0, 1, 5]] = True
    fp = hf.footprint(hf.builtin("nm", n=2, m=4), W, value_bits=8)
    assert fp.stored_values == 2 * 2 * 2 and fp.padding_entries == 8 - 3
    assert fp.per_rank[2].metadata_bits == 8 * 2
    W[1, :3] = True
    with pytest.raises(hf.FormatError, match=r"ranks\[2\]\.fixed: the mask has a fibre of K0 "
                                             r"with 3 nonzeros"):
        hf.footprint(hf.builtin("nm", n=2, m=4), W)


def test_alignment_pads_each_fibre():
    W = np.zeros((3, 10), bool)
    W[0, :3] = W[2, 9] = True
    spec = hf.FormatSpec("aligned", (hf.Rank("M", "U"), hf.Rank("K", "CP", bits=4, align=16)))
    fp = hf.footprint(spec, W)
    # each row: 4-bit length + 4 bits per coordinate, rounded up to 16
    assert fp.per_rank[1].metadata_bits == 16 + 16 + 16
    assert fp.per_rank[1].length_bits == 4


def test_edge_tiles_store_padding_zeros():
    W = np.ones((5, 5), bool)
    fp = hf.footprint(hf.builtin("bsr", block=(4, 4)), W)
    assert fp.stored_values == 4 * 16 and fp.nnz == 25


def test_any_array_is_a_mask():
    W = np.array([[0.0, np.nan], [2.0, 0.0]])
    assert hf.footprint(hf.builtin("csr"), W).nnz == 2
    with pytest.raises(ValueError, match="mask must be 2-D"):
        hf.footprint(hf.builtin("csr"), np.ones(3))
    with pytest.raises(ValueError, match="value_bits must be a positive integer"):
        hf.footprint(hf.builtin("csr"), W, value_bits=0)
