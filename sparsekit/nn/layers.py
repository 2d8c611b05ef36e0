"""Sparse inference layers: ``SparseLinear`` and ``SparseConv2d`` hold a compressed weight
(CSR, BSR or VectorSkip) and run their forward through the Numba kernels.

- Inference only: float32 (or float64) inputs; calling them on an input that requires grad
  with autograd enabled raises, since the kernels have no backward.
- The kernels compute Y (M×N) = W (M×K) @ X (K×N) with X C-contiguous. A Linear's input
  (N, K) is fed as its transpose, and its output is returned as the transpose of Y: a view,
  so a chain of sparse Linears (with elementwise ops between them) never copies.
- A conv with groups=1 is lowered to one SpMM per image: W (C_out × C_in·kh·kw) times the
  image's im2col matrix. That matrix is not built: the kernels read its rows in place from
  the padded image split into its stride phases (``matmul_rows_at``), except for small
  outputs where the wider rows would cost more SIMD passes (``_in_place_pays``) and for
  batches of small images, which are folded into one product. A 1×1 conv needs no im2col
  (a strided 1×1 conv subsamples first). Grouped and depthwise convs are not converted
  (``sk.sparsify`` keeps them dense, and says so).
- The format's arrays are mirrored in buffers (``values``, ``indices``, ``pointers``,
  ``bitmap``) and its kind and shape (and a conv's geometry) are extra state, so
  ``state_dict()``/``load_state_dict()`` round-trip and ``torch.save(module)`` loads back
  with ``torch.load(..., weights_only=True)`` (both classes are registered as safe globals).
  How the kernels stay safe from edits of those buffers, and how a load is all or nothing:
  ``sparsekit.nn._base``.
- ``.weight`` gives the dense weight on demand, with a warning, for code that reads it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sparsekit.formats import pack
from sparsekit.formats.params import is_int
from sparsekit.model import tracing
from sparsekit.model.weights import effective_weight
from sparsekit.nn._base import FORMATS, SparseModule, check_float


def _check_weight_dtype(w, what):
    check_float(w.dtype, f"{what} weight")


class SparseLinear(SparseModule):
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
        fmt = self._check_input(x)   # revalidated if the buffers changed
        m, k = self.shape
        if x.dim() == 0 or x.shape[-1] != k:
            raise ValueError(f"input must end in in_features={k}, got shape {tuple(x.shape)}")
        lead = x.shape[:-1]
        n = math.prod(lead)
        if n == 1:  # SpMV
            xv = x.reshape(k)
            if not xv.is_contiguous():
                xv = xv.contiguous()
            y = torch.empty(m, dtype=x.dtype)
            fmt._product(xv.numpy(), y.numpy(), self.kernel_bias(), relu=self.relu)
            if tracing._ACTIVE:
                tracing.record_sparse_product(self, "linear", self.weight_dense(), m, k, 1,
                                              x.shape, (*lead, m))
            return y.reshape(*lead, m)
        rows = x.reshape(n, k)
        xt = rows.t()  # (K, N): contiguous when x is a previous layer's output
        if not xt.is_contiguous():
            xt = self._transposed(rows)
        y = torch.empty(m, n, dtype=x.dtype)
        if n:
            fmt._product(xt.numpy(), y.numpy(), self.kernel_bias(), relu=self.relu)
        if tracing._ACTIVE:
            tracing.record_sparse_product(self, "linear", self.weight_dense(), m, k, n,
                                          x.shape, (*lead, m))
        return y.t().reshape(*lead, m)

    @staticmethod
    def _transposed(rows):
        """``rows`` (N, K) as a C-contiguous (K, N): by the SIMD transpose kernel where
        ``rows`` is C-contiguous (a model's input: 55 against torch's 150 µs at 64 × 4096
        float32, one thread), else by torch."""
        if not rows.is_contiguous():
            return rows.t().contiguous()
        from sparsekit.kernels.transpose import transpose   # Numba: loaded at the first call
        out = torch.empty(rows.shape[1], rows.shape[0], dtype=rows.dtype)
        transpose(rows.detach().numpy(), out.numpy())
        if tracing._ACTIVE:      # the copy torch's contiguous() would have recorded
            tracing.record_op("copy", [rows], [out])
        return out

    def to_dense(self) -> nn.Module:
        """An equivalent dense nn.Linear (followed by an nn.ReLU if one is fused)."""
        m, k = self.shape
        lin = nn.Linear(k, m, bias=self.bias is not None, dtype=self.values.dtype)
        with torch.no_grad():
            lin.weight.copy_(self.weight_dense())
            if self.bias is not None:
                lin.bias.copy_(self.bias)
        return self._with_relu(lin)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                + self._extra_common())


_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ints(value, n, name, low):
    """``value`` (an int, or a list/tuple of n ints) as a tuple of n ints >= low."""
    seq = (value,) * n if is_int(value) else value
    if not isinstance(seq, (list, tuple)) or len(seq) != n or \
            not all(is_int(v) and v >= low for v in seq):
        raise ValueError(f"{name} must be an int or {n} ints, each >= {low}, got {value!r}")
    return tuple(int(v) for v in seq)


def conv_geometry(in_channels, kernel_size, stride, padding, dilation, padding_mode,
                  columns) -> dict:
    """A conv's geometry, validated and consistent with a matrix of ``columns`` columns
    (C_in·kh·kw); ``padding`` is an int, (ph, pw), or (left, right, top, bottom)."""
    if not is_int(in_channels) or in_channels < 1:
        raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
    kernel_size = _ints(kernel_size, 2, "kernel_size", 1)
    if isinstance(padding, (list, tuple)) and len(padding) == 2:
        ph, pw = _ints(padding, 2, "padding", 0)
        pad = (pw, pw, ph, ph)
    else:
        try:
            pad = _ints(padding, 4, "padding", 0)
        except ValueError:
            raise ValueError(f"padding must be an int, (ph, pw) or (left, right, top, "
                             f"bottom) of ints >= 0, got {padding!r}") from None
    if padding_mode not in _PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {_PADDING_MODES}, got "
                         f"{padding_mode!r}")
    geo = {"in_channels": int(in_channels), "kernel_size": kernel_size,
           "stride": _ints(stride, 2, "stride", 1), "dilation": _ints(dilation, 2, "dilation", 1),
           "pad": pad, "padding_mode": padding_mode}
    kh, kw = kernel_size
    if columns != in_channels * kh * kw:
        raise ValueError(f"matrix has {columns} columns but in_channels·kh·kw = "
                         f"{in_channels}·{kh}·{kw} = {in_channels * kh * kw}")
    return geo


@dataclass(frozen=True)
class _ConvPlan:
    """How ``SparseConv2d.forward`` runs inputs of one shape and dtype (``SparseConv2d._plan``).
    ``out`` (Ho, Wo) and ``phase`` (Hq, Wq): the output's size and a stride phase's of the
    padded input; ``fold``: one product over the batch; ``in_place``: im2col read in place
    from the padded image (``split``: first split into stride phases, by the phase kernel)
    over ``span`` columns from ``starts`` (the largest ``last``), written to a buffer of that
    width and copied out, or with ``segments`` straight into the output, row by row;
    ``gather``: im2col built by the gather kernel; ``torch_pad``: F.pad's (pad, mode)
    applied first, or None, and ``pad`` the zero padding left to the gather or phase
    kernel."""

    out: tuple
    phase: tuple
    fold: bool
    in_place: bool
    gather: bool
    split: bool
    pad: tuple
    torch_pad: tuple | None
    span: int
    starts: np.ndarray | None
    last: int
    segments: bool


class SparseConv2d(SparseModule):
    """A groups=1 Conv2d whose weight, as the C_out × C_in·kh·kw matrix, is held sparse.

    ``SparseConv2d.from_dense(conv, format="csr")``, or ``SparseConv2d(matrix, in_channels,
    kernel_size, stride=1, padding=0, dilation=1, bias=None, padding_mode="zeros")`` with
    ``padding`` an int, a pair, or four values (left, right, top, bottom) as ``F.pad`` takes.
    The geometry is read-only; ``load_state_dict`` may change it (validated).
    """

    # Below this many output positions per image, images are batched into one product
    # (one im2col matrix with N = batch · positions) instead of one product per image.
    FOLD_BELOW = 256
    # Below this output width, im2col is built by the gather kernel (kernels/im2col.py)
    # instead of torch's copy of a strided view, whose runs of Wo elements each cost a loop's
    # set-up (1 thread, float32, 3×3: 512 channels at 4×4 48 µs against torch's 135 µs;
    # 1024 channels at 7×7, stride 2, 344 µs against 460 µs; 128 at 14×14 123 µs against 90).
    GATHER_BELOW = 8

    def __init__(self, matrix, in_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=None, padding_mode="zeros"):
        super().__init__(matrix, bias)
        self._geo = conv_geometry(in_channels, kernel_size, stride, padding, dilation,
                                  padding_mode, self.shape[1])

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

    in_channels = property(lambda self: self._geo["in_channels"])
    kernel_size = property(lambda self: self._geo["kernel_size"])
    stride = property(lambda self: self._geo["stride"])
    dilation = property(lambda self: self._geo["dilation"])
    pad = property(lambda self: self._geo["pad"], doc="(left, right, top, bottom)")
    padding_mode = property(lambda self: self._geo["padding_mode"])

    groups = 1  # nn.Conv2d's attributes, for code that reads them with .weight

    @property
    def padding(self) -> tuple[int, int]:
        """nn.Conv2d's (ph, pw); only when the padding is symmetric (else see ``pad``)."""
        left, right, top, bottom = self.pad
        if left != right or top != bottom:
            raise AttributeError(f"padding {self.pad} (left, right, top, bottom) is not "
                                 "symmetric: read .pad")
        return (top, left)

    @property
    def out_channels(self) -> int:
        return self.shape[0]

    @property
    def weight_shape(self):
        return (self.shape[0], self.in_channels, *self.kernel_size)

    def _layer_state(self):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self._geo.items()}

    def _parse_layer_state(self, state, shape):
        try:
            geo = conv_geometry(*(state[k] for k in ("in_channels", "kernel_size", "stride",
                                                     "pad", "dilation", "padding_mode")),
                                shape[1])
        except KeyError as e:
            raise ValueError(f"extra state lacks the conv's {e.args[0]!r}") from None
        if (geo["in_channels"], geo["kernel_size"]) != (self.in_channels, self.kernel_size):
            raise ValueError(f"extra state is a conv of {geo['in_channels']} channels with "
                             f"kernel {geo['kernel_size']}, this layer has {self.in_channels} "
                             f"and {self.kernel_size}")
        return geo

    def _set_layer_state(self, geo):
        self._geo = geo

    def _install(self, fmt):
        super()._install(fmt)
        self.__dict__.pop("_plans", None)   # worked out for the old format and geometry

    def forward(self, x, residual=None, into_residual=False):
        """The conv of ``x`` (B, C, H, W) or (C, H, W), plus ``residual`` if given (a ResNet
        block's skip connection: any tensor that broadcasts to the output), then this layer's
        fused ReLU if it has one. A residual of the output's shape and dtype is added inside
        the kernels where the layer writes its output directly (1×1 convs and convs whose
        im2col is built), else by torch after the product. ``into_residual``: the caller
        will not read ``residual`` again, so the kernels may write the output over it (then
        the result is that tensor) instead of into a new one, whose memory no cache holds
        yet (resnet50 at 90 %, batch 1, one thread, fused, one process, interleaved: 25.47 →
        24.54 ms; V=8 17.20 → 15.43 ms)."""
        fmt = self._check_input(x)   # revalidated if the buffers changed
        unbatched = x.dim() == 3
        if unbatched:
            x = x.unsqueeze(0)
        plan = self._plans.get((x.shape, x.dtype)) or self._plan(x, fmt)
        b, m = x.shape[0], self.shape[0]
        ho, wo = plan.out
        if plan.torch_pad is not None:
            x = F.pad(x, *plan.torch_pad)
        bias = self.kernel_bias()   # added by the kernels
        # the kernels write each image's output
        direct = not plan.fold and (not plan.in_place or plan.segments)
        fused_res = (self._kernel_residual(residual, (b, m, ho, wo), x.dtype, unbatched)
                     if direct else None)
        over = fused_res is not None and into_residual and \
            fused_res.untyped_storage().data_ptr() != x.untyped_storage().data_ptr()
        late = residual is not None and fused_res is None   # torch adds it after
        relu = self.relu and not late
        if plan.fold:
            # Small images: one product over the whole batch, N = B·Ho·Wo.
            y = torch.empty(m, b * ho * wo, dtype=x.dtype)
            fmt._product(self._im2col(x, plan.pad, ho, wo, plan.gather, 0, b).numpy(), y.numpy(),
                         bias, relu=relu)
            out = y.view(m, b, ho, wo).transpose(0, 1).contiguous()
        elif plan.in_place:
            # The padded image is read in place as its im2col matrix: split into its sh × sw
            # stride phases (one pass; none at stride 1), the im2col row of column (c, i, j)
            # is one contiguous run of a phase when output row oh spans a phase's Wq columns,
            # of which the first Wo are kept: either copied out of a buffer of all the columns,
            # or (``segments``) written straight into the output by output rows.
            phases = self._phases(x, plan.pad, *plan.phase) if plan.split else x.contiguous()
            out = fused_res if over else torch.empty(b, m, ho, wo, dtype=x.dtype)
            if plan.last + plan.span > phases[0].numel():   # the kernels trust it; the
                raise RuntimeError(f"{self}: im2col rows would leave the image")  # plan ensures it
            if plan.segments:
                flat = out.view(b, m, ho * wo)
                for i in range(b):
                    fmt._product(phases[i].numpy().reshape(-1), flat[i].numpy(), bias,
                                 relu=relu, starts=plan.starts, segments=(ho, wo, plan.phase[1]),
                                 residual=None if fused_res is None else
                                 fused_res[i].view(m, ho * wo).numpy())
            else:
                from sparsekit.kernels.crop import keep_columns   # Numba: at the first call
                wide = torch.empty(m, plan.span, dtype=x.dtype)
                for i in range(b):
                    fmt._product(phases[i].numpy().reshape(-1), wide.numpy(), bias, relu=relu,
                                 starts=plan.starts)
                    keep_columns(wide.numpy(), plan.phase[1], out[i].numpy())
                    if tracing._ACTIVE:      # what torch's copy of the kept columns recorded
                        tracing.record_op("copy", [wide.as_strided(
                            (m, ho, wo), (plan.span, plan.phase[1], 1))], [out[i]])
        else:
            out = fused_res if over else torch.empty(b, m, ho, wo, dtype=x.dtype)
            flat = out.view(b, m, ho * wo)
            for i in range(b):
                fmt._product(self._im2col(x, plan.pad, ho, wo, plan.gather, i, i + 1).numpy(),
                             flat[i].numpy(), bias,
                             relu=relu, residual=None if fused_res is None else
                             fused_res[i].view(m, ho * wo).numpy())
        if tracing._ACTIVE:
            kh, kw = self.kernel_size
            w = self.weight_dense().reshape(m, self.in_channels, kh, kw)
            tracing.record_sparse_product(self, "conv2d", w, m, self.shape[1], b * ho * wo,
                                          x.shape, out.shape)
        out = out[0] if unbatched else out
        if late:
            out = torch.add(out, residual)
            if self.relu:
                out = torch.relu_(out)
        return out

    MAX_PLANS = 8   # input shapes whose plans a layer keeps (a model calls it on one or two)

    def _plan(self, x, fmt) -> _ConvPlan:
        """How ``forward`` runs an input of ``x``'s shape and dtype (B, C, H, W): every choice
        that depends on nothing else (but the format ``fmt``), worked out at the first call
        with that shape and kept (``_plans``, dropped with the format). Working them out at
        every call, with a slower input check, cost 0.5 ms of resnet50's 26 ms at batch 1
        (one thread, one process, interleaved)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"input must be (B, {self.in_channels}, H, W) or "
                             f"({self.in_channels}, H, W), got shape {tuple(x.shape)}")
        b, c, h, w = x.shape
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        left, right, top, bottom = self.pad
        ho = (h + top + bottom - dh * (kh - 1) - 1) // sh + 1
        wo = (w + left + right - dw * (kw - 1) - 1) // sw + 1
        if ho < 1 or wo < 1:
            raise ValueError(f"input {h + top + bottom}×{w + left + right} (padded) is smaller "
                             f"than the kernel")
        hq, wq = -(-(h + top + bottom) // sh), -(-(w + left + right) // sw)  # a stride phase
        fold = b > 1 and ho * wo < self.FOLD_BELOW
        in_place = not fold and kh * kw > 1 and \
            self._in_place_pays(ho, wo, wq, x.element_size())
        # Narrow outputs not read in place: im2col by the gather kernel, which pads zeros.
        gather = not in_place and kh * kw > 1 and wo < self.GATHER_BELOW
        split = in_place and (sh, sw) != (1, 1)   # by the phase kernel, which pads zeros
        pad, torch_pad = self.pad, None
        if any(pad) and not ((gather or split) and self.padding_mode == "zeros"):
            mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
            pad, torch_pad = (0, 0, 0, 0), (pad, mode)
        starts, last = self._starts(hq, wq) if in_place else (None, 0)
        span = (ho - 1) * wq + wo
        plan = _ConvPlan(out=(ho, wo), phase=(hq, wq), fold=fold, in_place=in_place,
                         gather=gather, split=split, pad=pad, torch_pad=torch_pad,
                         span=span, starts=starts, last=last,
                         segments=in_place and fmt.SEGMENTS and
                         self._segments_pay(ho, wo, span, x.element_size()))
        plans = self._plans
        if len(plans) >= self.MAX_PLANS:
            plans.clear()
        plans[(x.shape, x.dtype)] = plan
        return plan

    @property
    def _plans(self) -> dict:
        return self.__dict__.setdefault("_plans", {})

    @staticmethod
    def _kernel_residual(residual, shape, dtype, unbatched):
        """``residual`` as the kernels add it: a contiguous (B, M, Ho, Wo) tensor of the
        output's dtype, or None where it is absent or is not one (then torch adds it, with
        broadcasting and type promotion)."""
        if residual is None or not isinstance(residual, torch.Tensor):
            return None
        r = residual.unsqueeze(0) if unbatched else residual
        if tuple(r.shape) != shape or r.dtype != dtype or r.device.type != "cpu" \
                or r.requires_grad:
            return None
        return r.contiguous()

    def _im2col(self, x, pad, ho, wo, gather, b0, b1):
        """The K × (b1 − b0)·Ho·Wo im2col matrix of images [b0, b1) of ``x`` (padded already
        unless ``pad`` says otherwise), C-contiguous: built by the gather kernel
        (``gather``: zero padding ``pad`` applied there) or copied by torch from a
        strided view of the image (no copy for a 1×1 kernel at stride 1 on one image; a strided
        1×1 kernel on one image takes the phase kernel's ``subsample``: 127 → 72 µs at 256 ×
        56 × 56, stride 2, one thread)."""
        kh, kw = self.kernel_size
        (sh, sw), (dh, dw) = self.stride, self.dilation
        k = self.shape[1]
        positions = ho * wo
        if gather:
            from sparsekit.kernels.im2col import im2col   # Numba: loaded at the first call
            cols = torch.empty(k, (b1 - b0) * positions, dtype=x.dtype)
            for i in range(b0, b1):
                im2col(x[i].contiguous().numpy(), (kh, kw), (sh, sw), (dh, dw), pad,
                       cols.numpy(), (i - b0) * positions)
            if tracing._ACTIVE:      # what torch's pad and copy would have recorded
                tracing.record_op("im2col", [x[b0:b1]], [cols])
            return cols
        if kh == kw == sh == sw == 1 and b1 - b0 == 1:   # one image: itself (a view if
            if x.shape[0] == 1 and x.is_contiguous():     # contiguous)
                return x.view(k, positions)
            return x[b0].reshape(k, positions).contiguous()
        if kh == kw == 1 and b1 - b0 == 1 and (ho, wo) == (-(-x.shape[2] // sh),
                                                       -(-x.shape[3] // sw)):
            from sparsekit.kernels.phases import subsample   # Numba: loaded at the first call
            cols = torch.empty(k, ho, wo, dtype=x.dtype)
            subsample(x[b0].contiguous().numpy(), (sh, sw), cols.numpy())
            if tracing._ACTIVE:      # the phase kernel's pass, priced as its split is
                tracing.record_op("phases", [x[b0:b1]], [cols])
            return cols.view(k, positions)
        x = x[b0:b1]
        if kh == kw == 1:
            cols = x[:, :, ::sh, ::sw][:, :, :ho, :wo]  # (B, C, Ho, Wo): K = C
        else:
            sb, sc, shh, sww = x.stride()
            cols = x.as_strided((b1 - b0, x.shape[1], kh, kw, ho, wo),
                                (sb, sc, shh * dh, sww * dw, shh * sh, sww * sw),
                                x.storage_offset())
        return cols.movedim(0, -3).reshape(k, (b1 - b0) * positions).contiguous()

    def _phases(self, x, pad, hq, wq):
        """The stride phases of images ``x`` (B, C, H, W), padded by ``pad`` with zeros and
        then to whole phases: (B, sh, sw, C, Hq, Wq), by the phase kernel in one pass."""
        from sparsekit.kernels.phases import split_phases   # Numba: loaded at the first call
        (sh, sw), (b, c) = self.stride, x.shape[:2]
        phases = torch.empty(b, sh, sw, c, hq, wq, dtype=x.dtype)
        for i in range(b):
            split_phases(x[i].contiguous().numpy(), pad, phases[i].numpy())
        if tracing._ACTIVE:      # what torch's pad and copy would have recorded
            tracing.record_op("phases", [x], [phases])
        return phases

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_plans", None)   # a cache (with numpy arrays), rebuilt by the next forward
        return state

    @staticmethod
    def _segments_pay(ho, wo, span, itemsize):
        """Whether a conv read in place should write its output rows straight into the
        output (``kernels.csr_spmm``'s segments) rather than all ``span`` columns into a
        buffer and copy the Wo of each row out: where each row is a whole four-vector panel
        or more and takes no more SIMD vectors than the buffer's columns do. resnet50's 7×7
        stem (112 columns a row, seven vectors, against 115 in the buffer), one process,
        interleaved: 1263 → 938 µs on one thread, 850 → 561 on two. Its 3×3 convs stay with
        the buffer (56 columns a row take four vectors, where the buffer takes 3.6)."""
        lanes = 64 // itemsize
        return wo >= 4 * lanes and -(-wo // lanes) * ho <= -(-span // lanes)

    @staticmethod
    def _in_place_pays(ho, wo, wq, itemsize):
        """Whether reading the image in place beats building im2col: the kernels' rows cover
        (Ho − 1)·Wq + Wo columns instead of Ho·Wo, in SIMD vectors of 64 bytes, and more
        vectors per row cost more passes over the weights. At most 1/8 more vectors pays
        (resnet's 56², 28², 14² and 7² outputs at 224); a 4×4 output (16 columns, one vector)
        read as 22 columns takes two and ran 3x slower than im2col."""
        lanes = 64 // itemsize
        needed = -(-(ho * wo) // lanes)
        return -(-((ho - 1) * wq + wo) // lanes) <= needed + needed // 8

    def _starts(self, hq, wq):
        """Where im2col row (c, i, j) starts, for output position 0, in the flat stride phases
        of the padded image (sh · sw phases of C × Hq × Wq, phase (p, q) holding the rows
        p, p + sh, ... and columns q, q + sw, ...): tap (i, j) reads phase ((i·dh) mod sh,
        (j·dw) mod sw) from row (i·dh) div sh and column (j·dw) div sw. Read-only, with its
        largest value."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        channels = self.in_channels
        di, dj = np.arange(kh, dtype=np.int64) * dh, np.arange(kw, dtype=np.int64) * dw
        phase = (di % sh)[:, None] * sw + (dj % sw)[None, :]            # (kh, kw)
        within = (di // sh)[:, None] * wq + (dj // sw)[None, :]
        c = np.arange(channels, dtype=np.int64)[:, None, None]
        starts = ((phase[None] * channels + c) * (hq * wq) + within[None]).reshape(-1)
        starts.flags.writeable = False   # the kernels trust it (see ``forward``)
        return starts, int(starts.max())

    def to_dense(self) -> nn.Module:
        """An equivalent dense nn.Conv2d (after a pad where the padding is asymmetric, followed
        by an nn.ReLU if one is fused; a residual passed to ``forward`` has no dense
        counterpart)."""
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
            conv = nn.Sequential(nn.ConstantPad2d(self.pad, 0.0) if self.padding_mode ==
                                 "zeros" else _Pad(self.pad, self.padding_mode), conv)
        return self._with_relu(conv)

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

__all__ = ["SparseLinear", "SparseConv2d", "FORMATS"]
