"""What the demo measures on this machine: whole-model times, the speedup of the sparsified
model at several sparsities, and the time of each layer of a model on its real input.

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
