"""``analyze_streamed``: ``sk.analyze`` of a model whose weights never all exist at once.

Why: ``sparsekit summary resnet50`` must fit in 300 MB (issue 8) and ``import torch`` alone
takes 230 MB, so resnet50's 102 MB of weights cannot be held together. The model is built on
the meta device (shapes, no values), and each module's tensors exist only while it runs.

How:

1. A pass on placeholder weights (a single zero each, ``placeholders``) finds, for each
   module, the modules whose tensors its own forward reads (``find_readers``): its own,
   mostly; MultiheadAttention also reads its ``out_proj``'s weight without calling
   ``out_proj``.
2. The traced pass (``tracing.trace_forward``) runs on the real input. Just before a module
   runs, the modules whose tensors it reads get real ones: empty on the CPU, then
   ``reset_parameters()`` (MultiheadAttention's ``_reset_parameters()``) under a seed made of
   ``seed`` and the module's name (so a draw does not depend on the order, and a module called
   twice gets the same weights twice), then the pruning asked for, on that layer alone. Once
   it has run they go back to meta.
3. As each weight product is recorded (the tracer's ``on_call``) it is counted
   (``weight_counts``) and digested (SHA-1 of its values: the totals count a weight used twice
   once, as ``analyze`` does with ``torch.equal``), and the call keeps only a meta matrix.

The values are random, as a freshly built model's are, but not the same draws: a whole-model
build draws every weight from one generator in construction order, and a model's constructor
may re-initialise (resnet's convs: kaiming normal) where ``reset_parameters`` does not. The
columns that read only shapes (shapes, MACs, weight_params, bytes_dense, notes, the ops
summary) are those of ``analyze`` on the whole model; so are the counts (nnz, sparsity,
effective MACs, CSR bytes) of unstructured or filter per-layer magnitude pruning (each layer
keeps the same number of weights whatever their values), and those of a dense model but for
the rare weight a draw makes exactly zero (a float32 draw is 0.0 about once in 2**24: 1 to 5
of resnet50's 25.5 M weights, in either build). The structure sparsities and the bytes of the
block and vector formats follow the draw.

Which models: every module holding tensors must rebuild them with ``reset_parameters()``,
and the constructor must set no value that ``reset_parameters()`` would not (a weight
initialised to zeros by the model's own code would be drawn at random here): the built-in
catalogue (``sparsekit.models.MODELS``). ``streamable`` says why a model cannot stream.

Pruning is per layer only: a global scope ranks every weight of the model together and so
needs every weight at once; for it, prune the whole model (``sk.prune.magnitude``) and use
``sk.analyze``.
"""
from __future__ import annotations

import contextlib
import hashlib
import zlib

import torch
from torch.nn.utils import parametrize
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes
from torch.utils._pytree import tree_map

from sparsekit.model._analyze import (FORMAT_NAMES, _progress_bar, check_settings, layer_names,
                                      summarise, weight_counts)
from sparsekit.model.summary import Summary
from sparsekit.model.tracing import ProductTracer, call_model, inference_pass, trace_forward
from sparsekit.model.weights import is_torch_pruned


def analyze_streamed(model, example_input, *, pruning=None, seed: int = 0, block=(4, 4),
                     vector: int = 8, value_bits: int = 32, index_bits: int | None = None,
                     formats=FORMAT_NAMES, progress=None, readers=None) -> Summary:
    """``analyze(model, example_input)`` of a model built on the meta device, holding one
    module's weights at a time (see the module docstring for how, and for which columns equal
    those of a whole-model analysis). The model is left on meta.

    pruning: None, or the keyword arguments of a per-layer ``sk.prune.magnitude`` (sparsity,
        structure, block, vector, norm, n, m, include, exclude, types), applied to each layer
        as it is built.
    seed: the seed the weights are drawn from (the same seed, the same summary).
    readers: ``find_readers(model, x)`` if at hand (from a pass on another input, such as a
        probe with one example: it does not depend on the batch); None: found here.
    The other arguments are ``analyze``'s.
    """
    settings = check_settings(model, progress, formats, block, vector, value_bits, index_bits)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    if not 0 <= seed < 2 ** 32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    reason = streamable(model)
    if reason is not None:
        raise ValueError(reason)
    pruning, pruned = _pruning_plan(model, pruning)
    if readers is None:
        readers = find_readers(model, example_input)
    counts, keys = [], []

    def on_call(call):
        counts.append(weight_counts(layer_names(tracer.calls)[-1], call, settings))
        keys.append(_weight_key(call))
        call.matrix, call.weight = call.matrix.to("meta"), call.weight.to("meta")

    tracer = ProductTracer(model, on_call)
    builder = _Builder(model, tracer, seed, pruning, pruned)
    with _progress_bar(model, progress) as bar:
        with builder.hooks(readers):
            forward = trace_forward(model, example_input, tracer)
        return summarise(model, forward, settings, counts, keys, bar=bar)


def streamable(model) -> str | None:
    """None if ``analyze_streamed`` can summarise ``model``, else why not: every tensor must be
    on the meta device, and every module holding tensors must rebuild them with
    ``reset_parameters()`` and carry no pruning."""
    if not isinstance(model, torch.nn.Module):
        return f"model must be a torch.nn.Module, got {type(model).__name__}"
    seen = {}
    for name, m in model.named_modules():
        own = [*m.parameters(recurse=False), *m.buffers(recurse=False)]
        if not own:
            continue
        where = f"module {name or '(model)'!r} ({type(m).__name__})"
        if any(t.device.type != "meta" for t in own):
            return (f"{where} holds tensors off the meta device: analyze_streamed builds the "
                    "weights itself; build the model under torch.device('meta')")
        if _reset_of(m) is None:
            return (f"{where} holds tensors but has no reset_parameters(): its values cannot "
                    "be rebuilt one module at a time")
        if is_torch_pruned(m, "weight") or parametrize.is_parametrized(m):
            return f"{where} is pruned or parametrized: analyze it whole (sk.analyze)"
        for t in own:
            if seen.setdefault(id(t), name) != name:
                return (f"{where} shares a tensor with module {seen[id(t)]!r}: a shared "
                        "weight cannot be rebuilt by one module alone")
    return None


def _reset_of(module):
    """The method that draws a module's own tensors afresh (MultiheadAttention names it
    ``_reset_parameters``), or None."""
    for attr in ("reset_parameters", "_reset_parameters"):
        fn = getattr(module, attr, None)
        if callable(fn):
            return fn
    return None


def _pruning_plan(model, pruning):
    """(magnitude keyword arguments for ``compute_masks``, names of the layers to prune),
    checked now, before any work: a bad request raises here."""
    if pruning is None:
        return None, set()
    if not isinstance(pruning, dict):
        raise TypeError(f"pruning must be a dict of sk.prune.magnitude arguments or None, "
                        f"got {type(pruning).__name__}")
    from sparsekit.prune.apply import compute_masks
    from sparsekit.prune.select import select_layers
    pruning = dict(pruning)
    scope = pruning.pop("scope", "layer")
    if scope != "layer":
        raise ValueError(f"pruning scope must be 'layer' when the weights are built one module "
                         f"at a time, got {scope!r}: a global scope ranks every weight at "
                         "once; prune the whole model (sk.prune.magnitude) and use sk.analyze")
    select = {k: pruning.pop(k) for k in ("include", "exclude", "types") if k in pruning}
    compute_masks([], **pruning)   # checks structure, sparsity, block, vector, norm, n, m
    names = {name for name, _ in select_layers(model, **select)}
    return pruning, names


class _Reads(TorchDispatchMode):
    """A pass that records, for each module, the modules whose tensors its own
    forward reads (in the order first read)."""

    def __init__(self, model):
        super().__init__()
        self.owner = {}
        for m in model.modules():
            for t in (*m.parameters(recurse=False), *m.buffers(recurse=False)):
                self.owner.setdefault(id(t), (t, m))
        self.stack: list = []
        self.reads: dict = {}

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False   # as ProductTracer: no torch._dynamo import (seconds) for a plain mode

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        def read(a):
            entry = self.owner.get(id(a)) if isinstance(a, torch.Tensor) else None
            if entry is None or entry[0] is not a:
                return a
            if self.stack:
                owners = self.reads.setdefault(self.stack[-1], [])
                if not any(o is entry[1] for o in owners):
                    owners.append(entry[1])
            # The placeholder as zeros in memory for this op (and what derives from it): BLAS
            # does not take a stride-0 matrix, its fallback loop takes seconds, and copying
            # the placeholder (``contiguous``) reads it element by element.
            return torch.zeros(a.shape, dtype=a.dtype)

        return func(*tree_map(read, args), **tree_map(read, kwargs or {}))


def find_readers(model, example_input) -> dict:
    """{module: [modules whose tensors its forward reads]}, from a pass on placeholders with
    the traced pass's settings (eval mode, no attention fast path). Errors are the model's
    own on that input: a pass that fails here fails the same way with real weights."""

    def pre(module, inputs):
        reads.stack.append(module)

    def post(module, inputs, output):
        reads.stack.pop()

    with inference_pass(model, pre, post), placeholders(model):
        reads = _Reads(model)
        with reads:
            call_model(model, example_input)
    return reads.reads


@contextlib.contextmanager
def placeholders(model):
    """Each meta tensor of ``model`` replaced, for the duration, by a CPU tensor of its shape
    and dtype that holds a single zero (stride 0): the model runs on real inputs, with the
    shapes and the errors of real weights, and allocates no weight (an op that wants a
    contiguous weight copies it, one at a time). Why not run on meta: torch's meta kernels of
    batch norm are Python decompositions whose first call imports torch._dynamo (1 s, 76 MB)."""
    swapped = []
    try:
        for m in model.modules():
            for store in (m._parameters, m._buffers):
                for name, t in store.items():
                    if t is not None and t.device.type == "meta":
                        swapped.append((store, name, t))
                        store[name] = torch.zeros((), dtype=t.dtype).expand(t.shape)
        yield model
    finally:
        for store, name, t in swapped:
            store[name] = t


class _Builder:
    """Gives modules real tensors while a module that reads them runs, and takes them back
    after (counting, so that nested readers share them)."""

    def __init__(self, model, tracer, seed, pruning, pruned):
        self.names = {m: n for n, m in model.named_modules()}
        self.tracer, self.seed, self.pruning, self.pruned = tracer, seed, pruning, pruned
        self.live: dict = {}
        self.grad: dict = {}   # pruned module: its weight's requires_grad before

    @contextlib.contextmanager
    def hooks(self, readers):
        from torch.nn.modules.module import (register_module_forward_hook,
                                             register_module_forward_pre_hook)

        def pre(module, inputs):
            for owner in readers.get(module, ()):
                if owner not in self.live:
                    self.build(owner)
                self.live[owner] = self.live.get(owner, 0) + 1

        def post(module, inputs, output):
            for owner in readers.get(module, ()):
                self.live[owner] -= 1
                if not self.live[owner]:
                    del self.live[owner]
                    self.release(owner)

        handles = [register_module_forward_pre_hook(pre), register_module_forward_hook(post)]
        try:
            yield
        finally:
            for h in handles:
                h.remove()
            for owner in list(self.live):   # a pass that failed half-way
                self.release(owner)
            self.live.clear()

    def build(self, module):
        """Real tensors for ``module``: drawn by its reset under its own seed, then pruned."""
        name = self.names[module]
        with _disable_current_modes(), torch.random.fork_rng(devices=[]):
            _empty_on(module, "cpu")
            # the CPU generator alone (torch.manual_seed also seeds every accelerator type,
            # formatting a stack trace for each: 1 ms a module)
            torch.default_generator.manual_seed(self.seed << 32 | zlib.crc32(name.encode()))
            with _init_skips_meta():
                _reset_of(module)()
            if name in self.pruned:
                from sparsekit.prune.apply import compute_masks
                mask = compute_masks([(name, module)], **self.pruning)[name]
                self.grad[module] = module.weight.requires_grad
                # As torch's pruning leaves it: orig * mask, a tensor needing no gradient
                # (aten folds a linear on a 3-D input into one mm only for a weight that
                # needs one: the rows would say mm here and bmm for the pruned whole model).
                module.weight.mul_(mask.to(module.weight.dtype)).requires_grad_(False)
        prefix = f"{name}." if name else ""
        for n, p in module.named_parameters(recurse=False):
            self.tracer.register(p, prefix + n, True)
        for n, b in module.named_buffers(recurse=False):
            self.tracer.register(b, prefix + n, False)

    def release(self, module):
        with _disable_current_modes():
            _empty_on(module, "meta")
        if module in self.grad:
            module.weight.requires_grad_(self.grad.pop(module))
        self.tracer.forget(self.names[module])


def _empty_on(module, device):
    """``module.to_empty(device=device, recurse=False)``, through ``torch.empty``: to_empty's
    ``empty_like`` of a meta tensor runs torch._refs, whose first call imports sympy (0.4 s)."""
    for store in (module._parameters, module._buffers):
        for name, t in store.items():
            if t is not None:
                new = torch.empty(t.shape, dtype=t.dtype, device=device)
                store[name] = torch.nn.Parameter(new, t.requires_grad) \
                    if isinstance(t, torch.nn.Parameter) else new


@contextlib.contextmanager
def _init_skips_meta():
    """torch.nn.init's functions leave meta tensors alone while a module draws its own: a
    reset may touch a child's tensor (MultiheadAttention zeroes ``out_proj.bias``), which is
    built, or not, by its own reset; initialising a meta tensor would import torch._dynamo."""
    import torch.nn.init as init
    saved = {n: getattr(init, n) for n in dir(init) if n.endswith("_") and not n.startswith("_")}

    def skipping(fn):
        def init_fn(tensor, *args, **kwargs):
            return tensor if tensor.device.type == "meta" else fn(tensor, *args, **kwargs)
        return init_fn

    try:
        for n, fn in saved.items():
            setattr(init, n, skipping(fn))
        yield
    finally:
        for n, fn in saved.items():
            setattr(init, n, fn)


def _weight_key(call) -> tuple:
    """Equal for two calls of the same weight: its source, shape, dtype and a digest of its
    values (what ``analyze`` compares with ``torch.equal`` while it holds every matrix)."""
    m = call.matrix.detach().contiguous()
    digest = hashlib.sha1(m.reshape(-1).view(torch.uint8).numpy()).digest()
    return call.source.module, call.source.attr, tuple(m.shape), str(m.dtype), digest
