"""The PE array: spatial utilisation with ceiling effects, and load imbalance from the real
per-row nonzeros when the array spreads M over its PEs."""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hwmodel
from hwmodel import Layer, PEArray, estimate
from hw_builders import make_hw


def with_array(hw, rows, cols, row_dims=("M",), col_dims=("N",)):
    compute = dataclasses.replace(hw.compute, macs_per_cycle=rows * cols,
                                  array=PEArray(rows, cols, row_dims, col_dims))
    return dataclasses.replace(hw, compute=compute)


def fast_memory(**kw):
    """Compute-bound: memories far faster than 168 MACs per cycle need."""
    return make_hw(dram_bw=1e6, glb_bw=1e6, rf_bw=1e7, **kw)


def test_a_dimension_that_does_not_divide_the_array_loses_exactly_the_ceiling():
    hw = with_array(fast_memory(), 12, 14)                       # rows unroll M, columns N
    cost = estimate(hw, Layer("fc", 10, 64, 14)).layers[0]       # M = 10 on 12 rows
    assert cost.utilisation == pytest.approx(10 / 12)
    assert cost.compute_cycles == 64                             # ceil(10/12) * ceil(14/14) * K
    flat = estimate(dataclasses.replace(hw, compute=dataclasses.replace(
        hw.compute, array=None)), Layer("fc", 10, 64, 14)).layers[0]
    assert flat.compute_cycles == pytest.approx(10 * 64 * 14 / 168)
    assert flat.utilisation == pytest.approx(1.0)
    assert cost.compute_cycles == pytest.approx(flat.compute_cycles * 12 / 10)
    whole = estimate(hw, Layer("fc", 24, 64, 28)).layers[0]      # divides: nothing lost
    assert whole.utilisation == pytest.approx(1.0)
    assert whole.compute_cycles == 2 * 2 * 64


def test_the_best_unrolling_is_chosen_and_one_dimension_may_span_both_axes():
    hw = with_array(fast_memory(), 12, 14, row_dims=("M", "K"), col_dims=("N", "M"))
    # N = 1 (a batch-1 linear layer): columns take M, rows take K
    cost = estimate(hw, Layer("fc", 28, 24, 1)).layers[0]
    assert cost.compute_cycles == math.ceil(24 / 12) * math.ceil(28 / 14)
    assert cost.utilisation == pytest.approx(1.0)
    both = with_array(fast_memory(), 12, 14, row_dims=("M",), col_dims=("M",))
    cost = estimate(both, Layer("fc", 170, 8, 2)).layers[0]      # 170 rows on 168 PEs
    assert cost.compute_cycles == 2 * 8 * 2
    assert cost.utilisation == pytest.approx(170 / 336)


@settings(max_examples=150, deadline=None)
@given(m=st.integers(1, 300), k=st.integers(1, 300), n=st.integers(1, 300),
       rows=st.integers(1, 16), cols=st.integers(1, 16),
       row_dims=st.sampled_from([("M",), ("K",), ("M", "K"), ("N", "M", "K")]),
       col_dims=st.sampled_from([("N",), ("M",), ("K", "N")]))
def test_utilisation_is_the_ceiling_formula(m, k, n, rows, cols, row_dims, col_dims):
    hw = with_array(fast_memory(), rows, cols, row_dims, col_dims)
    cost = estimate(hw, Layer("l", m, k, n)).layers[0]
    extent = {"M": m, "K": k, "N": n}
    steps = []
    for dr in row_dims:
        for dc in col_dims:
            if dr == dc:
                unrolled = {dr: math.ceil(extent[dr] / (rows * cols))}
            else:
                unrolled = {dr: math.ceil(extent[dr] / rows), dc: math.ceil(extent[dc] / cols)}
            steps.append(math.prod(unrolled.get(d, extent[d]) for d in "MKN"))
    assert cost.compute_cycles == pytest.approx(min(steps))
    assert cost.utilisation == pytest.approx(m * k * n / (min(steps) * rows * cols))
    assert cost.compute_cycles >= m * k * n / (rows * cols) * (1 - 1e-12)   # never faster
    assert cost.cycles >= max(cost.compute_cycles, *cost.level_cycles.values())


@pytest.mark.parametrize("name", ["horowitz-45nm", "edge-npu"])
def test_a_preset_without_an_array_issues_at_the_peak(name):
    hw = hwmodel.load(name)
    assert hw.compute.array is None
    t = hw.compute.native_type
    kind = "int" if t.startswith("int") else "fp"
    layer = Layer("l", 10, 300, 7, value_bits=int(t[len(kind):]),
                  activation_bits=int(t[len(kind):]), kind=kind)
    cost = estimate(hw, layer).layers[0]
    assert cost.compute_cycles == pytest.approx(layer.dense_macs / hw.compute.macs_per_cycle)
    assert cost.utilisation == pytest.approx(1.0)


def test_array_yaml_round_trip_and_errors():
    hw = with_array(make_hw(), 12, 14, ("K", "M"), ("N",))
    again = hwmodel.Hardware.from_yaml(hw.to_yaml())
    assert again.compute.array == PEArray(12, 14, ("K", "M"), ("N",))
    text = hw.to_yaml()
    for bad, match in (("cols: 14", "cols: 0"), ("- K\n", "- Q\n")):
        with pytest.raises(hwmodel.HardwareError, match="array"):
            hwmodel.Hardware.from_yaml(text.replace(bad, match, 1))
    with pytest.raises(hwmodel.HardwareError, match="does not divide macs_per_cycle"):
        hwmodel.Hardware.from_yaml(text.replace("macs_per_cycle: 168", "macs_per_cycle: 100"))


# ---------------------------------------------------------------- load imbalance

def skip_array(rows=12, cols=14):
    """168 PEs that both spread M (round-robin, a pass of 168 rows at a time) and skip zeros."""
    return with_array(fast_memory(support="skip"), rows, cols, ("M",), ("M",))


def pruned_layer(mask, n):
    m, k = mask.shape
    rows = mask.sum(axis=1)
    nnz = int(rows.sum())
    return Layer("fc", m, k, n, weight_value_bytes=nnz * 4.0, weight_metadata_bytes=0.0,
                 effective_macs=nnz * n, stored_macs=nnz * n, structure="unstructured",
                 row_nnz=rows)


def busiest(rows, pes):
    passes = -(-len(rows) // pes)
    padded = np.zeros(passes * pes, int)
    padded[:len(rows)] = rows
    return int(padded.reshape(passes, pes).max(axis=1).sum())


def test_a_dense_layer_loses_nothing_to_imbalance():
    hw = skip_array()
    dense = np.ones((336, 256), bool)
    with_rows = estimate(hw, pruned_layer(dense, 4)).layers[0]
    without = estimate(hw, dataclasses.replace(pruned_layer(dense, 4), row_nnz=None)).layers[0]
    assert with_rows.compute_cycles == without.compute_cycles == 2 * 256 * 4
    assert with_rows.utilisation == pytest.approx(1.0)


@pytest.mark.parametrize("k, loss", [(512, 1.3), (64, 1.8)])
def test_unstructured_90_percent_on_168_pes_follows_the_busiest_pe(k, loss):
    """Rows of a 90 %-sparse weight hold Binomial(K, 0.1) nonzeros; each pass of 168 rows
    lasts as long as its fullest row, so the array runs at a fraction of its balanced rate."""
    rng = np.random.default_rng(0)
    mask = rng.random((1008, k)) < 0.1                   # 6 passes of 168 rows
    layer = pruned_layer(mask, 16)
    hw = skip_array()
    imbalanced = estimate(hw, layer).layers[0]
    balanced = estimate(hw, dataclasses.replace(layer, row_nnz=None)).layers[0]
    rows = mask.sum(axis=1)
    assert balanced.compute_cycles == pytest.approx(rows.sum() * 16 / 168)
    assert imbalanced.compute_cycles == pytest.approx(busiest(rows, 168) * 16)
    ratio = imbalanced.compute_cycles / balanced.compute_cycles
    assert ratio > loss                                  # measured: 1.36 at K=512, 2.02 at K=64
    assert imbalanced.utilisation == pytest.approx(1 / ratio)
    assert imbalanced.executed_macs == balanced.executed_macs == layer.effective_macs
    # rows of equal counts (N:M-like) are balanced again
    even = np.zeros_like(mask)
    even[:, :k // 10] = True
    assert estimate(hw, pruned_layer(even, 16)).layers[0].utilisation == pytest.approx(1.0)


def test_imbalance_per_group_and_when_the_array_does_not_split_m():
    rng = np.random.default_rng(1)
    mask = rng.random((336, 100)) < 0.2
    layer = dataclasses.replace(pruned_layer(mask, 8), groups=2)  # two groups of 168 rows
    hw = skip_array()
    cost = estimate(hw, layer).layers[0]
    rows = mask.sum(axis=1)
    expected = (rows[:168].max() + rows[168:].max()) * 8
    assert cost.compute_cycles == pytest.approx(expected)
    along_n = with_array(fast_memory(support="skip"), 12, 14, ("N",), ("N",))
    plain = estimate(along_n, pruned_layer(mask, 168)).layers[0]   # N split, not M: balanced
    assert plain.compute_cycles == pytest.approx(rows.sum() * 168 / 168)
