"""How long ``sparsekit summary MODEL`` takes and how much memory it holds (issue 8).

Target (a quiet machine): ``sparsekit summary resnet50`` in ≤ 3 s wall time and ≤ 300 MB peak
resident memory, the whole command (interpreter start included).

Each run is a fresh interpreter: a small wrapper starts the command, waits for it and reads
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` (its only child). The benchmark records
seconds and MB against the targets in ``extra_info``; it asserts neither (the machine may be
busy). ``--sk-grid smoke`` runs small_cnn, the other grids resnet50.

Run as a script for the figures and where the memory goes: the resident memory after each
step of the command (imports, model, input probe, analysis), in a fresh interpreter.

    flock /work/bench.lock python bench/bench_summary.py resnet50 --repeat 3
    python -m pytest -q bench/bench_summary.py --sk-grid smoke --benchmark-disable
"""
import argparse
import json
import subprocess
import sys
import textwrap

TARGET_S, TARGET_MB = 3.0, 300.0
MODELS = {"smoke": "small_cnn", "targets": "resnet50", "full": "resnet50"}

_WRAPPER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run([sys.executable, "-m", "sparsekit.cli", "summary", {model!r}], check=True,
               stdout=subprocess.DEVNULL)
wall = time.perf_counter() - t
rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss   # KiB on Linux
print(json.dumps({{"wall_s": wall, "peak_rss_mb": rss_kib * 1024 / 1e6}}))
"""

# The steps of ``sparsekit summary`` (sparsekit/cli.py, cmd_summary), with the peak resident
# memory (VmHWM) and the time after each. A built-in model stays on the meta device and the
# input probe runs on placeholder weights; the analysis builds one module's weights at a time
# (sparsekit/model/streamed.py).
_STEPS = """
import json, sys, time
t0 = time.perf_counter()
steps = []
def step(name):
    with open("/proc/self/status") as f:
        hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
    steps.append((name, time.perf_counter() - t0, hwm * 1024 / 1e6))
step("interpreter")
from sparsekit import cli
step("import sparsekit.cli")
cli._return_freed_memory()
import torch
step("import torch")
from sparsekit.model import streamed
step("import analyze")
args = cli.build_parser().parse_args(["summary", {model!r}])
model, x, readers = cli.load_model_input_readers(args, meta=True)
step("model + input probe")
summary = cli.summary_of(model, x, args, readers)
step("analyze")
summary.to_text()
step("table")
print(json.dumps({{"steps": steps, "numba": "numba" in sys.modules,
                  "streamed": all(p.is_meta for p in model.parameters())}}))
"""


def json_of(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; the JSON object on its last line of output."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def summary_run(model: str) -> dict:
    """``sparsekit summary MODEL`` once: {"wall_s", "peak_rss_mb"}."""
    return json_of(_WRAPPER.format(model=model))


def summary_steps(model: str) -> dict:
    """The command's steps in one fresh interpreter: {"steps": [(name, s, peak MB)], "numba",
    "streamed"}."""
    return json_of(_STEPS.format(model=model))


def bench_summary(benchmark, request):
    model = MODELS[request.config.getoption("--sk-grid")]
    result = benchmark.pedantic(summary_run, args=(model,), rounds=1, iterations=1)
    assert result["wall_s"] > 0 and result["peak_rss_mb"] > 0
    benchmark.extra_info.update(model=model, **result, target_s=TARGET_S, target_mb=TARGET_MB,
                                met=result["wall_s"] <= TARGET_S
                                and result["peak_rss_mb"] <= TARGET_MB)
    print(f"\nsparsekit summary {model}: {result['wall_s']:.2f} s, "
          f"{result['peak_rss_mb']:.0f} MB peak RSS (targets for resnet50: ≤ {TARGET_S:g} s, "
          f"≤ {TARGET_MB:g} MB)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?", default="resnet50")
    p.add_argument("--repeat", type=int, default=3, help="runs of the whole command")
    a = p.parse_args(argv)
    runs = [summary_run(a.model) for _ in range(a.repeat)]
    for r in runs:
        print(f"sparsekit summary {a.model}: {r['wall_s']:.2f} s, {r['peak_rss_mb']:.0f} MB")
    best = min(r["wall_s"] for r in runs)
    print(f"best {best:.2f} s (target ≤ {TARGET_S:g}), peak RSS "
          f"{max(r['peak_rss_mb'] for r in runs):.0f} MB (target ≤ {TARGET_MB:g})")
    steps = summary_steps(a.model)
    print(f"\nsteps (one run; Numba loaded: {steps['numba']}; weights built one module at a "
          f"time: {steps['streamed']}):")
    prev = 0.0
    for name, s, mb in steps["steps"]:
        print(f"  {name:22s} {s:6.2f} s  peak {mb:5.0f} MB  (+{mb - prev:.0f})")
        prev = mb


if __name__ == "__main__":
    main()
