"""Smoke case of bench/vs_deepsparse.py, run by ``pytest bench --sk-grid smoke``: the tiny
workloads (``--quick``) through every engine importable here (DeepSparse 1.8 lives in its own
environment, so usually not), outputs checked against dense torch, a few rounds timed and no
file written."""
import vs_deepsparse


def test_vs_deepsparse_quick_runs_every_importable_engine():
    rows = vs_deepsparse.main(["--quick", "--budget", "0"])
    assert [r.workload for r in rows] == vs_deepsparse.WORKLOADS["quick"]
    have = {e: vs_deepsparse.optional(e)[1] is None for e in ("onnxruntime", "deepsparse")}
    for r in rows:
        expected = {"torch", "sparsekit"} | {e for e, ok in have.items() if ok}
        assert set(r.timings) == expected, r.notes
        assert all(s > 0 for s in r.speedup.values())
        assert (r.sk_over_ds is not None) == have["deepsparse"]


def test_vs_deepsparse_by_state_tags_rounds_on_two_threads():
    import numba
    import pytest

    import sparsekit as sk
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one CPU")
    before = sk.get_num_threads()
    try:
        rows = vs_deepsparse.main(["--quick", "--budget", "0", "--threads", "2", "--wait", "0",
                                   "--by-state", "--only", "batch 16"])
    finally:
        sk.set_num_threads(before)
    [row] = rows
    assert set(row.by_state) <= {"near", "far"} and row.by_state
    for timings in row.by_state.values():
        assert set(timings) == set(row.timings) and all(t.rounds == 5 for t in timings.values())
