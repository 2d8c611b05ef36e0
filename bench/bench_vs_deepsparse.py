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
