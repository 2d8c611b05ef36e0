"""The YAML / plain-data form of a format spec, read strictly.

    name: two-level-bitmap
    value_bits: 16            # optional (16)
    tile: {M: 4, K: 4}        # optional
    compute: skip             # optional: skip | gate | none
    description: ...          # optional
    ranks:                    # outermost first
      - {dim: M1, format: U}
      - {dim: K1, format: B, align: 8}
      - {dim: M0, format: UOP, bits: auto, widths: [16, 32]}
      - {dim: K0, format: CP, bits: 2}      # also fixed: N, length_bits; dim: [M, K] flattens

A missing or unknown key, or a bad value, raises FormatError naming the field, and, when read
from YAML, the file and line.
"""

import yaml

from ..yamlsource import read_document, shown
from .spec import FormatError, FormatSpec, Rank

TOP_FIELDS = ("name", "ranks", "value_bits", "tile", "compute", "description")
RANK_FIELDS = ("dim", "format", "bits", "widths", "align", "fixed", "length_bits")


def load(path_or_text) -> FormatSpec:
    """A FormatSpec from a YAML file path or YAML text; errors carry the file and line."""
    data, text, file = read_document(path_or_text, FormatError, "format description")
    try:
        return from_dict(data)
    except FormatError as exc:
        raise exc.located(text, file) from None


def from_dict(data) -> FormatSpec:
    """A FormatSpec from plain data (as YAML gives); strict about every field."""
    _fields(data, (), ("name", "ranks"), TOP_FIELDS)
    ranks = data["ranks"]
    if not isinstance(ranks, list) or not ranks:
        raise FormatError(("ranks",), "expected a non-empty list of ranks, outermost first")
    built = []
    for i, r in enumerate(ranks):
        parts = ("ranks", i)
        _fields(r, parts, ("dim", "format"), RANK_FIELDS)
        kwargs = {k: r[k] for k in RANK_FIELDS if k in r}
        if isinstance(kwargs.get("dim"), list):
            kwargs["dim"] = tuple(kwargs["dim"])
        for key in ("bits", "length_bits"):
            if isinstance(kwargs.get(key), str) and kwargs[key] != "auto":
                raise FormatError((*parts, key), f"expected 'auto' or a number of bits, got "
                                  f"{shown(kwargs[key])}")
        if "widths" in kwargs and not isinstance(kwargs["widths"], list):
            raise FormatError((*parts, "widths"), f"expected a list of widths such as "
                              f"[16, 32, 64], got {shown(kwargs['widths'])}")
        if "align" in kwargs and kwargs["align"] is None:
            raise FormatError((*parts, "align"), "expected a number of bits")
        built.append(Rank(**kwargs))
    tile = data.get("tile", {})
    if not isinstance(tile, dict):
        raise FormatError(("tile",), f"expected a mapping such as {{M: 4, K: 4}}, got "
                          f"{shown(tile)}")
    for key in tile:
        if key not in ("M", "K"):
            raise FormatError(("tile", key), "unknown dimension (only M and K can be tiled)")
    optional = {k: data[k] for k in ("value_bits", "compute", "description") if k in data}
    return FormatSpec(data["name"], tuple(built), tile=tile, **optional)


def to_dict(spec: FormatSpec) -> dict:
    """Plain data; ``from_dict(to_dict(spec)) == spec``."""
    out = {"name": spec.name, "value_bits": spec.value_bits}
    if spec.tile:
        out["tile"] = dict(spec.tile)
    out["compute"] = spec.compute
    if spec.description:
        out["description"] = spec.description
    ranks = []
    for r in spec.ranks:
        d = {"dim": r.dim if isinstance(r.dim, str) else list(r.dim), "format": r.format}
        if r.format in ("CP", "UOP", "RLE"):
            d["bits"] = "auto" if r.bits is None else r.bits
        if r.widths is not None:
            d["widths"] = list(r.widths)
        if r.align != 1:
            d["align"] = r.align
        if r.fixed is not None:
            d["fixed"] = r.fixed
        if r.length_bits is not None:
            d["length_bits"] = r.length_bits
        ranks.append(d)
    out["ranks"] = ranks
    return out


def dump(spec: FormatSpec, path=None) -> str:
    """YAML text of ``spec`` (written to ``path`` too when given)."""
    text = yaml.safe_dump(to_dict(spec), sort_keys=False, default_flow_style=None)
    if path is not None:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    return text


def _fields(data, parts, required, allowed):
    if not isinstance(data, dict):
        raise FormatError(parts, f"expected a mapping, got {type(data).__name__}")
    for key in data:
        if key not in allowed:
            raise FormatError((*parts, key), f"unknown field (expected one of "
                              f"{', '.join(allowed)})")
    for key in required:
        if key not in data:
            raise FormatError((*parts, key), "missing field")
