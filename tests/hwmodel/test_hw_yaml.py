"""Hardware descriptions: YAML round trips, units, and errors that name the field and line."""

import pickle
import textwrap

import pytest

import hwmodel
from hwmodel import Hardware, HardwareError, units
from hw_builders import make_hw

GOOD = textwrap.dedent("""\
    name: small
    static_power: 0.5 W
    compute:
      macs_per_cycle: 64
      clock: 500 MHz
      mac_energy:
        int8: {mult: 0.2 pJ, add: 0.03 pJ}
        fp32: 4.6
    memory:
      - name: dram
        capacity: null
        bandwidth: 8 GB/s
        read_energy: 1.3 nJ/64b
        write_energy: 1.3 nJ/64b
        holds: [weights, inputs, outputs]
      - name: sram
        capacity: 64 KiB
        bandwidth: 32 B/cycle
        read_energy: 10 pJ/64b
        write_energy: 1.25
        holds: [weights, inputs, outputs]
      - name: regs
        capacity: 64 B
        bandwidth: 256 B/cycle
        read_energy: 0.1 pJ/B
        write_energy: 0.1 pJ/B
        holds: [weights, inputs, outputs]
    """)


def line_of(text, needle, occurrence=1):
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[occurrence - 1]


def test_good_description_loads_in_canonical_units():
    hw = Hardware.from_yaml(GOOD)
    assert hw.compute.clock_hz == 500e6
    assert hw.compute.mac_energy_pj == {"int8": pytest.approx(0.23), "fp32": 4.6}
    dram, sram, regs = hw.memory
    assert dram.bandwidth_bytes_per_cycle == pytest.approx(8e9 / 500e6)
    assert dram.read_pj_per_byte == pytest.approx(1300 / 8)
    assert sram.capacity_bytes == 65536 and sram.read_pj_per_byte == 1.25
    assert regs.capacity_bytes == 64 and hw.static_power_w == 0.5


@pytest.mark.parametrize("name", hwmodel.presets())
def test_presets_round_trip(name, tmp_path):
    hw = hwmodel.load(name)
    assert Hardware.from_dict(hw.to_dict()) == hw
    assert Hardware.from_yaml(hw.to_yaml()) == hw
    path = tmp_path / "copy.yaml"
    hw.to_yaml(path)
    assert hwmodel.load(path) == hw == hwmodel.load(str(path))


def test_units():
    assert units.capacity_bytes("108 KiB") == 110592
    assert units.capacity_bytes("24 MiB") == 24 * 2**20
    assert units.bandwidth_bytes_per_cycle("34 GB/s", 700e6) == pytest.approx(34e9 / 700e6)
    assert units.bandwidth_bytes_per_cycle(8, 1e9) == 8
    assert units.energy_pj_per_byte("1.3 nJ/64b") == pytest.approx(162.5)
    assert units.energy_pj_per_byte("300 pJ/16b") == 150
    assert units.frequency_hz("0.7 GHz") == pytest.approx(7e8)
    with pytest.raises(ValueError, match="unknown unit"):
        units.bandwidth_bytes_per_cycle("34 GB", 1e9)
    with pytest.raises(ValueError, match="needs a positive clock"):
        units.bandwidth_bytes_per_cycle("34 GB/s", 0)          # was ZeroDivisionError
    with pytest.raises(ValueError, match="too large for a capacity"):
        units.capacity_bytes(10 ** 400)                         # was OverflowError
    with pytest.raises(ValueError, match="too long"):           # was minutes of regex backtracking
        units.frequency_hz("9" * 100_000 + "x")


def edit(old, new, count=1):
    assert old in GOOD
    return GOOD.replace(old, new, count)


BAD = [
    # (text, field, needle locating the reported line, occurrence, message fragment)
    (edit("bandwidth: 32 B/cycle", "bandwidth: -32 B/cycle"),
     "memory[1].bandwidth", "bandwidth: -32", 1, "positive"),
    (edit("bandwidth: 256 B/cycle", "bandwidth: 0"),
     "memory[2].bandwidth", "bandwidth: 0", 1, "positive"),
    (edit("    holds: [weights, inputs, outputs]\n  - name: regs",
          "    holds: [weights, inputs, outputs]\n    colour: blue\n  - name: regs"),
     "memory[1].colour", "colour", 1, "unknown field"),
    (edit("    read_energy: 10 pJ/64b\n", ""),
     "memory[1].read_energy", "- name: sram", 1, "missing field"),
    (edit("capacity: 64 B", "capacity: 4 B"),
     "memory[2].capacity", "capacity: 4 B", 1, "one MAC's operands"),
    (edit("bandwidth: 8 GB/s", "bandwidth: 8 GB"),
     "memory[0].bandwidth", "bandwidth: 8 GB", 1, "unknown unit"),
    (edit("clock: 500 MHz", "clock: -5 MHz"), "compute.clock", "clock:", 1, "positive"),
    (edit("  macs_per_cycle: 64\n", "  macs_per_cycle: 64\n  sparsity: {support: gate}\n"),
     "compute.sparsity.gated_energy_fraction", "sparsity:", 1, "missing field"),
    (edit("capacity: null", "capacity: 1 GiB"),
     "memory[0].capacity", "capacity: 1 GiB", 1, "outermost"),
    (edit("static_power: 0.5 W\n", ""), "static_power", "name: small", 1, "missing field"),
    # the two --hw files of the CLI audit: a clock of 0 with bandwidths in GB/s (was a
    # ZeroDivisionError) and a 400-digit integer (was an OverflowError without field or line)
    (edit("clock: 500 MHz", "clock: 0"), "compute.clock", "clock:", 1, "positive"),
    (edit("macs_per_cycle: 64", "macs_per_cycle: 1" + "0" * 399),
     "compute.macs_per_cycle", "macs_per_cycle", 1, "too large"),
    (edit("capacity: 64 KiB", "capacity: .inf"), "memory[1].capacity", "capacity: .inf", 1,
     "finite"),
    (edit("int8: {mult", "int0: {mult"), "compute.mac_energy.int0", "int0", 1, "int<bits>"),
]


@pytest.mark.parametrize("text, field, needle, occurrence, fragment", BAD)
def test_bad_yaml_names_field_file_and_line(text, field, needle, occurrence, fragment, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(HardwareError) as info:
        Hardware.from_yaml(path)
    err = info.value
    line = line_of(text, needle, occurrence)
    assert (err.field, err.file, err.line) == (field, str(path), line)
    assert str(err).startswith(f"{path}:{line}: {field}: ")
    assert fragment in str(err)
    assert isinstance(err, ValueError)
    assert str(pickle.loads(pickle.dumps(err))) == str(err)     # survives a process pool
    with pytest.raises(HardwareError, match=f"^line {line}: "):   # text: line, no file
        Hardware.from_yaml(text)


def test_invalid_yaml_syntax_reports_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(edit("holds: [weights, inputs, outputs]", "holds: [weights, inputs"))
    with pytest.raises(HardwareError, match="not valid YAML") as info:
        Hardware.from_yaml(path)
    assert info.value.file == str(path) and info.value.line is not None


def test_direct_construction_is_validated():
    with pytest.raises(HardwareError, match=r"memory\[1\].bandwidth"):
        make_hw(glb_bw=-1.0)
    with pytest.raises(HardwareError, match=r"memory\[2\].capacity"):
        make_hw(rf=8)


def test_load_and_presets(monkeypatch, tmp_path):
    names = hwmodel.presets()
    for name in ("horowitz-45nm", "eyeriss-like", "edge-npu", "server-accelerator", "host-cpu"):
        assert name in names
    with pytest.raises(ValueError, match="known presets"):
        hwmodel.load("no-such-machine")
    (tmp_path / "host-cpu.yaml").write_text(GOOD.replace("name: small", "name: calibrated"))
    monkeypatch.setenv("HWMODEL_PRESET_PATH", str(tmp_path))
    assert hwmodel.load("host-cpu").name == "calibrated"


def test_mac_energy_lookup():
    horowitz = hwmodel.load("horowitz-45nm")
    assert horowitz.compute.mac_energy("fp", 32) == pytest.approx(4.6)
    assert horowitz.compute.mac_energy("int", 16) == pytest.approx(3.2)   # next wider: int32
    with pytest.raises(ValueError, match="no MAC energy for fp32"):
        hwmodel.load("eyeriss-like").compute.mac_energy("fp", 32)
