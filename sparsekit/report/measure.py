"""What the demo measures on this machine: whole-model times, the speedup of the sparsified
model at several sparsities, and the time of each layer of a model on its real input; and
those times set beside the host-cpu estimate (``against_estimate``: the error per layer and
for the whole model, and where it is off by more than half, why).

Layer times come from running each layer alone on the input it received in one forward pass
of the whole model (recorded with forward pre-hooks), so they can be set beside an estimate's
per-layer latencies. Everything runs under ``torch.no_grad()``.
"""
from __future__ import annotations

import copy

import torch
from tqdm.auto import tqdm

from sparsekit.benchmarking.timing import measure
from sparsekit.model.inputs import layer_inputs
from sparsekit.model.tracing import call_model


def model_seconds(model, x, budget_s: float) -> float:
    """Median seconds of ``model(x)`` within about ``budget_s`` (at least 3 runs)."""
    with torch.no_grad():
        return measure(lambda: call_model(model, x), min_rounds=3, max_rounds=100,
                       budget_s=budget_s).p50


def speedup_vs_sparsity(dense_model, x, sparsities, dense_s: float, budget_s: float,
                        structure="element", block=(4, 4), vector=8, progress=False) -> list:
    """Rows {sparsity, dense_s, sparse_s, speedup}: ``dense_model`` pruned by magnitude to each
    sparsity, converted with ``sk.sparsify(format="auto")`` and timed against ``dense_s``.
    ``budget_s`` bounds the timing of each sparsity (its conversion takes about as long)."""
    from sparsekit import prune
    from sparsekit.nn._sparsify import sparsify
    rows = []
    for s in tqdm(sparsities, desc="speedup vs sparsity", unit="sparsity", delay=2,
                  disable=not progress):
        pruned = copy.deepcopy(dense_model)
        prune.magnitude(pruned, s, structure=structure, block=block, vector=vector)
        fast = sparsify(pruned, format="auto", example_input=x, block=block, vector=vector,
                        budget_s=min(0.05, budget_s / 10), progress=False)
        sparse_s = model_seconds(fast, x, budget_s)
        rows.append({"sparsity": s, "dense_s": dense_s, "sparse_s": sparse_s,
                     "speedup": dense_s / sparse_s})
    return rows


def layer_seconds(model, x, names, budget_s: float, progress=False) -> dict:
    """{name: median seconds} of each module named in ``names`` run alone on its recorded
    input (``budget_s`` shared between the layers); names not called are left out."""
    inputs = layer_inputs(model, x, names)
    modules = dict(model.named_modules())
    per_layer = budget_s / max(len(inputs), 1)
    out = {}
    with torch.no_grad():
        for name in tqdm([n for n in names if n in inputs], desc="layer times", unit="layer",
                         delay=2, disable=not progress):
            args, kwargs = inputs[name]
            module = modules[name]
            out[name] = measure(lambda: module(*args, **kwargs), min_rounds=3, max_rounds=50,
                                budget_s=per_layer).p50
    return out


# -- measured against estimated ----------------------------------------------------------------
OFF = 0.5       # beyond this relative error a prediction is flagged "off", with the reason


def error(estimated_s: float, measured_s: float) -> float:
    """|estimated / measured - 1|."""
    return abs(estimated_s / measured_s - 1.0)


def why_off(cost, fmt: str, estimated_s: float, measured_s: float) -> str:
    """Why an estimate (``cost``: an ``hwmodel`` LayerCost; ``fmt``: the format it runs in)
    is off by more than ``OFF`` from the measured time, in a phrase ("" when it is not): what
    the host model simplifies for that layer."""
    if error(estimated_s, measured_s) <= OFF:
        return ""
    side = "over" if estimated_s > measured_s else "under"
    if cost is None:
        return (f"{side}-estimated: the whole model's ops are priced one pass over memory "
                "each, unfused, and fixed costs per call as calibrated on tiny calls")
    if cost.bound == "calls":
        return f"{side}-estimated: fixed cost per call dominates (calibrated on tiny calls)"
    if fmt not in ("dense", "-", ""):
        return (f"{side}-estimated: the {fmt} kernel's efficiency and decode cost are fitted "
                "on a few shapes, far from this one")
    if cost.name.startswith("ops:"):
        return f"{side}-estimated: other ops are priced as streams of their bytes, unfused"
    return (f"{side}-estimated: torch's dense efficiency is one figure per op kind, fitted on "
            "a few shapes; this shape runs at another rate")


def against_estimate(est, measured: dict, model_s: float | None = None) -> list:
    """Rows {layer, format, estimated_s, measured_s, error, note} of an estimate (a
    ``ModelEstimate`` of the model as it runs) beside measured times ({layer name: seconds},
    as ``layer_seconds`` gives them): every layer measured, then the whole model (estimated
    total against ``model_s``) when given. ``note`` says why an estimate is off (``why_off``)."""
    rows = []
    for cost, fmt in zip(est.layers, est.formats):
        if cost.name in measured:
            m = measured[cost.name]
            rows.append({"layer": cost.name, "format": fmt, "estimated_s": cost.seconds,
                         "measured_s": m, "error": error(cost.seconds, m),
                         "note": why_off(cost, fmt, cost.seconds, m)})
    if model_s is not None:
        rows.append({"layer": "whole model", "format": "", "estimated_s": est.latency_s,
                     "measured_s": model_s, "error": error(est.latency_s, model_s),
                     "note": why_off(None, "", est.latency_s, model_s)})
    return rows
