"""The cost model: a pure function of (hardware, layer, mapping) -> LayerCost.

Traffic. Each operand lives in the chain of levels that hold it, DRAM first. Into each level
it crosses ``reuse`` times its size from its parent (a read there, a write here, a link hop);
outputs leave as partial sums ``reuse - 1`` times at accumulator width (and come back) plus
once as final values. The innermost holder also serves the MACs: per executed MAC one weight
(values and metadata in proportion), one input and a partial-sum read and write, each divided
by the compute array's spatial fanout. With reuse 1 everywhere DRAM sees exactly the
compulsory traffic: weights and inputs read once, outputs written once.

Time. MACs issued at the peak rate (skip: stored nonzero MACs over the structure's efficiency,
plus the structure's decode cycles per stored weight value; gate/none: every dense MAC) against each level's bytes over its bandwidth; transfers overlap
compute (double buffering), so a layer takes the largest and is bound by it (the roofline).

Energy. Bytes times pJ/byte at every level, plus MACs times MAC energy (skipped MACs free,
gated ones their fraction), plus static power times time.

The core works on numpy arrays of reuse factors so the mapping search prices many mappings
in one call; ``evaluate`` prices one.
"""

from dataclasses import dataclass

import numpy as np

from .hardware import OPERANDS
from .result import LayerCost

OBJECTIVES = ("energy", "latency", "edp")


@dataclass(frozen=True)
class Priced:
    """Per-group costs; arrays broadcast over candidate mappings.

    reads/writes/energy_pj are keyed by (level index, operand); busy_cycles is per level."""

    reads: dict
    writes: dict
    energy_pj: dict
    busy_cycles: list
    compute_cycles: float
    mac_pj: float
    executed_macs: float
    cycles: object
    static_pj: object
    total_pj: object


def compute_side(hw, layer):
    """Mapping-independent per-group figures: (compute cycles, MAC pJ, executed MACs)."""
    c, s, g = hw.compute, hw.compute.sparsity, layer.groups
    e = c.mac_energy(layer.kind, layer.mac_bits)
    issued = layer.stored_macs * layer.activation_density
    dense = layer.dense_macs
    if s.support == "skip":
        if layer.structure == "dense":
            return issued / c.macs_per_cycle / g, issued * e / g, issued / g
        efficiency = s.efficiency.get(layer.structure, 1.0)
        stored_values = layer.stored_macs / max(layer.N, 1)
        cycles = (issued / (c.macs_per_cycle * efficiency)
                  + stored_values * s.decode_cycles.get(layer.structure, 0.0))
        return cycles / g, issued * e / g, issued / g
    if s.support == "gate":
        mac_pj = e * (issued + (dense - issued) * s.gated_energy_fraction)
        return dense / c.macs_per_cycle / g, mac_pj / g, issued / g
    return dense / c.macs_per_cycle / g, dense * e / g, dense / g


def price(hw, layer, reuse):
    """Cost of one group of ``layer`` given reuse[i] (..., 3) for each level index i >= 1."""
    g = layer.groups
    mg, _, n = layer.group_shape
    size = {"weights": layer.weight_bytes / g, "inputs": layer.input_bytes / g,
            "outputs": layer.output_bytes / g}
    psums = mg * n * layer.accumulator_bits / 8
    compute_cycles, mac_pj, executed = compute_side(hw, layer)
    skips = hw.compute.sparsity.support != "none"      # zero MACs read no operands
    fanout = hw.compute.spatial_fanout
    reads, writes, link = {}, {}, {}

    def add(table, key, value):
        table[key] = table.get(key, 0.0) + value

    for oi, o in enumerate(OPERANDS):
        chain = [i for i, level in enumerate(hw.memory) if o in level.holds]
        for parent, child in zip(chain, chain[1:]):
            r = reuse[child][..., oi]
            if o == "outputs":
                spill = psums * (r - 1)
                up = spill + size[o]
                add(reads, (child, o), up)
                add(writes, (parent, o), up)
                add(reads, (parent, o), spill)
                add(writes, (child, o), spill)
                add(link, (child, o), up + spill)
            else:
                moved = size[o] * r
                add(reads, (parent, o), moved)
                add(writes, (child, o), moved)
                add(link, (child, o), moved)
        inner = (chain[-1], o)
        if o == "weights":
            share = layer.activation_density if skips else 1.0
            add(reads, inner, (size[o] * n * share if executed else 0.0) / fanout.get(o, 1.0))
        elif o == "inputs":
            add(reads, inner, executed * layer.activation_bits / 8 / fanout.get(o, 1.0))
        else:
            per_mac = executed * layer.accumulator_bits / 8 / fanout.get(o, 1.0)
            add(reads, inner, per_mac)
            add(writes, inner, per_mac)

    energy, busy = {}, []
    for i, level in enumerate(hw.memory):
        moved = 0.0
        for o in OPERANDS:
            r, w, hop = reads.get((i, o), 0.0), writes.get((i, o), 0.0), link.get((i, o), 0.0)
            energy[(i, o)] = (r * level.read_pj_per_byte + w * level.write_pj_per_byte
                              + hop * level.link_pj_per_byte)
            moved = moved + r + w
        busy.append(moved / level.bandwidth_bytes_per_cycle)
    cycles = compute_cycles
    for b in busy:
        cycles = np.maximum(cycles, b)
    static_pj = hw.static_power_w * cycles / hw.clock_hz * 1e12
    total = mac_pj + static_pj + sum(energy.values())
    return Priced(reads, writes, energy, busy, compute_cycles, mac_pj, executed, cycles,
                  static_pj, total)


def evaluate(hw, layer, mapping):
    """The cost of ``layer`` on ``hw`` under ``mapping``: a pure function returning a LayerCost."""
    layer = layer.on(hw)
    on_chip = hw.memory[1:]
    if len(mapping.levels) != len(on_chip) or any(
            lm.level != level.name for lm, level in zip(mapping.levels, on_chip)):
        raise ValueError("mapping levels do not match the hardware's on-chip levels")
    reuse = [None] + [np.array(lm.reuse, float) for lm in mapping.levels]
    p = price(hw, layer, reuse)
    g = layer.groups
    names = [level.name for level in hw.memory]

    def table(values, scale=1.0):
        out = {name: dict.fromkeys(OPERANDS, 0.0) for name in names}
        for (i, o), v in values.items():
            out[names[i]][o] = float(v) * g * scale
        return out

    busy = {name: float(b) * g for name, b in zip(names, p.busy_cycles)}
    compute = p.compute_cycles * g
    cycles = float(p.cycles) * g
    slowest = max(busy, key=busy.get)
    bound = "compute" if compute >= busy[slowest] else slowest
    return LayerCost(
        name=layer.name, cycles=cycles, seconds=cycles / hw.clock_hz, compute_cycles=compute,
        level_cycles=busy, bound_cycles={bound: cycles},
        mac_energy_j=p.mac_pj * g * 1e-12, static_energy_j=float(p.static_pj) * g * 1e-12,
        memory_energy_j=table(p.energy_pj, 1e-12), reads_bytes=table(p.reads),
        writes_bytes=table(p.writes),
        dense_macs=float(layer.dense_macs), effective_macs=float(layer.effective_macs),
        executed_macs=p.executed_macs * g, mapping=mapping)
