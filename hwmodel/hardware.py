"""Hardware description: compute, memory levels and static power, as validated dataclasses.

The tree is ``Hardware(compute=Compute(sparsity=Sparsity(...)), memory=(MemoryLevel, ...))``.
Values are stored in one unit each (bytes, bytes/cycle, pJ/byte, Hz, W, pJ per MAC); the YAML
form, with the units of its sources, lives in ``hwmodel.schema``. Every check names the field
by its YAML path (``memory[1].bandwidth``) and, when the text came from a file, the file and
line, because a description is usually typed in by hand from a paper's table.
"""

import math
import numbers
import re
from dataclasses import dataclass, field

import numpy as np
import yaml

from .formats.spec import REPRESENTATIONS
from .yamlsource import SourceError, shown

OPERANDS = ("weights", "inputs", "outputs")
# The keys of the per-level results: "weights" is the weight payload (its values), reported
# apart from its "weight_metadata".
TENSORS = ("weights", "weight_metadata", "inputs", "outputs")
# What a memory level may hold: "weights" (payload and metadata), or the two apart,
# "weight_payload" (values only) and/or "weight_metadata" (a metadata buffer, as in
# Sparseloop), and "inputs", "outputs".
HOLDABLE = ("weights", "weight_payload", "weight_metadata", "inputs", "outputs")
_WEIGHT_PARTS = {"weights": ("weights", "weight_payload"),
                 "weight_metadata": ("weights", "weight_metadata")}
DIMS = ("M", "K", "N")
SPARSE_SUPPORT = ("skip", "gate", "none")
SPARSE_STRUCTURES = ("unstructured", "block", "vector")
# What runs a layer's product on a host (``Layer.op``): a weight GEMM of a Linear, of a conv
# with groups=1, of a depthwise/grouped conv, a product of two activations, or any other op
# (pooling, elementwise, normalisation, copies). Each may have its own dense efficiency and
# fixed cost per call; a layer whose weight is compressed pays the "sparse" call cost, a conv
# the "sparse_conv" one where listed (its padding and stride phases cost more Python).
DENSE_OPS = ("linear", "conv", "depthwise", "matmul")
OPS = DENSE_OPS + ("other",)
CALL_KINDS = OPS + ("sparse", "sparse_conv")
_MAC_TYPE = re.compile(r"^(int|fp)([1-9]|[1-9][0-9]|1[01][0-9]|12[0-8])$")     # 1 to 128 bits


class HardwareError(SourceError):
    """A bad hardware description; ``field`` is the YAML path, ``file``/``line`` where known."""


@dataclass(frozen=True)
class Sparsity:
    """What the datapath does with a zero operand, and how well it copes with each pattern.

    support: "skip" (a zero MAC costs neither a cycle nor energy), "gate" (it costs its cycle
    and ``gated_energy_fraction`` of its energy) or "none". efficiency: fraction of peak MAC
    rate kept when skipping, per sparsity structure (load imbalance, gathers).
    decode_cycles: cycles per stored weight value when skipping, whatever the batch N
    (reading and decoding its index, starting its row or vector): the cost that makes a
    sparse kernel's rate per MAC grow with N.

    Per-rank decoding of a layer's format (``Layer.rank_metadata``), keyed by representation
    (U, B, CP, UOP, RLE): ``decode_energy`` pJ per metadata bit decoded and
    ``decode_bits_per_cycle`` the decoder's throughput. Metadata is decoded where it is read
    next to its values, at the innermost level holding it (as often as the weight is read
    there). Each rank's decoder is a pipeline stage beside the MACs: the slowest rank bounds
    the compute time, it does not add to it. A representation not listed costs nothing
    (default: Sparseloop prices metadata as storage accesses only, which we do at every level).
    """

    support: str = "none"
    gated_energy_fraction: float | None = None
    efficiency: dict = field(default_factory=lambda: dict.fromkeys(SPARSE_STRUCTURES, 1.0))
    decode_cycles: dict = field(default_factory=lambda: dict.fromkeys(SPARSE_STRUCTURES, 0.0))
    decode_energy: dict = field(default_factory=dict)
    decode_bits_per_cycle: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PEArray:
    """A rows x cols array of PEs, each ``macs_per_cycle / (rows * cols)`` MACs wide.

    row_dims / col_dims: the GEMM dimensions ("M", "K", "N") each axis may unroll. Per layer
    the cost model picks one for each axis (the same one for both: it spreads over rows x cols)
    so as to need the fewest array steps: ceil(D_r / rows) * ceil(D_c / cols) * the rest (per
    group). Utilisation is the layer's MACs over steps * rows * cols, e.g. M = 10 on 12 rows
    uses 10/12 of them. Rows of W (M) spread over PEs go round-robin: pass t holds rows
    t*P ... t*P + P - 1, and with skipping each pass lasts as long as its busiest PE (from the
    layer's ``row_nnz``). K or N spread over PEs is taken as balanced (the average).
    """

    rows: int
    cols: int
    row_dims: tuple = ("M",)
    col_dims: tuple = ("N",)

    def __post_init__(self):
        for key in ("row_dims", "col_dims"):
            value = getattr(self, key)
            if isinstance(value, (list, str)):
                object.__setattr__(self, key, tuple([value] if isinstance(value, str) else value))

    @property
    def pes(self):
        return self.rows * self.cols


@dataclass(frozen=True)
class OtherOp:
    """The measured costs of one kind of non-GEMM op on a host (``Compute.other_ops``):
    cycles of fixed cost per call, and the bytes (read + written) it streams per cycle."""

    call_cycles: float
    bytes_per_cycle: float


@dataclass(frozen=True)
class Compute:
    """The MAC array: peak rate, clock, energy per MAC by type ("int8", "fp32", ...).

    spatial_fanout[o]: how many MACs one read of operand o from its innermost memory level
    feeds (multicast, systolic forwarding, in-array reduction for outputs); 1 = every MAC
    reads its own operand.
    accumulator_bits: width of a partial sum as the buffers hold it and as it spills to outer
    levels (a layer's own ``accumulator_bits`` overrides it). Default 32.
    array: the PE array's shape and the layer dimensions its axes unroll (``PEArray``);
    None: MACs issue at ``macs_per_cycle`` whatever the layer's shape (no ceiling losses).

    Software on a host (all optional; a layer says which applies with ``Layer.op``):
    dense_efficiency: {op: share of ``macs_per_cycle``} a dense product of that op reaches
    (DENSE_OPS: a library's convs and depthwise convs are slower per MAC than the large GEMM
    the peak was measured on); 1 for an op not listed.
    weight_cycles: {op: cycles} per weight element a dense product of that op spends per
    call, whatever N (packing the weight into the library's panel layout): what makes a
    small-batch GEMM slower per MAC; 0 for an op not listed.
    call_cycles: {kind: cycles} of fixed cost per call (CALL_KINDS: dispatching a torch op
    of that kind, or one sparse kernel call), added once per call of the layer
    (``Layer.calls``), never overlapped; 0 for a kind not listed.
    other_bytes_per_cycle: how fast an "other" op streams its operands (bytes read + written
    per cycle, as measured); such an op takes at least its bytes over this rate. None: only
    the memory levels' bandwidths bound it.
    other_ops: {op kind: OtherOp} measured per kind of "other" op (``Layer.other_op``, named
    as the trace names it: "native_batch_norm", "max_pool2d"...): its own fixed cost per call
    and streaming rate, in place of ``call_cycles["other"]`` and ``other_bytes_per_cycle``.
    A batch norm's fixed cost is three times a ReLU's, and a max-pool streams at 1–4 GB/s
    where an add streams at 100: one figure for every op kind is far off for most.
    """

    macs_per_cycle: float
    clock_hz: float
    mac_energy_pj: dict
    sparsity: Sparsity = field(default_factory=Sparsity)
    spatial_fanout: dict = field(default_factory=lambda: dict.fromkeys(OPERANDS, 1.0))
    accumulator_bits: int = 32
    array: "PEArray | None" = None
    dense_efficiency: dict = field(default_factory=dict)
    weight_cycles: dict = field(default_factory=dict)
    call_cycles: dict = field(default_factory=dict)
    other_bytes_per_cycle: float | None = None
    other_ops: dict = field(default_factory=dict)

    @property
    def native_type(self):
        """The first MAC type listed: the datapath's own precision (e.g. "int8")."""
        return next(iter(self.mac_energy_pj))

    def mac_energy(self, kind, bits):
        """pJ per MAC of ``kind`` ("int"/"fp") at ``bits``; the next wider listed width if
        that one is not listed (a conservative stand-in), else ValueError."""
        exact = f"{kind}{bits}"
        if exact in self.mac_energy_pj:
            return self.mac_energy_pj[exact]
        wider = sorted((int(m.group(2)), key) for key in self.mac_energy_pj
                       if (m := _MAC_TYPE.match(key)) and m.group(1) == kind
                       and int(m.group(2)) >= bits)
        if not wider:
            raise ValueError(f"no MAC energy for {exact} (this hardware lists "
                             f"{', '.join(self.mac_energy_pj)}); set the layer's kind/bits")
        return self.mac_energy_pj[wider[0][1]]


@dataclass(frozen=True)
class MemoryLevel:
    """One level of the hierarchy. capacity_bytes is None only for the outermost (DRAM).

    bandwidth is the level's port, shared by every read and write it serves; optional
    read_/write_bandwidth cap each direction too (separate ports: bandwidth = their sum, which
    the YAML form fills in when it omits ``bandwidth``). Busy cycles = max((reads + writes) /
    bandwidth, reads / read_bandwidth, writes / write_bandwidth). link energy is paid per byte
    moved between this level and its parent (an on-chip network hop). word_bits: the access
    width; an operand element read or written alone (per MAC, at the innermost level) costs
    whole words (one byte of a 64-bit word costs 8 bytes); tile transfers stream whole words.
    None: byte granularity.
    holds: drawn from HOLDABLE (see there).
    """

    name: str
    capacity_bytes: float | None
    bandwidth_bytes_per_cycle: float
    read_pj_per_byte: float
    write_pj_per_byte: float
    holds: tuple
    link_pj_per_byte: float = 0.0
    read_bandwidth_bytes_per_cycle: float | None = None
    write_bandwidth_bytes_per_cycle: float | None = None
    word_bits: int | None = None

    def holds_tensor(self, tensor):
        """Whether this level holds ``tensor`` (one of TENSORS; "weights" = the payload)."""
        return any(h in self.holds for h in _WEIGHT_PARTS.get(tensor, (tensor,)))

    @property
    def operand_mask(self):
        """(weights, inputs, outputs) held, any part of the weights counting as weights."""
        return (any(h in self.holds for h in ("weights", "weight_payload", "weight_metadata")),
                "inputs" in self.holds, "outputs" in self.holds)

    @property
    def read_rate(self):
        """Bytes per cycle one direction of traffic can read from this level."""
        r, shared = self.read_bandwidth_bytes_per_cycle, self.bandwidth_bytes_per_cycle
        return shared if r is None else min(r, shared)

    @property
    def write_rate(self):
        """Bytes per cycle one direction of traffic can write into this level."""
        w, shared = self.write_bandwidth_bytes_per_cycle, self.bandwidth_bytes_per_cycle
        return shared if w is None else min(w, shared)

    def busy_cycles(self, reads, writes):
        """Cycles the port(s) need for ``reads`` and ``writes`` bytes."""
        busy = (reads + writes) / self.bandwidth_bytes_per_cycle
        if self.read_bandwidth_bytes_per_cycle is not None:
            busy = np.maximum(busy, reads / self.read_bandwidth_bytes_per_cycle)
        if self.write_bandwidth_bytes_per_cycle is not None:
            busy = np.maximum(busy, writes / self.write_bandwidth_bytes_per_cycle)
        return busy

    def access_bytes(self, element_bytes):
        """Bytes one lone access of an ``element_bytes`` element moves: whole words."""
        if self.word_bits is None:
            return element_bytes
        word = self.word_bits / 8
        return math.ceil(element_bytes / word - 1e-12) * word

    def __post_init__(self):
        if isinstance(self.holds, list):
            object.__setattr__(self, "holds", tuple(self.holds))


@dataclass(frozen=True)
class Hardware:
    """A complete description; memory levels are ordered from the outermost (DRAM) inwards."""

    name: str
    compute: Compute
    memory: tuple
    static_power_w: float = 0.0
    description: str = ""

    def __post_init__(self):
        object.__setattr__(self, "memory", tuple(self.memory))
        _validate(self)

    @property
    def clock_hz(self):
        return self.compute.clock_hz

    def level(self, name):
        """The memory level called ``name``."""
        for level in self.memory:
            if level.name == name:
                return level
        raise KeyError(f"{self.name} has no memory level {name!r}")

    @classmethod
    def from_dict(cls, data):
        """Build from plain data (as ``yaml.safe_load`` returns); strict about every field."""
        from .schema import parse
        return parse(data)

    def to_dict(self):
        """Plain data in canonical units; ``Hardware.from_dict(hw.to_dict()) == hw``."""
        from .schema import unparse
        return unparse(self)

    @classmethod
    def from_yaml(cls, path_or_text):
        """Load from a YAML file path or YAML text; errors carry the file and line."""
        from .schema import load_yaml
        return load_yaml(path_or_text)

    def to_yaml(self, path=None):
        """YAML text (written to ``path`` too when given)."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text


# ---------------------------------------------------------------- validation (values)

MAX_QUANTITY = 1e30        # in the stored unit; keeps every product the cost model forms finite
MIN_CLOCK_HZ = 1e3         # below 1 kHz the unit was surely forgotten ("clock: 0.7" for 0.7 GHz)
MIN_BANDWIDTH = 1e-6       # B/cycle; a layer's bytes are divided by it, so a tiny (or denormal)
                           #   value gives absurd or infinite times: usually a wrong unit
MIN_RATE = 1e-3            # MACs per cycle, and sparse efficiency: MACs are divided by both


def _check(ok, parts, message):
    if not ok:
        raise HardwareError(parts, message)


def _quantity(value, parts, low=0.0, *, open_low=False, high=MAX_QUANTITY, minimum=None,
              unit="", why=""):
    """Check that ``value`` is a real number (not a bool), finite, and in range: above (or at
    least) ``low``, at most ``high``, and at least ``minimum`` ``unit`` (explained by ``why``)."""
    _check(isinstance(value, numbers.Real) and not isinstance(value, bool), parts,
           f"expected a number, got {shown(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise HardwareError(parts, f"{shown(value)} is too large (at most {high:g})") from None
    _check(math.isfinite(number), parts, f"must be finite, got {shown(value)}")
    if open_low:
        word = "positive" if low == 0 else f"more than {low:g}"
        _check(number > low, parts, f"must be {word}, got {shown(value)}")
    else:
        word = "zero or more" if low == 0 else f"{low:g} or more"
        _check(number >= low, parts, f"must be {word}, got {shown(value)}")
    _check(number <= high, parts, f"must be at most {high:g}"
           + (" (larger values overflow the cost model)" if high == MAX_QUANTITY else "")
           + f", got {shown(value)}")
    if minimum is not None:
        _check(number >= minimum, parts,
               f"{number:g} {unit} is below the minimum {minimum:g} {unit}: {why}")


def _mapping(value, parts):
    _check(isinstance(value, dict), parts, f"expected a mapping, got {type(value).__name__}")
    return value.items()


def _validate(hw):
    _check(isinstance(hw.name, str) and hw.name, ("name",), "must be a non-empty string")
    _check(isinstance(hw.description, str), ("description",), "must be a string")
    _quantity(hw.static_power_w, ("static_power",))
    _check(isinstance(hw.compute, Compute), ("compute",), "expected a Compute")
    validate_compute(hw.compute, ("compute",))
    widest = max(int(_MAC_TYPE.match(k).group(2)) for k in hw.compute.mac_energy_pj) / 8
    _check(hw.memory, ("memory",), "expected one or more levels, outermost first")
    names = set()
    for i, level in enumerate(hw.memory):
        parts = ("memory", i)
        _check(isinstance(level, MemoryLevel), parts, "expected a MemoryLevel")
        _check(isinstance(level.name, str) and level.name, (*parts, "name"),
               "must be a non-empty string")
        _check(level.name not in names, (*parts, "name"),
               f"duplicate level name {shown(level.name)}")
        names.add(level.name)
        _check(isinstance(level.holds, tuple) and level.holds
               and all(isinstance(o, str) and o in HOLDABLE for o in level.holds)
               and len(set(level.holds)) == len(level.holds), (*parts, "holds"),
               f"must list one or more of {', '.join(HOLDABLE)} once each, "
               f"got {shown(level.holds)}")
        parts_held = {"weights", "weight_payload", "weight_metadata"} & set(level.holds)
        _check(len(parts_held) <= 1, (*parts, "holds"),
               "weights means payload and metadata: list weights, or weight_payload and/or "
               f"weight_metadata on their own levels, not {' and '.join(sorted(parts_held))}")
        for key in ("bandwidth", "read_bandwidth", "write_bandwidth"):
            value = getattr(level, f"{key}_bytes_per_cycle")
            if value is None and key != "bandwidth":
                continue
            _quantity(value, (*parts, key), open_low=True, minimum=MIN_BANDWIDTH,
                      unit="B/cycle", why="a byte per million cycles is slower than any "
                      "real memory, and times are bytes divided by bandwidth (a missing unit?)")
        if level.word_bits is not None:
            _check(isinstance(level.word_bits, int) and not isinstance(level.word_bits, bool)
                   and 1 <= level.word_bits <= 4096, (*parts, "word_bits"),
                   f"must be an integer number of bits in 1..4096, got {shown(level.word_bits)}")
        for key in ("read_energy", "write_energy", "link_energy"):
            _quantity(getattr(level, key.replace("energy", "pj_per_byte")), (*parts, key))
        if i == 0:
            _check(level.capacity_bytes is None, (*parts, "capacity"),
                   "the outermost level (DRAM) must have capacity: null")
            _check(set(level.holds) == set(OPERANDS), (*parts, "holds"),
                   "the outermost level must hold weights, inputs and outputs")
            continue
        _check(level.capacity_bytes is not None, (*parts, "capacity"),
               "only the outermost level may have no capacity")
        _quantity(level.capacity_bytes, (*parts, "capacity"), open_low=True)
        need = widest * len([o for o in level.holds if o in OPERANDS or o == "weight_payload"])
        _check(level.capacity_bytes >= need, (*parts, "capacity"),
               f"{level.capacity_bytes:g} B cannot hold one MAC's operands "
               f"({' + '.join(level.holds)} at {int(widest * 8)} bits = {need:g} B)")


def validate_compute(c, parts):
    """Check a Compute (``parts``: its path). Used before memory bandwidths in GB/s are
    converted with its clock, so that a bad clock is reported as such."""
    _quantity(c.macs_per_cycle, (*parts, "macs_per_cycle"), open_low=True, minimum=MIN_RATE,
              unit="MACs/cycle", why="the MAC count is divided by the MAC rate (a missing unit?)")
    _quantity(c.clock_hz, (*parts, "clock"), open_low=True, minimum=MIN_CLOCK_HZ,
              unit="Hz", why="the clock is in Hz; write a unit, e.g. 700 MHz")
    _check(isinstance(c.mac_energy_pj, dict) and c.mac_energy_pj, (*parts, "mac_energy"),
           "must list at least one MAC type")
    for key, value in c.mac_energy_pj.items():
        _check(isinstance(key, str) and _MAC_TYPE.match(key), (*parts, "mac_energy", key),
               "MAC types are named int<bits> or fp<bits> with 1 to 128 bits, e.g. int8, fp32")
        _quantity(value, (*parts, "mac_energy", key))
    _check(isinstance(c.accumulator_bits, int) and not isinstance(c.accumulator_bits, bool)
           and 1 <= c.accumulator_bits <= 128, (*parts, "accumulator_bits"),
           f"must be an integer number of bits in 1..128, got {shown(c.accumulator_bits)}")
    if c.array is not None:
        _validate_array(c, (*parts, "array"))
    _validate_host(c, parts)
    for key, value in _mapping(c.spatial_fanout, (*parts, "spatial_fanout")):
        _check(key in OPERANDS, (*parts, "spatial_fanout", key), "unknown operand")
        _quantity(value, (*parts, "spatial_fanout", key), 1)
    s, sp = c.sparsity, (*parts, "sparsity")
    _check(isinstance(s, Sparsity), sp, "expected a Sparsity")
    _check(isinstance(s.support, str) and s.support in SPARSE_SUPPORT, (*sp, "support"),
           f"must be one of {', '.join(SPARSE_SUPPORT)}, got {shown(s.support)}")
    if s.support == "gate":
        _check(s.gated_energy_fraction is not None, (*sp, "gated_energy_fraction"),
               "missing field (required with support: gate)")
        _quantity(s.gated_energy_fraction, (*sp, "gated_energy_fraction"), high=1)
    else:
        _check(s.gated_energy_fraction is None, (*sp, "gated_energy_fraction"),
               "only meaningful with support: gate")
    for key, value in _mapping(s.efficiency, (*sp, "efficiency")):
        _check(key in SPARSE_STRUCTURES, (*sp, "efficiency", key), "unknown sparsity structure")
        _quantity(value, (*sp, "efficiency", key), open_low=True, high=1, minimum=MIN_RATE,
                  unit="of the peak", why="the MAC rate is divided by the efficiency")
    for key, value in _mapping(s.decode_cycles, (*sp, "decode_cycles")):
        _check(key in SPARSE_STRUCTURES, (*sp, "decode_cycles", key),
               "unknown sparsity structure")
        _quantity(value, (*sp, "decode_cycles", key))
    for name in ("decode_energy", "decode_bits_per_cycle"):
        for key, value in _mapping(getattr(s, name), (*sp, name)):
            _check(key in REPRESENTATIONS, (*sp, name, key), "unknown rank representation "
                   f"(expected one of {', '.join(REPRESENTATIONS)})")
            if name == "decode_energy":
                _quantity(value, (*sp, name, key))
            else:
                _quantity(value, (*sp, name, key), open_low=True, minimum=MIN_RATE,
                          unit="bits/cycle", why="metadata bits are divided by it")


def _validate_host(c, parts):
    """The software fields of a host: dense efficiency and weight cycles per op, fixed
    cycles per call, and the other ops' streaming rate."""
    for key, value in _mapping(c.dense_efficiency, (*parts, "dense_efficiency")):
        _check(key in DENSE_OPS, (*parts, "dense_efficiency", key),
               f"unknown op (expected one of {', '.join(DENSE_OPS)})")
        _quantity(value, (*parts, "dense_efficiency", key), open_low=True, high=1,
                  minimum=MIN_RATE, unit="of the peak",
                  why="the MAC rate is divided by the efficiency")
    for key, value in _mapping(c.weight_cycles, (*parts, "weight_cycles")):
        _check(key in DENSE_OPS, (*parts, "weight_cycles", key),
               f"unknown op (expected one of {', '.join(DENSE_OPS)})")
        _quantity(value, (*parts, "weight_cycles", key))
    for key, value in _mapping(c.call_cycles, (*parts, "call_cycles")):
        _check(key in CALL_KINDS, (*parts, "call_cycles", key),
               f"unknown call kind (expected one of {', '.join(CALL_KINDS)})")
        _quantity(value, (*parts, "call_cycles", key))
    for key, value in _mapping(c.other_ops, (*parts, "other_ops")):
        where = (*parts, "other_ops", key)
        _check(isinstance(key, str) and key, where, "an op kind is a non-empty name")
        _check(isinstance(value, OtherOp), where, f"expected an OtherOp, got {shown(value)}")
        _quantity(value.call_cycles, (*where, "call_cycles"))
        _quantity(value.bytes_per_cycle, (*where, "bandwidth"), open_low=True,
                  minimum=MIN_BANDWIDTH, unit="B/cycle",
                  why="an op's bytes are divided by it (a missing unit?)")
    if c.other_bytes_per_cycle is not None:
        _quantity(c.other_bytes_per_cycle, (*parts, "other_bandwidth"), open_low=True,
                  minimum=MIN_BANDWIDTH, unit="B/cycle",
                  why="an op's bytes are divided by it (a missing unit?)")


def _validate_array(c, parts):
    a = c.array
    _check(isinstance(a, PEArray), parts, "expected a PEArray")
    for key in ("rows", "cols"):
        value = getattr(a, key)
        _check(isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1 << 20,
               (*parts, key), f"must be a positive integer (at most {1 << 20}), got {shown(value)}")
    for key in ("row_dims", "col_dims"):
        dims = getattr(a, key)
        _check(isinstance(dims, tuple) and dims and all(d in DIMS for d in dims)
               and len(set(dims)) == len(dims), (*parts, key),
               f"must list one or more of {', '.join(DIMS)} once each, got {shown(dims)}")
    lanes = c.macs_per_cycle / a.pes
    _check(lanes >= 1 and abs(lanes - round(lanes)) < 1e-9, (*parts, "rows"),
           f"a {a.rows} x {a.cols} array does not divide macs_per_cycle = "
           f"{c.macs_per_cycle:g} into whole MACs per PE")
