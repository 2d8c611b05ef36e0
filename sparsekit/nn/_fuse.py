"""Fold the ReLU and the residual add that follow a sparse layer into its kernels.

``fuse_epilogues(model)`` traces ``model`` with ``torch.fx`` (sparse layers and torch's own
modules stay whole) and rewrites two patterns of its graph:

- a ``SparseConv2d`` or ``SparseLinear`` whose only reader is a ReLU: the layer applies the
  ReLU as its kernels store the output (``layer.relu = True``) and the ReLU goes;
- a ``SparseConv2d`` whose only reader is an add of another tensor (a ResNet block's skip
  connection, ``out += identity``), itself perhaps read only by a ReLU: the layer is called
  as ``layer(x, residual=identity)`` where the add was, and adds it (then the ReLU) as it
  stores the output; the add (and the ReLU) go. Where nothing reads ``identity`` after the
  add and a sparse conv or max-pool made it, the layer writes its output over it
  (``into_residual=True``): memory just read, instead of a new tensor no cache holds.

``nn.Identity`` calls (a BatchNorm folded into its conv by ``sparsify``) are dropped from the
graph first. Each layer is fused only where the graph calls it once. An add with keyword
arguments (such as ``alpha``) or of a tensor to itself is left alone. Where a residual turns
out at run time not to have the output's shape and dtype, the layer adds it with torch
(broadcasting and type promotion as before), so the result never changes; only where the
passes go does.

Why: each ReLU and add is a pass of its own over activations the kernels have just written.
resnet50 at 90 %, batch 1 (one process, interleaved, torch's ops on one thread): with the
kernels on two threads 1.05-1.08x faster fused; on one thread 0.98-1.02x, and 0.93x for the
V=8 model in one run of bench/vs_deepsparse.py (there the kernels' epilogue costs what the
passes did, or more: the residual must be read either way). Hence opt-in.

The result is a ``torch.fx.GraphModule`` holding the same submodules under the same names;
the model's own class and methods other than ``forward`` are not kept. A model that
``torch.fx`` cannot trace (data-dependent control flow) is returned as it is, with the reason.
"""
from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import fx, nn

from sparsekit.nn._base import SparseModule
from sparsekit.nn.layers import SparseConv2d
from sparsekit.nn.pool import MaxPool2d

_RELU_FUNCTIONS = (torch.relu, torch.relu_, F.relu)
_RELU_METHODS = ("relu", "relu_")
_ADD_FUNCTIONS = (operator.add, operator.iadd, torch.add)
_ADD_METHODS = ("add", "add_")


class _Tracer(fx.Tracer):
    """torch's tracer, with every module of ``sparsekit.nn`` a leaf (their forwards run the
    kernels)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return type(m).__module__.startswith("sparsekit.nn.") or \
            super().is_leaf_module(m, qualname)


def _is_relu(node: fx.Node, modules: dict) -> bool:
    if node.op == "call_module":
        return type(modules[node.target]) is nn.ReLU
    if node.op == "call_function":
        return node.target in _RELU_FUNCTIONS and len(node.args) == 1 and \
            set(node.kwargs) <= {"inplace"}
    return node.op == "call_method" and node.target in _RELU_METHODS and \
        len(node.args) == 1 and not node.kwargs


def _added_to(node: fx.Node, add: fx.Node):
    """The other operand of ``add`` if it is an add of ``node`` and another tensor node."""
    plain = (add.op == "call_function" and add.target in _ADD_FUNCTIONS) or \
        (add.op == "call_method" and add.target in _ADD_METHODS)
    if not plain or add.kwargs or len(add.args) != 2:
        return None
    a, b = add.args
    other = b if a is node else a if b is node else None
    if not isinstance(other, fx.Node) or other is node:
        return None
    return other


def _only_user(node: fx.Node):
    users = list(node.users)
    return users[0] if len(users) == 1 else None


def _dead_after(other: fx.Node, add: fx.Node, x, modules: dict) -> bool:
    """Whether the layer fused in place of ``add`` may write its output over the residual
    ``other``: a tensor that a sparse conv or max-pool made (never the model's input or a
    view), that the layer does not read as its input, and that nothing reads after the add:
    its other readers are sparse convs and max-pools (whose outputs never alias their
    inputs) that run before it."""
    fresh = (SparseConv2d, MaxPool2d)
    if other is x or not _calls(other, fresh, modules):
        return False
    before = set()
    node = add.prev
    while node.op != "root":    # the graph's nodes before the add
        before.add(node)
        node = node.prev
    return all(u is add or (u in before and _calls(u, fresh, modules)) for u in other.users)


def _calls(node: fx.Node, kinds, modules: dict) -> bool:
    return node.op == "call_module" and isinstance(modules[node.target], kinds)


def fuse_epilogues(model: nn.Module):
    """(fused model, {layer name: what was fused into it}), or (``model``, the reason) when
    torch.fx cannot trace it. The fused layers are ``model``'s own modules, changed
    (``relu = True``)."""
    try:
        graph = _Tracer().trace(model)
    except Exception as e:   # any tracing failure: the model stays as it is
        return model, f"torch.fx cannot trace this model ({type(e).__name__}: {e})"
    modules = dict(model.named_modules())
    for node in list(graph.nodes):   # e.g. a BatchNorm folded into its conv
        if node.op == "call_module" and type(modules[node.target]) is nn.Identity \
                and len(node.args) == 1 and not node.kwargs:
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
    calls = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    fused = {}
    for node in list(graph.nodes):
        if node.op != "call_module" or calls[node.target] != 1:
            continue
        layer = modules[node.target]
        if not isinstance(layer, SparseModule) or layer.relu or len(node.args) != 1 \
                or node.kwargs:
            continue
        user = _only_user(node)
        if user is None:
            continue
        if _is_relu(user, modules):
            layer.relu = True
            user.replace_all_uses_with(node)
            graph.erase_node(user)
            fused[node.target] = "ReLU"
            continue
        other = _added_to(node, user) if isinstance(layer, SparseConv2d) else None
        if other is None:
            continue
        # The layer now runs where the add was: its input and the residual are both ready.
        relu = _only_user(user)
        relu = relu if relu is not None and _is_relu(relu, modules) else None
        kwargs = {"residual": other}
        if _dead_after(other, user, node.args[0], modules):
            kwargs["into_residual"] = True
        with graph.inserting_before(user):
            call = graph.call_module(node.target, node.args, kwargs)
        user.replace_all_uses_with(call)
        graph.erase_node(user)
        graph.erase_node(node)
        if relu is not None:
            layer.relu = True
            relu.replace_all_uses_with(call)
            graph.erase_node(relu)
        fused[node.target] = "residual add" + (" and ReLU" if relu is not None else "")
    graph.lint()
    fused_model = fx.GraphModule(model, graph, class_name=f"Fused{type(model).__name__}")
    return fused_model.train(model.training), fused
