"""``sk.compare_formats``: several weight formats on one model and one hardware, side by side;
and ``sweep_formats``: formats × sparsity levels × hardware variants through ``hwmodel.sweep``.

Each format (any spec ``sk.estimate`` accepts) prices every layer of the one traced forward
pass: the format's exact footprint on the real weights (payload and metadata apart), the
traffic and energy at every memory level, the compute mode, the load imbalance of a PE array.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

import hwmodel
from hwmodel.table import Table

from sparsekit.hw import _estimate as est_
from sparsekit.hw._trace import trace, trace_forward_layers

# the columns a 100-character table keeps, most important first
PRIORITY = ("format", "bytes", "bits_per_nnz", "dram_bytes", "energy_j", "latency_s",
            "inf_per_s_per_w", "utilisation", "metadata_bytes", "compute")
LEGEND = {"bits_per_nnz": "weight bits (values and metadata) per nonzero weight",
          "utilisation": "share of the PE array's MAC slots that issue a MAC",
          "inf_per_s_per_w": "inferences per joule"}


def _row(layer, cost, est, outer):
    """One table row: a layer's (or the total's) bytes, traffic, energy split and time."""
    fp_bytes = layer["payload"] + layer["metadata"]
    row = {"layer": cost.name, "format": layer["format"], "compute": layer["compute"],
           "bytes": fp_bytes, "payload_bytes": layer["payload"],
           "metadata_bytes": layer["metadata"],
           "bits_per_nnz": fp_bytes * 8 / layer["nnz"] if layer["nnz"] else float("inf"),
           "dram_bytes": sum(cost.reads_bytes.get(outer, {}).values())
           + sum(cost.writes_bytes.get(outer, {}).values()),
           "latency_s": cost.seconds, "energy_j": cost.energy_j,
           "utilisation": cost.utilisation if cost.mac_slots else None,
           "inf_per_s_per_w": est.batch / cost.energy_j if cost.energy_j else float("inf")}
    row.update({f"{level}_energy_j": e for level, e in cost.energy_by_level.items()})
    row.update({f"{op}_energy_j": e for op, e in cost.energy_by_operand.items()})
    row.update(mac_energy_j=cost.mac_energy_j, decode_energy_j=cost.decode_energy_j,
               static_energy_j=cost.static_energy_j)
    return row


@dataclass
class FormatComparison:
    """The result of ``compare_formats``: ``layers`` (a Table: one row per layer and format),
    ``total`` (a Table: one row per format), ``estimates`` ({format: hwmodel.Estimate}).

    Printing shows ``total``; ``to_text(layers=True)`` adds the per-layer table. The exports
    (``to_csv``, ``to_json``, ``to_markdown``) write both: the per-layer rows, then one row per
    format with layer "total". ``plot(path)`` draws the PNG."""

    hardware: str
    batch: int
    formats: tuple
    estimates: dict
    layers: Table
    total: Table
    dynamic_only: bool = False
    meta: dict = field(default_factory=dict)

    def table(self) -> Table:
        """Per-layer rows then the totals, as one Table."""
        return Table([*self.layers, *({"layer": "total", **r} for r in self.total)],
                     priority=("format",) + PRIORITY, legend=LEGEND)

    def to_text(self, wide: bool = False, layers: bool = False) -> str:
        head = (f"{len(self.formats)} formats on {self.hardware}, batch {self.batch}"
                + (" (dynamic energy only: the hardware states no static power)"
                   if self.dynamic_only else ""))
        parts = [head, self.total.to_text(wide=wide)]
        if layers:
            parts += ["per layer:", self.layers.to_text(wide=wide)]
        return "\n".join(parts)

    def __str__(self):
        return self.to_text()

    def to_csv(self, path=None):
        return self.table().to_csv(path)

    def to_json(self, path=None):
        return self.table().to_json(path)

    def to_markdown(self, path=None):
        return self.table().to_markdown(path)

    def to_dataframe(self):
        return self.table().to_dataframe()

    def plot(self, path):
        """A PNG at ``path``: per format, stacked bars of payload against metadata bytes, and
        energy per inference stacked by memory level, MACs, decoding and static power."""
        from sparsekit.report.plots import _save, figure, si_scale
        fig = figure(max(6.4, 1.3 * len(self.formats) + 3.5), 4.4)
        ax_b, ax_e = fig.subplots(1, 2)
        names = [r["format"] for r in self.total]
        xs = np.arange(len(names))
        payload = np.array([r["payload_bytes"] for r in self.total], float)
        metadata = np.array([r["metadata_bytes"] for r in self.total], float)
        scale, unit = _byte_scale(float((payload + metadata).max(initial=0.0)))
        ax_b.bar(xs, payload / scale, color="tab:blue", label="payload (values)")
        ax_b.bar(xs, metadata / scale, bottom=payload / scale, color="tab:orange",
                 label="metadata")
        for x, r in zip(xs, self.total):
            ax_b.annotate(f"{r['bits_per_nnz']:.1f} b/nz", (x, r["bytes"] / scale),
                          textcoords="offset points", xytext=(0, 3), ha="center", fontsize=7)
        ax_b.set_ylim(0, 1.12 * float((payload + metadata).max(initial=0.0)) / scale or 1)
        ax_b.set_ylabel(f"weight bytes ({unit})")
        ax_b.set_title("weight footprint", fontsize=9)
        ax_b.legend(fontsize=7)
        parts = [k for k in self.total[0] if k.endswith("_energy_j") and k[:-9] in
                 self.estimates[names[0]].energy_by_level]
        parts += ["mac_energy_j", "decode_energy_j", "static_energy_j"]
        per_inf = [[r[p] / self.batch for p in parts] for r in self.total]
        factor, eunit = si_scale([sum(v) for v in per_inf], "J")
        bottom = np.zeros(len(names))
        palette = ["tab:red", "tab:orange", "tab:green", "tab:blue", "tab:purple",
                   "tab:brown", "tab:pink", "tab:olive"]
        for i, p in enumerate(parts):
            vals = np.array([v[i] for v in per_inf]) * factor
            if not vals.any():
                continue
            label = {"mac_energy_j": "MACs", "decode_energy_j": "metadata decode",
                     "static_energy_j": "static"}.get(p, f"{p[:-9]} memory")
            ax_e.bar(xs, vals, bottom=bottom, label=label,
                     color="black" if p == "mac_energy_j" else "lightgrey"
                     if p == "static_energy_j" else palette[i % len(palette)])
            bottom += vals
        ax_e.set_ylabel(f"energy per inference ({eunit})")
        ax_e.set_title(f"energy on {self.hardware}", fontsize=9)
        ax_e.legend(fontsize=7)
        for ax in (ax_b, ax_e):
            ax.set_xticks(xs, names, rotation=30 if len(names) > 3 else 0, ha="right"
                          if len(names) > 3 else "center", fontsize=8)
            ax.grid(axis="y", alpha=0.3)
        ax_e.set_ylim(0, 1.12 * float(bottom.max(initial=0.0)) or 1)
        fig.suptitle("weight formats compared (estimated, real weights)", fontsize=10)
        return _save(fig, path)


def _byte_scale(top):
    for scale, unit in ((2 ** 30, "GiB"), (2 ** 20, "MiB"), (2 ** 10, "KiB")):
        if top >= scale:
            return scale, unit
    return 1, "B"


def compare_formats(model, example_input, specs, hw, *, value_bits=None,
                    activation_density=None, block=(4, 4), vector=8, index_bits=None,
                    objective="energy", batch=None, progress=None) -> FormatComparison:
    """Price ``model`` (its real weights) on ``hw`` with every layer stored in each of
    ``specs`` in turn: a FormatComparison with one table per layer and in total.

    specs: a list of formats, each anything ``sk.estimate(format=...)`` takes (a FormatSpec,
        "dense", "csr", "bitmap", a YAML path, "UOP-CP", ...); labels must differ.
    The other arguments are ``sk.estimate``'s. The model is traced once.
    """
    if isinstance(specs, (str, bytes)) or not hasattr(specs, "__iter__"):
        raise TypeError(f"specs must be a list of formats, got {type(specs).__name__}")
    specs = list(specs)
    if not specs:
        raise ValueError("specs: an empty list of formats")
    hw = hwmodel.load(hw)
    counter = est_._Counter(trace(model, example_input), est_._block(block),
                            est_._vector(vector), index_bits)
    named = [counter.named(s) for s in specs]
    labels = [n.label for n in named]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ValueError(f"specs: two formats are named {dup[0]!r}; give each spec its own "
                         "name")
    batch = est_._batch_of(example_input) if batch is None else int(batch)
    outer = hw.memory[0].name
    layer_rows, total_rows, estimates = [], [], {}
    from tqdm.auto import tqdm
    bar = tqdm(total=len(specs) * len(counter.traced), desc="compare formats", unit="layer",
               delay=2, disable=not est_.show_progress(progress))
    for spec, label in zip(specs, labels):
        built = est_._layers(counter, hw, spec, value_bits, activation_density, bar)
        layers = [layer for layer, _ in built]
        est = hwmodel.estimate(hw, layers, objective=objective, batch=batch)
        estimates[label] = est
        info = [{"format": label, "compute": layer.compute_mode(hw),
                 "payload": layer.weight_value_bytes, "metadata": layer.weight_metadata_bytes,
                 "nnz": layer.footprint.nnz} for layer in layers]
        for i, cost in zip(info, est.layers):
            layer_rows.append(_row(i, cost, est, outer))
        modes = {i["compute"] for i in info}
        whole = {"format": label, "compute": modes.pop() if len(modes) == 1 else "per layer",
                 "payload": sum(i["payload"] for i in info),
                 "metadata": sum(i["metadata"] for i in info),
                 "nnz": sum(i["nnz"] for i in info)}
        row = _row(whole, est.total, est, outer)
        del row["layer"]
        total_rows.append(row)
    bar.close()
    return FormatComparison(
        hardware=hw.name, batch=batch, formats=tuple(labels), estimates=estimates,
        layers=Table(layer_rows, priority=("layer",) + PRIORITY, legend=LEGEND),
        total=Table(total_rows, priority=PRIORITY, legend=LEGEND),
        dynamic_only=any(e.dynamic_only for e in estimates.values()),
        meta={"objective": objective, "value_bits": value_bits, "block": list(block),
              "vector": vector, "index_bits": index_bits})


# -- formats × sparsity × hardware -----------------------------------------------------------
@dataclass(frozen=True)
class FormatPoint:
    """A picklable sweep task over one traced model (numpy only: no torch in the workers):
    ``FormatPoint(...)((hardware, format, sparsity))`` is one row."""

    traced: tuple            # TracedLayer, with magnitudes when a sparsity is asked for
    batch: int
    value_bits: int | None = None
    block: tuple = (4, 4)
    vector: int = 8
    objective: str = "energy"
    others: tuple = ()       # (hardware name, its layers of the forward's other work), as
                             # sk.estimate prices them: activation products and other ops

    def __call__(self, point):
        hw, format, sparsity = point
        hw = hwmodel.load(hw)
        traced = self.traced if sparsity is None else tuple(
            replace(t, mask=prune_mask(t.magnitude, sparsity)) for t in self.traced)
        counter = est_._Counter(list(traced), self.block, self.vector, None)
        layers = [layer for layer, _ in est_._layers(counter, hw, format, self.value_bits,
                                                     None)]
        rest = list(dict(self.others).get(hw.name, ()))
        est = hwmodel.estimate(hw, layers + rest, objective=self.objective, batch=self.batch)
        outer = hw.memory[0].name
        nnz = sum(layer.footprint.nnz for layer in layers)
        weight = sum(layer.weight_bytes for layer in layers)
        return {"hardware": hw.name, "format": counter.named(format).label,
                "sparsity": sparsity, "bytes": weight,
                "metadata_bytes": sum(layer.weight_metadata_bytes for layer in layers),
                "bits_per_nnz": weight * 8 / nnz if nnz else float("inf"),
                "dram_bytes": sum(est.total.reads_bytes.get(outer, {}).values())
                + sum(est.total.writes_bytes.get(outer, {}).values()),
                "latency_s": est.seconds, "energy_j": est.energy_j,
                "inf_per_s_per_w": est.batch / est.energy_j}


def prune_mask(magnitude: np.ndarray, sparsity: float) -> np.ndarray:
    """The mask keeping all but the round(sparsity · size) smallest magnitudes (ties broken
    by position): exactly that many zeros."""
    if not 0.0 <= float(sparsity) <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity!r}")
    flat = magnitude.ravel()
    k = int(round(float(sparsity) * flat.size))
    mask = np.ones(flat.size, bool)
    if k >= flat.size:
        mask[:] = False
    elif k > 0:
        mask[np.argpartition(flat, k - 1, kind="introselect")[:k]] = False
    return mask.reshape(magnitude.shape)


def sweep_formats(model, example_input, specs, sparsities=(None,), hardware=("eyeriss-like",),
                  *, value_bits=None, block=(4, 4), vector=8, objective="energy", batch=None,
                  executor=None, progress=False) -> Table:
    """Formats × sparsity levels × hardware variants, one ``hwmodel.sweep`` over any
    ``concurrent.futures.Executor`` (a Dask ``Client.get_executor()`` included): a Table with
    one row per point (hardware, format, sparsity, bytes, DRAM bytes, latency, energy,
    inferences/sec/watt). A sparsity s re-prunes every layer by magnitude to exactly s (None:
    the model's own weights). The model is traced once; the workers get numpy arrays."""
    for s in sparsities:
        if s is not None and not (isinstance(s, (int, float)) and 0 <= s <= 1):
            raise ValueError(f"sparsities: each must be in [0, 1] or None, got {s!r}")
    traced, forward = trace_forward_layers(model, example_input,
                                           magnitudes=any(s is not None for s in sparsities))
    hardware = [hardware] if isinstance(hardware, (str, hwmodel.Hardware)) else list(hardware)
    specs = [specs] if isinstance(specs, str) else list(specs)
    for s in specs:
        est_._check_format(s)
    hardware = [hwmodel.load(h) for h in hardware]
    names = [hw.name for hw in hardware]
    if len(set(names)) != len(names):
        raise ValueError(f"hardware: every variant needs its own name, got {names}")
    others = tuple((hw.name, tuple(est_._other_layers(forward, hw, value_bits)))
                   for hw in hardware)
    task = FormatPoint(tuple(traced),
                       est_._batch_of(example_input) if batch is None else int(batch),
                       value_bits, est_._block(block), est_._vector(vector), objective, others)
    points = [(hw, s, p) for hw in hardware for s in specs for p in sparsities]
    return hwmodel.sweep(task, points, executor=executor, progress=progress)
