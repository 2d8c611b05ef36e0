"""The calibration's fitting and warm-cache model, on synthetic numbers (no timing)."""
import numpy as np
import pytest

import hwmodel
import sparsekit as sk
from sparsekit.hw import _calibrate
from sparsekit.hw._calibrate import _fit_compute, kernel_layer, warm, working_set


def test_fit_recovers_efficiency_and_decode_cycles():
    e, d = 0.4, 2.0
    points = []
    for mac_s, values_s in [(1e-3, 1e-6), (4e-3, 1e-6), (1e-2, 4e-6), (5e-5, 2e-5)]:
        points.append((mac_s / e + values_s * d, mac_s, values_s, 0.0))
    fit_e, fit_d = _fit_compute(points)
    assert fit_e == pytest.approx(e, rel=0.05)
    assert fit_d == pytest.approx(d, rel=0.1)


@pytest.mark.parametrize("gemm_s, conv_s, faster", [(1.0, 0.1, "conv"), (0.1, 1.0, "gemm")])
def test_the_dense_peak_is_the_faster_of_gemm_and_conv(monkeypatch, gemm_s, conv_s, faster):
    """torch's GEMM (MKL) and 3×3 conv (oneDNN) need not reach the same rate: the peak that
    every efficiency is a share of is the faster one's (a GEMM-only peak priced convs at
    half their speed where oneDNN ran twice as fast)."""
    times = iter([gemm_s, conv_s])
    monkeypatch.setattr(_calibrate, "_budget_timer", lambda fn, budget: next(times))
    peak = _calibrate._dense_peak(small=True, budget_s=0.01, say=lambda msg: None)
    gemm_macs, conv_macs = 512 * 512 * 128, 64 * 64 * 9 * 14 * 14
    assert peak == pytest.approx(gemm_macs / gemm_s if faster == "gemm" else conv_macs / conv_s)


def test_fit_memory_bound_points_do_not_pull_the_compute_terms():
    e = 0.5
    points = [(2e-3, 1e-3, 0.0, 0.0), (3e-3, 1e-5, 0.0, 3e-3)]   # the second is memory-bound
    fit_e, fit_d = _fit_compute(points)
    assert fit_e == pytest.approx(e, rel=0.05) and fit_d < 0.1


def test_warm_serves_dram_traffic_from_the_last_cache_only_when_it_fits():
    hw = hwmodel.load("host-cpu")
    last = hw.memory[1]
    assert warm(hw, last.capacity_bytes * 2) is hw
    served = warm(hw, last.capacity_bytes / 2)
    assert served.memory[0].bandwidth_bytes_per_cycle == last.bandwidth_bytes_per_cycle
    assert served.memory[1:] == hw.memory[1:]


def test_kernel_layer_counts_the_format_bytes_and_macs():
    w = np.zeros((8, 16), np.float32)
    w[0, :4] = 1.0
    a = sk.BSR.from_dense(w, (4, 4))
    layer = kernel_layer(a, batch=3)
    st = a.storage(value_bits=32)
    assert layer.weight_value_bytes == st.values and layer.weight_metadata_bytes == st.metadata
    assert layer.stored_macs == 16 * 3 and layer.effective_macs == 4 * 3
    assert layer.structure == "block"
    assert working_set(a, 3) == st.total + 4 * (8 + 16) * 3


# -- what a whole model pays besides its GEMMs (issue 8) -------------------------------------
from sparsekit.hw._calibrate import preset_yaml, summary_rows  # noqa: E402

SOFTWARE = dict(call_cycles={"linear": 14000.0, "conv": 21000.0, "depthwise": 140000.0,
                             "matmul": 3500.0, "other": 10400.0, "sparse": 91000.0,
                             "sparse_conv": 120000.0},
                dense_efficiency={"linear": 0.96, "conv": 1.0, "depthwise": 0.35,
                                  "matmul": 0.82},
                weight_cycles={"linear": 0.4, "conv": 0.1, "depthwise": 0.0, "matmul": 0.0},
                other_bandwidth=72e9,
                other_ops={"max_pool2d": dict(call_cycles=26000.0, bytes_per_cycle=0.9,
                                              what="sparsekit.nn.MaxPool2d(3, 2, 1): ..."),
                           "add": dict(call_cycles=5500.0, bytes_per_cycle=46.0,
                                       what="in-place add: ...")},
                dense_points=[dict(op="conv", shape="Conv2d 64->64", seconds=1e-3, macs=1e6)])


def _measurements(**extra):
    hw = hwmodel.load("host-cpu")
    return dict(threads=1, clock_hz=hw.clock_hz, lanes=16, points=(), cpu="test CPU",
                date="today", caches={"l2": 1 << 20, "l3": 1 << 25},
                bandwidth={"dram": 3e10, "l3": 5e10, "l2": 1e11}, peak_macs_per_s=5e10,
                efficiency={"unstructured": 0.4, "block": 0.5, "vector": 0.5},
                decode_cycles={"unstructured": 0.5, "block": 1.0, "vector": 1.0}, **extra)


def test_the_preset_carries_the_software_figures_with_their_sources():
    m = _measurements(**SOFTWARE)
    text = preset_yaml(m)
    hw = hwmodel.Hardware.from_yaml(text)
    c = hw.compute
    assert c.call_cycles == SOFTWARE["call_cycles"]
    assert c.dense_efficiency == SOFTWARE["dense_efficiency"]
    assert c.weight_cycles == SOFTWARE["weight_cycles"]
    assert c.other_bytes_per_cycle * hw.clock_hz == pytest.approx(72e9, rel=1e-3)
    for key in ("call_cycles", "dense_efficiency", "weight_cycles", "other_bandwidth"):
        line = next(t for t in text.splitlines() if t.strip().startswith(key))
        assert "measured" in line, line
    assert "Conv2d 64->64" in text                       # the shapes the efficiency came from
    assert c.other_ops["max_pool2d"].call_cycles == 26000.0
    assert c.other_ops["max_pool2d"].bytes_per_cycle == pytest.approx(0.9, rel=1e-3)
    assert c.other_ops["add"].bytes_per_cycle == pytest.approx(46.0, rel=1e-3)
    for kind, op in SOFTWARE["other_ops"].items():
        line = next(t for t in text.splitlines() if t.strip().startswith(f"{kind}:"))
        assert "measured" in line and op["what"] in line, line
    quantities = {r["quantity"] for r in summary_rows(m)}
    assert {"sparse call", "dense conv efficiency", "other ops stream",
            "dense linear per weight", "max_pool2d call", "add stream"} <= quantities


def test_a_preset_without_software_figures_still_reads():
    hw = hwmodel.Hardware.from_yaml(preset_yaml(_measurements()))
    assert hw.compute.call_cycles == {} and hw.compute.dense_efficiency == {}


def test_each_op_probe_runs_one_op_kind_the_estimate_prices_by_name():
    from sparsekit.hw._other_ops import _probes, _traced_op
    kinds = {}
    for what, build in _probes().items():
        for size in ("tiny", "typical"):
            probe, x = build(size)
            kinds.setdefault(what, set()).add(_traced_op(probe, x)[0])
    assert all(len(k) == 1 for k in kinds.values()), kinds
    assert {k.pop() for k in kinds.values()} == {
        "native_batch_norm", "relu", "hardtanh", "add", "max_pool2d_with_indices",
        "max_pool2d", "mean", "constant_pad_nd", "copy", "phases", "im2col",
        "native_layer_norm"}


def test_an_op_kind_gets_the_tiny_calls_time_and_the_rate_above_it():
    from sparsekit.hw._other_ops import _probes, _traced_op, measure_other_ops
    probe, x = _probes()["in-place add"]("typical")
    nbytes = _traced_op(probe, x)[1]
    out = measure_other_ops(1e9, lambda fns: [2e-6, 12e-6] * (len(fns) // 2))  # tiny, typical
    assert out["add"]["call_cycles"] == pytest.approx(2000)
    assert out["add"]["bytes_per_cycle"] == pytest.approx(nbytes / 10e3)
