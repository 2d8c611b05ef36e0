"""The cost model: a pure function of (hardware, layer, mapping) -> LayerCost.

Traffic. Each tensor lives in the chain of levels that hold it, DRAM first: the weight payload
(values) in the levels holding "weights", its metadata there and in levels holding
"weight_metadata" only; both move at the weights' reuse, each with its own bytes. Into each
level a tensor crosses ``reuse`` times its size from its parent (a read there, a write here, a
link hop); outputs leave as partial sums ``reuse - 1`` times at accumulator width (and come
back) plus once as final values. The innermost holder also serves the MACs: per MAC one
weight value (and its metadata in proportion), one input and a partial-sum read and write,
each divided by the compute array's spatial fanout; an element read alone costs whole words
of the level (``MemoryLevel.word_bits``). With reuse 1 everywhere DRAM sees exactly the
compulsory traffic: weights and inputs read once, outputs written once. A tensor the layer
declares ``resident`` (already held by the outermost on-chip level: the previous layer's
output, a weight that stays cached between calls; or an output that stays there for the next
layer) skips that compulsory crossing with DRAM; re-fetches (reuse above 1) still cross.

Compute. The layer's compute mode ("skip", "gate" or "none": ``Layer.compute``, else the
hardware's support) decides what zeros cost. Dense MACs take the PE array's steps (ceil(D /
axis) per unrolled dimension, ``PEArray``), so the rate is peak x utilisation. Skip: the
stored nonzero MACs (x activation density) over the structure's efficiency, plus its decode
cycles per stored value; when the array splits M and the layer gives ``row_nnz``, each pass
of P rows lasts as long as its busiest row (load imbalance). Gate and none: the dense steps.
Per-rank metadata decoders (``Sparsity.decode_energy`` / ``decode_bits_per_cycle``) run
beside the MACs: the compute time is the slower of the two.

Gating never saves time: a gated MAC keeps its cycle and its operand slot at the innermost
level's port; only the energy of the access and of the MAC is saved. So a gated layer's
cycles equal those of the same layer with no sparsity support; ``executed_macs`` (MACs that
drew energy) is lower, ``issued_macs`` (MAC slots spent) is not.

Time. Transfers overlap compute (double buffering): the steady state takes the largest of
the compute time and each level's port time (bytes over bandwidth; separate read/write ports
where given). Filling the first tile before compute starts and draining the last outputs
after it ends are not overlapped: the operands of the PE array's first step travel from DRAM
down every hop to the innermost level holding them, and the last step's outputs travel back
up (``fill_and_drain``). Software on a host adds a fixed cost per call (dispatch, kernel
call: ``call_cycles``), never overlapped. latency = max(compute, ports) + fill + drain +
calls; the bound is whichever of compute, the ports and the calls is largest.

Host software (fields a host preset gives, ``Layer.op`` saying which apply): a dense product
runs at ``dense_efficiency[op]`` of the peak, and a non-GEMM op ("other") takes at least its
bytes over the rate such ops stream at (``other_bytes_per_cycle``): both raise the compute
floor. A dense product timed by a measured ``dense_efficiency`` (``library_product``) keeps
its per-MAC operand accesses out of the port times (the library blocks them in registers, and
the measured rate already includes them; their energy is still counted), and packs all of W
before it computes: W's fetch leaves the steady state for the fill, which lasts the longer of
that fetch (hop by hop from where W lives) and ``weight_cycles[op]`` per weight element (the
packing work, whatever N: what makes a small-batch GEMM slower per MAC).

Energy. Bytes times pJ/byte at every level, plus MACs times MAC energy (skipped MACs free,
gated ones their fraction), plus metadata decoding, plus static power times time.

The core works on numpy arrays of reuse factors so the mapping search prices many mappings
in one call; ``evaluate`` prices one.
"""

import math
from dataclasses import dataclass

import numpy as np

from .hardware import OPERANDS, TENSORS
from .result import LayerCost

OBJECTIVES = ("energy", "latency", "edp")


@dataclass(frozen=True)
class ComputeSide:
    """Mapping-independent figures of one group.

    cycles: the compute floor (MAC steps, or the metadata decoders if slower);
    mac_pj / decode_pj: MAC and decode energy; executed: MACs that drew energy; issued: MAC
    slots spent (skip: the executed ones; gate/none: every dense MAC); utilisation: issued
    over cycles x peak; spatial_utilisation: the array's share used by the dense steps;
    imbalance: the M passes' busiest-row work over the balanced work (1 without ``row_nnz``
    or without an array splitting M)."""

    mode: str
    cycles: float
    mac_pj: float
    decode_pj: float
    executed: float
    issued: float
    utilisation: float
    spatial_utilisation: float
    imbalance: float


@dataclass(frozen=True)
class Priced:
    """Per-group costs; arrays broadcast over candidate mappings.

    reads/writes/energy_pj are keyed by (level index, tensor); busy_cycles is per level."""

    reads: dict
    writes: dict
    energy_pj: dict
    busy_cycles: list
    side: ComputeSide
    fill_cycles: float
    drain_cycles: float
    cycles: object
    static_pj: object
    total_pj: object


def array_steps(array, shape):
    """(spatial utilisation, PEs per dimension {M, K, N}) of a GEMM ``shape`` (M, K, N) on
    ``array`` (a PEArray or None): the unrolling with the fewest steps, first listed on ties.
    PEs per dimension: how many PEs its extent is spread over (1 where not unrolled)."""
    if array is None:
        return 1.0, dict.fromkeys("MKN", 1)
    extent = dict(zip("MKN", shape))
    best = None
    for dr in array.row_dims:
        for dc in array.col_dims:
            pes = dict.fromkeys("MKN", 1)
            if dr == dc:
                pes[dr] = array.pes
            else:
                pes[dr], pes[dc] = array.rows, array.cols
            steps = math.prod(math.ceil(extent[d] / pes[d]) for d in "MKN")
            if best is None or steps < best[0]:
                best = (steps, pes)
    steps, pes = best
    return math.prod(shape) / (steps * array.pes), pes


def row_share(layer, pes):
    """Work of the busiest rows over the dense work, with M spread round-robin over ``pes``
    PEs: per group, the sum over passes of P rows of the pass's largest ``row_nnz``, over
    passes x K; averaged over groups. 1 for a dense weight."""
    rows = np.asarray(layer.row_nnz, np.int64).reshape(layer.groups, -1)
    mg = rows.shape[1]
    passes = -(-mg // pes)
    padded = np.zeros((layer.groups, passes * pes), np.int64)
    padded[:, :mg] = rows
    busiest = padded.reshape(layer.groups, passes, pes).max(axis=2).sum(axis=1)
    return float(np.mean(busiest / (passes * layer.K)))


def weight_read_share(mode, layer):
    """Share of the weight's per-MAC reads performed: zero activations read no weight when the
    datapath skips or gates them."""
    return layer.activation_density if mode != "none" else 1.0


def dense_efficiency(hw, layer):
    """Share of the peak a dense product of the layer's ``op`` reaches
    (``Compute.dense_efficiency``; 1 for a compressed weight, whose format's efficiency
    applies, and for an op not listed)."""
    if layer.structure != "dense" or layer.op is None:
        return 1.0
    return hw.compute.dense_efficiency.get(layer.op, 1.0)


def library_product(hw, layer):
    """Whether a library times the layer's product (a dense weight, an op with a measured
    ``dense_efficiency``): it blocks the per-MAC operand reads in registers and packs all of W
    before computing (its fill is the whole weight)."""
    return layer.structure == "dense" and layer.op in hw.compute.dense_efficiency


def stream_cycles(hw, layer):
    """Per group: an "other" op's bytes (read + written) over the rate its kind streams at
    (``Compute.other_ops``), else the rate such ops stream at (``other_bytes_per_cycle``); 0
    for the products or without a rate."""
    if layer.op != "other":
        return 0.0
    measured = hw.compute.other_ops.get(layer.other_op)
    rate = hw.compute.other_bytes_per_cycle if measured is None else measured.bytes_per_cycle
    if rate is None:
        return 0.0
    return (layer.input_bytes + layer.output_bytes) / layer.groups / rate


def call_cycles(hw, layer):
    """The layer's fixed cost: ``calls`` times the cycles of one call of its kind
    (``Layer.call_kind``, ``Compute.call_cycles``; an "other" op of a kind listed in
    ``Compute.other_ops``: that kind's), whatever the mapping."""
    kind = layer.call_kind
    if kind is None:
        return 0.0
    measured = hw.compute.other_ops.get(layer.other_op) if kind == "other" else None
    if measured is not None:
        return layer.calls * measured.call_cycles
    calls = hw.compute.call_cycles
    if kind == "sparse_conv" and kind not in calls:
        kind = "sparse"                # a description that does not tell convs apart
    return layer.calls * calls.get(kind, 0.0)


def compute_side(hw, layer):
    """Mapping-independent per-group figures (see the module docstring)."""
    c, s, g = hw.compute, hw.compute.sparsity, layer.groups
    mode = layer.compute_mode(hw)
    e = c.mac_energy(layer.kind, layer.mac_bits)
    dense = layer.dense_macs / g
    issued = layer.stored_macs * layer.activation_density / g
    spatial, pes = array_steps(c.array, layer.group_shape)
    m_pes = pes["M"]
    dense_cycles = dense / c.macs_per_cycle / spatial / dense_efficiency(hw, layer)
    imbalance = 1.0
    if mode == "skip":
        work = issued / dense
        if layer.row_nnz is not None and m_pes > 1 and layer.stored_macs:
            busiest = layer.activation_density * row_share(layer, m_pes)
            imbalance, work = busiest / work, busiest
        mac_cycles = dense_cycles * work
        if layer.structure != "dense":
            stored_values = layer.stored_macs / max(layer.N, 1) / g
            mac_cycles = (mac_cycles / s.efficiency.get(layer.structure, 1.0)
                          + stored_values * s.decode_cycles.get(layer.structure, 0.0))
        mac_pj, executed, slots = issued * e, issued, issued
    elif mode == "gate":
        fraction = s.gated_energy_fraction or 0.0
        mac_cycles = dense_cycles
        mac_pj, executed, slots = e * (issued + (dense - issued) * fraction), issued, dense
    else:
        mac_cycles, mac_pj, executed, slots = dense_cycles, dense * e, dense, dense
    # per-rank decoders: metadata decoded each time it is read beside its values
    reads = layer.N * weight_read_share(mode, layer) / c.spatial_fanout.get("weights", 1.0) / g
    decode_pj, decode_cycles = 0.0, 0.0
    for rep, bits in layer.rank_metadata:
        decode_pj += bits * reads * s.decode_energy.get(rep, 0.0)
        if rep in s.decode_bits_per_cycle:
            decode_cycles = max(decode_cycles, bits * reads / s.decode_bits_per_cycle[rep])
    cycles = max(mac_cycles, decode_cycles, stream_cycles(hw, layer))
    utilisation = slots / (cycles * c.macs_per_cycle) if cycles else 1.0
    return ComputeSide(mode, cycles, mac_pj, decode_pj, executed, slots, utilisation, spatial,
                       imbalance)


def _resident(layer, tensor):
    """Whether ``tensor`` (one of TENSORS) is on chip across the layer's boundary
    (``Layer.resident``): no compulsory traffic with the outermost level (DRAM)."""
    return ("weights" if tensor == "weight_metadata" else tensor) in layer.resident


def _serving(hw, layer, tensor, chain):
    """The level serving ``tensor``'s per-MAC reads: the innermost level holding it; for an
    operand the layer's kernel streams whole (``Layer.streamed``: no tiling), the innermost
    level holding it that can hold one call's share of the matrix the kernel walks (the GEMM
    view: X is K × N, im2col's repeats included), else the outermost."""
    operand = "weights" if tensor == "weight_metadata" else tensor
    if operand not in layer.streamed:
        return chain[-1]
    mg, k, n = layer.group_shape
    act = layer.activation_bits / 8
    matrix = {"weights": layer.weight_bytes, "inputs": layer.groups * k * n * act,
              "outputs": layer.M * n * act}[operand]
    per_call = matrix / max(layer.calls, 1)
    fits = [i for i in chain if hw.memory[i].capacity_bytes is not None
            and hw.memory[i].capacity_bytes >= per_call]
    return fits[-1] if fits else chain[0]


def _chain(hw, tensor):
    return [i for i, level in enumerate(hw.memory) if level.holds_tensor(tensor)]


def fill_and_drain(hw, layer):
    """(fill, drain) cycles of one group: the operands of the array's first step (each
    unrolled dimension's PEs, at most the tensor; without an array, one weight and one input
    per MAC of the peak rate) read from DRAM and passed down, hop by hop, to the innermost
    level holding them before compute starts; the last step's outputs written back up after it
    ends. Double buffering hides every later tile behind the steady state."""
    c, g = hw.compute, layer.groups
    mg, k, n = layer.group_shape
    _, pes = array_steps(c.array, layer.group_shape)
    if c.array is None:
        lanes, pes = c.macs_per_cycle, dict.fromkeys("MKN", 1)
    else:
        lanes = c.macs_per_cycle / c.array.pes
    step = {d: min(pes[d], e) for d, e in zip("MKN", (mg, k, n))}
    weights = min(1.0, step["M"] * step["K"] * lanes / (mg * k))       # share of each tensor
    if library_product(hw, layer):
        weights = 1.0       # the library packs all of W before it starts
    share = {"weights": weights, "weight_metadata": weights,
             "inputs": min(1.0, step["K"] * step["N"] * lanes / (k * n)),
             "outputs": min(1.0, step["M"] * step["N"] * lanes / (mg * n))}
    size = {"weights": layer.weight_value_bytes / g,
            "weight_metadata": layer.weight_metadata_bytes / g,
            "inputs": layer.input_bytes / g, "outputs": layer.output_bytes / g}
    fill = drain = packed = 0.0
    for t, fraction in share.items():
        chain = _chain(hw, t)
        for parent, child in zip(chain, chain[1:]):
            if parent == 0 and _resident(layer, t):
                continue                    # already on chip / stays there
            up, down = hw.memory[parent], hw.memory[child]
            if t == "outputs":
                drain += size[t] * fraction / min(down.read_rate, up.write_rate)
            elif t in ("weights", "weight_metadata") and library_product(hw, layer):
                packed += size[t] / min(up.read_rate, down.write_rate)
            else:
                fill += size[t] * fraction / min(up.read_rate, down.write_rate)
    if library_product(hw, layer):          # packing W: its fetch or its per-element work
        packed = max(packed, mg * k * c.weight_cycles.get(layer.op, 0.0))
    return fill + packed, drain


def _per_mac(hw, layer, tensor, level, executed, share):
    """(reads, writes) at ``tensor``'s innermost ``level`` serving ``executed`` MACs of which
    a ``share`` of the weight reads happen."""
    g, fanout = layer.groups, hw.compute.spatial_fanout
    if not executed:
        return 0.0, 0.0
    if tensor == "weights":
        value = layer.value_bits / 8
        words = level.access_bytes(value) / value
        return (layer.weight_value_bytes / g * layer.N * share * words
                / fanout.get("weights", 1.0), 0.0)
    if tensor == "weight_metadata":
        return (layer.weight_metadata_bytes / g * layer.N * share / fanout.get("weights", 1.0),
                0.0)
    if tensor == "inputs":
        return (executed * level.access_bytes(layer.activation_bits / 8)
                / fanout.get("inputs", 1.0), 0.0)
    per_mac = (executed * level.access_bytes(layer.accumulator_bits / 8)
               / fanout.get("outputs", 1.0))
    return per_mac, per_mac


def price(hw, layer, reuse):
    """Cost of one group of ``layer`` given reuse[i] (..., 3) for each level index i >= 1."""
    g = layer.groups
    mg, _, n = layer.group_shape
    size = {"weights": layer.weight_value_bytes / g,
            "weight_metadata": layer.weight_metadata_bytes / g,
            "inputs": layer.input_bytes / g, "outputs": layer.output_bytes / g}
    psums = mg * n * layer.accumulator_bits / 8
    side = compute_side(hw, layer)
    library = library_product(hw, layer)
    reads, writes, link, slots = {}, {}, {}, {}

    def add(table, key, value):
        table[key] = table.get(key, 0.0) + value

    for t in TENSORS:
        column = OPERANDS.index("weights" if t == "weight_metadata" else t)
        chain = _chain(hw, t)
        for parent, child in zip(chain, chain[1:]):
            r = reuse[child][..., column]
            first = 0.0 if parent == 0 and _resident(layer, t) else 1.0   # compulsory share
            if t == "outputs":
                spill = psums * (r - 1)
                up = spill + size[t] * first
                add(reads, (child, t), up)
                add(writes, (parent, t), up)
                add(reads, (parent, t), spill)
                add(writes, (child, t), spill)
                add(link, (child, t), up + spill)
            else:
                moved = size[t] * (r - 1 + first)
                add(reads, (parent, t), moved)
                add(writes, (child, t), moved)
                add(link, (child, t), moved)
        inner = _serving(hw, layer, t, chain)
        level = hw.memory[inner]
        performed = _per_mac(hw, layer, t, level, side.executed,
                             weight_read_share(side.mode, layer))
        # a gated access keeps its slot at the port: it takes the time of "none"
        slots[(inner, t)] = _per_mac(hw, layer, t, level, layer.dense_macs / g, 1.0) \
            if side.mode == "gate" else performed
        if library:         # the library's register blocking: in its measured efficiency
            slots[(inner, t)] = (0.0, 0.0)
        transfers = (reads.get((inner, t), 0.0), writes.get((inner, t), 0.0))
        reads[(inner, t)], writes[(inner, t)] = (a + b for a, b in zip(transfers, performed))
        slots[(inner, t)] = tuple(a + b for a, b in zip(transfers, slots[(inner, t)]))

    energy, busy = {}, []
    for i, level in enumerate(hw.memory):
        r_all = w_all = 0.0
        for t in TENSORS:
            r, w, hop = reads.get((i, t), 0.0), writes.get((i, t), 0.0), link.get((i, t), 0.0)
            energy[(i, t)] = (r * level.read_pj_per_byte + w * level.write_pj_per_byte
                              + hop * level.link_pj_per_byte)
            r_slot, w_slot = slots.get((i, t), (r, w))
            if library and t in ("weights", "weight_metadata"):
                r_slot = w_slot = 0.0       # W moves in the fill: packed before computing
            r_all, w_all = r_all + r_slot, w_all + w_slot
        busy.append(level.busy_cycles(r_all, w_all))
    fill, drain = fill_and_drain(hw, layer)
    steady = side.cycles
    for b in busy:
        steady = np.maximum(steady, b)
    cycles = steady + fill + drain + call_cycles(hw, layer) / g
    static_pj = hw.static_power_w * cycles / hw.clock_hz * 1e12
    total = side.mac_pj + side.decode_pj + static_pj + sum(energy.values())
    return Priced(reads, writes, energy, busy, side, fill, drain, cycles, static_pj, total)


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
        out = {name: dict.fromkeys(TENSORS, 0.0) for name in names}
        for (i, t), v in values.items():
            out[names[i]][t] = float(v) * g * scale
        return out

    busy = {name: float(b) * g for name, b in zip(names, p.busy_cycles)}
    side = p.side
    compute = side.cycles * g
    cycles = float(p.cycles) * g
    slowest = max(busy, key=busy.get)
    bound = "compute" if compute >= busy[slowest] else slowest
    calls = call_cycles(hw, layer)
    if calls > max(compute, busy[slowest]):
        bound = "calls"
    return LayerCost(
        name=layer.name, cycles=cycles, seconds=cycles / hw.clock_hz, compute_cycles=compute,
        level_cycles=busy, bound_cycles={bound: cycles},
        mac_energy_j=side.mac_pj * g * 1e-12, static_energy_j=float(p.static_pj) * g * 1e-12,
        memory_energy_j=table(p.energy_pj, 1e-12), reads_bytes=table(p.reads),
        writes_bytes=table(p.writes),
        dense_macs=float(layer.dense_macs), effective_macs=float(layer.effective_macs),
        executed_macs=side.executed * g, mapping=mapping,
        fill_cycles=p.fill_cycles * g, drain_cycles=p.drain_cycles * g,
        decode_energy_j=side.decode_pj * g * 1e-12, issued_macs=side.issued * g,
        mac_slots=compute * hw.compute.macs_per_cycle, call_cycles=calls)
