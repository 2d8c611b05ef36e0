"""Attention and torch's transformer layers after sk.sparsify: SparseMultiheadAttention
equals nn.MultiheadAttention (masks, layouts, cross-attention, attention weights), and a
sparsified nn.TransformerEncoder / nn.Transformer runs sparse and matches the dense one."""
import warnings

import pytest
import torch
import torch.nn.utils.prune as torch_prune
from torch import nn

import sparsekit as sk
from sparsekit.nn import DenseReadWarning, SparseLinear, SparseMultiheadAttention

TOL = dict(rtol=1e-4, atol=1e-5)


def _prune_attention(model, level):
    """Prune every Linear and every MultiheadAttention's packed q/k/v weight."""
    sk.prune.magnitude(model, level)
    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):
            for name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
                if getattr(m, name, None) is not None:
                    torch_prune.l1_unstructured(m, name, level)
    return model


def _encoder(seed=0):
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(64, 4, dim_feedforward=128, batch_first=True)
    return _prune_attention(nn.TransformerEncoder(layer, 2).eval(), 0.8)


@pytest.fixture(scope="module")
def encoders():
    enc = _encoder()
    x = torch.randn(3, 10, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DenseReadWarning)
        fast, report = sk.sparsify(enc, "csr", example_input=x, return_report=True)
    return enc, fast, report


def test_sparsified_encoder_is_sparse_everywhere(encoders):
    enc, fast, report = encoders
    for i in range(2):
        layer = fast.layers[i]
        assert isinstance(layer.self_attn, SparseMultiheadAttention)
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            assert isinstance(getattr(layer.self_attn, proj), SparseLinear)
        assert isinstance(layer.linear1, SparseLinear)
        assert isinstance(layer.linear2, SparseLinear)
        assert layer.activation_relu_or_gelu == 0  # torch's fused path: off
    assert fast.use_nested_tensor is False
    assert {r["format"] for r in report} == {"csr"} and len(report) == 12
    assert isinstance(enc.layers[0].self_attn, nn.MultiheadAttention)  # original untouched


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
def test_sparsified_encoder_matches_dense(encoders):
    enc, fast, _ = encoders
    x = torch.randn(3, 10, 64)
    causal = nn.Transformer.generate_square_subsequent_mask(10)
    pad = torch.zeros(3, 10, dtype=torch.bool)
    pad[:, 7:] = True
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error", DenseReadWarning)  # nothing read densely
        torch.testing.assert_close(fast(x), enc(x), **TOL)
        torch.testing.assert_close(fast(x, mask=causal, is_causal=True),
                                   enc(x, mask=causal, is_causal=True), **TOL)
        # the dense encoder's fused path returns zeros at padded positions: compare the rest
        torch.testing.assert_close(fast(x, src_key_padding_mask=pad)[:, :7],
                                   enc(x, src_key_padding_mask=pad)[:, :7], **TOL)
        torch.testing.assert_close(fast(x[0]), enc(x[0]), **TOL)  # unbatched
        torch.backends.mha.set_fastpath_enabled(False)
        try:  # torch's ordinary path, which computes the padded positions too
            torch.testing.assert_close(fast(x, src_key_padding_mask=pad),
                                       enc(x, src_key_padding_mask=pad), **TOL)
        finally:
            torch.backends.mha.set_fastpath_enabled(True)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
def test_full_transformer_with_decoder_cross_attention():
    torch.manual_seed(1)
    model = _prune_attention(nn.Transformer(32, 4, 1, 1, dim_feedforward=64).eval(), 0.7)
    src, tgt = torch.randn(9, 2, 32), torch.randn(5, 2, 32)
    fast = sk.sparsify(model, "bsr", block=(4, 4), min_sparsity=0.3)
    attn = fast.decoder.layers[0].multihead_attn
    assert isinstance(attn, SparseMultiheadAttention) and isinstance(attn.k_proj, SparseLinear)
    with torch.no_grad():
        torch.testing.assert_close(fast(src, tgt), model(src, tgt), **TOL)


CASES = {
    "self batch_first": dict(batch_first=True),
    "self seq-first": dict(batch_first=False),
    "cross kdim vdim": dict(batch_first=False, kdim=12, vdim=10),
    "no bias": dict(batch_first=True, bias=False),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("need_weights,average", [(False, True), (True, True), (True, False)])
@pytest.mark.parametrize("masks", ["none", "bool", "float", "3d", "padding"])
def test_sparse_mha_equals_torch(case, need_weights, average, masks):
    kw = CASES[case]
    torch.manual_seed(0)
    mha = _prune_attention(nn.MultiheadAttention(16, 2, **kw).eval(), 0.6)
    sparse = SparseMultiheadAttention.from_dense(mha, "csr")
    self_attention = case.startswith("self")
    b, tgt, src = 3, 5, 5 if self_attention else 7
    kdim, vdim = kw.get("kdim", 16), kw.get("vdim", 16)
    first = (lambda t: t) if kw["batch_first"] else (lambda t: t.transpose(0, 1))
    q = first(torch.randn(b, tgt, 16))
    k = first(torch.randn(b, src, kdim))
    v = first(torch.randn(b, src, vdim))
    if self_attention:
        k = v = q  # the same tensor three times
    args = {}
    if masks == "bool":
        args["attn_mask"] = torch.rand(tgt, src) > 0.7
        args["attn_mask"][:, 0] = False
    elif masks == "float":
        args["attn_mask"] = torch.randn(tgt, src)
    elif masks == "3d":
        args["attn_mask"] = torch.randn(b * 2, tgt, src)
    elif masks == "padding":
        args["key_padding_mask"] = torch.zeros(b, src, dtype=torch.bool)
        args["key_padding_mask"][:, -2:] = True
    with torch.no_grad():
        out, w = sparse(q, k, v, need_weights=need_weights, average_attn_weights=average,
                        **args)
        ref, ref_w = mha(q, k, v, need_weights=need_weights, average_attn_weights=average,
                         **args)
    torch.testing.assert_close(out, ref, **TOL)
    if need_weights:
        torch.testing.assert_close(w, ref_w, **TOL)
    else:
        assert w is None and ref_w is None


def test_sparse_mha_unbatched_and_attributes():
    torch.manual_seed(0)
    mha = _prune_attention(nn.MultiheadAttention(8, 2).eval(), 0.5)
    sparse = SparseMultiheadAttention.from_dense(mha, "vectorskip", vector=4)
    x = torch.randn(6, 8)
    with torch.no_grad():
        out, w = sparse(x, x, x)
        ref, ref_w = mha(x, x, x)
    torch.testing.assert_close(out, ref, **TOL)
    torch.testing.assert_close(w, ref_w, **TOL)
    with pytest.warns(DenseReadWarning):
        torch.testing.assert_close(sparse.in_proj_weight, mha.in_proj_weight.detach())
    torch.testing.assert_close(sparse.in_proj_bias, mha.in_proj_bias.detach())
    assert (sparse.embed_dim, sparse.num_heads, sparse._qkv_same_embed_dim) == (8, 2, True)
    with pytest.raises(ValueError, match="is_causal"):
        sparse(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match="attn_mask must be"):
        sparse(x, x, x, attn_mask=torch.zeros(5, 6))
    with pytest.raises(TypeError, match="attn_mask must be a bool or float"):
        sparse(x, x, x, attn_mask=torch.zeros(6, 6, dtype=torch.int64))


def test_attention_that_cannot_be_split_stays_dense_with_a_reason():
    torch.manual_seed(0)
    model = nn.Sequential(nn.MultiheadAttention(8, 2, add_bias_kv=True))
    model[0].out_proj.weight.data[model[0].out_proj.weight.abs() < 0.3] = 0
    fast, report = sk.sparsify(model, "csr", min_sparsity=0.0, return_report=True)
    assert type(fast[0]) is nn.MultiheadAttention
    (row,) = report
    assert row["format"] == "dense" and "bias_k/bias_v" in row["reason"]
    x = torch.randn(4, 1, 8)
    with torch.no_grad():
        torch.testing.assert_close(fast[0](x, x, x)[0], model[0](x, x, x)[0])


def test_attention_split_is_undone_when_nothing_is_converted():
    enc = _encoder()
    fast, report = sk.sparsify(enc, "csr", min_sparsity=0.95, return_report=True)
    assert all(r["format"] == "dense" for r in report)
    layer = fast.layers[0]
    assert type(layer.self_attn) is nn.MultiheadAttention
    assert layer.activation_relu_or_gelu == 1 and fast.use_nested_tensor  # fused path kept
    x = torch.randn(2, 4, 64)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), enc(x), **TOL)
