"""A compressed format described per rank (Sparseloop / fibertree style), as validated dataclasses.

A format views the weight W (M × K), optionally tiled (``tile={"M": 4}`` splits M into M1 outer ×
M0 inner; edge tiles are padded with zeros), and lists its ranks from outermost to innermost.
Each rank walks one dimension (or several, flattened: ``dim=("M", "K")`` walks M·K coordinates
in row-major order) and has a representation:

U    uncompressed: every coordinate is kept; no metadata.
B    bitmask: one bit per coordinate of the fibre.
CP   coordinate/payload: one coordinate per non-empty child (per nonzero at the leaf); a
     flattened rank stores one coordinate field per dimension it walks.
UOP  uncompressed offset pairs: fibre length + 1 offsets per fibre, each the running count of
     the next rank's entries (the CSR row pointer).
RLE  run lengths: one run (zeros skipped before it) per nonzero, ``bits`` wide. A gap of g zeros
     needs g // 2**bits padding entries first: each holds the largest run and a stored zero (EIE's
     filler zero), so it advances 2**bits coordinates.

Below a U or UOP rank every coordinate has a child fibre (maybe empty); below B, CP or RLE only
the non-empty ones (and padding entries, whose child is an empty fibre) do: so U and UOP keep
empty fibres, B, CP and RLE skip them (``Rank.keeps_empty``).

How many entries a CP or RLE fibre holds must be known to read it: a UOP parent's offsets say;
otherwise (the root fibre included) the fibre stores its length first, ``length_bits`` wide,
unless the rank is ``fixed: N`` (every fibre holds exactly N entries, padded with zero-valued
entries at unused coordinates: N:M sparsity).

Widths: ``bits`` is an int or "auto" (the smallest width that holds the largest value, chosen
from ``widths`` when given: e.g. (16, 32, 64) for pointers as sparsekit packs them). ``align``
pads each fibre's metadata to a multiple of that many bits (VectorSkip's 64-bit bitmap words).
"""

import numbers
from dataclasses import dataclass

from ..yamlsource import SourceError, shown

REPRESENTATIONS = ("U", "B", "CP", "UOP", "RLE")
COMPUTE = ("skip", "gate", "none")
MAX_BITS = 64


class FormatError(SourceError):
    """A bad format description (a ValueError): ``field`` is its path (``ranks[1].bits``),
    ``file``/``line`` where known."""


def is_int(value) -> bool:
    """An integer that is not a bool (4.0 or True is no width)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class Rank:
    """One rank: the dimension(s) it walks, its representation and its metadata widths."""

    dim: str | tuple
    format: str
    bits: int | str | None = None          # CP coordinates, UOP offsets, RLE runs; None = "auto"
    widths: tuple | None = None            # allowed widths for "auto" (None: any width)
    align: int = 1                         # pad each fibre's metadata to this many bits
    fixed: int | None = None               # CP only: every fibre holds exactly this many entries
    length_bits: int | str | None = None   # CP/RLE fibre lengths when stored; None = "auto"

    def __post_init__(self):
        dims = (self.dim,) if isinstance(self.dim, str) else self.dim
        if isinstance(dims, list):
            dims = tuple(dims)
        object.__setattr__(self, "dim", self.dim if isinstance(self.dim, str) else dims)
        if isinstance(self.widths, list):
            object.__setattr__(self, "widths", tuple(self.widths))
        if self.bits == "auto":
            object.__setattr__(self, "bits", None)
        if self.length_bits == "auto":
            object.__setattr__(self, "length_bits", None)

    @property
    def dims(self) -> tuple:
        """The dimensions walked, outer first (one unless flattened)."""
        return (self.dim,) if isinstance(self.dim, str) else self.dim

    @property
    def keeps_empty(self) -> bool:
        """True when every coordinate has a child fibre, empty or not (U, UOP)."""
        return self.format in ("U", "UOP")

    def check(self, parts=()):
        """Validate the fields that do not depend on the shape; FormatError names the field."""
        if not isinstance(self.dim, (str, tuple)) or not self.dims or not all(
                isinstance(d, str) for d in self.dims):
            raise FormatError((*parts, "dim"), f"expected a dimension name or a list of them, "
                              f"got {shown(self.dim)}")
        if len(set(self.dims)) != len(self.dims):
            raise FormatError((*parts, "dim"), f"repeats a dimension: {list(self.dims)}")
        if self.format not in REPRESENTATIONS:
            raise FormatError((*parts, "format"), f"unknown representation {shown(self.format)} "
                              f"(expected one of {', '.join(REPRESENTATIONS)})")
        has_meta = self.format in ("CP", "UOP", "RLE")
        if self.bits is not None:
            if not has_meta:
                raise FormatError((*parts, "bits"), f"{self.format} has no width to set "
                                  "(U keeps no metadata, B uses one bit per coordinate)")
            _check_width(self.bits, (*parts, "bits"))
        if self.widths is not None:
            if not has_meta or self.bits is not None:
                raise FormatError((*parts, "widths"), "widths lists the choices of bits: auto "
                                  "and only for CP, UOP or RLE")
            if not isinstance(self.widths, tuple) or not self.widths:
                raise FormatError((*parts, "widths"), f"expected a non-empty list of widths, "
                                  f"got {shown(self.widths)}")
            for w in self.widths:
                _check_width(w, (*parts, "widths"))
            if list(self.widths) != sorted(set(self.widths)):
                raise FormatError((*parts, "widths"), f"must be increasing, got "
                                  f"{list(self.widths)}")
        if not is_int(self.align) or self.align < 1:
            raise FormatError((*parts, "align"), f"must be a positive number of bits, got "
                              f"{shown(self.align)}")
        if self.align > 1 and self.format == "U":
            raise FormatError((*parts, "align"), "U keeps no metadata to align")
        if self.fixed is not None:
            if self.format != "CP":
                raise FormatError((*parts, "fixed"), "only a CP rank can hold a fixed number "
                                  "of entries per fibre")
            if not is_int(self.fixed) or self.fixed < 1:
                raise FormatError((*parts, "fixed"), f"must be a positive integer, got "
                                  f"{shown(self.fixed)}")
        if self.length_bits is not None:
            if self.format not in ("CP", "RLE") or self.fixed is not None:
                raise FormatError((*parts, "length_bits"), "only CP or RLE fibres without "
                                  "`fixed` store lengths")
            _check_width(self.length_bits, (*parts, "length_bits"))


def _check_width(bits, parts):
    if not is_int(bits) or not 1 <= bits <= MAX_BITS:
        raise FormatError(parts, f"must be 'auto' or an integer number of bits in "
                          f"1..{MAX_BITS}, got {shown(bits)}")


def _tile_pairs(tile) -> tuple:
    """``{"M": 4}`` or ``(("M", 4),)`` (or None) as sorted (dimension, size) pairs."""
    if tile is None:
        return ()
    try:
        pairs = tile.items() if isinstance(tile, dict) else tile
        pairs = tuple((d, s) for d, s in pairs)
    except (TypeError, ValueError):
        raise FormatError(("tile",), f"expected a mapping such as {{M: 4, K: 4}}, got "
                          f"{shown(tile)}") from None
    return tuple(sorted(pairs, key=lambda pair: str(pair[0])))


@dataclass(frozen=True)
class FormatSpec:
    """A format: ranks outermost first over W (M × K), optionally tiled.

    ``tile`` maps "M" and/or "K" to the inner tile size (a dict, stored as sorted pairs).
    ``compute`` says what the compute level does with zero work: skip it (saves time and
    energy), gate it (saves energy only), or neither (none)."""

    name: str
    ranks: tuple
    value_bits: int = 16
    tile: tuple = ()
    compute: str = "skip"
    description: str = ""

    def __post_init__(self):
        object.__setattr__(self, "tile", _tile_pairs(self.tile))
        ranks = self.ranks
        if isinstance(ranks, list):
            ranks = tuple(ranks)
        object.__setattr__(self, "ranks", ranks)
        self._check()

    def _check(self):
        if not isinstance(self.name, str) or not self.name:
            raise FormatError(("name",), f"expected a non-empty string, got {shown(self.name)}")
        if not is_int(self.value_bits) or not 1 <= self.value_bits <= 1024:
            raise FormatError(("value_bits",), f"must be a positive integer number of bits, "
                              f"got {shown(self.value_bits)}")
        if self.compute not in COMPUTE:
            raise FormatError(("compute",), f"expected one of {', '.join(COMPUTE)}, got "
                              f"{shown(self.compute)}")
        if not isinstance(self.description, str):
            raise FormatError(("description",), "expected a string")
        for item in self.tile:
            if item[0] not in ("M", "K"):
                raise FormatError(("tile",), f"only M and K can be tiled, got {shown(item[0])}")
            if not is_int(item[1]) or item[1] < 1:
                raise FormatError(("tile", item[0]), f"must be a positive integer, got "
                                  f"{shown(item[1])}")
        if len({d for d, _ in self.tile}) != len(self.tile):
            raise FormatError(("tile",), "names a dimension twice")
        if not isinstance(self.ranks, tuple) or not self.ranks:
            raise FormatError(("ranks",), "expected a non-empty list of ranks, outermost first")
        for i, rank in enumerate(self.ranks):
            if not isinstance(rank, Rank):
                raise FormatError(("ranks", i), f"expected a Rank, got {type(rank).__name__}")
            rank.check(("ranks", i))
        valid = self.dims
        seen = []
        for i, rank in enumerate(self.ranks):
            for d in rank.dims:
                if d not in valid:
                    raise FormatError(("ranks", i, "dim"), f"no dimension {shown(d)} in this view "
                                      f"(expected one of {', '.join(valid)})")
                if d in seen:
                    raise FormatError(("ranks", i, "dim"), f"{d} is walked by two ranks")
                seen.append(d)
        missing = [d for d in valid if d not in seen]
        if missing:
            raise FormatError(("ranks",), f"no rank walks {', '.join(missing)}: the ranks "
                              f"must cover {', '.join(valid)} exactly once")

    @property
    def dims(self) -> tuple:
        """The dimensions of the view: M or M1, M0 (tiled), then K or K1, K0."""
        tile = dict(self.tile)
        out = []
        for d in ("M", "K"):
            out += [f"{d}1", f"{d}0"] if d in tile else [d]
        return tuple(out)

    def tile_size(self, dim: str) -> int | None:
        """The inner tile size of "M" or "K", or None when untiled."""
        return dict(self.tile).get(dim)

    def __str__(self):
        ranks = "-".join(f"{'·'.join(r.dims)}:{r.format}" for r in self.ranks)
        tile = "".join(f" {d}0={s}" for d, s in self.tile)
        return f"{self.name} [{ranks}]{tile} {self.value_bits}-bit values"
