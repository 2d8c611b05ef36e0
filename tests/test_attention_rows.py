"""Products between two activations (attention's q·kᵀ and attn·v) are rows of sk.analyze: MACs,
no weight, in the totals; the other operators are summed per op kind."""
import torch
from torch import nn

import sparsekit as sk
from sparsekit.model._analyze import total_macs
from sparsekit.nn.attention import SparseMultiheadAttention

D, SEQ, HEADS, LAYERS = 384, 128, 6, 6


def _encoder():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(D, HEADS, dim_feedforward=4 * D, batch_first=True)
    return nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False).eval()


def _attention_rows(summary):
    return [r for r in summary if r["weight_params"] == 0]


def _check(summary):
    rows = _attention_rows(summary)
    assert len(rows) == 2 * LAYERS
    per_layer = {}
    for r in rows:
        per_layer.setdefault(r["name"].rsplit("/", 1)[0], []).append(r)
        assert r["nnz"] == 0 and r["bytes_dense"] == 0 and r["effective_macs"] == r["macs"]
    assert len(per_layer) == LAYERS
    for name, (qk, av) in per_layer.items():
        # q·kᵀ: per head SEQ × D/HEADS by D/HEADS × SEQ; attn·v: SEQ × SEQ by SEQ × D/HEADS
        assert qk["macs"] == av["macs"] == SEQ * SEQ * D
        assert qk["macs"] + av["macs"] == 2 * SEQ ** 2 * D
    weight = sum(r["macs"] for r in summary if r["weight_params"])
    assert summary.total["macs"] == weight + LAYERS * 2 * SEQ ** 2 * D
    assert summary.total["effective_macs"] == sum(r["effective_macs"] for r in summary)
    kinds = {r["op"] for r in summary.ops}
    assert {"native_layer_norm", "add"} <= kinds and any("softmax" in k for k in kinds)
    assert all(r["calls"] > 0 and r["bytes_moved"] > 0 for r in summary.ops)


def test_transformer_encoder_attention_rows():
    x = torch.randn(1, SEQ, D)
    summary = sk.analyze(_encoder(), x, formats=())
    _check(summary)
    assert summary.total["macs"] == total_macs(_encoder(), x)
    text = summary.to_text()
    assert "activation × activation product" in text and "other operators" in text


def test_sparse_multihead_attention_rows():
    model = _encoder()
    sk.prune.magnitude(model, 0.9)
    x = torch.randn(1, SEQ, D)
    fast = sk.sparsify(model, format="csr", example_input=x)
    assert any(isinstance(m, SparseMultiheadAttention) for m in fast.modules())
    summary = sk.analyze(fast, x, formats=())
    _check(summary)
    dense = sk.analyze(model, x, formats=())
    assert summary.total["macs"] == dense.total["macs"]


def test_matmul_bmm_einsum_between_activations():
    class Mix(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(8, 8)

        def forward(self, x):                      # x: (B, L, 8)
            q = self.proj(x)
            a = torch.matmul(q, x.transpose(1, 2))                   # (B, L, L)
            b = torch.bmm(a, x)                                      # (B, L, 8)
            c = torch.einsum("bld,bmd->blm", b, q)                   # (B, L, L)
            d = nn.functional.scaled_dot_product_attention(q, x, x)  # 2 products
            return c.sum() + d.sum() + (x[0] @ x[0].T).sum()         # mm

    B, L = 3, 5
    summary = sk.analyze(Mix(), torch.randn(B, L, 8), formats=())
    products = _attention_rows(summary)
    assert [r["macs"] for r in products] == [B * L * 8 * L] * 5 + [L * 8 * L]
    ops = [r["op"] for r in products]
    # small attention runs torch's math path (two bmm); larger ones a fused kernel
    assert ops[:3] == ["bmm"] * 3 and ops[-1] == "mm"
    assert ops[3:5] in (["sdpa.qk", "sdpa.av"], ["bmm", "bmm"])
    assert summary.total["macs"] == B * L * 8 * 8 + sum(r["macs"] for r in products)


def test_vit_b_16_macs_match_torchvision():
    """torchvision publishes 17.56 GFLOPS (MACs) for vit_b_16 at 224×224; its shapes rebuilt
    here (patch conv, class token, 12 encoder layers of d=768, 12 heads, MLP 3072, head), on
    the meta device: the 0.715 G of attention products close the gap."""
    d, layers, seq = 768, 12, 197

    class ViT(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_proj = nn.Conv2d(3, d, 16, stride=16)
            self.cls = nn.Parameter(torch.zeros(1, 1, d))
            self.pos = nn.Parameter(torch.zeros(1, seq, d))
            self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(
                d, 12, 3072, activation="gelu", batch_first=True, norm_first=True), layers,
                enable_nested_tensor=False)
            self.head = nn.Linear(d, 1000)

        def forward(self, x):
            x = self.conv_proj(x).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
            return self.head(self.encoder(x)[:, 0])

    with torch.device("meta"):
        model, x = ViT().eval(), torch.empty(1, 3, 224, 224)
    summary = sk.analyze(model, x, formats=())
    attention = sum(r["macs"] for r in _attention_rows(summary))
    assert attention == layers * 2 * seq ** 2 * d
    assert round(attention / 1e9, 3) == 0.715
    weights = 196 * 3 * 256 * d + layers * seq * (4 * d * d + 2 * d * 3072) + d * 1000
    assert summary.total["macs"] == weights + attention
    assert round(summary.total["macs"] / 1e9, 2) == 17.56


def test_other_operators_per_kind():
    """Bytes and FLOPs of the other ops: a relu reads and writes its tensor, a max pool does
    a window of work per output, a view moves nothing, and a pruning mask applied to a weight
    (weights alone) is not an op of the pass."""
    import json

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):                         # x: (2, 3, 8, 8)
            y = torch.relu(self.conv(x))              # 2·4·8·8 = 512 elements
            y = nn.functional.max_pool2d(y, 2)        # 128 outputs, 4 each
            return y.view(2, -1) * 2.0                # a view, then a mul

    model = Net()
    torch.nn.utils.prune.l1_unstructured(model.conv, "weight", 0.5)
    summary = sk.analyze(model, torch.randn(2, 3, 8, 8), formats=())
    ops = {r["op"]: r for r in summary.ops}
    assert set(ops) == {"relu", "max_pool2d_with_indices", "mul"}, ops
    assert ops["relu"]["calls"] == 1 and ops["relu"]["flops"] == 512
    assert ops["relu"]["bytes_read"] == ops["relu"]["bytes_written"] == 512 * 4
    pool = ops["max_pool2d_with_indices"]
    assert pool["flops"] == 128 * 4 and pool["bytes_read"] == 512 * 4
    assert pool["bytes_written"] == 128 * 4 + 128 * 8  # values and int64 indices
    assert ops["mul"]["flops"] == 128
    assert json.loads(summary.to_json())["ops"] == summary.ops
