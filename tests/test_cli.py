"""The command line: summary, estimate, calibrate and demo on tiny inputs; bad arguments
exit 2 with a clear message."""
import json

import pytest

import hwmodel
from sparsekit.cli import main

TINY = ["mlp", "--arg", "sizes=(32, 64, 16)", "--batch", "2"]


@pytest.fixture(autouse=True)
def no_user_presets(monkeypatch, tmp_path):
    """Keep a calibrated ~/.config preset out of the tests."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HWMODEL_PRESET_PATH", raising=False)


def test_summary(capsys, tmp_path):
    out = tmp_path / "s.json"
    assert main(["summary", *TINY, "--sparsity", "0.5", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "fc1" in text and "fc2" in text and "total" in text
    rows = json.loads(out.read_text())
    assert any(r.get("name") == "fc1" for r in (rows if isinstance(rows, list)
                                                else rows.get("rows", [])))


def test_estimate_and_compare(capsys, tmp_path):
    csv = tmp_path / "e.csv"
    assert main(["estimate", *TINY, "--hw", "eyeriss-like", "--sparsity", "0.9",
                 "--format", "csr", "--csv", str(csv)]) == 0
    assert "eyeriss-like" in capsys.readouterr().out
    assert csv.read_text().startswith("layer,")
    assert main(["estimate", *TINY, "--hw", "edge-npu", "--sparsity", "0.9", "--compare",
                 "--markdown", str(tmp_path / "c.md")]) == 0
    text = capsys.readouterr().out
    assert "speedup" in text and "energy_saving" in text
    assert (tmp_path / "c.md").read_text().startswith("| layer")


def test_calibrate_cli(capsys, tmp_path):
    out = tmp_path / "presets" / "host-cpu.yaml"
    assert main(["calibrate", "--out", str(out), "--budget", "1", "--quiet"]) == 0
    assert hwmodel.load(out).name == "host-cpu"
    assert "dram read bandwidth" in capsys.readouterr().out


def test_demo(capsys, tmp_path):
    png, md = tmp_path / "energy.png", tmp_path / "demo.md"
    assert main(["demo", *TINY, "--budget", "0.02", "--hw", "eyeriss-like", "--hw",
                 "edge-npu", "--plot", str(png), "--markdown", str(md)]) == 0
    text = capsys.readouterr().out
    assert "measured on this machine" in text and "eyeriss-like (estimated)" in text
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "edge-npu" in md.read_text()


@pytest.mark.parametrize("argv, message", [
    (["estimate", *TINY, "--hw", "no-such-hw"], "no-such-hw"),
    (["summary", "no_such_model"], "unknown model"),
    (["summary", "os.path:nope"], "no attribute"),
    (["estimate", *TINY, "--value-bits", "64", "--hw", "eyeriss-like"], "MAC energy"),
])
def test_errors_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error" in err and message in err


@pytest.mark.parametrize("argv", [
    ["estimate", *TINY, "--sparsity", "1.5"],
    ["estimate", *TINY, "--format", "coo"],
    ["summary"],
    ["demo", "--input-shape", "0x3"],
    ["frobnicate"],
])
def test_bad_arguments_exit_2(capsys, argv):
    assert main(argv) == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["summary", "estimate", "calibrate", "demo", "bench"])
def test_help(capsys, command):
    assert main([command, "--help"]) == 0
    assert "usage" in capsys.readouterr().out
