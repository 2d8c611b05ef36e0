"""``MaxPool2d``: an inference drop-in for ``nn.MaxPool2d`` that runs ``kernels.pool``.

``sk.sparsify`` puts one in place of every ``nn.MaxPool2d`` it can (``MaxPool2d.supports``):
once a ResNet's convolutions are sparse, torch's one-thread max-pool of the stem is as slow as
all of them. Anything the kernel does not cover runs torch's own ``F.max_pool2d``: autograd,
dtypes other than float32/float64, other devices, inputs that are not 3-D or 4-D.
"""
from __future__ import annotations

import torch
from torch import nn

from sparsekit.model import tracing


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class MaxPool2d(nn.MaxPool2d):
    """nn.MaxPool2d (same arguments, same results, NaN propagated) for inference; only
    dilation 1, ceil_mode=False and return_indices=False (see ``supports``)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__(kernel_size, stride, padding)
        if not self.supports(self):
            raise ValueError(f"MaxPool2d runs kernel sizes and strides >= 1 with padding at "
                             f"most half the kernel; got kernel {self.kernel_size}, stride "
                             f"{self.stride}, padding {self.padding}")

    @staticmethod
    def supports(pool: nn.Module) -> bool:
        """Whether ``pool`` (an nn.MaxPool2d) can run on the kernel: dilation 1, no indices,
        no ceil mode, and the padding torch itself accepts (at most half the kernel)."""
        if type(pool) not in (nn.MaxPool2d, MaxPool2d) or pool.return_indices \
                or pool.ceil_mode or _pair(pool.dilation) != (1, 1):
            return False
        kernel, stride, pad = (_pair(v) for v in (pool.kernel_size,
                                                  pool.stride or pool.kernel_size,
                                                  pool.padding))
        return all(isinstance(v, int) and v >= 1 for v in kernel + stride) and \
            all(isinstance(p, int) and 0 <= p <= k // 2 for p, k in zip(pad, kernel))

    @classmethod
    def from_dense(cls, pool: nn.MaxPool2d) -> "MaxPool2d":
        if not cls.supports(pool):
            raise ValueError(f"cannot run {pool} on the max-pool kernel: it needs dilation 1, "
                             "ceil_mode=False and return_indices=False")
        return cls(pool.kernel_size, pool.stride, pool.padding)

    def forward(self, x):
        if x.dtype not in (torch.float32, torch.float64) or x.device.type != "cpu" \
                or x.dim() not in (3, 4) or (x.requires_grad and torch.is_grad_enabled()):
            return super().forward(x)
        (kh, kw), (sh, sw), (ph, pw) = (_pair(v) for v in (self.kernel_size, self.stride,
                                                           self.padding))
        batch = x if x.dim() == 4 else x.unsqueeze(0)
        b, c, h, w = batch.shape
        ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        if ho < 1 or wo < 1:
            return super().forward(x)   # torch's own error for a window larger than the input
        from sparsekit.kernels.pool import max_pool2d   # Numba: loaded at the first pool
        out = torch.empty(b, c, ho, wo, dtype=x.dtype)
        batch = batch.contiguous()
        max_pool2d(batch.numpy(), kh, kw, sh, sw, ph, pw, out.numpy())
        if tracing._ACTIVE:
            tracing.record_op("max_pool2d", [batch], [out], window=kh * kw)
        return out if x.dim() == 4 else out[0]
