"""sk.compare_formats (several formats on one model and hardware) and sweep_formats
(formats × sparsity × hardware through hwmodel.sweep on any Executor)."""
import copy
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

import hwmodel
import sparsekit as sk
from hwmodel import formats as hf
from sparsekit import prune
from sparsekit.hw import sweep_formats
from sparsekit.hw._compare_formats import prune_mask
from sparsekit.models import MLP, SmallCNN

SPECS = ["dense", "csr", "bitmap", "UOP-RLE4"]


@pytest.fixture(scope="module")
def pruned():
    torch.manual_seed(0)
    model = SmallCNN(width=8).eval()
    prune.magnitude(model, 0.8)
    return model, torch.randn(2, 3, 32, 32)


@pytest.fixture(scope="module")
def result(pruned):
    model, x = pruned
    return sk.compare_formats(model, x, SPECS, "eyeriss-like")


def test_one_row_per_layer_and_format_adding_up_to_the_totals(result, pruned):
    model, x = pruned
    assert result.formats == tuple(SPECS) and result.batch == 2
    assert [r["format"] for r in result.total] == SPECS
    names = [layer.name for layer in result.estimates["csr"].layers]
    assert len(result.layers) == len(SPECS) * len(names)
    for total in result.total:
        rows = [r for r in result.layers if r["format"] == total["format"]]
        assert [r["layer"] for r in rows] == names
        for key in ("bytes", "payload_bytes", "metadata_bytes", "dram_bytes", "latency_s",
                    "energy_j", "dram_energy_j", "weight_metadata_energy_j", "mac_energy_j"):
            assert sum(r[key] for r in rows) == pytest.approx(total[key], rel=1e-9), key
        assert total["bytes"] == total["payload_bytes"] + total["metadata_bytes"]
        est = result.estimates[total["format"]]
        assert total["energy_j"] == pytest.approx(est.energy_j)
        assert total["inf_per_s_per_w"] == pytest.approx(2 / est.energy_j)
        parts = sum(v for k, v in total.items() if k.endswith("_energy_j") and k[:-9] in
                    est.energy_by_level) + total["mac_energy_j"] + total["decode_energy_j"] \
            + total["static_energy_j"]
        assert parts == pytest.approx(total["energy_j"])
    by = {r["format"]: r for r in result.total}
    assert by["dense"]["metadata_bytes"] == 0
    assert by["csr"]["bytes"] < by["dense"]["bytes"]
    assert by["csr"]["energy_j"] < by["dense"]["energy_j"]
    assert by["dense"]["compute"] == "gate" and by["csr"]["compute"] == "gate"


def test_bytes_and_bits_per_nonzero_are_the_footprints_of_the_real_weights(result, pruned):
    model, x = pruned
    w = model.conv2.weight.detach().reshape(model.conv2.weight.shape[0], -1).numpy()
    row = next(r for r in result.layers if r["layer"] == "conv2" and r["format"] == "bitmap")
    fp = hf.footprint(hf.builtin("bitmap"), w != 0)
    assert row["bytes"] == fp.total_bits / 8
    assert row["bits_per_nnz"] == pytest.approx(fp.bits_per_nonzero)
    assert row["metadata_bytes"] == w.size / 8


def test_prints_within_100_columns_and_exports(result, tmp_path):
    for text in (str(result), result.to_text(layers=True)):
        assert max(len(line) for line in text.splitlines()) <= 100
    assert "UOP-RLE4" in str(result) and "bits_per_nnz" in str(result)
    result.to_csv(tmp_path / "f.csv")
    csv = (tmp_path / "f.csv").read_text()
    assert csv == result.to_csv()
    lines = csv.splitlines()
    assert lines[0].startswith("layer,format") and len(lines) == 1 + len(result.layers) + 4
    assert lines[-1].startswith("total,UOP-RLE4")
    rows = json.loads(result.to_json())
    rows = rows["rows"] if isinstance(rows, dict) else rows
    assert len(rows) == len(result.layers) + 4
    assert "| layer" in result.to_markdown()


def test_plot_writes_a_png(result, tmp_path):
    path = result.plot(tmp_path / "formats.png")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_yaml_spec_and_a_formatspec_compare_with_the_builtins(pruned, tmp_path):
    model, x = pruned
    f = tmp_path / "blocks.yaml"
    f.write_text("name: bitmap-of-2x2\nvalue_bits: 16\ntile: {M: 2, K: 2}\nranks:\n"
                 "  - {dim: M1, format: UOP}\n  - {dim: K1, format: B}\n"
                 "  - {dim: M0, format: U}\n  - {dim: K0, format: U}\n")
    res = sk.compare_formats(model, x, [str(f), hf.builtin("two-level-bitmap"), "bsr"],
                             "edge-npu", value_bits=8)
    assert res.formats == ("bitmap-of-2x2", "two-level-bitmap", "bsr")
    assert all(r["compute"] == "skip" for r in res.total)


@pytest.mark.parametrize("specs, match", [
    ([], "empty list"), ("csr", "list of formats"), (["csr", "csr"], "named 'csr'"),
    (["UOP-XX"], "not a registered format")])
def test_bad_spec_lists(pruned, specs, match):
    model, x = pruned
    with pytest.raises((ValueError, TypeError), match=match):
        sk.compare_formats(model, x, specs, "eyeriss-like")


def test_prune_mask_zeroes_exactly_the_smallest():
    rng = np.random.default_rng(0)
    mag = np.abs(rng.standard_normal((7, 13)))
    for s in (0.0, 0.3, 0.8, 1.0):
        mask = prune_mask(mag, s)
        assert mask.size - mask.sum() == round(s * mag.size)
        if 0 < mask.sum() < mask.size:
            assert mag[~mask].max() <= mag[mask].min()
    with pytest.raises(ValueError, match="sparsity"):
        prune_mask(mag, 1.5)


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    return MLP((32, 48, 16)).eval(), torch.randn(4, 32)


def test_sweep_formats_on_a_thread_pool(mlp):
    model, x = mlp
    with ThreadPoolExecutor(2) as pool:
        table = sweep_formats(model, x, ["csr", "bitmap"], [None, 0.5, 0.9],
                              ["eyeriss-like", "edge-npu"], executor=pool)
    assert len(table) == 2 * 2 * 3
    assert [(r["hardware"], r["format"], r["sparsity"]) for r in table[:3]] == [
        ("eyeriss-like", "csr", None), ("eyeriss-like", "csr", 0.5),
        ("eyeriss-like", "csr", 0.9)]
    for hw in ("eyeriss-like", "edge-npu"):
        for fmt in ("csr", "bitmap"):
            rows = [r for r in table if r["hardware"] == hw and r["format"] == fmt]
            assert rows[0]["bytes"] > rows[1]["bytes"] > rows[2]["bytes"]
            assert rows[1]["energy_j"] > rows[2]["energy_j"]
    # a point of the sweep is the estimate of the model pruned to that sparsity
    pruned = copy.deepcopy(model)
    for m in (pruned.fc1, pruned.fc2):
        w = m.weight.detach()
        m.weight.data = w * torch.from_numpy(prune_mask(w.abs().numpy(), 0.9))
    est = sk.estimate(pruned, x, "edge-npu", format="bitmap")
    row = next(r for r in table if r["hardware"] == "edge-npu" and r["format"] == "bitmap"
               and r["sparsity"] == 0.9)
    assert row["energy_j"] == pytest.approx(est.energy_j)


def test_sweep_formats_on_a_dask_cluster(mlp):
    distributed = pytest.importorskip("dask.distributed")
    model, x = mlp
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        table = sweep_formats(model, x, ["csr", "UOP-CP"], [0.5, 0.9],
                              [hwmodel.load("eyeriss-like")], executor=client.get_executor())
    assert [(r["format"], r["sparsity"]) for r in table] == [
        ("csr", 0.5), ("csr", 0.9), ("UOP-CP", 0.5), ("UOP-CP", 0.9)]
    assert all(r["energy_j"] > 0 for r in table)


def test_sweep_formats_rejects_bad_levels(mlp):
    model, x = mlp
    with pytest.raises(ValueError, match="sparsities"):
        sweep_formats(model, x, ["csr"], [2.0], ["eyeriss-like"],
                      executor=ThreadPoolExecutor(1))


def test_cli_formats_command(tmp_path, capsys):
    from sparsekit.cli import main
    spec = tmp_path / "mine.yaml"
    spec.write_text("name: rle-pairs\nvalue_bits: 8\nranks:\n  - {dim: M, format: UOP}\n"
                    "  - {dim: K, format: RLE, bits: 3}\n")
    out = {k: tmp_path / f"o.{k}" for k in ("png", "csv", "json", "md")}
    code = main(["formats", "mlp", "--arg", "sizes=(32, 48, 16)", "--spec", str(spec),
                 "--spec", "csr", "--spec", "bitmap", "--hw", "eyeriss-like", "--sparsity",
                 "0.8", "--layers", "--plot", str(out["png"]), "--csv", str(out["csv"]),
                 "--json", str(out["json"]), "--markdown", str(out["md"])])
    text = capsys.readouterr().out
    assert code == 0
    assert "3 formats on eyeriss-like" in text and "rle-pairs" in text and "per layer" in text
    assert max(len(line) for line in text.splitlines()) <= 100
    doc = json.loads(out["json"].read_text())
    assert doc["command"] == "formats" and doc["meta"]["format"] == ["rle-pairs", "csr",
                                                                        "bitmap"]
    assert [r["format"] for r in doc["tables"]["formats"] if r["layer"] == "total"] == [
        "rle-pairs", "csr", "bitmap"]
    assert out["csv"].read_text().startswith("layer,format")
    assert out["png"].read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, match", [
    (["formats", "mlp", "--spec", "UOP-XX"], "--spec UOP-XX: format 'UOP-XX' is not"),
    (["formats", "mlp", "--spec", "missing.yaml"], "does not exist"),
    (["formats", "mlp", "--hw", "nope"], "--hw nope"),
])
def test_cli_formats_errors_are_one_line(argv, match, capsys):
    from sparsekit.cli import main
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0] and err[0].startswith("sparsekit formats: error")


def test_cli_format_choices_come_from_the_registry():
    from sparsekit.cli import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices
    choices = {cmd: next(a for a in sub[cmd]._actions if a.dest in ("format", "formats")).choices
               for cmd in ("bench", "estimate", "demo")}
    assert list(choices["bench"]) == list(sk.FORMATS)
    assert list(choices["estimate"]) == list(choices["demo"]) == ["auto", "dense",
                                                                   *sk.FORMATS]


def test_sweep_formats_needs_distinct_hardware_names(mlp):
    model, x = mlp
    with pytest.raises(ValueError, match="its own name"):
        sweep_formats(model, x, ["csr"], [None], ["edge-npu", "edge-npu"])
