"""Whole-model host prediction against measurement (issue 8, "Host prediction of whole models").

For every point (model × dense/sparsified × batch 1 and 16) the model is timed on this machine
(``sparsekit.benchmarking.timing.measure``, one thread, the fastest round: other processes
only add time, as in ``sparsekit calibrate``) and estimated on the host-cpu preset
(``sk.estimate``, latency-optimal mappings); the row gives both, the ratio and the error
|estimated / measured - 1|, and the end the median and the worst error (target: median
≤ 20 %, worst ≤ 50 %). "sparse" is the model pruned to 90 % by magnitude and converted with
``sk.sparsify(format="auto", example_input=x)`` as the demo does; the estimate is of that
converted model as it runs (each sparse layer in the format it holds, BatchNorms folded).

Models: the MLP (4096-4096-4096-1024), small_cnn (3×32×32), resnet18- and resnet50-shaped CNNs
and a mobilenet_v2-like CNN (inverted residuals with depthwise convs,
``sparsekit.models.mobilenet_v2``),
all three at 3×112×112 (a quarter of the 224×224 positions, so that a run stays within a few
minutes; the layer shapes are torchvision's), and ``transformer_encoder`` (nn.TransformerEncoder,
6 layers, d=384, sequence 128).

    flock /work/bench.lock python bench/bench_whole_model.py [--preset PATH] [--budget S]
    python -m pytest bench/bench_whole_model.py --sk-grid smoke --benchmark-disable

The script writes the table to ``bench/results/whole_model.md``; the preset is
``--preset``, ``SK_HOST_PRESET``, or "host-cpu" (the calibrated one when `sparsekit calibrate`
has run, else the shipped preset).
"""
import argparse
import copy
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import hwmodel
import sparsekit as sk
from hwmodel.table import Table
from sparsekit import models
from sparsekit.benchmarking.timing import measure
from sparsekit.model.tracing import call_model

TARGET_MEDIAN, TARGET_WORST = 0.20, 0.50
SPARSITY = 0.9
OUT = Path(__file__).with_name("results") / "whole_model.md"


# name -> (constructor, input shape without the batch)
MODELS = {
    "mlp": (models.mlp, (4096,)),
    "small_cnn": (models.small_cnn, (3, 32, 32)),
    "resnet18@112": (models.resnet18, (3, 112, 112)),
    "resnet50@112": (models.resnet50, (3, 112, 112)),
    "mobilenet_v2@112": (models.mobilenet_v2, (3, 112, 112)),
    "transformer_encoder": (models.transformer_encoder, (128, 384)),
}
BATCHES = (1, 16)
SMOKE = (("small_cnn", 1),)


def host(preset=None):
    """The host-cpu Hardware the points are estimated on: ``preset``, SK_HOST_PRESET, or the
    one ``sk.sparsify`` prices with (the calibrated preset where `sparsekit calibrate` has
    run, else the shipped one)."""
    chosen = preset or os.environ.get("SK_HOST_PRESET")
    if chosen:
        return hwmodel.load(chosen)
    from sparsekit.nn._choose import host_hardware
    return host_hardware()[0]


def variants(name, batch, budget_s):
    """(label, model, input) of the dense model and its 90 %-pruned sparsified copy."""
    torch.manual_seed(0)
    ctor, shape = MODELS[name]
    model = ctor().eval()
    x = torch.randn((batch,) + shape, generator=torch.Generator().manual_seed(1))
    pruned = copy.deepcopy(model)
    sk.prune.magnitude(pruned, SPARSITY)
    fast = sk.sparsify(pruned, format="auto", example_input=x, budget_s=min(0.05, budget_s),
                       progress=False)
    return [("dense", model, x), (f"sparse {SPARSITY:.0%}", fast, x)]


def point(hw, name, label, model, x, budget_s):
    """One row: measured and estimated seconds of ``model(x)`` and the error."""
    with torch.no_grad():
        measured = measure(lambda: call_model(model, x), min_rounds=3, max_rounds=100,
                           budget_s=budget_s).min
    est = sk.estimate(model, x, hw, format="dense" if label == "dense" else "auto",
                      objective="latency", progress=False)
    ratio = est.latency_s / measured
    return {"model": name, "variant": label, "batch": int(x.shape[0]),
            "measured_ms": measured * 1e3, "estimated_ms": est.latency_s * 1e3,
            "est/meas": ratio, "error": abs(ratio - 1)}


def summary(rows):
    """(median, worst) error and a one-line verdict."""
    errors = np.array([r["error"] for r in rows])
    median, worst = float(np.median(errors)), float(errors.max())
    return median, worst, (f"whole-model error over {len(rows)} points: median {median:.1%} "
                           f"(target <= {TARGET_MEDIAN:.0%}), worst {worst:.1%} "
                           f"(target <= {TARGET_WORST:.0%})")


def run(hw, points, budget_s, say=print):
    rows = []
    for name, batch in points:
        for label, model, x in variants(name, batch, budget_s):
            rows.append(point(hw, name, label, model, x, budget_s))
            r = rows[-1]
            say(f"{name:20s} {label:10s} b{batch:<3d} measured {r['measured_ms']:9.3f} ms  "
                f"estimated {r['estimated_ms']:9.3f} ms  error {r['error']:6.1%}")
    return rows


def write(rows, hw, out=OUT):
    median, worst, verdict = summary(rows)
    out.parent.mkdir(exist_ok=True)
    out.write_text(f"# Whole-model host-cpu estimate against measurement\n\n"
                   f"Preset: {hw.description.strip() or hw.name}\n\n"
                   f"One thread; `python bench/bench_whole_model.py` (see its docstring).\n\n"
                   f"{Table(rows).to_markdown()}\n\n{verdict}\n", encoding="utf-8")
    return verdict


@pytest.fixture(scope="module")
def smoke_hw():
    sk.set_num_threads(1)
    return host()


@pytest.mark.parametrize("model_point", SMOKE, ids=[f"{m}-b{b}" for m, b in SMOKE])
def bench_whole_model(smoke_hw, model_point):
    rows = run(smoke_hw, [model_point], budget_s=0.05, say=lambda _: None)
    assert len(rows) == 2
    for r in rows:
        assert r["measured_ms"] > 0 and np.isfinite(r["estimated_ms"]) and r["estimated_ms"] > 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", help="host-cpu preset YAML (default SK_HOST_PRESET or host-cpu)")
    p.add_argument("--budget", type=float, default=0.5, help="timing budget per point (s)")
    p.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--batches", nargs="*", type=int, default=list(BATCHES))
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    sk.set_num_threads(1)
    hw = host(args.preset)
    rows = run(hw, [(m, b) for m in args.models for b in args.batches], args.budget)
    print(Table(rows).to_text(wide=True))
    print(write(rows, hw, Path(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
