"""The calibration's fitting and warm-cache model, on synthetic numbers (no timing)."""
import numpy as np
import pytest

import hwmodel
import sparsekit as sk
from sparsekit.hw._calibrate import _fit_compute, kernel_layer, warm, working_set


def test_fit_recovers_efficiency_and_decode_cycles():
    e, d = 0.4, 2.0
    points = []
    for mac_s, values_s in [(1e-3, 1e-6), (4e-3, 1e-6), (1e-2, 4e-6), (5e-5, 2e-5)]:
        points.append((mac_s / e + values_s * d, mac_s, values_s, 0.0))
    fit_e, fit_d = _fit_compute(points)
    assert fit_e == pytest.approx(e, rel=0.05)
    assert fit_d == pytest.approx(d, rel=0.1)


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
