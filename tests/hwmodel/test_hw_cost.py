"""The identities the cost model must satisfy, on a small machine checkable by hand."""

import dataclasses

import pytest

import hwmodel
from hwmodel import Layer, best_mapping, estimate, evaluate
from hwmodel.hardware import TENSORS
from hw_builders import make_hw, native_layer

OBJECTIVES = ("energy", "latency", "edp")


def fc(**kw):
    return Layer("fc", 64, 128, 32, **kw)          # W 32 KiB, X 16 KiB, Y 8 KiB in fp32


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("layer", [
    fc(),
    fc(input_bytes=5000.0, output_bytes=3000.0),                   # true sizes, not K*N
    fc(weight_value_bytes=8192.0, weight_metadata_bytes=2048.0, effective_macs=65536,
       structure="unstructured"),
])
def test_compulsory_traffic_when_everything_fits(layer, objective):
    cost = estimate(make_hw(), layer, objective).layers[0]
    reads, writes = cost.reads_bytes["dram"], cost.writes_bytes["dram"]
    assert reads == {"weights": layer.weight_value_bytes,
                     "weight_metadata": layer.weight_metadata_bytes,
                     "inputs": layer.input_bytes, "outputs": 0}
    assert writes == {"weights": 0, "weight_metadata": 0, "inputs": 0,
                      "outputs": layer.output_bytes}


def test_dram_traffic_never_below_compulsory_when_tiled():
    layer = Layer("big", 512, 1024, 256)
    for objective in OBJECTIVES:
        cost = estimate(make_hw(glb=64 * 1024, rf=1024), layer, objective).layers[0]
        reads, writes = cost.reads_bytes["dram"], cost.writes_bytes["dram"]
        assert reads["weights"] >= layer.weight_bytes and reads["inputs"] >= layer.input_bytes
        assert writes["outputs"] >= layer.output_bytes
        assert sum(reads.values()) + sum(writes.values()) > (
            layer.weight_bytes + layer.input_bytes + layer.output_bytes)


def check_floors(hw, cost, layer):
    """Latency is never below the compute floor, any level's transfer time, or the
    compulsory DRAM traffic over DRAM bandwidth; the bound names the floor that binds, and
    fill and drain come on top of it."""
    assert cost.cycles >= cost.compute_cycles
    for level, busy in cost.level_cycles.items():
        assert cost.cycles >= busy * (1 - 1e-12)
    compulsory = layer.weight_bytes + layer.input_bytes + layer.output_bytes
    assert cost.cycles >= compulsory / hw.memory[0].bandwidth_bytes_per_cycle * (1 - 1e-12)
    floor = cost.compute_cycles if cost.bound == "compute" else cost.level_cycles[cost.bound]
    assert floor == pytest.approx(max(cost.compute_cycles, *cost.level_cycles.values()))
    assert cost.fill_cycles > 0 and cost.drain_cycles > 0
    assert cost.cycles == pytest.approx(floor + cost.fill_cycles + cost.drain_cycles)
    assert cost.seconds == pytest.approx(cost.cycles / hw.clock_hz)


def check_energy_parts(hw, cost):
    """Total = accesses x per-byte energy at every level (+ link hops) + MACs + decoding
    + static."""
    memory = 0.0
    for level in hw.memory:
        for o in TENSORS:
            memory += (cost.reads_bytes[level.name][o] * level.read_pj_per_byte
                       + cost.writes_bytes[level.name][o] * level.write_pj_per_byte)
    link = sum(e for e in cost.energy_by_level.values()) - memory * 1e-12
    assert cost.static_energy_j == pytest.approx(hw.static_power_w * cost.seconds)
    assert cost.energy_j == pytest.approx(memory * 1e-12 + link + cost.mac_energy_j
                                          + cost.decode_energy_j + cost.static_energy_j)
    assert cost.energy_j == pytest.approx(sum(cost.energy_by_operand.values())
                                          + cost.mac_energy_j + cost.decode_energy_j
                                          + cost.static_energy_j)
    return link


@pytest.mark.parametrize("name", hwmodel.presets())
def test_floors_and_energy_parts_on_presets(name):
    hw = hwmodel.load(name)
    for layer in (native_layer(hw, "conv", 64, 576, 3136),
                  native_layer(hw, "fc", 1000, 2048, 1)):
        for objective in OBJECTIVES:
            cost = estimate(hw, layer, objective).layers[0]
            check_floors(hw, cost, layer)
            check_energy_parts(hw, cost)


def test_energy_is_the_sum_of_its_parts_exactly():
    hw = make_hw(static_w=2.0)
    layer = Layer("big", 512, 1024, 256)
    cost = estimate(hw, layer).layers[0]
    assert check_energy_parts(hw, cost) == pytest.approx(0, abs=1e-15)   # no link energy here
    assert cost.mac_energy_j == pytest.approx(layer.dense_macs * 4.6e-12)
    hw_link = make_hw(link=0.5)
    cost = estimate(hw_link, layer).layers[0]
    filled = cost.writes_bytes["glb"]["weights"] + cost.writes_bytes["glb"]["inputs"]
    assert check_energy_parts(hw_link, cost) >= filled * 0.5e-12


def compute_bound(**kw):
    return make_hw(dram_bw=1e6, glb_bw=1e6, rf_bw=1e7, **kw)


def test_skip_saves_cycles_and_energy_gate_only_energy():
    dense = Layer("fc", 256, 512, 64)
    sparse = dense.with_density(0.25, "unstructured", metadata_bytes=8192.0)
    costs = {}
    for support, gated in (("none", None), ("gate", 0.2), ("skip", None)):
        hw = compute_bound(support=support, gated=gated)
        costs[support] = {name: estimate(hw, layer).layers[0]
                          for name, layer in (("dense", dense), ("sparse", sparse))}
    none, gate, skip = costs["none"]["sparse"], costs["gate"]["sparse"], costs["skip"]["sparse"]
    for c in (none, gate, skip):
        assert c.bound == "compute"
    e = 4.6e-12
    assert gate.cycles == none.cycles
    assert gate.compute_cycles == none.compute_cycles == dense.dense_macs / 16
    assert costs["none"]["dense"].compute_cycles == dense.dense_macs / 16
    assert skip.compute_cycles == pytest.approx(sparse.effective_macs / 16)
    assert none.mac_energy_j == pytest.approx(dense.dense_macs * e)
    assert gate.mac_energy_j == pytest.approx(
        (sparse.effective_macs + 0.2 * (dense.dense_macs - sparse.effective_macs)) * e)
    assert skip.mac_energy_j == pytest.approx(sparse.effective_macs * e)
    assert skip.energy_j < gate.energy_j < none.energy_j
    for support in ("gate", "skip"):               # sparsity never costs more than dense
        assert costs[support]["sparse"].energy_j < costs[support]["dense"].energy_j
        assert costs[support]["sparse"].cycles <= costs[support]["dense"].cycles


def test_efficiency_factor_and_activation_sparsity():
    hw = compute_bound(support="skip",
                       efficiency={"unstructured": 0.5, "block": 0.8, "vector": 0.9})
    base = Layer("fc", 256, 512, 64).with_density(0.25, "unstructured")
    cycles = {s: estimate(hw, dataclasses.replace(base, structure=s)).layers[0].compute_cycles
              for s in ("unstructured", "block", "vector")}
    ideal = base.effective_macs / 16
    assert cycles == pytest.approx({"unstructured": ideal / 0.5, "block": ideal / 0.8,
                                    "vector": ideal / 0.9})
    half = dataclasses.replace(base, activation_density=0.5)
    assert estimate(hw, half).layers[0].compute_cycles == pytest.approx(cycles["unstructured"] / 2)


def test_decode_cycles_cost_per_stored_value_whatever_the_batch():
    plain = compute_bound(support="skip")
    sp = plain.compute.sparsity
    decoding = dataclasses.replace(plain, compute=dataclasses.replace(
        plain.compute, sparsity=dataclasses.replace(
            sp, decode_cycles={"unstructured": 3.0, "block": 0.0, "vector": 0.0})))
    for n in (1, 64):
        layer = Layer("fc", 256, 512, n).with_density(0.25, "unstructured")
        stored_values = layer.stored_macs / n
        extra = (estimate(decoding, layer).layers[0].compute_cycles
                 - estimate(plain, layer).layers[0].compute_cycles)
        assert extra == pytest.approx(3.0 * stored_values)
        dense = Layer("fc", 256, 512, n)
        assert (estimate(decoding, dense).layers[0].compute_cycles
                == estimate(plain, dense).layers[0].compute_cycles)
    again = hwmodel.Hardware.from_yaml(decoding.to_yaml())
    assert again.compute.sparsity.decode_cycles["unstructured"] == 3.0


def test_negative_decode_cycles_is_an_error():
    hw = compute_bound(support="skip")
    text = hw.to_yaml().replace("support: skip", "support: skip\n    decode_cycles: {block: -1}")
    with pytest.raises(hwmodel.HardwareError, match="decode_cycles"):
        hwmodel.Hardware.from_yaml(text)


def test_compressed_weights_move_fewer_bytes_and_metadata_moves():
    hw = make_hw()
    dense = fc()
    values_only = dense.with_density(0.1, "unstructured")
    with_meta = dense.with_density(0.1, "unstructured", metadata_bytes=3000.0)
    read = {name: estimate(hw, layer).layers[0].reads_bytes["dram"]
            for name, layer in (("dense", dense), ("values", values_only), ("meta", with_meta))}
    assert read["values"]["weights"] == pytest.approx(0.1 * read["dense"]["weights"])
    assert read["meta"]["weights"] == read["values"]["weights"]          # payload apart
    assert read["meta"]["weight_metadata"] == pytest.approx(3000.0)
    assert read["values"]["weight_metadata"] == read["dense"]["weight_metadata"] == 0


def test_groups_cost_like_independent_gemms():
    hw = make_hw(static_w=1.0)
    depthwise = Layer("dw", 32, 9, 400, groups=32)
    one = Layer("one", 1, 9, 400)
    a, b = estimate(hw, depthwise).layers[0], estimate(hw, one).layers[0]
    assert a.cycles == pytest.approx(32 * b.cycles)
    assert a.energy_j == pytest.approx(32 * b.energy_j)
    assert depthwise.input_bytes == 32 * 9 * 400 * 4


def test_evaluate_is_pure_and_mapping_checked():
    hw = make_hw(glb=64 * 1024, rf=1024)
    layer = Layer("big", 512, 1024, 256)
    mapping = best_mapping(hw, layer, "edp")
    assert evaluate(hw, layer, mapping) == evaluate(hw, layer, mapping)
    assert [lm.level for lm in mapping.levels] == ["glb", "rf"]
    other = hwmodel.load("eyeriss-like")
    with pytest.raises(ValueError, match="mapping levels"):
        evaluate(other, layer, mapping)
    lat = estimate(hw, layer, "latency").layers[0]
    en = estimate(hw, layer, "energy").layers[0]
    assert lat.cycles <= en.cycles * (1 + 1e-12) and en.energy_j <= lat.energy_j * (1 + 1e-12)


def test_errors():
    with pytest.raises(ValueError, match="objective"):
        estimate(make_hw(), fc(), "speed")
    with pytest.raises(ValueError, match="no tile fits memory level 'rf'"):
        estimate(make_hw(rf=12), Layer("wide", 4, 4, 4, accumulator_bits=64))
    with pytest.raises(ValueError, match="no MAC energy"):
        estimate("eyeriss-like", fc())
    with pytest.raises(ValueError, match="stored_macs"):
        fc(effective_macs=10, stored_macs=5)
    with pytest.raises(ValueError, match="divisible"):
        Layer("g", 10, 3, 3, groups=3)


# ---------------------------------------------------------------- gating, fill/drain, widths

def eyeriss_with_rf_port(bandwidth):
    hw = hwmodel.load("eyeriss-like")
    rf = dataclasses.replace(hw.memory[2], bandwidth_bytes_per_cycle=bandwidth)
    return dataclasses.replace(hw, memory=(*hw.memory[:2], rf))


def test_gating_never_saves_cycles_when_the_innermost_port_binds():
    """Issue 8: eyeriss-like with a 1008 B/cycle register-file port, AlexNet conv3 at
    activation density 0.5. Per-MAC operand traffic was counted on executed MACs only, so
    the gated layer got faster (7.14 M -> 4.33 M cycles in the issue); a gated access keeps
    its port slot, so only the energy drops."""
    hw = eyeriss_with_rf_port(1008.0)
    conv3 = Layer("conv3", 384, 2304, 169, value_bits=16, activation_bits=16, kind="int")
    full = estimate(hw, conv3).layers[0]
    half = estimate(hw, dataclasses.replace(conv3, activation_density=0.5)).layers[0]
    assert full.bound == half.bound == "register_files"
    assert half.cycles == full.cycles and half.level_cycles == full.level_cycles
    assert half.executed_macs == full.executed_macs / 2
    assert half.issued_macs == full.issued_macs == conv3.dense_macs
    assert half.energy_j < full.energy_j
    assert half.reads_bytes["register_files"]["inputs"] == pytest.approx(
        full.reads_bytes["register_files"]["inputs"] / 2)         # the energy story
    ungated = estimate(hw, dataclasses.replace(conv3, activation_density=0.5,
                                               compute="none")).layers[0]
    assert ungated.cycles == half.cycles and ungated.energy_j > half.energy_j


def test_fill_and_drain_come_on_top_of_the_steady_state():
    """The first step's operands travel down every hop before compute starts, the last
    step's outputs back up after it ends; double buffering hides the rest."""
    hw = make_hw()                              # 16 MACs/cycle; dram 16, glb 256, rf 4096 B/cycle
    layer = Layer("fc", 16, 32, 8)              # fp32
    cost = estimate(hw, layer).layers[0]
    first = 16 * 4 + 16 * 4                     # one weight and one input per MAC of the peak
    assert cost.fill_cycles == pytest.approx(first / 16 + first / 256)
    assert cost.drain_cycles == pytest.approx(16 * 4 / 256 + 16 * 4 / 16)
    steady = max(cost.compute_cycles, *cost.level_cycles.values())
    assert cost.cycles == pytest.approx(steady + cost.fill_cycles + cost.drain_cycles)
    # a 4 x 8 array unrolling K on rows and M on columns (weight stationary): its first step
    # needs a 4 x 8 weight tile and 4 inputs; its last step leaves 8 outputs
    arrayed = dataclasses.replace(hw, compute=dataclasses.replace(
        hw.compute, macs_per_cycle=32, array=hwmodel.PEArray(4, 8, ("K",), ("M",))))
    cost = estimate(arrayed, layer).layers[0]
    first = 4 * 8 * 4 + 4 * 4
    assert cost.fill_cycles == pytest.approx(first / 16 + first / 256)
    assert cost.drain_cycles == pytest.approx(8 * 4 / 256 + 8 * 4 / 16)
    small = estimate(arrayed, Layer("tiny", 2, 3, 1)).layers[0]     # a step larger than it
    assert small.fill_cycles == pytest.approx((2 * 3 * 4 + 3 * 4) * (1 / 16 + 1 / 256))


def test_accumulator_width_changes_partial_sum_traffic_as_expected():
    """Partial sums spill at accumulator width: halving it halves the per-MAC psum traffic at
    the innermost level and the spills (reuse - 1 round trips) at every level above, and
    leaves the final outputs (activation width) alone."""
    hw = make_hw(glb=16 * 1024, rf=1024)
    wide = Layer("conv", 128, 1152, 196, accumulator_bits=32)
    narrow = dataclasses.replace(wide, accumulator_bits=16)
    r_glb, r_rf = 3.0, 9.0                                      # outputs spill at both levels
    mapping = hwmodel.Mapping((hwmodel.LevelMapping("glb", (128, 384, 196), "nmk", (1, 1, r_glb)),
                               hwmodel.LevelMapping("rf", (4, 128, 1), "nmk", (1, 1, r_rf))))
    a, b = evaluate(hw, wide, mapping), evaluate(hw, narrow, mapping)
    for cost, bits in ((a, 32), (b, 16)):                       # per MAC + spills + finals
        psums = 128 * 196 * bits / 8
        assert cost.reads_bytes["rf"]["outputs"] == pytest.approx(
            wide.dense_macs * bits / 8 + psums * (r_rf - 1) + wide.output_bytes)
    psums32 = 128 * 196 * 4
    assert a.writes_bytes["dram"]["outputs"] == pytest.approx(
        psums32 * (r_glb - 1) + wide.output_bytes)
    assert a.writes_bytes["dram"]["outputs"] - b.writes_bytes["dram"]["outputs"] == \
        pytest.approx(psums32 / 2 * (r_glb - 1))
    # the hardware's width is the default: eyeriss-like is 16-bit
    eyeriss = hwmodel.load("eyeriss-like")
    assert eyeriss.compute.accumulator_bits == 16
    conv = Layer("c", 64, 576, 3136, value_bits=16, activation_bits=16, kind="int")
    m = best_mapping(eyeriss, conv)
    own = evaluate(eyeriss, conv, m)
    forced = evaluate(eyeriss, dataclasses.replace(conv, accumulator_bits=16), m)
    as32 = evaluate(eyeriss, dataclasses.replace(conv, accumulator_bits=32), m)
    assert own == forced
    assert as32.writes_bytes["register_files"]["outputs"] == pytest.approx(   # all psums
        2 * own.writes_bytes["register_files"]["outputs"])


def test_separate_read_and_write_ports():
    hw = make_hw()
    dram, glb, rf = hw.memory
    split = dataclasses.replace(hw, memory=(dram, dataclasses.replace(
        glb, read_bandwidth_bytes_per_cycle=64.0, write_bandwidth_bytes_per_cycle=32.0), rf))
    layer = Layer("big", 512, 1024, 256)
    mapping = best_mapping(hw, layer)
    shared, ported = evaluate(hw, layer, mapping), evaluate(split, layer, mapping)
    reads, writes = (sum(t[2]["glb"].values()) for t in ((0, 0, shared.reads_bytes),
                                                         (0, 0, shared.writes_bytes)))
    assert shared.level_cycles["glb"] == pytest.approx((reads + writes) / 256)
    assert ported.level_cycles["glb"] == pytest.approx(max((reads + writes) / 256, reads / 64,
                                                           writes / 32))
    text = split.to_yaml()
    assert hwmodel.Hardware.from_yaml(text) == split
    separate = text.replace("  bandwidth: 256 B/cycle\n", "", 1)
    assert hwmodel.Hardware.from_yaml(separate).level("glb").bandwidth_bytes_per_cycle == 96
    with pytest.raises(hwmodel.HardwareError, match=r"memory\[1\]\.bandwidth"):
        hwmodel.Hardware.from_yaml(separate.replace("  read_bandwidth: 64 B/cycle\n", ""))


def test_word_width_rounds_lone_element_accesses_up_to_words():
    hw = make_hw()
    dram, glb, rf = hw.memory
    worded = dataclasses.replace(hw, memory=(dram, glb, dataclasses.replace(rf, word_bits=64)))
    layer = Layer("fc", 16, 32, 8, value_bits=8, activation_bits=8, kind="int")
    mapping = best_mapping(hw, layer)
    a, b = evaluate(hw, layer, mapping), evaluate(worded, layer, mapping)
    per_mac = layer.dense_macs
    assert a.reads_bytes["rf"]["inputs"] == per_mac * 1
    assert b.reads_bytes["rf"]["inputs"] == per_mac * 8          # one byte costs the word
    assert a.writes_bytes["rf"]["outputs"] == per_mac * 4          # 32-bit psums, no spill
    assert b.writes_bytes["rf"]["outputs"] == per_mac * 8          # 4-byte psums: a word each
    assert b.writes_bytes["glb"] == a.writes_bytes["glb"]         # tile transfers stream words
    assert hwmodel.Hardware.from_yaml(worded.to_yaml()) == worded
