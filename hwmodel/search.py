"""Pick the mapping that minimises an objective: "energy", "latency" or "edp".

Every combination of the per-level Pareto fronts (see ``mapping``) is priced in one vectorised
call of ``cost.price``; levels interact only through shared ports and the max in the latency,
so pricing the combinations is exact. Ties on the objective go to the lower energy (or, for
"latency", the lower energy too; for "energy", the lower latency).
"""

import numpy as np

from .cost import OBJECTIVES, price
from .mapping import ORDERS, LevelMapping, Mapping, level_fronts

MAX_COMBINATIONS = 1 << 18


def _thin(fronts):
    """Drop every other point of the largest front until the product is affordable
    (never reached by the shipped presets; keeps the search bounded for deep hierarchies)."""
    fronts = list(fronts)
    while np.prod([len(f[2]) for f in fronts], dtype=float) > MAX_COMBINATIONS:
        j = max(range(len(fronts)), key=lambda i: len(fronts[i][2]))
        order = np.argsort(fronts[j][2].sum(axis=1))[::2]
        fronts[j] = tuple(a[order] for a in fronts[j])
    return fronts


def best_mapping(hw, layer, objective="energy"):
    """The Mapping of ``layer`` on ``hw`` that minimises ``objective``."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    layer = layer.on(hw)
    fronts = _thin(level_fronts(hw, layer))
    depth = len(fronts)
    reuse = [None]
    for j, (_, _, r) in enumerate(fronts):
        shape = [1] * depth + [3]
        shape[j] = len(r)
        reuse.append(r.reshape(shape))
    p = price(hw, layer, reuse)
    grid = tuple(len(f[2]) for f in fronts)
    energy = np.broadcast_to(p.total_pj, grid).ravel()
    cycles = np.broadcast_to(p.cycles, grid).ravel()
    primary, secondary = {"energy": (energy, cycles), "latency": (cycles, energy),
                          "edp": (energy * cycles, energy)}[objective]
    near = np.flatnonzero(primary <= primary.min() * (1 + 1e-12))
    pick = np.unravel_index(near[np.argmin(secondary[near])], grid)
    return Mapping(tuple(
        LevelMapping(level.name, tuple(int(t) for t in tiles[i]), ORDERS[orders[i]],
                     tuple(float(x) for x in r[i]))
        for level, (tiles, orders, r), i in zip(hw.memory[1:], fronts, pick)))
