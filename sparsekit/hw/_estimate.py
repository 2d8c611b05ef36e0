"""The bridge to ``hwmodel``: a real (pruned) PyTorch model in, a hardware estimate out.

``sk.estimate`` traces the model once (``_trace.trace``: per weight layer its GEMM view, true
tensor sizes and the mask of its nonzeros) and reuses that trace for every hardware it is given
and every format it tries. A format's bytes are counted on the mask
(``hwmodel.formats.footprint`` of the format's spec: payload and metadata apart, per rank),
never by packing the weights; for the executable formats they equal ``storage().total`` of the
packed format byte for byte. Each layer becomes one ``hwmodel.Layer`` carrying the spec, its
footprint, its compute mode (skip/gate/none: the format asks, the hardware allows at most its
``sparsity.support``) and its stored values per output row (``row_nnz``: load imbalance on a
PE array). ``sk.compare`` sets a dense model and its compressed twin side by side.

Everything else the forward pass does is priced too (``sk.estimate``; ``compare`` and
``build_layers`` keep to the weight layers), so non-GEMM time shows in the latency and energy:
- each product between two activations (attention's q·kᵀ and attn·v) is a ``hwmodel.Layer``
  with no weight: one operand stands in the weight's place (A, M × K, dense, at the activation
  width), the other is the input. A fused attention kernel is priced as its unfused path (the
  scores written and read back): an upper bound on its traffic;
- every other op (pooling, elementwise, normalisation, softmax, im2col, copies), summed per
  op kind into one ``hwmodel.Layer`` ("ops: relu ×49"): hwmodel.Layer describes GEMMs only,
  so such an op is pure memory traffic (the bytes it reads as input, the bytes it writes as
  output, no weight, no reuse: every byte from the outermost level) plus its estimated FLOPs
  (``tracing.op_flops``) priced as MACs (an upper bound on their energy: a MAC is a multiply
  and an add); a copy has no FLOPs (skipped MACs).
The Estimate (a ``ModelEstimate``) says what it includes, and per layer the format chosen and
why.

On "host-cpu" (sparsekit's own kernels on this machine), ``format="auto"`` makes sparsify's
choices: depthwise/grouped convs and layers less sparse than ``min_sparsity`` stay dense, and
a layer whose priced latency in its smallest format is above the dense one's (the calibrated
decode cost and a sparse layer's fixed cost per call, at small batches) runs dense; each such
choice carries a note. A model ``sk.sparsify`` already converted is priced as it runs: each
layer in the format it holds (dense for the others), a SparseConv2d's kernel calls per image,
its padding and im2col copies as the ops they are. Every layer carries what runs it
(``hwmodel.Layer.op``) and its calls, for the host's fixed cost per call and dense efficiency
per op; ``as_on_host`` adds what stays in the last cache and what the sparse kernels stream.

``progress``: a tqdm bar on stderr over the layers being counted, shown only when the work
takes over 2 s; None shows it when stderr is a terminal.
"""
from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass

import hwmodel
from hwmodel import formats as hf
from hwmodel.table import Table

from sparsekit.formats import registry
from sparsekit.hw import _specs
from sparsekit.hw._trace import trace, trace_forward_layers

_TYPE = re.compile(r"^(int|fp)(\d+)$")
HOST = "host-cpu"  # the preset of this machine: sparsekit's kernels, sparsify's choices


def formats() -> tuple:
    """The formats ``format="auto"`` chooses among: dense and every registered format."""
    return ("dense",) + registry.names()


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


def show_progress(progress) -> bool:
    """Whether to draw a progress bar: ``progress`` itself, or (None) whether stderr is a
    terminal."""
    if progress is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


def _structure(label, spec):
    """The hwmodel structure (efficiency factor, decode cycles) of a format: the registry's for
    the executable formats; else by what a kept fibre of the innermost compressed rank holds:
    dense M0×K0 tiles ("block"), length-M0 vectors ("vector"), or elements ("unstructured")."""
    if label == "dense" or label in registry.FORMATS:
        return registry.structure_of(label)
    compressed = [i for i, r in enumerate(spec.ranks) if r.format not in ("U", "UOP")]
    if not compressed:
        return "dense"
    below = {d for r in spec.ranks[compressed[-1] + 1:] for d in r.dims}
    if {"M0", "K0"} <= below:
        return "block"
    return "vector" if "M0" in below else "unstructured"


class _Counter:
    """Footprints and per-row counts of (layer, format, value width), each computed once for
    every hardware an estimate covers."""

    def __init__(self, traced, block, vector, index_bits):
        self.traced, self.block, self.vector, self.index_bits = traced, block, vector, index_bits
        self._named, self._fp, self._rows = {}, {}, {}

    def named(self, format):
        key = format if isinstance(format, (str, hf.FormatSpec)) else id(format)
        if key not in self._named:
            self._named[key] = _specs.resolve(format, self.block, self.vector, self.index_bits)
        return self._named[key]

    def footprint(self, i, named, bits):
        key = (i, named.label, id(named.spec), bits)
        if key not in self._fp:
            spec = _specs.with_value_bits(named, bits)
            try:
                self._fp[key] = spec, hf.footprint(spec, self.traced[i].mask)
            except ValueError as e:
                raise ValueError(f"layer {self.traced[i].name!r}, format {named.label!r}: "
                                 f"{e}") from None
        return self._fp[key]

    def rows(self, i, named, spec):
        key = (i, named.label, id(named.spec))
        if key not in self._rows:
            self._rows[key] = _specs.stored_per_row(spec, self.traced[i].mask)
        return self._rows[key]


def _layers(counter, hw, format, value_bits, activation_density, bar=None):
    """(hwmodel.Layer, format label) of every traced layer on ``hw``."""
    return [(layer, label) for layer, label, _ in
            _choices(counter, hw, format, value_bits, activation_density, bar)]


def _choices(counter, hw, format, value_bits, activation_density, bar=None,
             min_sparsity=None):
    """(hwmodel.Layer, format label, note) of every traced layer on ``hw``: "auto" takes the
    smallest format, except on the host (``min_sparsity`` given) where sparsify's rules apply
    (``_host_rule``, ``_slower_than_dense``)."""
    _, act_bits = _kind_and_bits(hw, value_bits)
    candidates = [counter.named(f) for f in (formats() if format == "auto" else (format,))]
    dense = counter.named("dense")
    as_run = min_sparsity is not None and converted(counter.traced)
    out = []
    for i, tl in enumerate(counter.traced):
        if as_run:      # a sparsified model on its host: each layer as it runs
            named = counter.named(tl.run_format or "dense")
            out.append((_layer(counter, i, named, hw, value_bits, act_bits,
                               activation_density), named.label, ""))
            if bar is not None:
                bar.update()
            continue
        best = None
        for named in candidates:
            fp = counter.footprint(i, named, _bits(named, value_bits, act_bits))[1]
            if best is None or fp.total_bits < best[1].total_bits:
                best = named, fp
        layer = _layer(counter, i, best[0], hw, value_bits, act_bits, activation_density)
        label, note = best[0].label, ""
        if min_sparsity is not None and label != "dense":
            dense_layer = _layer(counter, i, dense, hw, value_bits, act_bits,
                                 activation_density)
            note = _host_rule(tl, min_sparsity) or _slower_than_dense(hw, layer, dense_layer,
                                                                      label)
            if note:
                layer, label = dense_layer, "dense"
        out.append((layer, label, note))
        if bar is not None:
            bar.update()
    return out


def converted(traced) -> bool:
    """Whether the traced model was sparsified (has a sparsekit.nn sparse layer): on the
    host its layers are then priced as they run, not chosen again."""
    return any(tl.run_format for tl in traced)


def _bits(named, value_bits, act_bits):
    """Width of the stored weight values: ``value_bits``, a spec's own width, or the
    activation width."""
    if value_bits is not None:
        return int(value_bits)
    return named.spec.value_bits if named.own_width else act_bits


def _layer(counter, i, named, hw, value_bits, act_bits, activation_density):
    """The ``hwmodel.Layer`` of traced layer ``i`` stored in ``named``."""
    tl = counter.traced[i]
    bits = _bits(named, value_bits, act_bits)
    spec, fp = counter.footprint(i, named, bits)
    kind, _ = _kind_and_bits(hw, max(bits, act_bits))
    rows = counter.rows(i, named, spec)
    compressed = any(r.format not in ("U", "UOP") for r in spec.ranks)
    support = hw.compute.sparsity.support
    act = act_bits / 8
    return hwmodel.Layer(
        name=tl.name, M=tl.M, K=tl.K, N=tl.N, groups=tl.groups, value_bits=bits,
        activation_bits=act_bits, kind=kind,
        input_bytes=math.prod(tl.input_shape) * act if tl.input_shape else None,
        output_bytes=math.prod(tl.output_shape) * act if tl.output_shape else None,
        dense_macs=float(tl.macs), effective_macs=float(fp.nnz * tl.N),
        stored_macs=float(int(rows.sum()) * tl.N), structure=_structure(named.label, spec),
        activation_density=_density_for(activation_density, tl.name),
        weight_format=spec, footprint=fp, row_nnz=rows if compressed else None,  # full rows:
        compute=_specs.compute_mode(spec, support) if compressed else support,   # balanced
        op=tl.op, calls=tl.calls if named.label == tl.run_format else 1)


def _host_rule(tl, min_sparsity) -> str:
    """Why ``sk.sparsify`` keeps this layer dense whatever it measures ("" if it does not):
    a depthwise or grouped conv, or a weight less sparse than ``min_sparsity``."""
    if tl.groups > 1:
        depthwise = len(tl.input_shape) > 1 and tl.groups == tl.input_shape[1]
        return (f"{'depthwise' if depthwise else 'grouped'} conv (groups={tl.groups}): kept "
                "dense, as sparsify does")
    sparsity = 1.0 - tl.nnz / (tl.M * tl.K)
    if sparsity < min_sparsity:
        return (f"sparsity {sparsity:.3f} < min_sparsity {min_sparsity}: kept dense, as "
                "sparsify does")
    return ""


def _slower_than_dense(hw, layer, dense_layer, label) -> str:
    """A note when the layer in its format is priced slower than dense (the calibrated decode
    cost or a sparse layer's fixed cost per call outweighs the skipped MACs, as at small
    batches), else "". The format is never larger than dense (it was chosen as the smallest),
    so when its compute floor (MACs, efficiency, decode: ``hwmodel.cost.compute_side``) and
    fixed cost together are no higher than dense's it is no slower: only the other layers are
    priced in full, each with its latency-optimal mapping."""
    from hwmodel.cost import call_cycles, compute_side

    def floor(lay):
        lay = lay.on(hw)
        return compute_side(hw, lay).cycles * lay.groups + call_cycles(hw, lay)
    if floor(layer) <= floor(dense_layer):
        return ""
    sparse_s = hwmodel.estimate(hw, [layer], objective="latency").seconds
    dense_s = hwmodel.estimate(hw, [dense_layer], objective="latency").seconds
    if sparse_s <= dense_s:
        return ""
    return (f"{label} priced slower than dense here ({sparse_s * 1e6:.3g} µs vs "
            f"{dense_s * 1e6:.3g} µs: decode and call costs): runs dense, as sparsify would "
            "choose")


def _other_layers(forward, hw, value_bits) -> list:
    """The ``hwmodel.Layer`` of every product between two activations (one each, named as
    ``sk.analyze`` names its rows) and of every other op kind (the calls of a kind summed into
    one layer), see the module docstring."""
    from sparsekit.model.tracing import matmul_names
    kind, act_bits = _kind_and_bits(hw, value_bits)
    act = act_bits / 8
    layers = [hwmodel.Layer(name=name, M=m.M, K=m.K, N=m.N, groups=m.groups,
                            value_bits=act_bits, activation_bits=act_bits, kind=kind,
                            op="matmul")
              for m, name in zip(forward.matmuls, matmul_names(forward.matmuls))]
    per_kind = {}
    for op in forward.ops:
        k = per_kind.setdefault(op.kind, [0, 0, 0, 0, 0])
        scale = act / op.element_bytes  # the traced dtype's bytes at the hardware's width
        for j, v in enumerate((1, op.bytes_read * scale, op.bytes_written * scale, op.flops,
                               op.elements)):
            k[j] += v
    for name, (count, read, written, flops, elements) in per_kind.items():
        per = max(1, math.ceil(flops / elements)) if elements else 1
        layers.append(hwmodel.Layer(
            name=f"ops: {name} ×{count}", M=1, K=per, N=max(1, elements), value_bits=act_bits,
            activation_bits=act_bits, kind=kind, input_bytes=max(read, act),
            output_bytes=max(written, act), weight_value_bytes=0.0,
            dense_macs=float(max(flops, 1)), effective_macs=float(flops),
            stored_macs=float(flops), compute="skip", op="other", other_op=name, calls=count))
    return layers


def as_on_host(hw, layers) -> list:
    """``layers`` as a forward pass on the host runs them: what stays in the last cache
    (``hw.memory[1]``; ``hwmodel.Layer.resident``): a layer's input and output when one
    call's input and output fit in it (the previous op just wrote the input), the weights
    between inferences when all of the model's weights and every activation one pass writes
    fit in it together (the cache keeps what was used last; mobilenet_v2 at 112², 14 MB of
    weights, runs its layers 1.5× slower in the model than alone, with their weights cached);
    everything else crosses DRAM once, as the cost model has it. And what the sparse
    kernels stream (``hwmodel.Layer.streamed``): they walk a row of X per stored value,
    untiled, so X is read from the cache level it fits in."""
    import dataclasses
    if len(hw.memory) < 2 or hw.memory[1].capacity_bytes is None:
        return list(layers)
    cache = hw.memory[1].capacity_bytes
    per_call = [(lay.input_bytes + lay.output_bytes) / (max(lay.calls, 1) if lay.op == "other"
                                                       else 1) for lay in layers]
    # A weight is still cached at the next inference only if nothing evicted it: all of the
    # weights and every activation the pass writes in between fit in the cache together.
    written = sum(lay.output_bytes for lay in layers)
    warm_weights = sum(lay.weight_bytes for lay in layers) + written <= cache
    out = []
    for lay, acts in zip(layers, per_call):
        resident = ("weights",) if warm_weights and lay.weight_bytes else ()
        if acts <= cache:
            resident += ("inputs", "outputs")
        streamed = ("inputs",) if lay.structure != "dense" and lay.op is not None else ()
        out.append(dataclasses.replace(lay, resident=resident, streamed=streamed))
    return out


@dataclass(frozen=True)
class ModelEstimate(hwmodel.Estimate):
    """An ``hwmodel.Estimate`` of a whole model, saying what it includes: ``formats`` and
    ``notes`` per layer (the format each weight layer is stored in, "-" for the others; why a
    layer runs dense when the host makes sparsify's choice), ``included`` a sentence for the
    headline."""

    formats: tuple = ()
    notes: tuple = ()
    included: str = ""

    def table(self, detail=False):
        t = super().table(detail)
        rows = []
        for r, f, n in zip(t, (*self.formats, ""), (*self.notes, "")):
            layer, rest = {"layer": r["layer"]}, {k: v for k, v in r.items() if k != "layer"}
            rows.append({**layer, "format": f or "", **rest, "note": n})
        return Table(rows, priority=("layer", "latency_s", "energy_j", "format", "note",
                                     *t.priority[1:]))

    def to_text(self, wide: bool = False) -> str:
        """The headline (with what is included) and the per-layer table with its format and
        note columns (notes as footnotes)."""
        return (self.headline(None if wide else hwmodel.table.WIDTH) + "\n"
                + self.table(detail=True).to_text(wide))

    def headline(self, width=hwmodel.table.WIDTH):
        """``hwmodel.Estimate.headline`` and a line on what the estimate includes."""
        import textwrap
        text = super().headline(width)
        if not self.included:
            return text
        extra = f"includes {self.included}"
        return text + "\n" + "\n".join(textwrap.wrap(extra, width) if width else [extra])


def _included(hw, weight, matmuls, kinds, as_run=False) -> str:
    parts = [f"{weight} weight layers" + (" (a sparsified model: each in the format it runs)"
                                          if as_run else "")]
    if matmuls:
        parts.append(f"{matmuls} activation×activation products (attention)")
    if kinds:
        parts.append(f"{kinds} other op kinds (pooling, elementwise, normalisation, "
                     "softmax...: memory traffic + FLOPs, each op a pass over memory: no "
                     "fusion)")
    c = hw.compute
    if c.call_cycles:
        fixed = "a fixed cost per call (dispatch, kernel calls) as calibrated"
        if c.dense_efficiency:
            fixed += ", dense efficiency per op (linear, conv, depthwise, matmul)"
        return ", ".join(parts + [fixed]) + "; not modelled: threads"
    return ", ".join(parts) + "; not modelled: per-call fixed costs (dispatch, threads)"


def _check_format(format):
    if isinstance(format, str) and format == "auto":
        return format
    _specs.resolve(format)          # raises on a bad name, path or string
    return format


def build_layers(model, example_input, hw, format="auto", value_bits=None,
                 activation_density=None, block=(4, 4), vector=8, index_bits=None,
                 progress=None):
    """The ``hwmodel.Layer`` of every weight layer of ``model`` and the format chosen for it:
    a list of (Layer, format label). See ``estimate`` for the arguments."""
    hw = hwmodel.load(hw)
    _check_format(format)
    counter = _Counter(trace(model, example_input), _block(block), _vector(vector), index_bits)
    return _layers(counter, hw, format, value_bits, activation_density)


def _block(block):
    from sparsekit.formats.params import check_block
    return check_block(block)


def _vector(vector):
    from sparsekit.formats.params import check_vector
    return check_vector(vector)


def estimate(model, example_input, hw, format="auto", value_bits=None, activation_density=None,
             block=(4, 4), vector=8, objective="energy", index_bits=None, batch=None,
             progress=None, min_sparsity=0.5):
    """Estimate ``model`` (its real, possibly pruned weights) on hardware ``hw``: its weight
    layers, its products between two activations and its other ops (module docstring).

    hw: a preset name (``hwmodel.presets()``), a YAML path or a ``hwmodel.Hardware``; or a
        list of them: the model is traced once and a list of Estimates returned, one per
        hardware, in order.
    format: "auto" (per layer the smallest of dense and the registered formats, in bytes), or
        any format every layer is stored in: "dense", "csr", "bsr", "vectorskip", a built-in
        spec of ``hwmodel.formats`` ("bitmap", "two-level-bitmap", ...), a ``FormatSpec``, a
        YAML file, or a short string such as "UOP-CP".
    value_bits: width of weights and activations (default: the hardware's native MAC type,
        e.g. 8 for an int8 accelerator, 32 for fp32; a FormatSpec or YAML file keeps its own
        value width for the weights).
    activation_density: share of nonzero input activations (a number, or {layer: share});
        only hardware that skips or gates zeros profits.
    block, vector: BSR block and VectorSkip length; index_bits: metadata index width of the
        registered formats (None: the smallest that fits, what the kernels read).
    objective: "energy", "latency" or "edp" for the mapping search.
    batch: inferences per forward pass (default: the first dimension of the input).
    progress: a progress bar over the layers (None: when stderr is a terminal).
    min_sparsity: on "host-cpu" with format="auto", layers less sparse stay dense (as
        ``sk.sparsify``'s option of that name).
    Returns a ``ModelEstimate`` (an ``hwmodel.Estimate`` whose table has the format and a
    note per layer, and whose headline says what is included) (``.layers``, ``.latency_s``,
    ``.energy_j``, ``.inferences_per_sec``, ``.inferences_per_sec_per_watt``, ``.table()``...).
    """
    many = isinstance(hw, (list, tuple))
    hws = [hwmodel.load(h) for h in (hw if many else [hw])]
    if not hws:
        raise ValueError("hw: an empty list of hardware")
    _check_format(format)
    block, vector = _block(block), _vector(vector)
    if isinstance(min_sparsity, bool) or not isinstance(min_sparsity, (int, float)) or \
            not 0 <= min_sparsity <= 1:
        raise ValueError(f"min_sparsity must be a number in [0, 1], got {min_sparsity!r}")
    from tqdm.auto import tqdm
    traced, forward = trace_forward_layers(model, example_input)
    counter = _Counter(traced, block, vector, index_bits)
    bar = tqdm(total=len(counter.traced) * len(hws), desc=f"estimate ({_label(format)})",
               unit="layer", delay=2, disable=not show_progress(progress))
    batch = _batch_of(example_input) if batch is None else int(batch)
    kinds = len({op.kind for op in forward.ops})
    out = []
    for h in hws:
        host = format == "auto" and h.name == HOST
        included = _included(h, len(traced), len(forward.matmuls), kinds,
                             host and converted(traced))
        chosen = _choices(counter, h, format, value_bits, activation_density, bar,
                          min_sparsity if host else None)
        layers = [layer for layer, _, _ in chosen] + _other_layers(forward, h, value_bits)
        if h.name == HOST:
            layers = as_on_host(h, layers)
        others = layers[len(chosen):]
        e = hwmodel.estimate(h, layers, objective=objective, batch=batch)
        out.append(ModelEstimate(
            e.hardware, e.objective, e.batch, e.layers, e.dynamic_only,
            formats=tuple(f for _, f, _ in chosen) + ("-",) * len(others),
            notes=tuple(n for _, _, n in chosen) + ("",) * len(others), included=included))
    bar.close()
    return out if many else out[0]


def _label(format):
    return format.name if isinstance(format, hf.FormatSpec) else str(format)


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
    _check_format(format)
    block, vector = _block(block), _vector(vector)
    dense_layers = _layers(_Counter(trace(dense_model, example_input), block, vector,
                                    index_bits), hw, "dense", value_bits, activation_density)
    sparse_layers = _layers(_Counter(trace(pruned_model, example_input), block, vector,
                                     index_bits), hw, format, value_bits, activation_density)
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


__all__ = ["estimate", "compare", "build_layers", "Comparison", "ModelEstimate", "formats"]
