"""The reference codec: any described format round-trips W exactly, and its arrays are exactly
what ``footprint`` counts."""

import numpy as np
import pytest
from format_strategies import spec_and_matrix
from hypothesis import given

from hwmodel import formats as hf


def _check(spec, W):
    encoded = hf.encode(spec, W)
    W2 = hf.decode(spec, encoded, W.shape)
    assert W2.dtype == W.dtype and W2.shape == W.shape
    np.testing.assert_array_equal(W2, W)
    fp = hf.footprint(spec, W != 0)
    for i, (arrays, share) in enumerate(zip(encoded.ranks, fp.per_rank)):
        assert arrays.nbits == share.metadata_bits, (i, spec.ranks[i])
        field_bits = sum(arr.size * arrays.widths[name] for name, arr in arrays.fields.items())
        if spec.ranks[i].align == 1:
            assert field_bits == share.metadata_bits, (i, spec.ranks[i])
        else:
            assert field_bits <= share.metadata_bits < field_bits + spec.ranks[i].align * \
                max(share.fibres, 1)
    assert encoded.metadata_bits == fp.metadata_bits
    assert encoded.values.size == fp.stored_values
    assert encoded.values.size * fp.value_bits == fp.payload_bits
    assert np.count_nonzero(encoded.values) == fp.nnz
    return encoded, fp


@given(spec_and_matrix())
def test_round_trip_of_random_specs(case):
    spec, W = case
    _check(spec, W)


@pytest.mark.parametrize("name", sorted(hf.BUILTINS))
@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0), (1, 1), (7, 13), (16, 16)])
@pytest.mark.parametrize("fill", ["zero", "dense", "random"])
def test_round_trip_of_builtins(name, shape, fill):
    rng = np.random.default_rng(sum(shape))
    W = rng.standard_normal(shape).astype(np.float32)
    if fill == "zero":
        W[:] = 0
    elif fill == "random":
        W[rng.random(shape) < 0.7] = 0
    if name == "nm":                                    # keep 2 of every 4 (and the edge)
        W[:, [j for j in range(shape[1]) if j % 4 >= 2]] = 0
    _check(hf.builtin(name), W)


def test_the_arrays_a_unit_reads():
    W = np.array([[0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7],
                  [0] * 21], dtype=np.float64)
    csr = hf.encode(hf.builtin("csr"), W)
    assert csr.ranks[0].fields["offsets"].tolist() == [0, 2, 2]
    assert csr.ranks[0].widths["offsets"] == 16
    assert csr.ranks[1].fields["coords"].tolist() == [1, 20]
    assert csr.values.tolist() == [5, 7]
    rle = hf.encode(hf.builtin("csr-rle", run_bits=4), W)
    # 18 zeros between 5 and 7: one filler (15 zeros + a stored zero), then a run of 2
    assert rle.ranks[1].fields["runs"].tolist() == [1, 15, 2]
    assert rle.values.tolist() == [5, 0, 7]
    assert rle.ranks[0].fields["offsets"].tolist() == [0, 3, 3]
    coo = hf.encode(hf.builtin("coo"), W)
    assert coo.ranks[0].fields["lengths"].tolist() == [2]
    assert coo.ranks[0].fields["coords.M"].tolist() == [0, 0]
    assert coo.ranks[0].fields["coords.K"].tolist() == [1, 20]
    assert coo.ranks[0].widths == {"lengths": 8, "coords.M": 8, "coords.K": 8}


def test_fixed_cp_fills_unused_coordinates_with_zeros():
    W = np.array([[0, 3, 0, 0, 1, 2, 0, 0]], dtype=np.float64)
    spec = hf.builtin("nm", n=2, m=4)
    encoded, fp = _check(spec, W)
    assert encoded.ranks[2].fields["coords"].tolist() == [0, 1, 0, 1]
    assert encoded.values.tolist() == [0, 3, 1, 2]
    assert fp.padding_entries == 1 and fp.per_rank[2].bits == 2
    W[0, [0, 2]] = 9                                   # 3 nonzeros in the first group
    with pytest.raises(hf.FormatError, match=r"ranks\[2\]\.fixed: W has a fibre"):
        hf.encode(spec, W)


def test_fixed_cp_over_an_empty_dimension_holds_nothing():
    spec = hf.FormatSpec("fixed", (hf.Rank("M", "U"), hf.Rank("K", "CP", fixed=2)))
    _, fp = _check(spec, np.zeros((3, 0)))
    assert fp.total_bits == 0 and fp.per_rank[1].fibres == 3
    assert hf.expected_footprint(spec, (3, 0), 0.5).total_bits == 0


def test_nan_and_inf_are_stored():
    W = np.array([[0.0, np.nan], [np.inf, 0.0]])
    for name in ("csr", "bitmap", "coo"):
        W2 = hf.decode(hf.builtin(name), hf.encode(hf.builtin(name), W), W.shape)
        np.testing.assert_array_equal(W2, W)


def test_decoder_refuses_a_corrupt_stream():
    W = np.eye(4)
    spec = hf.builtin("csr")
    encoded = hf.encode(spec, W)
    short = hf.Encoded(encoded.ranks, encoded.values[:-1])
    with pytest.raises(ValueError, match="corrupt encoding"):
        hf.decode(spec, short, W.shape)
    ranks = list(encoded.ranks)
    r = ranks[1]
    ranks[1] = hf.RankArrays(r.format, r.fields, r.widths, r.stream, r.nbits - 8)
    with pytest.raises(ValueError, match="corrupt encoding"):
        hf.decode(spec, hf.Encoded(tuple(ranks), encoded.values), W.shape)
