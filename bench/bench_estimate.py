"""How fast ``sk.estimate`` is on a resnet50-shaped model (issue 8); ``sparsekit summary`` is
measured by bench_summary.py.

Targets (on a quiet machine):
- ``sk.estimate`` of a 90 %-pruned resnet50 (``sparsekit.models.resnet50``, 1×3×224×224):
  ≤ 0.3 s per preset once the process is warm, ≤ 1 s for the first call in a fresh
  interpreter (imports and the model's construction not counted);
- three presets at once (one trace reused): ≤ 0.5 s in all.

Each benchmark records its figure and target in ``extra_info`` and prints it; none asserts a
time (the machine may be busy). The first-call figure comes from a fresh interpreter, timed
inside.

    python -m pytest bench/bench_estimate.py -s              # timed (a quiet machine)
    python -m pytest -q bench --sk-grid smoke --benchmark-disable   # a smoke run
"""
import textwrap

import pytest
import torch

import hwmodel
import sparsekit as sk
from sparsekit.models import resnet50

from bench_summary import json_of   # a fresh interpreter's JSON line

TARGET_WARM_S, TARGET_FIRST_S, TARGET_THREE_S = 0.3, 1.0, 0.5
THREE = ("host-cpu", "eyeriss-like", "edge-npu")
SPARSITY = 0.9

_BUILD = """
import torch, sparsekit as sk
from sparsekit.models import resnet50
torch.manual_seed(0)
model = resnet50().eval()
sk.prune.magnitude(model, sparsity={sparsity})
x = torch.randn(1, 3, 224, 224)
"""


@pytest.fixture(scope="module")
def pruned():
    """The 90 %-pruned resnet50 and its input, estimated once (the process is warm)."""
    torch.manual_seed(0)
    model = resnet50().eval()
    sk.prune.magnitude(model, sparsity=SPARSITY)
    x = torch.randn(1, 3, 224, 224)
    sk.estimate(model, x, "host-cpu")
    return model, x


def _report(benchmark, name, value, target, unit="s"):
    benchmark.extra_info.update({name: value, f"{name}_target": target,
                                 f"{name}_met": value <= target})
    print(f"\n{name}: {value:.3g} {unit} (target ≤ {target:g} {unit})")


@pytest.mark.parametrize("preset", hwmodel.presets())
def bench_estimate_warm(benchmark, pruned, preset):
    model, x = pruned
    est = benchmark(sk.estimate, model, x, preset)
    assert est.latency_s > 0
    benchmark.extra_info["target_s"] = TARGET_WARM_S


def bench_estimate_three_presets(benchmark, pruned):
    model, x = pruned
    many = benchmark(sk.estimate, model, x, list(THREE))
    assert [e.hardware for e in many] == list(THREE)
    benchmark.extra_info["target_s"] = TARGET_THREE_S


def _first_call_s() -> dict:
    """A fresh interpreter: build and prune the model, then time its first ``sk.estimate``."""
    code = _BUILD.format(sparsity=SPARSITY) + textwrap.dedent("""
        import json, sys, time
        t = time.perf_counter()
        sk.estimate(model, x, "host-cpu")
        first = time.perf_counter() - t
        print(json.dumps({"first_s": first, "dynamo": "torch._dynamo" in sys.modules}))
        """)
    return json_of(code)


def bench_estimate_first_call(benchmark):
    result = benchmark.pedantic(_first_call_s, rounds=1, iterations=1)
    _report(benchmark, "first_call_s", result["first_s"], TARGET_FIRST_S)
    benchmark.extra_info["imports_torch_dynamo"] = result["dynamo"]
