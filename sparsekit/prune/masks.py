"""Magnitude masks for every structure, as pure functions of weight tensors (nothing here
touches a module). A mask is a float tensor of the weight's shape: 1 keeps, 0 prunes.

Groups are ranked by their L1 or L2 norm (single weights by magnitude); the ``round(level ·
groups)`` weakest are pruned, ties broken by position (a stable sort), so a level gives the
same mask on every run. Weights that are already zero rank first, so pruning again to a higher
level only ever adds zeros.

Block, vector and N:M groups live in the M×K matrix ``w.reshape(w.shape[0], -1)``: for a
Linear its (out, in) weight, for a conv C_out × C_in·kh·kw — the matrix the sparse formats
store. Vectors are VectorSkip's: V consecutive output rows of one column.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from sparsekit.formats.params import check_block, check_vector, is_int as _is_int  # noqa: F401

STRUCTURES = ("element", "filter", "channel", "block", "vector", "nm")
ALIASES = {"unstructured": "element", "fine": "element", "elements": "element",
           "filters": "filter", "row": "filter", "rows": "filter",
           "channels": "channel", "column": "channel", "columns": "channel",
           "blocks": "block", "vectors": "vector", "n:m": "nm"}
# Structures whose groups have the same size in every layer: global ranking is meaningful.
GLOBAL_OK = ("element", "block", "vector")


def check_structure(structure: str) -> str:
    if not isinstance(structure, str):
        raise TypeError(f"structure must be a string, got {type(structure).__name__}")
    s = ALIASES.get(structure.lower(), structure.lower())
    if s not in STRUCTURES:
        raise ValueError(f"unknown structure {structure!r}; choose from {STRUCTURES}")
    return s


def check_level(level, what="sparsity") -> float:
    """A fraction in [0, 1) as a float: Python or numpy ints and floats (np.float32(0.5) too);
    not bools (numpy's included), NaN, strings or anything else."""
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, numbers.Real) or \
            not math.isfinite(float(level)) or not 0.0 <= float(level) < 1.0:
        raise ValueError(f"{what} must be a number in [0, 1), got {level!r}")
    return float(level)


def check_nm(n, m) -> tuple[int, int]:
    if not (_is_int(n) and _is_int(m)) or not 1 <= n <= m:
        raise ValueError(f"N:M needs integers 1 <= n <= m, got n={n!r}, m={m!r}")
    return int(n), int(m)


def check_norm(norm) -> str:
    if norm not in ("l1", "l2"):
        raise ValueError(f"norm must be 'l1' or 'l2', got {norm!r}")
    return norm


def _norm(x: torch.Tensor, dims, norm: str) -> torch.Tensor:
    x = x.double().abs()
    return x.sum(dim=dims) if norm == "l1" else x.square().sum(dim=dims).sqrt()


def _prune_lowest(scores: torch.Tensor, count: int) -> torch.Tensor:
    """A keep-flag per score: False for the ``count`` lowest (stable order)."""
    flat = scores.reshape(-1)
    keep = torch.ones(flat.numel(), dtype=torch.bool)
    if count > 0:
        order = torch.argsort(flat, stable=True)
        keep[order[:count]] = False
    return keep.reshape(scores.shape)


def group_scores(w: torch.Tensor, structure: str, *, norm="l1", block=(4, 4), vector=8,
                 out_dim=0, in_dim=1) -> torch.Tensor:
    """One score per group of ``w`` (element / filter / channel / block / vector)."""
    w = w.detach()
    if structure == "element":
        return w.abs().double()
    if structure == "filter":
        return _norm(w.movedim(out_dim, 0).reshape(w.shape[out_dim], -1), 1, norm)
    if structure == "channel":
        return _norm(w.movedim(in_dim, 0).reshape(w.shape[in_dim], -1), 1, norm)
    r, c = block if structure == "block" else (vector, 1)
    return _norm(_tiles(w, r, c), (1, 3), norm)


def _tiles(w, r, c) -> torch.Tensor:
    """(M/r, r, K/c, c) view of the zero-padded M×K matrix of w."""
    mat = w.reshape(w.shape[0], -1)
    m, k = mat.shape
    pm, pk = -(-m // r) * r, -(-k // c) * c
    if (pm, pk) != (m, k):
        mat = torch.nn.functional.pad(mat, (0, pk - k, 0, pm - m))
    return mat.reshape(pm // r, r, pk // c, c)


def mask_from_keep(w: torch.Tensor, keep: torch.Tensor, structure: str, *, block=(4, 4),
                   vector=8, out_dim=0, in_dim=1) -> torch.Tensor:
    """Expand per-group keep flags to a mask of w's shape."""
    keep = keep.to(w.dtype)
    if structure == "element":
        return keep.reshape(w.shape)
    if structure in ("filter", "channel"):
        dim = out_dim if structure == "filter" else in_dim
        shape = [1] * w.dim()
        shape[dim] = w.shape[dim]
        return keep.reshape(shape).expand(w.shape).contiguous()
    r, c = block if structure == "block" else (vector, 1)
    m, k = w.shape[0], w[0].numel()
    nbr, nbc = keep.shape
    full = keep[:, None, :, None].expand(nbr, r, nbc, c).reshape(nbr * r, nbc * c)
    return full[:m, :k].reshape(w.shape).contiguous()


def layer_mask(w: torch.Tensor, structure: str, level: float, **kw) -> torch.Tensor:
    """The mask pruning the ``level`` share of w's weakest groups."""
    scores = group_scores(w, structure, **kw)
    keep = _prune_lowest(scores, round(level * scores.numel()))
    return mask_from_keep(w, keep, structure, **{k: v for k, v in kw.items() if k != "norm"})


def global_masks(weights: dict, structure: str, level: float, **kw) -> dict:
    """Masks pruning the ``level`` share of the weakest groups ranked across all layers."""
    scores = {n: group_scores(w, structure, **kw) for n, w in weights.items()}
    flat = torch.cat([s.reshape(-1) for s in scores.values()]) if scores else torch.zeros(0)
    keep = _prune_lowest(flat, round(level * flat.numel()))
    masks, start = {}, 0
    for n, s in scores.items():
        part = keep[start:start + s.numel()].reshape(s.shape)
        start += s.numel()
        masks[n] = mask_from_keep(weights[n], part, structure,
                                  **{k: v for k, v in kw.items() if k != "norm"})
    return masks


def nm_mask(w: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Keep the n largest-magnitude weights of every m consecutive weights along K of the
    M×K matrix (a last, shorter group keeps its n largest too)."""
    mat = w.detach().reshape(w.shape[0], -1)
    rows, k = mat.shape
    pk = -(-k // m) * m
    scores = mat.abs().double()
    if pk != k:
        scores = torch.nn.functional.pad(scores, (0, pk - k), value=-math.inf)
    groups = scores.reshape(rows, pk // m, m)
    order = torch.argsort(-groups, dim=2, stable=True)
    keep = torch.zeros_like(groups, dtype=torch.bool)
    keep.scatter_(2, order[:, :, :n], True)
    return keep.reshape(rows, pk)[:, :k].reshape(w.shape).to(w.dtype).contiguous()
