"""Where a command's tables go: output paths checked before the work starts, tables written
after it, in one JSON layout for every command.

The JSON document every ``--json PATH`` gets::

    {"command": "estimate",                      # the sparsekit command that wrote it
     "meta": {"model": ..., "hardware": [...], "batch": 1, "format": "auto",
              "sparsity": 0.9, ...,              # what the command used (null: not used)
              "date": "2026-11-29T08:00:00+00:00",
              "versions": {"sparsekit": ..., "torch": ..., "numpy": ..., "numba": ...},
              "machine": {"cpu": ..., "cores": 2, "python": "3.11.9", "platform": ...}},
     "tables": {"estimate": [{"layer": "fc1", ...}, ...], ...}}   # name -> rows

Every row carries every column with exact values; shapes are lists; a non-finite number is
the string "inf", "-inf" or "nan" (JSON has no such numbers). ``--csv`` writes the command's
main table; ``--markdown`` writes every table under a heading.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from sparsekit.report.markdown import table_markdown


def _fail(option, path, reason):
    return ValueError(f"{option} {path}: {reason}")


def check_file(path, option: str) -> Path:
    """``path`` as a Path once it is known to be writable as a file: not a directory, in an
    existing directory, and openable for writing (tried without changing an existing file).
    ValueError naming ``option`` otherwise."""
    p = Path(os.path.expanduser(os.fspath(path)))
    if p.is_dir():
        raise _fail(option, path, "is a directory; give a file name")
    parent = p.parent
    if not parent.exists():
        raise _fail(option, path, f"directory {str(parent)!r} does not exist")
    if not parent.is_dir():
        raise _fail(option, path, f"{str(parent)!r} is not a directory")
    existed = p.exists()
    try:
        with open(p, "a", encoding="utf-8"):
            pass
    except OSError as e:
        raise _fail(option, path, f"cannot write there ({e.strerror or e})") from None
    if not existed:
        p.unlink()
    return p


def check_file_in_new_directory(path, option: str) -> Path:
    """Like ``check_file``, but missing parent directories are created first."""
    p = Path(os.path.expanduser(os.fspath(path)))
    if not p.is_dir():
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise _fail(option, path, f"cannot create its directory "
                                      f"({e.strerror or e})") from None
    return check_file(p, option)


def prepare_directory(path, option: str) -> Path:
    """Create directory ``path`` (and its parents) if needed and check a file can be written
    in it; ValueError naming ``option`` otherwise."""
    p = Path(os.path.expanduser(os.fspath(path)))
    if p.exists() and not p.is_dir():
        raise _fail(option, path, "exists and is not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=p):
            pass
    except OSError as e:
        raise _fail(option, path, f"cannot write there ({e.strerror or e})") from None
    return p


def jsonable(value):
    """``value`` as plain JSON data (see the module docstring)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:   # numpy/torch scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def rows_of(table) -> list:
    """The rows of a table-like result: a Summary's layers and total, an Estimate's detailed
    per-layer table, or any list of row dicts."""
    if hasattr(table, "table") and callable(table.table):     # hwmodel.Estimate
        return list(table.table(detail=True))
    if hasattr(table, "rows") and not isinstance(table, list):  # sparsekit Summary
        return list(table.rows)
    return list(table)


def document(command: str, meta: dict, tables: dict) -> dict:
    """The JSON document of the module docstring."""
    return {"command": command, "meta": jsonable(meta),
            "tables": {name: jsonable(rows_of(t)) for name, t in tables.items()}}


def _csv(table) -> str:
    if hasattr(table, "to_csv"):
        return table.to_csv()
    from hwmodel.table import to_csv
    return to_csv(rows_of(table))


def write(paths: dict, command: str, meta: dict, tables: dict, main: str) -> list:
    """Write the outputs asked for in ``paths`` ({"json"|"csv"|"markdown": path or None}):
    the JSON document, ``tables[main]`` as CSV, every table as Markdown. Returns the paths
    written."""
    written = []
    for kind, path in paths.items():
        if not path:
            continue
        if kind == "json":
            text = json.dumps(document(command, meta, tables), indent=2) + "\n"
        elif kind == "csv":
            text = _csv(tables[main])
        elif len(tables) == 1:
            text = table_markdown(next(iter(tables.values()))) + "\n"
        else:
            text = "\n".join(f"## {name}\n\n{table_markdown(t)}\n" for name, t in tables.items())
        try:
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        except OSError as e:              # e.g. the disk filled up during the run
            raise _fail(f"--{kind}", path, f"cannot write there ({e.strerror or e})") from None
        written.append(path)
    return written
