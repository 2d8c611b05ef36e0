"""The one timer (rounds within a budget, p50/p90/min) and `sparsekit bench --quick`, whose
dense baseline runs in the same interleaved rounds as each sparse product. Times come from a
fake clock where a test needs exact figures: no timing assertions."""
import csv
import io
import os
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparsekit.benchmarking import quick, timing
from sparsekit.benchmarking.timing import Timing, interleaved, measure, paired_ratio


class FakeClock:
    """A clock that only moves when a fake callable 'runs' for its given duration."""

    def __init__(self):
        self.now = 0.0
        self.calls = []

    def __call__(self):
        return self.now

    def task(self, name, durations):
        """A callable that takes durations[i] seconds on its i-th call (warm-up included)."""
        it = iter(durations)

        def run():
            self.calls.append(name)
            self.now += next(it)
        return run


def test_interleaved_alternates_and_reports_each_callables_spread():
    clock = FakeClock()
    dense = clock.task("dense", [9.0] + [2.0, 4.0, 3.0, 5.0, 1.0])
    sparse = clock.task("sparse", [9.0] + [1.0, 1.0, 2.0, 1.0, 1.0])
    d, s = interleaved([dense, sparse], budget_s=0.0, min_rounds=5, max_rounds=5, clock=clock)
    assert clock.calls == ["dense", "sparse"] * 6  # warm-up, then 5 alternating rounds
    assert (d.p50, d.min, d.rounds, d.times) == (3.0, 1.0, 5, (2.0, 4.0, 3.0, 5.0, 1.0))
    assert d.p90 == pytest.approx(np.percentile([2, 4, 3, 5, 1], 90))
    assert (s.p50, s.p90, s.min, s.rounds) == (1.0, pytest.approx(1.6), 1.0, 5)
    # speedup: median of the per-round ratios 2, 4, 1.5, 5, 1
    assert paired_ratio(d, s) == 2.0


def test_rounds_stop_at_the_budget_between_min_and_max():
    clock = FakeClock()
    fn = clock.task("f", [0.125] * 1000)  # exact in binary: 8 rounds make 1 s
    assert measure(fn, budget_s=1.0, min_rounds=2, max_rounds=100, clock=clock).rounds == 8
    assert measure(fn, budget_s=0.0, min_rounds=3, max_rounds=100, clock=clock).rounds == 3
    assert measure(fn, budget_s=50.0, min_rounds=1, max_rounds=7, clock=clock).rounds == 7


@given(st.lists(st.floats(1e-9, 10.0), min_size=1, max_size=50))
def test_timing_of_any_times_is_ordered(times):
    t = Timing.of(times)
    assert t.min <= t.p50 <= t.p90 <= max(times)
    assert t.rounds == len(times) and t.p50 == pytest.approx(float(np.median(times)))


def test_timing_prints_with_si_units():
    t = Timing.of([0.0021, 0.0023, 0.0030])
    assert str(t) == "p50 2.30 ms, p90 2.86 ms (min 2.10 ms, 3 rounds)"


def test_warmup_false_times_every_call():
    calls = []
    result = timing.measure(lambda: calls.append(1), min_rounds=4, max_rounds=4, budget_s=0.0,
                            warmup=False)
    assert result.rounds == 4 and len(calls) == 4
    timing.measure(lambda: calls.append(1), min_rounds=4, max_rounds=4, budget_s=0.0)
    assert len(calls) == 4 + 1 + 4          # one untimed warm-up call by default


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(fns=[1]), TypeError, "timing needs callables, got int at position 0"),
    (dict(fns=[]), ValueError, "at least one callable"),
    (dict(budget_s=-1.0), ValueError, "budget_s must be a finite number of seconds >= 0, got -1.0"),
    (dict(budget_s=float("nan")), ValueError, "budget_s must be"),
    (dict(budget_s=True), ValueError, "budget_s must be"),
    (dict(min_rounds=0), ValueError, "min_rounds must be an integer >= 1, got 0"),
    (dict(max_rounds=2.5), ValueError, "max_rounds must be an integer >= 1, got 2.5"),
    (dict(min_rounds=5, max_rounds=2), ValueError, r"max_rounds \(2\) must be >= min_rounds"),
])
def test_bad_arguments_name_the_problem(kwargs, error, message):
    args = dict(fns=[lambda: None], budget_s=0.0, min_rounds=1, max_rounds=3)
    args.update(kwargs)
    with pytest.raises(error, match=message):
        interleaved(args.pop("fns"), **args)


def test_paired_ratio_needs_the_same_rounds():
    with pytest.raises(ValueError, match="same rounds, got 2 and 3"):
        paired_ratio(Timing.of([1, 2]), Timing.of([1, 2, 3]))


def test_quick_bench_times_dense_beside_each_sparse_row(monkeypatch):
    seen = []

    def recording(fns, **kw):
        seen.append(len(fns))
        return interleaved(fns, **kw)

    monkeypatch.setattr(quick, "interleaved", recording)
    table = quick.run(shapes=[(24, 40)], sparsities=[0.5], batches=[1, 3],
                      formats=("csr", "vectorskip"), threads=1, budget_s=0.0, progress=False)
    assert len(table) == 4 and seen == [3, 3, 3, 3]  # dense, sparse, torch CSR per row
    for row in table:
        assert row["rounds"] >= 5
        assert 0 < row["dense_s"] <= row["dense_p90_s"]
        assert 0 < row["sparse_s"] <= row["sparse_p90_s"]
        assert row["speedup"] > 0 and row["speedup_vs_torch_csr"] > 0
    assert [(r["batch"], r["format"]) for r in table] == [
        (1, "csr"), (1, "vectorskip"), (3, "csr"), (3, "vectorskip")]
    text = table.to_text()
    assert max(len(line) for line in text.splitlines()) <= 100
    header = text.splitlines()[0]
    shown = re.split(r"\s{2,}", header)
    assert shown[:4] == ["shape", "sparsity", "batch", "format"]
    for label in ("dense", "dense_p90", "sparse", "sparse_p90"):  # p50 and p90 of both
        assert any(re.fullmatch(label + r" (µs|ms|s)", h) for h in shown), label
    assert "speedup" in shown and "speedup: dense / sparse time" in text
    rows = list(csv.DictReader(io.StringIO(table.to_csv())))
    assert float(rows[0]["dense_s"]) == table[0]["dense_s"]  # exact seconds


def test_quick_bench_rejects_unknown_formats():
    with pytest.raises(ValueError, match=r"unknown format\(s\) \['coo'\]"):
        quick.run(shapes=[(8, 8)], sparsities=[0.5], batches=[1], formats=("coo",),
                  progress=False)


def test_baselines_compute_w_at_x_without_torch_beta_warnings(recwarn):
    from sparsekit.benchmarking.baselines import DENSE, SPARSE, baseline
    from sparsekit.benchmarking.workloads import random_weight
    w = random_weight((8, 12), 0.5)
    x = np.random.default_rng(0).standard_normal((12, 3)).astype(np.float32)
    for name in DENSE + SPARSE:
        y = baseline(name, w, x)()
        y = y.to_dense() if hasattr(y, "to_dense") else y
        np.testing.assert_allclose(np.asarray(y), w @ x, rtol=1e-5, atol=1e-5, err_msg=name)
    assert not [w for w in recwarn if "beta" in str(w.message)]
    assert baseline("torch_bsr", random_weight((6, 12), 0.5), x) is None  # 6 % 4 != 0
    with pytest.raises(ValueError, match="unknown baseline 'cusparse'"):
        baseline("cusparse", w, x)


@pytest.mark.parametrize("structure, group", [("unstructured", (1, 1)), ("block", (4, 4)),
                                              ("vector", (8, 1))])
def test_random_weight_has_the_sparsity_in_the_structure_asked(structure, group):
    from sparsekit.benchmarking.workloads import random_weight
    w = random_weight((64, 48), np.float32(0.75), structure)
    r, c = group
    tiles = (w.reshape(64 // r, r, 48 // c, c) != 0).any(axis=(1, 3))
    assert 1 - tiles.mean() == pytest.approx(0.75, abs=1 / tiles.size)


@pytest.mark.parametrize("kwargs, message", [
    (dict(shape=(0, 4)), r"shape must be two positive integers \(M, K\), got \(0, 4\)"),
    (dict(shape=(4.0, 4)), "shape must be two integers"),
    (dict(shape=8), "shape must be two integers"),
    (dict(sparsity=1.0), r"sparsity must be a number in \[0, 1\), got 1.0"),
    (dict(sparsity="0.5"), r"sparsity must be a number in \[0, 1\), got '0.5'"),
    (dict(sparsity=True), "sparsity must be a number"),
    (dict(structure="row"), "structure must be unstructured, block or vector, got 'row'"),
    (dict(block=(0, 4)), "block must be two positive integers"),
    (dict(vector=2.0), "vector length must be a positive integer"),
])
def test_random_weight_rejects_bad_input_by_name(kwargs, message):
    from sparsekit.benchmarking.workloads import random_weight
    args = {"shape": (8, 8), "sparsity": 0.5, **kwargs}
    with pytest.raises(ValueError, match=message):
        random_weight(args.pop("shape"), args.pop("sparsity"), **args)


# -- bench/vs_deepsparse.py: its pure parts (agreement, verdicts, the Markdown table) ---------
def _vs_deepsparse():
    """The script bench/vs_deepsparse.py as a module (bench/ is not a package)."""
    import importlib.util
    import pathlib
    import sys
    path = pathlib.Path(__file__).resolve().parents[1] / "bench" / "vs_deepsparse.py"
    spec = importlib.util.spec_from_file_location("vs_deepsparse", path)
    if "vs_deepsparse" not in sys.modules:  # (pytest bench imports it by that name too)
        module = importlib.util.module_from_spec(spec)
        sys.modules["vs_deepsparse"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["vs_deepsparse"]


vs_deepsparse = _vs_deepsparse()


@given(st.lists(st.integers(-10**6, 10**6), min_size=1, max_size=20),
       st.floats(1e-3, 1e3), st.floats(-1e-2, 1e-2))
def test_max_rel_error_is_zero_for_equal_outputs_and_scale_free(values, scale, noise):
    ref = np.asarray(values, np.float32) / 1000
    assert vs_deepsparse.max_rel_error(ref, ref.copy()) == 0.0
    out = ref + np.float32(noise) * np.abs(ref).max()
    err = vs_deepsparse.max_rel_error(ref, out)
    assert vs_deepsparse.max_rel_error(ref * scale, out * scale) == pytest.approx(err, abs=1e-6)


def test_max_rel_error_flags_shape_mismatch_and_nan():
    with pytest.raises(ValueError, match=r"reference \(2, 3\), engine \(3, 2\)"):
        vs_deepsparse.max_rel_error(np.zeros((2, 3)), np.zeros((3, 2)))
    assert vs_deepsparse.max_rel_error([1.0, 2.0], [1.0, np.nan]) == float("inf")
    assert vs_deepsparse.max_rel_error([0.0], [1e-9]) == float("inf")
    assert vs_deepsparse.max_rel_error([2.0, -4.0], [2.0, -3.0]) == 0.25


def test_verdict_against_an_at_least_target():
    v = vs_deepsparse.verdict
    assert (v(1.2, 1.2), v(1.19, 1.2), v(None, 1.2), v(2.0, None), v(float("nan"), 1.0)) == \
        ("met", "missed", "–", "–", "–")


@pytest.mark.parametrize("kwargs, message", [
    (dict(structure="block"), "structure must be 'element' or 'vector', got 'block'"),
    (dict(batch=0), "batch must be an integer >= 1, got 0"),
    (dict(batch=True), "batch must be an integer >= 1, got True"),
])
def test_workload_rejects_bad_fields_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        vs_deepsparse.Workload("w", "mlp", **{"batch": 1, **kwargs})


def test_markdown_reports_each_engine_and_the_target_verdict():
    w = vs_deepsparse.Workload("MLP, batch 64", "mlp", 64, target=1.2)
    times = {"torch": [0.010] * 5, "deepsparse": [0.004] * 5, "sparsekit": [0.002] * 5}
    row = vs_deepsparse.Row(w, timings={e: Timing.of(t) for e, t in times.items()},
                            speedup={"torch": 1.0, "deepsparse": 2.5, "sparsekit": 5.0},
                            notes={"onnxruntime": "failed to build: RuntimeError: opset"},
                            setup_s={"sparsekit": 1.25}, sk_over_ds=2.0, others=0.05)
    text = vs_deepsparse.markdown([row], "# head", threads=1, cpus=2)
    assert text.startswith("# head\n")
    assert "| MLP, batch 64 | 0.05 | 10.00 | – | 2.50× | 5.00× | 2.00× | ≥ 1.2× | met |" in text
    assert "| MLP, batch 64 | sparsekit | 2.00 | 2.00 | 5 | 5.00× | 1.2 |  |" in text
    assert "| MLP, batch 64 | onnxruntime | – | – | – | – | – | failed to build: " \
        "RuntimeError: opset |" in text
    missed = vs_deepsparse.Row(w, timings=row.timings, speedup=row.speedup, sk_over_ds=0.96,
                               others=0.3)
    text = vs_deepsparse.markdown([missed], "", threads=2, cpus=2)
    assert "| MLP, batch 64 | 0.30 † | 10.00 |" in text       # a 2-thread run left none free
    assert "| 0.96× | ≥ 1.2× | missed |" in text


def test_others_cores_is_the_machines_busy_time_less_this_process_over_wall_time():
    sample = vs_deepsparse.CpuSample
    a, b = sample(10.0, 100.0, 5.0), sample(14.0, 106.0, 8.0)   # 6 CPU-s busy, 3 ours, 4 s
    assert vs_deepsparse.others_cores(a, b) == pytest.approx(0.75)
    assert vs_deepsparse.others_cores(a, sample(14.0, 102.0, 8.0)) == 0.0  # jiffy rounding
    assert vs_deepsparse.others_cores(None, b) is None
    assert vs_deepsparse.others_cores(b, a) is None
    real = vs_deepsparse.cpu_sample()
    assert real is None or real.busy_s >= 0 and real.own_s >= 0
    assert [vs_deepsparse.disturbed(o, t, 2) for o, t in
            [(1.05, 1), (1.2, 1), (0.05, 2), (0.3, 2), (None, 2)]] == \
        [False, True, False, True, False]


def test_results_file_keeps_one_section_per_thread_count():
    title = vs_deepsparse.TITLE.format
    one, two = f"{title(threads=1)}\n\nold 1\n", f"{title(threads=2)}\n\nold 2\n"
    merged = vs_deepsparse.merge("", two, 2)
    assert merged == two
    merged = vs_deepsparse.merge(merged, one, 1)
    assert merged == one + "\n" + two                   # thread order, both kept
    new_two = f"{title(threads=2)}\n\nnew 2\n"
    assert vs_deepsparse.merge(merged, new_two, 2) == one + "\n" + new_two


def test_markdown_adds_the_scaling_table_only_for_rows_that_measured_it():
    w = vs_deepsparse.Workload("MLP, batch 64", "mlp", 64, target=1.2)
    timings = {"torch": Timing.of([0.01] * 3), "sparsekit, 1 thread": Timing.of([0.008] * 3)}
    row = vs_deepsparse.Row(w, timings=timings, scaling={"sparsekit": 1.6})
    text = vs_deepsparse.markdown([row], "")
    assert "| MLP, batch 64 | sparsekit, 1 thread | 8.00 | 8.00 | 3 |" in text
    assert "| MLP, batch 64 | – | 1.60× | ≥ 1.7× | missed |" in text
    assert "Two threads against one" not in vs_deepsparse.markdown(
        [vs_deepsparse.Row(w, timings=timings)], "")


def test_blocked_times_each_callable_alone_in_two_blocks_after_a_pause():
    from sparsekit.benchmarking.timing import blocked
    calls, pauses = [], []
    fns = [lambda: calls.append("a"), lambda: calls.append("b")]
    timings = blocked(fns, budget_s=0.0, settle_s=0.25, sleep=pauses.append)
    assert pauses == [0.25] * 4
    # a's block, b's block, then the reverse: b, a (each block: warm-up + >= 3 rounds)
    runs = [k for i, k in enumerate(calls) if i == 0 or calls[i - 1] != k]
    assert runs == ["a", "b", "a"] and calls[-1] == "a"
    assert all(t.rounds >= 6 for t in timings)


def test_balanced_pools_both_orders():
    from sparsekit.benchmarking.timing import balanced
    order = []
    timings = balanced([lambda: order.append("a"), lambda: order.append("b")], budget_s=0.0)
    assert "ab" in "".join(order) and "ba" in "".join(order)
    assert [t.rounds for t in timings] == [10, 10]


def test_markdown_reports_the_core_handoff_of_multi_thread_rows():
    w = vs_deepsparse.Workload("resnet50, batch 1", "resnet50", 1, target=1.2)
    timings = {"torch": Timing.of([0.01] * 3)}
    rows = [vs_deepsparse.Row(w, timings=timings, handoff=[(3.0, 1.5), (3.2, 1.4)]),
            vs_deepsparse.Row(w, timings=timings, handoff=[(18.6, 2.3), (19.0, 2.2)]),
            vs_deepsparse.Row(w, timings=timings, handoff=[(3.0, 1.5), (18.0, 2.0)])]
    text = vs_deepsparse.markdown(rows, "", threads=2)
    assert "| resnet50, batch 1 | 3.0 | 3.2 | 1.5 | near |" in text
    assert "| resnet50, batch 1 | 18.6 | 19.0 | 2.3 | far |" in text
    assert "| resnet50, batch 1 | 3.0 | 18.0 | 1.5 | changed |" in text
    assert "Core to core" not in vs_deepsparse.markdown([vs_deepsparse.Row(w, timings)], "")


def test_core_handoff_times_a_line_read_across_cpus_and_from_its_own_writer(restore_threads):
    from sparsekit.kernels.probe import core_handoff

    import sparsekit as sk
    sk.set_num_threads(1)
    assert core_handoff() is None                      # one thread: nothing to hand over
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU on this machine")
    sk.set_num_threads(2)
    ns, own = core_handoff(nbytes=1 << 16, repeats=3)
    assert 0 < own and 0 < ns < 1e4
    assert sk.get_num_threads() == 2                    # the thread count is restored


def test_indexed_load_rate_counts_entries_of_a_csr_style_inner_loop():
    from sparsekit.kernels.probe import indexed_load_rate
    rate = indexed_load_rate(entries=1024, repeats=3)
    assert 1e7 < rate < 1e12                            # entries a second, one thread
    for bad in (dict(entries=0), dict(entries=1 << 21), dict(repeats=0)):
        with pytest.raises(ValueError, match="entries must be"):
            indexed_load_rate(**bad)


def test_by_state_times_each_label_apart_and_alternates_the_order():
    import itertools

    from sparsekit.benchmarking.timing import by_state
    calls, labels = [], itertools.cycle(["near", "near", "far"])
    fns = [lambda: calls.append("a"), lambda: calls.append("b")]
    pauses = []
    result = by_state(fns, budget_s=0.02, state=lambda: next(labels), calls=3, settle_s=0.25,
                      sleep=pauses.append)
    assert list(result) == ["near", "far"]
    rounds = len(calls) // 8                # each round: per callable one untimed + 3 timed
    assert len(calls) == 8 * rounds and rounds >= 3 and pauses == [0.25] * (2 * rounds)
    assert "".join(calls[:16]) == "aaaabbbb" + "bbbbaaaa"
    near, far = result["near"], result["far"]
    assert [t.rounds for t in near] == [3 * (rounds - rounds // 3)] * 2
    assert [t.rounds for t in far] == [3 * (rounds // 3)] * 2
    assert by_state(fns, budget_s=0, state=lambda: "x", settle_s=0)["x"][0].rounds == 5
    with pytest.raises(ValueError, match="min_rounds"):
        by_state(fns, budget_s=0, state=lambda: "x", calls=0)


def test_markdown_reports_each_handoff_state_apart():
    w = vs_deepsparse.Workload("resnet50 V=8 vectors, batch 1", "resnet50", 1, "vector", 1.5)
    near = {"torch": Timing.of([0.03] * 5), "deepsparse": Timing.of([0.018] * 5),
            "sparsekit": Timing.of([0.0065] * 5)}
    far = {"torch": Timing.of([0.04] * 10), "deepsparse": Timing.of([0.0205] * 10),
           "sparsekit": Timing.of([0.01135] * 10)}
    row = vs_deepsparse.Row(w, timings=near, by_state={"near": near, "far": far})
    text = vs_deepsparse.markdown([row], "", threads=2)
    label = "| resnet50 V=8 vectors, batch 1 |"
    assert f"{label} far | 10 | 20.50 | 11.35 | 1.81× | ≥ 1.5× | met |" in text
    assert f"{label} near | 5 | 18.00 | 6.50 | 2.77× | ≥ 1.5× | met |" in text
    assert "both states pooled" in text
    assert "By state" not in vs_deepsparse.markdown([vs_deepsparse.Row(w, near)], "", 2)


def test_by_state_needs_two_threads(capsys):
    with pytest.raises(SystemExit):
        vs_deepsparse.main(["--quick", "--by-state"])
    assert "--by-state needs --threads 2" in capsys.readouterr().err
