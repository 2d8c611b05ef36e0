"""One traced forward pass, kept for every estimate made from it: per weight layer its GEMM
view, true tensor shapes and the mask of its nonzero weights. Formats are then counted on the
masks (``hwmodel.formats.footprint``), never packed, and the model is not run again for another
format or another hardware.

Each layer also says how it runs on a host: ``op`` (linear, conv, depthwise: the
``hwmodel.Layer.op`` picking the dense efficiency and call cost), and for a layer of a
sparsified model (a ``sparsekit.nn`` sparse module) the format it holds (``run_format``) and
the kernel calls one forward makes (``calls``: a SparseConv2d runs large images one product
per image)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TracedLayer:
    """A weight product of the traced pass: W (M × K, the g per-group matrices stacked) @ X
    (K × N); ``mask`` is W != 0 (NaN and inf count as nonzero)."""

    name: str
    M: int
    K: int
    N: int
    groups: int
    macs: int
    input_shape: tuple
    output_shape: tuple
    mask: np.ndarray
    magnitude: np.ndarray | None = None     # |W| as float32, when asked for (sweeps re-prune)
    op: str = "linear"                      # hwmodel.Layer.op: linear, conv or depthwise
    run_format: str | None = None           # the format a sparse module holds (else None)
    calls: int = 1                          # kernel calls of one forward

    @property
    def nnz(self) -> int:
        return int(np.count_nonzero(self.mask))


def trace(model, example_input, magnitudes: bool = False) -> list:
    """The ``TracedLayer`` of every weight product of ``model`` on ``example_input``, in call
    order, named as ``sk.analyze`` names its rows (``magnitudes``: keep |W| too)."""
    return trace_forward_layers(model, example_input, magnitudes)[0]


def trace_forward_layers(model, example_input, magnitudes: bool = False) -> tuple:
    """One forward pass: ``(weight layers, forward)``: the ``TracedLayer`` of every weight
    product (as ``trace`` gives them) and the ``tracing.Forward`` with everything else it saw
    (products between two activations, other ops)."""
    import torch
    from sparsekit.model._analyze import layer_names
    from sparsekit.model.tracing import trace_forward

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    forward = trace_forward(model, example_input)
    if not forward.calls:
        raise ValueError("the model has no weight layers (no conv/linear/matmul with a weight)")
    modules = dict(model.named_modules())
    out = []
    for call, name in zip(forward.calls, layer_names(forward.calls)):
        if call.matrix.device.type == "meta":
            raise ValueError(f"layer {name!r} has no values (meta tensor): nothing to estimate")
        w = call.matrix.detach().cpu()
        mag = w.abs().to(torch.float32).numpy() if magnitudes else None
        out.append(TracedLayer(name, int(call.M), int(call.K), int(call.N),
                               int(call.groups or 1), int(call.macs), tuple(call.input_shape),
                               tuple(call.output_shape), (w != 0).numpy(), mag,
                               *_how_it_runs(call, modules.get(call.source.module))))
    return out, forward


def _how_it_runs(call, module) -> tuple:
    """(op, run_format, calls) of a traced product (see the module docstring)."""
    from sparsekit.nn._base import SparseModule
    from sparsekit.nn.layers import SparseConv2d
    conv = call.op.startswith("conv")
    op = ("depthwise" if (call.groups or 1) > 1 else "conv") if conv else "linear"
    if not isinstance(module, SparseModule):
        return op, None, 1
    calls = 1
    if isinstance(module, SparseConv2d) and len(call.input_shape) == 4:
        images = int(call.input_shape[0])
        if images > 1 and call.N // images >= SparseConv2d.FOLD_BELOW:
            calls = images                  # one product per image (SparseConv2d.forward)
    return op, module.format, calls
