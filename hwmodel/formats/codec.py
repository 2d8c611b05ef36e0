"""Reference encoder and decoder: the arrays a hardware unit would read, and W back from them.

Slow on purpose (a Python walk over fibres): it is the executable definition of what a spec
stores, against which ``footprint`` is checked. Each rank's metadata is one bit stream, fibre
after fibre (little-endian fields, each fibre padded to ``align``):

- U: nothing;  B: one bit per coordinate;  UOP: n + 1 running offsets into the next rank's
  entries (into the values at the leaf);
- CP: [length] then one entry per child, one field per dimension walked;
- RLE: [length] then one run per entry (zeros skipped before it);

``[length]`` is there when the parent is not UOP and the rank is not ``fixed``. The values are
the leaf's entries in storage order, in W's dtype (``value_bits`` is a pricing width). The
decoder reads only the streams and the values.
"""

from dataclasses import dataclass

import numpy as np

from .footprint import occupancy, roundup
from .layout import Layout
from .spec import FormatError, FormatSpec


@dataclass(frozen=True)
class RankArrays:
    """One rank's metadata: readable ``fields`` (name -> 1-D int array: lengths, bitmask,
    coords or coords.<dim> for a flattened rank, runs, offsets) at ``widths`` (name -> bits
    per element), and the packed ``stream`` of ``nbits`` bits (fields interleaved fibre by
    fibre, alignment included) that the decoder reads."""

    format: str
    fields: dict
    widths: dict
    stream: np.ndarray
    nbits: int


@dataclass(frozen=True)
class Encoded:
    """``encode``'s result: per-rank metadata and the stored values."""

    ranks: tuple
    values: np.ndarray

    @property
    def metadata_bits(self) -> int:
        return sum(r.nbits for r in self.ranks)


def _entries(spec, layout, i, row):
    """Coordinates of the entries of one fibre of rank i, given its occupancy ``row``."""
    r = layout.ranks[i]
    nz = np.flatnonzero(row)
    if r.format in ("U", "UOP"):
        return list(range(r.extent))
    if r.format == "B" or (r.format == "CP" and r.fixed is None):
        return nz.tolist()
    if r.format == "CP":                                # fixed: fill with unused coordinates
        if nz.size > r.fixed:
            raise FormatError(("ranks", i, "fixed"), f"W has a fibre of "
                              f"{'·'.join(spec.ranks[i].dims)} with {nz.size} nonzeros; the "
                              f"format holds {r.fixed}")
        fill = np.flatnonzero(~row)[:r.fixed - nz.size]
        return sorted(nz.tolist() + fill.tolist())
    out, pos, limit = [], -1, r.run_limit               # RLE: fillers every 2**bits zeros
    for c in nz.tolist():
        while c - pos - 1 >= limit:
            pos += limit
            out.append(pos)
        out.append(c)
        pos = c
    return out


def encode(spec: FormatSpec, W) -> Encoded:
    """The per-rank metadata streams and the values of ``W`` (2-D) in format ``spec``."""
    W = np.asarray(W)
    if W.ndim != 2:
        raise ValueError(f"W must be 2-D, got shape {W.shape}")
    layout = Layout(spec, W.shape)
    values_view = layout.view(W)
    occ = occupancy(layout.view(W != 0))
    fibres, entries = [[()]], []
    for i in range(len(spec.ranks)):
        per = [_entries(spec, layout, i, occ[i][prefix]) for prefix in fibres[i]]
        entries.append(per)
        fibres.append([p + (c,) for p, es in zip(fibres[i], per) for c in es])
    ranks = tuple(_emit(layout, i, fibres[i], entries, occ[i]) for i in range(len(spec.ranks)))
    values = np.array([values_view[p] for p in fibres[-1]], dtype=W.dtype)
    return Encoded(ranks, values)


def _emit(layout, i, fibres, entries, occ_i):
    """Rank i's metadata: its readable fields and their one stream, fibre by fibre."""
    r = layout.ranks[i]
    dims = layout.spec.ranks[i].dims
    coord_names = ["coords"] if len(dims) == 1 else [f"coords.{d}" for d in dims]
    widths = {"lengths": r.length_bits} if r.length_bits else {}
    if r.format == "B":
        widths["bitmask"] = 1
    elif r.format == "CP":
        widths.update(zip(coord_names, r.field_bits))
    elif r.format == "RLE":
        widths["runs"] = r.coord_bits
    elif r.format == "UOP":                     # offsets count the next rank's entries
        child_counts = [len(es) for es in entries[i + 1]] if i + 1 < len(entries) \
            else [1] * sum(len(es) for es in entries[i])          # at the leaf: values
        widths["offsets"] = layout.offset_bits(i, sum(child_counts))
        child, offset = 0, 0
    fields = {name: [] for name in widths}
    out = _Writer()

    def put(name, value):
        out.write(value, widths[name])
        fields[name].append(value)

    for prefix, es in zip(fibres, entries[i]):
        if r.length_bits:
            put("lengths", len(es))
        if r.format == "B":
            for bit in occ_i[prefix].tolist():
                put("bitmask", int(bit))
        elif r.format == "CP":
            for c in es:
                for name, value in zip(coord_names, np.unravel_index(c, r.dim_extents)):
                    put(name, int(value))
        elif r.format == "RLE":
            pos = -1
            for c in es:
                put("runs", c - pos - 1)
                pos = c
        elif r.format == "UOP":
            put("offsets", offset)
            for _ in range(r.extent):
                offset += child_counts[child]
                child += 1
                put("offsets", offset)
        out.pad_to(r.align)
    stream, nbits = out.packed()
    arrays = {name: np.array(values, np.uint64) for name, values in fields.items()}
    return RankArrays(r.format, arrays, widths, stream, nbits)


def decode(spec: FormatSpec, encoded: Encoded, shape) -> np.ndarray:
    """W (``shape``) from ``encode``'s streams and values; ValueError on a corrupt stream."""
    layout = Layout(spec, shape)
    if len(encoded.ranks) != len(layout.ranks):
        raise ValueError(f"{len(encoded.ranks)} ranks of arrays for a {len(layout.ranks)}-rank "
                         "format")
    fibres, known = [()], [None]
    for r, arrays in zip(layout.ranks, encoded.ranks):
        read = _Reader(arrays.stream, arrays.nbits)
        next_fibres, next_known = [], []
        for prefix, count in zip(fibres, known):
            if r.length_bits:
                count = read(r.length_bits)
            elif r.fixed is not None:
                count = r.fixed
            counts = None
            if r.format == "U":
                es = range(r.extent)
            elif r.format == "B":
                es = [c for c in range(r.extent) if read(1)]
            elif r.format == "CP":
                es = [_linear([read(b) for b in r.field_bits], r.dim_extents)
                      for _ in range(count)]
            elif r.format == "RLE":
                es, pos = [], -1
                for _ in range(count):
                    pos += read(r.coord_bits) + 1
                    es.append(pos)
            else:                                       # UOP
                offsets = [read(arrays.widths["offsets"]) for _ in range(r.extent + 1)]
                counts = np.diff(offsets).tolist()
                es = range(r.extent)
            if any(not 0 <= c < r.extent for c in es):
                _bad(f"a coordinate outside 0..{r.extent - 1}")
            read.align(r.align)
            next_fibres += [prefix + (c,) for c in es]
            next_known += counts if counts is not None else [None] * len(es)
        read.done()
        fibres, known = next_fibres, next_known
    if len(fibres) != encoded.values.size:
        _bad(f"{len(fibres)} entries at the leaf but {encoded.values.size} values")
    tensor = np.zeros(layout.extents, encoded.values.dtype)
    if fibres:
        tensor[tuple(np.array(fibres).T)] = encoded.values
    return layout.unview(tensor)


def _linear(coords, extents):
    """The row-major index of one coordinate per dimension of a flattened rank."""
    index = 0
    for c, e in zip(coords, extents):
        if c >= e:
            _bad(f"coordinate {c} outside 0..{e - 1}")
        index = index * e + c
    return index


def _bad(what):
    raise ValueError(f"corrupt encoding: {what}")


class _Writer:
    """Fields appended little-endian into one bit stream."""

    def __init__(self):
        self.values, self.widths, self.nbits = [], [], 0

    def write(self, value, bits):
        if value >> bits:
            raise FormatError((), f"{value} does not fit in {bits} bits")
        self.values.append(value)
        self.widths.append(bits)
        self.nbits += bits

    def pad_to(self, align):
        pad = roundup(self.nbits, align) - self.nbits
        while pad:
            step = min(pad, 64)
            self.write(0, step)
            pad -= step

    def packed(self):
        if not self.nbits:
            return np.zeros(0, np.uint8), 0
        widths = np.array(self.widths, np.int64)
        owner = np.repeat(np.arange(widths.size), widths)
        shift = np.arange(self.nbits) - np.repeat(np.cumsum(widths) - widths, widths)
        bits = (np.array(self.values, np.uint64)[owner] >> shift.astype(np.uint64)) & 1
        return np.packbits(bits.astype(np.uint8), bitorder="little"), self.nbits


class _Reader:
    """Reads fields back from a packed stream; ``read(bits)`` -> int."""

    def __init__(self, stream, nbits):
        self.bits = np.unpackbits(np.asarray(stream, np.uint8), bitorder="little")[:nbits]
        if self.bits.size != nbits:
            _bad(f"a stream of {self.bits.size} bits where {nbits} were stated")
        self.pos = 0

    def __call__(self, bits):
        if self.pos + bits > self.bits.size:
            _bad("a stream ends early")
        chunk = self.bits[self.pos:self.pos + bits]
        self.pos += bits
        return int("".join("1" if b else "0" for b in chunk[::-1].tolist()) or "0", 2)

    def align(self, align):
        self.pos = roundup(self.pos, align)

    def done(self):
        if self.pos != self.bits.size:
            _bad(f"{self.bits.size - self.pos} bits left over in a rank's stream")
