"""Format specs: written in Python, YAML and short strings; bad ones name the field."""

import pickle
import subprocess
import sys

import pytest

from hwmodel import formats as hf
from hwmodel.yamlsource import SourceError

TWO_LEVEL = """\
name: two-level-bitmap
value_bits: 16
tile: {M: 4, K: 4}
ranks:
  - {dim: M1, format: U}
  - {dim: K1, format: B}
  - {dim: M0, format: U}
  - {dim: K0, format: B}
"""


def test_yaml_python_and_builtin_agree():
    assert hf.load(TWO_LEVEL) == hf.builtin("two-level-bitmap")
    assert hf.parse("U-B-U-B", tile=(4, 4), name="two-level-bitmap") == \
        hf.builtin("two-level-bitmap")
    assert hf.parse("UOP-CP").ranks == (hf.Rank("M", "UOP"), hf.Rank("K", "CP"))


def test_load_from_a_file(tmp_path):
    path = tmp_path / "tlb.yaml"
    path.write_text(TWO_LEVEL)
    assert hf.load(path) == hf.load(str(path)) == hf.builtin("two-level-bitmap")


@pytest.mark.parametrize("name", sorted(hf.BUILTINS))
def test_every_builtin_survives_yaml(name):
    spec = hf.builtin(name)
    assert hf.load(hf.dump(spec)) == spec
    assert hf.from_dict(hf.to_dict(spec)) == spec


def test_short_strings_place_tiles_outer_then_inner():
    assert [r.dim for r in hf.parse("UOP-B-U", tile={"M": 8}).ranks] == ["M1", "K", "M0"]
    assert [r.dim for r in hf.parse("U-U-CP2", tile={"K": 4}).ranks] == ["M", "K1", "K0"]
    spec = hf.parse("uop32-cp8")
    assert [r.bits for r in spec.ranks] == [32, 8]


def test_flattened_rank_and_keeps_empty():
    coo = hf.builtin("coo")
    assert coo.ranks[0].dims == ("M", "K")
    assert [r.keeps_empty for r in hf.builtin("bsr").ranks] == [True, False, True, True]


@pytest.mark.parametrize("make, field, words", [
    (lambda: hf.parse("UOP-XP"), "ranks[1].format", "unknown representation"),
    (lambda: hf.FormatSpec("x", (hf.Rank("M", "Q"), hf.Rank("K", "U"))), "ranks[0].format",
     "unknown representation"),
    (lambda: hf.builtin("bsr", block=(0, 4)), "tile.M", "positive"),
    (lambda: hf.parse("U-U-U-U", tile=(4, 0)), "tile.K", "positive"),
    (lambda: hf.builtin("csr-rle", run_bits=0), "ranks[1].bits", "1..64"),
    (lambda: hf.FormatSpec("x", (hf.Rank("M", "U"), hf.Rank("N", "CP"))), "ranks[1].dim",
     "no dimension 'N'"),
    (lambda: hf.FormatSpec("x", (hf.Rank("M", "U"), hf.Rank("M", "CP"))), "ranks[1].dim",
     "two ranks"),
    (lambda: hf.FormatSpec("x", (hf.Rank("M", "U"),)), "ranks", "no rank walks K"),
    (lambda: hf.FormatSpec("x", (hf.Rank("M", "U"), hf.Rank("K", "U")), tile={"M": 2}),
     "ranks[0].dim", "no dimension 'M'"),
    (lambda: hf.FormatSpec("x", (hf.Rank("M", "U", bits=8), hf.Rank("K", "U"))),
     "ranks[0].bits", "U has no width"),
    (lambda: hf.FormatSpec("x", (hf.Rank("M", "UOP", bits=4.0), hf.Rank("K", "U"))),
     "ranks[0].bits", "4.0"),
    (lambda: hf.FormatSpec("x", (hf.Rank("M", "U"), hf.Rank("K", "B", fixed=2))),
     "ranks[1].fixed", "only a CP rank"),
    (lambda: hf.FormatSpec("x", (hf.Rank("M", "U"), hf.Rank("K", "CP", align=0))),
     "ranks[1].align", "positive"),
    (lambda: hf.FormatSpec("x", (hf.Rank("M", "U"), hf.Rank("K", "CP", widths=(32, 16)))),
     "ranks[1].widths", "increasing"),
    (lambda: hf.FormatSpec("x", (hf.Rank("M", "U"), hf.Rank("K", "U")), value_bits=0),
     "value_bits", "positive"),
    (lambda: hf.FormatSpec("x", (hf.Rank("M", "U"), hf.Rank("K", "U")), compute="maybe"),
     "compute", "skip, gate, none"),
    (lambda: hf.FormatSpec("x", (hf.Rank("M", "U"), hf.Rank("K", "U")), tile={"N": 2}),
     "tile", "only M and K"),
])
def test_bad_specs_name_the_field(make, field, words):
    with pytest.raises(hf.FormatError) as info:
        make()
    assert info.value.field == field
    assert words in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, SourceError)


def test_width_too_small_for_the_shape_is_named_when_the_shape_is_known():
    import numpy as np
    spec = hf.builtin("csr", index_bits=8)
    hf.footprint(spec, np.ones((3, 256), bool))            # index 255 fits in 8 bits
    with pytest.raises(hf.FormatError, match=r"ranks\[1\]\.bits: 8 bits cannot hold"):
        hf.footprint(spec, np.ones((3, 257), bool))
    with pytest.raises(hf.FormatError, match=r"ranks\[0\]\.bits: 16 bits cannot hold offset"):
        hf.footprint(hf.parse("UOP16-CP"), np.ones((300, 300), bool))
    with pytest.raises(hf.FormatError, match=r"ranks\[0\]\.widths: none of the widths"):
        hf.footprint(hf.FormatSpec("x", (hf.Rank("M", "UOP", widths=(8,)), hf.Rank("K", "CP"))),
                     np.ones((20, 20), bool))
    with pytest.raises(hf.FormatError, match=r"ranks\[2\]\.fixed: 5 entries do not fit"):
        hf.footprint(hf.builtin("nm", n=5, m=4), np.zeros((2, 8), bool))


@pytest.mark.parametrize("text, line, field, words", [
    (TWO_LEVEL.replace("K1, format: B", "K1, format: BX"), 6, "ranks[1].format",
     "unknown representation"),
    (TWO_LEVEL.replace("{M: 4, K: 4}", "{M: 0, K: 4}"), 3, "tile.M", "positive"),
    (TWO_LEVEL.replace("value_bits: 16", "value_bit: 16"), 2, "value_bit", "unknown field"),
    (TWO_LEVEL.replace("dim: K0, format: B", "dim: K0, format: B, colour: red"), 8,
     "ranks[3].colour", "unknown field"),
    (TWO_LEVEL.replace("dim: K0, format: B", "dim: K0"), 8, "ranks[3].format",
     "missing field"),
    (TWO_LEVEL.replace("dim: M0", "dim: M9"), 7, "ranks[2].dim", "no dimension"),
    (TWO_LEVEL.replace("format: B}", "format: RLE, bits: 0}", 1), 6, "ranks[1].bits", "1..64"),
    (TWO_LEVEL.replace("format: B}", "format: CP, bits: eight}", 1), 6, "ranks[1].bits",
     "'auto' or a number"),
    (TWO_LEVEL + "name: again\n", 9, "name", "duplicate key"),
])
def test_yaml_errors_name_field_file_and_line(tmp_path, text, line, field, words):
    path = tmp_path / "fmt.yaml"
    path.write_text(text)
    with pytest.raises(hf.FormatError) as info:
        hf.load(path)
    err = info.value
    assert (err.field, err.line, err.file) == (field, line, str(path))
    assert words in str(err) and str(err).startswith(f"{path}:{line}: {field}: ")
    assert pickle.loads(pickle.dumps(err)).line == line


def test_yaml_that_is_not_a_mapping():
    with pytest.raises(hf.FormatError, match="expected a mapping"):
        hf.load("- just\n- a list\n")
    with pytest.raises(hf.FormatError, match="ranks: expected a non-empty list"):
        hf.load("name: x\nranks: {}\n")


def test_unknown_builtin_and_parameter():
    with pytest.raises(ValueError, match="unknown built-in format 'bsx'"):
        hf.builtin("bsx")
    with pytest.raises(TypeError, match="'bsr'.*blok"):
        hf.builtin("bsr", blok=(4, 4))


def test_formats_import_numpy_and_yaml_only():
    code = ("import sys, numpy as np; from hwmodel import formats as hf; "
            "hf.footprint(hf.builtin('csr'), np.eye(4)); hf.expected_footprint("
            "hf.builtin('bsr'), (8, 8), 0.5); hf.decode(hf.builtin('coo'), hf.encode("
            "hf.builtin('coo'), np.eye(3)), (3, 3)); "
            "bad = [m for m in ('torch', 'numba', 'sparsekit', 'kernels', 'scipy', 'pandas') "
            "if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
