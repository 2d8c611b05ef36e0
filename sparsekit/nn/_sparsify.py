"""``sk.sparsify(model, format=...)``: a copy of a (pruned) model whose Linear and Conv2d
layers run on the sparse kernels.

Converted: ``nn.Linear`` and ``nn.Conv2d`` with groups=1 (torch.nn.utils.prune'd or
torch.ao.pruning-parametrized ones included: their effective weight is packed), whose weight
sparsity is at least ``min_sparsity``, and the projections of ``nn.MultiheadAttention``: each
one is split into a ``SparseMultiheadAttention`` whose q, k, v and output projections are
separate Linears, converted by the same rules (the split is undone when none of them is).
Kept dense, with the reason in the report: grouped and depthwise convs, layers below
``min_sparsity``, weights other than float32/float64 (bfloat16, float16: the model still
runs, dense), attention with ``bias_k``/``add_zero_attn``, layers whose ``.weight`` other
code reads directly (found by one pass of ``example_input``, when given), and — with
``format="auto"`` — layers where dense is priced (or timed) fastest on this machine.

- A module used at several places is converted at every one of them (one sparse module); a
  model that is itself a Linear or Conv2d is returned converted.
- A parent that reads a converted child's ``.weight`` still works: the sparse layers build
  the dense weight on demand, with a warning (``sparsekit.nn.DenseReadWarning``). With
  ``example_input``, sparsify runs the converted model once and keeps such layers dense
  instead (the product would run dense anyway); an error in that pass is raised by sparsify,
  not left for the caller's first forward.
- Every ``nn.MaxPool2d`` the kernel runs (``sparsekit.nn.MaxPool2d.supports``) becomes a
  ``sparsekit.nn.MaxPool2d``, a faster inference max-pool with the same results (once a
  ResNet's convolutions are sparse, torch's one-thread max-pool of the stem costs as much as
  all of them); ``fast_pool=False`` keeps torch's.
- torch's fused inference paths read weights densely: in ``nn.TransformerEncoderLayer`` and
  ``nn.TransformerEncoder`` holding a converted module they are switched off
  (``activation_relu_or_gelu = 0``, the flag the layer's fused path checks and nothing else
  reads; ``use_nested_tensor = False``), so those layers take torch's ordinary path through
  their submodules.

``format="auto"`` chooses per layer between dense and the registered formats (see
``sparsekit/nn/_choose.py``): by default with the host-cpu cost model, calibrated once per
machine (one ``sk.estimate`` of the model as it will run: the estimate's choice is
sparsify's), or with ``choose="time"`` by timing every layer in every format on this machine
at the current thread count (``sk.set_num_threads``). Either way each chosen layer is packed
once, in its chosen format.
"""
from __future__ import annotations

import copy
import sys
import warnings

import torch
from torch import nn
from torch.nn.utils import parametrize

from hwmodel.table import Table
from sparsekit.formats.params import check_block, check_vector
from sparsekit.nn import _choose
from sparsekit.nn._base import DenseReadWarning, SparseModule
from sparsekit.nn._fuse import fuse_epilogues
from sparsekit.nn.attention import SparseMultiheadAttention
from sparsekit.nn.layers import FORMATS, SparseConv2d, SparseLinear
from sparsekit.nn.pool import MaxPool2d
from sparsekit.model.weights import effective_weight
from sparsekit.prune.select import select_layers
from sparsekit.model.tracing import call_model


def _base_class(module):
    cls = type(module)
    if parametrize.is_parametrized(module) and cls.__name__.startswith("Parametrized"):
        cls = cls.__bases__[0]
    return cls


def _sparse_class(module):
    cls = _base_class(module)
    if cls is nn.Linear:
        return SparseLinear
    if cls is nn.Conv2d:
        return SparseConv2d
    return None


def _convert(module, fmt, block, vector):
    return _sparse_class(module).from_dense(module, fmt, block, vector)


def _tensors(module):
    """The tensors ``module`` itself holds: parameters, buffers and tensor attributes (such
    as the ``weight`` torch.nn.utils.prune's hook computes)."""
    for t in (*module._parameters.values(), *module._buffers.values(),
              *vars(module).values()):
        if isinstance(t, torch.Tensor):
            yield t


def _copy_sharing_tensors(model):
    """A deep copy of ``model``'s modules, hooks and attributes that shares its parameters
    and pruning masks (copying ~100 MB of weights that are about to be packed would cost
    more than the rest of a sparsify); other buffers are copied, since a forward may write
    into them (a counter, a cache). Every later step replaces the shared tensors, never
    writes into them; ``_own_tensors`` then copies the ones still shared."""
    import torch.nn.utils.prune as torch_prune
    memo = {}
    for m in model.modules():
        masks = {h._tensor_name + "_mask" for h in m._forward_pre_hooks.values()
                 if isinstance(h, torch_prune.BasePruningMethod)}
        for t in _tensors(m):
            memo[id(t)] = t
        for k, t in m._buffers.items():
            if t is not None and k not in masks:
                del memo[id(t)]
    return copy.deepcopy(model, memo)


def _own_tensors(model, other) -> None:
    """Replace each tensor ``model`` shares with ``other`` by a copy (tied tensors stay
    tied), so that the converted model and the original are independent."""
    theirs = {id(t) for m in other.modules() for t in _tensors(m)}
    copies = {}

    def own(t):
        if id(t) not in copies:
            c = t.detach().clone()
            copies[id(t)] = nn.Parameter(c, t.requires_grad) if isinstance(t, nn.Parameter) \
                else c
        return copies[id(t)]

    for m in model.modules():
        for store in (m._parameters, m._buffers):
            for k, t in store.items():
                if t is not None and id(t) in theirs:
                    store[k] = own(t)
        for k, t in list(vars(m).items()):
            if isinstance(t, torch.Tensor) and id(t) in theirs:
                setattr(m, k, own(t))


def fold_masks(model) -> None:
    """Make pruning masks permanent in place (torch.nn.utils.prune's reparametrisation, and
    parametrize's, replaced by a parameter holding the masked value), so kept-dense layers
    do not recompute weight × mask on every call. New tensors replace the old ones, which
    are never written (``prune.remove`` would write the masked value into ``weight_orig``,
    a tensor ``_copy_sharing_tensors`` shares with the original model)."""
    import torch.nn.utils.prune as torch_prune
    for _, module in list(model.named_modules()):
        for key, hook in list(module._forward_pre_hooks.items()):
            if isinstance(hook, torch_prune.BasePruningMethod):
                name = hook._tensor_name
                with torch.no_grad():
                    value = hook.apply_mask(module)
                requires_grad = module._parameters[name + "_orig"].requires_grad
                del module._forward_pre_hooks[key]
                if name in vars(module):
                    delattr(module, name)
                del module._parameters[name + "_orig"], module._buffers[name + "_mask"]
                module.register_parameter(name, nn.Parameter(value, requires_grad))
        if parametrize.is_parametrized(module):
            # By hand, not parametrize.remove_parametrizations: that deletes the property
            # from the Parametrized* class, which a deep copy shares with the original model.
            names = list(module.parametrizations.keys())
            values = {}
            with torch.no_grad():
                for n in names:
                    original = getattr(module.parametrizations[n], "original", None)
                    values[n] = (getattr(module, n).detach().clone(),
                                 True if original is None else original.requires_grad)
            module.__class__ = type(module).__bases__[0]
            del module._modules["parametrizations"]
            for n, (value, requires_grad) in values.items():
                module.register_parameter(n, nn.Parameter(value, requires_grad=requires_grad))


def _bn_pairs(model, example_input) -> list:
    """``tracing.conv_bn_pairs`` of ``model``: on the first sample of a batched tensor input
    (the pairs are the graph's, not the batch's, and a CNN at batch 64 would pay for 64
    images of dense forward), else or if that fails on the whole input. (A twin on the meta
    device would skip the arithmetic, but its first call in a process imports torch's
    decompositions, sympy and torch._dynamo: about 1 s.)"""
    from sparsekit.model.tracing import conv_bn_pairs
    x = example_input
    if isinstance(x, torch.Tensor) and x.dim() > 1 and x.shape[0] > 1:
        try:
            return conv_bn_pairs(model, x[:1])
        except Exception:
            pass                # a model that needs the whole batch
    return conv_bn_pairs(model, example_input)


def fold_batchnorm(model, pairs) -> list[tuple[str, str]]:
    """Fold each eval-mode BatchNorm into the conv before it (weight scaled per output
    channel, bias shifted: zeros stay zeros) and replace it with nn.Identity. Scale and
    shift are computed in float64, the weight is scaled in its own dtype (one pass over it).
    ``pairs`` come from ``sparsekit.model.tracing.conv_bn_pairs``. Returns the pairs
    folded."""
    done = []
    for conv_name, bn_name in pairs:
        conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
        if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or bn.running_var is None \
                or bn.training or not isinstance(conv, nn.modules.conv._ConvNd) \
                or conv.transposed or not isinstance(conv.weight, nn.Parameter):
            continue
        with torch.no_grad():
            w = conv.weight
            scale = 1.0 / torch.sqrt(bn.running_var.double() + bn.eps)
            if bn.weight is not None:
                scale = scale * bn.weight.double()
            bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
            bias = (bias - bn.running_mean.double()) * scale
            if bn.bias is not None:
                bias = bias + bn.bias.double()
            shape = (-1,) + (1,) * (w.dim() - 1)
            conv.weight = nn.Parameter(w * scale.to(w.dtype).view(shape),
                                       requires_grad=w.requires_grad)
            conv.bias = nn.Parameter(bias.to(conv.weight.dtype))
        _set_child(model, bn_name, nn.Identity())
        done.append((conv_name, bn_name))
    return done


def _set_child(model, name, new):
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def _swap(model, old, new):
    """``model`` with every use of module ``old`` replaced by ``new`` (a module used at
    several places is replaced at all of them; the root itself when it is ``old``)."""
    if model is old:
        return new
    for parent in list(model.modules()):
        for key, child in parent._modules.items():
            if child is old:
                parent._modules[key] = new
    return model


def _split_attention(model):
    """Replace each nn.MultiheadAttention that can be split by a SparseMultiheadAttention
    with dense projections. Returns (model, {split: original}, {kept name: reason})."""
    split, kept = {}, {}
    for name, m in list(model.named_modules()):
        if _base_class(m) is not nn.MultiheadAttention:
            continue
        why = SparseMultiheadAttention.unsupported(m)
        if why:
            kept[name] = why
            continue
        new = SparseMultiheadAttention.from_dense(m)
        model = _swap(model, m, new)
        split[new] = m
    return model, split, kept


def _unsplit(model, split):
    """``model`` with each split attention that holds nothing sparse put back as torch's own
    module (``split``: {split: original}): torch's fused paths call its methods."""
    for attn, original in split.items():
        if not any(isinstance(c, SparseModule) for c in attn.modules()):
            model = _swap(model, attn, original)
    return model


_FUSED = ((nn.TransformerEncoderLayer, "activation_relu_or_gelu", 0),
          (nn.TransformerEncoder, "use_nested_tensor", False))


def _fused_paths(model, saved: dict) -> None:
    """Switch torch's fused transformer paths off where a module holds a sparse one (they
    read weights densely; the encoder's makes nested tensors), back on elsewhere."""
    for m in model.modules():
        for cls, attr, off in _FUSED:
            if isinstance(m, cls) and hasattr(m, attr):
                saved.setdefault((m, attr), getattr(m, attr))
                sparse = any(isinstance(c, SparseModule) for c in m.modules())
                setattr(m, attr, off if sparse else saved[(m, attr)])


def _read_densely(model, example_input) -> list:
    """The sparse modules whose ``.weight`` other code reads, from one pass of
    ``example_input`` through the converted model (an error in it is raised here)."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DenseReadWarning)
        try:
            call_model(model, example_input)
        except Exception as e:
            e.add_note("sk.sparsify: raised by the converted model on example_input; keep "
                       "the layers involved dense with exclude=")
            raise
    return [m for m in model.modules() if isinstance(m, SparseModule) and m.read_densely]


def _fast_pools(model, report):
    """``model`` with each nn.MaxPool2d that ``MaxPool2d.supports`` replaced by a
    ``sparsekit.nn.MaxPool2d`` (at every place it is used); a report row for each."""
    pools = {}
    for name, module in model.named_modules():
        if type(module) is nn.MaxPool2d and MaxPool2d.supports(module):
            pools.setdefault(module, name)
    for module, name in pools.items():
        model = _swap(model, module, MaxPool2d.from_dense(module))
        report.append({"name": name, "type": "MaxPool2d", "format": "-", "sparsity": None,
                       "bn_folded": "", "reason": "runs sparsekit.nn.MaxPool2d (a faster "
                                                  "max-pool kernel, same results)"})
    return model


def _priced(model, example_input, todo, host, **options) -> dict:
    """``_choose.by_model``'s choices for the layers ``todo`` of ``model``. Sparse layers the
    model already holds are priced as their dense twins, so that the estimate chooses for the
    others as in a dense model (an estimate of a sparsified model prices it as it runs
    instead of choosing); they are put back after."""
    held = {m: m.to_dense() for m in set(model.modules()) if isinstance(m, SparseModule)}
    for sparse, dense in held.items():
        model = _swap(model, sparse, dense)
    try:
        return _choose.by_model(model, example_input, todo, host, **options)
    finally:
        for sparse, dense in held.items():
            model = _swap(model, dense, sparse)


def sparsify(model, format="auto", *, min_sparsity=0.5, example_input=None, block=(4, 4),
             vector=8, choose="model", hw=None, candidates=FORMATS, include=None,
             exclude=None, types=None, fold_bn=True, fast_pool=True, fuse=False,
             budget_s=0.05, max_timing_batch=8, progress=None, return_report=False):
    """A converted deep copy of ``model`` (the original is untouched), in eval mode.

    format: one of ``FORMATS`` (the registered formats the sparse layers run: "csr", "bsr",
        "vectorskip"), for every eligible layer, or "auto" (per layer dense or a format, as
        ``choose`` says).
    min_sparsity: layers whose weight is less sparse stay dense.
    example_input: what the model is called with (tensor, tuple of args or dict of kwargs);
        "auto" prices or times each layer on the input it receives from it, and the
        converted model is run on it once (layers whose ``.weight`` other code reads are
        kept dense; an error is raised here). Without it, "auto" takes Linears at batch 1
        and refuses convs (their input size is unknown).
    choose: how "auto" chooses. "model" (default): the host-cpu cost model, one
        ``sk.estimate(..., "host-cpu", format="auto")`` whose per-layer choice is taken
        (the calibrated preset when ``sparsekit calibrate`` wrote one, else the shipped
        preset with an ``UncalibratedWarning``). "time": every layer timed dense and in each
        of ``candidates`` on this machine, the fastest kept (seconds per layer).
    hw: with choose="model", the host hardware to price with (a preset name, YAML path or
        ``hwmodel.Hardware`` named "host-cpu"; default: as above).
    block, vector: the BSR block and VectorSkip length.
    candidates: the formats choose="time" tries (choose="model" prices every registered
        format, as the estimate does).
    fold_bn: with ``example_input``, fold every eval-mode BatchNorm that only reads a conv's
        output into that conv (as inference engines do), saving a pass over the activations.
    fast_pool: replace each nn.MaxPool2d the kernel runs by a ``sparsekit.nn.MaxPool2d``.
    fuse: fold each ReLU and residual add that reads only a sparse layer's output into that
        layer's kernels (``sparsekit.nn._fuse``). The model is then a ``torch.fx``
        GraphModule with the same submodules (its own class and methods other than
        ``forward`` are not kept); a model torch.fx cannot trace is left unfused, with a
        warning.
    include / exclude / types: which layers may be converted (as in ``sk.prune``).
    budget_s: choose="time": timing budget per candidate and layer (a candidate 3× slower
        than the best so far on its first call is not timed further).
    max_timing_batch: choose="time" times convs on at most this many images of the example
        batch (dense and sparse convs both cost in proportion to the images).
    return_report: also return a Table of per-layer decisions: format, why, and the
        estimated ("est µs") or measured ("<format> ms") times for "auto".
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if format != "auto" and format not in FORMATS:
        raise ValueError(f"format must be 'auto' or one of {FORMATS}, got {format!r}")
    if choose not in _choose.CHOICES:
        raise ValueError(f"choose must be one of {_choose.CHOICES}, got {choose!r}")
    candidates = tuple(candidates)
    bad = [c for c in candidates if c not in FORMATS]
    if bad or not candidates:
        raise ValueError(f"candidates must be a non-empty subset of {FORMATS}, got "
                         f"{candidates!r}")
    if not 0.0 <= float(min_sparsity) <= 1.0:
        raise ValueError(f"min_sparsity must be in [0, 1], got {min_sparsity!r}")
    block, vector = check_block(block), check_vector(vector)
    by_model = format == "auto" and choose == "model"
    if by_model:
        if set(candidates) != set(FORMATS):
            raise ValueError(f"candidates={candidates!r} needs choose='time': the cost model "
                             f"prices every registered format {FORMATS}")
        host, source = _choose.check_hardware(hw)

    new = _copy_sharing_tensors(model).eval()
    fold_masks(new)
    folded = {}
    if fold_bn and example_input is not None:
        folded = dict(fold_batchnorm(new, _bn_pairs(new, example_input)))
    new, split, attention = _split_attention(new)
    try:
        layers = select_layers(new, include, exclude, types)
    except ValueError:
        if include is None and exclude is None and types is None:
            layers = []  # a model without weight layers: nothing to convert
        else:
            raise

    report, todo = [], []
    for name, module in layers:
        row = {"name": name, "type": _base_class(module).__name__, "format": "dense",
               "sparsity": None, "bn_folded": folded.get(name, ""), "reason": ""}
        report.append(row)
        if name.rpartition(".")[0] in attention:
            row["reason"] = (f"in a MultiheadAttention with "
                             f"{attention[name.rpartition('.')[0]]}: kept dense")
            continue
        if _sparse_class(module) is None:
            row["reason"] = "not a Linear or Conv2d"
            continue
        if isinstance(module, nn.Conv2d) and module.groups != 1:
            kind = "depthwise" if module.groups == module.in_channels else "grouped"
            row["reason"] = f"{kind} conv (groups={module.groups}): kept dense"
            continue
        w = effective_weight(module)
        row["sparsity"] = 1.0 - torch.count_nonzero(w).item() / w.numel() if w.numel() else 0.0
        if w.dtype not in (torch.float32, torch.float64):
            row["reason"] = (f"{w.dtype} weights: sparse layers support float32/float64, "
                             "kept dense")
            continue
        if row["sparsity"] < float(min_sparsity):
            row["reason"] = f"sparsity {row['sparsity']:.3f} < min_sparsity {min_sparsity}"
            continue
        todo.append((name, module, row))

    if progress is None:
        progress = sys.stderr.isatty() and format == "auto"
    legend, decided, shapes = {}, {}, {}
    if by_model and todo:
        decided = _priced(new, example_input, [(n, m) for n, m, _ in todo], host,
                          min_sparsity=float(min_sparsity), block=block, vector=vector,
                          progress=progress)
        legend = {"est µs": f"the layer's latency in its format, estimated on host-cpu "
                            f"({source})"}
    elif format == "auto" and todo:
        shapes = _choose.layer_shapes(new, example_input, todo)

    from tqdm.auto import tqdm
    converted = {}  # sparse module -> (the dense module it replaced, report row)
    for name, module, row in tqdm(todo, desc="sparsify", unit="layer",
                                  disable=not progress):
        if format != "auto":
            choice = format
        elif name not in (decided if by_model else shapes):
            row["reason"] = "not called by example_input: kept dense"
            continue
        elif by_model:
            choice, seconds, note = decided[name]
            row["est µs"] = float(f"{seconds * 1e6:.3g}")
            row["reason"] = note or ("the smallest format, priced no slower than dense"
                                     if choice != "dense" else "priced fastest dense")
        else:
            choice, times, sparse = _choose.by_time(
                module, shapes[name], candidates,
                lambda m, fmt: _convert(m, fmt, block, vector), budget_s, max_timing_batch)
            row.update({f"{k} ms": round(v * 1e3, 4) for k, v in times.items()})
            row["reason"] = "dense was fastest here" if choice == "dense" else \
                f"{times['dense'] / times[choice]:.2f}× faster than dense"
        if choice == "dense":
            continue
        if format != "auto" or by_model:
            sparse = _convert(module, choice, block, vector)
        row["format"] = choice
        new = _swap(new, module, sparse)
        converted[sparse] = (module, row)

    if fast_pool:
        new = _fast_pools(new, report)
    saved = {}
    new = _unsplit(new, split)
    _fused_paths(new, saved)
    if example_input is not None and converted:
        for sparse in _read_densely(new, example_input):
            module, row = converted.pop(sparse)
            new = _swap(new, sparse, module)
            row["format"] = "dense"
            row["reason"] = ("its .weight is read by other code (e.g. a parent's "
                             "F.linear(x, child.weight)): kept dense")
        new = _unsplit(new, split)
        _fused_paths(new, saved)
    _own_tensors(new, model)
    if fuse:
        new = _fuse(new, report)
    return (new, Table(report, legend=legend)) if return_report else new


def _fuse(model, report):
    """``model`` with its sparse layers' ReLUs and residual adds fused (``fuse_epilogues``),
    each layer's report row saying what; unchanged, with a warning, if it cannot be."""
    fused_model, fused = fuse_epilogues(model)
    if isinstance(fused, str):
        warnings.warn(f"sk.sparsify(fuse=True): nothing fused: {fused}", stacklevel=3)
        return model
    for row in report:
        if row["name"] in fused:
            row["reason"] = f"{row['reason']}; fused: {fused[row['name']]}".lstrip("; ")
    return fused_model

