"""Hypothesis strategies for format tests (importable as ``format_strategies``): random specs
(any sequence of representations over any rank order, tiles that need not divide the shape,
flattened ranks, explicit and auto widths, alignment, fixed CP fibres) with a matrix to go on."""

import numpy as np
from hypothesis import strategies as st

from hwmodel import formats as hf
from hwmodel.formats.footprint import count_last, occupancy


def random_matrix(draw, m, k):
    """An m × k float64 matrix of small integers at a drawn density (all-zero and all-dense
    included)."""
    density = draw(st.sampled_from([0.0, 0.05, 0.2, 0.5, 0.9, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.integers(1, 9, (m, k)) * rng.choice([-1.0, 1.0], (m, k))
    return np.where(rng.random((m, k)) < density, values, 0.0)


@st.composite
def spec_and_matrix(draw, max_dim=9, max_tile=5):
    m, k = draw(st.integers(0, max_dim)), draw(st.integers(0, max_dim))
    W = random_matrix(draw, m, k)
    tile = {d: draw(st.integers(1, max_tile)) for d in "MK" if draw(st.booleans())}
    dims = [x for d in "MK" for x in ([f"{d}1", f"{d}0"] if d in tile else [d])]
    groups = []
    for d in draw(st.permutations(dims)):
        if groups and draw(st.integers(0, 4)) == 0:
            groups[-1].append(d)                     # flatten with the rank before
        else:
            groups.append([d])
    ranks = []
    for group in groups:
        rep = draw(st.sampled_from(hf.REPRESENTATIONS))
        kwargs = {}
        if rep in ("CP", "UOP"):
            kwargs["bits"] = draw(st.sampled_from([None, None, 16]))
        elif rep == "RLE":
            kwargs["bits"] = draw(st.sampled_from([None, 1, 1, 2]))
        if kwargs.get("bits") is None and rep != "RLE" and rep in ("CP", "UOP") \
                and draw(st.booleans()):
            kwargs["widths"] = (8, 16, 32, 64)
        if rep != "U":
            kwargs["align"] = draw(st.sampled_from([1, 1, 1, 8, 64]))
        ranks.append(hf.Rank(group[0] if len(group) == 1 else tuple(group), rep, **kwargs))
    spec = hf.FormatSpec("random", tuple(ranks), draw(st.sampled_from([8, 16, 32])), tile=tile)
    return _maybe_fixed(draw, spec, W), W


def _maybe_fixed(draw, spec, W):
    """Turn some CP ranks into fixed-N ranks, with N no smaller than the fullest fibre."""
    layout = hf.Layout(spec, W.shape)
    occ = occupancy(layout.view(W != 0))
    ranks = list(spec.ranks)
    for i, r in enumerate(layout.ranks):
        if r.format == "CP" and draw(st.integers(0, 2)) == 0:
            fullest = int(count_last(occ[i]).max()) if occ[i].size else 0
            fixed = draw(st.integers(max(fullest, 1), max(r.extent, 3)))
            if r.extent and fixed > r.extent:
                continue                                # more entries than coordinates
            ranks[i] = hf.Rank(spec.ranks[i].dim, "CP", bits=spec.ranks[i].bits,
                               widths=spec.ranks[i].widths, align=spec.ranks[i].align,
                               fixed=fixed)
    return hf.FormatSpec(spec.name, tuple(ranks), spec.value_bits, tile=dict(spec.tile))
