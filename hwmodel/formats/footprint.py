"""Exact footprint of a format on a real sparsity mask, from counts alone.

Per rank i, over the rank-ordered view of the mask (``Layout.view``):

- fibres F_i: F_0 = 1 (the root); F_{i+1} = entries E_i (every entry has one child fibre);
- occupancy C_i: coordinates whose subtree holds a nonzero (an any() reduction of the mask);
- entries E_i: U, UOP: F_i·n_i;  B, CP: C_i;  CP fixed N: F_i·N;  RLE: C_i + padding;
- padding entries: RLE's fillers (sum over nonzeros of gap // 2**bits, gap = zeros before it in
  its fibre) and the zero-valued fill of fixed CP fibres (F_i·N − C_i). Zeros that U ranks store
  (in blocks, vectors, edge tiles) are not padding entries: they are ``stored_values − nnz``;
- metadata bits per fibre: U 0;  B n_i;  CP length + entries·coordinate bits;  UOP (n_i + 1)·
  offset bits;  RLE length + entries·run bits; each rounded up to ``align``;
- payload: the leaf's entries, ``value_bits`` each.

``total_bytes`` is ceil(total bits / 8): metadata and values packed as one bit stream. Nothing is
packed to compute it: reductions and counts over the mask, O(size of the mask).
"""

from dataclasses import asdict, dataclass

import numpy as np

from .layout import Layout
from .spec import FormatError, FormatSpec, is_int


@dataclass(frozen=True)
class RankFootprint:
    """One rank's share: counts, the widths used, metadata and payload bits."""

    dim: str
    format: str
    extent: int
    fibres: int | float
    occupancy: int | float
    entries: int | float
    padding_entries: int | float
    bits: int               # coordinate (CP), offset (UOP) or run (RLE) width; 1 for B; 0 for U
    length_bits: int        # width of stored fibre lengths (0: none stored)
    metadata_bits: int | float
    payload_bits: int | float


@dataclass(frozen=True)
class Footprint:
    """What a format stores for one matrix. Exact ints from ``footprint``; expectations (floats)
    from ``expected_footprint``."""

    format: str
    shape: tuple
    value_bits: int
    nnz: int | float
    stored_values: int | float
    padding_entries: int | float
    metadata_bits: int | float
    payload_bits: int | float
    per_rank: tuple

    @property
    def total_bits(self):
        return self.metadata_bits + self.payload_bits

    @property
    def total_bytes(self):
        """ceil(total_bits / 8) (a float in the statistical mode: total_bits / 8)."""
        t = self.total_bits
        return -(-t // 8) if isinstance(t, int) else t / 8

    @property
    def metadata_bytes(self) -> float:
        """metadata_bits / 8 (not rounded: a part of the one stream)."""
        return self.metadata_bits / 8

    @property
    def payload_bytes(self) -> float:
        """payload_bits / 8 (not rounded: a part of the one stream)."""
        return self.payload_bits / 8

    @property
    def bits_per_nonzero(self) -> float:
        return self.total_bits / self.nnz if self.nnz else float("inf")

    @property
    def dense_bits(self) -> int:
        return self.shape[0] * self.shape[1] * self.value_bits

    @property
    def compression(self) -> float:
        """Dense bits (M·K values at value_bits) over this format's bits."""
        if self.total_bits == 0:
            return 1.0
        return self.dense_bits / self.total_bits

    def to_dict(self) -> dict:
        out = asdict(self)
        out["per_rank"] = [asdict(r) for r in self.per_rank]
        out.update(total_bits=self.total_bits, total_bytes=self.total_bytes,
                   bits_per_nonzero=self.bits_per_nonzero, compression=self.compression)
        return out

    def __str__(self) -> str:
        lines = [f"{self.format} on {self.shape[0]}×{self.shape[1]}: {self.total_bytes:,} B "
                 f"({self.bits_per_nonzero:.2f} bits/nonzero, {self.compression:.2f}× vs dense)"]
        for r in self.per_rank:
            lines.append(f"  {r.dim:>6} {r.format:<3} metadata {r.metadata_bits:,} b, "
                         f"payload {r.payload_bits:,} b")
        return "\n".join(lines)


def roundup(bits, align):
    """``bits`` (int or int array) rounded up to a multiple of ``align``."""
    return -(-bits // align) * align


def as_mask(mask) -> np.ndarray:
    """A 2-D boolean array (anything not zero is True, NaN included)."""
    a = np.asarray(mask)
    if a.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {a.shape}")
    return a if a.dtype == bool else a != 0


def resolve_value_bits(spec: FormatSpec, value_bits) -> int:
    if value_bits is None:
        return spec.value_bits
    if not is_int(value_bits) or value_bits < 1:
        raise ValueError(f"value_bits must be a positive integer, got {value_bits!r}")
    return int(value_bits)


def occupancy(tensor: np.ndarray) -> list:
    """occ[i]: shape (n_0, ..., n_i), True where the subtree below that coordinate is non-empty."""
    occ = [tensor]
    for _ in range(tensor.ndim - 1):
        occ.append(_reduce_last(occ[-1], np.logical_or, bool))
    return occ[::-1]


def count_last(a: np.ndarray) -> np.ndarray:
    """Nonzeros along the last axis of a boolean array, as int64."""
    return _reduce_last(a, np.add, np.int64)


def _reduce_last(a, op, dtype):
    """``op``-reduce the last axis. A short axis (a tile, a vector) is folded slice by slice:
    numpy's own reduction over a short innermost axis is ~10x slower."""
    n = a.shape[-1]
    if n > 64 or n == 0:
        return np.any(a, axis=-1) if op is np.logical_or else a.sum(axis=-1, dtype=dtype)
    out = a[..., 0].astype(dtype)
    for j in range(1, n):
        op(out, a[..., j], out=out)
    return out


def rle_padding(occ_i: np.ndarray, extent: int, run_bits: int):
    """(padding entries per fibre, their total) of RLE runs along the last axis of ``occ_i``:
    a nonzero after a gap of g zeros in its fibre needs g // 2**run_bits fillers first."""
    rows = occ_i.size // extent if extent else 0
    idx = np.flatnonzero(occ_i)
    if idx.size == 0 or run_bits >= 63:
        return np.zeros(rows, np.int64), 0
    fibre, coord = np.divmod(idx, extent)
    gap = coord.copy()
    same = fibre[1:] == fibre[:-1]
    gap[1:][same] = coord[1:][same] - coord[:-1][same] - 1
    pad = gap >> run_bits
    per_fibre = np.bincount(fibre, weights=pad, minlength=rows).astype(np.int64)
    return per_fibre, int(pad.sum())


def rank_footprints(spec, layout, value_bits, fibres, occupied, entries, padding,
                    aligned_metadata, number) -> tuple:
    """What each representation costs, in one place for the exact and the expected mode: the
    ``RankFootprint`` of every rank from its counts (``fibres``, ``occupied``, ``entries``,
    ``padding``: per rank, exact ints or expectations). ``aligned_metadata(i)`` gives the
    metadata bits of an aligned CP/RLE rank whose fibres vary in length (an exact sum over
    them, or an expectation); ``number`` is ``int`` or ``float``. UOP widths need the next
    rank's entry count, so this runs after every rank is counted."""
    n_ranks = len(layout.ranks)
    per_rank = []
    for i, r in enumerate(layout.ranks):
        n, f, a = r.extent, fibres[i], r.align
        bits, meta = 0, 0
        if r.format == "B":
            bits, meta = 1, f * roundup(n, a)
        elif r.format == "UOP":
            bits = layout.offset_bits(i, round(entries[i + 1] if i + 1 < n_ranks
                                               else entries[i]))
            meta = f * roundup((n + 1) * bits, a)
        elif r.format in ("CP", "RLE"):
            bits = r.coord_bits
            if r.fixed is not None:
                meta = f * roundup(r.fixed * bits, a)
            elif a == 1:
                meta = f * r.length_bits + entries[i] * bits
            else:
                meta = aligned_metadata(i)
        payload = entries[i] * value_bits if i == n_ranks - 1 else 0
        per_rank.append(RankFootprint(
            dim="·".join(spec.ranks[i].dims), format=r.format, extent=n, fibres=f,
            occupancy=occupied[i], entries=entries[i], padding_entries=padding[i], bits=bits,
            length_bits=r.length_bits, metadata_bits=number(meta), payload_bits=number(payload)))
    return tuple(per_rank)


def footprint(spec: FormatSpec, mask, value_bits=None) -> Footprint:
    """The exact footprint of ``spec`` on ``mask`` (any 2-D array: True/nonzero = stored)."""
    vb = resolve_value_bits(spec, value_bits)
    mask = as_mask(mask)
    layout = Layout(spec, mask.shape)
    occ = occupancy(layout.view(mask))

    # pass 1: fibres, occupancy, entries and padding of every rank
    fibres, occupied, entries, padding, per_fibre = [1], [], [], [], []
    for i, r in enumerate(layout.ranks):
        n, f = r.extent, fibres[-1]
        o = occ[i]
        c = int(np.count_nonzero(o))
        counts = None                               # per fibre, only where a rank needs them
        if r.fixed is not None or (r.format in ("CP", "RLE") and r.align > 1):
            counts = count_last(o).ravel() if n else np.zeros(0, np.int64)
        pad_rows, p = None, 0
        if r.format in ("U", "UOP"):
            e = f * n
        elif r.format == "B":
            e = c
        elif r.format == "CP" and r.fixed is not None:
            if counts.size and counts.max() > r.fixed:
                worst = int(counts.max())
                raise FormatError(("ranks", i, "fixed"), f"the mask has a fibre of "
                                  f"{'·'.join(spec.ranks[i].dims)} with {worst} nonzeros; "
                                  f"the format holds {r.fixed}")
            e = f * r.fixed
            p = e - c
        elif r.format == "CP":
            e = c
        else:                                       # RLE
            pad_rows, p = rle_padding(o, n, r.coord_bits)
            e = c + p
        occupied.append(c)
        entries.append(e)
        padding.append(p)
        per_fibre.append((counts, pad_rows))
        fibres.append(e)

    def aligned(i):                                 # the exact sum over the rank's fibres
        r = layout.ranks[i]
        counts, pad_rows = per_fibre[i]
        if pad_rows is not None:
            counts = counts + pad_rows
        counts = counts[counts > 0]
        return int(roundup(r.length_bits + counts * r.coord_bits, r.align).sum()) + \
            (fibres[i] - counts.size) * roundup(r.length_bits, r.align)

    per_rank = rank_footprints(spec, layout, vb, fibres, occupied, entries, padding, aligned,
                               int)
    nnz = int(np.count_nonzero(mask))
    return Footprint(format=spec.name, shape=layout.shape, value_bits=vb, nnz=nnz,
                     stored_values=entries[-1], padding_entries=sum(padding),
                     metadata_bits=sum(p.metadata_bits for p in per_rank),
                     payload_bits=per_rank[-1].payload_bits, per_rank=per_rank)
