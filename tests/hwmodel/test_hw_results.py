"""Results add up across layers and export as text, CSV, JSON, Markdown (and pandas)."""

import builtins
import csv
import io
import json
import re

import pytest

import hwmodel
from hwmodel import Layer, LayerCost, Table, estimate, table
from hw_builders import make_hw, native_layer

LAYERS = [Layer("conv1", 64, 147, 3136, input_bytes=150528.0), Layer("conv2", 128, 576, 784),
          Layer("fc", 1000, 2048, 1)]


@pytest.fixture(scope="module")
def est():
    return estimate(make_hw(glb=64 * 1024, rf=1024, static_w=0.25), LAYERS, batch=2)


def test_layers_add_up_to_the_total(est):
    total = est.total
    assert isinstance(total, LayerCost) and total.name == "total"
    for key in ("cycles", "seconds", "mac_energy_j", "static_energy_j", "energy_j",
                "executed_macs"):
        assert getattr(total, key) == pytest.approx(sum(getattr(c, key) for c in est.layers))
    for level in ("dram", "glb", "rf"):
        assert total.energy_by_level[level] == pytest.approx(
            sum(c.energy_by_level[level] for c in est.layers))
    assert sum(est.layers).energy_j == pytest.approx(total.energy_j)
    assert (est.layers[0] + est.layers[1]).cycles == pytest.approx(
        est.layers[0].cycles + est.layers[1].cycles)
    assert total.bound in {c.bound for c in est.layers}
    assert total.bound_cycles[total.bound] == max(total.bound_cycles.values())


def test_per_inference_figures(est):
    assert est.latency_s == est.seconds == pytest.approx(sum(c.seconds for c in est.layers))
    assert est.inferences_per_sec == pytest.approx(2 / est.seconds)
    assert est.energy_per_inference_j == pytest.approx(est.energy_j / 2)
    assert est.inferences_per_sec_per_watt == pytest.approx(est.inferences_per_sec / est.power_w)
    assert est.inferences_per_sec_per_watt == pytest.approx(1 / est.energy_per_inference_j)


def test_estimates_add(est):
    hw = make_hw(glb=64 * 1024, rf=1024, static_w=0.25)
    a, b = estimate(hw, LAYERS[:1], batch=2), estimate(hw, LAYERS[1:], batch=2)
    assert (a + b).energy_j == pytest.approx(est.energy_j)
    assert sum([a, b]).cycles == pytest.approx(est.cycles)
    with pytest.raises(ValueError, match="same hardware"):
        a + estimate(hw, LAYERS[:1], batch=1)


def test_text_and_exports(est, tmp_path):
    text = str(est)
    assert "tiny" in text and "inf/s/W" in text
    for name in ("conv1", "conv2", "fc", "total"):
        assert name in text
    rows = list(csv.DictReader(io.StringIO(est.to_csv(tmp_path / "e.csv"))))
    assert [r["layer"] for r in rows] == ["conv1", "conv2", "fc", "total"]
    assert float(rows[-1]["energy_j"]) == pytest.approx(est.energy_j)
    assert "dram_read_bytes" in rows[0] and "weights_energy_j" in rows[0]
    assert (tmp_path / "e.csv").read_text() == est.to_csv()
    data = json.loads(est.to_json())
    assert data["hardware"] == "tiny" and data["batch"] == 2
    assert data["inferences_per_sec_per_watt"] == pytest.approx(est.inferences_per_sec_per_watt)
    assert len(data["rows"]) == 4
    md = est.to_markdown().splitlines()
    assert md[0].startswith("| layer | bound |") and md[1].startswith("| --- |")
    assert len(md) == 2 + 4


def test_table_module_takes_plain_rows():
    rows = [{"name": "a", "x": 1.5}, {"name": "b", "y": None, "x": 2}]
    assert table.columns(rows) == ["name", "x", "y"]
    t = Table(rows)
    lines = str(t).splitlines()
    assert lines[0].split() == ["name", "x", "y"] and lines[2].split() == ["a", "1.5"]
    assert t.to_csv().splitlines() == ["name,x,y", "a,1.5,", "b,2,"]
    assert json.loads(t.to_json()) == rows
    assert "| b | 2 |  |" in t.to_markdown()


def test_to_dataframe_without_pandas(est, monkeypatch):
    real_import = builtins.__import__

    def no_pandas(name, *args, **kw):
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(ImportError, match="needs pandas"):
        est.to_dataframe()


def test_to_dataframe_with_pandas(est):
    pandas = pytest.importorskip("pandas")
    frame = est.to_dataframe()
    assert isinstance(frame, pandas.DataFrame) and list(frame["layer"])[-1] == "total"


def test_estimate_accepts_names_and_single_layers():
    one = estimate("horowitz-45nm", Layer("fc", 16, 16, 1))
    assert one.hardware == "horowitz-45nm" and len(one.layers) == 1
    with pytest.raises(ValueError, match="batch"):
        estimate("horowitz-45nm", Layer("fc", 16, 16, 1), batch=0)
    assert hwmodel.Estimate is type(one)


def _resnet50_like_layers(hw):
    """Layers with resnet50's names and GEMM shapes (M, K, N at 224×224, batch 1) in the
    hardware's native MAC type."""
    Layer = lambda *args: native_layer(hw, *args)  # noqa: E731, N806
    layers = [Layer("conv1", 64, 147, 12544)]
    cin, hw_ = 64, 3136
    for stage, (width, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)], 1):
        for b in range(blocks):
            if b == 0 and stage > 1:
                hw_ //= 4
            out = width * 4
            layers += [Layer(f"layer{stage}.{b}.conv1", width, cin, hw_),
                       Layer(f"layer{stage}.{b}.conv2", width, width * 9, hw_),
                       Layer(f"layer{stage}.{b}.conv3", out, width, hw_)]
            if b == 0:
                layers.append(Layer(f"layer{stage}.{b}.downsample.0", out, cin, hw_))
            cin = out
    return layers + [Layer("fc", 1000, 2048, 1)]


@pytest.mark.parametrize("preset", ["eyeriss-like", "edge-npu", "horowitz-45nm"])
def test_estimate_text_fits_100_columns_in_si_units(preset):
    hw = hwmodel.load(preset)
    est = estimate(hw, _resnet50_like_layers(hw))
    text = str(est)
    assert text == est.to_text()
    assert max(len(line) for line in text.splitlines()) <= 100
    assert not re.search(r"\de[+-]\d", text)  # no 9.962e+04, no 5.752e-04
    head = text.splitlines()[:2]
    assert re.search(r": \d[\d.]* (s|ms|µs), \d[\d.]* (J|mJ|µJ), bound by ", head[0])
    suffix = " (dynamic only: no static power given)" if hw.static_power_w == 0 else ""
    assert re.search(r"inf/s, \d[\d.]* (J|mJ|µJ|nJ)/inf, [\d.]+ inf/s/W" + re.escape(suffix)
                     + "$", head[1])
    assert est.dynamic_only == (hw.static_power_w == 0) == est.summary()["dynamic_only"]
    header = re.split(r"\s{2,}", text.splitlines()[2])
    assert header[:2] == ["layer", "bound"] and re.fullmatch(r"latency (s|ms|µs)", header[2])
    assert re.search(r"^\(\d+ more columns: .*wide=True\)\)$", text, re.M)
    wide = est.to_text(wide=True)
    assert "executed MMAC" in wide or "executed GMAC" in wide
    assert len(wide.splitlines()) == len(text.splitlines()) - 1  # the same rows, no note
    one = est.layers[1]
    assert str(one) == one.to_text() and "layer1.0.conv1" in str(one)
    assert max(len(line) for line in str(one).splitlines()) <= 100


def test_exports_keep_base_units_while_text_scales(est):
    rows = list(csv.DictReader(io.StringIO(est.to_csv())))
    assert float(rows[-1]["latency_s"]) == est.latency_s  # exact, in seconds
    assert json.loads(est.to_json())["energy_j"] == est.energy_j
    assert "latency_s" not in str(est) and "energy_j" not in str(est)
    assert est.to_markdown().startswith("| layer | bound | Mcycles | latency ms | energy mJ |")
