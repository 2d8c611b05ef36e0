"""The report package: output-path checks, the JSON layout, run metadata, per-layer timing
and the demo's pictures and Markdown."""
import builtins
import json
import math

import numpy as np
import pytest
import torch

import hwmodel
import sparsekit as sk
from sparsekit.models import load_model
from sparsekit.report import markdown, measure, meta, outputs, plots


@pytest.fixture(scope="module")
def tiny():
    """A pruned two-layer MLP, its input, and dense-vs-pruned comparisons on two presets."""
    torch.manual_seed(0)
    model = load_model("mlp", sizes=(32, 64, 16))
    pruned = load_model("mlp", sizes=(32, 64, 16))
    pruned.load_state_dict(model.state_dict())
    sk.prune.magnitude(pruned, 0.8)
    x = torch.randn(4, 32)
    names = ("edge-npu", "eyeriss-like")
    comparisons = {n: sk.compare(model, pruned, x, n, progress=False) for n in names}
    return model, pruned, x, comparisons, {n: hwmodel.load(n) for n in names}


# -- paths -------------------------------------------------------------------------------------
def test_check_file(tmp_path):
    assert outputs.check_file(tmp_path / "a.json", "--json") == tmp_path / "a.json"
    assert not (tmp_path / "a.json").exists()                 # a probe leaves nothing
    (tmp_path / "old.csv").write_text("keep")
    outputs.check_file(tmp_path / "old.csv", "--csv")
    assert (tmp_path / "old.csv").read_text() == "keep"       # nor changes what is there
    for path, message in ((tmp_path, "is a directory"),
                          (tmp_path / "no" / "a.json", "does not exist"),
                          (tmp_path / "old.csv" / "a.json", "not a directory")):
        with pytest.raises(ValueError, match=message) as info:
            outputs.check_file(path, "--json")
        assert str(info.value).startswith("--json ")


def test_prepare_directory_and_new_parents(tmp_path):
    made = outputs.prepare_directory(tmp_path / "r" / "s", "--out")
    assert made.is_dir() and list(made.iterdir()) == []
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        outputs.prepare_directory(tmp_path / "f", "--out")
    p = outputs.check_file_in_new_directory(tmp_path / "x" / "y" / "p.yaml", "--out")
    assert p.parent.is_dir() and not p.exists()
    with pytest.raises(ValueError, match="cannot create"):
        outputs.check_file_in_new_directory(tmp_path / "f" / "p.yaml", "--out")


# -- JSON --------------------------------------------------------------------------------------
def test_jsonable():
    value = {"a": (1, 2), "b": np.float32(0.5), "c": float("inf"), "d": [np.int64(3)],
             "e": None, 7: torch.tensor(2.0), "f": float("nan")}
    assert outputs.jsonable(value) == {"a": [1, 2], "b": 0.5, "c": "inf", "d": [3],
                                       "e": None, "7": 2.0, "f": "nan"}


def test_document_layout_for_each_kind_of_table(tiny):
    model, pruned, x, comparisons, _ = tiny
    summary = sk.analyze(pruned, x)
    est = sk.estimate(pruned, x, "edge-npu", progress=False)
    doc = outputs.document("x", meta.run_meta(batch=4),
                           {"summary": summary, "estimate": est,
                            "compare": comparisons["edge-npu"], "rows": [{"a": (1, 2)}]})
    text = json.dumps(doc, allow_nan=False)          # valid, strict JSON
    back = json.loads(text)
    assert [r["name"] for r in back["tables"]["summary"]][:2] == ["fc1", "fc2"]
    assert back["tables"]["summary"][-1]["name"] == "total"
    assert back["tables"]["estimate"][-1]["layer"] == "total"
    assert "dram_read_bytes" in back["tables"]["estimate"][0]      # every column
    assert back["tables"]["rows"] == [{"a": [1, 2]}]
    assert back["meta"]["batch"] == 4 and back["meta"]["versions"]["numpy"] == np.__version__


def test_write_outputs(tmp_path, tiny):
    *_, comparisons, _ = tiny
    tables = {"one": comparisons["edge-npu"], "two": [{"k": 1}]}
    paths = {"json": tmp_path / "o.json", "csv": tmp_path / "o.csv",
             "markdown": tmp_path / "o.md"}
    assert outputs.write(paths, "cmd", {}, tables, "one") == list(paths.values())
    assert json.loads(paths["json"].read_text())["command"] == "cmd"
    assert paths["csv"].read_text().startswith("layer,")
    md = paths["markdown"].read_text()
    assert "## one" in md and "## two" in md and "| k |" in md


# -- meta --------------------------------------------------------------------------------------
def test_meta_records_versions_and_machine():
    m = meta.run_meta(hardware=["edge-npu"], batch=1)
    assert m["hardware"] == ["edge-npu"] and m["batch"] == 1
    assert m["format"] is None and m["sparsity"] is None
    assert m["versions"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert m["machine"]["cores"] >= 1 and m["machine"]["python"].count(".") == 2
    assert meta.version_line().startswith(f"sparsekit {m['versions']['sparsekit']} (")


# -- measurement -------------------------------------------------------------------------------
def test_layer_inputs_and_seconds(tiny):
    model, pruned, x, *_ = tiny
    fast = sk.sparsify(pruned, format="csr")
    inputs = measure.layer_inputs(fast, x, ["fc1", "fc2", "nosuch"])
    assert set(inputs) == {"fc1", "fc2"}
    assert inputs["fc1"][0][0].shape == (4, 32) and inputs["fc2"][0][0].shape == (4, 64)
    seconds = measure.layer_seconds(fast, x, ["fc1", "fc2", "nosuch"], budget_s=0.01)
    assert set(seconds) == {"fc1", "fc2"} and all(0 < s < 1 for s in seconds.values())


def test_speedup_vs_sparsity_rows(tiny):
    model, _, x, *_ = tiny
    rows = measure.speedup_vs_sparsity(model, x, [0.5, 0.9], dense_s=1e-3, budget_s=0.01)
    assert [r["sparsity"] for r in rows] == [0.5, 0.9]
    for r in rows:
        assert r["dense_s"] == 1e-3 and math.isclose(r["speedup"], 1e-3 / r["sparse_s"])
    assert all(p.abs().sum() > 0 for p in model.parameters())      # the model is untouched


# -- pictures and Markdown -----------------------------------------------------------------------
def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_every_picture_is_drawn(tmp_path, tiny):
    *_, comparisons, hardware = tiny
    rows = [{"sparsity": s, "dense_s": 1e-3, "sparse_s": 1e-3 / (1 + s), "speedup": 1 + s}
            for s in (0.5, 0.9)]
    layers = [{"layer": "fc1", "estimated_s": 2e-6, "measured_s": 5e-6},
              {"layer": "fc2", "estimated_s": 1e-6, "measured_s": 3e-6}]
    drawn = [plots.speedup_vs_sparsity(rows, tmp_path / "a.png", chosen=0.9),
             plots.energy_breakdown(comparisons, tmp_path / "b.png"),
             plots.roofline(comparisons, hardware, tmp_path / "c.png"),
             plots.layer_latency(layers, tmp_path / "d.png")]
    assert all(_is_png(p) for p in drawn)


def test_drawing_does_not_touch_pyplot(tmp_path):
    import sys
    before = "matplotlib.pyplot" in sys.modules
    plots.speedup_vs_sparsity([{"sparsity": 0.5, "speedup": 1.0}], tmp_path / "a.png")
    assert ("matplotlib.pyplot" in sys.modules) == before


def test_figure_without_matplotlib_says_how_to_install(monkeypatch):
    real = builtins.__import__

    def blocked(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", blocked)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plots.figure(1, 1)


@pytest.mark.parametrize("values, unit, expected", [
    ([2e-4, 1e-5], "s", (1e6, "µs")), ([0.5], "s", (1e3, "ms")), ([3.0], "J", (1, "J")),
    ([0.0], "J", (1, "J")), ([2e-9], "J", (1e9, "nJ"))])
def test_si_scale(values, unit, expected):
    assert plots.si_scale(values, unit) == expected


def test_markdown_report(tiny):
    *_, comparisons, _ = tiny
    text = markdown.report("T", {"model": "mlp", "hardware": ["a", "b"], "skip": None,
                                 "machine": {"cpu": "X", "cores": 2, "python": "3",
                                             "platform": "p"},
                                 "versions": {"torch": "2"}},
                           [("Head", "why", comparisons["edge-npu"])], [("Cap", "x.png")])
    assert text.startswith("# T\n")
    assert "- **hardware**: a, b" in text and "skip" not in text
    assert "X, 2 logical cores" in text and "torch 2" in text
    assert "![Cap](x.png)" in text and "## Head\n\nwhy\n\n| layer" in text
