"""Sensitivity analysis: prune each layer alone at a list of levels, evaluate, restore.

``evaluate(model)`` is the user's function (accuracy on a validation set, a loss, ...); it may
return a number or a dict of named numbers. Each layer is pruned by temporarily zeroing its
weakest groups in place (the tensor holding its values, so torch.nn.utils.prune and
parametrized weights work too) and restored exactly afterwards, even if ``evaluate`` raises.
"""
from __future__ import annotations

import sys

import torch

from hwmodel import table as _table
from sparsekit.prune import masks as M
from sparsekit.prune.apply import _out_in_dims, _refresh, compute_masks
from sparsekit.prune.select import (effective_weight, is_torch_pruned, select_layers,
                                    value_tensor)

DEFAULT_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


class SensitivityResult:
    """Rows ``{"layer", "sparsity", <metrics>}``; level 0 is the unpruned baseline."""

    def __init__(self, rows, metrics, baseline):
        self.rows = _table.Table(rows)
        self.metrics = tuple(metrics)
        self.baseline = baseline

    def __str__(self):
        return str(self.rows)

    def __repr__(self):
        layers = len({r["layer"] for r in self.rows})
        return f"<SensitivityResult {layers} layers × {len(self.levels)} levels, {self.metrics}>"

    @property
    def levels(self):
        return sorted({r["sparsity"] for r in self.rows})

    def layer(self, name) -> list[dict]:
        return [r for r in self.rows if r["layer"] == name]

    def to_csv(self, path=None) -> str:
        return self.rows.to_csv(path)

    def to_json(self, path=None) -> str:
        return self.rows.to_json(path)

    def to_markdown(self, path=None) -> str:
        return self.rows.to_markdown(path)

    def to_dataframe(self):
        return self.rows.to_dataframe()

    def plot(self, path=None, metric=None):
        """One line per layer: ``metric`` (default the first) against sparsity. Drawn with
        matplotlib's Agg canvas (no display, no global backend change); saved to ``path``
        (PNG, SVG, ...) when given. Returns the matplotlib Figure."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        metric = metric or self.metrics[0]
        if metric not in self.metrics:
            raise ValueError(f"unknown metric {metric!r}; have {self.metrics}")
        fig = Figure(figsize=(8, 5))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        layers = list(dict.fromkeys(r["layer"] for r in self.rows))
        for name in layers:
            pts = sorted((r["sparsity"], r[metric]) for r in self.layer(name))
            ax.plot([100 * p for p, _ in pts], [v for _, v in pts], marker=".", label=name)
        ax.set_xlabel("sparsity of the layer (%)")
        ax.set_ylabel(metric)
        ax.set_title("Pruning sensitivity: each layer pruned alone")
        ax.grid(alpha=0.3)
        if len(layers) <= 20:
            ax.legend(fontsize="small", ncol=1 + len(layers) // 10)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        return fig


def _metrics(value) -> dict:
    if isinstance(value, dict):
        out = {str(k): float(v) for k, v in value.items()}
    elif isinstance(value, torch.Tensor) and value.numel() == 1:
        out = {"metric": float(value.item())}
    elif isinstance(value, (int, float)):
        out = {"metric": float(value)}
    else:
        raise TypeError("evaluate(model) must return a number or a dict of numbers, got "
                        f"{type(value).__name__}")
    return out


def sensitivity(model, evaluate, levels=DEFAULT_LEVELS, *, structure="element", norm="l1",
                block=(4, 4), vector=8, include=None, exclude=None, types=None,
                name="weight", progress=None) -> SensitivityResult:
    """Prune each selected layer alone to each level in ``levels``, call ``evaluate(model)``,
    and restore it. Returns a SensitivityResult (``.to_csv()``, ``.plot()``), whose rows at
    sparsity 0 are the unpruned baseline (evaluated once)."""
    if not callable(evaluate):
        raise TypeError("evaluate must be a callable taking the model")
    levels = sorted({M.check_level(v, "level") for v in levels})
    if not levels:
        raise ValueError("levels must hold at least one sparsity level")
    structure = M.check_structure(structure)
    if structure == "nm":
        raise ValueError("sensitivity scans levels; N:M has one fixed level")
    layers = select_layers(model, include, exclude, types, name)
    compute_masks([], structure, levels[-1], norm=norm, block=block, vector=vector)  # validate
    options = dict(norm=norm, block=M.check_block(block), vector=M.check_vector(vector))
    baseline = _metrics(evaluate(model))
    rows = [{"layer": lname, "sparsity": 0.0, **baseline} for lname, _ in layers]
    if progress is None:
        progress = sys.stderr.isatty()
    from tqdm.auto import tqdm
    bar = tqdm(total=len(layers) * len([v for v in levels if v > 0]), disable=not progress,
               desc="sensitivity", unit="eval")
    try:
        for lname, module in layers:
            values = value_tensor(module, name)
            saved = values.detach().clone()
            for level in levels:
                if level == 0.0:
                    continue
                out_dim, in_dim = _out_in_dims(module)
                mask = M.layer_mask(effective_weight(module, name), structure, level,
                                    out_dim=out_dim, in_dim=in_dim, **options)
                try:
                    with torch.no_grad():
                        values.mul_(mask.to(values.dtype))
                    if is_torch_pruned(module, name):
                        _refresh(module, name)  # module.weight as the pre-hook would set it
                    metrics = _metrics(evaluate(model))
                finally:
                    with torch.no_grad():
                        values.copy_(saved)
                    if is_torch_pruned(module, name):
                        _refresh(module, name)
                rows.append({"layer": lname, "sparsity": level, **metrics})
                bar.update()
    finally:
        bar.close()
    order = {lname: i for i, (lname, _) in enumerate(layers)}
    rows.sort(key=lambda r: (order[r["layer"]], r["sparsity"]))
    metric_names = list(dict.fromkeys(k for r in rows for k in r if k not in ("layer",
                                                                             "sparsity")))
    return SensitivityResult(rows, metric_names, baseline)
