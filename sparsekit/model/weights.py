"""A layer's weight as its forward uses it: masks of torch.nn.utils.prune and torch.ao.pruning
parametrizations applied. Read by analysis, pruning and the sparse layers alike."""
from __future__ import annotations

import torch


def is_torch_pruned(module, name="weight") -> bool:
    return hasattr(module, name + "_orig") and hasattr(module, name + "_mask")


def effective_weight(module, name="weight") -> torch.Tensor:
    """The weight as the module's forward uses it (masks applied), detached."""
    with torch.no_grad():
        if is_torch_pruned(module, name):
            orig, mask = getattr(module, name + "_orig"), getattr(module, name + "_mask")
            return (mask.to(dtype=orig.dtype) * orig).detach()
        return getattr(module, name).detach()

