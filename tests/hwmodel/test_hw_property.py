"""Property tests over random layers: more sparsity never costs more; floors and energy parts
hold everywhere."""

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hwmodel
from hw_builders import make_hw, native_layer

MACHINES = {
    "edge-npu": hwmodel.load("edge-npu"),                       # skip
    "eyeriss-like": hwmodel.load("eyeriss-like"),               # gate
    "horowitz-45nm": hwmodel.load("horowitz-45nm"),             # none
    "tight-skip": make_hw(glb=16 * 1024, rf=256, support="skip", static_w=0.5,
                          efficiency={"unstructured": 0.6, "block": 0.9, "vector": 0.8}),
    "tight-gate": make_hw(glb=8 * 1024, rf=128, support="gate", gated=0.3, link=0.2),
}
SCORE = {"energy": lambda c: c.energy_j, "latency": lambda c: c.cycles,
         "edp": lambda c: c.energy_j * c.cycles}

layers = st.builds(
    lambda m, k, n, g: (m * g, k, n, g),
    st.integers(1, 96), st.integers(1, 600), st.integers(1, 3000), st.sampled_from([1, 1, 2, 4]))


def pruned(layer, density, structure, index_bytes):
    """The layer at ``density`` with metadata growing with the nonzeros (like CSR indices)."""
    meta = index_bytes * layer.dense_macs / layer.N * density + 4 * (layer.M + 1)
    return layer.with_density(density, structure, metadata_bytes=meta)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=layers, d=st.tuples(st.floats(0, 1), st.floats(0, 1)),
       structure=st.sampled_from(["unstructured", "block", "vector"]),
       index_bytes=st.sampled_from([0, 1, 2]), act=st.floats(0.05, 1),
       machine=st.sampled_from(sorted(MACHINES)), objective=st.sampled_from(sorted(SCORE)))
def test_more_sparsity_never_costs_more(shape, d, structure, index_bytes, act, machine,
                                        objective):
    hw = MACHINES[machine]
    m, k, n, g = shape
    base = dataclasses.replace(native_layer(hw, "l", m, k, n, groups=g), activation_density=act)
    denser, sparser = (pruned(base, x, structure, index_bytes) for x in (max(d), min(d)))
    a = hwmodel.estimate(hw, denser, objective).layers[0]
    b = hwmodel.estimate(hw, sparser, objective).layers[0]
    score = SCORE[objective]
    assert score(b) <= score(a) * (1 + 1e-9)


@settings(max_examples=100, deadline=None)
@given(shape=layers, density=st.floats(0, 1), machine=st.sampled_from(sorted(MACHINES)),
       objective=st.sampled_from(sorted(SCORE)))
def test_floors_and_parts_hold_for_random_layers(shape, density, machine, objective):
    hw = MACHINES[machine]
    m, k, n, g = shape
    layer = pruned(native_layer(hw, "l", m, k, n, groups=g), density, "unstructured", 2)
    cost = hwmodel.estimate(hw, layer, objective).layers[0]
    assert cost.cycles >= max(cost.compute_cycles, *cost.level_cycles.values()) * (1 - 1e-12)
    dram = hw.memory[0]
    compulsory = layer.weight_bytes + layer.input_bytes + layer.output_bytes
    assert cost.cycles * dram.bandwidth_bytes_per_cycle >= compulsory * (1 - 1e-9)
    parts = sum(cost.energy_by_level.values()) + cost.mac_energy_j + cost.static_energy_j
    assert abs(cost.energy_j - parts) <= 1e-12 * cost.energy_j
