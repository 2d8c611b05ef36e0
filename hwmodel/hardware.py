"""Hardware description: compute, memory levels and static power, as validated dataclasses.

The tree is ``Hardware(compute=Compute(sparsity=Sparsity(...)), memory=(MemoryLevel, ...))``.
Values are stored in one unit each (bytes, bytes/cycle, pJ/byte, Hz, W, pJ per MAC); the YAML
form, with the units of its sources, lives in ``hwmodel.schema``. Every check names the field
by its YAML path (``memory[1].bandwidth``) and, when the text came from a file, the file and
line, because a description is usually typed in by hand from a paper's table.
"""

import math
import re
from dataclasses import dataclass, field

import yaml

from .yamlsource import SourceError, shown

OPERANDS = ("weights", "inputs", "outputs")
SPARSE_SUPPORT = ("skip", "gate", "none")
SPARSE_STRUCTURES = ("unstructured", "block", "vector")
_MAC_TYPE = re.compile(r"^(int|fp)(\d+)$")


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
    """

    support: str = "none"
    gated_energy_fraction: float | None = None
    efficiency: dict = field(default_factory=lambda: dict.fromkeys(SPARSE_STRUCTURES, 1.0))
    decode_cycles: dict = field(default_factory=lambda: dict.fromkeys(SPARSE_STRUCTURES, 0.0))


@dataclass(frozen=True)
class Compute:
    """The MAC array: peak rate, clock, energy per MAC by type ("int8", "fp32", ...).

    spatial_fanout[o]: how many MACs one read of operand o from its innermost memory level
    feeds (multicast, systolic forwarding, in-array reduction for outputs); 1 = every MAC
    reads its own operand.
    """

    macs_per_cycle: float
    clock_hz: float
    mac_energy_pj: dict
    sparsity: Sparsity = field(default_factory=Sparsity)
    spatial_fanout: dict = field(default_factory=lambda: dict.fromkeys(OPERANDS, 1.0))

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

    bandwidth is the level's port, shared by every read and write it serves. link energy is
    paid per byte moved between this level and its parent (an on-chip network hop).
    """

    name: str
    capacity_bytes: float | None
    bandwidth_bytes_per_cycle: float
    read_pj_per_byte: float
    write_pj_per_byte: float
    holds: tuple
    link_pj_per_byte: float = 0.0

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

def _check(ok, parts, message):
    if not ok:
        raise HardwareError(parts, message)


def _positive(value, parts, allow_zero=False):
    ok = (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
          and (value >= 0 if allow_zero else value > 0))
    _check(ok, parts, f"must be {'zero or more' if allow_zero else 'positive'}, got {value!r}")


def _validate(hw):
    _check(isinstance(hw.name, str) and hw.name, ("name",), "must be a non-empty string")
    _check(isinstance(hw.description, str), ("description",), "must be a string")
    _positive(hw.static_power_w, ("static_power",), allow_zero=True)
    _validate_compute(hw.compute, ("compute",))
    widest = max(int(_MAC_TYPE.match(k).group(2)) for k in hw.compute.mac_energy_pj) / 8
    names = set()
    for i, level in enumerate(hw.memory):
        parts = ("memory", i)
        _check(isinstance(level.name, str) and level.name, (*parts, "name"),
               "must be a non-empty string")
        _check(level.name not in names, (*parts, "name"), f"duplicate level name {level.name!r}")
        names.add(level.name)
        _check(isinstance(level.holds, tuple) and level.holds
               and all(o in OPERANDS for o in level.holds)
               and len(set(level.holds)) == len(level.holds), (*parts, "holds"),
               f"must list one or more of {', '.join(OPERANDS)} once each, got {level.holds!r}")
        _positive(level.bandwidth_bytes_per_cycle, (*parts, "bandwidth"))
        for key in ("read_energy", "write_energy", "link_energy"):
            _positive(getattr(level, key.replace("energy", "pj_per_byte")), (*parts, key),
                      allow_zero=True)
        if i == 0:
            _check(level.capacity_bytes is None, (*parts, "capacity"),
                   "the outermost level (DRAM) must have capacity: null")
            _check(set(level.holds) == set(OPERANDS), (*parts, "holds"),
                   "the outermost level must hold weights, inputs and outputs")
            continue
        _check(level.capacity_bytes is not None, (*parts, "capacity"),
               "only the outermost level may have no capacity")
        _positive(level.capacity_bytes, (*parts, "capacity"))
        need = widest * len(level.holds)
        _check(level.capacity_bytes >= need, (*parts, "capacity"),
               f"{level.capacity_bytes:g} B cannot hold one MAC's operands "
               f"({' + '.join(level.holds)} at {int(widest * 8)} bits = {need:g} B)")


def _validate_compute(c, parts):
    _positive(c.macs_per_cycle, (*parts, "macs_per_cycle"))
    _positive(c.clock_hz, (*parts, "clock"))
    _check(isinstance(c.mac_energy_pj, dict) and c.mac_energy_pj, (*parts, "mac_energy"),
           "must list at least one MAC type")
    for key, value in c.mac_energy_pj.items():
        _check(isinstance(key, str) and _MAC_TYPE.match(key), (*parts, "mac_energy", key),
               "MAC types are named int<bits> or fp<bits>, e.g. int8, fp32")
        _positive(value, (*parts, "mac_energy", key), allow_zero=True)
    for key, value in c.spatial_fanout.items():
        _check(key in OPERANDS, (*parts, "spatial_fanout", key), "unknown operand")
        _check(not isinstance(value, bool) and isinstance(value, (int, float)) and value >= 1,
               (*parts, "spatial_fanout", key), f"must be 1 or more, got {value!r}")
    s, sp = c.sparsity, (*parts, "sparsity")
    _check(s.support in SPARSE_SUPPORT, (*sp, "support"),
           f"must be one of {', '.join(SPARSE_SUPPORT)}, got {s.support!r}")
    if s.support == "gate":
        _check(s.gated_energy_fraction is not None, (*sp, "gated_energy_fraction"),
               "missing field (required with support: gate)")
        f = s.gated_energy_fraction
        _check(not isinstance(f, bool) and isinstance(f, (int, float)) and 0 <= f <= 1,
               (*sp, "gated_energy_fraction"), f"must be between 0 and 1, got {f!r}")
    else:
        _check(s.gated_energy_fraction is None, (*sp, "gated_energy_fraction"),
               "only meaningful with support: gate")
    for key, value in s.efficiency.items():
        _check(key in SPARSE_STRUCTURES, (*sp, "efficiency", key), "unknown sparsity structure")
        _check(not isinstance(value, bool) and isinstance(value, (int, float)) and 0 < value <= 1,
               (*sp, "efficiency", key), f"must be in (0, 1], got {value!r}")
    for key, value in s.decode_cycles.items():
        _check(key in SPARSE_STRUCTURES, (*sp, "decode_cycles", key),
               "unknown sparsity structure")
        _check(not isinstance(value, bool) and isinstance(value, (int, float)) and value >= 0,
               (*sp, "decode_cycles", key), f"must be 0 or more, got {value!r}")
