"""Find every matrix product a model runs with one of its own weights, by running it once.

Why a TorchDispatchMode, and not forward hooks or torch.fx:

- hooks only see modules; a weight used in a functional call (``F.linear(x, self.w)``,
  ``x @ self.proj``) or by a module calling another module's weight is invisible to them;
- torch.fx needs a symbolically traceable model (no data-dependent control flow) and stops
  at leaf modules;
- a dispatch mode sees the aten ops the model really runs (``aten.convolution``, ``aten.mm``,
  ``aten.addmm``, ``aten.bmm``, ``aten.mv``), whatever Python produced them, with their real
  shapes, so MACs are exact. Tensor identity survives to the dispatch level (the Python
  object of a Parameter is the object the op receives), so each operand can be traced back to
  a named parameter.

A weight rarely reaches the product as the parameter itself: ``nn.Linear`` passes ``W.t()``,
``torch.nn.utils.prune`` multiplies ``weight_orig`` by ``weight_mask`` in a pre-hook, a
``torch.ao.pruning`` parametrization multiplies ``original`` by its mask on access. So the
mode tracks provenance: the output of any op whose tensor inputs all derive from parameters
or buffers (0-d tensors aside) derives from them too. An op with an activation among its
inputs never propagates provenance, so activations are never mistaken for weights. The tensor
recorded for a layer is the one the product received: the effective weight, masks applied.

The same pass records the rest of what the forward pass does, for the estimate and the
summary: matrix products between two activations (attention's q·kᵀ and attn·v: ``mm``/``bmm``
from ``torch.matmul``, ``@``, ``bmm``, ``einsum``, and the fused
``scaled_dot_product_attention`` ops, split into their two products) as ``MatmulCall``, and
every other op that reads an activation and writes a new tensor (pooling, elementwise,
normalisation, softmax, im2col, copies) as ``OpCall`` with the bytes it reads and writes and
an estimate of its FLOPs (``op_flops``). Views (an output aliasing an input, nothing written)
and ops on weights alone (a pruning mask applied, ``W.t()``) are left out.

Global module hooks run alongside, only to name layers and report their input/output shapes
as the module saw them. sparsekit.nn's sparse layers compute in Numba, out of the mode's
sight; they report their products themselves (``record_sparse_product``).
"""
from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass, field

import torch
from torch.nn.utils.prune import BasePruningMethod
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

aten = torch.ops.aten

_PRODUCTS = {aten.mm.default: "mm", aten.addmm.default: "addmm", aten.bmm.default: "bmm",
             aten.baddbmm.default: "baddbmm", aten.mv.default: "mv",
             aten.addmv.default: "addmv", aten.convolution.default: "convolution"}


@dataclass
class Source:
    """Where a weight tensor comes from: the module that owns it and the attribute name."""

    module: str  # dotted module name ("" for the root module)
    attr: str  # "weight", or the parameter's own name
    is_parameter: bool


@dataclass
class ProductCall:
    """One matrix product that used a weight of the model."""

    source: Source
    op: str  # "linear", "matmul", "bmm", "conv2d", "conv_transpose2d", ...
    matrix: torch.Tensor  # the effective weight as the M×K matrix of the GEMM view (detached)
    weight: torch.Tensor  # the effective weight, dim 0 output and dim 1 input (detached)
    M: int
    K: int
    N: int
    groups: int
    input_shape: tuple
    output_shape: tuple
    module_stack: tuple = field(default_factory=tuple)
    weight_shape: tuple = ()  # the shape of the tensor the product received
    seq: int = 0  # position among the ops of the pass

    @property
    def macs(self) -> int:
        return self.M * self.K * self.N


@dataclass
class MatmulCall:
    """A matrix product between two activations: ``groups`` independent GEMMs
    A (M/groups × K) @ B (K × N), stacked as A (M × K), the DESIGN.md GEMM view with A in the
    weight's place. No weight of the model takes part."""

    op: str  # "mm", "bmm", "sdpa.qk" (q·kᵀ of a fused attention), "sdpa.av" (attn·v)
    M: int
    K: int
    N: int
    groups: int
    input_shape: tuple  # the shape of B (A's is (M/groups, K) per group)
    output_shape: tuple
    module_stack: tuple = ()
    seq: int = 0  # position among the ops of the pass

    @property
    def macs(self) -> int:
        return self.M * self.K * self.N


@dataclass
class OpCall:
    """Any other op of the pass that reads an activation: its kind (the aten name, e.g.
    "relu", "add", "max_pool2d_with_indices", "native_layer_norm", "softmax", "im2col"), the
    bytes of its tensor inputs and outputs, and its FLOPs (``op_flops``)."""

    kind: str
    bytes_read: int
    bytes_written: int
    flops: int
    elements: int  # elements of its largest tensor operand
    module_stack: tuple = ()
    seq: int = 0
    element_bytes: int = 4  # bytes per element of that operand (the traced dtype's)


# FLOPs per element of the largest operand, by the start of an op's name (the rest: 1 per
# output element). Rough operation counts of the usual implementations: softmax max, subtract,
# exp, sum, divide; a layer norm's mean, variance, normalise, scale and shift; an eval-mode
# batch norm's scale and shift; a transcendental activation as a few FLOPs. Copies, concats,
# im2col, padding and a strided conv's phase split move data only.
_FLOPS_PER_ELEMENT = (("softmax", 5), ("log_softmax", 5), ("native_layer_norm", 7),
                      ("native_group_norm", 7), ("native_batch_norm", 2),
                      ("batch_norm", 2), ("gelu", 8), ("silu", 4), ("sigmoid", 4),
                      ("tanh", 4), ("exp", 4), ("erf", 4), ("clone", 0), ("copy", 0),
                      ("to_copy", 0), ("cat", 0), ("stack", 0), ("im2col", 0), ("phases", 0),
                      ("col2im", 0), ("constant_pad", 0), ("index", 0), ("embedding", 0))


def op_flops(kind: str, inputs, outputs, window: int | None = None) -> int:
    """Estimated FLOPs of an op: a pooling op one per window element of each output (``window``
    elements; adaptive pools one per input element), reductions one per input element, the
    kinds in ``_FLOPS_PER_ELEMENT`` that many per element of the largest operand, anything
    else one per element of its largest output."""
    n_in = max((t.numel() for t in inputs), default=0)
    n_out = max((t.numel() for t in outputs), default=0)  # not a pool's indices, a norm's stats
    if "pool" in kind:
        return n_out * window if window else n_in
    if kind.startswith(("sum", "mean", "amax", "amin", "var", "std", "norm")):
        return n_in
    for prefix, per in _FLOPS_PER_ELEMENT:
        if kind.startswith(prefix):
            return per * max(n_in, n_out)
    return n_out


def _sdpa(func) -> bool:
    """One of the fused scaled_dot_product_attention kernels (flash, efficient, cudnn...): q,
    k and v are its first three arguments. The math fallback decomposes into bmm: not these."""
    name = func._schema.name
    return name.startswith("aten::_scaled_dot_product_") and "math" not in name


def call_model(model, example_input):
    """model(example_input): a tensor, a tuple/list of positional arguments, or a dict of
    keyword arguments."""
    if isinstance(example_input, dict):
        return model(**example_input)
    if isinstance(example_input, (tuple, list)):
        return model(*example_input)
    return model(example_input)

def owner_of(param_name: str) -> tuple[str, str]:
    """(module name, attribute) of a named parameter or buffer, seeing through pruning:
    ``a.b.weight_orig`` / ``a.b.weight_mask`` (torch.nn.utils.prune) and
    ``a.b.parametrizations.weight.original`` (parametrize, torch.ao.pruning) are ``a.b``'s
    ``weight``."""
    m = re.fullmatch(r"(?:(.*)\.)?parametrizations\.([^.]+)\.(?:original\d*|\d+\..*)",
                     param_name)
    if m:
        return m.group(1) or "", m.group(2)
    module, _, attr = param_name.rpartition(".")
    for suffix in ("_orig", "_mask"):
        if attr.endswith(suffix) and len(attr) > len(suffix):
            return module, attr[: -len(suffix)]
    return module, attr


class ProductTracer(TorchDispatchMode):
    """Records every matrix product whose operand derives from a model parameter/buffer."""

    def __init__(self, model: torch.nn.Module, on_call=None):
        super().__init__()
        self.on_call = on_call  # called with each ProductCall as soon as it is recorded
        self.calls: list[ProductCall] = []
        self.matmuls: list[MatmulCall] = []
        self.ops: list[OpCall] = []
        self._seq = 0
        self._origin: dict[int, tuple[torch.Tensor, Source]] = {}
        self.module_stack: list[str] = []
        for name, p in model.named_parameters(remove_duplicate=False):
            self._register(p, name, True)
        for name, b in model.named_buffers(remove_duplicate=False):
            self._register(b, name, False)
        for name, m in model.named_modules(remove_duplicate=False):
            # torch.nn.utils.prune's effective weight (orig * mask), computed before the pass
            # and again by a pre-hook only if the module itself is called: MultiheadAttention
            # reads its out_proj's weight without calling out_proj.
            for hook in m._forward_pre_hooks.values():
                attr = getattr(hook, "_tensor_name", None)
                if isinstance(hook, BasePruningMethod) and \
                        isinstance(getattr(m, attr, None), torch.Tensor):
                    self._register(getattr(m, attr), f"{name}.{attr}" if name else attr, True)

    def _register(self, t, name, is_parameter):
        if id(t) in self._origin and self._origin[id(t)][1].is_parameter:
            return  # shared tensor: the first parameter name wins
        module, attr = owner_of(name)
        self._origin[id(t)] = (t, Source(module, attr, is_parameter))

    def register(self, t: torch.Tensor, name: str, is_parameter: bool) -> None:
        """Treat ``t`` as the model's parameter (or buffer) ``name`` from now on: for a
        tensor created during the pass (a weight materialised just before its module runs)."""
        self._register(t, name, is_parameter)

    def forget(self, module: str) -> None:
        """Drop the tracer's references to module ``module``'s tensors that hold data (those
        registered and those derived from them, such as ``W.t()``), so that they can be freed
        once the module has run; its meta tensors (no data) stay known."""
        for k in [k for k, (t, src) in self._origin.items()
                  if src.module == module and t.device.type != "meta"]:
            del self._origin[k]

    def source(self, t) -> Source | None:
        entry = self._origin.get(id(t)) if isinstance(t, torch.Tensor) else None
        return entry[1] if entry is not None and entry[0] is t else None

    # -- the mode ------------------------------------------------------------------------
    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """False: keep ``__torch_dispatch__`` a plain method. torch (2.5+) otherwise wraps a
        mode's ``__torch_dispatch__`` in ``torch._disable_dynamo``, whose first call imports
        ``torch._dynamo``: about 1-5 s, most of a first ``sk.estimate``. Nothing here runs
        under ``torch.compile``, so there is no Dynamo to keep out."""
        return False

    def __enter__(self):
        # Under torch.inference_mode, torch runs composite ops whole (aten.conv2d,
        # aten.linear, aten.batch_norm) instead of the aten.convolution / aten.addmm /
        # native_batch_norm they decompose into, which is what the tracer reads: the pass
        # runs with inference mode off, and autograd off (an input made under inference
        # mode cannot enter a graph autograd records).
        self._modes = contextlib.ExitStack()
        self._modes.enter_context(torch.inference_mode(False))
        self._modes.enter_context(torch.no_grad())
        _ACTIVE.append(self)
        return super().__enter__()

    def __exit__(self, *exc):
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        try:
            return super().__exit__(*exc)
        finally:
            self._modes.close()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self._seq += 1
        kind = _PRODUCTS.get(func)
        if kind is not None:
            self._record(kind, args, out)
        elif _sdpa(func):
            self._attention(args, out)
        elif not self._propagate(args, kwargs, out):
            self._op(func, args, kwargs, out)
        return out

    def _propagate(self, args, kwargs, out) -> bool:
        """Mark the outputs of an op on weights alone as weights; True if the op is one (or
        has no tensor operand at all): no activation takes part."""
        found, tensors = None, False
        for a in tree_flatten((args, kwargs))[0]:
            if not isinstance(a, torch.Tensor):
                continue
            tensors = True
            src = self.source(a)
            if src is None:
                if a.dim() > 0:
                    return False  # an activation (or a fresh tensor) takes part: not a weight
                continue
            if found is None or (src.is_parameter and not found.is_parameter):
                found = src
        if found is None:
            return not tensors
        for o in tree_flatten(out)[0]:
            if isinstance(o, torch.Tensor) and self.source(o) is None:
                self._origin[id(o)] = (o, found)
        return True

    # -- everything else -----------------------------------------------------------------
    def _op(self, func, args, kwargs, out):
        """Record an op that reads an activation, unless it is a view (its output aliases an
        input and nothing is written) or leaves no tensor."""
        schema = func._schema
        writes = any(a.alias_info is not None and a.alias_info.is_write
                     for a in schema.arguments)
        if not writes and any(r.alias_info is not None for r in schema.returns):
            return  # a view: no data moves
        inputs = _distinct(a for a in tree_flatten((args, kwargs))[0]
                           if isinstance(a, torch.Tensor))
        outputs = _distinct(o for o in tree_flatten(out)[0] if isinstance(o, torch.Tensor))
        if not outputs:
            return
        if not writes and all(_shares_storage(o, inputs) for o in outputs):
            return  # a view the schema does not mark as one (_unsafe_view): no data moves
        kind = schema.name.split("::")[-1].strip("_")  # relu_ (in place) is a relu too
        window = None
        if "pool" in kind and not kind.startswith("adaptive") and len(args) > 1 \
                and isinstance(args[1], (list, tuple)):
            window = math.prod(int(k) for k in args[1])
        largest = max((*inputs, *outputs), key=lambda t: t.numel())
        self.ops.append(OpCall(
            kind, sum(_nbytes(t) for t in inputs), sum(_nbytes(t) for t in outputs),
            op_flops(kind, inputs, outputs, window), largest.numel(),
            tuple(self.module_stack), self._seq, largest.element_size()))

    def _attention(self, args, out):
        """A fused attention kernel as its two products: q·kᵀ (L × E by E × S per batch and
        head) and attn·v (L × S by S × Ev); its softmax as an op."""
        q, k, v = args[0], args[1], args[2]
        batch = math.prod(_broadcast(tuple(q.shape[:-2]), tuple(k.shape[:-2])))
        (L, E), S, Ev = q.shape[-2:], k.shape[-2], v.shape[-1]
        stack = tuple(self.module_stack)
        o = tree_flatten(out)[0][0]
        self.matmuls.append(MatmulCall("sdpa.qk", batch * L, E, S, batch, tuple(k.shape),
                                       (*o.shape[:-1], S), stack, self._seq))
        self.matmuls.append(MatmulCall("sdpa.av", batch * L, S, Ev, batch, tuple(v.shape),
                                       tuple(o.shape), stack, self._seq))
        n = batch * L * S  # the scores, as the unfused path reads and writes them
        size = q.element_size()
        self.ops.append(OpCall("softmax (in fused attention)", n * size, n * size, 5 * n, n,
                               stack, self._seq, size))

    # -- products ------------------------------------------------------------------------
    def _record(self, kind, args, out):
        if kind == "convolution":
            call = self._conv(args, out)
        else:
            call = self._matmul(kind, args, out)
        if call is not None:
            call.module_stack, call.seq = tuple(self.module_stack), self._seq
            self._add(call)
        elif kind != "convolution":
            self._activation_product(kind, args, out)

    def _add(self, call):
        self.calls.append(call)
        if self.on_call is not None:
            self.on_call(call)

    def _activation_product(self, kind, args, out):
        """Record mm/bmm (and their add/mv forms) between two activations."""
        if kind in ("addmm", "baddbmm", "addmv"):
            args = args[1:]
        a, b = args[0], args[1]
        if self.source(a) is not None or self.source(b) is not None:
            return  # a weight product (recorded) or weights alone
        if kind in ("mm", "addmm"):
            m, k, n, groups = a.shape[0], a.shape[1], b.shape[1], 1
        elif kind in ("mv", "addmv"):
            m, k, n, groups = a.shape[0], a.shape[1], 1, 1
        else:
            groups = a.shape[0]
            m, k, n = groups * a.shape[1], a.shape[2], b.shape[2]
        name = {"addmm": "mm", "baddbmm": "bmm", "addmv": "mv"}.get(kind, kind)
        self.matmuls.append(MatmulCall(name, int(m), int(k), int(n), int(groups), tuple(b.shape),
                                       tuple(out.shape), tuple(self.module_stack), self._seq))

    def _conv(self, args, out):
        x, w = args[0], args[1]
        src = self.source(w)
        if src is None or self.source(x) is not None:
            return None
        transposed, groups = bool(args[6]), int(args[8])
        spatial = tuple(w.shape[2:])
        nd = len(spatial)
        w_eff = _copy(w)
        if not transposed:
            # Conv: each of the g groups is a (C_out/g × C_in/g·k) GEMM; stacked, one
            # C_out × (C_in/g·k) matrix. N = batch · output positions.
            m, k = w.shape[0], math.prod(w.shape[1:])
            matrix = w_eff.reshape(m, k)
            n = out.shape[0] * math.prod(out.shape[2:]) if out.dim() == nd + 2 else \
                math.prod(out.shape[1:])
            op = f"conv{nd}d"
        else:
            # Transposed conv: per group a (C_out/g·k × C_in/g) GEMM on the input positions
            # (col2im scatters its columns); the g of them stacked give M = C_out·k.
            cin, cout_g = w.shape[0], w.shape[1]
            kk = math.prod(spatial)
            per = w_eff.reshape(groups, cin // groups, cout_g * kk).transpose(1, 2)
            matrix = per.reshape(groups * cout_g * kk, cin // groups)
            m, k = matrix.shape
            n = x.shape[0] * math.prod(x.shape[2:]) if x.dim() == nd + 2 else \
                math.prod(x.shape[1:])
            op = f"conv_transpose{nd}d"
            w_eff = w_eff.transpose(0, 1)  # (C_out/g, C_in, k...): dim 1 is the input
        return ProductCall(src, op, matrix, w_eff, int(m), int(k), int(n), groups,
                           tuple(x.shape), tuple(out.shape), weight_shape=tuple(w.shape))

    def _matmul(self, kind, args, out):
        if kind in ("addmm", "baddbmm", "addmv"):
            args = args[1:]  # drop the added term (a bias): not a product operand
        a, b = args[0], args[1]
        sa, sb = self.source(a), self.source(b)
        if (sa is None) == (sb is None):
            return None  # two activations (attention), or two weights (no activation)
        if kind in ("mm", "addmm"):
            if sb is not None:  # x (N×K) @ B (K×M): B = Wᵀ, a transposed view for F.linear
                linear = b.dim() == 2 and b.stride(0) == 1 and not b.is_contiguous()
                matrix, n, src, x = _copy(b).t(), a.shape[0], sb, a
                op = "linear" if linear else "matmul"
                shape = tuple(matrix.shape) if linear else tuple(b.shape)
            else:  # W (M×K) @ x (K×N)
                matrix, n, src, x, op = _copy(a), b.shape[1], sa, b, "matmul"
                shape = tuple(a.shape)
            weight = matrix
        elif kind in ("mv", "addmv"):
            if sa is None:
                return None  # x @ v with a weight vector: not a weight matrix
            matrix, n, src, x, op = _copy(a), 1, sa, b, "matvec"
            shape = tuple(a.shape)
            weight = matrix
        else:  # bmm / baddbmm: (B×n×k) @ (B×k×m)
            w, x = (b, a) if sb is not None else (a, b)
            src = sb or sa
            per = _copy(w)
            if sb is not None:
                per = per.transpose(1, 2)  # each batch entry as M×K
            shared = w.stride(0) == 0  # one weight broadcast over the batch
            if shared:
                matrix = per[0]
                n = x.shape[0] * (x.shape[1] if sb is not None else x.shape[2])
            else:
                matrix = per.reshape(-1, per.shape[2])  # the B matrices stacked
                n = x.shape[1] if sb is not None else x.shape[2]
            op, weight, shape = "bmm", matrix, tuple(w.shape)
        m, k = matrix.shape
        return ProductCall(src, op, matrix.contiguous(), weight, int(m), int(k), int(n), 1,
                           tuple(x.shape), tuple(out.shape), weight_shape=shape)


_ACTIVE: list[ProductTracer] = []


def record_sparse_product(module, op, weight, M, K, N, input_shape, output_shape):
    """Called by sparsekit.nn's layers, whose products run in Numba where no dispatch mode
    sees them: records the product with the tracer in force (if any), so a sparsified model
    analyzes like its dense original. ``weight`` is the dense weight (dim 0 output)."""
    if not _ACTIVE:
        return
    tracer = _ACTIVE[-1]
    name = tracer.module_stack[-1] if tracer.module_stack else ""
    matrix = weight.reshape(weight.shape[0], -1)
    tracer._add(ProductCall(Source(name, "weight", False), op, matrix, weight,
                            int(M), int(K), int(N), 1, tuple(input_shape),
                            tuple(output_shape), tuple(tracer.module_stack),
                            weight_shape=tuple(weight.shape), seq=tracer._seq))


def record_op(kind, inputs, outputs, window=None):
    """Called by sparsekit.nn's other Numba-backed modules (``MaxPool2d``), which no dispatch
    mode sees: records the op, as ``ProductTracer._op`` would record torch's, with the tracer
    in force (if any)."""
    if not _ACTIVE:
        return
    tracer = _ACTIVE[-1]
    largest = max((*inputs, *outputs), key=lambda t: t.numel())
    tracer.ops.append(OpCall(kind, sum(_nbytes(t) for t in inputs),
                             sum(_nbytes(t) for t in outputs),
                             op_flops(kind, inputs, outputs, window), largest.numel(),
                             tuple(tracer.module_stack), tracer._seq, largest.element_size()))


def matmul_names(matmuls) -> list:
    """The row name of each activation product: its innermost module (or "(model)") and op,
    "layers.0.self_attn/sdpa.qk"; "#2", "#3"... for later ones of the same module and op."""
    names, seen = [], {}
    for m in matmuls:
        name = f"{m.module_stack[-1] if m.module_stack and m.module_stack[-1] else '(model)'}" \
               f"/{m.op}"
        seen[name] = seen.get(name, 0) + 1
        names.append(f"{name}#{seen[name]}" if seen[name] > 1 else name)
    return names


def _broadcast(a: tuple, b: tuple) -> tuple:
    """The broadcast of two shapes (``torch.broadcast_shapes``, whose first call imports
    sympy: 0.5 s and tens of MB)."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    return tuple(y if x == 1 else x for x, y in zip(a, b))


def _shares_storage(t: torch.Tensor, others) -> bool:
    """Whether ``t`` lies in the storage of one of ``others``."""
    try:
        ptr = t.untyped_storage().data_ptr()
        return any(o.untyped_storage().data_ptr() == ptr for o in others)
    except (RuntimeError, NotImplementedError):   # tensors without storage (meta, sparse)
        return False


def _distinct(tensors) -> list:
    seen, out = set(), []
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def _copy(t: torch.Tensor) -> torch.Tensor:
    """A tensor seen by the mode, detached but not copied: a parameter's storage is shared
    (cloning every weight cost resnet50 0.17 s and 100 MB per trace). The callers read the
    values before they return; a model that changes a weight in place later in the same
    forward pass would show the changed values."""
    return t.detach()


@dataclass
class Forward:
    """What one forward pass did: the weight products (``calls``), the products between two
    activations (``matmuls``), every other op reading an activation (``ops``), each in call
    order, and the model's output."""

    calls: list
    matmuls: list
    ops: list
    output: object


def trace_products(model: torch.nn.Module, example_input) -> tuple[list[ProductCall], object]:
    """Run ``model`` once on ``example_input`` (a tensor, a tuple of positional arguments or a
    dict of keyword arguments) under no_grad and eval mode (restored afterwards, so BatchNorm
    statistics are not updated) and return the products that used its weights, in call order,
    with the model's output."""
    f = trace_forward(model, example_input)
    return f.calls, f.output


@contextlib.contextmanager
def inference_pass(model: torch.nn.Module, pre, post):
    """The settings of a traced pass, for its duration: ``model`` in eval mode (each module's
    own flag restored afterwards, so BatchNorm statistics are not updated), the attention
    fast path off, and ``pre(module, inputs)`` / ``post(module, inputs, output)`` called
    around every module's forward."""
    from torch.nn.modules.module import (register_module_forward_hook,
                                         register_module_forward_pre_hook)
    modes = {m: m.training for m in model.modules()}
    # MultiheadAttention / TransformerEncoderLayer have eval-mode "fast paths": one fused aten
    # op hiding their projections. Off while tracing, so each projection is its own product.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    handles = [register_module_forward_pre_hook(pre), register_module_forward_hook(post)]
    try:
        model.eval()
        with torch.no_grad():
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training   # not m.train(): it would reset the children it reaches


def trace_forward(model: torch.nn.Module, example_input, tracer=None) -> Forward:
    """``trace_products``'s pass, returning everything it saw (``Forward``). ``tracer``: a
    ``ProductTracer`` of ``model`` built by the caller (one with ``on_call``, say); by default
    a new one."""
    tracer = ProductTracer(model) if tracer is None else tracer
    names = {id(m): n for n, m in model.named_modules(remove_duplicate=False)}
    shapes: dict[str, list] = {}

    def pre(mod, inputs):
        tracer.module_stack.append(names.get(id(mod), "?"))

    def post(mod, inputs, output):
        if tracer.module_stack:
            tracer.module_stack.pop()
        name = names.get(id(mod))
        if name is not None:
            shapes.setdefault(name, []).append((_shape_of(inputs), _shape_of(output)))

    with inference_pass(model, pre, post), tracer:
        output = call_model(model, example_input)
    _module_shapes(tracer.calls, shapes)
    return Forward(tracer.calls, tracer.matmuls, tracer.ops, output)


def _shape_of(value):
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return tuple(value[0].shape)
    return None


def _module_shapes(calls, shapes):
    """Report a layer's input/output shapes as its module saw them (an nn.Linear on a 3-D
    input, not the 2-D view aten.mm received) when the weight's owner module ran the product
    itself, once per call."""
    per_module: dict[str, list[ProductCall]] = {}
    for c in calls:
        if c.module_stack and c.module_stack[-1] == c.source.module:
            per_module.setdefault(c.source.module, []).append(c)
    for name, cs in per_module.items():
        seen = shapes.get(name, [])
        if len(seen) == len(cs):
            for c, (i, o) in zip(cs, seen):
                if i is not None:
                    c.input_shape = i
                if o is not None:
                    c.output_shape = o


_BATCH_NORMS = {aten.native_batch_norm.default,
                aten._native_batch_norm_legit_no_training.default}


class _ConvBNTracer(ProductTracer):
    """Also records which conv outputs feed a BatchNorm, and how often each is used."""

    def __init__(self, model):
        super().__init__(model)
        self.conv_out: dict[int, tuple[torch.Tensor, str]] = {}
        self.uses: dict[int, int] = {}
        self.bn_input: list[tuple[int, str, bool]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        for a in tree_flatten((args, kwargs or {}))[0]:
            if isinstance(a, torch.Tensor) and id(a) in self.conv_out \
                    and self.conv_out[id(a)][0] is a:
                self.uses[id(a)] = self.uses.get(id(a), 0) + 1
        if func in _BATCH_NORMS:
            stats = self.source(args[3])  # running_mean names the BatchNorm module
            training = bool(args[5]) if func is aten.native_batch_norm.default else False
            if stats is not None:
                self.bn_input.append((id(args[0]), stats.module, training))
        n_calls = len(self.calls)
        out = super().__torch_dispatch__(func, types, args, kwargs)
        if func is aten.convolution.default and len(self.calls) > n_calls:
            self.conv_out[id(out)] = (out, self.calls[-1].source.module)
        return out


def conv_bn_pairs(model: torch.nn.Module, example_input) -> list[tuple[str, str]]:
    """[(conv name, BatchNorm name)] where the BatchNorm (in eval mode) reads a conv's output
    and nothing else does, each module running once: the pairs that can be folded."""
    tracer = _ConvBNTracer(model)
    with torch.no_grad(), tracer:
        call_model(model, example_input)
    conv_calls, bn_calls = {}, {}
    for c in tracer.calls:
        conv_calls[c.source.module] = conv_calls.get(c.source.module, 0) + 1
    for _, bn, _ in tracer.bn_input:
        bn_calls[bn] = bn_calls.get(bn, 0) + 1
    pairs = []
    for x_id, bn, training in tracer.bn_input:
        if training or x_id not in tracer.conv_out or tracer.uses.get(x_id) != 1:
            continue
        conv = tracer.conv_out[x_id][1]
        if conv_calls.get(conv) == 1 and bn_calls.get(bn) == 1:
            pairs.append((conv, bn))
    return pairs
