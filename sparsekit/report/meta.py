"""What a run's outputs record about how they were made: versions and the machine.

Every JSON output of the command line carries this (see ``sparsekit.cli``), so a figure can be
traced back to the code and the machine that produced it.
"""
from __future__ import annotations

import datetime
import os
import platform
from importlib import metadata

PACKAGES = ("sparsekit", "torch", "numpy", "numba", "scipy")


def versions() -> dict:
    """{package: installed version} of sparsekit and the libraries its figures depend on
    (None for a package that is not installed)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def machine() -> dict:
    """The CPU model, its logical core count, the Python version and the platform."""
    from sparsekit.hw._calibrate import cpu_model
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


COMMON = ("hardware", "batch", "format", "sparsity")   # in every meta, None if unused


def run_meta(**fields) -> dict:
    """The ``meta`` object of an output: ``COMMON`` keys (None where the command does not use
    them), the given fields (model, threads... whatever the command used), then the date,
    ``versions()`` and ``machine()``."""
    return {**dict.fromkeys(COMMON), **fields,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "versions": versions(), "machine": machine()}


def version_line() -> str:
    """One line for ``sparsekit --version``."""
    v = versions()
    libs = ", ".join(f"{k} {v[k]}" for k in PACKAGES[1:] if v[k])
    return f"sparsekit {v['sparsekit']} ({libs}; python {platform.python_version()})"
