"""``sk.analyze(model, example_input)``: one row per weight layer, from one traced forward pass.

Each row: the layer's name and type, its weight shape, the GEMM view (M, K, N) of DESIGN.md,
input/output shapes, weight_params (elements of the weight matrix, M·K: biases excluded, as
in nnz, sparsity and the bytes, which all describe the weight matrix), nnz, sparsity,
Distiller-style structure sparsities, dense and effective MACs, and the exact bytes of the
weight dense and in each registered format (``sparsekit.formats.registry``: a ``bytes_<name>``
column each), plus the smallest. The bytes are the footprint of each format class's own spec,
counted on the weight's mask without packing it: equal to ``storage().total`` of the packed
format, byte for byte (tests/test_registry.py).

Products between two activations (attention's q·kᵀ and attn·v, ``torch.matmul``/``bmm``/
``einsum``/``scaled_dot_product_attention`` on two activations) get rows of their own, named
``module/op`` ("layers.0.self_attn/sdpa.qk"): their MACs (in the totals, dense and
effective), no weight (weight_params, nnz and bytes 0). Every other op the pass runs
(pooling, elementwise, normalisation, softmax, im2col, copies) is summed per op kind in
``Summary.ops``: calls, bytes read and written, estimated FLOPs (``tracing.op_flops``).

MACs follow DESIGN.md: multiply-accumulates of conv and linear layers (and any other product
with a weight of the model), bias and BatchNorm excluded. Grouped convs count each group's
GEMM once: M = C_out, K = C_in/groups·kh·kw, MACs = M·K·N (g GEMMs of M/g × K × N). The weight
matrix used for nnz, structure and bytes stacks the g per-group matrices: C_out × K.
"""
from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass

import numpy as np
import torch

from hwmodel.formats import footprint

from sparsekit.model import structure
from sparsekit.formats import registry
from sparsekit.formats.params import check_block, check_vector
from sparsekit.model.summary import Summary
from sparsekit.model.tracing import matmul_names, trace_forward

FORMAT_NAMES = registry.names()
ROOT_NAME = "(model)"  # the row name of a weight owned by the model itself (a bare nn.Linear)

# Columns of a layer row, in order (the Summary keeps this order in every output).
COLUMNS = ("name", "type", "op", "weight_shape", "groups", "M", "K", "N", "input_shape",
           "output_shape", "weight_params", "nnz", "sparsity", "rows", "channels", "kernels",
           "blocks", "vectors", "macs", "effective_macs", "bytes_dense",
           *(f"bytes_{f}" for f in FORMAT_NAMES), "best_format", "best_bytes", "note")


def _check_formats(formats):
    formats = tuple(formats)
    bad = [f for f in formats if f not in FORMAT_NAMES]
    if bad:
        raise ValueError(f"unknown format(s) {bad}; choose from {FORMAT_NAMES}")
    return formats


def analyze(model, example_input, *, block=(4, 4), vector: int = 8, value_bits: int = 32,
            index_bits: int | None = None, formats=FORMAT_NAMES, progress=None) -> Summary:
    """Per-layer analysis of ``model`` run once on ``example_input`` (a tensor, a tuple of
    positional arguments, or a dict of keyword arguments).

    block, vector: the BSR block (r, c) and VectorSkip length V used for the structure
        sparsities and the bytes.
    value_bits: width of a stored weight value (dense and formats alike).
    index_bits: width of indices/pointers (None: the smallest that holds each layer's largest
        index, what the kernels read). A width too small for some layer raises ValueError.
    formats: the formats to size (``()`` skips packing: much faster on big models).
    progress: a tqdm bar on stderr over the forward pass (a step per module called) and then
        the layers (a step each): True, False, or None (the default): only when stderr is a
        terminal, and only once the work has taken over a second.

    The model runs under ``torch.no_grad()`` in eval mode (its train/eval state is restored);
    weights pruned with ``torch.nn.utils.prune`` or ``torch.ao.pruning`` are read as the
    model uses them (masks applied).
    """
    settings = check_settings(model, progress, formats, block, vector, value_bits, index_bits)
    with _progress_bar(model, progress) as bar:
        return summarise(model, trace_forward(model, example_input), settings, bar=bar)


@dataclass(frozen=True)
class Settings:
    """What ``analyze`` counts with: the formats sized, their specs, the block and vector of
    the structure sparsities, and the value and index widths."""

    formats: tuple
    specs: dict
    block: tuple
    vector: int
    value_bits: int
    index_bits: int | None


def check_settings(model, progress, formats, block, vector, value_bits,
                   index_bits) -> Settings:
    """``analyze``'s arguments checked (TypeError/ValueError naming the bad one)."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")
    formats = _check_formats(formats)
    block, vector = check_block(block), int(check_vector(vector))
    specs = {f: registry.spec(f, value_bits, index_bits, block, vector) for f in formats}
    return Settings(formats, specs, block, vector, value_bits, index_bits)


def summarise(model, forward, s: Settings, counts=None, keys=None, bar=None) -> Summary:
    """The Summary of a traced pass. ``counts``: each call's ``weight_counts``, measured
    while the pass ran (None: measured now, from each call's matrix); ``keys``: for each call
    a key equal between two calls exactly when they used the same weight (None: compare the
    matrices themselves)."""
    modules = dict(model.named_modules(remove_duplicate=False))
    calls = forward.calls
    if bar is not None:
        bar.reset(total=len(calls))
        bar.set_description("analyze: layers")
        bar.unit = "layer"
    rows = []
    for i, (call, name) in enumerate(zip(calls, layer_names(calls))):
        rows.append(_row(name, call, modules, s, None if counts is None else counts[i]))
        if bar is not None:
            bar.update()
    products = [_product_row(name, m, modules)
                for m, name in zip(forward.matmuls, matmul_names(forward.matmuls))]
    total = _total(rows, calls, s.formats, keys)
    if products:
        total["macs"] += sum(r["macs"] for r in products)
        if total["effective_macs"] is not None:
            total["effective_macs"] += sum(r["macs"] for r in products)
    order = [c.seq for c in calls] + [m.seq for m in forward.matmuls]
    merged = [r for _, _, r in sorted(zip(order, range(len(order)), rows + products))]
    return Summary(merged, columns=COLUMNS, total=total,
                   meta={"block": s.block, "vector": s.vector, "value_bits": s.value_bits,
                         "index_bits": s.index_bits, "formats": s.formats,
                         "model_params": sum(p.numel() for p in model.parameters())},
                   ops=op_summary(forward.ops))


def _product_row(name, m, modules) -> dict:
    """The row of a product between two activations: MACs, no weight."""
    stack = m.module_stack
    row = {c: None for c in COLUMNS}
    row.update(name=name, type=_type_name(modules.get(stack[-1])) if stack else "?",
               op=m.op, groups=m.groups, M=m.M, K=m.K, N=m.N, input_shape=m.input_shape,
               output_shape=m.output_shape, weight_params=0, nnz=0, macs=m.macs,
               effective_macs=m.macs, bytes_dense=0,
               note="activation × activation product: no weight")
    return row


def op_summary(ops) -> list:
    """One row per op kind, in order of first call: calls, bytes read, bytes written, bytes
    moved (both), FLOPs (estimated)."""
    out = {}
    for op in ops:
        r = out.setdefault(op.kind, {"op": op.kind, "calls": 0, "bytes_read": 0,
                                     "bytes_written": 0, "bytes_moved": 0, "flops": 0})
        r["calls"] += 1
        r["bytes_read"] += op.bytes_read
        r["bytes_written"] += op.bytes_written
        r["bytes_moved"] += op.bytes_read + op.bytes_written
        r["flops"] += op.flops
    return list(out.values())


def layer_names(calls) -> list:
    """The row name of each traced product: its module (or module.parameter), "(model)" for a
    weight of the model itself, "#2", "#3"... for later calls of the same weight."""
    names, seen = [], {}
    for call in calls:
        name = call.source.module if call.source.attr == "weight" else \
            ".".join(p for p in (call.source.module, call.source.attr) if p)
        name = name or ROOT_NAME
        seen[name] = seen.get(name, 0) + 1
        names.append(f"{name}#{seen[name]}" if seen[name] > 1 else name)
    return names


@contextlib.contextmanager
def _progress_bar(model, progress):
    """A tqdm bar on stderr (None when ``progress`` asks for none) that counts the calls of
    the model's leaf modules during the traced forward pass, through forward hooks removed on
    exit; ``analyze`` then resets it to count the layers."""
    if not progress and (progress is not None or not sys.stderr.isatty()):
        yield None
        return
    from tqdm import tqdm
    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    bar = tqdm(total=len(leaves), desc="analyze: forward", unit="module", file=sys.stderr,
               leave=False, delay=1.0 if progress is None else 0.0)

    def step(*_):
        if bar.n < bar.total:
            bar.update()

    handles = [m.register_forward_hook(step) for m in leaves]
    try:
        yield bar
    finally:
        for h in handles:
            h.remove()
        bar.close()


_COUNTED = ("nnz", "sparsity", "effective_macs", "rows", "channels", "kernels", "blocks",
            "vectors", *(f"bytes_{f}" for f in FORMAT_NAMES), "best_format", "best_bytes")


def _row(name, call, modules, s: Settings, counts=None) -> dict:
    """A weight product's row: its shapes and MACs, and ``counts`` (``weight_counts``; None:
    counted now from ``call.matrix``, or left empty when that is on the meta device)."""
    module = modules.get(call.source.module)
    row = {"name": name, "type": _type_name(module),
           "op": call.op, "weight_shape": call.weight_shape, "groups": call.groups,
           "M": call.M, "K": call.K, "N": call.N, "input_shape": call.input_shape,
           "output_shape": call.output_shape, "weight_params": call.M * call.K,
           "macs": call.macs, "note": ""}
    row["bytes_dense"] = row["weight_params"] * s.value_bits // 8
    if counts is None and call.matrix.device.type != "meta":
        counts = weight_counts(name, call, s)
    row.update(counts if counts is not None else dict.fromkeys(_COUNTED))
    if call.groups > 1:
        kind = "depthwise" if call.weight.shape[1] == 1 and call.op.startswith("conv") \
            else "grouped"
        row["note"] = f"{kind} conv: sparsify keeps it dense"  # groups: in its own column
    return row


def weight_counts(name, call, s: Settings) -> dict:
    """The columns of a row that read the weight's values: nnz, sparsity, effective MACs,
    the structure sparsities, the bytes of each format and the smallest."""
    matrix = call.matrix
    # The zero pattern, computed once: nnz, the structure and every format's bytes read it.
    mask = structure.nonzero(matrix)
    nnz = int(np.count_nonzero(mask))
    out = {"nnz": nnz, "sparsity": 1.0 - nnz / mask.size if mask.size else 0.0,
           "effective_macs": nnz * call.N}
    weight_mask = mask if call.weight is matrix else structure.nonzero(call.weight)
    out.update(structure.structure_sparsities(weight_mask, mask, s.block, s.vector))
    sizes = {"dense": call.M * call.K * s.value_bits // 8}
    for f in FORMAT_NAMES:
        out[f"bytes_{f}"] = None
        if f in s.specs:
            try:
                total = footprint(s.specs[f], mask).total_bytes
            except ValueError as e:
                raise ValueError(f"layer {name!r}: {f} at index_bits={s.index_bits}: "
                                 f"{e}") from None
            out[f"bytes_{f}"] = sizes[f] = total
    best = min(sizes, key=lambda k: (sizes[k], k != "dense"))
    out["best_format"], out["best_bytes"] = best, sizes[best]
    return out


def _type_name(module) -> str:
    """The module's class name; a parametrized module (torch.ao.pruning) by its own class,
    not the ``Parametrized...`` subclass torch creates."""
    if module is None:
        return "?"
    cls = type(module)
    if torch.nn.utils.parametrize.is_parametrized(module) and \
            cls.__name__.startswith("Parametrized"):
        cls = cls.__bases__[0]
    return cls.__name__


def _total(rows, calls, formats, keys=None) -> dict:
    """Sums: MACs over every call; weight_params, nnz and bytes once per distinct weight (a
    weight used twice is stored once). ``keys``: one per call, equal for calls of the same
    weight (None: calls of the same source and shape whose matrices are equal)."""
    total = {c: None for c in COLUMNS}
    total.update(name="total", type="", op="", note="", macs=sum(r["macs"] for r in rows))
    if any(r["nnz"] is None for r in rows):
        return total
    total["effective_macs"] = sum(r["effective_macs"] for r in rows)
    if keys is None:
        distinct = _distinct_weights(rows, calls)
    else:
        first = {}
        for k, r in zip(keys, rows):
            first.setdefault(k, r)
        distinct = list(first.values())
    for key in ("weight_params", "nnz", "bytes_dense", "best_bytes"):
        total[key] = sum(r[key] for r in distinct)
    for f in formats:
        total[f"bytes_{f}"] = sum(r[f"bytes_{f}"] for r in distinct)
    total["sparsity"] = (1.0 - total["nnz"] / total["weight_params"]
                         if total["weight_params"] else 0.0)
    bests = {r["best_format"] for r in distinct}
    total["best_format"] = bests.pop() if len(bests) == 1 else "per layer"
    return total


def _distinct_weights(rows, calls) -> list:
    """The rows of the first call of each distinct weight. The same weight used again (a
    module called twice) is stored once; a slice of a parameter (MultiheadAttention's q/k/v
    thirds of in_proj_weight) is its own weight."""
    distinct, seen = [], {}
    for r, c in zip(rows, calls):
        key = (c.source.module, c.source.attr, tuple(c.matrix.shape))
        if not any(torch.equal(c.matrix, other) for other in seen.get(key, ())):
            seen.setdefault(key, []).append(c.matrix)
            distinct.append(r)
    return distinct


def total_macs(model, example_input) -> int:
    """Dense MACs of one forward pass (DESIGN.md's convention, plus the products between two
    activations), without packing anything."""
    forward = trace_forward(model, example_input)
    return sum(c.macs for c in forward.calls) + sum(m.macs for m in forward.matmuls)
