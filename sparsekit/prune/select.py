"""Which layers a pruning request touches, and how to read and write their weights.

A weight layer is a module with a ``weight`` of two or more dimensions that enters a matrix
product: Linear, Conv1d/2d/3d, ConvTranspose, and any custom module with such a weight
(embeddings are lookups, not products, and are left out). A weight already pruned by
``torch.nn.utils.prune`` (``weight_orig`` + ``weight_mask``) counts, and is read with its mask
applied.
"""
from __future__ import annotations

import fnmatch

import torch
from torch import nn
from torch.nn.utils import parametrize

from sparsekit.model.weights import effective_weight, is_torch_pruned  # noqa: F401

NOT_PRODUCTS = (nn.Embedding, nn.EmbeddingBag)


def value_tensor(module, name="weight") -> torch.Tensor:
    """The Parameter that holds the weight's values (``weight``, ``weight_orig`` or a
    parametrization's ``original``): editing it in place edits the effective weight."""
    if parametrize.is_parametrized(module, name):
        return getattr(module.parametrizations, name).original
    if is_torch_pruned(module, name):
        return getattr(module, name + "_orig")
    return getattr(module, name)


def has_weight(module, name="weight") -> bool:
    if isinstance(module, NOT_PRODUCTS):
        return False
    if parametrize.is_parametrized(module, name) or is_torch_pruned(module, name):
        return True
    w = module._parameters.get(name) if hasattr(module, "_parameters") else None
    return isinstance(w, torch.Tensor) and w.dim() >= 2


def _type_matches(module, types) -> bool:
    for t in types:
        if isinstance(t, str):
            names = {c.__name__ for c in type(module).__mro__}
            if t in names:
                return True
        elif isinstance(module, t):
            return True
    return False


def _patterns(value, what):
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{what} must be a name pattern or a list of them, "
                        f"got {type(value).__name__}") from None
    if not all(isinstance(v, str) for v in items):
        raise TypeError(f"{what} must hold name patterns (strings), got {items!r}")
    return items


def _types(value):
    if value is None:
        return None
    items = [value] if isinstance(value, (type, str)) else list(value)
    for t in items:
        if not (isinstance(t, str) or (isinstance(t, type) and issubclass(t, nn.Module))):
            raise TypeError(f"types must be nn.Module classes or class names, got {t!r}")
    return items


def select_layers(model, include=None, exclude=None, types=None, name="weight"):
    """``[(module name, module)]`` of the weight layers to prune, in model order.

    include / exclude: a name or shell-style pattern (``"layer1.*"``), or a list of them;
        every pattern must match at least one weight layer (a typo is an error, not a no-op).
    types: nn.Module classes or class names (``nn.Conv2d``, ``"Linear"``) to keep.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    include, exclude = _patterns(include, "include"), _patterns(exclude, "exclude")
    types = _types(types)
    layers = [(n, m) for n, m in model.named_modules() if has_weight(m, name)]
    names = [n for n, _ in layers]
    for what, pats in (("include", include), ("exclude", exclude)):
        for p in pats or ():
            if not fnmatch.filter(names, p):
                raise ValueError(f"{what} pattern {p!r} matches no weight layer; weight "
                                 f"layers are: {names}")
    chosen = []
    for n, m in layers:
        if include is not None and not any(fnmatch.fnmatchcase(n, p) for p in include):
            continue
        if exclude is not None and any(fnmatch.fnmatchcase(n, p) for p in exclude):
            continue
        if types is not None and not _type_matches(m, types):
            continue
        chosen.append((n, m))
    if not chosen:
        raise ValueError(f"no weight layer selected (include={include}, exclude={exclude}, "
                         f"types={types}); weight layers are: {names}")
    return chosen
