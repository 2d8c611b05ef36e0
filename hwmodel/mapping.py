"""Mappings: at each on-chip level, a tile of the GEMM and a loop order, and the reuse they buy.

A level holding a tile (m, k, n) walks the GEMM in tile steps with loops in some order
(outer to inner). An operand's tile is refetched from the parent each time a loop it does not
depend on advances outside the innermost loop it does depend on, so each byte of it crosses
into the level ``reuse`` times: 1 when it stays put (the stationary operand), else the trip
count of its free loop (weights: N/n, inputs: M/m, outputs: K/k, counted as partial sums).

Each level is tiled on its own against the whole GEMM, as in the per-level reuse analysis of
Chen et al. (ISCA 2016); this is optimistic when two levels would need different loop orders.
A tile must fit the level for the operands it holds and, for the others, the nearest level
that does hold them (inward first), so a weights-only buffer cannot pretend to hold outputs.
A level holding a part of the weights only (payload or metadata) is tiled like a weights
buffer whose elements are that part's bytes per weight.
Tile sizes m and k are powers of two and the dimension's halvings, n the largest that fits;
per level only the Pareto-minimal reuse vectors are kept, which is exact for any cost that
grows with traffic.
"""

from dataclasses import dataclass
from functools import lru_cache
from itertools import permutations

import numpy as np

from .hardware import OPERANDS

ORDERS = tuple("".join(p) for p in permutations("mkn"))   # outer -> inner
_DEPENDS = ((0, 1), (1, 2), (0, 2))    # weights (m, k), inputs (k, n), outputs (m, n)
_FREE = (2, 0, 1)                      # the loop each operand ignores: n, m, k


@dataclass(frozen=True)
class LevelMapping:
    """The tile (m, k, n) and loop order chosen at one level, and the resulting reuse:
    how many times each operand's bytes cross into this level (1 for operands it does not
    hold; for outputs, how many times partial sums leave it)."""

    level: str
    tile: tuple
    order: str
    reuse: tuple


@dataclass(frozen=True)
class Mapping:
    """One LevelMapping per on-chip memory level, outermost first."""

    levels: tuple


def reuse_factors(trips, order):
    """Reuse of (weights, inputs, outputs) for loop trip counts ``trips`` (..., 3) and ``order``."""
    trips = np.asarray(trips)
    pos = ["mkn".index(d) for d in order]            # pos[i] = dimension of loop i
    depth = {dim: i for i, dim in enumerate(pos)}
    out = []
    for deps, free in zip(_DEPENDS, _FREE):
        inner = [d for d in deps if depth[d] > depth[free]]
        moving = np.zeros(trips.shape[:-1], bool)
        for d in inner:
            moving |= trips[..., d] > 1
        out.append(np.where(moving, trips[..., free], 1))
    return np.stack(out, axis=-1)


def _sizes(extent):
    values = {extent}
    step = 1
    while step < extent:
        values.add(step)
        values.add(-(-extent // step))
        step *= 2
    return np.array(sorted(values), float)


def constraints(hw, index, element_bytes, weight_parts):
    """(capacity, held mask, element bytes) triples a tile at level ``index`` must fit (see the
    module docstring). ``weight_parts`` maps the weight entries of ``holds`` ("weights",
    "weight_payload", "weight_metadata") to their bytes per weight element: a level holding a
    part of the weights is tiled like a weights buffer of that part's size."""
    levels = hw.memory

    def entry(level):
        wb, xb, yb = element_bytes
        for part, size in weight_parts.items():
            if part in level.holds:
                wb = size
        return (level.capacity_bytes, level.operand_mask, (wb, xb, yb))

    own = entry(levels[index])
    found = [own]
    for o, held in zip(OPERANDS, own[1]):
        if held:
            continue
        order = list(range(index + 1, len(levels))) + list(range(index - 1, 0, -1))
        for j in order:
            if levels[j].operand_mask[OPERANDS.index(o)]:
                if entry(levels[j]) not in found:
                    found.append(entry(levels[j]))
                break
    return tuple(found)


def _undominated(points):
    """Mask of the Pareto-minimal rows of distinct 3-vectors sorted lexicographically (as
    ``np.unique`` returns them): only an earlier row can dominate a later one, so row i is
    dominated iff an earlier row has r1 <= r1[i] and r2 <= r2[i]."""
    levels = np.unique(points[:, 1])
    below = points[:, 1][:, None] <= levels[None, :]                       # (U, V)
    r2 = np.where(below, points[:, 2][:, None], np.inf)
    earlier = np.vstack([np.full((1, len(levels)), np.inf),
                         np.minimum.accumulate(r2, axis=0)[:-1]])
    return earlier[np.arange(len(points)), np.searchsorted(levels, points[:, 1])] > points[:, 2]


@lru_cache(maxsize=8192)
def pareto_front(shape, fits, held):
    """Pareto-minimal reuse vectors for one level: (tiles (F, 3), order indices (F,), reuse (F, 3)).

    shape: (M, K, N) of one group; fits: (capacity, held mask, bytes per W, X, Y element in a
    tile) triples; held: the level's own mask. None if no tile fits.
    A larger tile never raises a trip count, so for each candidate (m, k) only the largest
    n that fits matters: tiles are (m, k, largest n), m and k from ``_sizes``.
    """
    big_m, big_k, big_n = shape
    m, k = (a.ravel() for a in np.meshgrid(_sizes(big_m), _sizes(big_k), indexing="ij"))
    n = np.full(m.shape, float(big_n))
    zero = np.zeros_like(m)
    for capacity, (has_w, has_x, has_y), (wb, xb, yb) in fits:
        room = capacity - (m * k * wb if has_w else zero)
        per_n = (k * xb if has_x else zero) + (m * yb if has_y else zero)
        limit = np.where(room >= 0, float(big_n), 0.0)
        grows = per_n > 0
        limit[grows] = np.minimum(limit[grows], np.floor(room[grows] / per_n[grows]))
        n = np.minimum(n, limit)
    ok = n >= 1
    if not ok.any():
        return None
    tiles = np.stack([m[ok], k[ok], n[ok]], -1)
    trips = np.ceil(np.array(shape, float) / tiles)
    reuse = np.stack([reuse_factors(trips, order) for order in ORDERS])      # (6, T, 3)
    reuse[..., ~np.array(held)] = 1
    flat = reuse.reshape(-1, 3)
    unique, first = np.unique(flat, axis=0, return_index=True)
    keep = first[_undominated(unique)]
    return tiles[keep % len(tiles)].astype(int), keep // len(tiles), flat[keep]


def level_fronts(hw, layer):
    """Pareto fronts for every on-chip level (index 1...), as ``pareto_front`` returns them."""
    fronts = []
    _, k, _ = layer.group_shape
    weight_parts = {"weights": layer.weight_bytes / (layer.M * k),
                    "weight_payload": layer.weight_value_bytes / (layer.M * k),
                    "weight_metadata": layer.weight_metadata_bytes / (layer.M * k)}
    for index in range(1, len(hw.memory)):
        level = hw.memory[index]
        fits = constraints(hw, index, layer.element_bytes, weight_parts)
        front = pareto_front(layer.group_shape, fits, fits[0][1])
        if front is None:
            raise ValueError(f"layer {layer.name!r}: no tile fits memory level {level.name!r} "
                             f"({level.capacity_bytes:g} B) with the levels it feeds; it cannot "
                             "hold one MAC's operands at this layer's widths")
        fronts.append(front)
    return fronts
