"""Any way of naming a weight format, as a ``hwmodel.formats.FormatSpec``; and what a spec
stores per output row of a real weight (for load imbalance on a PE array).

A format may be named by:
- a ``FormatSpec`` (its own value width);
- "dense" or a registered executable format ("csr", "bsr", "vectorskip": the spec its class
  declares, with the shared ``block`` / ``vector`` options and ``index_bits``);
- a built-in spec of ``hwmodel.formats`` ("bitmap", "coo", "nm", "two-level-bitmap", ...);
- a YAML file (``*.yaml`` / ``*.yml``, or any existing path; its own value width);
- a short string ("UOP-CP", "U-B", "UOP32-CP16").
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np
from hwmodel import formats as hf
from hwmodel.formats.footprint import occupancy
from hwmodel.formats.layout import Layout

from sparsekit.formats import registry

COMPUTE_ORDER = ("none", "gate", "skip")


@dataclass(frozen=True)
class Named:
    """A resolved format: its label, its spec, and whether the spec states its own value
    width (a FormatSpec or a YAML file) or takes the hardware's."""

    label: str
    spec: hf.FormatSpec
    own_width: bool


def resolve(format, block=(4, 4), vector=8, index_bits=None) -> Named:
    """``format`` (see the module docstring) as a ``Named`` spec; ValueError/TypeError name
    the value and the accepted forms."""
    if isinstance(format, hf.FormatSpec):
        return Named(format.name, format, True)
    if isinstance(format, os.PathLike):
        format = os.fspath(format)
    if not isinstance(format, str) or not format.strip():
        raise TypeError(f"format must be a FormatSpec, a format name, a YAML path or a short "
                        f"string such as 'UOP-CP', got {format!r}")
    if format == "dense":
        return Named("dense", hf.builtin("dense"), False)
    if format in registry.FORMATS:
        return Named(format, registry.spec(format, 32, index_bits, block, vector), False)
    if format in hf.BUILTINS:
        return Named(format, hf.builtin(format), False)
    if format.lower().endswith((".yaml", ".yml")) or os.path.isfile(format):
        if not os.path.isfile(format):
            raise ValueError(f"format file {format!r} does not exist")
        spec = hf.load(format)
        return Named(spec.name, spec, True)
    try:
        return Named(format, hf.parse(format), False)
    except hf.FormatError as exc:
        raise ValueError(f"format {format!r} is not a registered format "
                         f"({', '.join(('dense',) + registry.names())}), a built-in spec "
                         f"({', '.join(hf.BUILTINS)}), a YAML file, or a short string of "
                         f"ranks such as 'UOP-CP' ({exc})") from None


def with_value_bits(named: Named, value_bits: int) -> hf.FormatSpec:
    """The spec at ``value_bits`` (the payload width the estimate uses)."""
    spec = named.spec
    return spec if spec.value_bits == value_bits else replace(spec, value_bits=value_bits)


def compute_mode(spec: hf.FormatSpec, hardware_support: str) -> str:
    """What the datapath does with zero work: the format asks (skip, gate or none), the
    hardware allows at most its ``sparsity.support`` (a gating datapath cannot skip)."""
    return min(spec.compute, hardware_support, key=COMPUTE_ORDER.index)


def stored_per_row(spec: hf.FormatSpec, mask: np.ndarray) -> np.ndarray:
    """Values the format stores in each row of the M×K ``mask`` inside the shape (int64, M):
    a coordinate is stored when every compressed rank (B, CP, RLE) above it keeps its fibre,
    so U/UOP ranks below a kept fibre store zeros (blocks, vectors). Padding entries (RLE
    fillers, N:M zero fill) sit at no coordinate and are not counted."""
    m, k = mask.shape
    layout = Layout(spec, mask.shape)
    if all(r.format in ("U", "UOP") for r in spec.ranks) or m * k == 0:
        return np.full(m, k, np.int64)
    occ = occupancy(layout.view(mask))
    n = len(spec.ranks)
    stored = None
    for i, rank in enumerate(spec.ranks):
        if rank.format in ("U", "UOP"):
            continue
        keep = occ[i].reshape(occ[i].shape + (1,) * (n - 1 - i))
        stored = keep if stored is None else stored & keep
    stored = np.broadcast_to(stored, layout.extents)
    return layout.unview(stored).sum(axis=1, dtype=np.int64)
