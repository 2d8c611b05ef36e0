"""``sk.prune``: a small functional pruning API over ``torch.nn.utils.prune`` masks.

    sk.prune.magnitude(model, 0.9)                                  # unstructured, per layer
    sk.prune.magnitude(model, 0.9, scope="global")                  # one global ranking
    sk.prune.structured(model, 0.5, dim="filters", norm="l2")       # whole filters / channels
    sk.prune.block(model, 0.9, block=(4, 4))                        # r×c blocks (BSR)
    sk.prune.vector(model, 0.9, vector=8)                           # VectorSkip's vectors
    sk.prune.n_m(model, 2, 4)                                       # 2:4
    agp = sk.prune.AGP(model, final_sparsity=0.9, end_step=30)     # agp.step() each step
    res = sk.prune.sensitivity(model, evaluate, levels=[0.5, 0.9])  # res.to_csv(), res.plot()
    sk.prune.remove(model)                                          # make the masks permanent

Every function selects layers with ``include`` / ``exclude`` (names or shell patterns) and
``types``; every mask is computed before any is applied, so a bad request changes nothing.
"""
from sparsekit.prune.agp import AGP
from sparsekit.prune.apply import (apply_masks, block, compute_masks, layer_sparsity,
                                   magnitude, n_m, remove, structured, vector)
from sparsekit.prune.masks import STRUCTURES
from sparsekit.prune.select import effective_weight, select_layers
from sparsekit.prune.sensitivity import SensitivityResult, sensitivity

__all__ = ["magnitude", "structured", "block", "vector", "n_m", "AGP", "sensitivity",
           "SensitivityResult", "remove", "layer_sparsity", "select_layers",
           "effective_weight", "compute_masks", "apply_masks", "STRUCTURES"]
