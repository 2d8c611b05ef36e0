"""Statistical mode: the expected footprint of a format at a density, without a matrix.

The nonzeros are ``round(density·M·K)`` positions drawn uniformly without replacement among the
M·K real ones (Sparseloop's hypergeometric model); edge-tile padding is always zero. A set of s
real positions is then all zero with probability

    e(s) = C(M·K − s, nnz) / C(M·K, nnz).

Per rank, a coordinate whose subtree covers s real positions is occupied with probability
1 − e(s), so the expected occupancy is a sum over the few distinct subtree sizes (full and edge
tiles), computed from the shape alone. RLE fillers follow from the same e(): a nonzero at j after
at least t·2**bits zeros contributes one filler per t, so E[fillers] = Σ_j Σ_t [e(W) − e(W + s_j)]
with W the size of the window of t·2**bits coordinates before j. Entries, fibres and unaligned
metadata are linear in these counts, so their expectations are exact.

Two things are approximations, and say so here: an ``auto`` offset width is the width of the
expected count (a count near a power of two may round the other way in a sample), and a CP or
RLE rank with ``align`` > 1 rounds per fibre, for which the occupancy of a non-empty fibre is
taken as binomial (its children independent, at their average occupancy) given that it is
non-empty, RLE fillers spread in proportion.
"""

import math

import numpy as np

from .footprint import Footprint, footprint, rank_footprints, resolve_value_bits, roundup
from .layout import Layout, check_shape
from .spec import FormatSpec


def expected_footprint(spec: FormatSpec, shape, density, value_bits=None) -> Footprint:
    """The expected footprint (floats) of ``spec`` on an M × K matrix of the given density."""
    vb = resolve_value_bits(spec, value_bits)
    m, k = check_shape(shape)
    if isinstance(density, bool) or not isinstance(density, (int, float, np.floating)) \
            or not 0 <= density <= 1:
        raise ValueError(f"density must be a number in [0, 1], got {density!r}")
    layout = Layout(spec, (m, k))
    total = m * k
    if total == 0:                        # nothing random about an empty matrix
        return footprint(spec, np.zeros((m, k), bool), vb)
    nnz = round(float(density) * total)
    empty = _Empty(total, nnz)

    fibres, occupied, entries, padding, prefixes = [1.0], [], [], [], [1]
    for i, r in enumerate(layout.ranks):
        n, f = r.extent, fibres[-1]
        sizes, counts = _child_sizes(layout, i)
        c, p = float(np.sum(counts * (1 - empty(sizes)))), 0.0
        if r.format == "RLE" and r.run_limit < n:
            p = sum(count * _fillers(sizes, r.run_limit, empty)
                    for count, sizes in _fibre_types(layout, i))
        if r.format in ("U", "UOP"):
            e = f * n
        elif r.format == "CP" and r.fixed is not None:
            e = f * r.fixed
            p = e - c
        else:
            e = c + p
        occupied.append(c)
        entries.append(e)
        padding.append(p)
        fibres.append(e)
        prefixes.append(prefixes[-1] * n)

    nonempty = [1 - float(empty(np.array([total]))[0])] + occupied

    def aligned(i):                                 # the expectation over the rank's fibres
        r, n = layout.ranks[i], layout.ranks[i].extent
        q = occupied[i] / (prefixes[i] * n) if prefixes[i] * n else 0.0
        stretch = entries[i] / occupied[i] if occupied[i] else 1.0
        per_fibre = _aligned_mean(n, q, r.length_bits, r.coord_bits * stretch, r.align)
        return nonempty[i] * per_fibre + (fibres[i] - nonempty[i]) * roundup(r.length_bits,
                                                                            r.align)

    per_rank = rank_footprints(spec, layout, vb, fibres, occupied, entries, padding, aligned,
                               float)
    return Footprint(format=spec.name, shape=(m, k), value_bits=vb, nnz=nnz,
                     stored_values=entries[-1], padding_entries=sum(padding),
                     metadata_bits=sum(p.metadata_bits for p in per_rank),
                     payload_bits=per_rank[-1].payload_bits, per_rank=per_rank)


class _Empty:
    """e(s): the probability that s given real positions hold no nonzero (vectorised)."""

    def __init__(self, total, nnz):
        self.total, self.nnz = total, nnz
        self.base = math.lgamma(total + 1) - math.lgamma(total - nnz + 1)

    def __call__(self, sizes):
        sizes = np.asarray(sizes, np.int64)
        unique, inverse = np.unique(sizes, return_inverse=True)
        free = self.total - self.nnz
        out = np.array([math.exp(math.lgamma(self.total - s + 1)
                                 - math.lgamma(free - s + 1) - self.base) if s <= free else 0.0
                        for s in unique.tolist()])
        return out[inverse].reshape(sizes.shape)


def _side_table(layout, side, dims):
    """Real positions on one side (M or K) under each coordinate of ``dims`` (that side's
    dimensions, in the order given), summed over the side's other dimensions."""
    extent = layout.shape[0 if side == "M" else 1]
    canonical = [d for d in layout.canonical if d[0] == side]
    if len(canonical) == 1:
        real = np.ones(extent, np.int64)
    else:
        outer, inner = layout.dim_extent[canonical[0]], layout.dim_extent[canonical[1]]
        real = (np.arange(outer)[:, None] * inner + np.arange(inner)[None, :] < extent)
        real = real.astype(np.int64)
    summed = tuple(a for a, d in enumerate(canonical) if d not in dims)
    table = real.sum(axis=summed) if summed else real
    kept = [d for d in canonical if d in dims]
    return np.transpose(table, [kept.index(d) for d in dims]) if kept else table


def _child_sizes(layout, i):
    """(distinct sizes, how many coordinates of rank i have each): the real positions under
    each coordinate of rank i over all its fibres, as a histogram."""
    prefix = [d for r in layout.spec.ranks[:i + 1] for d in r.dims]
    hist = []
    for side in "MK":
        table = _side_table(layout, side, [d for d in prefix if d[0] == side])
        hist.append(np.unique(np.ravel(table), return_counts=True))
    (m_sizes, m_counts), (k_sizes, k_counts) = hist
    return np.multiply.outer(m_sizes, k_sizes).ravel(), \
        np.multiply.outer(m_counts, k_counts).ravel()


def _fibre_types(layout, i):
    """(number of fibres, child sizes) for each distinct kind of fibre of rank i: the sizes are
    the real positions under each child coordinate, in the rank's coordinate order."""
    prefix = [d for r in layout.spec.ranks[:i] for d in r.dims]
    walked = list(layout.spec.ranks[i].dims)
    sides = []
    for side in "MK":
        own = [d for d in walked if d[0] == side]
        own_shape = [layout.dim_extent[d] for d in own]
        table = _side_table(layout, side, [d for d in prefix if d[0] == side] + own)
        rows = np.reshape(table, (-1, int(np.prod(own_shape, dtype=np.int64))))
        unique, counts = np.unique(rows, axis=0, return_counts=True)
        sides.append([(row.reshape(own_shape), int(count)) for row, count in zip(unique, counts)])
    order = [([d for d in walked if d[0] == "M"] + [d for d in walked if d[0] == "K"]).index(d)
             for d in walked]
    for m_sizes, m_count in sides[0]:
        for k_sizes, k_count in sides[1]:
            sizes = np.multiply.outer(m_sizes, k_sizes)     # axes: M dims, then K dims
            yield m_count * k_count, np.transpose(sizes, order).ravel()


def _fillers(sizes, limit, empty):
    """Expected RLE fillers in one fibre whose children cover ``sizes`` real positions."""
    n = sizes.size
    if n and np.all(sizes == sizes[0]):             # one size: a sum over t alone
        t = np.arange(1, (n - 1) // limit + 1)
        window = t * limit * int(sizes[0])
        return float(np.sum((n - t * limit) * (empty(window) - empty(window + sizes[0]))))
    cum = np.concatenate([[0], np.cumsum(sizes)])
    out = 0.0
    for t in range(1, (n - 1) // limit + 1):
        j = np.arange(t * limit, n)
        window = cum[j] - cum[j - t * limit]
        out += float(np.sum(empty(window) - empty(window + sizes[j])))
    return out


def _aligned_mean(n, q, length_bits, entry_bits, align):
    """E[roundup(length + c·entry_bits, align) | c ≥ 1] for c ~ Binomial(n, q)."""
    if n == 0 or q <= 0:
        return float(roundup(length_bits + entry_bits, align)) if n else 0.0
    c = np.arange(1, n + 1)
    log_pmf = np.array([math.lgamma(n + 1) - math.lgamma(x + 1) - math.lgamma(n - x + 1)
                        for x in c.tolist()]) + c * math.log(q) + \
        ((n - c) * math.log1p(-q) if q < 1 else np.where(c == n, 0.0, -np.inf))
    pmf = np.exp(log_pmf)
    if pmf.sum() == 0:
        return float(roundup(length_bits + entry_bits, align))
    cost = np.ceil((length_bits + c * entry_bits) / align) * align
    return float(np.sum(pmf * cost) / pmf.sum())
