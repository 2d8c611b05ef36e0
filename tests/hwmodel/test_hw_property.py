"""Property tests over random layers: more sparsity never costs more; floors and energy parts
hold everywhere."""

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hwmodel
from hw_builders import make_hw, native_layer


def arrayed(hw, rows, cols, row_dims, col_dims):
    compute = dataclasses.replace(hw.compute, macs_per_cycle=rows * cols,
                                  array=hwmodel.PEArray(rows, cols, row_dims, col_dims))
    return dataclasses.replace(hw, compute=compute)


MACHINES = {
    "edge-npu": hwmodel.load("edge-npu"),                       # skip
    "eyeriss-like": hwmodel.load("eyeriss-like"),               # gate
    "horowitz-45nm": hwmodel.load("horowitz-45nm"),             # none
    "tight-skip": make_hw(glb=16 * 1024, rf=256, support="skip", static_w=0.5,
                          efficiency={"unstructured": 0.6, "block": 0.9, "vector": 0.8}),
    "tight-gate": make_hw(glb=8 * 1024, rf=128, support="gate", gated=0.3, link=0.2),
    "array-skip": arrayed(make_hw(glb=16 * 1024, rf=512, support="skip",
                                  efficiency={"unstructured": 0.7, "block": 1.0, "vector": 0.9}),
                          4, 6, ("M", "K"), ("N", "M")),
    "server-accelerator": hwmodel.load("server-accelerator"),   # 256 x 256 array, static power
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


@settings(max_examples=100, deadline=None)
@given(shape=layers, density=st.floats(0, 1), act=st.floats(0.05, 1),
       machine=st.sampled_from(sorted(MACHINES)), objective=st.sampled_from(sorted(SCORE)))
def test_gating_changes_energy_only(shape, density, act, machine, objective):
    """A gated layer takes exactly the cycles of the same layer with no sparsity support, at
    every port and in total; its energy is never higher."""
    hw = MACHINES[machine]
    m, k, n, g = shape
    layer = dataclasses.replace(
        pruned(native_layer(hw, "l", m, k, n, groups=g), density, "unstructured", 2),
        activation_density=act)
    mapping = hwmodel.best_mapping(hw, dataclasses.replace(layer, compute="none"), objective)
    gate = hwmodel.evaluate(hw, dataclasses.replace(layer, compute="gate"), mapping)
    none = hwmodel.evaluate(hw, dataclasses.replace(layer, compute="none"), mapping)
    assert gate.cycles == none.cycles and gate.level_cycles == none.level_cycles
    assert gate.compute_cycles == none.compute_cycles
    assert gate.energy_j <= none.energy_j * (1 + 1e-12)
    assert gate.executed_macs <= none.executed_macs == gate.issued_macs


@settings(max_examples=100, deadline=None)
@given(shape=layers, density=st.floats(0, 1), machine=st.sampled_from(sorted(MACHINES)),
       objective=st.sampled_from(sorted(SCORE)))
def test_fill_drain_and_utilisation_never_lower_the_old_floors(shape, density, machine,
                                                               objective):
    hw = MACHINES[machine]
    m, k, n, g = shape
    layer = pruned(native_layer(hw, "l", m, k, n, groups=g), density, "unstructured", 2)
    cost = hwmodel.estimate(hw, layer, objective).layers[0]
    steady = max(cost.compute_cycles, *cost.level_cycles.values())
    assert cost.fill_cycles >= 0 and cost.drain_cycles > 0
    assert abs(cost.cycles - (steady + cost.fill_cycles + cost.drain_cycles)) <= 1e-9 * cost.cycles
    c = hw.compute
    issue = layer.stored_macs * layer.activation_density if c.sparsity.support == "skip" \
        else layer.dense_macs
    assert cost.compute_cycles >= issue / c.macs_per_cycle * (1 - 1e-12)   # peak is a ceiling
    assert cost.utilisation <= 1 + 1e-9
    assert cost.utilisation > 0 or cost.mac_slots == 0
