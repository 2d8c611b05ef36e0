"""The demo report's pictures, one function per PNG.

- ``speedup_vs_sparsity``: measured whole-model speedup of the sparsified model on this machine;
- ``energy_breakdown``: energy per inference, dense vs compressed, per hardware, stacked by
  memory level (colour) and operand (hatch), plus MACs and static power;
- ``roofline``: each hardware's roof (peak ops/s, DRAM bandwidth) with every layer placed on
  it, dense and compressed;
- ``layer_latency``: estimated against measured latency per layer.

Figures are drawn on ``matplotlib.figure.Figure`` and saved as PNG through the Agg renderer,
without pyplot, so drawing never changes the caller's matplotlib backend or global state.
``figure()`` raises ImportError with an install hint when matplotlib is missing.
"""
from __future__ import annotations

import math

DPI = 110
OPERAND_HATCH = {"weights": "", "inputs": "//", "outputs": ".."}


def figure(width, height):
    """A new Agg-backed Figure of ``width`` × ``height`` inches."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("the report's pictures need matplotlib, which is not installed: "
                          "pip install matplotlib") from e
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path):
    fig.savefig(path, dpi=DPI)
    return path


def si_scale(values, unit):
    """(factor, label) that shows ``values`` (in ``unit``) with an SI prefix: e.g. seconds
    around 1e-4 become (1e3, "ms")."""
    top = max((abs(v) for v in values if v and math.isfinite(v)), default=1.0)
    for factor, prefix in ((1, ""), (1e3, "m"), (1e6, "µ"), (1e9, "n"), (1e12, "p")):
        if top * factor >= 1:
            return factor, prefix + unit
    return 1e12, "p" + unit


def speedup_vs_sparsity(rows, path, title="", chosen=None):
    """Measured speedup (dense time / sparse time) against sparsity; ``rows`` as
    ``report.measure.speedup_vs_sparsity`` returns them."""
    fig = figure(6.4, 4.2)
    ax = fig.add_subplot()
    xs = [100 * r["sparsity"] for r in rows]
    ys = [r["speedup"] for r in rows]
    ax.plot(xs, ys, "o-", color="tab:blue", label="sparsified (sk.sparsify, format='auto')")
    for x, y in zip(xs, ys):
        ax.annotate(f"{y:.2f}×", (x, y), textcoords="offset points", xytext=(0, 7),
                    ha="center", fontsize=8)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="dense (1×)")
    if chosen is not None:
        ax.axvline(100 * chosen, color="tab:orange", linestyle=":", linewidth=1,
                   label=f"the demo's sparsity ({chosen:.0%})")
    ax.set_xlabel("sparsity of the weights (%)")
    ax.set_ylabel("speedup over dense (×)")
    ax.set_ylim(0, max(ys + [1.0]) * 1.2)
    ax.set_title(title or "measured speedup on this machine", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return _save(fig, path)


def _segments(est):
    """[(level or part, operand or None, joules per inference)] of an Estimate."""
    out = []
    for level, ops in est.total.memory_energy_j.items():
        out += [(level, op, j / est.batch) for op, j in ops.items()]
    out.append(("MACs", None, est.mac_energy_j / est.batch))
    if est.static_energy_j:
        out.append(("static", None, est.static_energy_j / est.batch))
    return out


def energy_breakdown(comparisons, path):
    """Energy per inference of each hardware's dense and compressed estimates, stacked by
    memory level and operand; ``comparisons`` is {hardware: sk.compare(...) table}."""
    from matplotlib.patches import Patch
    n = len(comparisons)
    fig = figure(max(3.2 * n, 5.0) + 1.6, 4.6)
    axes = fig.subplots(1, n, squeeze=False)[0]
    colours, parts = {}, []
    palette = ["tab:red", "tab:orange", "tab:green", "tab:blue", "tab:purple", "tab:brown",
               "tab:pink", "tab:olive", "tab:cyan"]
    for ax, (hw, table) in zip(axes, comparisons.items()):
        bars = {"dense": _segments(table.dense), "compressed": _segments(table.sparse)}
        factor, unit = si_scale([sum(j for *_, j in s) for s in bars.values()], "J")
        for x, (label, segments) in enumerate(bars.items()):
            bottom = 0.0
            for part, operand, j in segments:
                if part not in colours:
                    colours[part] = "lightgrey" if part == "static" else \
                        "black" if part == "MACs" else palette[len(parts) % len(palette)]
                    parts.append(part)
                ax.bar(x, j * factor, bottom=bottom, width=0.6, color=colours[part],
                       hatch=OPERAND_HATCH.get(operand, ""), edgecolor="white", linewidth=0.5)
                bottom += j * factor
            ax.annotate(f"{bottom:.3g}", (x, bottom), textcoords="offset points",
                        xytext=(0, 3), ha="center", fontsize=8)
        saving = table.dense.energy_j / table.sparse.energy_j if table.sparse.energy_j else 0
        ax.set_xticks([0, 1], ["dense", "compressed"])
        ax.set_title(f"{hw}\n{saving:.2f}× less energy", fontsize=9)
        ax.set_ylabel(f"energy per inference ({unit})")
        ax.margins(y=0.12)
        ax.grid(axis="y", alpha=0.3)
    handles = [Patch(facecolor=colours[p], label=p if p in ("MACs", "static") else
                     f"{p} memory") for p in parts]
    handles += [Patch(facecolor="white", edgecolor="black", hatch=h or None, label=op)
                for op, h in OPERAND_HATCH.items()]
    fig.legend(handles=handles, loc="outside right center", fontsize=8,
               title="level / operand", title_fontsize=8)
    fig.suptitle("energy per inference by memory level and operand (estimated)", fontsize=10)
    return _save(fig, path)


def _points(est, outer):
    """(ops per outer-memory byte, achieved ops/s, layer name) of each layer of an Estimate
    (ops = 2 × executed MACs); layers that move no outer-memory byte are left out."""
    out = []
    for layer in est.layers:
        moved = sum(layer.reads_bytes.get(outer, {}).values()) + \
            sum(layer.writes_bytes.get(outer, {}).values())
        ops = 2 * layer.executed_macs
        if moved > 0 and ops > 0 and layer.seconds > 0:
            out.append((ops / moved, ops / layer.seconds, layer.name))
    return out


def roofline(comparisons, hardware, path, label_limit=10):
    """Per hardware, the roofline min(peak ops/s, intensity × DRAM bandwidth) on log axes
    with every layer's dense and compressed estimate placed on it. ``hardware`` is
    {name: hwmodel.Hardware} for the keys of ``comparisons``."""
    n = len(comparisons)
    fig = figure(max(4.2 * n, 5.0), 4.6)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (name, table) in zip(axes, comparisons.items()):
        hw = hardware[name]
        outer = hw.memory[0]
        peak = 2 * hw.compute.macs_per_cycle * hw.clock_hz
        bandwidth = outer.bandwidth_bytes_per_cycle * hw.clock_hz
        dense, sparse = _points(table.dense, outer.name), _points(table.sparse, outer.name)
        xs = [p[0] for p in dense + sparse] or [peak / bandwidth]
        ridge = peak / bandwidth
        lo, hi = min(xs + [ridge]) / 4, max(xs + [ridge]) * 4
        grid = [lo * (hi / lo) ** (i / 200) for i in range(201)]
        ax.plot(grid, [min(peak, x * bandwidth) for x in grid], color="black", linewidth=1.5,
                label=f"roof: {peak / 1e9:.3g} GOP/s, {bandwidth / 1e9:.3g} GB/s")
        ax.plot([p[0] for p in dense], [p[1] for p in dense], "o", mfc="none",
                color="tab:blue", label="dense layers")
        ax.plot([p[0] for p in sparse], [p[1] for p in sparse], "o", color="tab:red",
                label="compressed layers", alpha=0.8)
        if len(sparse) <= label_limit:
            for x, y, layer in sparse:
                ax.annotate(layer, (x, y), textcoords="offset points", xytext=(4, -9),
                            fontsize=7, color="tab:red")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"operations per {outer.name} byte")
        ax.set_ylabel("operations/s (estimated)")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("roofline: every layer on each hardware (ops = 2 × executed MACs)",
                 fontsize=10)
    return _save(fig, path)


def layer_latency(rows, path, hardware="host-cpu"):
    """Estimated (on ``hardware``) against measured latency per layer as horizontal bar
    pairs; ``rows`` are {layer, estimated_s, measured_s}."""
    n = len(rows)
    fig = figure(7.0, 1.4 + 0.32 * n)
    ax = fig.add_subplot()
    factor, unit = si_scale([r["estimated_s"] for r in rows] + [r["measured_s"] for r in rows],
                            "s")
    ys = range(n)
    ax.barh([y - 0.2 for y in ys], [r["estimated_s"] * factor for r in rows], height=0.4,
            color="tab:orange", label=f"estimated ({hardware} preset)")
    ax.barh([y + 0.2 for y in ys], [r["measured_s"] * factor for r in rows], height=0.4,
            color="tab:blue", label="measured on this machine")
    ax.set_yticks(list(ys), [r["layer"] for r in rows], fontsize=8 if n <= 30 else 6)
    ax.invert_yaxis()
    ax.set_xlabel(f"latency per layer ({unit})")
    ax.set_title("sparsified model: estimated vs measured latency per layer", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)
