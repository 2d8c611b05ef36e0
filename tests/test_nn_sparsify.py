"""sparsekit.nn and sk.sparsify: sparse layers equal their dense originals, conversion rules,
inference-only errors, BatchNorm folding, and saving/loading converted models."""
import io
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import sparsekit as sk
from sparsekit.models import MLP, SmallCNN, mlp, resnet18, small_cnn
from sparsekit.nn import SparseConv2d, SparseLinear

from helpers import NN_TOL as TOL, pruned as _pruned  # noqa: E402
from sparsekit.nn import FORMATS  # noqa: E402


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("shape", [(37,), (1, 37), (5, 37), (2, 3, 37), (0, 37)])
def test_sparse_linear_equals_dense(fmt, shape):
    lin = _pruned(nn.Linear(37, 19))
    s = SparseLinear.from_dense(lin, fmt)
    x = torch.randn(*shape)
    with torch.no_grad():
        torch.testing.assert_close(s(x), lin(x), **TOL)
    assert s.nnz == int(torch.count_nonzero(lin.weight)) and s.format == fmt
    assert (s.in_features, s.out_features) == (37, 19)


def test_sparse_linear_chain_keeps_transposed_layout():
    m = _pruned(mlp((32, 48, 16, 8)))
    fast = sk.sparsify(m, "csr")
    x = torch.randn(6, 32)
    with torch.no_grad():
        h = fast.fc1(x)
        assert h.shape == (6, 48) and h.t().is_contiguous()  # a view of the kernel's Y
        torch.testing.assert_close(fast(x), m(x), **TOL)


CONVS = [dict(kernel_size=3, padding=1), dict(kernel_size=1), dict(kernel_size=1, stride=2),
         dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 2), dilation=(2, 1)),
         dict(kernel_size=3, padding="same", padding_mode="reflect"),
         dict(kernel_size=4, padding="same", bias=False), dict(kernel_size=7, stride=2,
                                                               padding=3)]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kw", CONVS, ids=range(len(CONVS)))
def test_sparse_conv_equals_dense(fmt, kw):
    conv = _pruned(nn.Conv2d(5, 11, **kw), 0.6)
    s = SparseConv2d.from_dense(conv, fmt)
    with torch.no_grad():
        for shape in [(2, 5, 9, 10), (5, 8, 8), (3, 5, 20, 20)]:
            x = torch.randn(*shape)
            torch.testing.assert_close(s(x), conv(x), **TOL)
        x = torch.randn(2, 5, 9, 10).to(memory_format=torch.channels_last)
        torch.testing.assert_close(s(x), conv(x), **TOL)
        torch.testing.assert_close(s.to_dense()(x), conv(x), **TOL)


def test_sparse_conv_batch_folding_path_equals_per_image_path():
    conv = _pruned(nn.Conv2d(6, 8, 3, padding=1))
    s = SparseConv2d.from_dense(conv, "csr")
    x = torch.randn(4, 6, 20, 20)  # 400 positions: one product per image
    folded = SparseConv2d.from_dense(conv, "csr")
    folded.FOLD_BELOW = 10_000  # force one product over the batch
    with torch.no_grad():
        per_image = s(x)
        torch.testing.assert_close(folded(x), per_image, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(per_image, conv(x), **TOL)


def test_inference_only_and_input_errors():
    lin = _pruned(nn.Linear(8, 4))
    s = SparseLinear.from_dense(lin)
    x = torch.randn(2, 8, requires_grad=True)
    with pytest.raises(RuntimeError, match="inference-only"):
        s(x)
    with torch.no_grad():
        torch.testing.assert_close(s(x), lin(x), **TOL)
    with torch.inference_mode():
        s(torch.randn(2, 8))
    with pytest.raises(TypeError, match="float32"):
        s(torch.randn(2, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="in_features"):
        s(torch.randn(2, 9))
    conv = SparseConv2d.from_dense(_pruned(nn.Conv2d(3, 4, 3)))
    with pytest.raises(RuntimeError, match="inference-only"):
        conv(torch.randn(1, 3, 5, 5, requires_grad=True))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv(torch.randn(1, 3, 2, 2))
    with pytest.raises(ValueError, match="groups"):
        SparseConv2d.from_dense(nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(TypeError, match="float32"):
        SparseLinear.from_dense(nn.Linear(4, 4).half())
    with pytest.raises(ValueError, match="unknown format"):
        SparseLinear.from_dense(lin, "coo")


def test_float64_module_and_dtype_changes():
    lin = _pruned(nn.Linear(8, 4)).double()
    s = SparseLinear.from_dense(lin, "bsr")
    x = torch.randn(3, 8, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(s(x), lin(x))
        s32 = s.float()  # buffers replaced: the format is rebuilt from them
        torch.testing.assert_close(s32(x.float()), lin(x).float(), **TOL)


def test_sparsify_converts_a_copy_and_matches():
    m = _pruned(small_cnn(), 0.8).eval()
    state = {k: v.clone() for k, v in m.state_dict().items()}
    x = torch.randn(3, 3, 32, 32)
    fast, report = sk.sparsify(m, "csr", example_input=x, return_report=True)
    assert all(torch.equal(v, state[k]) for k, v in m.state_dict().items())  # untouched
    assert isinstance(m.conv1, nn.Conv2d) and hasattr(m.conv1, "weight_mask")
    assert isinstance(fast.conv1, SparseConv2d) and isinstance(fast.fc, SparseLinear)
    assert isinstance(fast.dw, nn.Conv2d)  # depthwise stays dense ...
    rows = {r["name"]: r for r in report}
    # ... and says so
    assert "depthwise" in rows["dw"]["reason"] and rows["dw"]["format"] == "dense"
    assert rows["conv1"]["bn_folded"] == "bn1" and isinstance(fast.bn1, nn.Identity)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), m(x), **TOL)


def test_sparsify_min_sparsity_and_selection():
    m = _pruned(mlp((16, 32, 8)), 0.3)
    fast = sk.sparsify(m, "csr")  # 30 % < the default min_sparsity 0.5
    assert isinstance(fast.fc1, nn.Linear) and not hasattr(fast.fc1, "weight_mask")
    fast = sk.sparsify(m, "vectorskip", min_sparsity=0.2, exclude="fc2")
    assert isinstance(fast.fc1, SparseLinear) and isinstance(fast.fc2, nn.Linear)
    with pytest.raises(ValueError, match="format"):
        sk.sparsify(m, "coo")
    with pytest.raises(ValueError, match="matches no weight layer"):
        sk.sparsify(m, "csr", include="nope")
    assert isinstance(sk.sparsify(nn.ReLU(), "csr"), nn.ReLU)


def test_sparsify_auto_times_layers_and_keeps_outputs():
    m = _pruned(mlp((64, 256, 16)), 0.9)
    x = torch.randn(4, 64)
    fast, report = sk.sparsify(m, "auto", example_input=x, choose="time", budget_s=0.002,
                               return_report=True)
    for r in report:
        assert r["format"] in ("dense",) + FORMATS and r["dense ms"] > 0
        assert r["format"] == min(("dense",) + FORMATS, key=lambda f: r[f"{f} ms"])
    with torch.no_grad():
        torch.testing.assert_close(fast(x), m(x), **TOL)
    sk.sparsify(m, "auto", choose="time", budget_s=0.001)  # Linear-only: batch 1 assumed
    with pytest.raises(ValueError, match="example_input"):
        sk.sparsify(_pruned(small_cnn(), 0.9), "auto", choose="time")


def test_sparsify_reads_torch_ao_parametrizations():
    from torch.ao.pruning import WeightNormSparsifier
    m = mlp((16, 32, 8))
    sp = WeightNormSparsifier(sparsity_level=0.75, sparse_block_shape=(1, 4), zeros_per_block=4)
    sp.prepare(m, config=[{"tensor_fqn": "fc1.weight"}])
    sp.step()
    fast = sk.sparsify(m, "csr")
    assert isinstance(fast.fc1, SparseLinear) and fast.fc1.density == pytest.approx(0.25)
    x = torch.randn(2, 16)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), m(x), **TOL)


def _storages(model):
    return {t.untyped_storage().data_ptr() for t in model.state_dict().values()
            if isinstance(t, torch.Tensor) and t.numel()}


@pytest.mark.parametrize("fmt", ["csr", "auto"])
def test_sparsify_shares_no_tensor_with_the_original(fmt):
    # sparsify works on a copy that shares the original's tensors and replaces them (it never
    # writes into them); what stays shared at the end is copied
    from torch.ao.pruning import WeightNormSparsifier
    import torch.nn.utils.prune as torch_prune
    torch.manual_seed(0)
    m = mlp((16, 32, 24, 8)).eval()
    torch_prune.l1_unstructured(m.fc1, "weight", amount=0.9)
    sp = WeightNormSparsifier(sparsity_level=0.75, sparse_block_shape=(1, 4), zeros_per_block=4)
    sp.prepare(m, config=[{"tensor_fqn": "fc2.weight"}])
    sp.step()
    before = {k: v.clone() for k, v in m.state_dict().items()}   # fc3: dense, kept dense
    x = torch.randn(3, 16)
    fast = sk.sparsify(m, fmt, example_input=x)
    assert isinstance(fast.fc3, nn.Linear)     # "auto" may keep these toy layers dense too
    assert fmt == "auto" or isinstance(fast.fc1, SparseLinear)
    assert not _storages(fast) & _storages(m)
    for k, v in m.state_dict().items():       # weight_orig keeps its pruned-away values
        assert torch.equal(v, before[k]), k
    with torch.no_grad():
        fast.fc3.weight.add_(1.0)
        fast.fc3.bias.zero_()
    assert torch.equal(m.fc3.weight, before["fc3.weight"])
    assert torch_prune.is_pruned(m.fc1) and hasattr(m.fc2, "parametrizations")


class _Counting(nn.Module):
    """Counts its calls in a buffer, in place."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls.add_(1)
        return self.fc(x)


@pytest.mark.parametrize("fmt", ["csr", "auto"])
def test_sparsify_runs_no_forward_on_the_originals_buffers(fmt):
    m = _Counting().eval()
    sk.prune.magnitude(m, 0.9)
    sk.sparsify(m, fmt, example_input=torch.randn(2, 16))
    assert m.calls.item() == 0


class _PairedBatch(nn.Module):
    """A forward that needs an even batch (it folds pairs of samples together)."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)

    def forward(self, x):
        y = self.bn(self.conv(x))
        return y.reshape(y.shape[0] // 2, -1).sum(0) + y.reshape(2, -1).sum(0).sum()


def test_conv_bn_pairs_found_on_one_sample_or_the_whole_batch():
    from sparsekit.model.tracing import conv_bn_pairs
    from sparsekit.nn._sparsify import _bn_pairs
    torch.manual_seed(0)
    m, x = resnet18(num_classes=10).eval(), torch.randn(4, 3, 32, 32)
    assert _bn_pairs(m, x) == conv_bn_pairs(m, x) and len(conv_bn_pairs(m, x)) == 20
    p = _PairedBatch().eval()
    x = torch.randn(4, 3, 8, 8)
    with pytest.raises(RuntimeError):
        p(x[:1])
    assert _bn_pairs(p, x) == [("conv", "bn")]
    sk.prune.magnitude(p, 0.6)
    fast = sk.sparsify(p, "csr", example_input=x)
    assert isinstance(fast.bn, nn.Identity)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), p(x), **TOL)


def test_resnet_shaped_model_end_to_end():
    torch.manual_seed(0)
    m = resnet18(num_classes=10).eval()
    sk.prune.magnitude(m, 0.9, structure="vector", vector=8)
    x = torch.randn(2, 3, 64, 64)
    fast = sk.sparsify(m, "vectorskip", example_input=x)
    assert sum(isinstance(c, SparseConv2d) for c in fast.modules()) == 20
    assert not any(isinstance(c, nn.BatchNorm2d) for c in fast.modules())  # all folded
    with torch.no_grad():
        torch.testing.assert_close(fast(x), m(x), **TOL)


def test_state_dict_round_trip_resizes_buffers():
    x = torch.randn(2, 3, 32, 32)
    a = sk.sparsify(_pruned(small_cnn(), 0.8, seed=1).eval(), "csr", example_input=x)
    b = sk.sparsify(_pruned(small_cnn(), 0.5, seed=2).eval(), "vectorskip", example_input=x)
    sd = a.state_dict()
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    b.load_state_dict(torch.load(buf, weights_only=True))
    assert b.conv2.format == "csr" and b.conv2.nnz == a.conv2.nnz
    with torch.no_grad():
        torch.testing.assert_close(b(x), a(x))


def test_load_state_dict_rejects_broken_arrays():
    s = SparseLinear.from_dense(_pruned(nn.Linear(8, 4)), "csr")
    sd = s.state_dict()
    sd["pointers"] = torch.from_numpy(sd["pointers"].numpy()[::-1].copy())
    with pytest.raises(RuntimeError, match="not a valid csr"):
        SparseLinear.from_dense(_pruned(nn.Linear(8, 4))).load_state_dict(sd)


@pytest.mark.parametrize("fmt", FORMATS)
def test_torch_save_of_converted_modules_loads_with_weights_only(fmt):
    conv = SparseConv2d.from_dense(_pruned(nn.Conv2d(4, 8, 3, padding=1)), fmt)
    lin = SparseLinear.from_dense(_pruned(nn.Linear(8, 4)), fmt)
    for module, x in ((conv, torch.randn(2, 4, 6, 6)), (lin, torch.randn(3, 8))):
        buf = io.BytesIO()
        torch.save(module, buf)
        buf.seek(0)
        back = torch.load(buf, weights_only=True)
        with torch.no_grad():
            torch.testing.assert_close(back(x), module(x))


def test_torch_save_of_a_whole_converted_model():
    m = _pruned(mlp((16, 32, 8)), 0.8)
    fast = sk.sparsify(m, "csr")
    buf = io.BytesIO()
    torch.save(fast, buf)
    buf.seek(0)
    with torch.serialization.safe_globals([MLP, nn.ReLU, SmallCNN]):
        back = torch.load(buf, weights_only=True)
    x = torch.randn(2, 16)
    with torch.no_grad():
        torch.testing.assert_close(back(x), m(x), **TOL)


def test_sparse_modules_report_storage_and_dense_weight():
    lin = _pruned(nn.Linear(20, 10), 0.9)
    s = SparseLinear.from_dense(lin, "csr")
    assert s.storage().total == sk.CSR.from_dense(lin.weight.detach()).storage().total
    torch.testing.assert_close(s.weight_dense(), lin.weight.detach())
    assert "format=csr" in repr(s) and "density=0.1" in repr(s)
    conv = SparseConv2d.from_dense(_pruned(nn.Conv2d(2, 4, 3, padding=(0, 1))), "bsr")
    assert "block=4×4" in repr(conv)


def test_functional_padding_equivalence_of_to_dense():
    conv = _pruned(nn.Conv2d(3, 4, 4, padding="same"))
    s = SparseConv2d.from_dense(conv, "csr")
    d = s.to_dense()  # asymmetric 'same' padding: a pad module and a conv
    x = torch.randn(1, 3, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(d(x), F.conv2d(F.pad(x, s.pad), conv.weight, conv.bias),
                                   **TOL)


def test_sparsify_a_bare_layer_and_auto_on_convs():
    lin = _pruned(nn.Linear(16, 8), 0.8)
    fast = sk.sparsify(lin, "csr")
    assert isinstance(fast, SparseLinear) and isinstance(lin, nn.Linear)
    m = _pruned(small_cnn(), 0.9).eval()
    x = torch.randn(2, 3, 32, 32)
    fast, report = sk.sparsify(m, "auto", example_input=x, choose="time", budget_s=0.001,
                               max_timing_batch=1, return_report=True)
    assert {r["name"] for r in report if "dense ms" in r} == {"conv1", "conv2", "pw", "fc"}
    with torch.no_grad():
        torch.testing.assert_close(fast(x), m(x), **TOL)


# -- sparsify never returns a model that fails at forward (repro/sparsify_odd.py) ---------

def test_an_encoder_layer_left_all_dense_keeps_torchs_attention():
    # layer 0 stays dense (below min_sparsity), layer 1 is converted: layer 0 takes torch's
    # fused path, which needs torch's own MultiheadAttention back before the checking pass
    torch.manual_seed(0)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), 2,
                                enable_nested_tensor=False).eval()
    sk.prune.magnitude(enc, 0.9, types=(nn.Linear,), include="layers.1.*")
    x = torch.randn(2, 5, 16)
    fast = sk.sparsify(enc, "csr", example_input=x)
    assert type(fast.layers[0].self_attn) is nn.MultiheadAttention
    assert isinstance(fast.layers[1].linear1, SparseLinear)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), enc(x), **TOL)


def test_a_module_used_twice_is_converted_everywhere():
    lin = _pruned(nn.Linear(16, 16))
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    fast, report = sk.sparsify(seq, "csr", min_sparsity=0.0, return_report=True)
    assert isinstance(fast[0], SparseLinear) and fast[2] is fast[0]
    assert len(report) == 1
    x = torch.randn(3, 16)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), seq(x), **TOL)


class _Head(nn.Module):
    """A parent that reads its child's weight (a tied head, custom attention)."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(16, 16)
        self.out = nn.Linear(16, 4)

    def forward(self, x):
        return self.out(F.linear(x, self.proj.weight) + self.proj(x))


def test_a_parent_reading_a_childs_weight_keeps_working():
    head = _pruned(_Head())
    x = torch.randn(2, 16)
    fast = sk.sparsify(head, "csr")  # without example_input: dense weight on demand
    assert isinstance(fast.proj, SparseLinear)
    with torch.no_grad(), pytest.warns(sk.nn.DenseReadWarning, match="read densely"):
        torch.testing.assert_close(fast(x), head(x), **TOL)
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), head(x), **TOL)
    fast, report = sk.sparsify(head, "csr", example_input=x, return_report=True)
    rows = {r["name"]: r for r in report}  # with it: found, kept dense, said so
    assert isinstance(fast.proj, nn.Linear) and isinstance(fast.out, SparseLinear)
    assert rows["proj"]["format"] == "dense" and ".weight is read" in rows["proj"]["reason"]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error", sk.nn.DenseReadWarning)
        torch.testing.assert_close(fast(x), head(x), **TOL)


def test_a_converted_model_that_fails_on_example_input_fails_in_sparsify():
    class Picky(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            if not isinstance(self.fc, nn.Linear):
                raise RuntimeError("expects an nn.Linear")
            return self.fc(x)

    with pytest.raises(RuntimeError, match="expects an nn.Linear") as info:
        sk.sparsify(_pruned(Picky()), "csr", example_input=torch.randn(2, 8))
    assert "exclude=" in "".join(getattr(info.value, "__notes__", []))


def test_root_modules_are_returned_converted():
    lin = _pruned(nn.Linear(16, 8))
    assert isinstance(sk.sparsify(lin, "csr"), SparseLinear)
    mha = nn.MultiheadAttention(16, 2, batch_first=True).eval()
    sk.prune.magnitude(mha, 0.8, name="in_proj_weight")
    sk.prune.magnitude(mha, 0.8)
    fast = sk.sparsify(mha, "csr")
    assert isinstance(fast, sk.nn.SparseMultiheadAttention)
    assert all(isinstance(getattr(fast, p), SparseLinear)
               for p in ("q_proj", "k_proj", "v_proj", "out_proj"))
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        torch.testing.assert_close(fast(x, x, x)[0], mha(x, x, x)[0], **TOL)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_models_stay_dense_with_a_reason_and_run(dtype):
    m = _pruned(mlp((16, 32, 4)), 0.8).to(dtype)
    fast, report = sk.sparsify(m, "csr", return_report=True)
    assert not any(isinstance(c, SparseLinear) for c in fast.modules())
    for r in report:
        assert r["format"] == "dense" and str(dtype) in r["reason"]
        assert "float32/float64" in r["reason"]
    x = torch.randn(2, 16, dtype=dtype)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), m(x))
    s = sk.sparsify(_pruned(mlp((16, 32, 4)), 0.8), "csr")
    with pytest.raises(TypeError, match="sparse layers support float32/float64"):
        s(x)


def test_a_parent_reading_a_convs_attributes_keeps_working():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)

        def forward(self, x):
            c = self.conv
            return F.conv2d(x, c.weight, c.bias, c.stride, c.padding, c.dilation, c.groups)

    m = _pruned(Functional())
    fast = sk.sparsify(m, "csr")
    assert isinstance(fast.conv, SparseConv2d)
    x = torch.randn(2, 3, 9, 9)
    with torch.no_grad(), pytest.warns(sk.nn.DenseReadWarning):
        torch.testing.assert_close(fast(x), m(x), **TOL)
