"""A layer's weight as its forward uses it: masks of torch.nn.utils.prune and torch.ao.pruning
parametrizations applied, or a sparse layer's matrix (sparsekit.nn) made dense. Read by
analysis, pruning and the sparse layers alike."""
from __future__ import annotations

import torch


def is_torch_pruned(module, name="weight") -> bool:
    return hasattr(module, name + "_orig") and hasattr(module, name + "_mask")


def effective_weight(module, name="weight") -> torch.Tensor:
    """The weight as the module's forward uses it (masks applied), detached."""
    with torch.no_grad():
        if name == "weight" and callable(getattr(module, "weight_dense", None)):
            # a sparsekit.nn layer: its matrix, without the warning its .weight gives
            return module.weight_dense().reshape(module.weight_shape)
        if is_torch_pruned(module, name):
            orig, mask = getattr(module, name + "_orig"), getattr(module, name + "_mask")
            return (mask.to(dtype=orig.dtype) * orig).detach()
        return getattr(module, name).detach()

