"""The demo's report folder: ``report.md`` with the tables, and four PNG pictures.

    report.md                  what was run and on what, the pictures, every table
    speedup_vs_sparsity.png    measured speedup of the sparsified model at several sparsities
    energy_breakdown.png       energy per inference by memory level and operand, per hardware
    roofline.png               every layer on each hardware's roofline
    layer_latency.png          estimated (host-cpu preset) against measured latency per layer
"""
from __future__ import annotations

from pathlib import Path

from sparsekit.report import markdown, plots

PICTURES = ("speedup_vs_sparsity.png", "energy_breakdown.png", "roofline.png",
            "layer_latency.png")

# table name -> (heading, what it shows)
SECTIONS = {
    "estimates": ("Dense vs compressed, whole model",
                  "The first row is measured on this machine (dense torch against "
                  "`sk.sparsify(format='auto')`); the others are estimates on each hardware "
                  "description. Ratios are dense / compressed."),
    "measured": ("Measured speedup against sparsity",
                 "The dense model pruned by magnitude to each sparsity, converted with "
                 "`sk.sparsify(format='auto')` and timed on this machine."),
    "host_vs_measured": ("Whole model: host-cpu estimate against measured",
                         "The dense and the sparsified model as they run, estimated on the "
                         "host-cpu preset and timed on this machine, with the error (and why "
                         "where it is above 50 %)."),
    "layer_latency": ("Latency per layer: estimated against measured",
                      "Each layer of the sparsified model timed alone on the input it "
                      "receives in the model, against its estimate on the host-cpu preset "
                      "in the same format."),
    "summary": ("Per-layer analysis of the pruned model",
                "MACs, sparsity structure and the bytes of the weight in every format."),
}


def write(directory, *, title, meta, tables, comparisons, hardware, layer_hw="host-cpu"):
    """Draw the pictures and write ``report.md`` into ``directory`` (which exists).

    tables: {"summary", "estimates", "measured", "host_vs_measured", "layer_latency"} and any
        per-hardware
        comparison tables (written after them); comparisons: {hardware name: sk.compare
        table}; hardware: {name: hwmodel.Hardware}. Returns the paths written."""
    out = Path(directory)
    measured = list(tables["measured"])
    chosen = meta.get("sparsity")
    paths = [
        plots.speedup_vs_sparsity(measured, out / PICTURES[0], chosen=chosen,
                                  title=f"{meta.get('model')}: measured speedup on this "
                                        f"machine ({meta.get('structure')} pruning, batch "
                                        f"{meta.get('batch')})"),
        plots.energy_breakdown(comparisons, out / PICTURES[1]),
        plots.roofline(comparisons, hardware, out / PICTURES[2]),
        plots.layer_latency(list(tables["layer_latency"]), out / PICTURES[3],
                            hardware=layer_hw),
    ]
    captions = ["Speedup against sparsity (measured)",
                "Energy per inference by memory level and operand (estimated)",
                "Roofline with every layer (estimated)",
                "Latency per layer: estimated against measured"]
    sections = [(*SECTIONS[name], tables[name]) for name in SECTIONS if name in tables]
    sections += [(f"{name}: dense vs compressed", "", table)
                 for name, table in tables.items() if name not in SECTIONS]
    text = markdown.report(title, meta, sections,
                           [(c, p.name) for c, p in zip(captions, paths)])
    md = out / "report.md"
    md.write_text(text, encoding="utf-8")
    return [md, *paths]
