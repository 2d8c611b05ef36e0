"""``SparseMultiheadAttention``: ``nn.MultiheadAttention`` with its four projections held as
separate modules, so each can be a ``SparseLinear``.

torch's MultiheadAttention keeps q, k and v in one packed ``in_proj_weight`` and passes its
weights to ``F.multi_head_attention_forward``: no sparse module can stand in for them. Here
q, k, v and the output projection are modules (``q_proj``, ``k_proj``, ``v_proj``,
``out_proj``: nn.Linear or SparseLinear), and the attention between them is torch's
``scaled_dot_product_attention`` (or, when the attention weights are asked for, the same
explicit softmax as torch's). Same forward signature, masks and results as the module it
replaces, so parents such as ``nn.TransformerEncoderLayer`` call it unchanged; it also
exposes MultiheadAttention's attributes (``batch_first``, ``in_proj_weight`` built on
demand, ...) for code that reads them.

Not supported (``sk.sparsify`` keeps such modules dense): ``bias_k``/``bias_v``,
``add_zero_attn``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _float_mask(mask, name, dtype):
    """A bool mask (True = not allowed) as an additive float mask, as torch does."""
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        return torch.zeros_like(mask, dtype=dtype).masked_fill_(mask, float("-inf"))
    if not torch.is_floating_point(mask):
        raise TypeError(f"{name} must be a bool or float tensor, got {mask.dtype}")
    return mask.to(dtype)


class SparseMultiheadAttention(nn.Module):
    """Multi-head attention whose projections are separate (dense or sparse) Linear modules.

    ``SparseMultiheadAttention.from_dense(mha, format=None)`` splits an
    ``nn.MultiheadAttention`` (plain nn.Linear projections with its weights; with a
    ``format``, each projection packed as a SparseLinear).
    """

    def __init__(self, q_proj, k_proj, v_proj, out_proj, num_heads, *, batch_first=False,
                 dropout=0.0):
        super().__init__()
        embed_dim = out_proj.out_features
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads "
                             f"{num_heads}")
        for name, proj in (("q_proj", q_proj), ("k_proj", k_proj), ("v_proj", v_proj),
                           ("out_proj", out_proj)):
            if proj.out_features != embed_dim:
                raise ValueError(f"{name} must have {embed_dim} outputs, got "
                                 f"{proj.out_features}")
        if q_proj.in_features != embed_dim or out_proj.in_features != embed_dim:
            raise ValueError(f"q_proj and out_proj must take embed_dim={embed_dim} inputs")
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = q_proj, k_proj, v_proj, out_proj
        self.embed_dim, self.num_heads = embed_dim, int(num_heads)
        self.head_dim = embed_dim // self.num_heads
        self.kdim, self.vdim = k_proj.in_features, v_proj.in_features
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.batch_first, self.dropout = bool(batch_first), float(dropout)
        self.bias_k = self.bias_v = None
        self.add_zero_attn = False

    @classmethod
    def unsupported(cls, mha) -> str:
        """Why ``mha`` cannot be split ("" when it can)."""
        if mha.bias_k is not None or mha.bias_v is not None:
            return "bias_k/bias_v set"
        if mha.add_zero_attn:
            return "add_zero_attn set"
        return ""

    @classmethod
    def from_dense(cls, mha: nn.MultiheadAttention, format=None, block=(4, 4), vector=8):
        why = cls.unsupported(mha)
        if why:
            raise ValueError(f"SparseMultiheadAttention does not support {why}")
        with torch.no_grad():
            if mha._qkv_same_embed_dim:
                wq, wk, wv = mha.in_proj_weight.detach().chunk(3)
            else:
                wq, wk, wv = (mha.q_proj_weight.detach(), mha.k_proj_weight.detach(),
                              mha.v_proj_weight.detach())
            bq = bk = bv = None
            if mha.in_proj_bias is not None:
                bq, bk, bv = mha.in_proj_bias.detach().chunk(3)
            projections = [_linear(w, b) for w, b in ((wq, bq), (wk, bk), (wv, bv))]
            projections.append(_linear(mha.out_proj.weight.detach(),
                                       None if mha.out_proj.bias is None
                                       else mha.out_proj.bias.detach()))
        if format is not None:
            from sparsekit.nn.layers import SparseLinear
            projections = [SparseLinear.from_dense(p, format, block, vector)
                           for p in projections]
        out = cls(*projections, mha.num_heads, batch_first=mha.batch_first,
                  dropout=mha.dropout)
        return out.train(mha.training)

    # -- MultiheadAttention's attributes, for code that reads them -----------------------
    @property
    def in_proj_weight(self):
        """The packed (3E × E) q/k/v weight, dense (None when kdim or vdim differ)."""
        if not self._qkv_same_embed_dim:
            return None
        return torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])

    @property
    def in_proj_bias(self):
        biases = [self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]
        return None if any(b is None for b in biases) else torch.cat(biases)

    @property
    def q_proj_weight(self):
        return None if self._qkv_same_embed_dim else self.q_proj.weight

    @property
    def k_proj_weight(self):
        return None if self._qkv_same_embed_dim else self.k_proj.weight

    @property
    def v_proj_weight(self):
        return None if self._qkv_same_embed_dim else self.v_proj.weight

    # -- forward -------------------------------------------------------------------------
    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        """As ``nn.MultiheadAttention.forward``: (attn_output, attn_weights or None)."""
        batched = query.dim() == 3
        if not batched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        b, tgt, _ = query.shape
        src = key.shape[1]
        if value.shape[:2] != key.shape[:2]:
            raise ValueError(f"key {tuple(key.shape)} and value {tuple(value.shape)} must "
                             "agree in batch and sequence length")
        if is_causal and attn_mask is None:
            raise ValueError("is_causal is a hint that attn_mask is causal: pass attn_mask "
                             "(e.g. nn.Transformer.generate_square_subsequent_mask)")
        mask = _float_mask(attn_mask, "attn_mask", query.dtype)
        if mask is not None:
            expected = {2: (tgt, src), 3: (b * self.num_heads, tgt, src)}.get(mask.dim())
            if tuple(mask.shape) != expected:
                raise ValueError(f"attn_mask must be ({tgt}, {src}) or "
                                 f"({b * self.num_heads}, {tgt}, {src}), got "
                                 f"{tuple(mask.shape)}")
            mask = mask.view(-1, self.num_heads, tgt, src) if mask.dim() == 3 else mask
        kpm = _float_mask(key_padding_mask, "key_padding_mask", query.dtype)
        if kpm is not None:
            if tuple(kpm.shape) != (b, src):
                raise ValueError(f"key_padding_mask must be ({b}, {src}), got "
                                 f"{tuple(kpm.shape)}")
            kpm = kpm.view(b, 1, 1, src)
            mask = kpm if mask is None else mask + kpm

        h, d = self.num_heads, self.head_dim
        q = self.q_proj(query).reshape(b, tgt, h, d).transpose(1, 2)
        k = self.k_proj(key).reshape(b, src, h, d).transpose(1, 2)
        v = self.v_proj(value).reshape(b, src, h, d).transpose(1, 2)
        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:  # the attention weights are returned: computed explicitly
            scores = (q * math.sqrt(1.0 / d)) @ k.transpose(-2, -1)
            if mask is not None:
                scores = scores + mask
            attn = torch.softmax(scores, dim=-1)
            weights = attn.mean(dim=1) if average_attn_weights else attn
            out = (F.dropout(attn, p) if p else attn) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        out = self.out_proj(out.transpose(1, 2).reshape(b, tgt, self.embed_dim))
        if not batched:
            return out[0], None if weights is None else weights[0]
        return (out if self.batch_first else out.transpose(0, 1)), weights

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"batch_first={self.batch_first}")


def _linear(w, b):
    lin = nn.Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=w.dtype,
                    device=w.device)
    with torch.no_grad():
        lin.weight.copy_(w)
        if b is not None:
            lin.bias.copy_(b)
    return lin


torch.serialization.add_safe_globals([SparseMultiheadAttention])

__all__ = ["SparseMultiheadAttention"]
