"""What each named module of a model receives: one forward pass with pre-hooks. Used to time a
layer on its real input (sparsify's "auto", the demo's per-layer times)."""
from __future__ import annotations

import torch

from sparsekit.model.tracing import call_model


def layer_inputs(model, example_input, names) -> dict:
    """{name: (args, kwargs)}: what each module named in ``names`` received on its first call
    in one forward pass of ``model`` on ``example_input`` (under ``torch.no_grad()``). Names
    the pass never calls are left out."""
    modules = dict(model.named_modules())
    seen, handles = {}, []
    for name in names:
        if name in modules:
            def pre(module, args, kwargs, name=name):
                seen.setdefault(name, (args, kwargs))
            handles.append(modules[name].register_forward_pre_hook(pre, with_kwargs=True))
    try:
        with torch.no_grad():
            call_model(model, example_input)
    finally:
        for h in handles:
            h.remove()
    return seen
