"""The measured cost of each kind of non-GEMM op a model runs (``sparsekit calibrate``).

One figure for every "other" op is far off for most of them: on one thread here a batch norm's
fixed cost is about three times a ReLU's, an add streams about 120 GB/s, a batch norm 50, a
layer norm 20, and torch's max-pool 1 GB/s (it tests every window element with a branch).
So each kind the library's models run is timed twice, as the model runs it: on a tensor too
small to do work (its fixed cost per call) and on an activation of a typical size (its rate:
the bytes over the time above the fixed cost). The kind and the bytes come from the same
trace that ``sk.estimate`` prices a model with, so the names and byte counts agree.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sparsekit.model.tracing import trace_forward


class _Probe(nn.Module):
    """A module that runs one op on its input, so that the tracer sees it as a model's: ``op``
    a module, or a function of the input using the modules ``parts``."""

    def __init__(self, op, *parts):
        super().__init__()
        self.op = op
        self.parts = nn.ModuleList(parts)

    def forward(self, x):
        return self.op(x)


def _probes():
    """{label: (build(size) -> (probe module, input))}: size "tiny" (1 × 4 × 4 × 4, or the
    smallest input of the op) or "typical" (a resnet stem activation, 1 × 64 × 56 × 56, or the
    op's usual operand)."""
    from sparsekit.nn import MaxPool2d, SparseConv2d

    def image(size, channels=64, side=56):
        return torch.randn((1, 4, 4, 4) if size == "tiny" else (1, channels, side, side))

    def module(make, **kw):
        def build(size):
            x = image(size, **kw)
            return _Probe(make(x.shape[1]).eval()), x
        return build

    def function(op, **kw):
        return lambda size: (_Probe(op), image(size, **kw))

    def add(size):                       # a residual add / a bias add: in place
        x = image(size)
        y = torch.randn_like(x)
        return _Probe(lambda t: t.add_(y)), x

    def strided_copy(size):              # the in-place conv path: wide rows into (M, Ho, Wo)
        m, ho, wo = (4, 4, 4) if size == "tiny" else (64, 56, 56)
        wq = wo + 2
        out = torch.empty(m, ho, wo)
        return (_Probe(lambda t: out.copy_(t.as_strided((m, ho, wo), (ho * wq, wq, 1)))),
                torch.randn(m, ho * wq))

    def phases(size):                    # a stride-2 conv's padded split into its 4 phases
        x = image(size)                  # (``kernels.phases``, as SparseConv2d runs it)
        conv = SparseConv2d.from_dense(nn.Conv2d(x.shape[1], 4, 3, 2, padding=1), "csr")
        side = -(-(x.shape[2] + 2) // 2)
        return _Probe(lambda t: conv._phases(t, conv.pad, side, side), conv), x

    def im2col(size):                    # SparseConv2d's gather im2col, 3×3 on a 4×4 output
        channels = 4 if size == "tiny" else 512
        conv = SparseConv2d.from_dense(nn.Conv2d(channels, 4, 3, padding=1), "csr")
        return (_Probe(lambda t: conv._im2col(t, conv.pad, 4, 4, True, 0, 1), conv),
                torch.randn(1, channels, 4, 4))

    def layer_norm(size):
        x = torch.randn((1, 4) if size == "tiny" else (128, 384))
        return _Probe(nn.LayerNorm(x.shape[-1]).eval()), x

    return {
        "nn.BatchNorm2d": module(nn.BatchNorm2d),
        "nn.ReLU(inplace=True)": module(lambda c: nn.ReLU(inplace=True)),
        "nn.ReLU6(inplace=True)": module(lambda c: nn.ReLU6(inplace=True)),
        "in-place add": add,
        "nn.MaxPool2d(3, 2, 1)": module(lambda c: nn.MaxPool2d(3, 2, 1)),
        "sparsekit.nn.MaxPool2d(3, 2, 1)": module(lambda c: MaxPool2d(3, 2, 1)),
        "nn.AdaptiveAvgPool2d(1) on 512x7x7": module(lambda c: nn.AdaptiveAvgPool2d(1),
                                                     channels=512, side=7),
        "F.pad by 1": function(lambda t: F.pad(t, (1, 1, 1, 1))),
        "strided row copy": strided_copy,
        "stride-2 phase split": phases,
        "gather im2col 3x3 on 512x4x4": im2col,
        "nn.LayerNorm(384) on 128x384": layer_norm,
    }


def _traced_op(probe, x):
    """(kind, bytes read + written) of the probe's one op, from the tracer."""
    ops = trace_forward(probe, x).ops
    kinds = {op.kind for op in ops}
    if len(kinds) != 1:
        raise RuntimeError(f"an op probe ran {sorted(kinds)}: expected one op kind")
    return ops[0].kind, sum(op.bytes_read + op.bytes_written for op in ops)


def measure_other_ops(clock_hz, time_all, say=lambda msg: None) -> dict:
    """{kind: {"call_cycles", "bytes_per_cycle", "what"}} for every probe: the fixed cost is
    the tiny call's time, the rate the typical call's bytes over its time above that.
    ``time_all(fns) -> [seconds]`` (each the fastest of a few rounds; all the calls in turn)."""
    out = {}
    with torch.no_grad():
        probes = {what: (build("tiny"), build("typical")) for what, build in _probes().items()}
        times = iter(time_all([lambda p=p, x=x: p(x) for pair in probes.values()
                               for p, x in pair]))
        for what, ((tiny, x_tiny), (typical, x)) in probes.items():
            kind, nbytes = _traced_op(typical, x)
            t_tiny, t = next(times), next(times)
            rate = nbytes / (max(t - t_tiny, 1e-3 * t) * clock_hz)
            out[kind] = {"call_cycles": t_tiny * clock_hz, "bytes_per_cycle": rate,
                         "what": f"{what}: {t_tiny * 1e6:.3g} µs tiny, {t * 1e6:.3g} µs on "
                                 f"{nbytes / 1e6:.3g} MB"}
            say(f"{kind}: {t_tiny * 1e6:.2f} µs per call, "
                f"{rate * clock_hz / 1e9:.1f} GB/s")
    return out
