"""Host software in the cost model: dense efficiency per op, fixed cycles per call, the other
ops' streaming rate, operands resident in the last cache, and operands a kernel streams
untiled. Parsed strictly from YAML; each effect exact and adding up across layers."""
import dataclasses
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hwmodel
from hwmodel import Layer
from hwmodel.cost import evaluate
from hwmodel.search import best_mapping
from hw_builders import make_hw

HOST_YAML = textwrap.dedent("""\
    name: tiny-host
    static_power: 0 W
    compute:
      macs_per_cycle: 16
      clock: 1 GHz
      mac_energy: {fp32: 4.6 pJ}
      dense_efficiency: {linear: 0.5, conv: 0.25}
      weight_cycles: {matmul: 2}
      call_cycles: {linear: 1000, conv: 2000, other: 300, sparse: 5000}
      other_bandwidth: 8 GB/s
      other_ops:
        max_pool2d: {call_cycles: 900, bandwidth: 1 GB/s}
        native_batch_norm: {call_cycles: 2500, bandwidth: 4 B/cycle}
      sparsity: {support: skip}
    memory:
      - {name: dram, capacity: null, bandwidth: 16 B/cycle, read_energy: 160 pJ/B,
         write_energy: 170 pJ/B, holds: [weights, inputs, outputs]}
      - {name: l3, capacity: 1 MiB, bandwidth: 64 B/cycle, read_energy: 10 pJ/B,
         write_energy: 12 pJ/B, holds: [weights, inputs, outputs]}
      - {name: l2, capacity: 64 KiB, bandwidth: 256 B/cycle, read_energy: 1 pJ/B,
         write_energy: 1.5 pJ/B, holds: [weights, inputs, outputs]}
    """)


@pytest.fixture(scope="module")
def host():
    return hwmodel.Hardware.from_yaml(HOST_YAML)


def cost(hw, layer):
    return evaluate(hw, layer, best_mapping(hw, layer, "latency"))


def test_host_fields_parse_and_round_trip(host):
    c = host.compute
    assert c.dense_efficiency == {"linear": 0.5, "conv": 0.25}
    assert c.weight_cycles == {"matmul": 2}
    assert c.call_cycles == {"linear": 1000, "conv": 2000, "other": 300, "sparse": 5000}
    assert c.other_bytes_per_cycle == pytest.approx(8.0)
    assert c.other_ops == {"max_pool2d": hwmodel.OtherOp(900, pytest.approx(1.0)),
                           "native_batch_norm": hwmodel.OtherOp(2500, 4.0)}
    assert hwmodel.Hardware.from_dict(host.to_dict()) == host
    assert hwmodel.Hardware.from_yaml(host.to_yaml()) == host


@pytest.mark.parametrize("old,new,field,words", [
    ("dense_efficiency: {linear: 0.5, conv: 0.25}", "dense_efficiency: {linear: 1.5}",
     "compute.dense_efficiency.linear", "at most 1"),
    ("dense_efficiency: {linear: 0.5, conv: 0.25}", "dense_efficiency: {gemm: 0.5}",
     "compute.dense_efficiency.gemm", "unknown"),
    ("dense_efficiency: {linear: 0.5, conv: 0.25}", "dense_efficiency: {conv: fast}",
     "compute.dense_efficiency.conv", "expected a number"),
    ("call_cycles: {linear: 1000, conv: 2000, other: 300, sparse: 5000}",
     "call_cycles: {linear: -1}", "compute.call_cycles.linear", "zero or more"),
    ("weight_cycles: {matmul: 2}", "weight_cycles: {other: 2}", "compute.weight_cycles.other",
     "unknown"),
    ("weight_cycles: {matmul: 2}", "weight_cycles: {matmul: -2}",
     "compute.weight_cycles.matmul", "zero or more"),
    ("call_cycles: {linear: 1000, conv: 2000, other: 300, sparse: 5000}",
     "call_cycles: {python: 5}", "compute.call_cycles.python", "unknown"),
    ("other_bandwidth: 8 GB/s", "other_bandwidth: 8 furlongs", "compute.other_bandwidth",
     "unit"),
    ("other_bandwidth: 8 GB/s", "other_bandwidth: 0 GB/s", "compute.other_bandwidth",
     "positive"),
    ("max_pool2d: {call_cycles: 900, bandwidth: 1 GB/s}",
     "max_pool2d: {call_cycles: 900, bandwidth: 0 GB/s}", "compute.other_ops.max_pool2d.bandwidth",
     "positive"),
    ("max_pool2d: {call_cycles: 900, bandwidth: 1 GB/s}",
     "max_pool2d: {call_cycles: -9, bandwidth: 1 GB/s}",
     "compute.other_ops.max_pool2d.call_cycles", "zero or more"),
    ("max_pool2d: {call_cycles: 900, bandwidth: 1 GB/s}", "max_pool2d: {call_cycles: 900}",
     "compute.other_ops.max_pool2d", "bandwidth"),
    ("max_pool2d: {call_cycles: 900, bandwidth: 1 GB/s}",
     "max_pool2d: {call_cycles: 900, bandwidth: 1 GB/s, energy: 2}",
     "compute.other_ops.max_pool2d", "energy"),
])
def test_bad_host_fields_name_the_field_and_line(old, new, field, words):
    text = HOST_YAML.replace(old, new)
    assert text != HOST_YAML
    with pytest.raises(ValueError) as e:
        hwmodel.Hardware.from_yaml(text)
    message = str(e.value)
    assert field in message and words in message
    line = next(i for i, t in enumerate(text.splitlines(), 1) if new.split(":")[0] in t)
    assert f"line {line}" in message


@pytest.mark.parametrize("kw,words", [
    (dict(op="gemm"), "op must be one of"), (dict(calls=-1), "calls must be an int >= 0"),
    (dict(calls=1.5), "calls must be"), (dict(resident=("activations",)), "resident must"),
    (dict(streamed="inputs"), "streamed must")])
def test_bad_layer_fields_name_the_field(kw, words):
    with pytest.raises(ValueError, match=words):
        Layer("x", 8, 8, 8, **kw)


@settings(max_examples=40, deadline=None)
@given(calls=st.integers(0, 64), op=st.sampled_from(["linear", "conv", "other"]),
       sparse=st.booleans())
def test_the_fixed_cost_adds_exactly_once_per_call(host, calls, op, sparse):
    kw = dict(structure="unstructured", weight_value_bytes=64 * 64, stored_macs=64 * 64 * 8,
              effective_macs=64 * 64 * 8) if sparse and op != "other" else {}
    base = Layer("x", 64, 64, 8, op=op, calls=0, **kw)
    with_calls = dataclasses.replace(base, calls=calls)
    kind = "sparse" if kw else op
    a, b = cost(host, base), cost(host, with_calls)
    assert b.call_cycles == calls * host.compute.call_cycles[kind]
    assert b.cycles - a.cycles == pytest.approx(calls * host.compute.call_cycles[kind])
    assert b.compute_cycles == a.compute_cycles and b.level_cycles == a.level_cycles


def test_a_sparse_conv_pays_the_sparse_conv_call_where_listed_else_the_sparse_one(host):
    kw = dict(structure="unstructured", weight_value_bytes=64 * 64, stored_macs=64 * 64 * 8,
              effective_macs=64 * 64 * 8, calls=2)
    conv, linear = Layer("c", 64, 64, 8, op="conv", **kw), Layer("l", 64, 64, 8, op="linear", **kw)
    assert conv.call_kind == "sparse_conv" and linear.call_kind == "sparse"
    assert cost(host, conv).call_cycles == 2 * 5000            # not listed: the sparse call
    listed = dataclasses.replace(host, compute=dataclasses.replace(
        host.compute, call_cycles={**host.compute.call_cycles, "sparse_conv": 7000}))
    assert cost(listed, conv).call_cycles == 2 * 7000
    assert cost(listed, linear).call_cycles == 2 * 5000


def test_no_op_no_fixed_cost_and_no_efficiency(host):
    plain, linear = Layer("x", 64, 64, 8), Layer("x", 64, 64, 8, op="linear", calls=0)
    assert cost(host, plain).call_cycles == 0
    assert cost(host, linear).compute_cycles == pytest.approx(
        2 * cost(host, plain).compute_cycles)          # linear: 0.5 of the peak


def test_dense_efficiency_applies_to_dense_weights_only(host):
    dense = Layer("c", 64, 64, 64, op="conv", calls=0)
    assert cost(host, dense).compute_cycles == pytest.approx(64 ** 3 / 16 / 0.25)
    sparse = dataclasses.replace(dense, structure="unstructured", stored_macs=64 ** 3 / 2,
                                 effective_macs=64 ** 3 / 2, weight_value_bytes=64 * 32 * 4)
    assert cost(host, sparse).compute_cycles == pytest.approx(64 ** 3 / 2 / 16)


def test_other_ops_take_their_bytes_over_the_streaming_rate(host):
    op = Layer("ops: relu ×3", 1, 1, 1 << 16, op="other", calls=3, weight_value_bytes=0.0,
               input_bytes=4 * 2 ** 16, output_bytes=4 * 2 ** 16, compute="skip",
               dense_macs=1.0, effective_macs=0.0, stored_macs=0.0)
    c = cost(host, op)
    assert c.compute_cycles == pytest.approx(8 * 2 ** 16 / 8.0)
    assert c.call_cycles == 3 * 300
    no_rate = dataclasses.replace(host, compute=dataclasses.replace(
        host.compute, other_bytes_per_cycle=None))
    assert cost(no_rate, op).compute_cycles < c.compute_cycles


def _op(kind, calls=3):
    return Layer(f"ops: {kind} ×{calls}", 1, 1, 1 << 16, op="other", other_op=kind, calls=calls,
                 weight_value_bytes=0.0, input_bytes=4 * 2 ** 16, output_bytes=4 * 2 ** 16,
                 compute="skip", dense_macs=1.0, effective_macs=0.0, stored_macs=0.0)


def test_an_op_kind_measured_on_its_own_takes_its_own_call_cost_and_rate(host):
    pool, bn = cost(host, _op("max_pool2d")), cost(host, _op("native_batch_norm"))
    assert pool.compute_cycles == pytest.approx(8 * 2 ** 16 / 1.0)     # 1 GB/s at 1 GHz
    assert pool.call_cycles == 3 * 900
    assert bn.compute_cycles == pytest.approx(8 * 2 ** 16 / 4.0)
    assert bn.call_cycles == 3 * 2500
    relu = cost(host, _op("relu"))                   # not listed: the figures for every op
    assert relu.compute_cycles == pytest.approx(8 * 2 ** 16 / 8.0)
    assert relu.call_cycles == 3 * 300


@pytest.mark.parametrize("kw", [dict(other_op="relu"), dict(op="other", other_op=""),
                                dict(op="other", other_op=3)])
def test_other_op_names_the_kind_of_an_other_layer_only(kw):
    with pytest.raises(ValueError, match="other_op"):
        Layer("x", 8, 8, 8, **kw)


def test_totals_add_up_across_layers(host):
    layers = [Layer("a", 64, 64, 8, op="linear", calls=2),
              Layer("b", 32, 27, 100, op="conv", calls=5),
              Layer("c", 64, 64, 8)]
    est = hwmodel.estimate(host, layers, objective="latency")
    assert est.cycles == pytest.approx(sum(c.cycles for c in est.layers))
    assert est.total.call_cycles == 2 * 1000 + 5 * 2000


@pytest.mark.parametrize("tensor", ["weights", "inputs", "outputs"])
def test_a_resident_operand_skips_exactly_its_compulsory_dram_traffic(tensor):
    hw = make_hw()
    layer = Layer("x", 64, 64, 16)
    mapping = best_mapping(hw, layer, "energy")
    cold = evaluate(hw, layer, mapping)
    warm = evaluate(hw, dataclasses.replace(layer, resident=(tensor,)), mapping)
    size = {"weights": layer.weight_value_bytes, "inputs": layer.input_bytes,
            "outputs": layer.output_bytes}[tensor]
    dram = lambda c: sum(c.reads_bytes["dram"].values()) + sum(c.writes_bytes["dram"].values())
    assert dram(cold) - dram(warm) == pytest.approx(size)
    assert warm.compute_cycles == cold.compute_cycles
    assert warm.cycles <= cold.cycles and warm.energy_j < cold.energy_j


def test_a_streamed_operand_is_read_from_the_level_it_fits_in(host):
    # X (K × N = 512 × 64 floats = 128 KiB) does not fit the 64 KiB L2: the kernel walking
    # it untiled reads it from L3; one call per 4 columns' worth would fit L2 again.
    layer = Layer("x", 64, 512, 64, op="linear", calls=0)
    tiled = cost(host, layer)
    streamed = cost(host, dataclasses.replace(layer, streamed=("inputs",)))
    per_mac = layer.dense_macs * 4
    assert streamed.reads_bytes["l3"]["inputs"] - tiled.reads_bytes["l3"]["inputs"] == \
        pytest.approx(per_mac)
    assert tiled.reads_bytes["l2"]["inputs"] - streamed.reads_bytes["l2"]["inputs"] == \
        pytest.approx(per_mac)
    split = cost(host, dataclasses.replace(layer, streamed=("inputs",), calls=4))
    assert split.reads_bytes["l2"]["inputs"] == pytest.approx(tiled.reads_bytes["l2"]["inputs"])


def test_presets_without_host_fields_price_as_before():
    hw = hwmodel.load("eyeriss-like")
    layer = Layer("x", 64, 64, 16, value_bits=16, activation_bits=16, kind="int")
    tagged = dataclasses.replace(layer, op="conv", calls=7)
    assert cost(hw, tagged).cycles == cost(hw, layer).cycles


def test_a_measured_dense_efficiency_times_the_per_mac_reads_itself(host):
    """A library GEMM's per-MAC operand reads are blocked in registers: in its measured
    efficiency, not in the ports' time; their energy stays."""
    layer = Layer("c", 64, 64, 4096, op="conv", calls=0)
    plain = dataclasses.replace(layer, op=None)
    timed, priced = cost(host, layer), cost(host, plain)
    assert timed.compute_cycles == pytest.approx(64 * 64 * 4096 / 16 / 0.25)
    assert max(timed.level_cycles.values()) < max(priced.level_cycles.values())
    assert timed.reads_bytes == priced.reads_bytes


def test_packing_w_lasts_its_fetch_or_its_weight_cycles_whatever_n(host):
    """A library product packs W before computing: its fill is the longer of W's fetch (DRAM
    -> L3 -> L2 at 16 and 64 B/cycle) and weight_cycles per element (matmul: 2), and W's
    traffic leaves the steady state."""
    hw = dataclasses.replace(host, compute=dataclasses.replace(
        host.compute, dense_efficiency={"matmul": 1.0}))
    no_pack = dataclasses.replace(hw, compute=dataclasses.replace(hw.compute, weight_cycles={}))
    for n in (1, 64):
        layer = Layer("m", 64, 32, n, op="matmul", calls=0)
        fetch = 64 * 32 * 4 / 16 + 64 * 32 * 4 / 64
        packing, fetching = cost(hw, layer), cost(no_pack, layer)
        assert packing.fill_cycles - fetching.fill_cycles == pytest.approx(64 * 32 * 2 - fetch)
        assert packing.compute_cycles == fetching.compute_cycles


def test_a_library_product_fills_its_whole_weight_before_computing(host):
    layer = Layer("c", 256, 256, 4, op="conv", calls=0)
    c = cost(host, layer)
    w = 256 * 256 * 4
    # DRAM -> L3 -> L2, each hop at the slower side's rate (16 and 64 B/cycle)
    assert c.fill_cycles >= w / 16 + w / 64
    warm = cost(host, dataclasses.replace(layer, resident=("weights",)))
    assert c.fill_cycles - warm.fill_cycles == pytest.approx(w / 16)
