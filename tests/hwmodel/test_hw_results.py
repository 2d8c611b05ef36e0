"""Results add up across layers and export as text, CSV, JSON, Markdown (and pandas)."""

import builtins
import csv
import io
import json

import pytest

import hwmodel
from hwmodel import Layer, LayerCost, Table, estimate, table
from hw_builders import make_hw

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
