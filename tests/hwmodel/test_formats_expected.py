"""The statistical mode against exact footprints: equal to the mean over every placement on
small shapes, and within 1 % of the mean over random masks on larger ones."""

import itertools
import math

import numpy as np
import pytest

from hwmodel import formats as hf

SMALL = [
    (hf.builtin("csr"), (3, 4)),
    (hf.builtin("coo"), (3, 4)),
    (hf.builtin("bsr", block=(2, 3)), (3, 4)),
    (hf.builtin("vectorskip", vector=2), (3, 4)),
    (hf.builtin("two-level-bitmap", block=(2, 2)), (3, 3)),
    (hf.builtin("csr-rle", run_bits=1), (2, 6)),
    (hf.parse("CP-RLE2"), (2, 6)),
    (hf.parse("B-CP-U", tile={"M": 2}), (3, 4)),
    (hf.parse("U-RLE1-U-B", tile=(2, 1)), (3, 4)),
    (hf.parse("U-RLE1-U", tile={"K": 2}), (2, 5)),           # runs over an edge tile
    (hf.FormatSpec("flat-rle", (hf.Rank(("K", "M"), "RLE", bits=1),)), (3, 4)),
    (hf.FormatSpec("csc-tiled", (hf.Rank("K1", "UOP"), hf.Rank(("M", "K0"), "CP")),
                   tile={"K": 3}), (2, 5)),
]                                                       # at most C(12, 6) = 924 placements


def _placements(shape, nnz):
    total = shape[0] * shape[1]
    for chosen in itertools.combinations(range(total), nnz):
        mask = np.zeros(total, bool)
        mask[list(chosen)] = True
        yield mask.reshape(shape)


@pytest.mark.parametrize("spec, shape", SMALL, ids=[s.name for s, _ in SMALL])
@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 1.0])
def test_equals_the_mean_over_every_placement(spec, shape, fraction):
    nnz = round(fraction * shape[0] * shape[1])
    exact = [hf.footprint(spec, mask) for mask in _placements(shape, nnz)]
    assert len(exact) == math.comb(shape[0] * shape[1], nnz)
    expected = hf.expected_footprint(spec, shape, nnz / (shape[0] * shape[1]))
    if "RLE" in [r.format for r in spec.ranks] and fraction == 0.25:
        assert expected.padding_entries > 0              # the fillers are exercised
    for field in ("metadata_bits", "payload_bits", "stored_values", "padding_entries"):
        mean = np.mean([getattr(fp, field) for fp in exact])
        assert getattr(expected, field) == pytest.approx(mean, rel=1e-9, abs=1e-9), field
    for i, share in enumerate(expected.per_rank):
        for field in ("fibres", "occupancy", "entries", "padding_entries", "metadata_bits"):
            mean = np.mean([getattr(fp.per_rank[i], field) for fp in exact])
            assert getattr(share, field) == pytest.approx(mean, rel=1e-9, abs=1e-9), (i, field)


LARGE = [hf.builtin(name) for name in sorted(hf.BUILTINS) if name != "nm"] + [
    hf.builtin("bsr", block=(3, 5)),
    hf.builtin("vectorskip", vector=5),
    hf.builtin("csr-rle", run_bits=2),
    hf.parse("UOP-U-CP", tile={"K": 7}),
    hf.parse("B-RLE3"),
    hf.FormatSpec("aligned-cp", (hf.Rank("M", "U"), hf.Rank("K", "CP", align=32))),
    hf.FormatSpec("aligned-rle", (hf.Rank("M", "UOP"), hf.Rank("K", "RLE", bits=3, align=16))),
]


@pytest.mark.parametrize("spec", LARGE, ids=[s.name for s in LARGE])
@pytest.mark.parametrize("density", [0.01, 0.1, 0.5, 0.9])
def test_within_one_percent_of_random_masks(spec, density):
    shape = (61, 203)                                   # no tile divides it
    total = shape[0] * shape[1]
    nnz = round(density * total)
    rng = np.random.default_rng(7)
    totals = []
    for _ in range(24):
        mask = np.zeros(total, bool)
        mask[rng.choice(total, nnz, replace=False)] = True
        totals.append(hf.footprint(spec, mask.reshape(shape)).total_bits)
    expected = hf.expected_footprint(spec, shape, density)
    assert expected.nnz == nnz
    assert expected.total_bits == pytest.approx(np.mean(totals), rel=0.01)


def test_nm_is_deterministic_for_a_valid_mask():
    shape = (8, 12)
    mask = np.zeros(shape, bool)
    mask[:, 0::4] = mask[:, 1::4] = True
    spec = hf.builtin("nm", n=2, m=4)
    exact = hf.footprint(spec, mask)
    expected = hf.expected_footprint(spec, shape, 0.5)
    assert expected.total_bits == exact.total_bits
    assert exact.padding_entries == 0
    assert expected.padding_entries == pytest.approx(0, abs=1e-9)


def test_large_shapes_cost_nothing_to_estimate():
    """Only the shape's tile edges are enumerated, never its positions."""
    fp = hf.expected_footprint(hf.builtin("bsr", block=(4, 4)), (1 << 20, 1 << 20), 1e-4)
    assert 0 < fp.total_bytes < fp.dense_bits / 8


def test_empty_shapes_and_bad_densities():
    assert hf.expected_footprint(hf.builtin("csr"), (0, 7), 0.5).total_bits == 16
    for density in (-0.1, 1.5, "0.5", True, float("nan")):
        with pytest.raises(ValueError, match="density must be a number in"):
            hf.expected_footprint(hf.builtin("csr"), (4, 4), density)
    with pytest.raises(ValueError, match="shape must be two non-negative integers"):
        hf.expected_footprint(hf.builtin("csr"), (4, -1), 0.5)
