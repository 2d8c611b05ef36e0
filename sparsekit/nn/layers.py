"""Sparse inference layers: ``SparseLinear`` and ``SparseConv2d`` hold a compressed weight
(CSR, BSR or VectorSkip) and run their forward through the Numba kernels.

- Inference only: float32 (or float64) inputs; calling them on an input that requires grad
  with autograd enabled raises, since the kernels have no backward.
- The kernels compute Y (M×N) = W (M×K) @ X (K×N) with X C-contiguous. A Linear's input
  (N, K) is fed as its transpose, and its output is returned as the transpose of Y: a view,
  so a chain of sparse Linears (with elementwise ops between them) never copies.
- A conv with groups=1 is lowered to one SpMM per image: W (C_out × C_in·kh·kw) times the
  image's im2col matrix, written straight into the NCHW output. A 1×1 conv needs no im2col
  (a strided 1×1 conv subsamples first). Grouped and depthwise convs are not converted
  (``sk.sparsify`` keeps them dense, and says so).
- The format's arrays are buffers (``values``, ``indices``, ``pointers``, ``bitmap``) and its
  kind and shape are extra state, so ``state_dict()``/``load_state_dict()`` round-trip (buffers
  are resized to the loaded ones) and ``torch.save(module)`` loads back with
  ``torch.load(..., weights_only=True)`` (both classes are registered as safe globals).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sparsekit.formats import BSR, CSR, VectorSkip, pack
from sparsekit.model import tracing
from sparsekit.model.weights import effective_weight

FORMATS = ("csr", "bsr", "vectorskip")
_EMPTY = {"values": torch.float32, "indices": torch.uint16, "pointers": torch.uint16,
          "bitmap": torch.uint64}


def _arrays(fmt) -> dict:
    """The format's arrays under the module's buffer names."""
    if isinstance(fmt, CSR):
        return {"values": fmt.data, "indices": fmt.indices, "pointers": fmt.indptr}
    if isinstance(fmt, BSR):
        return {"values": fmt.blocks, "indices": fmt.indices, "pointers": fmt.indptr}
    if isinstance(fmt, VectorSkip):
        return {"values": fmt.vectors, "pointers": fmt.panel_ptr, "bitmap": fmt.bitmap}
    raise TypeError(f"expected a CSR, BSR or VectorSkip matrix, got {type(fmt).__name__}")


def _build(kind, shape, buffers):
    """The format object over the buffers' memory (validated by its constructor)."""
    a = {k: v.detach().cpu().numpy() for k, v in buffers.items()}
    if kind == "csr":
        return CSR(a["values"], a["indices"], a["pointers"], shape)
    if kind == "bsr":
        return BSR(a["values"], a["indices"], a["pointers"], shape)
    if kind == "vectorskip":
        return VectorSkip(a["values"], a["bitmap"], a["pointers"], shape)
    raise ValueError(f"unknown format {kind!r} in the state; expected one of {FORMATS}")


def _check_weight_dtype(w, what):
    if w.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{what}: sparse layers support float32 (and float64) weights, got "
                        f"{w.dtype}; convert with .float() first")


class _SparseModule(nn.Module):
    """Buffers + extra state shared by the sparse layers."""

    def __init__(self, matrix, bias=None):
        super().__init__()
        self._fmt = None
        self._set_matrix(matrix)
        if bias is not None:
            bias = torch.as_tensor(bias).detach().clone().to(self.values.dtype)
            if bias.shape != (self.shape[0],):
                raise ValueError(f"bias must have shape ({self.shape[0]},), got "
                                 f"{tuple(bias.shape)}")
        self.register_buffer("bias", bias)

    def _set_matrix(self, matrix):
        if not isinstance(matrix, (CSR, BSR, VectorSkip)):
            raise TypeError(f"expected a CSR, BSR or VectorSkip matrix, got "
                            f"{type(matrix).__name__}")
        if matrix.dtype not in (np.float32, np.float64):
            raise TypeError(f"sparse layers need float32/float64 values, got {matrix.dtype}")
        self.format = matrix.format
        self.shape = tuple(matrix.shape)
        self.block = tuple(getattr(matrix, "block", ())) or None
        self.vector = getattr(matrix, "vector", None)
        arrays = _arrays(matrix)
        for key, dtype in _EMPTY.items():
            t = torch.from_numpy(arrays[key]) if key in arrays else torch.empty(0, dtype=dtype)
            if key in self._buffers:
                self._buffers[key] = t
            else:
                self.register_buffer(key, t)
        self._fmt = matrix

    # -- the format, rebuilt lazily after load_state_dict / .to() --------------------------
    def matrix(self):
        """The format object (CSR / BSR / VectorSkip) over this module's buffers."""
        if self._fmt is None:
            self._fmt = _build(self.format, self.shape, self._format_buffers())
        return self._fmt

    def _format_buffers(self):
        return {k: self._buffers[k] for k in _EMPTY}

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        self._fmt = None  # buffers may have been replaced (dtype / device change)
        return out

    @property
    def nnz(self) -> int:
        return self.matrix().nnz

    @property
    def density(self) -> float:
        return self.matrix().density

    def storage(self, value_bits=None, index_bits=None):
        return self.matrix().storage(value_bits, index_bits)

    def weight_dense(self) -> torch.Tensor:
        """The weight as a dense M×K tensor."""
        return torch.from_numpy(self.matrix().to_dense())

    # -- state ---------------------------------------------------------------------------
    def get_extra_state(self):
        return {"format": self.format, "shape": list(self.shape),
                "block": list(self.block) if self.block else None, "vector": self.vector,
                **self._layer_state()}

    def set_extra_state(self, state):
        if not isinstance(state, dict) or state.get("format") not in FORMATS:
            raise ValueError(f"not the state of a sparse layer: {state!r}")
        self.format = state["format"]
        self.shape = tuple(state["shape"])
        self.block = tuple(state["block"]) if state.get("block") else None
        self.vector = state.get("vector")
        self._set_layer_state(state)
        self._fmt = None

    def _layer_state(self) -> dict:
        return {}

    def _set_layer_state(self, state):
        pass

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # The compressed arrays change size with the weight: adopt the incoming tensors
        # (shape and dtype) instead of copying into buffers of the old size.
        for key in (*_EMPTY, "bias"):
            full = prefix + key
            if full in state_dict:
                incoming = state_dict[full]
                if incoming is None:
                    self._buffers[key] = None
                elif isinstance(incoming, torch.Tensor):
                    self._buffers[key] = incoming.detach().clone()
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
        self._fmt = None
        try:
            self.matrix()
        except (ValueError, TypeError) as e:
            error_msgs.append(f"{prefix or 'sparse layer'}: loaded arrays are not a valid "
                              f"{self.format}: {e}")

    def __setstate__(self, state):
        super().__setstate__(state)
        self._fmt = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_fmt"] = None  # rebuilt from the buffers; keeps pickles free of numpy objects
        return state

    # -- forward helpers -----------------------------------------------------------------
    def _check_input(self, x):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{type(self).__name__} expects a torch.Tensor, got "
                            f"{type(x).__name__}")
        if x.requires_grad and torch.is_grad_enabled():
            raise RuntimeError(
                f"{type(self).__name__} is inference-only (the sparse kernels have no "
                "backward), but its input requires grad with autograd enabled; run it under "
                "torch.no_grad() or torch.inference_mode(), or train the dense model")
        if x.device.type != "cpu":
            raise RuntimeError(f"{type(self).__name__} runs on the CPU; input is on {x.device}")
        if x.dtype != self.values.dtype:
            raise TypeError(f"{type(self).__name__} has {self.values.dtype} weights but the "
                            f"input is {x.dtype}; cast the input (or the module) to match")

    def _extra_common(self):
        fmt = self.matrix()
        extra = f"format={self.format}"
        if self.block:
            extra += f", block={self.block[0]}×{self.block[1]}"
        if self.vector:
            extra += f", vector={self.vector}"
        return extra + f", nnz={fmt.nnz}, density={fmt.density:.4f}, bias={self.bias is not None}"


class SparseLinear(_SparseModule):
    """y = x Wᵀ + b with W held in a sparse format.

    ``SparseLinear(matrix, bias=None)`` with matrix a CSR/BSR/VectorSkip of shape
    (out_features, in_features); or ``SparseLinear.from_dense(linear, format="csr")``.
    """

    @classmethod
    def from_dense(cls, linear: nn.Linear, format="csr", block=(4, 4), vector=8):
        """Pack an nn.Linear's effective weight (torch.nn.utils.prune / parametrization
        masks applied) into ``format``; the bias is copied."""
        w = effective_weight(linear)
        _check_weight_dtype(w, "SparseLinear.from_dense")
        if w.dim() != 2:
            raise ValueError(f"a Linear weight is 2-D, got shape {tuple(w.shape)}")
        return cls(pack(w.contiguous(), format, block, vector), linear.bias)

    @property
    def in_features(self) -> int:
        return self.shape[1]

    @property
    def out_features(self) -> int:
        return self.shape[0]

    def forward(self, x):
        self._check_input(x)
        m, k = self.shape
        if x.dim() == 0 or x.shape[-1] != k:
            raise ValueError(f"input must end in in_features={k}, got shape {tuple(x.shape)}")
        lead = x.shape[:-1]
        n = math.prod(lead)
        fmt = self.matrix()
        if n == 1:  # SpMV
            xv = x.reshape(k)
            if not xv.is_contiguous():
                xv = xv.contiguous()
            y = torch.empty(m, dtype=x.dtype)
            fmt.matmul(xv.numpy(), out=y.numpy())
            if self.bias is not None:
                y.add_(self.bias)
            if tracing._ACTIVE:
                tracing.record_sparse_product(self, "linear", self.weight_dense(), m, k, 1,
                                              x.shape, (*lead, m))
            return y.reshape(*lead, m)
        xt = x.reshape(n, k).t()  # (K, N): contiguous when x is a previous layer's output
        if not xt.is_contiguous():
            xt = xt.contiguous()
        y = torch.empty(m, n, dtype=x.dtype)
        if n:
            fmt.matmul(xt.numpy(), out=y.numpy())
        if self.bias is not None:
            y.add_(self.bias[:, None])
        if tracing._ACTIVE:
            tracing.record_sparse_product(self, "linear", self.weight_dense(), m, k, n,
                                          x.shape, (*lead, m))
        return y.t().reshape(*lead, m)

    def to_dense(self) -> nn.Linear:
        """An equivalent dense nn.Linear."""
        m, k = self.shape
        lin = nn.Linear(k, m, bias=self.bias is not None, dtype=self.values.dtype)
        with torch.no_grad():
            lin.weight.copy_(self.weight_dense())
            if self.bias is not None:
                lin.bias.copy_(self.bias)
        return lin

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                + self._extra_common())


def _pair(v):
    return (int(v), int(v)) if isinstance(v, int) else tuple(int(a) for a in v)


class SparseConv2d(_SparseModule):
    """A groups=1 Conv2d whose weight, as the C_out × C_in·kh·kw matrix, is held sparse.

    ``SparseConv2d.from_dense(conv, format="csr")``, or ``SparseConv2d(matrix, in_channels,
    kernel_size, stride=1, padding=0, dilation=1, bias=None, padding_mode="zeros")`` with
    ``padding`` an int, a pair, or four values (left, right, top, bottom) as ``F.pad`` takes.
    """

    # Below this many output positions per image, images are batched into one product
    # (one im2col matrix with N = batch · positions) instead of one product per image.
    FOLD_BELOW = 256

    def __init__(self, matrix, in_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=None, padding_mode="zeros"):
        super().__init__(matrix, bias)
        self.in_channels = int(in_channels)
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.dilation = _pair(dilation)
        p = (padding,) * 4 if isinstance(padding, int) else tuple(int(v) for v in padding)
        if len(p) == 2:
            p = (p[1], p[1], p[0], p[0])
        if len(p) != 4 or min(p) < 0:
            raise ValueError(f"padding must be an int, (ph, pw) or (left, right, top, "
                             f"bottom), got {padding!r}")
        self.pad = p
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"unknown padding_mode {padding_mode!r}")
        self.padding_mode = padding_mode
        kh, kw = self.kernel_size
        if self.shape[1] != self.in_channels * kh * kw:
            raise ValueError(f"matrix has {self.shape[1]} columns but in_channels·kh·kw = "
                             f"{self.in_channels * kh * kw}")

    @classmethod
    def from_dense(cls, conv: nn.Conv2d, format="csr", block=(4, 4), vector=8):
        """Pack an nn.Conv2d (groups=1) into ``format``; padding, stride, dilation, padding
        mode and bias carried over."""
        if conv.groups != 1:
            raise ValueError(f"SparseConv2d lowers groups=1 convs to SpMM; this conv has "
                             f"groups={conv.groups} (grouped/depthwise convs stay dense)")
        w = effective_weight(conv)
        _check_weight_dtype(w, "SparseConv2d.from_dense")
        mat = w.reshape(w.shape[0], -1).contiguous()
        left, right, top, bottom = conv._reversed_padding_repeated_twice
        return cls(pack(mat, format, block, vector), conv.in_channels, conv.kernel_size,
                   conv.stride, (left, right, top, bottom), conv.dilation, conv.bias,
                   conv.padding_mode)

    @property
    def out_channels(self) -> int:
        return self.shape[0]

    def _layer_state(self):
        return {"in_channels": self.in_channels, "kernel_size": list(self.kernel_size),
                "stride": list(self.stride), "dilation": list(self.dilation),
                "pad": list(self.pad), "padding_mode": self.padding_mode}

    def _set_layer_state(self, state):
        self.in_channels = int(state["in_channels"])
        self.kernel_size = tuple(state["kernel_size"])
        self.stride = tuple(state["stride"])
        self.dilation = tuple(state["dilation"])
        self.pad = tuple(state["pad"])
        self.padding_mode = state["padding_mode"]

    def forward(self, x):
        self._check_input(x)
        unbatched = x.dim() == 3
        if unbatched:
            x = x.unsqueeze(0)
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"input must be (B, {self.in_channels}, H, W) or "
                             f"({self.in_channels}, H, W), got shape {tuple(x.shape)}")
        if any(self.pad):
            mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
            x = F.pad(x, self.pad, mode=mode)
        b, c, h, w = x.shape
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        ho, wo = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
        if ho < 1 or wo < 1:
            raise ValueError(f"input {h}×{w} (padded) is smaller than the kernel")
        m, k = self.shape
        positions = ho * wo
        if kh == kw == 1:
            cols = x[:, :, ::sh, ::sw][:, :, :ho, :wo]  # (B, C, Ho, Wo): K = C
        else:
            sb, sc, shh, sww = x.stride()
            cols = x.as_strided((b, c, kh, kw, ho, wo),
                                (sb, sc, shh * dh, sww * dw, shh * sh, sww * sw),
                                x.storage_offset())
        fmt = self.matrix()
        if b > 1 and positions < self.FOLD_BELOW:
            # Small images: one product over the whole batch, N = B·Ho·Wo.
            xk = cols.movedim(0, -3).reshape(k, b * positions)
            y = torch.empty(m, b * positions, dtype=x.dtype)
            fmt.matmul(xk.numpy() if xk.is_contiguous() else xk.contiguous().numpy(),
                       out=y.numpy())
            out = y.view(m, b, ho, wo).transpose(0, 1).contiguous()
        else:
            out = torch.empty(b, m, ho, wo, dtype=x.dtype)
            for i in range(b):
                xi = cols[i].reshape(k, positions)
                if not xi.is_contiguous():
                    xi = xi.contiguous()
                fmt.matmul(xi.numpy(), out=out[i].view(m, positions).numpy())
        if self.bias is not None:
            out.add_(self.bias.view(1, m, 1, 1))
        if tracing._ACTIVE:
            w = self.weight_dense().reshape(m, self.in_channels, kh, kw)
            tracing.record_sparse_product(self, "conv2d", w, m, k, b * positions,
                                          x.shape, out.shape)
        return out[0] if unbatched else out

    def to_dense(self) -> nn.Conv2d:
        """An equivalent dense nn.Conv2d."""
        left, right, top, bottom = self.pad
        symmetric = left == right and top == bottom
        conv = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride,
                         (top, left) if symmetric else 0, self.dilation,
                         bias=self.bias is not None, padding_mode=self.padding_mode,
                         dtype=self.values.dtype)
        with torch.no_grad():
            conv.weight.copy_(self.weight_dense().reshape(conv.weight.shape))
            if self.bias is not None:
                conv.bias.copy_(self.bias)
        if not symmetric:
            return nn.Sequential(nn.ConstantPad2d(self.pad, 0.0) if self.padding_mode ==
                                 "zeros" else _Pad(self.pad, self.padding_mode), conv)
        return conv

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, pad={self.pad}, dilation={self.dilation}, "
                + self._extra_common())


class _Pad(nn.Module):
    def __init__(self, pad, mode):
        super().__init__()
        self.pad, self.mode = tuple(pad), mode

    def forward(self, x):
        return F.pad(x, self.pad, mode=self.mode)


torch.serialization.add_safe_globals([SparseLinear, SparseConv2d])

__all__ = ["SparseLinear", "SparseConv2d"]
