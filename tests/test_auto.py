"""sk.sparsify(format="auto", choose="model"): the per-layer choice is sk.estimate's on
host-cpu (same layers dense, same formats), the calibrated preset is used when it exists and
the shipped one with one warning when it does not, and bad arguments name themselves."""
import dataclasses
import shutil
import warnings

import pytest
import torch
from hypothesis import given, settings, HealthCheck, strategies as st
from torch import nn

from hwmodel.presets import preset_path
import sparsekit as sk
from sparsekit.models import mlp
from sparsekit.nn import _choose

from helpers import NN_TOL as TOL  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sparsekit.nn._choose.UncalibratedWarning")


class DepthwiseNet(nn.Module):
    """resnet-like: stem conv + BN, a residual block of depthwise and pointwise convs, a
    block-pruned and a vector-pruned conv, pooling and a classifier."""

    def __init__(self):
        super().__init__()
        self.stem, self.bn = nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32)
        self.dw = nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.pw = nn.Conv2d(32, 32, 1)
        self.blocky = nn.Conv2d(32, 64, 3, stride=2, padding=1)
        self.vectory = nn.Conv2d(64, 64, 1)
        self.dense = nn.Conv2d(64, 64, 1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = torch.relu(self.bn(self.stem(x)))
        x = x + self.pw(torch.relu(self.dw(x)))
        x = self.dense(self.vectory(torch.relu(self.blocky(x))))
        return self.fc(x.mean((2, 3)))


def _depthwise_net():
    torch.manual_seed(0)
    m = DepthwiseNet().eval()
    sk.prune.magnitude(m, 0.9, include=["stem", "pw", "fc"])
    sk.prune.magnitude(m, 0.9, structure="block", block=(4, 4), include="blocky")
    sk.prune.magnitude(m, 0.9, structure="vector", vector=8, include="vectory")
    sk.prune.magnitude(m, 0.3, include="dense")          # below min_sparsity: dense
    return m, torch.randn(1, 3, 16, 16)


def _mlp():
    torch.manual_seed(0)
    m = mlp((64, 256, 128, 16)).eval()
    sk.prune.magnitude(m, 0.9, include="fc1")
    sk.prune.magnitude(m, 0.9, structure="vector", vector=8, include="fc2")
    sk.prune.magnitude(m, 0.95, structure="block", block=(4, 4), include="fc3")
    return m, torch.randn(4, 64)


def _encoder():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
    m = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    sk.prune.magnitude(m, 0.9, types=(nn.Linear,), exclude=["layers.0.linear1",
                                                             "layers.1.linear2"])
    sk.prune.magnitude(m, 0.3, include="layers.0.linear1")    # below min_sparsity: dense
    sk.prune.magnitude(m, 0.9, structure="vector", vector=8, include="layers.1.linear2")
    with torch.no_grad():       # the packed q/k/v weight is a parameter of its own
        for enc in m.layers:
            w = enc.self_attn.in_proj_weight
            w[w.abs() < w.abs().quantile(0.9)] = 0
    return m, torch.randn(2, 8, 32)


def _estimated(model, x, hw):
    """{layer: format} of sk.estimate's host choice. The packed in_proj_weight of an
    nn.MultiheadAttention is one estimate row: sparsify splits it into q, k and v."""
    est = sk.estimate(model, x, hw, format="auto")
    out = {}
    for cost, fmt in zip(est.layers, est.formats):
        if fmt == "-":
            continue
        if cost.name.endswith(".in_proj_weight"):
            base = cost.name[:-len("in_proj_weight")]
            out.update({base + p: fmt for p in ("q_proj", "k_proj", "v_proj")})
        else:
            out[cost.name] = fmt
    return out


def _host():
    """This machine's host-cpu without its fixed costs per call and per-op dense
    efficiencies (when the preset has them): the toy layers here would otherwise all be
    priced dense, whatever the calibration, and the choices would not tell much."""
    hw, _ = _choose.host_hardware()
    fixed = {f.name: {} for f in dataclasses.fields(hw.compute)
             if f.name in ("call_cycles", "weight_cycles", "dense_efficiency")}
    return dataclasses.replace(hw, compute=dataclasses.replace(hw.compute, **fixed))


def _slow_unstructured_host():
    """``_host()`` whose CSR decoding costs 1000 cycles per stored value: CSR layers are
    priced slower than dense (the estimate's fallback), BSR/VectorSkip ones are not."""
    hw = _host()
    sp = hw.compute.sparsity
    slow = dataclasses.replace(sp, decode_cycles={**sp.decode_cycles, "unstructured": 1e3})
    return dataclasses.replace(hw, compute=dataclasses.replace(hw.compute, sparsity=slow))


@pytest.mark.parametrize("build", [_depthwise_net, _mlp, _encoder],
                         ids=["depthwise-resnet", "mlp", "transformer"])
@pytest.mark.parametrize("slow_csr", [False, True], ids=["host", "slow-csr-host"])
def test_auto_makes_the_estimates_choice(build, slow_csr):
    model, x = build()
    hw = _slow_unstructured_host() if slow_csr else _host()
    fast, report = sk.sparsify(model, "auto", example_input=x, hw=hw, return_report=True)
    chosen = {r["name"]: r["format"] for r in report}
    expected = _estimated(model, x, hw)
    assert expected and {n: chosen[n] for n in expected} == expected
    # a layer the estimate does not see as a weight layer (out_proj inside torch's fused
    # attention) is priced on the split model, where it is one
    assert set(chosen) - set(expected) <= {n for n in chosen if n.endswith("out_proj")}
    assert len(set(chosen.values())) >= 2                 # the choice is not uniform
    for r in report:
        assert r["format"] == "dense" or r["est µs"] > 0
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), **TOL)


def test_depthwise_and_slow_layers_are_dense_with_the_reason():
    model, x = _depthwise_net()
    _, report = sk.sparsify(model, "auto", example_input=x, hw=_slow_unstructured_host(),
                            return_report=True)
    rows = {r["name"]: r for r in report}
    assert rows["dw"]["format"] == "dense" and "depthwise" in rows["dw"]["reason"]
    assert rows["dense"]["format"] == "dense" and "min_sparsity" in rows["dense"]["reason"]
    assert rows["stem"]["format"] == "dense" and "slower than dense" in rows["stem"]["reason"]
    assert rows["blocky"]["format"] == "bsr" and rows["vectory"]["format"] == "vectorskip"


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["element", "block", "vector"]),
                          st.sampled_from([0.0, 0.4, 0.6, 0.8, 0.95])), min_size=3, max_size=3),
       st.sampled_from([1, 16]))
def test_any_pruning_gives_the_estimates_choice(prunings, batch):
    torch.manual_seed(0)
    model = mlp((32, 64, 48, 16)).eval()
    for name, (structure, level) in zip(("fc1", "fc2", "fc3"), prunings):
        if level:
            sk.prune.magnitude(model, level, structure=structure, include=name)
    x = torch.randn(batch, 32)
    hw = _host()
    _, report = sk.sparsify(model, "auto", example_input=x, hw=hw, return_report=True)
    assert {r["name"]: r["format"] for r in report} == _estimated(model, x, hw)


def test_without_example_input_linears_are_priced_at_batch_one():
    model, _ = _mlp()
    hw = _host()
    _, report = sk.sparsify(model, "auto", hw=hw, return_report=True)
    assert {r["name"]: r["format"] for r in report} == _estimated(model, torch.randn(1, 64),
                                                                  hw)
    with pytest.raises(ValueError, match="example_input"):
        sk.sparsify(_depthwise_net()[0], "auto")


def test_a_module_used_twice_takes_its_first_calls_choice():
    torch.manual_seed(0)
    lin = nn.Linear(16, 16)
    sk.prune.magnitude(lin, 0.9)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    x, hw = torch.randn(2, 16), _host()
    fast, report = sk.sparsify(seq, "auto", example_input=x, hw=hw, return_report=True)
    assert len(report) == 1 and fast[0] is fast[2]
    assert report[0]["format"] == _estimated(seq, x, hw)["0"] != "dense"


def test_a_model_already_holding_sparse_layers_gets_the_dense_models_choice():
    model, x = _mlp()
    hw = _host()
    half = sk.sparsify(model, "vectorskip", include="fc2", example_input=x)
    _, report = sk.sparsify(half, "auto", example_input=x, hw=hw, return_report=True)
    expected = _estimated(model, x, hw)
    assert {r["name"]: r["format"] for r in report} == {"fc1": expected["fc1"],
                                                         "fc3": expected["fc3"]}
    assert expected["fc1"] != "dense"


class _Unused(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return 2 * x                                    # no weight product at all


def test_layers_example_input_does_not_call_stay_dense():
    m = _Unused()
    sk.prune.magnitude(m, 0.9)
    fast, report = sk.sparsify(m, "auto", example_input=torch.randn(2, 4), return_report=True)
    assert isinstance(fast.fc, nn.Linear) and "not called" in report[0]["reason"]


def test_the_calibrated_preset_is_used_and_its_absence_warned_once(tmp_path, monkeypatch):
    from sparsekit.hw import _calibrate
    model, x = _mlp()
    monkeypatch.delenv("HWMODEL_PRESET_PATH", raising=False)
    monkeypatch.setattr(_calibrate, "DEFAULT_OUT", tmp_path / "none" / "host-cpu.yaml")
    monkeypatch.setattr(_choose, "_warned", [])
    with pytest.warns(_choose.UncalibratedWarning, match="sparsekit calibrate"):
        _, report = sk.sparsify(model, "auto", example_input=x, return_report=True)
    assert "shipped preset" in report.legend["est µs"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # once per process
        sk.sparsify(model, "auto", example_input=x)

    own = tmp_path / "host-cpu.yaml"                    # what `sparsekit calibrate` writes
    shutil.copy(preset_path("host-cpu"), own)
    monkeypatch.setattr(_calibrate, "DEFAULT_OUT", own)
    monkeypatch.setattr(_choose, "_warned", [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, report = sk.sparsify(model, "auto", example_input=x, return_report=True)
    assert f"calibrated preset {own}" in report.legend["est µs"]

    on_path = tmp_path / "path"
    on_path.mkdir()
    shutil.copy(own, on_path / "host-cpu.yaml")
    monkeypatch.setenv("HWMODEL_PRESET_PATH", str(on_path))
    assert _choose.host_hardware()[1] == f"calibrated preset {on_path / 'host-cpu.yaml'}"


@pytest.mark.parametrize("kwargs, match", [
    (dict(choose="fastest"), "choose must be one of \\('model', 'time'\\), got 'fastest'"),
    (dict(hw="eyeriss-like"), "hw must describe this machine .* got 'eyeriss-like'"),
    (dict(candidates=("csr",)), "candidates=\\('csr',\\) needs choose='time'"),
])
def test_bad_arguments_name_themselves(kwargs, match):
    model, x = _mlp()
    with pytest.raises(ValueError, match=match):
        sk.sparsify(model, "auto", example_input=x, **kwargs)


def test_time_choice_still_times_every_candidate():
    model, x = _mlp()
    _, report = sk.sparsify(model, "auto", example_input=x, choose="time", budget_s=0.001,
                            candidates=("csr",), return_report=True)
    for r in report:
        assert r["format"] in ("dense", "csr") and r["dense ms"] > 0 and r["csr ms"] > 0
        assert "est µs" not in r
