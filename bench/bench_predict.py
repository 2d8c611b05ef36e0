"""Closing the loop: predict the measured kernel times with the calibrated "host-cpu" preset.

A session fixture runs ``sparsekit calibrate`` (into a temporary directory, or uses the
preset named by ``SK_HOST_PRESET``); each grid point (shape × sparsity × batch × format, one
thread) that is not one of ``sparsekit.hw._calibrate.CALIBRATION_POINTS`` is timed and predicted,
and |predicted / measured - 1| is recorded in extra_info. At the end of the module the
per-point table, the median and the worst error are printed (target: median ≤ 15 %, worst
≤ 50 %) and written to bench/.benchmarks/predict.json.

    python -m pytest bench/bench_predict.py --sk-grid targets --benchmark-disable -s
    python bench/bench_predict.py [smoke|targets|full]      # the same, without pytest
"""
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest import GRIDS, activations, sparse_matrix  # noqa: E402

import hwmodel  # noqa: E402
from hwmodel.table import Table  # noqa: E402
from sparsekit.hw._calibrate import (CALIBRATION_POINTS, calibrate, kernel_layer,  # noqa: E402
                                 warm, working_set)
from sparsekit.benchmarking.timing import measure  # noqa: E402
from sparsekit.benchmarking.workloads import STRUCTURE_OF_FORMAT  # noqa: E402

FORMATS = tuple(STRUCTURE_OF_FORMAT)     # every registered format (sparsekit.formats.registry)
TARGET_MEDIAN, TARGET_WORST = 0.15, 0.50
OUT = Path(__file__).with_name(".benchmarks") / "predict.json"


def host_preset(budget_s=10.0):
    """The calibrated host-cpu Hardware: SK_HOST_PRESET if set, else a fresh calibration."""
    given = os.environ.get("SK_HOST_PRESET")
    if given:
        return hwmodel.load(given)
    path = Path(tempfile.mkdtemp(prefix="sk-cal-")) / "host-cpu.yaml"
    calibrate(path, threads=1, budget_s=budget_s)
    return hwmodel.load(path)


def is_calibration_point(shape, sparsity, batch):
    return (tuple(shape), sparsity, batch) in {(tuple(s), p, b) for s, p, b in CALIBRATION_POINTS}


def predict_point(hw, fmt, shape, sparsity, batch, budget_s=0.2):
    """One row: measured and predicted seconds of ``fmt`` at the point, and the error."""
    a = sparse_matrix(fmt, shape, sparsity, STRUCTURE_OF_FORMAT[fmt])
    x = activations(shape[1], batch)
    out = np.empty((shape[0],) + x.shape[1:], np.float32)
    measured = measure(lambda: a.matmul(x, out), min_rounds=3, budget_s=budget_s).p50
    est = hwmodel.estimate(warm(hw, working_set(a, batch)), kernel_layer(a, batch),
                           objective="latency")
    predicted, bound = est.latency_s, est.bound
    return {"format": fmt, "shape": f"{shape[0]}x{shape[1]}", "sparsity": sparsity,
            "batch": batch, "measured_s": measured, "predicted_s": predicted,
            "ratio": predicted / measured, "error": abs(predicted / measured - 1),
            "bound": bound}


def report(rows, write=OUT):
    """The table and a one-line verdict; also written as JSON next to the other results."""
    errors = np.array([r["error"] for r in rows])
    median, worst = float(np.median(errors)), float(errors.max())
    verdict = (f"prediction error over {len(rows)} points: median {median:.1%} "
               f"(target <= {TARGET_MEDIAN:.0%}), worst {worst:.1%} "
               f"(target <= {TARGET_WORST:.0%})")
    if write:
        write.parent.mkdir(exist_ok=True)
        write.write_text(json.dumps({"median": median, "worst": worst, "rows": rows}, indent=2))
    return str(Table(rows)) + "\n" + verdict, median, worst


@pytest.fixture(scope="module")
def hw():
    import sparsekit as sk
    sk.set_num_threads(1)
    return host_preset(budget_s=5.0)


@pytest.fixture(scope="module")
def collected(request):
    rows = []
    yield rows
    if rows:
        text, _, _ = report(rows)
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print("\nhost-cpu prediction vs measurement (one thread)\n" + text)


@pytest.mark.parametrize("fmt", FORMATS)
def bench_predict(benchmark, hw, collected, pinned, fmt, shape, sparsity, batch, threads):
    if threads != 1:
        pytest.skip("the host-cpu preset is calibrated for one thread")
    if is_calibration_point(shape, sparsity, batch):
        pytest.skip("calibration point: not a prediction")
    row = predict_point(hw, fmt, shape, sparsity, batch)
    a = sparse_matrix(fmt, shape, sparsity, STRUCTURE_OF_FORMAT[fmt])
    x = activations(shape[1], batch)
    out = np.empty((shape[0],) + x.shape[1:], np.float32)
    benchmark(a.matmul, x, out)
    benchmark.extra_info.update(row)
    collected.append(row)
    assert row["predicted_s"] > 0 and np.isfinite(row["predicted_s"])


def main(grid="targets"):
    import sparsekit as sk
    sk.set_num_threads(1)
    g = GRIDS[grid]
    hw_ = host_preset()
    rows = [predict_point(hw_, fmt, shape, sp, b)
            for shape in g["shapes"] for sp in g["sparsities"] for b in g["batches"]
            for fmt in FORMATS if not is_calibration_point(shape, sp, b)]
    text, median, worst = report(rows)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))


