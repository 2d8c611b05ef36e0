"""What SparseLinear and SparseConv2d share: a sparse matrix the layer owns, buffers that
mirror it for ``state_dict``, and the rules that keep the two consistent.

Ownership — the kernels only ever run on a structure validated after the last change:

- The forward runs the kernels on ``self._fmt``, a CSR / BSR / VectorSkip object built from
  private copies of the arrays and validated by its constructor. Its arrays are marked
  read-only and nothing else holds them: ``matrix()`` returns it for reading.
- The buffers (``values``, ``indices``, ``pointers``, ``bitmap``, ``bias``) are separate
  clones, kept for ``state_dict()``, ``.to()``, ``torch.save`` and for reading. They cost a
  second copy of the compressed weight.
- A change to a buffer made through torch is detected before the next use (forward,
  ``matrix()``, ``nnz``, ``weight``): an in-place op on the buffer or on a ``state_dict()``
  tensor (both share the buffer's storage and version counter), assigning another tensor,
  ``.to()``/``.float()``/``.double()``. Each buffer's identity and ``_version`` are compared
  with those recorded at the last validation; on a difference the matrix is rebuilt from
  fresh copies of the buffers and validated again. Buffers that no longer form a valid
  matrix make the use raise a ValueError naming the problem (the kernels never see them);
  ``.to()`` into an unsupported dtype (``.half()``) raises and leaves the layer unchanged.
- Writes that bypass torch's version counter (through ``.numpy()``, ``.data`` or a raw
  pointer) are not seen: the layer keeps computing with its validated copy (safely), while
  ``state_dict()`` shows the edited buffers. Change a layer's weights through
  ``load_state_dict``.

Loading — all or nothing, per layer:

- ``load_state_dict`` builds the layer's complete new state (arrays, bias, format, shape,
  block or vector, and a conv's geometry) from the incoming entries, validates all of it,
  and only then swaps it in. On any problem the layer is unchanged (buffers, matrix and
  results) and the problem is reported through torch's usual ``RuntimeError`` listing. A
  load that lacks any of the layer's entries, or brings others under its prefix
  (``strict=False`` included: torch does not tell a module whether the load is strict),
  leaves the layer unchanged and reports them as missing or unexpected keys: a sparse state
  is loaded whole or not at all.
- The incoming format may differ from the layer's (a csr state loaded into a vectorskip
  layer makes it a csr layer) as long as the state is consistent: arrays of one format
  stated as another is an error. The matrix shape must match the layer's, as torch requires
  of a dense weight; a layer has a bias exactly when it had one.
- torch loads a model layer by layer, so a model whose load fails in one layer may have
  loaded the layers before it (as with a dense model); each sparse layer is either fully
  loaded or untouched.

Reading the weight densely: ``weight`` builds the dense weight on demand (cached until the
matrix changes; in-place edits of it are discarded on the next read) and warns once per
layer, for code outside the layer that reads ``child.weight`` (a parent calling
``F.linear(x, child.weight)``, torch's own transformer layers). That product runs dense.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from sparsekit.formats import SparseFormat, registry

# The buffers every layer has; a format uses some of them (its ``roles``), the others stay empty.
ARRAYS = {"values": torch.float32, "indices": torch.uint16, "pointers": torch.uint16,
          "bitmap": torch.uint64}
# The registered formats whose arrays fit those buffers: the formats a sparse layer can run.
FORMATS = tuple(name for name, cls in registry.FORMATS.items()
                if cls.roles and set(cls.roles) <= set(ARRAYS))


class DenseReadWarning(UserWarning):
    """A sparse layer's ``.weight`` was read: that product runs dense."""


def check_float(dtype, what: str) -> None:
    """The library's dtype rule for weights and inputs of the sparse layers."""
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{what}: sparse layers support float32/float64, got {dtype}; "
                        "convert with .float() first")


def format_arrays(fmt) -> dict:
    """The format's arrays under the module's buffer names."""
    if not isinstance(fmt, SparseFormat) or fmt.format not in FORMATS:
        raise TypeError(f"expected a matrix in one of the formats {FORMATS}, got "
                        f"{type(fmt).__name__}")
    return fmt.arrays()


_TORCH_FLOAT = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def _numpy_copy(t, name: str) -> np.ndarray:
    """A private numpy copy of a tensor (from a buffer or a state_dict) or of a format's
    array, or a clear error."""
    if isinstance(t, np.ndarray):
        return np.array(t, copy=True)
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.layout != torch.strided:
        raise TypeError(f"{name} must be a dense (strided) tensor, got {t.layout}")
    if t.device.type == "meta":
        raise ValueError(f"{name} is on the meta device: it holds no data")
    if name == "values":
        check_float(t.dtype, name)
    elif t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise TypeError(f"{name} must have an integer dtype, got {t.dtype}")
    return t.detach().cpu().clone().numpy()


def own_format(kind: str, shape, tensors: dict):
    """A validated CSR/BSR/VectorSkip over private, read-only copies of ``tensors`` (the
    four arrays by buffer name: tensors or numpy arrays). Arrays the format does not use
    must be empty or absent."""
    if kind not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {kind!r}")
    a = {}
    for name in ARRAYS:
        if name in registry.get(kind).roles:
            if name not in tensors:
                raise ValueError(f"a {kind} layer needs {name}, which is missing")
            a[name] = _numpy_copy(tensors[name], name)
        elif name not in tensors:
            continue
        elif not isinstance(tensors[name], (torch.Tensor, np.ndarray)) or \
                np.prod(tensors[name].shape):
            raise ValueError(f"a {kind} layer has no {name}: it must be an empty tensor, got "
                             f"{getattr(tensors[name], 'shape', tensors[name])!r}")
    fmt = registry.get(kind).from_arrays(a, shape)
    for arr in format_arrays(fmt).values():
        arr.flags.writeable = False
    return fmt


def _clone(t):
    """A plain (not inference-mode) copy of t, so its version counter can be read."""
    if t is None:
        return None
    with torch.inference_mode(False):
        return t.detach().clone()


def _check_bias(bias, m: int, dtype, name="bias"):
    if bias is None:
        return
    if not isinstance(bias, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(bias).__name__}")
    if tuple(bias.shape) != (m,):
        raise ValueError(f"{name} must have shape ({m},), got {tuple(bias.shape)}")
    if bias.dtype != dtype:
        raise TypeError(f"{name} must have the values' dtype {dtype}, got {bias.dtype}")


class SparseModule(nn.Module):
    """Owned matrix + mirroring buffers + extra state, shared by the sparse layers.

    Subclasses describe their own extra state through ``_layer_state()`` (the current one)
    and ``_parse_layer_state(state, shape)`` (validate an incoming one, return it parsed),
    and apply a parsed one in ``_set_layer_state``.
    """

    # A ReLU that the kernels apply to the output (set per layer by ``sk.sparsify(fuse=True)``,
    # which removes the model's own ReLU after it). A class default, so that a layer pickled
    # before the attribute existed loads without it.
    relu = False

    def __init__(self, matrix, bias=None):
        super().__init__()
        # format_arrays raises TypeError for anything but a matrix in a runnable format.
        # Private copies: the caller keeps ``matrix`` and may change its arrays.
        fmt = own_format(matrix.format, matrix.shape, format_arrays(matrix))
        dtype = _TORCH_FLOAT[np.dtype(fmt.dtype)]
        if bias is not None:
            bias = torch.as_tensor(bias).detach().to(dtype)
        _check_bias(bias, fmt.shape[0], dtype)
        for key, empty_dtype in ARRAYS.items():
            self.register_buffer(key, torch.empty(0, dtype=empty_dtype))
        self.register_buffer("bias", None)
        self.read_densely = False  # set (with a warning) when .weight is first read
        self._commit(fmt, bias, None)

    # -- the owned matrix and its mirror -------------------------------------------------
    def _commit(self, fmt, bias, layer_state):
        """Swap in a validated state: cannot fail."""
        arrays = format_arrays(fmt)
        with torch.inference_mode(False):
            for key, dtype in ARRAYS.items():
                self._buffers[key] = (torch.tensor(arrays[key]) if key in arrays
                                      else torch.empty(0, dtype=dtype))
        self._buffers["bias"] = _clone(bias)
        if layer_state is not None:
            self._set_layer_state(layer_state)
        self._kind, self._shape = fmt.format, tuple(fmt.shape)
        self._install(fmt)

    def _fingerprint(self) -> tuple:
        """(name, tensor, version) of each buffer: what the last validation saw. The tensors
        are held, so a replaced buffer can never be mistaken for a new one at its address."""
        out = []
        for key in (*ARRAYS, "bias"):
            t = self._buffers.get(key)
            version = None if t is None or t.is_inference() else t._version
            out.append((key, t, version))
        return tuple(out)

    def _changed(self) -> list:
        """Names of the buffers changed since the last validation (a few µs: every
        forward asks)."""
        if self._seen is None:
            return [*ARRAYS, "bias"]
        buffers, out = self._buffers, []
        for key, seen, version in self._seen:
            t = buffers.get(key)
            if t is not seen:
                out.append(key)
            elif t is not None:
                try:
                    if t._version != version:
                        out.append(key)
                except RuntimeError:  # an inference tensor has no version counter
                    out.append(key)
        return out

    def _sync(self):
        """Revalidate after a change of the buffers made through torch (see the module
        docstring); the kernels then run on fresh private copies."""
        changed = self._changed()
        if not changed:
            return
        try:
            fmt = own_format(self._kind, self._shape, self._buffers)
            _check_bias(self._buffers["bias"], fmt.shape[0], self._buffers["values"].dtype)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{type(self).__name__}: its buffers were changed "
                          f"({', '.join(changed)}) and no longer "
                          f"form a valid {self._kind} {self._shape[0]}×{self._shape[1]} layer: "
                          f"{e}. Restore them or load a valid state_dict") from None
        for key in (*ARRAYS, "bias"):
            t = self._buffers[key]
            if t is not None and t.is_inference():
                self._buffers[key] = _clone(t)
        self._install(fmt)

    def _install(self, fmt):
        """Run on ``fmt`` and a private read-only copy of the bias (the kernels add it), both
        validated, from now on."""
        bias = self._buffers["bias"]
        if bias is not None:
            bias = bias.detach().numpy().copy()
            bias.flags.writeable = False
        self._bias_values = bias
        self._fmt = fmt
        self._seen = self._fingerprint()
        self._dense = None

    def matrix(self):
        """The validated format object (CSR / BSR / VectorSkip) the kernels run on; its
        arrays are read-only."""
        self._sync()
        return self._fmt

    def kernel_bias(self):
        """The bias the kernels add (a read-only numpy copy, validated with the matrix), or
        None; read after ``matrix()``."""
        return self._bias_values

    @property
    def format(self) -> str:
        return self._kind

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def block(self):
        block = self._fmt.options().get("block")
        return tuple(block) if block is not None else None

    @property
    def vector(self):
        return self._fmt.options().get("vector")

    @property
    def nnz(self) -> int:
        return self.matrix().nnz

    @property
    def density(self) -> float:
        return self.matrix().density

    def storage(self, value_bits=None, index_bits=None):
        return self.matrix().storage(value_bits, index_bits)

    def weight_dense(self) -> torch.Tensor:
        """The weight as a dense M×K tensor (a new one on every call)."""
        return torch.from_numpy(self.matrix().to_dense())

    @property
    def weight_shape(self) -> tuple:
        """The dense module's weight shape (a conv's is 4-D)."""
        return self.shape

    @property
    def weight(self) -> torch.Tensor:
        """The dense weight, shaped as the dense module's, for code outside the layer that
        reads ``.weight`` (see the module docstring). Warns once per layer."""
        fmt = self.matrix()
        w = self._dense
        if w is None or w[1] is not fmt or w[0]._version != w[2]:
            with torch.inference_mode(False):  # a tensor whose version can be read
                t = torch.from_numpy(fmt.to_dense()).reshape(self.weight_shape)
            self._dense = w = (t, fmt, t._version)
        if not self.read_densely:
            self.read_densely = True
            m, k = self.shape
            warnings.warn(
                f"{type(self).__name__} ({self.format}, {m}×{k}) is being read densely "
                "through .weight, by code outside the layer (e.g. a parent calling "
                "F.linear(x, child.weight), or torch's fused transformer path): that product "
                "runs dense, on a dense copy of the weight. Keep this layer dense "
                "(sk.sparsify(..., exclude=...)) or call the layer itself",
                DenseReadWarning, stacklevel=2)
        return w[0]

    # -- state ---------------------------------------------------------------------------
    def get_extra_state(self):
        return {"format": self.format, "shape": list(self.shape),
                "block": list(self.block) if self.block else None, "vector": self.vector,
                **self._layer_state()}

    def set_extra_state(self, state):
        """Apply an extra state with the current buffers: validated first; on a problem a
        ValueError/TypeError and the layer unchanged."""
        self._commit(*self._candidate(state, dict(self._buffers), self._buffers["bias"]))

    def _candidate(self, state, tensors, bias):
        """(format, bias, parsed layer state) of a complete incoming state, validated."""
        if not isinstance(state, dict):
            raise TypeError(f"extra state must be a dict, got {type(state).__name__}")
        kind = state.get("format")
        if kind not in FORMATS:
            raise ValueError(f"extra state 'format' must be one of {FORMATS}, got {kind!r}")
        shape = state.get("shape")
        if not isinstance(shape, (list, tuple)) or list(shape) != list(self.shape):
            raise ValueError(f"extra state 'shape' is {shape!r} but this layer is "
                             f"{self.shape[0]}×{self.shape[1]}")
        layer_state = self._parse_layer_state(state, self.shape)
        fmt = own_format(kind, self.shape, tensors)
        block = fmt.options().get("block")
        block = tuple(block) if block is not None else None
        vector = fmt.options().get("vector")
        stated = state.get("block")
        if (block is None) != (stated is None) or \
                (block is not None and not (isinstance(stated, (list, tuple))
                                            and tuple(stated) == block)) or \
                state.get("vector") != vector:
            raise ValueError(f"extra state says block={stated!r}, "
                             f"vector={state.get('vector')!r} but the {kind} arrays have "
                             f"block={block}, vector={vector}")
        if isinstance(bias, torch.Tensor):
            bias = bias.detach().cpu()
        _check_bias(bias, self.shape[0], _TORCH_FLOAT[np.dtype(fmt.dtype)])
        return fmt, bias, layer_state

    def _layer_state(self) -> dict:
        return {}

    def _parse_layer_state(self, state, shape):
        return None

    def _set_layer_state(self, parsed):
        """Apply what ``_parse_layer_state`` returned: a layer with no state beyond its format
        and bias (a Linear) has nothing to apply."""

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # The compressed arrays change size with the weight, so incoming tensors are adopted
        # (cloned), not copied into the old buffers: validated together first, then swapped.
        for hook in self._load_state_dict_pre_hooks.values():
            hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                 error_msgs)
        names = [*ARRAYS, "_extra_state"] + (["bias"] if self._buffers["bias"] is not None
                                             else [])
        missing = [prefix + n for n in names if prefix + n not in state_dict]
        unexpected = [k for k in state_dict if k.startswith(prefix)
                      and k[len(prefix):] not in names]
        # torch passes strict=True here whatever the caller asked (it filters afterwards).
        missing_keys.extend(missing)
        unexpected_keys.extend(unexpected)
        if missing or unexpected:
            return  # not exactly a sparse layer's state: the layer stays as it is
        tensors = {k: state_dict[prefix + k] for k in ARRAYS}
        bias = state_dict[prefix + "bias"] if "bias" in names else None
        state = state_dict[prefix + "_extra_state"]
        try:
            candidate = self._candidate(state, tensors, bias)
        except (TypeError, ValueError) as e:
            kind = state.get("format") if isinstance(state, dict) else None
            error_msgs.append(f"{prefix.rstrip('.') or type(self).__name__}: not a valid "
                              f"{kind if kind in FORMATS else 'sparse'} layer state: {e} "
                              "(the layer is unchanged)")
            return
        self._commit(*candidate)

    def __getstate__(self):
        # Pickles hold the buffers and plain attributes only (torch.load(weights_only=True)
        # reads them); the matrix is rebuilt from the buffers and validated on unpickling.
        state = self.__dict__.copy()
        state.update(_fmt=None, _seen=None, _dense=None, _bias_values=None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._sync()

    def _apply(self, fn, *args, **kwargs):
        before = dict(self._buffers)
        out = super()._apply(fn, *args, **kwargs)
        try:
            self._sync()
        except (TypeError, ValueError) as e:
            self._buffers.update(before)
            raise type(e)(f"{e} (the layer is unchanged)") from None
        return out

    # -- forward helpers -----------------------------------------------------------------
    def _check_input(self, x):
        """Check ``x`` for a forward and return the validated format the kernels run on
        (``matrix()``, revalidated if the buffers changed)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{type(self).__name__} expects a torch.Tensor, got "
                            f"{type(x).__name__}")
        if x.requires_grad and torch.is_grad_enabled():
            raise RuntimeError(
                f"{type(self).__name__} is inference-only (the sparse kernels have no "
                "backward), but its input requires grad with autograd enabled; run it under "
                "torch.no_grad() or torch.inference_mode(), or train the dense model")
        if not x.is_cpu:
            raise RuntimeError(f"{type(self).__name__} runs on the CPU; input is on {x.device}")
        self._sync()
        weights = self._buffers["values"].dtype
        if x.dtype is not weights:   # (torch's dtypes are singletons)
            check_float(x.dtype, f"{type(self).__name__} input")
            raise TypeError(f"{type(self).__name__} has {weights} weights but the "
                            f"input is {x.dtype}; cast the input (or the module) to match")
        return self._fmt

    def _extra_common(self):
        fmt = self._fmt
        extra = f"format={self.format}"
        if self.block:
            extra += f", block={self.block[0]}×{self.block[1]}"
        if self.vector:
            extra += f", vector={self.vector}"
        extra += f", nnz={fmt.nnz}, density={fmt.density:.4f}, bias={self.bias is not None}"
        return extra + (", relu=True" if self.relu else "")

    def _with_relu(self, dense: nn.Module) -> nn.Module:
        """``dense`` followed by this layer's fused ReLU, if it has one (``to_dense``)."""
        return nn.Sequential(dense, nn.ReLU()) if self.relu else dense
