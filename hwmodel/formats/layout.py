"""A format spec laid over one matrix shape: the extent of every rank, the widths its metadata
takes there, and the rank-ordered view of a matrix (tiled, padded, transposed, flattened).

Footprint, codec and statistical mode all start here, so they agree on what a rank walks.
Edge tiles are padded with zeros up to whole tiles: a U rank stores those zeros, a B rank
spends their bits, and a CP, RLE or UOP rank counts their coordinates in its extent.
"""

from dataclasses import dataclass

import numpy as np

from ..yamlsource import shown
from .spec import FormatError, FormatSpec, is_int


def width_for(value: int, bits, widths, parts, what: str) -> int:
    """The width that holds the unsigned ``value``: ``bits`` when given (checked), else the
    smallest of ``widths`` (or the smallest width at all) that holds it."""
    value = int(value)
    needed = max(1, value.bit_length())
    if bits is not None:
        if bits < needed:
            raise FormatError(parts, f"{bits} bits cannot hold {what} {value}; at least "
                              f"{needed} are needed")
        return int(bits)
    if widths is None:
        return needed
    for w in widths:
        if w >= needed:
            return int(w)
    raise FormatError((*parts[:-1], "widths"), f"none of the widths {list(widths)} holds "
                      f"{what} {value}")


def check_shape(shape) -> tuple[int, int]:
    try:
        m, k = shape
        ok = is_int(m) and is_int(k) and m >= 0 and k >= 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"shape must be two non-negative integers (M, K), got {shown(shape)}")
    return int(m), int(k)


@dataclass(frozen=True)
class RankLayout:
    """What rank ``index`` of a spec walks on one shape, and its shape-determined widths."""

    index: int
    format: str
    extent: int            # coordinates per fibre (product over a flattened rank's dims)
    dim_extents: tuple     # extent of each dimension walked (one coordinate field each for CP)
    field_bits: tuple      # CP: bits of each coordinate field (one per dimension); RLE: (run,)
    length_bits: int       # bits of a stored fibre length, 0 when the length is known
    fixed: int | None      # entries per fibre of a fixed CP rank (0 when the extent is 0)
    align: int

    @property
    def coord_bits(self) -> int:
        """Bits of one CP entry (all its fields) or one RLE run; 0 for U, B, UOP."""
        return sum(self.field_bits)

    @property
    def run_limit(self) -> int:
        """RLE: a padding entry advances this many coordinates (2**bits)."""
        return 1 << self.coord_bits


class Layout:
    """``Layout(spec, shape)``: per-rank extents and widths, and the rank-ordered view."""

    def __init__(self, spec: FormatSpec, shape):
        if not isinstance(spec, FormatSpec):
            raise TypeError(f"expected a FormatSpec, got {type(spec).__name__}")
        self.spec = spec
        self.shape = check_shape(shape)
        m, k = self.shape
        extents = {}
        for name, size in (("M", m), ("K", k)):
            tile = spec.tile_size(name)
            if tile is None:
                extents[name] = size
            else:
                extents[f"{name}1"], extents[f"{name}0"] = -(-size // tile), tile
        self.dim_extent = extents
        self.canonical = spec.dims                  # M or M1, M0, then K or K1, K0
        self.order = tuple(d for r in spec.ranks for d in r.dims)
        self.padded = tuple(int(np.prod([extents[d] for d in self.canonical if d[0] == side],
                                        dtype=object)) for side in "MK")
        self.ranks = tuple(self._rank(i, r) for i, r in enumerate(spec.ranks))
        self.extents = tuple(r.extent for r in self.ranks)

    def _rank(self, i, rank) -> RankLayout:
        parts = ("ranks", i)
        dim_extents = tuple(self.dim_extent[d] for d in rank.dims)
        extent = int(np.prod(dim_extents, dtype=object))
        field_bits, length_bits = (), 0
        if rank.format == "CP":
            field_bits = tuple(width_for(max(e - 1, 0), rank.bits, rank.widths, (*parts, "bits"),
                                       f"coordinate of {d} (extent {e}):")
                             for d, e in zip(rank.dims, dim_extents))
            if rank.fixed is not None and rank.fixed > extent and extent > 0:
                raise FormatError((*parts, "fixed"), f"{rank.fixed} entries do not fit in a "
                                  f"fibre of {extent} coordinates")
        elif rank.format == "RLE":
            field_bits = (rank.bits if rank.bits is not None else width_for(
                max(extent - 1, 0), None, rank.widths, (*parts, "bits"), "run"),)
        parent = self.spec.ranks[i - 1].format if i else None
        if rank.format in ("CP", "RLE") and rank.fixed is None and parent != "UOP":
            length_bits = width_for(extent, rank.length_bits, rank.widths,
                                    (*parts, "length_bits"), "fibre length")
        fixed = rank.fixed if rank.fixed is None else min(rank.fixed, extent)  # 0 if empty
        return RankLayout(i, rank.format, extent, dim_extents, field_bits, length_bits,
                          fixed, rank.align)

    def offset_bits(self, i: int, max_offset: int) -> int:
        """Width of rank i's UOP offsets when the largest offset is ``max_offset``."""
        rank = self.spec.ranks[i]
        return width_for(max_offset, rank.bits, rank.widths, ("ranks", i, "bits"),
                         "offset")

    # -- the rank-ordered view ----------------------------------------------------------
    def view(self, matrix: np.ndarray) -> np.ndarray:
        """``matrix`` (M × K) padded to whole tiles and laid out with one axis per rank,
        outermost first (a copy only where padding or reordering needs one)."""
        m, k = self.shape
        pm, pk = self.padded
        if (pm, pk) != (m, k):
            padded = np.zeros((pm, pk), matrix.dtype)
            padded[:m, :k] = matrix
            matrix = padded
        t = matrix.reshape([self.dim_extent[d] for d in self.canonical])
        t = t.transpose([self.canonical.index(d) for d in self.order])
        return t.reshape(self.extents)

    def unview(self, tensor: np.ndarray) -> np.ndarray:
        """The inverse of ``view``: the M × K matrix, padding cropped."""
        t = tensor.reshape([self.dim_extent[d] for d in self.order])
        t = t.transpose([self.order.index(d) for d in self.canonical])
        m, k = self.shape
        return np.ascontiguousarray(t.reshape(self.padded)[:m, :k])
