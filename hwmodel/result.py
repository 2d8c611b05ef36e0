"""Result objects: the cost of a layer (LayerCost) and of a model (Estimate); both add up.

Energies are in joules, times in cycles of the compute clock and seconds. ``a + b`` (and
``sum(...)``) adds every count; a sum's bound is the one that accounts for most of its cycles.
Printed (``str``, ``to_text``) they scale to ms/µJ/MiB and fit 100 columns; CSV, JSON and
DataFrames keep the exact base-unit values (``latency_s``, ``energy_j``, ``..._bytes``).
"""

import textwrap
from dataclasses import dataclass, field, replace
from functools import cached_property

from . import table as tables
from .hardware import TENSORS


def _merge(a, b):
    """Add two dicts of numbers or of dicts of numbers, key by key."""
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, dict):
            out[key] = _merge(out.get(key, {}), value)
        else:
            out[key] = out.get(key, 0.0) + value
    return out


def priority(row):
    """Columns of a cost row from most to least important, for narrow tables: the layer,
    latency, energy, bound, utilisation, energy per level, MAC and static energy, energy per
    tensor, cycles; then the rest in row order."""
    levels = [c for c in row if c.endswith("_energy_j") and c not in ("mac_energy_j",
              "static_energy_j", "decode_energy_j") and c[:-len("_energy_j")] not in TENSORS]
    operands = [f"{o}_energy_j" for o in TENSORS]
    return ("layer", "latency_s", "energy_j", "bound", "utilisation", *levels, "mac_energy_j",
            "static_energy_j", *operands, "cycles")


def _text_table(rows, wide):
    return tables.Table(rows, priority=priority(rows[0])).to_text(wide)


@dataclass(frozen=True)
class LayerCost:
    """Cost of one layer (or a sum of layers).

    cycles = max(compute_cycles, every level_cycles) + fill_cycles + drain_cycles
    + call_cycles (the fixed cost of each call of the layer: dispatch, kernel call).
    level_cycles: busy cycles of each memory level's port; bound_cycles: cycles by bound
    ("compute" or a level name); memory_energy_j / reads_bytes / writes_bytes: level ->
    tensor (weights = the payload values, weight_metadata, inputs, outputs) -> value;
    executed_macs: MACs that drew energy (skipped and gated ones excluded); issued_macs: MAC
    slots the datapath spent (skip: the executed ones; gate/none: every dense MAC);
    mac_slots: compute_cycles x peak MACs/cycle; utilisation = issued_macs / mac_slots (PE
    array ceilings, load imbalance, sparse efficiency and decoding lower it; memory stalls do
    not); fill_cycles / drain_cycles: loading the first tiles before compute and writing the
    last outputs after it (not overlapped); decode_energy_j: per-rank metadata decoding.
    """

    name: str
    cycles: float
    seconds: float
    compute_cycles: float
    level_cycles: dict
    bound_cycles: dict
    mac_energy_j: float
    static_energy_j: float
    memory_energy_j: dict
    reads_bytes: dict
    writes_bytes: dict
    dense_macs: float
    effective_macs: float
    executed_macs: float
    mapping: object = field(default=None, compare=False)
    fill_cycles: float = 0.0
    drain_cycles: float = 0.0
    decode_energy_j: float = 0.0
    issued_macs: float = 0.0
    mac_slots: float = 0.0
    call_cycles: float = 0.0

    @property
    def utilisation(self):
        """Share of the array's MAC slots that issue a MAC while computing (0 if unknown)."""
        return self.issued_macs / self.mac_slots if self.mac_slots else 0.0

    @property
    def bound(self):
        """"compute" or the name of the memory level that limits the time."""
        return max(self.bound_cycles, key=self.bound_cycles.get)

    @property
    def energy_by_level(self):
        return {level: sum(ops.values()) for level, ops in self.memory_energy_j.items()}

    @property
    def energy_by_operand(self):
        """Memory energy per tensor (weights payload, weight_metadata, inputs, outputs)."""
        return {o: sum(ops.get(o, 0.0) for ops in self.memory_energy_j.values())
                for o in TENSORS}

    @property
    def memory_energy_total_j(self):
        return sum(self.energy_by_level.values())

    @property
    def energy_j(self):
        """Everything: memory accesses at every level + MACs + metadata decoding + static
        power x time."""
        return (self.memory_energy_total_j + self.mac_energy_j + self.decode_energy_j
                + self.static_energy_j)

    def __add__(self, other):
        if not isinstance(other, LayerCost):
            return NotImplemented
        plain = ("cycles", "seconds", "compute_cycles", "mac_energy_j", "static_energy_j",
                 "dense_macs", "effective_macs", "executed_macs", "fill_cycles",
                 "drain_cycles", "decode_energy_j", "issued_macs", "mac_slots", "call_cycles")
        nested = ("level_cycles", "bound_cycles", "memory_energy_j", "reads_bytes",
                  "writes_bytes")
        return LayerCost(name=self.name if self.name == other.name else "total",
                         **{k: getattr(self, k) + getattr(other, k) for k in plain},
                         **{k: _merge(getattr(self, k), getattr(other, k)) for k in nested})

    def __radd__(self, other):
        return self if other == 0 else self.__add__(other)

    def row(self, detail=False):
        """One flat dict: the headline columns, and with ``detail`` every count."""
        out = {"layer": self.name, "bound": self.bound, "cycles": self.cycles,
               "latency_s": self.seconds, "energy_j": self.energy_j,
               "utilisation": self.utilisation,
               "mac_energy_j": self.mac_energy_j, "static_energy_j": self.static_energy_j}
        out.update({f"{level}_energy_j": e for level, e in self.energy_by_level.items()})
        if detail:
            out.update({f"{o}_energy_j": e for o, e in self.energy_by_operand.items()})
            out["decode_energy_j"] = self.decode_energy_j
            out["compute_cycles"] = self.compute_cycles
            out["fill_cycles"] = self.fill_cycles
            out["drain_cycles"] = self.drain_cycles
            out["call_cycles"] = self.call_cycles
            out.update({f"{level}_cycles": c for level, c in self.level_cycles.items()})
            for level in self.reads_bytes:
                out[f"{level}_read_bytes"] = sum(self.reads_bytes[level].values())
                out[f"{level}_write_bytes"] = sum(self.writes_bytes[level].values())
            out.update(dense_macs=self.dense_macs, effective_macs=self.effective_macs,
                       executed_macs=self.executed_macs, issued_macs=self.issued_macs)
        return out

    def to_text(self, wide: bool = False) -> str:
        """This layer as a one-row table (every count with ``wide=True``)."""
        return _text_table([self.row(detail=True)], wide)

    def __str__(self):
        return self.to_text()


@dataclass(frozen=True)
class Estimate:
    """A model's estimate: per-layer costs on one hardware; ``batch`` inferences per pass.

    dynamic_only: the hardware states no static power (0 W), so energies and
    inferences/sec/watt count dynamic energy only; the summary and the printed headline say so.
    """

    hardware: str
    objective: str
    batch: int
    layers: tuple
    dynamic_only: bool = False

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise ValueError("an Estimate needs at least one layer")

    @cached_property
    def total(self):
        """All layers summed into one LayerCost named "total"."""
        return replace(sum(self.layers), name="total", mapping=None)

    cycles = property(lambda self: self.total.cycles)
    seconds = property(lambda self: self.total.seconds)
    latency_s = seconds
    energy_j = property(lambda self: self.total.energy_j)
    mac_energy_j = property(lambda self: self.total.mac_energy_j)
    static_energy_j = property(lambda self: self.total.static_energy_j)
    energy_by_level = property(lambda self: self.total.energy_by_level)
    energy_by_operand = property(lambda self: self.total.energy_by_operand)
    bound = property(lambda self: self.total.bound)

    @property
    def power_w(self):
        return self.energy_j / self.seconds

    @property
    def inferences_per_sec(self):
        return self.batch / self.seconds

    @property
    def energy_per_inference_j(self):
        return self.energy_j / self.batch

    @property
    def inferences_per_sec_per_watt(self):
        """Inferences per joule (= inferences/s divided by watts)."""
        return self.batch / self.energy_j

    def __add__(self, other):
        if not isinstance(other, Estimate):
            return NotImplemented
        if (self.hardware, self.batch) != (other.hardware, other.batch):
            raise ValueError("can only add estimates for the same hardware and batch")
        return Estimate(self.hardware, self.objective, self.batch, self.layers + other.layers,
                        self.dynamic_only or other.dynamic_only)

    def __radd__(self, other):
        return self if other == 0 else self.__add__(other)

    def summary(self):
        """The headline numbers as one flat dict."""
        return {"hardware": self.hardware, "objective": self.objective, "batch": self.batch,
                "latency_s": self.seconds, "energy_j": self.energy_j, "bound": self.bound,
                "inferences_per_sec": self.inferences_per_sec,
                "energy_per_inference_j": self.energy_per_inference_j,
                "inferences_per_sec_per_watt": self.inferences_per_sec_per_watt,
                "utilisation": self.total.utilisation, "dynamic_only": self.dynamic_only}

    def table(self, detail=False):
        """Per-layer rows plus a "total" row (base units: seconds, joules, bytes)."""
        rows = [c.row(detail) for c in (*self.layers, self.total)]
        return tables.Table(rows, priority=priority(rows[0]))

    def headline(self, width=tables.WIDTH):
        """Two lines: the hardware and the whole model's latency, energy and rates (each
        number with its own SI prefix), wrapped to ``width`` (None: not wrapped)."""
        s = self.summary()
        lines = [f"{self.hardware} ({self.objective}-optimal mappings, batch {self.batch}): "
                 f"{tables.human(s['latency_s'], 's')}, {tables.human(s['energy_j'], 'J')}, "
                 f"bound by {s['bound']}",
                 f"{tables.number(s['inferences_per_sec'])} inf/s, "
                 f"{tables.human(s['energy_per_inference_j'], 'J')}/inf, "
                 f"{tables.number(s['inferences_per_sec_per_watt'])} inf/s/W"
                 + (" (dynamic only: no static power given)"
                    if self.dynamic_only else "")]
        return "\n".join(line for text in lines
                         for line in (textwrap.wrap(text, width) if width else [text]))

    def to_text(self, wide: bool = False) -> str:
        """The headline and the per-layer table (every count with ``wide=True``; else the
        columns that fit 100 characters, see ``hwmodel.table``)."""
        return (self.headline(None if wide else tables.WIDTH) + "\n"
                + _text_table(self.table(detail=True), wide))

    def __str__(self):
        return self.to_text()

    def to_csv(self, path=None):
        return tables.to_csv(self.table(detail=True), path)

    def to_json(self, path=None):
        return tables.to_json(self.table(detail=True), path, meta=self.summary())

    def to_markdown(self, path=None):
        return tables.to_markdown(self.table(), path)

    def to_dataframe(self):
        return tables.to_dataframe(self.table(detail=True))
