"""Preset values equal the numbers of the sources cited beside them, and every number has a
comment beside it."""

import pytest
import yaml

import hwmodel
from hwmodel.presets import preset_path
from hw_builders import native_layer


def raw(name):
    return yaml.safe_load(preset_path(name).read_text())


def test_every_number_has_a_comment():
    for name in hwmodel.presets():
        text = preset_path(name).read_text()
        lines = text.splitlines()

        def walk(node, key=None):
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    walk(v, k.value)
            elif isinstance(node, yaml.SequenceNode):
                for v in node.value:
                    walk(v, key)
            elif key not in ("name", "description") and any(c.isdigit() for c in node.value):
                line = lines[node.start_mark.line]
                assert "#" in line, f"{name}.yaml line {node.start_mark.line + 1}: {line!r}"

        walk(yaml.compose(text))


def test_horowitz_table():
    data = raw("horowitz-45nm")
    mac = data["compute"]["mac_energy"]
    assert mac == {"int8": {"mult": "0.2 pJ", "add": "0.03 pJ"},
                   "int32": {"mult": "3.1 pJ", "add": "0.1 pJ"},
                   "fp16": {"mult": "1.1 pJ", "add": "0.4 pJ"},
                   "fp32": {"mult": "3.7 pJ", "add": "0.9 pJ"}}
    hw = hwmodel.load("horowitz-45nm")
    assert hw.compute.mac_energy_pj["fp32"] == pytest.approx(3.7 + 0.9)
    assert hw.compute.mac_energy_pj["int8"] == pytest.approx(0.2 + 0.03)
    per_64b = {level.name: level.read_pj_per_byte * 8 for level in hw.memory}
    assert per_64b == pytest.approx({"dram": 1300, "sram_1mb": 100, "sram_32kb": 20,
                                     "sram_8kb": 10})
    assert [level.capacity_bytes for level in hw.memory] == [None, 2**20, 32 * 2**10, 8 * 2**10]


def test_eyeriss_relative_costs():
    hw = hwmodel.load("eyeriss-like")
    dram, glb, rf = hw.memory
    mac = hw.compute.mac_energy_pj["int16"]
    assert mac == pytest.approx(1.1 + 0.4)                   # 1x := Horowitz 16-bit FP MAC
    rf_word = rf.read_pj_per_byte * 2                        # per 16-bit access
    assert rf_word == pytest.approx(mac)                     # RF 1 : MAC 1
    ratios = [dram.read_pj_per_byte / rf.read_pj_per_byte, glb.read_pj_per_byte /
              rf.read_pj_per_byte, rf.link_pj_per_byte / rf.read_pj_per_byte]
    assert ratios == pytest.approx([200, 6, 2])              # DRAM 200 : GLB 6 : array 2
    assert hw.compute.macs_per_cycle == 168 and hw.compute.clock_hz == 200e6
    assert glb.capacity_bytes == 108 * 1024 and rf.capacity_bytes == 168 * 512


def test_server_accelerator_is_tpu_v1():
    hw = hwmodel.load("server-accelerator")
    c = hw.compute
    assert c.macs_per_cycle == 65536 and c.clock_hz == 700e6
    assert c.mac_energy_pj["int8"] == pytest.approx(0.2 + 0.1)
    assert hw.level("dram").bandwidth_bytes_per_cycle * c.clock_hz == pytest.approx(34e9)
    assert hw.level("unified_buffer").capacity_bytes == 24 * 2**20
    assert hw.level("accumulators").capacity_bytes == 4 * 2**20
    assert hw.level("weight_fifo").capacity_bytes == 4 * 64 * 2**10
    assert hw.static_power_w == 28
    assert 2 * c.macs_per_cycle * c.clock_hz == pytest.approx(92e12, rel=0.01)   # 92 TOPS


def test_edge_npu_figures():
    hw = hwmodel.load("edge-npu")
    c = hw.compute
    assert c.macs_per_cycle == 1024
    assert 2 * c.macs_per_cycle * c.clock_hz == pytest.approx(2e12)              # 2 TOPS
    assert c.mac_energy_pj["int8"] == pytest.approx(2 / 11.5e12 * 1e12, rel=1e-3)
    assert c.sparsity.support == "skip"


def test_host_cpu_says_where_and_when_it_was_calibrated():
    first = preset_path("host-cpu").read_text().splitlines()[0]
    assert "calibrated by `sparsekit calibrate`: measured" in first
    hw = hwmodel.load("host-cpu")
    assert "calibrated" in hw.description and hw.compute.sparsity.support == "skip"
    assert [level.name for level in hw.memory][0] == "dram"


def test_arrays_accumulators_and_static_power():
    eyeriss = hwmodel.load("eyeriss-like")
    assert eyeriss.compute.accumulator_bits == 16                 # [E17] 16-bit psums
    a = eyeriss.compute.array
    assert (a.rows, a.cols) == (12, 14) and a.pes == eyeriss.compute.macs_per_cycle
    tpu = hwmodel.load("server-accelerator")
    assert tpu.compute.accumulator_bits == 32
    a = tpu.compute.array
    assert (a.rows, a.cols, a.row_dims, a.col_dims) == (256, 256, ("K",), ("M",))
    for name in ("edge-npu", "horowitz-45nm"):
        assert hwmodel.load(name).compute.array is None
    for name in hwmodel.presets():                                # dynamic only where 0 W
        hw = hwmodel.load(name)
        est = hwmodel.estimate(hw, native_layer(hw, "fc", 8, 8, 8))
        assert est.dynamic_only == (hw.static_power_w == 0)
        assert ("dynamic only" in str(est)) == est.dynamic_only
    assert tpu.static_power_w > 0
