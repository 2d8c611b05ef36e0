"""The bridge to ``hwmodel``: a real (pruned) PyTorch model in, a hardware estimate out.

``sk.estimate`` runs ``sk.analyze`` once for the GEMM views, true input/output sizes and
nonzeros, packs each layer's real weight in the chosen format (the same format classes the
kernels use, so the bytes are exact: values and metadata apart) and hands one
``hwmodel.Layer`` per weight layer to ``hwmodel.estimate``. ``sk.compare`` sets a dense model
and its compressed twin side by side.

``progress``: a tqdm bar on stderr over the layers being packed, shown only when the work
takes over 2 s; None shows it when stderr is a terminal.
"""
from __future__ import annotations

import math
import re
import sys

import hwmodel
from hwmodel.table import Table

FORMATS = ("dense", "csr", "bsr", "vectorskip")
STRUCTURE = {"dense": "dense", "csr": "unstructured", "bsr": "block", "vectorskip": "vector"}
_TYPE = re.compile(r"^(int|fp)(\d+)$")


def _kind_and_bits(hw, value_bits):
    """(kind, bits) of a weight/activation element: the datapath's native type unless
    ``value_bits`` says otherwise (then the native kind if the hardware prices that width)."""
    m = _TYPE.match(hw.compute.native_type)
    native_kind, native_bits = (m.group(1), int(m.group(2))) if m else ("fp", 32)
    if value_bits is None:
        return native_kind, native_bits
    bits = int(value_bits)
    for kind in (native_kind, "fp" if native_kind == "int" else "int"):
        try:
            hw.compute.mac_energy(kind, bits)
            return kind, bits
        except ValueError:
            continue
    raise ValueError(f"hardware {hw.name!r} has no MAC energy for {bits}-bit operands "
                     f"(it lists {', '.join(hw.compute.mac_energy_pj)}); pick another "
                     "value_bits")


def _density_for(activation_density, name):
    if activation_density is None:
        return 1.0
    if isinstance(activation_density, dict):
        return float(activation_density.get(name, 1.0))
    return float(activation_density)


def _batch_of(example_input):
    import torch
    first = example_input
    if isinstance(first, dict):
        first = next(iter(first.values()), None)
    elif isinstance(first, (tuple, list)):
        first = first[0] if first else None
    if isinstance(first, torch.Tensor) and first.dim() >= 2:
        return int(first.shape[0])
    return 1


def _pack(matrix, fmt, block, vector, value_bits, index_bits):
    """(format object or None, value bytes, metadata bytes, stored values) of ``matrix``."""
    from sparsekit.formats import pack
    if fmt == "dense":
        return None, matrix.size * value_bits / 8, 0.0, matrix.size
    a = pack(matrix, fmt, block=block, vector=vector)
    st = a.storage(value_bits=value_bits, index_bits=index_bits)
    return a, float(st.values), float(st.metadata), int(a.stored)


def show_progress(progress) -> bool:
    """Whether to draw a progress bar: ``progress`` itself, or (None) whether stderr is a
    terminal."""
    if progress is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


def build_layers(model, example_input, hw, format="auto", value_bits=None,
                 activation_density=None, block=(4, 4), vector=8, index_bits=None,
                 progress=None):
    """The ``hwmodel.Layer`` of every weight layer of ``model`` and the format chosen for it:
    a list of (Layer, format name). See ``estimate`` for the arguments."""
    from tqdm.auto import tqdm
    from sparsekit.model._analyze import analyze
    from sparsekit.model.tracing import trace_products

    if format != "auto" and format not in FORMATS:
        raise ValueError(f"format must be 'auto' or one of {FORMATS}, got {format!r}")
    hw = hwmodel.load(hw)
    kind, bits = _kind_and_bits(hw, value_bits)
    block = (int(block[0]), int(block[1]))
    progress = show_progress(progress)
    summary = analyze(model, example_input, block=block, vector=int(vector), value_bits=bits,
                      index_bits=index_bits, formats=(), progress=progress)
    # one step for the traced forward pass, then one per layer packed
    bar = tqdm(total=1 + len(summary.layers), desc=f"estimate ({format})", unit="step",
               delay=2, disable=not progress)
    calls, _ = trace_products(model, example_input)
    bar.update()
    if len(calls) != len(summary.layers):
        raise RuntimeError("analyze and trace disagree on the number of weight layers")
    if not calls:
        raise ValueError("the model has no weight layers (no conv/linear/matmul with a weight)")
    candidates = FORMATS if format == "auto" else (format,)
    out = []
    for row, call in zip(summary.layers, calls):
        name = row["name"]
        if row["nnz"] is None:
            raise ValueError(f"layer {name!r} has no values (meta tensor): nothing to estimate")
        m = call.matrix.detach().float().numpy()
        packed = {f: _pack(m, f, block, int(vector), bits, index_bits) for f in candidates}
        fmt = min(packed, key=lambda f: (packed[f][1] + packed[f][2], FORMATS.index(f)))
        _, values, metadata, stored = packed[fmt]
        M, K, N, groups = int(row["M"]), int(row["K"]), int(row["N"]), int(row["groups"] or 1)
        dense_macs = float(row["macs"])
        n_per_weight = dense_macs / (M * K)          # = N
        act = bits / 8
        in_b = math.prod(row["input_shape"]) * act if row["input_shape"] else None
        out_b = math.prod(row["output_shape"]) * act if row["output_shape"] else None
        effective = float(row["nnz"]) * n_per_weight
        stored_macs = min(float(stored) * n_per_weight, dense_macs)
        out.append((hwmodel.Layer(
            name=name, M=M, K=K, N=N, groups=groups, value_bits=bits, activation_bits=bits,
            kind=kind, input_bytes=in_b, output_bytes=out_b, weight_value_bytes=values,
            weight_metadata_bytes=metadata, dense_macs=dense_macs,
            effective_macs=min(effective, stored_macs), stored_macs=stored_macs,
            structure=STRUCTURE[fmt],
            activation_density=_density_for(activation_density, name)), fmt))
        bar.update()
    bar.close()
    return out


def estimate(model, example_input, hw, format="auto", value_bits=None, activation_density=None,
             block=(4, 4), vector=8, objective="energy", index_bits=None, batch=None,
             progress=None):
    """Estimate ``model`` (its real, possibly pruned weights) on hardware ``hw``.

    hw: a preset name (``hwmodel.presets()``), a YAML path or a ``hwmodel.Hardware``.
    format: "auto" (per layer the smallest of dense, CSR, BSR and VectorSkip in bytes),
        "dense", "csr", "bsr" or "vectorskip" (every layer).
    value_bits: width of weights and activations (default: the hardware's native MAC type,
        e.g. 8 for an int8 accelerator, 32 for fp32).
    activation_density: share of nonzero input activations (a number, or {layer: share});
        only hardware that skips or gates zeros profits.
    block, vector: BSR block and VectorSkip length; index_bits: metadata index width
        (None: the smallest that fits, what the kernels read).
    objective: "energy", "latency" or "edp" for the mapping search.
    batch: inferences per forward pass (default: the first dimension of the input).
    progress: a progress bar over the layers (None: when stderr is a terminal).
    Returns the ``hwmodel.Estimate`` (``.layers``, ``.latency_s``, ``.energy_j``,
    ``.inferences_per_sec``, ``.inferences_per_sec_per_watt``, ``.table()``...).
    """
    hw = hwmodel.load(hw)
    layers = [layer for layer, _ in build_layers(model, example_input, hw, format, value_bits,
                                                 activation_density, block, vector, index_bits,
                                                 progress)]
    batch = _batch_of(example_input) if batch is None else int(batch)
    return hwmodel.estimate(hw, layers, objective=objective, batch=batch)


class Comparison(Table):
    """Dense vs compressed, per layer and in total (a ``hwmodel.table.Table``); ``.dense`` and
    ``.sparse`` are the two Estimates, ``.formats`` the format chosen per layer."""

    dense = sparse = formats = None


def _outer_bytes(cost, level):
    return sum(cost.reads_bytes[level].values()) + sum(cost.writes_bytes[level].values())


def _ratio(a, b):
    return a / b if b else float("inf")


def compare(dense_model, pruned_model, example_input, hw, format="auto", value_bits=None,
            activation_density=None, block=(4, 4), vector=8, objective="energy",
            index_bits=None, batch=None, progress=None):
    """Dense ``dense_model`` (stored dense) next to ``pruned_model`` in ``format`` on ``hw``:
    a Comparison table with, per layer and in total, latency, energy, outer-memory (DRAM)
    bytes, inferences/sec/watt, and the ratios dense/compressed (speedup, energy saving)."""
    hw = hwmodel.load(hw)
    kw = dict(value_bits=value_bits, block=block, vector=vector, index_bits=index_bits,
              progress=progress)
    dense_layers = build_layers(dense_model, example_input, hw, "dense",
                                activation_density=activation_density, **kw)
    sparse_layers = build_layers(pruned_model, example_input, hw, format,
                                 activation_density=activation_density, **kw)
    if [layer.name for layer, _ in dense_layers] != [layer.name for layer, _ in sparse_layers]:
        raise ValueError("the dense and pruned models do not have the same weight layers")
    batch = _batch_of(example_input) if batch is None else int(batch)
    dense = hwmodel.estimate(hw, [layer for layer, _ in dense_layers], objective, batch)
    sparse = hwmodel.estimate(hw, [layer for layer, _ in sparse_layers], objective, batch)
    outer = hw.memory[0].name
    formats = [f for _, f in sparse_layers]
    rows = []
    for d, s, f in zip((*dense.layers, dense.total), (*sparse.layers, sparse.total),
                       (*formats, _overall(formats))):
        rows.append({
            "layer": d.name, "format": f,
            "dense_latency_s": d.seconds, "sparse_latency_s": s.seconds,
            "speedup": _ratio(d.seconds, s.seconds),
            "dense_energy_j": d.energy_j, "sparse_energy_j": s.energy_j,
            "energy_saving": _ratio(d.energy_j, s.energy_j),
            f"dense_{outer}_bytes": _outer_bytes(d, outer),
            f"sparse_{outer}_bytes": _outer_bytes(s, outer),
            "dense_inf_per_s_per_w": _ratio(batch, d.energy_j),
            "sparse_inf_per_s_per_w": _ratio(batch, s.energy_j),
            "dense_bound": d.bound, "sparse_bound": s.bound})
    table = Comparison(rows)
    table.dense, table.sparse, table.formats = dense, sparse, formats
    return table


def _overall(formats):
    kinds = set(formats)
    return kinds.pop() if len(kinds) == 1 else "per layer"


__all__ = ["estimate", "compare", "build_layers", "Comparison", "FORMATS"]
