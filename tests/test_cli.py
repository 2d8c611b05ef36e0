"""The command line: every command on tiny inputs, one JSON layout for all of them, the demo's
report folder, and every bad input ending in one line `sparsekit CMD: error: ...` with a
non-zero exit, checked before the work starts."""
import builtins
import json
import os
import re
import stat

import pytest

import hwmodel
from sparsekit import cli
from sparsekit.cli import main

TINY_MODEL = ["mlp", "--arg", "sizes=(32, 64, 16)"]
TINY = [*TINY_MODEL, "--batch", "2"]
TINY_BENCH = ["bench", "--shape", "64x64", "--sparsity", "0.5", "--batch", "1", "--format",
              "csr"]
PICTURES = ("speedup_vs_sparsity.png", "energy_breakdown.png", "roofline.png",
            "layer_latency.png")


@pytest.fixture(autouse=True)
def no_user_presets(monkeypatch, tmp_path):
    """Keep a calibrated ~/.config preset out of the tests."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HWMODEL_PRESET_PATH", raising=False)


def one_line_error(capsys, command):
    """The captured stderr is exactly one line `sparsekit COMMAND: error: ...`."""
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"sparsekit {command}: error: "), lines[0]
    assert "Traceback" not in captured.err
    return lines[0], captured.out


# -- the commands ------------------------------------------------------------------------------
def test_summary(capsys, tmp_path):
    out = tmp_path / "s.json"
    assert main(["summary", *TINY, "--sparsity", "0.5", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "fc1" in text and "fc2" in text and "total" in text
    rows = json.loads(out.read_text())["tables"]["summary"]
    assert any(r.get("name") == "fc1" for r in rows)


def test_estimate_and_compare(capsys, tmp_path):
    csv = tmp_path / "e.csv"
    assert main(["estimate", *TINY, "--hw", "eyeriss-like", "--sparsity", "0.9",
                 "--format", "csr", "--csv", str(csv)]) == 0
    assert "eyeriss-like" in capsys.readouterr().out
    assert csv.read_text().startswith("layer,")
    assert main(["estimate", *TINY, "--hw", "edge-npu", "--sparsity", "0.9", "--compare",
                 "--markdown", str(tmp_path / "c.md")]) == 0
    text = capsys.readouterr().out
    assert "speedup" in text and "energy" in text
    assert (tmp_path / "c.md").read_text().startswith("| layer")


def test_calibrate_cli(capsys, tmp_path):
    out = tmp_path / ("a-long-folder-name-" * 4) / "presets" / "host-cpu.yaml"
    assert main(["calibrate", "--out", str(out), "--budget", "1", "--quiet"]) == 0
    assert hwmodel.load(out).name == "host-cpu"
    text = capsys.readouterr().out
    assert "dram read bandwidth" in text and str(out) in text
    # prose wraps at 100 columns; only a path too long for a line stands alone beyond them
    assert all(len(line) <= 100 or " " not in line.strip() for line in text.splitlines())


def test_demo_writes_the_report_folder_by_default(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    png, md = tmp_path / "energy.png", tmp_path / "demo.md"
    assert main(["demo", *TINY, "--budget", "0.02", "--hw", "eyeriss-like", "--hw",
                 "edge-npu", "--plot", str(png), "--markdown", str(md)]) == 0
    text = capsys.readouterr().out
    assert "measured on this machine" in text and "eyeriss-like (estimated)" in text
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "edge-npu" in md.read_text()
    folder = tmp_path / "sparsekit-report"
    assert re.search(r"report: .*sparsekit-report.report\.md", text)   # says where it went
    report = (folder / "report.md").read_text()
    for name in PICTURES:
        assert (folder / name).read_bytes()[:4] == b"\x89PNG"
        assert f"]({name})" in report
    for heading in ("whole model", "speedup against sparsity", "Latency per layer",
                    "Per-layer analysis", "## Whole model: host-cpu estimate against measured"):
        assert heading.lower() in report.lower()
    # the report measures several sparsities, the demo's own included, and every layer
    assert report.count("| 0.5 ") + report.count("| 0.50 ") >= 1
    assert all(f"| {layer} " in report for layer in ("fc1", "fc2"))


def test_demo_out_and_no_report(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", *TINY, "--budget", "0.02", "--hw", "edge-npu", "--no-report"]) == 0
    assert not (tmp_path / "sparsekit-report").exists()
    assert "report:" not in capsys.readouterr().out
    out = tmp_path / "a" / "b"
    assert main(["demo", *TINY, "--budget", "0.02", "--hw", "edge-npu", "--out",
                 str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(PICTURES + ("report.md",))


def test_version(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "30")           # one line, however narrow the terminal
    assert main(["--version"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("sparsekit ") and "torch" in text and "numba" in text
    assert len(text.strip().splitlines()) == 1


def test_a_closed_pipe_stops_quietly(capsys, monkeypatch):
    """`sparsekit presets | head -1`: the reader leaves; no error message, exit 141."""
    import io
    import sys
    read_end, write_end = os.pipe()

    class Closed(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):
            return write_end

    monkeypatch.setattr(sys, "stdout", Closed())
    try:
        assert main(["presets"]) == 141
    finally:
        os.close(read_end)
        os.close(write_end)
    assert capsys.readouterr().err == ""


def test_presets_lists_every_preset_in_one_line_each(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in hwmodel.presets():
        matching = [line for line in lines if line.startswith(name + " ")]
        assert len(matching) == 1 and len(matching[0].split(maxsplit=1)[1]) > 10
    assert max(len(line) for line in lines) <= 100


def test_models_lists_models_and_input_shapes(capsys):
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    for name, shape in (("mlp", "4096"), ("small_cnn", "3x32x32"), ("resnet18", "3x224x224"),
                        ("resnet50", "3x224x224")):
        assert re.search(rf"^{name}\s+{shape}\s", text, re.M), name
    assert "3x299x299" in text           # inception_v3 through torchvision
    assert max(len(line) for line in text.splitlines()) <= 100


# -- one JSON layout ---------------------------------------------------------------------------
@pytest.mark.parametrize("argv, command, table", [
    (["summary", *TINY], "summary", "summary"),
    (["estimate", *TINY, "--hw", "edge-npu"], "estimate", "estimate"),
    (["estimate", *TINY, "--hw", "edge-npu", "--compare"], "estimate", "compare"),
    (["demo", *TINY, "--budget", "0.02", "--hw", "edge-npu", "--no-report"], "demo",
     "estimates"),
    (["calibrate", "--budget", "1", "--quiet"], "calibrate", "calibration"),
    (TINY_BENCH, "bench", "bench"),
    (["formats", *TINY, "--hw", "edge-npu"], "formats", "formats"),
    (["presets"], "presets", "presets"),
    (["models"], "models", "models"),
])
def test_every_command_writes_the_same_json_layout(capsys, tmp_path, argv, command, table):
    out = tmp_path / "out.json"
    if command == "calibrate":
        argv = [*argv, "--out", str(tmp_path / "host-cpu.yaml")]
    assert main([*argv, "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert set(doc) == {"command", "meta", "tables"} and doc["command"] == command
    meta = doc["meta"]
    assert {"hardware", "batch", "format", "sparsity"} <= set(meta)     # null if unused
    assert {"sparsekit", "torch", "numpy", "numba"} <= set(meta["versions"])
    assert meta["versions"]["sparsekit"]
    assert {"cpu", "cores", "python"} <= set(meta["machine"])
    rows = doc["tables"][table]
    assert rows and all(isinstance(r, dict) for r in rows)
    if command in ("summary", "estimate", "demo", "formats"):
        assert meta["batch"] == 2 and meta["input_shape"] == [32]


def test_json_has_no_invalid_numbers(tmp_path):
    out = tmp_path / "out.json"
    assert main(["demo", *TINY, "--budget", "0.02", "--hw", "edge-npu", "--no-report",
                 "--json", str(out)]) == 0
    json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"JSON has {c}"))


# -- output width ------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["summary", "small_cnn", "--sparsity", "0.9"],
    ["estimate", "small_cnn", "--sparsity", "0.9", "--hw", "eyeriss-like"],
    ["estimate", "small_cnn", "--sparsity", "0.9", "--hw", "eyeriss-like", "--compare"],
    ["demo", "--budget", "0.02", "--no-report"],
])
def test_tables_fit_100_columns_unless_wide(capsys, argv):
    assert main(argv) == 0
    narrow = capsys.readouterr().out
    assert max(len(line) for line in narrow.splitlines()) <= 100
    assert main([*argv, "--wide"]) == 0
    wide = capsys.readouterr().out
    assert max(len(line) for line in wide.splitlines()) >= max(
        len(line) for line in narrow.splitlines())


# -- progress ----------------------------------------------------------------------------------
def test_demo_passes_progress_on_to_analyze_sparsify_and_estimate(monkeypatch, tmp_path):
    """On a terminal the demo asks sk.analyze, sk.sparsify and sk.compare for progress bars;
    elsewhere it does not."""
    import sparsekit.hw._estimate as est
    import sparsekit.model._analyze as an
    import sparsekit.nn._sparsify as sp
    seen = []

    def spy(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            seen.append((name, kwargs.get("progress")))
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, wrapper)

    spy(sp, "sparsify")
    spy(est, "compare")
    spy(an, "analyze")
    for tty in (True, False):
        seen.clear()
        monkeypatch.setattr(est, "show_progress", lambda p, tty=tty: tty if p is None else p)
        assert main(["demo", *TINY, "--budget", "0.02", "--hw", "edge-npu",
                     "--no-report"]) == 0
        assert {"sparsify", "compare", "analyze"} <= {name for name, _ in seen}
        assert all(progress is tty for _, progress in seen), seen


def test_show_progress_follows_the_terminal(monkeypatch):
    import io
    import sys
    from sparsekit.hw._estimate import show_progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert show_progress(None) is False and show_progress(True) is True
    monkeypatch.setattr(sys, "stderr", Tty())
    assert show_progress(None) is True and show_progress(False) is False


# -- bad input: one line, non-zero exit ---------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["estimate", *TINY, "--hw", "no-such-hw"], "no-such-hw"),
    (["summary", "no_such_model"], "unknown model"),
    (["summary", "os.path:nope"], "no attribute"),
    (["estimate", *TINY, "--value-bits", "64", "--hw", "eyeriss-like"], "MAC energy"),
    (["summary", *TINY_MODEL, "--input-shape", "3x8x8"], "does not fit"),
    (["summary", "small_cnn", "--input-shape", "64"], "does not fit"),
    (["estimate", *TINY_MODEL, "--batch", str(10 ** 13)], "needs about"),
    (["demo", *TINY_MODEL, "--batch", str(10 ** 13), "--no-report"], "needs about"),
    (["summary", *TINY_MODEL, "--arg", "colour=3"], "colour"),
    (["summary", "mlp", "--arg", "sizes=(1000000, 1000000)"], "of parameters"),
    (["summary", "mlp", "--arg", "sizes=10**6"], "sizes must be a sequence"),
    (["summary", "mlp", "--input-shape", "100000x100000x100000"], "one input of shape"),
    (TINY_BENCH[:2] + ["1000000x1000000"], "needs about"),
])
def test_errors_are_one_line_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    line, out = one_line_error(capsys, argv[0])
    assert message in line


@pytest.fixture
def unwritable_dir(tmp_path):
    """A directory this process cannot create files in (a read-only folder, or /sys when
    running as root, which ignores permissions)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    for candidate in (locked, "/sys"):
        try:
            with open(os.path.join(candidate, "probe.json"), "w"):
                pass
        except OSError:
            yield str(candidate)
            break
        os.remove(os.path.join(candidate, "probe.json"))
    else:
        pytest.skip("no unwritable directory here")
    locked.chmod(stat.S_IRWXU)


@pytest.mark.parametrize("option", ["--json", "--csv", "--markdown"])
@pytest.mark.parametrize("argv", [
    ["summary", *TINY], ["estimate", *TINY, "--hw", "edge-npu"],
    ["demo", *TINY, "--no-report"], ["calibrate", "--budget", "1"], TINY_BENCH, ["presets"],
    ["models"]])
def test_output_paths_are_checked_before_the_work(capsys, tmp_path, unwritable_dir, option,
                                                  argv, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("the command ran before its output path was checked")

    monkeypatch.setattr(cli, "load_model_and_input", no_work)
    monkeypatch.setattr(cli, "load_model_input_readers", no_work)
    monkeypatch.setattr("sparsekit.hw._calibrate.calibrate", no_work)
    monkeypatch.setattr("sparsekit.benchmarking.quick.run", no_work)
    monkeypatch.setattr("sparsekit.models.catalogue", no_work)
    monkeypatch.setattr("hwmodel.presets", no_work)
    (tmp_path / "file.txt").write_text("x")
    for path, message in ((tmp_path, "is a directory"),
                          (tmp_path / "missing" / "out.txt", "does not exist"),
                          (tmp_path / "file.txt" / "out.txt", "not a directory"),
                          (os.path.join(unwritable_dir, "out.txt"), "cannot write")):
        assert main([*argv, option, str(path)]) == 2
        line, out = one_line_error(capsys, argv[0])
        assert message in line and option in line and out == ""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_device_is_a_one_line_error(capsys):
    assert main(["presets", "--json", "/dev/full"]) == 2
    line, _ = one_line_error(capsys, "presets")
    assert "--json /dev/full" in line and "No space left" in line


def test_an_existing_output_file_is_kept_until_written(tmp_path):
    out = tmp_path / "old.json"
    out.write_text("old")
    assert main(["summary", "no_such_model", "--json", str(out)]) == 2
    assert out.read_text() == "old"
    missing = tmp_path / "new.json"
    assert main(["summary", "no_such_model", "--json", str(missing)]) == 2
    assert not missing.exists()


def test_out_folders_are_checked_before_the_work(capsys, tmp_path, unwritable_dir):
    (tmp_path / "file.txt").write_text("x")
    for argv, message in (
            (["demo", "--out", str(tmp_path / "file.txt")], "not a directory"),
            (["demo", "--out", os.path.join(unwritable_dir, "report")], "cannot"),
            (["calibrate", "--out", str(tmp_path)], "is a directory"),
            (["calibrate", "--out", str(tmp_path / "file.txt" / "x.yaml")], "cannot"),
            (["calibrate", "--out", os.path.join(unwritable_dir, "x.yaml")], "cannot")):
        assert main(argv) == 2
        line, out = one_line_error(capsys, argv[0])
        assert message in line and "--out" in line and out == ""


def _edit_preset(tmp_path, name, pattern, replacement):
    from hwmodel.presets import PRESET_DIR
    text = (PRESET_DIR / "edge-npu.yaml").read_text(encoding="utf-8")
    edited, n = re.subn(pattern, replacement, text, count=1, flags=re.M)
    assert n == 1
    path = tmp_path / name
    path.write_text(edited, encoding="utf-8")
    return path


@pytest.mark.parametrize("pattern, replacement", [
    (r"^(\s*macs_per_cycle:)\s*\S+", r"\g<1> " + "9" * 400),
    (r"^(\s*clock:)\s*[^#\n]+", r"\g<1> 0 "),
])
@pytest.mark.parametrize("command", ["estimate", "demo"])
def test_bad_hardware_files_are_one_line_errors(capsys, tmp_path, pattern, replacement,
                                                command):
    path = _edit_preset(tmp_path, "bad.yaml", pattern, replacement)
    argv = [command, *TINY, "--hw", str(path)] + (["--no-report"] if command == "demo" else [])
    assert main(argv) == 2
    line, out = one_line_error(capsys, command)
    assert "bad.yaml" in line and out == ""


def test_demo_checks_hardware_before_pruning_or_timing(capsys, monkeypatch):
    import sparsekit.prune as prune
    monkeypatch.setattr(prune, "magnitude", lambda *a, **k: pytest.fail("pruned first"))
    assert main(["demo", "--hw", "nosuch"]) == 2
    line, out = one_line_error(capsys, "demo")
    assert "nosuch" in line and out == ""


@pytest.mark.parametrize("budget", ["-1", "0", "nan", "inf", "soon"])
@pytest.mark.parametrize("command", ["demo", "calibrate"])
def test_budget_must_be_positive(capsys, budget, command):
    assert main([command, "--budget", budget]) == 2
    assert "budget" in capsys.readouterr().err


def test_plotting_without_matplotlib_is_a_one_line_error(capsys, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    for argv in (["demo", *TINY, "--no-report", "--plot", str(tmp_path / "e.png")],
                 ["demo", *TINY, "--out", str(tmp_path / "report")]):
        assert main(argv) == 2
        line, out = one_line_error(capsys, "demo")
        assert "matplotlib" in line and out == ""   # checked before the work
    assert not (tmp_path / "e.png").exists()


def test_ctrl_c_exits_130_with_a_short_message(capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_summary", interrupted)
    assert main(["summary", *TINY]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_long_multi_line_message_becomes_one_short_line(capsys, monkeypatch):
    def long_error(args):
        raise ValueError("first line\n" + "word " * 2000)

    monkeypatch.setattr(cli, "cmd_summary", long_error)
    assert main(["summary", *TINY]) == 2
    line, _ = one_line_error(capsys, "summary")
    assert "first line word" in line and len(line) < 1100


def test_a_bug_is_not_hidden(monkeypatch):
    """Only user errors become one line: an unexpected exception still propagates."""
    def bug(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "cmd_summary", bug)
    with pytest.raises(ZeroDivisionError):
        main(["summary", *TINY])


@pytest.mark.parametrize("argv", [
    ["estimate", *TINY, "--sparsity", "1.5"],
    ["estimate", *TINY, "--format", "coo"],
    ["summary"],
    ["demo", "--input-shape", "0x3"],
    ["demo", "--batch", "0"],
    ["frobnicate"],
])
def test_bad_arguments_exit_2(capsys, argv):
    assert main(argv) == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["summary", "estimate", "calibrate", "demo", "bench",
                                     "presets", "models"])
def test_help(capsys, command):
    assert main([command, "--help"]) == 0
    assert "usage" in capsys.readouterr().out


# -- estimate --measure: host-cpu against this machine (issue 8) ----------------------------
def test_estimate_measure_prints_estimated_against_measured(capsys, tmp_path):
    out = tmp_path / "m.json"
    assert main(["estimate", *TINY, "--sparsity", "0.9", "--measure", "--budget", "0.02",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "host-cpu estimate against this machine: whole model estimated" in text
    header = next(line for line in text.splitlines() if line.startswith("layer ")
                  and "measured" in line)
    for column in ("estimated", "measured", "error", "format"):
        assert column in header, header
    rows = json.loads(out.read_text())["tables"]["measured"]
    assert [r["layer"] for r in rows] == ["fc1", "fc2", "whole model"]
    for r in rows:
        assert r["estimated_s"] > 0 and r["measured_s"] > 0
        assert r["error"] == pytest.approx(abs(r["estimated_s"] / r["measured_s"] - 1))
    assert {r["format"] for r in rows[:2]} <= {"dense", "csr", "bsr", "vectorskip"}


def test_estimate_measure_says_why_a_prediction_is_off():
    from sparsekit.report.measure import OFF, why_off

    class Cost:
        name, bound = "conv1", "compute"
    assert why_off(Cost, "dense", 1.0, 1.0 + OFF / 2) == ""
    assert why_off(Cost, "csr", 1.0, 3.0).startswith("under-estimated: the csr kernel")
    assert why_off(Cost, "dense", 3.0, 1.0).startswith("over-estimated: torch's dense")
    Cost.bound = "calls"
    assert "fixed cost per call" in why_off(Cost, "dense", 1.0, 3.0)
    assert "unfused" in why_off(None, "", 1.0, 3.0)


def test_estimate_measure_needs_the_host_preset(capsys):
    assert main(["estimate", *TINY, "--measure", "--hw", "eyeriss-like"]) == 2
    line, _ = one_line_error(capsys, "estimate")
    assert "--measure" in line and "host-cpu" in line


def test_demo_prints_the_host_estimate_against_the_measured_times(capsys, tmp_path):
    out = tmp_path / "d.json"
    assert main(["demo", *TINY, "--budget", "0.02", "--hw", "edge-npu", "--no-report",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "host-cpu estimate against this machine (whole model, as it runs)" in text
    rows = json.loads(out.read_text())["tables"]["host_vs_measured"]
    assert [r["model"] for r in rows] == ["dense", "sk.sparsify"]
    for r in rows:
        assert r["error"] == pytest.approx(abs(r["estimated_s"] / r["measured_s"] - 1))
