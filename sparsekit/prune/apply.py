"""The functional pruning API: compute every mask first, then apply them all through
``torch.nn.utils.prune.custom_from_mask`` — so a bad request changes nothing, and
``prune.remove``, ``state_dict`` and other tools see ordinary torch pruning.
"""
from __future__ import annotations

import torch
import torch.nn.utils.prune as torch_prune
from torch.nn.utils import parametrize

from sparsekit.prune import masks as M
from sparsekit.prune.select import effective_weight, is_torch_pruned, select_layers


def _out_in_dims(module) -> tuple[int, int]:
    """(output-channel dim, input-channel dim) of a module's weight (ConvTranspose swaps)."""
    if isinstance(module, torch.nn.modules.conv._ConvTransposeNd):
        return 1, 0
    return 0, 1


def compute_masks(layers, structure="element", sparsity=None, *, scope="layer", norm="l1",
                  block=(4, 4), vector=8, n=2, m=4, name="weight") -> dict:
    """{layer name: mask} for ``layers`` = [(name, module)], without applying anything."""
    structure = M.check_structure(structure)
    M.check_norm(norm)
    if scope not in ("layer", "global"):
        raise ValueError(f"scope must be 'layer' or 'global', got {scope!r}")
    if structure == "nm":
        n, m = M.check_nm(n, m)
        if sparsity is not None:
            raise ValueError("N:M pruning sets its own sparsity (1 - n/m); leave sparsity=None")
        if scope == "global":
            raise ValueError("N:M pruning is per group of m weights; scope='global' makes no "
                             "sense for it")
    else:
        if sparsity is None:
            raise ValueError(f"structure {structure!r} needs a sparsity level in [0, 1)")
        sparsity = M.check_level(sparsity)
    block = M.check_block(block)
    vector = M.check_vector(vector)
    if scope == "global" and structure not in M.GLOBAL_OK:
        raise ValueError(f"scope='global' ranks groups of one size across layers: use it with "
                         f"{M.GLOBAL_OK}, not {structure!r} (its groups differ in size)")
    check_layers(layers, name)
    weights = {lname: effective_weight(module, name) for lname, module in layers}
    dims = {lname: _out_in_dims(module) for lname, module in layers}
    if structure == "nm":
        return {lname: M.nm_mask(w, n, m) for lname, w in weights.items()}
    if scope == "global":
        return M.global_masks(weights, structure, sparsity, norm=norm, block=block,
                              vector=vector)
    out = {}
    for lname, w in weights.items():
        if structure in ("filter", "channel") and w.dim() < 2:
            raise ValueError(f"layer {lname!r}: weight of shape {tuple(w.shape)} has no "
                             "channels")
        o, i = dims[lname]
        out[lname] = M.layer_mask(w, structure, sparsity, norm=norm, block=block,
                                  vector=vector, out_dim=o, in_dim=i)
    return out


def check_layers(layers, name="weight") -> None:
    for lname, module in layers:
        if parametrize.is_parametrized(module, name):
            raise ValueError(f"layer {lname!r}: {name} is parametrized (torch.ao.pruning?); "
                             "sk.prune does not stack on parametrizations; squash or remove "
                             "them first (parametrize.remove_parametrizations)")


def apply_masks(model, masks: dict, name="weight") -> None:
    """Apply {layer name: mask} with ``custom_from_mask``; all or nothing.

    A layer already pruned by torch.nn.utils.prune gets the new mask multiplied into its
    ``weight_mask`` (the AND torch's own PruningContainer computes) in place, so repeated
    pruning (AGP) keeps one mask buffer per layer instead of a growing chain of them.
    """
    modules = dict(model.named_modules())
    for lname, mask in masks.items():
        w = effective_weight(modules[lname], name)
        if mask.shape != w.shape:
            raise ValueError(f"layer {lname!r}: mask shape {tuple(mask.shape)} does not match "
                             f"weight shape {tuple(w.shape)}")
    undo = []
    try:
        for lname, mask in masks.items():
            module = modules[lname]
            if is_torch_pruned(module, name):
                buf = getattr(module, name + "_mask")
                old = buf.detach().clone()
                with torch.no_grad():
                    buf.mul_(mask.to(device=buf.device, dtype=buf.dtype))
                _refresh(module, name)
                undo.append(lambda module=module, buf=buf, old=old: _restore_mask(
                    module, buf, old, name))
            else:
                torch_prune.custom_from_mask(module, name, mask.to(effective_weight(
                    module, name).device))
                undo.append(lambda module=module: _unprune(module, name))
    except Exception:
        for u in reversed(undo):
            u()
        raise


def _refresh(module, name):
    """Recompute ``module.<name>`` the way torch's pruning pre-hook does."""
    orig, mask = getattr(module, name + "_orig"), getattr(module, name + "_mask")
    setattr(module, name, mask.to(dtype=orig.dtype) * orig)


def _restore_mask(module, buf, old, name):
    with torch.no_grad():
        buf.copy_(old)
    _refresh(module, name)


def _unprune(module, name):
    """Undo a fresh custom_from_mask: the original Parameter back under its own name."""
    for k, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, torch_prune.BasePruningMethod) and hook._tensor_name == name:
            del module._forward_pre_hooks[k]
    orig = module._parameters.pop(name + "_orig")
    module._buffers.pop(name + "_mask", None)
    if hasattr(module, name):
        delattr(module, name)
    module.register_parameter(name, orig)


def layer_sparsity(model, include=None, exclude=None, types=None, name="weight") -> dict:
    """{layer name: share of zero weights} of the (effective) weights of the weight layers."""
    out = {}
    for lname, module in select_layers(model, include, exclude, types, name):
        w = effective_weight(module, name)
        out[lname] = 1.0 - torch.count_nonzero(w).item() / w.numel() if w.numel() else 0.0
    return out


def magnitude(model, sparsity=None, *, structure="element", scope="layer", norm="l1",
              block=(4, 4), vector=8, n=2, m=4, include=None, exclude=None, types=None,
              name="weight") -> dict:
    """Prune ``model`` in place by magnitude and return {layer: resulting sparsity}.

    sparsity: share in [0, 1) of each layer's groups to zero (of all groups with
        scope="global"); ignored structure-wise for N:M (leave None).
    structure: "element" (unstructured), "filter" (output rows), "channel" (input
        channels / columns), "block" (r×c tiles, ``block=(r, c)``), "vector" (V×1 panels
        VectorSkip skips, ``vector=V``), "nm" (``n`` of every ``m``).
    scope: "layer" (each layer to the level) or "global" (one ranking over all selected
        layers; element, block and vector only).
    norm: "l1" or "l2" ranking of groups.
    include / exclude / types: layer selection (see ``select_layers``).
    """
    layers = select_layers(model, include, exclude, types, name)
    masks = compute_masks(layers, structure, sparsity, scope=scope, norm=norm, block=block,
                          vector=vector, n=n, m=m, name=name)
    apply_masks(model, masks, name)
    return layer_sparsity(model, [lname for lname, _ in layers], name=name)


def structured(model, sparsity, *, dim="filters", norm="l1", **kw) -> dict:
    """Zero whole filters (output rows, ``dim="filters"``) or input channels / columns
    (``dim="channels"``), the weakest by L1 or L2 norm."""
    if dim not in ("filters", "channels", "filter", "channel", "rows", "columns"):
        raise ValueError(f"dim must be 'filters' or 'channels', got {dim!r}")
    return magnitude(model, sparsity, structure=dim, norm=norm, **kw)


def block(model, sparsity, block=(4, 4), *, norm="l1", **kw) -> dict:
    """Zero the weakest r×c blocks of each weight matrix (what BSR skips)."""
    return magnitude(model, sparsity, structure="block", block=block, norm=norm, **kw)


def vector(model, sparsity, vector=8, *, norm="l1", **kw) -> dict:
    """Zero the weakest length-V vectors (V consecutive output rows, one input column):
    exactly the vectors VectorSkip(V) skips."""
    return magnitude(model, sparsity, structure="vector", vector=vector, norm=norm, **kw)


def n_m(model, n=2, m=4, **kw) -> dict:
    """Keep the n largest of every m consecutive weights along the input dimension (2:4)."""
    return magnitude(model, None, structure="nm", n=n, m=m, **kw)


def remove(model, name="weight") -> list:
    """Make every torch.nn.utils.prune mask permanent (``prune.remove``); return the layer
    names folded."""
    done = []
    for lname, module in model.named_modules():
        if is_torch_pruned(module, name):
            torch_prune.remove(module, name)
            done.append(lname)
    return done
