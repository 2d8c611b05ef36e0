"""Printed tables: units scaled per column (never 9.962e+04 KiB), 100 columns by default with a
note naming what ``wide=True`` adds, repeated notes once with a count, a legend for the
structure columns, and exact base-unit values in CSV/JSON. Checked on resnet50 and a
mobilenet_v2-like model."""
import copy
import csv
import io
import json
import math
import re

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import sparsekit as sk
from hwmodel import table
from hwmodel.table import Table, human, number, unit_of
from sparsekit import models

WIDTH = 100
EXPONENT = re.compile(r"\d[eE][+-]?\d")  # 9.962e+04, 5.752e-04


def _lines_fit(text, width=WIDTH):
    too_long = [line for line in text.splitlines() if len(line) > width]
    assert not too_long, too_long


# -- the table module ------------------------------------------------------------------------
@pytest.mark.parametrize("name, unit", [
    ("latency_s", ("s", "latency")), ("dense_latency_s", ("s", "dense_latency")),
    ("energy_j", ("J", "energy")), ("energy_per_inference_j", ("J", "energy_per_inference")),
    ("power_w", ("W", "power")), ("bytes", ("B", "")), ("bytes_csr", ("B", "csr")),
    ("dram_read_bytes", ("B", "dram_read")), ("macs", ("MAC", "")),
    ("effective_macs", ("MAC", "effective")), ("cycles", ("cycles", "")),
    ("sparse_bytes_per_s", ("B/s", "sparse")), ("flop_per_s", ("FLOP/s", "")),
    ("inferences_per_sec", (None, "inferences_per_sec")),
    ("dense_inf_per_s_per_w", (None, "dense_inf_per_s_per_w")),
    ("speedup", (None, "speedup")), ("s", (None, "s")), ("M", (None, "M")),
])
def test_unit_of_reads_the_unit_from_the_name(name, unit):
    assert unit_of(name) == unit


def test_human_picks_an_si_prefix_per_number():
    assert human(0.0005752, "J") == "575 µJ"
    assert human(9.962e4 * 1024, "B") == "97.3 MiB"
    assert human(0.0123, "s") == "12.3 ms"
    assert human(2.5e-6, "s") == "2.50 µs"
    assert human(4.089e9, "MAC") == "4.09 GMAC"
    assert human(0.99996, "s") == "1.00 s"  # rounds up into the next prefix, not "1000 ms"
    assert human(0, "J") == "0 J"
    with pytest.raises(ValueError, match="unknown unit 'parsec'"):
        human(1.0, "parsec")


@given(st.floats(1e-4, 1e14))
def test_number_is_fixed_point_with_three_significant_digits(value):
    text = number(value)
    assert "e" not in text
    assert float(text) == pytest.approx(value, rel=5e-3)
    assert len(text.replace(".", "").lstrip("0")) >= 3  # significant digits shown


@given(st.lists(st.floats(1e-12, 1e3), min_size=1, max_size=30))
def test_a_column_scales_by_one_prefix(values):
    labels, cells = table.scaled([{"energy_j": v} for v in values])
    label = labels["energy_j"]
    prefix = label.split()[-1][:-1]  # "energy µJ" -> "µ"
    factor = dict(table.UNITS["J"])[prefix]
    assert 0.9995 <= max(values) / factor < 1000 or prefix in ("", "p")
    for v, cell in zip(values, cells["energy_j"]):
        assert "e" not in cell
        if cell.startswith("<"):
            assert v / factor < 1e-4
        else:
            assert float(cell) * factor == pytest.approx(v, rel=5e-3)


NAMES = ["name", "layer", "latency_s", "energy_j", "dram_energy_j", "bytes_csr", "macs",
         "effective_macs", "cycles", "speedup", "format", "bound", "sparsity", "M", "K", "N",
         "dense_latency_s", "sparse_latency_s", "dense_inf_per_s_per_w", "note", "power_w",
         "a_rather_long_column_name_bytes", "x"]
CELLS = st.one_of(st.none(), st.integers(0, 10 ** 12), st.floats(0, 1e12),
                  st.floats(-1e3, 1e3), st.text("abcdefgh.·_0123456789", max_size=60))


@given(st.lists(st.sampled_from(NAMES), min_size=1, max_size=len(NAMES), unique=True),
       st.data())
def test_every_table_fits_100_columns_and_wide_shows_everything(cols, data):
    rows = [{c: data.draw(CELLS) for c in cols} for _ in range(data.draw(st.integers(1, 6)))]
    t = Table(rows, priority=data.draw(st.permutations(cols)))
    text = t.to_text()
    assert str(t) == text
    _lines_fit(text)
    wide = t.to_text(wide=True)
    labels, _ = table.scaled(table.footnotes(rows)[0])
    if not labels:  # nothing but empty notes: nothing to show
        assert text == wide == ""
        return
    header = wide.splitlines()[0]
    for c, label in labels.items():
        assert label in header, (c, label)
    if text != wide:
        last = text.splitlines()[-1]
        assert last.startswith("(") and "more column" in last and "wide=True" in last
        hidden = int(last[1:].split()[0])
        shown = len(text.splitlines()[1].split())  # the dashes under the header
        assert shown + hidden == len(labels)


def test_narrow_view_keeps_the_declared_priority_and_names_what_it_hides():
    row = {"layer": "conv1", **{f"c{i}_energy_j": 1e-6 * i for i in range(1, 20)},
           "speedup": 1.5}
    t = Table([row], priority=("layer", "speedup", "c19_energy_j"))
    header = re.split(r"\s{2,}", t.to_text().splitlines()[0])
    assert header[:1] == ["layer"] and "speedup" in header and "c19_energy µJ" in header
    assert "c18_energy µJ" not in header
    last = t.to_text().splitlines()[-1]
    assert re.fullmatch(r"\((\d+) more columns: .*--wide, or \.to_text\(wide=True\)\)", last)
    short = table.more_columns_note(["x" * 60, "y" * 60])
    assert short == "(2 more columns: --wide, or .to_text(wide=True))"


def test_long_names_are_shortened_in_the_middle_never_wrapped():
    rows = [{"layer": "encoder.layers." + "very_long_block." * 8 + "in_proj_weight",
             "latency_s": 1e-3, "energy_j": 2e-6}]
    text = Table(rows).to_text()
    _lines_fit(text)
    assert "…" in text and "encoder.layers." in text and "in_proj_weight" in text
    assert len(text.splitlines()) == 3


def test_repeated_notes_are_numbered_once_with_a_count():
    rows = [{"name": f"l{i}", "note": "depthwise conv: kept dense" if i % 2 else ""}
            for i in range(6)] + [{"name": "fc", "note": "other"}]
    text = Table(rows).to_text()
    assert text.count("depthwise conv: kept dense") == 1
    assert "[1] depthwise conv: kept dense (3 rows)" in text and "[2] other" in text
    assert text.count("[1]") == 4  # three markers in the table + the note itself
    md = Table(rows).to_markdown()
    assert "- [1] depthwise conv: kept dense (3 rows)" in md


def test_exports_keep_exact_base_units_and_views_scale():
    rows = [{"layer": "a", "latency_s": 0.0005752, "energy_j": 9.962e-5, "bytes": 102010880},
            {"layer": "total", "latency_s": 0.0123, "energy_j": 0.000123, "bytes": 2048}]
    t = Table(rows)
    back = list(csv.DictReader(io.StringIO(t.to_csv())))
    assert float(back[0]["latency_s"]) == 0.0005752 and back[0]["bytes"] == "102010880"
    assert json.loads(t.to_json()) == rows
    text = t.to_text()
    assert re.split(r"\s{2,}", text.splitlines()[0]) == ["layer", "latency ms", "energy µJ",
                                                         "MiB"]
    assert "0.575" in text and "99.6" in text and "97.3" in text
    assert not EXPONENT.search(text)
    md = t.to_markdown()
    assert md.startswith("| layer | latency ms | energy µJ | MiB |")
    pd = pytest.importorskip("pandas")
    frame = t.to_dataframe()
    assert isinstance(frame, pd.DataFrame) and frame["latency_s"][0] == 0.0005752


def test_a_copied_table_keeps_its_priority_and_legend():
    t = Table([{"a": 1, "b": 2}], priority=("b",), legend={"b": "bee"})
    for other in (copy.copy(t), copy.deepcopy(t)):
        assert other.priority == ("b",) and other.legend == {"b": "bee"}
    assert Table([{"a": 1}]).priority == ()


# -- sparsekit's summary and estimate on real model shapes ----------------------------------
def _zero_at_random(model, sparsity, seed=0):
    """Zero a random share ``sparsity`` of every conv/linear weight (fast, unlike a global
    magnitude sort of 25 M weights)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(torch.rand(m.weight.shape, generator=g) >= sparsity)
    return model


@pytest.fixture(scope="module")
def resnet50_summary():
    torch.manual_seed(0)
    m = _zero_at_random(models.resnet50(), 0.9)
    # a small input: the table's layer names and columns are those of 224×224
    return m, sk.analyze(m, torch.randn(1, 3, 32, 32), progress=False)


@pytest.fixture(scope="module")
def mobilenet():
    torch.manual_seed(0)
    m = _zero_at_random(models.mobilenet_v2(), 0.9)
    x = torch.randn(1, 3, 32, 32)
    return m, x, sk.analyze(m, x, progress=False)


def test_resnet50_summary_fits_100_columns_with_legend(resnet50_summary):
    model, s = resnet50_summary
    text = str(s)
    assert text == s.to_text()
    _lines_fit(text)
    assert not EXPONENT.search(text)
    assert "layer4.0.downsample.0" in text and "total" in text
    assert "MMAC" in text and "MiB" in text
    assert "columns:" in text and "all-zero 4×4 blocks, the ones BSR skips" in text
    assert re.search(r"^\(\d+ more columns: .*wide=True\)\)$", text, re.M)
    wide = s.to_text(wide=True)
    header = wide.splitlines()[0]
    for label in ("type", "rows %", "chan %", "blocks %", "vectors %", "csr MiB", "bsr MiB",
                  "vskip MiB", "best"):
        assert label in header, label
    assert "vs KiB" not in wide and "vs MiB" not in wide
    legend = wide[wide.index("columns:"):]
    for column in ("rows %:", "chan %:", "blocks %:", "vectors %:", "vskip MiB:"):
        assert legend.count(column) == 1, column


def test_weight_params_count_the_weight_matrices_and_the_model_params_all(resnet50_summary):
    model, s = resnet50_summary
    weights = sum(m.weight.numel() for m in model.modules()
                  if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert s.total["weight_params"] == weights
    assert s.meta["model_params"] == sum(p.numel() for p in model.parameters())
    assert f"{weights:,} in the weight matrices" in str(s)
    assert "params" not in s.columns  # the name says what it counts: weight_params
    plain = nn.Sequential(nn.Linear(12, 8, bias=False), nn.ReLU(), nn.Linear(8, 4, bias=False))
    s2 = sk.analyze(plain, torch.randn(2, 12))
    assert s2.total["weight_params"] == sum(p.numel() for p in plain.parameters()) == 128
    assert s2.total["sparsity"] == 1 - s2.total["nnz"] / s2.total["weight_params"]


def test_mobilenet_depthwise_note_is_printed_once_with_its_count(mobilenet):
    _, _, s = mobilenet
    text = str(s)
    _lines_fit(text)
    assert not EXPONENT.search(text)
    assert text.count("depthwise conv") == 1
    assert "[1] depthwise conv: sparsify keeps it dense (17 layers)" in text
    depthwise = [r for r in s if "depthwise" in r["note"]]
    assert len(depthwise) == 17
    assert text.count("[1]") == 17 + 1
    assert "(17 layers)" in s.to_text(wide=True)
    md = s.to_markdown()
    assert md.count("depthwise conv") == 1 and "| [1] |" in md


def test_estimate_of_real_models_fits_100_columns(mobilenet):
    model, x, _ = mobilenet
    est = sk.estimate(model, x, "eyeriss-like", format="csr")
    text = str(est)
    assert text == est.to_text()
    _lines_fit(text)
    assert not EXPONENT.search(text)
    assert "latency ms" in text or "latency µs" in text
    assert re.search(r"\d+(\.\d+)? (ms|µs|s), \d+(\.\d+)? (mJ|µJ|J)", text.splitlines()[0])
    wide = est.to_text(wide=True)
    assert "dram_read" in wide and "executed" in wide
    assert len(wide.splitlines()[2]) > WIDTH
    layer = est.layers[0]
    assert str(layer) == layer.to_text() and layer.name in str(layer)
    _lines_fit(str(layer))
    data = json.loads(est.to_json())
    assert data["rows"][-1]["latency_s"] == pytest.approx(est.latency_s, rel=1e-12)


def test_quick_numbers_do_not_hide_in_exponents():
    rows = [{"layer": "fc", "energy_j": 0.0005752, "bytes_dense": 9.962e4 * 1024}]
    text = Table(rows).to_text()
    assert "575" in text and "97.3" in text and not EXPONENT.search(text)
    assert math.isclose(float(Table(rows).to_csv().splitlines()[1].split(",")[1]), 0.0005752)


def test_a_shapes_only_summary_prints_what_it_knows():
    with torch.device("meta"):
        model = models.resnet18()
    s = sk.analyze(model, torch.empty(1, 3, 224, 224, device="meta"))
    text = str(s)
    _lines_fit(text)
    total = next(line for line in text.splitlines() if line.startswith("total"))
    assert "GMAC" in text and "1.81" in total  # torchvision's 1.814 G
    assert "weight_params:" not in text and "sparsity" not in text.splitlines()[0]


def test_numpy_numbers_scale_like_python_numbers():
    import numpy as np
    rows = [{"layer": "a", "bytes": np.int64(3 * 2 ** 20), "energy_j": np.float32(2.5e-6),
             "speedup": np.float32(1.5)}]
    text = Table(rows).to_text()
    assert re.split(r"\s{2,}", text.splitlines()[0]) == ["layer", "MiB", "energy µJ", "speedup"]
    assert re.split(r"\s{2,}", text.splitlines()[2]) == ["a", "3.00", "2.50", "1.5"]
