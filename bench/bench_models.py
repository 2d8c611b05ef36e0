"""Whole-model benchmark: dense torch vs ``sk.sparsify(format="auto")``, plus dense onnxruntime.

Models: the MLP 4096-4096-4096-1024 and resnet18/resnet50-shaped CNNs at 3×224×224, pruned by
magnitude (every conv and linear layer to the same level), unstructured or in VectorSkip's
V=8 vectors. Batch 1 and 64, 1 and 2 threads (``sk.set_num_threads`` pins Numba and torch;
onnxruntime gets the same intra-op thread count).

Engines, timed in the same run:
- ``torch``: the pruned model with its masks folded (plain dense weights), eval, inference
  mode — what a PyTorch user runs;
- ``sparsekit``: ``sk.sparsify(model, "auto", example_input=x)`` of that model (formats chosen
  per layer by measurement at this batch and thread count; BatchNorm folded);
- ``onnxruntime``: the dense model exported with ``torch.onnx.export(..., dynamo=False)``,
  CPUExecutionProvider (dense: its time does not depend on sparsity, so it runs once, at
  sparsity 0). Skipped when onnxruntime is not installed (``pip install .[bench]``).

Large blocks are kept in the malloc heap during the run (see ``keep_freed_memory``): without
that, batch-64 CNN times measure page faults more than compute.

Grids (``--sk-grid``, shared with the kernel benchmarks): ``smoke`` (CI, seconds), ``targets``
(the README's target points, a few minutes), ``full`` (everything, ~30 min).

    pytest bench/bench_models.py --sk-grid targets --benchmark-json models.json
    python bench/bench_models.py models.json          # Markdown speedup table
"""
from __future__ import annotations

import functools
import json
import os
import sys
import time

import pytest

from sparsekit.benchmarking.quiet import wait_until_quiet

MODELS_GRID = {
    "smoke": dict(models=["mlp", "resnet18"], points=[("element", 0.9)], batches=[1],
                  threads=[1]),
    "targets": dict(models=["mlp", "resnet50"],
                    points=[("element", 0.0), ("element", 0.9), ("vector", 0.9)],
                    batches=[1, 64], threads=[1]),
    "full": dict(models=["mlp", "resnet18", "resnet50"],
                 points=[("element", 0.0), ("element", 0.7), ("element", 0.9),
                         ("element", 0.95), ("vector", 0.9)],
                 batches=[1, 64], threads=[1, 2]),
}
VECTOR = 8
ENGINES = ("torch", "sparsekit", "onnxruntime")


def _grid(config):
    try:
        name = config.getoption("--sk-grid")
    except ValueError:  # run without bench/conftest.py
        name = "smoke"
    return MODELS_GRID[name]


def pytest_generate_tests(metafunc):
    if "model_case" not in metafunc.fixturenames:
        return
    g = _grid(metafunc.config)
    cases = []
    for model in g["models"]:
        for structure, level in g["points"]:
            if structure == "vector" and model == "mlp":
                continue  # the MLP targets are unstructured
            for batch in g["batches"]:
                for threads in g["threads"]:
                    for engine in ENGINES:
                        if engine == "onnxruntime" and level != 0.0 and \
                                ("element", 0.0) in g["points"]:
                            continue  # dense: once per model/batch/threads
                        cases.append((model, structure, level, batch, threads, engine))
    ids = [f"{m}-{s}{int(lv * 100)}-b{b}-t{t}-{e}" for m, s, lv, b, t, e in cases]
    metafunc.parametrize("model_case", cases, ids=ids, scope="module")


# -- cached set-up (pruning and sparsifying a resnet50 takes seconds) ---------------------
@functools.lru_cache(maxsize=2)
def dense_model(name):
    import torch

    from sparsekit.models import load_model
    torch.manual_seed(0)
    return load_model(name)


@functools.lru_cache(maxsize=2)
def pruned_model(name, structure, level):
    import copy

    import sparsekit as sk
    from sparsekit.nn._sparsify import fold_masks
    model = copy.deepcopy(dense_model(name))
    if level > 0:
        sk.prune.magnitude(model, level, structure=structure, vector=VECTOR)
        fold_masks(model)  # plain dense weights holding the zeros
    return model.eval()


@functools.lru_cache(maxsize=4)
def example(name, batch):
    from sparsekit.models import example_input
    return example_input(name, batch=batch, seed=1)


@functools.lru_cache(maxsize=2)
def sparse_model(name, structure, level, batch, threads):
    import sparsekit as sk
    sk.set_num_threads(threads)
    t0 = time.perf_counter()
    model, report = sk.sparsify(pruned_model(name, structure, level), "auto",
                                example_input=example(name, batch), progress=False,
                                return_report=True)
    formats = {}
    for row in report:
        formats[row["format"]] = formats.get(row["format"], 0) + 1
    return model, formats, time.perf_counter() - t0


@functools.lru_cache(maxsize=2)
def onnx_session(name, threads, tmpdir):
    import onnxruntime as ort
    import torch
    path = f"{tmpdir}/{name}.onnx"
    torch.onnx.export(dense_model(name), (example(name, 1),), path, dynamo=False,
                      input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module", autouse=True)
def keep_freed_memory():
    """glibc hands blocks above its mmap threshold (at most 32 MB) back to the OS on free, so
    every large activation (a batch-64 resnet tensor is ~200 MB) is fresh memory whose pages
    fault in on first touch: dense resnet50 at batch 64 takes 7.6 s instead of 3.6 s on this
    machine, and times drift with the heap's history. Serving large blocks from the heap and
    never trimming it (what a caching allocator does) measures compute, not page faults, for
    every engine alike. Restored to glibc's defaults afterwards."""
    import ctypes
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to do
        yield
        return
    m_trim_threshold, m_mmap_max = -1, -4
    libc.mallopt(m_mmap_max, 0)
    libc.mallopt(m_trim_threshold, ctypes.c_int(2**31 - 1))
    yield
    libc.mallopt(m_mmap_max, 65536)
    libc.mallopt(m_trim_threshold, 128 * 1024)


def _rounds(fn, budget_s=2.0, lo=3, hi=50):
    """How many rounds fit the budget, from one timed call (which also warms up)."""
    t0 = time.perf_counter()
    fn()
    return max(lo, min(hi, int(budget_s / max(time.perf_counter() - t0, 1e-6))))


def test_model(benchmark, model_case, tmp_path_factory):
    import torch

    import sparsekit as sk
    name, structure, level, batch, threads, engine = model_case
    sk.set_num_threads(threads)
    x = example(name, batch)
    info = dict(model=name, structure=structure, sparsity=level, batch=batch,
                threads=threads, engine=engine)
    if engine == "onnxruntime":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnx")
        session = onnx_session(name, threads, str(tmp_path_factory.getbasetemp()))
        feed = {"x": x.numpy()}

        def run():
            return session.run(None, feed)
    elif engine == "torch":
        model = pruned_model(name, structure, level)

        def run():
            with torch.inference_mode():
                return model(x)
    else:
        model, formats, setup_s = sparse_model(name, structure, level, batch, threads)
        info.update(formats=formats, sparsify_s=round(setup_s, 2))
        with torch.inference_mode():  # the converted model computes what the dense one does
            torch.testing.assert_close(model(x), pruned_model(name, structure, level)(x),
                                       rtol=1e-4, atol=1e-4)

        def run():
            with torch.inference_mode():
                return model(x)
    rounds = _rounds(run)
    # Other processes on a 2-core machine distort timings (2-thread runs most): wait for
    # quiet, record the load average before and after, and flag rows measured under load.
    # A smoke run (--benchmark-disable) times nothing, so it does not wait.
    info["waited_s"] = 0.0 if benchmark.disabled else round(wait_until_quiet(), 1)
    info["load_before"] = round(os.getloadavg()[0], 2)
    benchmark.extra_info.update(info)
    benchmark.pedantic(run, rounds=rounds, iterations=1, warmup_rounds=0)
    benchmark.extra_info["load_after"] = round(os.getloadavg()[0], 2)


# -- the table ------------------------------------------------------------------------------
def table(path, stat="min") -> str:
    """A Markdown table of speedups from a ``--benchmark-json`` file: per model, pruning,
    batch and threads, the times (``stat``: "min" — the best round, least disturbed by other
    processes — or "median") of dense torch, sparsekit and dense onnxruntime, the speedup
    over torch and over onnxruntime, and the formats "auto" chose. Rows where the 1-minute
    load average exceeded the thread count by more than 1 while measuring get a "†" (the
    benchmark waits for a quiet machine before each measurement, but cannot stop others)."""
    data = json.load(open(path))
    times, formats, loaded = {}, {}, set()
    for b in data["benchmarks"]:
        e = b["extra_info"]
        key = (e["model"], e["structure"], e["sparsity"], e["batch"], e["threads"])
        times[key + (e["engine"],)] = b["stats"][stat]
        if max(e.get("load_before", 0), e.get("load_after", 0)) > e["threads"] + 1.0:
            loaded.add(key)
        if e["engine"] == "sparsekit":
            formats[key] = e.get("formats", {})
    lines = [f"| model | pruning | batch | threads | torch ms | sparsekit ms | onnxruntime ms "
             f"| speedup vs torch | vs onnxruntime | formats (auto) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(formats, key=lambda k: (k[0], k[3], k[4], k[1], k[2])):
        model, structure, level, batch, threads = key
        t_torch = times.get(key + ("torch",))
        t_sparse = times.get(key + ("sparsekit",))
        t_ort = times.get(key + ("onnxruntime",)) or \
            times.get((model, "element", 0.0, batch, threads, "onnxruntime"))
        pruning = "dense" if level == 0 else \
            f"{level:.0%} {'unstructured' if structure == 'element' else f'vector V={VECTOR}'}"
        fmts = ", ".join(f"{k} {v}" for k, v in sorted(formats[key].items()))
        mark = " †" if key in loaded else ""

        def ms(t):
            return f"{t * 1e3:.2f}" if t else "–"

        def ratio(a, b):
            return f"{a / b:.2f}×" if a and b else "–"
        lines.append(f"| {model} | {pruning}{mark} | {batch} | {threads} | {ms(t_torch)} | "
                     f"{ms(t_sparse)} | {ms(t_ort)} | {ratio(t_torch, t_sparse)} | "
                     f"{ratio(t_ort, t_sparse)} | {fmts} |")
    return "\n".join(lines) + f"\n\nTimes: {stat} over rounds.\n"


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] not in ("min",
                                                                                 "median")):
        sys.exit("usage: python bench/bench_models.py BENCHMARK.json [min|median]")
    print(table(*sys.argv[1:]))
