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
    assert isinstance(d, hwmodel.Estimate) and d.formats == ("dense", "dense", "-")
    assert d.layers[2].name == "ops: relu ×1"  # the MLP's one ReLU: its non-GEMM work
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
    assert est.energy_j > 0 and len([f for f in est.formats if f != "-"]) == 5


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
        sk.estimate(dense, x, "eyeriss-like", format="nope")
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


# -- formats from counts, any spec, one trace for many presets (issues 7 and 8) -------------
from dataclasses import replace as _replace

from hwmodel import formats as hf
from sparsekit.formats import registry


@pytest.mark.parametrize("fmt", registry.names())
def test_bytes_of_every_registered_format_equal_its_packed_storage(models, fmt):
    _, pruned, x = models
    for layer, label in build_layers(pruned, x, "eyeriss-like", fmt, block=(2, 8), vector=4):
        w = dict(pruned.named_modules())[layer.name].weight.detach().numpy()
        st = registry.pack(w, fmt, block=(2, 8), vector=4).storage(value_bits=16)
        assert label == fmt
        assert (layer.weight_value_bytes, layer.weight_metadata_bytes) == (st.values,
                                                                           st.metadata)
        assert layer.footprint.total_bytes == st.total


def test_estimate_never_packs(models, monkeypatch):
    _, pruned, x = models
    expected = sk.estimate(pruned, x, "edge-npu", format="auto").energy_j

    def refuse(*args, **kwargs):
        raise AssertionError("packed a weight")
    for cls in registry.FORMATS.values():
        monkeypatch.setattr(cls, "from_dense", classmethod(refuse))
    assert sk.estimate(pruned, x, "edge-npu", format="auto").energy_j == expected
    for fmt in registry.names():
        sk.estimate(pruned, x, "edge-npu", format=fmt)


def test_a_list_of_hardware_traces_once_and_gives_one_estimate_each(models, monkeypatch):
    _, pruned, x = models
    import sparsekit.model.tracing as tracing
    calls = []
    real = tracing.trace_forward
    monkeypatch.setattr(tracing, "trace_forward",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    presets = ["eyeriss-like", "edge-npu", "horowitz-45nm"]
    many = sk.estimate(pruned, x, presets, format="csr")
    assert len(calls) == 1
    assert [e.hardware for e in many] == presets
    for est, hw in zip(many, presets):
        assert est.energy_j == sk.estimate(pruned, x, hw, format="csr").energy_j
    with pytest.raises(ValueError, match="empty list"):
        sk.estimate(pruned, x, [])


def test_any_spec_prices_payload_and_metadata_apart(models, tmp_path):
    _, pruned, x = models
    yaml_file = tmp_path / "rows.yaml"
    yaml_file.write_text("name: rows\nvalue_bits: 8\nranks:\n  - {dim: M, format: UOP}\n"
                         "  - {dim: K, format: CP, bits: 7}\n")
    spec = hf.load(yaml_file)
    w = pruned.fc1.weight.detach().numpy()
    for fmt in (spec, str(yaml_file)):
        layers = build_layers(pruned, x, "eyeriss-like", fmt)
        fc1, label = layers[0]
        assert label == "rows" and fc1.weight_format.value_bits == 8 and fc1.value_bits == 8
        fp = hf.footprint(spec, w != 0)
        assert fc1.footprint == fp
        assert fc1.weight_value_bytes == fp.payload_bits / 8 == np.count_nonzero(w)
        assert fc1.weight_metadata_bytes == fp.metadata_bits / 8
        assert [r for r, _ in fc1.rank_metadata] == ["UOP", "CP"]
        assert fc1.structure == "unstructured"
    short = build_layers(pruned, x, "eyeriss-like", "UOP-CP")[0][0]
    assert short.value_bits == 16                        # the hardware's native width
    assert short.weight_metadata_bytes < fc1.weight_metadata_bytes * 2
    for name in ("bitmap", "two-level-bitmap", "csr-rle"):
        assert sk.estimate(pruned, x, "eyeriss-like", format=name).energy_j > 0


def test_the_format_asks_for_skip_or_gate_and_the_hardware_allows_at_most_its_own(models):
    _, pruned, x = models
    gate_csr = _replace(hf.builtin("csr", value_bits=8), name="csr-gated", compute="gate")
    cases = {("edge-npu", "csr"): "skip", ("edge-npu", gate_csr): "gate",
             ("eyeriss-like", "csr"): "gate", ("horowitz-45nm", "csr"): "none",
             ("edge-npu", "dense"): "skip"}          # dense: the hardware's own support
    for (hw, fmt), mode in cases.items():
        layer, _ = build_layers(pruned, x, hw, fmt)[0]
        assert layer.compute == mode, (hw, fmt)
    skip = sk.estimate(pruned, x, "edge-npu", format="csr")
    gate = sk.estimate(pruned, x, "edge-npu", format=gate_csr)
    assert gate.total.compute_cycles > skip.total.compute_cycles
    assert gate.total.executed_macs == skip.total.executed_macs


def _eyeriss_that_skips():
    """eyeriss-like (a 12 × 14 PE array that may split M) with a datapath that skips zeros."""
    from hwmodel.presets import preset_path
    text = open(preset_path("eyeriss-like")).read()
    assert "support: gate" in text
    text = text.replace("support: gate", "support: skip")
    return hwmodel.Hardware.from_yaml(text.replace("gated_energy_fraction: 0.0", ""))


def test_row_counts_of_the_real_weights_give_the_load_imbalance():
    torch.manual_seed(0)
    model = MLP((256, 512, 64)).eval()
    prune.magnitude(model, 0.9)
    x = torch.randn(16, 256)
    w = model.fc1.weight.detach().numpy()
    hw = _eyeriss_that_skips()
    (csr, _), _ = build_layers(model, x, hw, "csr")
    assert csr.compute == "skip"
    assert csr.row_nnz == tuple(int(n) for n in np.count_nonzero(w, axis=1))
    (bsr, _), _ = build_layers(model, x, hw, "bsr", block=(4, 4))
    blocks = np.kron(np.abs(w).reshape(128, 4, 64, 4).sum(axis=(1, 3)) > 0, np.ones((4, 4)))
    assert bsr.row_nnz == tuple(int(n) for n in blocks.sum(axis=1))
    assert sum(bsr.row_nnz) * 16 == bsr.stored_macs
    real = hwmodel.estimate(hw, [csr]).layers[0]
    balanced = hwmodel.estimate(hw, [_replace(csr, row_nnz=None)]).layers[0]
    assert real.utilisation < balanced.utilisation
    assert real.compute_cycles > balanced.compute_cycles
    dense = build_layers(model, x, hw, "dense")[0][0]
    dense_balanced = hwmodel.estimate(hw, [_replace(dense, row_nnz=None)]).layers[0]
    assert hwmodel.estimate(hw, [dense]).layers[0].utilisation == dense_balanced.utilisation


@pytest.mark.parametrize("fmt, match", [
    ("nope", "'nope' is not a registered format"),
    ("missing.yaml", "does not exist"),
    (3, "format must be"),
])
def test_bad_formats_name_the_value(models, fmt, match):
    dense, _, x = models
    with pytest.raises((ValueError, TypeError), match=match):
        sk.estimate(dense, x, "eyeriss-like", format=fmt)


def test_tracing_does_not_import_dynamo():
    """torch wraps a dispatch mode's __torch_dispatch__ in torch._disable_dynamo unless the mode
    opts out; its first call imports torch._dynamo (seconds). A fresh interpreter must trace
    and estimate without it."""
    import subprocess
    import sys
    code = ("import sys, torch, sparsekit as sk\n"
            "from sparsekit.models import SmallCNN\n"
            "sk.estimate(SmallCNN(), torch.randn(1, 3, 32, 32), 'host-cpu')\n"
            "sk.analyze(SmallCNN(), torch.randn(1, 3, 32, 32))\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def _host_with_decode(cycles, name="host-cpu"):
    """host-cpu with a dearer decode (cycles per stored weight value, every structure)."""
    from dataclasses import replace
    hw = hwmodel.load("host-cpu")
    sparsity = replace(hw.compute.sparsity, decode_cycles=dict.fromkeys(
        hw.compute.sparsity.decode_cycles, float(cycles)))
    return replace(hw, name=name, compute=replace(hw.compute, sparsity=sparsity))


def test_host_runs_dense_where_the_decode_cost_makes_the_format_slower():
    torch.manual_seed(0)
    model = MLP((256, 256, 256)).eval()
    prune.magnitude(model, 0.6)
    x = torch.randn(1, 256)
    hw = _host_with_decode(40.0)
    est = sk.estimate(model, x, hw, objective="latency")
    forced = sk.estimate(model, x, hw, format="csr", objective="latency")
    dense = sk.estimate(model, x, hw, format="dense", objective="latency")
    weight_layers = [i for i, f in enumerate(est.formats) if f != "-"]
    assert weight_layers == [0, 1]
    for i in weight_layers:
        assert forced.layers[i].seconds > dense.layers[i].seconds  # the premise
        assert est.formats[i] == "dense" and "priced slower than dense" in est.notes[i]
        assert est.layers[i].seconds == pytest.approx(dense.layers[i].seconds)
    assert "priced slower than dense" in est.to_text()
    # with a cheap decode and no fixed cost per call the smallest format stays, and no other
    # hardware makes sparsify's choice
    cheap = _host_with_decode(0.5)
    cheap = _replace(cheap, compute=_replace(cheap.compute, call_cycles={}))
    assert sk.estimate(model, x, cheap, objective="latency").formats[:2] == ("csr", "csr")
    other = sk.estimate(model, x, _host_with_decode(40.0, name="not-the-host"))
    assert other.formats[:2] == ("csr", "csr") and not any(other.notes)


def test_host_keeps_dense_what_sparsify_keeps_dense():
    """Depthwise convs and layers below min_sparsity: dense in the estimate on host-cpu, as in
    sparsify's report; the other layers keep their smallest format."""
    torch.manual_seed(0)
    model = SmallCNN().eval()
    prune.magnitude(model, 0.9, exclude=["pw"])
    prune.magnitude(model, 0.45, include=["pw"])  # below min_sparsity, yet smaller as CSR
    x = torch.randn(2, 3, 32, 32)
    _, report = sk.sparsify(model, format="csr", example_input=x, return_report=True)
    kept = {r["name"]: r["reason"] for r in report if r["format"] == "dense"}
    assert {"dw", "pw"} <= set(kept)
    # without fixed costs per call: at this toy size a sparse layer's call would outweigh
    # its work (test_fixed_costs_...), and this test is about sparsify's rules
    host = _host(dense_efficiency={}, call_cycles={}, other_bytes_per_cycle=None, other_ops={})
    est = sk.estimate(model, x, host)
    by_name = {c.name: (f, n) for c, f, n in zip(est.layers, est.formats, est.notes)}
    assert by_name["dw"][0] == "dense" and "depthwise conv" in by_name["dw"][1]
    assert by_name["pw"][0] == "dense" and "min_sparsity" in by_name["pw"][1]
    converted = [r["name"] for r in report if r["format"] != "dense"]
    assert converted and all(by_name[n][0] != "dense" for n in converted)
    # min_sparsity is sparsify's option: 0 lets the barely pruned layer go sparse if smaller
    loose = sk.estimate(model, x, host, min_sparsity=0.0)
    assert dict(zip([c.name for c in loose.layers], loose.formats))["pw"] != "dense"
    # elsewhere the smallest format, whatever sparsify does
    acc = sk.estimate(model, x, "eyeriss-like")
    assert dict(zip([c.name for c in acc.layers], acc.formats))["dw"] != "dense"
    with pytest.raises(ValueError, match="min_sparsity"):
        sk.estimate(model, x, "host-cpu", min_sparsity=1.5)


def test_non_gemm_work_is_priced_and_said():
    """A CNN's pooling, elementwise and normalisation ops are layers of the estimate: they add
    latency and energy, and the headline says what is included."""
    torch.manual_seed(0)
    model = SmallCNN().eval()
    x = torch.randn(2, 3, 32, 32)
    est = sk.estimate(model, x, "eyeriss-like")
    ops = [c for c in est.layers if c.name.startswith("ops: ")]
    weights = [c for c, f in zip(est.layers, est.formats) if f != "-"]
    assert len(weights) == 5 and ops
    kinds = {c.name.split()[1].rstrip("_") for c in ops}
    assert {"relu", "native_batch_norm", "mean"} <= kinds, kinds  # SmallCNN's ops
    assert est.latency_s == pytest.approx(sum(c.seconds for c in est.layers))
    assert est.latency_s > sum(c.seconds for c in weights)
    assert est.energy_j > sum(c.energy_j for c in weights)
    assert all(c.energy_j > 0 and c.seconds > 0 for c in ops)
    text = est.to_text()
    assert "includes 5 weight layers" in text and "other op kinds" in text


def test_an_op_kind_the_preset_measured_is_priced_by_its_own_figures():
    import dataclasses
    torch.manual_seed(0)
    model, x = SmallCNN().eval(), torch.randn(1, 3, 32, 32)
    hw = hwmodel.load("host-cpu")
    relu = hwmodel.OtherOp(call_cycles=1e6, bytes_per_cycle=1e-3)
    slow = dataclasses.replace(hw, compute=dataclasses.replace(
        hw.compute, other_ops={**hw.compute.other_ops, "relu": relu}))
    rows = {c.name: c for c in sk.estimate(model, x, slow).layers}
    before = {c.name: c for c in sk.estimate(model, x, hw).layers}
    name = next(n for n in rows if n.startswith("ops: relu"))
    calls = int(name.split("×")[1])
    assert rows[name].call_cycles == calls * 1e6
    assert rows[name].seconds > 100 * before[name].seconds
    assert all(rows[n].seconds == pytest.approx(before[n].seconds) for n in rows if n != name)


def test_attention_products_are_priced():
    """A transformer's q·kᵀ and attn·v are layers with no weight: 2·seq²·d MACs per layer."""
    torch.manual_seed(0)
    d, seq, n = 64, 16, 2
    enc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(
        d, 4, dim_feedforward=128, batch_first=True), n).eval()
    est = sk.estimate(enc, torch.randn(1, seq, d), "host-cpu")
    attn = [c for c in est.layers if "/sdpa." in c.name]
    assert len(attn) == 2 * n
    assert sum(c.dense_macs for c in attn) == n * 2 * seq * seq * d
    assert "activation×activation products" in est.to_text()


# -- whole-model host prediction (issue 8): a sparsified model as it runs, fixed costs -------
from sparsekit.hw._estimate import as_on_host  # noqa: E402
from sparsekit.models import transformer_encoder  # noqa: E402
from sparsekit.nn.layers import SparseConv2d  # noqa: E402

HOST_SOFTWARE = dict(dense_efficiency={"linear": 0.5, "conv": 0.5, "depthwise": 0.25,
                                       "matmul": 0.5},
                     call_cycles={"linear": 1e4, "conv": 2e4, "depthwise": 1e5, "matmul": 3e3,
                                  "other": 1e4, "sparse": 7e4},
                     other_bytes_per_cycle=16.0, other_ops={})  # whatever the preset measured


def _host(**software):
    hw = hwmodel.load("host-cpu")
    return _replace(hw, compute=_replace(hw.compute, **(software or HOST_SOFTWARE)))


def _sparsified_cnn(batch=2):
    torch.manual_seed(0)
    model = SmallCNN().eval()
    prune.magnitude(model, 0.9)
    x = torch.randn(batch, 3, 32, 32)
    return sk.sparsify(model, format="csr", example_input=x), x


def test_a_sparsified_model_is_priced_as_it_runs():
    """On the host, a model sk.sparsify converted keeps each layer's format (the depthwise
    conv dense, the others csr), its BatchNorms folded, and the copies it makes."""
    fast, x = _sparsified_cnn()
    est = sk.estimate(fast, x, _host(), format="auto")
    formats = dict(zip((c.name for c in est.layers), est.formats))
    assert [formats[n] for n in ("conv1", "conv2", "dw", "pw", "fc")] == \
        ["csr", "csr", "dense", "csr", "csr"]
    kinds = {c.name.split()[1].split("_")[0] for c in est.layers if c.name.startswith("ops:")}
    assert "native" not in kinds                       # no batch norm: folded by sparsify
    # SparseConv2d's padding, phase split and copies of in-place outputs, and SparseLinear's
    # transposed input (a "copy" since the transpose kernel; torch's clone before)
    assert {"constant", "phases", "copy"} <= kinds, kinds
    assert "each in the format it runs" in est.to_text()
    other = sk.estimate(fast, x, "eyeriss-like", format="auto")   # not the host: chosen again
    assert "each in the format it runs" not in other.to_text()


def test_fixed_costs_are_paid_once_per_call_of_each_layer():
    """Every layer pays its kind's call cycles once per call: a weight layer once, a sparse
    conv on large images once per image, an op kind once per op of that kind."""
    fast, x = _sparsified_cnn(batch=3)
    hw = _host()
    est = sk.estimate(fast, x, hw, format="auto")
    calls = hw.compute.call_cycles
    positions = {"conv1": 32 * 32, "conv2": 16 * 16, "pw": 16 * 16}   # per image
    for c, f in zip(est.layers, est.formats):
        if c.name.startswith("ops: "):
            count = int(c.name.rsplit("×", 1)[1])
            assert c.call_cycles == pytest.approx(count * calls["other"])
        elif f == "dense":
            assert c.call_cycles == pytest.approx(calls["depthwise"])      # dw
        elif c.name in positions:     # ≥ FOLD_BELOW positions: one product per image
            assert positions[c.name] >= SparseConv2d.FOLD_BELOW
            assert c.call_cycles == pytest.approx(3 * calls["sparse"])
        else:
            assert c.call_cycles == pytest.approx(calls["sparse"])      # fc
    assert est.total.call_cycles == pytest.approx(sum(c.call_cycles for c in est.layers))
    assert est.cycles == pytest.approx(sum(c.cycles for c in est.layers))
    without = sk.estimate(fast, x, _host(dense_efficiency={}, call_cycles={},
                                         other_bytes_per_cycle=None, other_ops={}),
                          format="auto")
    assert without.total.call_cycles == 0
    assert est.cycles - without.cycles >= est.total.call_cycles * (1 - 1e-9)


def test_dense_layers_take_their_op_kinds_efficiency():
    torch.manual_seed(0)
    model, x = SmallCNN().eval(), torch.randn(2, 3, 32, 32)
    est = sk.estimate(model, x, _host(), format="dense")
    plain = sk.estimate(model, x, _host(dense_efficiency={}, call_cycles={},
                                        other_bytes_per_cycle=None, other_ops={}),
                          format="dense")
    by_name = {c.name: c for c in plain.layers}
    for c in est.layers:
        if c.name in ("conv1", "conv2", "pw"):
            assert c.compute_cycles == pytest.approx(2 * by_name[c.name].compute_cycles)
        if c.name == "dw":
            assert c.compute_cycles == pytest.approx(4 * by_name[c.name].compute_cycles)


def test_activations_stay_cached_between_layers_and_small_weights_between_inferences():
    hw = hwmodel.load("host-cpu")
    cache = hw.memory[1].capacity_bytes
    small = hwmodel.Layer("a", 64, 64, 8, op="linear")
    big = hwmodel.Layer("b", 4096, 4096, 8, op="linear", weight_value_bytes=cache)
    huge_acts = hwmodel.Layer("c", 8, 8, 8, op="linear", input_bytes=cache, output_bytes=64)
    a, = as_on_host(hw, [small])
    assert set(a.resident) == {"weights", "inputs", "outputs"}
    a, b = as_on_host(hw, [small, big])              # the model's weights no longer fit
    assert "weights" not in a.resident and "inputs" in a.resident
    _, c = as_on_host(hw, [small, huge_acts])
    assert "inputs" not in c.resident
    # each activation fits, but all that one pass writes evicts the weights before the next
    many = [hwmodel.Layer(f"o{i}", 8, 8, 8, op="other", output_bytes=cache / 8,
                          input_bytes=cache / 8, weight_value_bytes=0.0) for i in range(9)]
    a, *rest = as_on_host(hw, [small, *many])
    assert "weights" not in a.resident and all("inputs" in r.resident for r in rest)
    a, *_ = as_on_host(hw, [small, *many[:7]])
    assert "weights" in a.resident
    sparse = hwmodel.Layer("s", 64, 64, 8, op="linear", structure="unstructured",
                           stored_macs=64 * 8, effective_macs=64 * 8)
    s, = as_on_host(hw, [sparse])
    assert s.streamed == ("inputs",) and a.streamed == ()


def test_the_transformer_encoder_model_is_estimated_with_its_attention():
    model = transformer_encoder(layers=2, d_model=32, nhead=2, dim_feedforward=64).eval()
    est = sk.estimate(model, torch.randn(1, 8, 32), "host-cpu", format="dense")
    assert sum(1 for c in est.layers if "/sdpa." in c.name) == 4
    assert sum(c.dense_macs for c in est.layers if "/sdpa." in c.name) == 2 * 2 * 8 * 8 * 32
