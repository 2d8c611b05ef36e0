"""A layer carries its weight format (spec, exact footprint, per-rank metadata, per-row counts)
and the cost model prices payload and metadata apart."""

import dataclasses

import numpy as np
import pytest

import hwmodel
from hwmodel import Layer
from hwmodel import formats as hf
from hw_builders import make_hw


def sparse_weight(m=16, k=32, density=0.25, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, k)) * (rng.random((m, k)) < density)


def test_a_footprint_sets_bytes_ranks_and_macs():
    w = sparse_weight()
    spec = hf.parse("UOP-CP")
    fp = hf.footprint(spec, w != 0, value_bits=16)
    layer = Layer("fc", 16, 32, 4, value_bits=16, weight_format=spec, footprint=fp,
                  row_nnz=np.count_nonzero(w, axis=1))
    assert layer.weight_value_bytes == fp.payload_bits / 8
    assert layer.weight_metadata_bytes == fp.metadata_bits / 8
    assert layer.rank_metadata == tuple((r.format, r.metadata_bits) for r in fp.per_rank)
    assert sum(bits for _, bits in layer.rank_metadata) == fp.metadata_bits
    assert layer.effective_macs == layer.stored_macs == fp.nnz * 4
    assert layer.compute == spec.compute == "skip" and layer.format_name == spec.name
    assert layer.row_nnz == tuple(int(c) for c in np.count_nonzero(w, axis=1))
    hash(layer)                                        # still a value: hashable, comparable
    assert layer == dataclasses.replace(layer)


def test_plain_bytes_and_rank_bits_without_the_formats_package():
    layer = Layer("fc", 16, 32, 4, weight_value_bytes=256.0, weight_metadata_bytes=10.0,
                  rank_metadata=(("UOP", 48), ("CP", 32)), effective_macs=512, compute="gate")
    assert layer.rank_metadata == (("UOP", 48), ("CP", 32)) and layer.compute == "gate"
    assert layer.accumulator_bits is None
    assert layer.on(make_hw()).accumulator_bits == 32
    assert layer.with_density(0.5).rank_metadata == ()         # the old format no longer applies


@pytest.mark.parametrize("kw, match", [
    (dict(weight_metadata_bytes=10.0, rank_metadata=(("UOP", 8),)), "adds up to 8 bits"),
    (dict(weight_metadata_bytes=1.0, rank_metadata=(("XX", 8),)), r"rank_metadata\[0\]"),
    (dict(weight_metadata_bytes=1.0, rank_metadata=(("B", -8),)), r"rank_metadata\[0\]"),
    (dict(compute="skipping"), "compute"),
    (dict(row_nnz=[32] * 15), "row_nnz has 15 entries"),
    (dict(row_nnz=[33] + [32] * 15), r"in \[0, K=32\]"),
    (dict(row_nnz=[1.5] * 16), "row_nnz holds 1.5"),
    (dict(row_nnz=[31] * 16), "stored_macs"),
    (dict(accumulator_bits=0), "accumulator_bits"),
])
def test_bad_format_fields_name_the_field(kw, match):
    with pytest.raises(ValueError, match=match):
        Layer("fc", 16, 32, 4, **kw)


def test_bad_footprint_and_row_nnz_types():
    with pytest.raises(TypeError, match="footprint"):
        Layer("fc", 16, 32, 4, footprint="csr")
    with pytest.raises(TypeError, match="row_nnz"):
        Layer("fc", 16, 32, 4, row_nnz=5)
    fp = hf.footprint(hf.parse("UOP-CP"), sparse_weight(8, 32) != 0)
    with pytest.raises(ValueError, match="8x32 weight"):
        Layer("fc", 16, 32, 4, footprint=fp)


def test_accumulator_width_comes_from_the_hardware():
    hw = make_hw()
    narrow = dataclasses.replace(hw, compute=dataclasses.replace(hw.compute, accumulator_bits=16))
    assert hwmodel.Hardware.from_yaml(narrow.to_yaml()).compute.accumulator_bits == 16
    layer = Layer("fc", 64, 128, 32)
    assert layer.on(narrow).accumulator_bits == 16
    assert dataclasses.replace(layer, accumulator_bits=24).on(narrow).accumulator_bits == 24
    with pytest.raises(hwmodel.HardwareError, match="accumulator_bits"):
        hwmodel.Hardware.from_yaml(hw.to_yaml().replace("accumulator_bits: 32",
                                                        "accumulator_bits: 0"))
