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


# ---------------------------------------------------------------- pricing a format

from hwmodel import Compute, Hardware, MemoryLevel, Sparsity, estimate    # noqa: E402
from hwmodel.hardware import OPERANDS                                     # noqa: E402


def metadata_machine(meta_capacity=4096, support="skip", decode_energy=None, decode_rate=None):
    """dram -> glb -> a metadata-only buffer, and an rf holding the payload, inputs, outputs."""
    sparsity = Sparsity(support, 0.0 if support == "gate" else None,
                        decode_energy=decode_energy or {}, decode_bits_per_cycle=decode_rate or {})
    compute = Compute(16, 1e9, {"int16": 1.0}, sparsity)
    memory = (MemoryLevel("dram", None, 16.0, 100.0, 100.0, OPERANDS),
              MemoryLevel("glb", 1 << 20, 256.0, 10.0, 10.0, OPERANDS),
              MemoryLevel("meta", meta_capacity, 64.0, 2.0, 2.0, ("weight_metadata",)),
              MemoryLevel("rf", 4096, 4096.0, 1.0, 1.0, ("weight_payload", "inputs", "outputs")))
    return Hardware("meta-buffer", compute, memory)


def csr_layer(n=8, **kw):
    w = sparse_weight(64, 128, 0.2, seed=3)
    spec = hf.parse("UOP-CP")
    fp = hf.footprint(spec, w != 0, value_bits=16)
    return Layer("fc", 64, 128, n, value_bits=16, activation_bits=16, kind="int",
                 weight_format=spec, footprint=fp, row_nnz=np.count_nonzero(w, axis=1),
                 structure="unstructured", **kw), fp


def test_payload_and_metadata_move_apart_and_a_level_may_hold_metadata_only():
    hw = metadata_machine()
    layer, fp = csr_layer()
    cost = estimate(hw, layer).layers[0]
    r, w = cost.reads_bytes, cost.writes_bytes
    assert r["dram"]["weights"] == fp.payload_bits / 8                # compulsory, apart
    assert r["dram"]["weight_metadata"] == fp.metadata_bits / 8
    assert w["meta"]["weights"] == r["meta"]["weights"] == 0          # no payload there
    assert w["meta"]["weight_metadata"] == pytest.approx(fp.metadata_bits / 8)
    # metadata is read beside its values at its innermost holder: the metadata buffer
    share = layer.activation_density
    assert r["meta"]["weight_metadata"] == pytest.approx(fp.metadata_bits / 8 * 8 * share)
    assert r["rf"]["weight_metadata"] == w["rf"]["weight_metadata"] == 0
    assert r["rf"]["weights"] == pytest.approx(fp.payload_bits / 8 * 8)
    assert sum(cost.energy_by_operand.values()) == pytest.approx(cost.memory_energy_total_j)
    assert cost.energy_by_operand["weight_metadata"] > 0
    text = hw.to_yaml()
    assert "weight_metadata" in text and Hardware.from_yaml(text) == hw


def test_holds_checks():
    text = metadata_machine().to_yaml()
    with pytest.raises(hwmodel.HardwareError, match="weights means payload and metadata"):
        Hardware.from_yaml(text.replace("  - weight_metadata\n", "  - weight_metadata\n"
                                        "  - weights\n", 1))
    with pytest.raises(hwmodel.HardwareError, match="holds"):
        Hardware.from_yaml(text.replace("  - weight_metadata\n", "  - indices\n", 1))


def test_per_rank_decode_energy_and_cycles():
    """decode_energy is paid per metadata bit read beside the values; a decoder slower than
    the MACs bounds the compute time."""
    layer, fp = csr_layer(n=8)
    plain = estimate(metadata_machine(), layer).layers[0]
    hw = metadata_machine(decode_energy={"CP": 0.5, "UOP": 0.25}, decode_rate={"CP": 0.25})
    cost = estimate(hw, layer).layers[0]
    bits = dict(layer.rank_metadata)
    reads = 8                                                         # N, fanout 1, density 1
    assert cost.decode_energy_j == pytest.approx(
        (bits["CP"] * 0.5 + bits["UOP"] * 0.25) * reads * 1e-12)
    assert cost.energy_j == pytest.approx(plain.energy_j + cost.decode_energy_j
                                          + cost.static_energy_j - plain.static_energy_j)
    assert cost.compute_cycles == pytest.approx(max(plain.compute_cycles,
                                                    bits["CP"] * reads / 0.25))
    assert cost.compute_cycles > plain.compute_cycles
    assert cost.utilisation < plain.utilisation
    again = Hardware.from_yaml(hw.to_yaml())
    assert again.compute.sparsity.decode_energy == {"CP": 0.5, "UOP": 0.25}
    with pytest.raises(hwmodel.HardwareError, match="decode_energy.XX"):
        Hardware.from_yaml(hw.to_yaml().replace("CP: 0.5 pJ", "XX: 0.5 pJ"))


def test_the_layer_compute_mode_overrides_the_hardware():
    layer, _ = csr_layer(n=64)
    hw = metadata_machine(support="skip")
    skip = estimate(hw, layer).layers[0]
    gate = estimate(hw, dataclasses.replace(layer, compute="gate")).layers[0]
    none = estimate(hw, dataclasses.replace(layer, compute="none")).layers[0]
    assert skip.compute_cycles < gate.compute_cycles == none.compute_cycles
    assert gate.cycles == none.cycles                           # gating saves no time
    assert gate.mac_energy_j < none.mac_energy_j                # only energy
    assert gate.executed_macs == skip.executed_macs == layer.stored_macs
    assert gate.issued_macs == none.issued_macs == layer.dense_macs
