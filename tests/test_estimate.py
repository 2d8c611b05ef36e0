"""The bridge: sk.estimate / sk.compare build hwmodel layers from real (pruned) weights, and
sk.calibrate writes a host-cpu preset hwmodel accepts."""
import copy

import numpy as np
import pytest
import torch

import hwmodel
import sparsekit as sk
from sparsekit import prune
from sparsekit.hw._estimate import build_layers
from sparsekit.models import MLP, SmallCNN


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    dense = MLP((64, 128, 32)).eval()
    pruned = copy.deepcopy(dense)
    prune.magnitude(pruned, 0.9)
    return dense, pruned, torch.randn(4, 64)


def _dram_bytes(est):
    outer = next(iter(est.total.reads_bytes))
    return (sum(est.total.reads_bytes[outer].values())
            + sum(est.total.writes_bytes[outer].values()))


@pytest.mark.parametrize("hw", ["eyeriss-like", "horowitz-45nm", "edge-npu"])
def test_pruned_moves_fewer_bytes_and_costs_less_energy(models, hw):
    dense, pruned, x = models
    d = sk.estimate(dense, x, hw, format="dense")
    s = sk.estimate(pruned, x, hw, format="auto")
    assert isinstance(d, hwmodel.Estimate) and len(d.layers) == 2
    assert _dram_bytes(s) < _dram_bytes(d)
    assert s.energy_j < d.energy_j
    assert s.inferences_per_sec_per_watt > d.inferences_per_sec_per_watt
    assert d.batch == 4


def test_layers_carry_the_real_weights(models):
    _, pruned, x = models
    hw = hwmodel.load("eyeriss-like")                       # native int16
    layers = dict((layer.name, (layer, f)) for layer, f in build_layers(pruned, x, hw, "csr"))
    fc1, fmt = layers["fc1"]
    w = pruned.fc1.weight.detach().numpy()
    nnz = int(np.count_nonzero(w))
    assert fmt == "csr" and fc1.structure == "unstructured"
    assert (fc1.M, fc1.K, fc1.N) == (128, 64, 4)
    assert fc1.value_bits == 16 and fc1.kind == "int"
    st = sk.CSR.from_dense(w).storage(value_bits=16)
    assert fc1.weight_value_bytes == st.values == nnz * 2
    assert fc1.weight_metadata_bytes == st.metadata
    assert fc1.effective_macs == fc1.stored_macs == nnz * 4
    assert fc1.dense_macs == 128 * 64 * 4
    assert fc1.input_bytes == 4 * 64 * 2 and fc1.output_bytes == 4 * 128 * 2


def test_format_choice_changes_metadata(models):
    _, pruned, x = models
    meta = {}
    for fmt in ("dense", "csr", "bsr", "vectorskip"):
        layers = build_layers(pruned, x, "eyeriss-like", fmt)
        meta[fmt] = sum(layer.weight_metadata_bytes for layer, _ in layers)
        assert all(f == fmt for _, f in layers)
    assert meta["dense"] == 0
    assert len({meta["csr"], meta["bsr"], meta["vectorskip"]}) == 3
    auto = build_layers(pruned, x, "eyeriss-like", "auto")
    for (layer, fmt), (dense_layer, _) in zip(auto, build_layers(pruned, x, "eyeriss-like",
                                                                 "dense")):
        assert layer.weight_bytes <= dense_layer.weight_bytes


def test_bsr_stored_macs_count_zeros_inside_blocks(models):
    _, pruned, x = models
    (layer, _), _ = build_layers(pruned, x, "eyeriss-like", "bsr")
    assert layer.effective_macs < layer.stored_macs <= layer.dense_macs
    assert layer.structure == "block"


def test_compare_totals_add_up(models):
    dense, pruned, x = models
    table = sk.compare(dense, pruned, x, "eyeriss-like")
    rows, total = table[:-1], table[-1]
    assert total["layer"] == "total" and [r["layer"] for r in rows] == ["fc1", "fc2"]
    for key in ("dense_latency_s", "sparse_latency_s", "dense_energy_j", "sparse_energy_j",
                "dense_dram_bytes", "sparse_dram_bytes"):
        assert sum(r[key] for r in rows) == pytest.approx(total[key], rel=1e-12)
    assert total["energy_saving"] == pytest.approx(
        total["dense_energy_j"] / total["sparse_energy_j"])
    assert total["speedup"] == pytest.approx(total["dense_latency_s"] / total["sparse_latency_s"])
    assert total["energy_saving"] > 1
    assert table.sparse.energy_j == pytest.approx(total["sparse_energy_j"])
    assert "format" in total and table.to_csv().startswith("layer,format")


def test_conv_model_uses_true_tensor_sizes():
    torch.manual_seed(0)
    model = SmallCNN(width=8).eval()
    x = torch.randn(1, 3, 32, 32)
    layers = dict((layer.name, layer) for layer, _ in build_layers(model, x, "horowitz-45nm",
                                                                   "dense", value_bits=32))
    conv1 = layers["conv1"]
    assert conv1.input_bytes == 3 * 32 * 32 * 4            # not K*N (im2col repeats pixels)
    assert conv1.input_bytes < conv1.K * conv1.N * 4
    assert layers["dw"].groups == 16
    est = sk.estimate(model, x, "horowitz-45nm", value_bits=32)
    assert est.energy_j > 0 and len(est.layers) == 5


def test_activation_density_and_value_bits(models):
    _, pruned, x = models
    full = sk.estimate(pruned, x, "eyeriss-like", format="csr")
    half = sk.estimate(pruned, x, "eyeriss-like", format="csr", activation_density=0.5)
    assert half.mac_energy_j < full.mac_energy_j
    with pytest.raises(ValueError, match="MAC energy"):
        sk.estimate(pruned, x, "eyeriss-like", value_bits=64)


def test_bad_requests(models):
    dense, _, x = models
    with pytest.raises(ValueError, match="format"):
        sk.estimate(dense, x, "eyeriss-like", format="coo")
    with pytest.raises(ValueError, match="preset"):
        sk.estimate(dense, x, "no-such-hardware")
    with pytest.raises(ValueError, match="same weight layers"):
        sk.compare(dense, MLP((64, 32)).eval(), x, "eyeriss-like")


def test_calibrate_writes_a_loadable_preset(tmp_path, monkeypatch, restore_threads):
    path, m = sk.calibrate(tmp_path / "host-cpu.yaml", budget_s=1.0)
    text = path.read_text()
    hw = hwmodel.load(path)
    assert hw.name == "host-cpu" and hw.memory[0].name == "dram"
    assert hw.compute.sparsity.support == "skip"
    assert "measured" in text and m["cpu"] in text and "Horowitz" in text
    assert 0 < hw.compute.sparsity.efficiency["unstructured"] <= 1
    assert hw.memory[0].bandwidth_bytes_per_cycle * hw.clock_hz == pytest.approx(
        m["bandwidth"]["dram"], rel=1e-3)
    monkeypatch.setenv("HWMODEL_PRESET_PATH", str(tmp_path))
    assert "measured" in hwmodel.load("host-cpu").description
    a = sk.CSR.from_dense(np.eye(16, dtype=np.float32))
    from sparsekit.hw._calibrate import predict_seconds
    assert predict_seconds(hw, a, 4) > 0
