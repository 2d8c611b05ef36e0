"""sk.analyze: layers found by tracing (functional calls included), exact MACs and GEMM
views, nnz and structure sparsities of effective (masked) weights, exact bytes per format."""
import csv
import io
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torch.nn.utils.prune as torch_prune
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import sparsekit as sk
from sparsekit.model import structure
from sparsekit.model._analyze import analyze
from sparsekit.models import small_cnn


def _conv_out(h, k, s, p, d=1):
    return (h + 2 * p - d * (k - 1) - 1) // s + 1


def test_rows_gemm_view_and_macs_of_a_small_cnn():
    torch.manual_seed(0)
    s = analyze(small_cnn(), torch.randn(2, 3, 32, 32))
    assert [r["name"] for r in s] == ["conv1", "conv2", "dw", "pw", "fc"]
    r = s["conv1"]
    assert (r["type"], r["op"], r["M"], r["K"], r["N"]) == ("Conv2d", "conv2d", 32, 27,
                                                            2 * 32 * 32)
    assert r["input_shape"] == (2, 3, 32, 32) and r["output_shape"] == (2, 32, 32, 32)
    h = _conv_out(32, 3, 2, 1)
    assert (s["conv2"]["M"], s["conv2"]["K"], s["conv2"]["N"]) == (64, 32 * 9, 2 * h * h)
    # depthwise: M = C_out, K = C_in/groups·kh·kw = 9, each group's GEMM counted once
    dw = s["dw"]
    assert (dw["groups"], dw["M"], dw["K"], dw["N"]) == (64, 64, 9, 2 * h * h)
    assert dw["macs"] == 64 * 9 * 2 * h * h and "depthwise" in dw["note"]
    assert (s["fc"]["M"], s["fc"]["K"], s["fc"]["N"]) == (10, 128, 2)
    for row in s:
        assert row["macs"] == row["M"] * row["K"] * row["N"]
        assert row["weight_params"] == row["M"] * row["K"]
    assert s.total["macs"] == sum(r["macs"] for r in s)
    assert s.total["weight_params"] == sum(r["weight_params"] for r in s)


class _Functional(nn.Module):
    """Weights used outside nn.Linear/Conv forwards, and one module called twice."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 5))
        self.proj = nn.Parameter(torch.randn(6, 3))
        self.shared = nn.Linear(3, 3)

    def forward(self, x):
        h = F.linear(x, self.w)  # (2, 7, 6)
        h = h @ self.proj  # (2, 7, 3)
        return self.shared(self.shared(h))


def test_functional_calls_and_repeated_modules_are_rows():
    s = analyze(_Functional(), torch.randn(2, 7, 5))
    names = [r["name"] for r in s]
    assert names == ["w", "proj", "shared", "shared#2"]
    assert (s["w"]["op"], s["w"]["M"], s["w"]["K"], s["w"]["N"]) == ("linear", 6, 5, 14)
    assert (s["proj"]["op"], s["proj"]["M"], s["proj"]["K"]) == ("matmul", 3, 6)
    assert s["shared"]["input_shape"] == (2, 7, 3)  # as the module saw it, not aten's 2-D view
    # MACs count every call; params and bytes count the shared weight once
    assert s.total["macs"] == 6 * 5 * 14 + 3 * 6 * 14 + 2 * 3 * 3 * 14
    assert s.total["weight_params"] == 30 + 18 + 9
    assert s.total["bytes_dense"] == 4 * (30 + 18 + 9)


def test_conv1d_transposed_conv_and_attention():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv1d(3, 4, 3)
            self.ct = nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2)
            self.att = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, a, b, q):
            return self.c1(a).sum() + self.ct(b).sum() + self.att(q, q, q)[0].sum()

    s = analyze(M(), (torch.randn(2, 3, 10), torch.randn(2, 4, 5, 5), torch.randn(2, 7, 8)))
    assert (s["c1"]["M"], s["c1"]["K"], s["c1"]["N"]) == (4, 9, 2 * 8)
    ct = s["ct"]
    # per input pixel: C_in × C_out/g × kh·kw MACs
    assert ct["macs"] == 2 * 5 * 5 * 4 * 3 * 9 and ct["groups"] == 2
    assert ct["weight_shape"] == (4, 3, 3, 3)
    # self-attention: one packed q/k/v projection, then out_proj (fast path off in tracing)
    # ... with the two activation×activation products between them: q·kᵀ and attn·v, each
    # batch 2 × heads 2 × 7 × 7 × head dim 4 MACs, without weights
    att = [(r["name"], r["M"], r["K"], r["N"], r["macs"], r["weight_params"])
           for r in s if r["name"].startswith("att")]
    assert att == [("att.in_proj_weight", 24, 8, 14, 24 * 8 * 14, 192),
                   ("att/bmm", 28, 4, 7, 2 * 2 * 7 * 7 * 4, 0),
                   ("att/bmm#2", 28, 7, 4, 2 * 2 * 7 * 7 * 4, 0),
                   ("att.out_proj", 8, 8, 14, 8 * 8 * 14, 64)]
    assert s.total["weight_params"] == 4 * 9 + 4 * 3 * 9 + 3 * 64 + 64


def test_reads_weights_pruned_by_torch_prune_before_and_after_remove():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Conv2d(1, 1, 1))
    torch_prune.l1_unstructured(m[0], "weight", amount=0.75)
    x = torch.randn(3, 16)
    model = nn.Sequential(m[0], m[1])
    s = analyze(model, x)
    assert s["0"]["nnz"] == 128 and s["0"]["sparsity"] == 0.75
    assert s["0"]["effective_macs"] == 128 * 3
    torch_prune.remove(m[0], "weight")
    assert analyze(model, x)["0"]["nnz"] == 128


def test_reads_torch_ao_pruning_parametrizations():
    from torch.ao.pruning import WeightNormSparsifier
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8))
    sp = WeightNormSparsifier(sparsity_level=0.5, sparse_block_shape=(1, 4), zeros_per_block=4)
    sp.prepare(m, config=[{"tensor_fqn": "0.weight"}, {"tensor_fqn": "2.weight"}])
    sp.step()
    s = analyze(m, torch.randn(3, 16))
    assert [r["name"] for r in s] == ["0", "2"]
    assert s["0"]["type"] == "Linear"  # not torch's "ParametrizedLinear"
    assert s["0"]["sparsity"] == 0.5 and s["2"]["sparsity"] == 0.5
    assert s["0"]["nnz"] == int(torch.count_nonzero(m[0].weight))


def test_structure_sparsities_of_hand_made_weights():
    conv = nn.Conv2d(4, 8, 3, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.weight[:2] = 0  # 2 of 8 filters
        conv.weight[:, 3] = 0  # 1 of 4 input channels
        conv.weight[4, 0] = 0  # one more 2-D kernel
    s = analyze(nn.Sequential(conv), torch.randn(1, 4, 5, 5), block=(2, 9), vector=4)
    r = s["0"]
    assert r["rows"] == pytest.approx(2 / 8) and r["channels"] == pytest.approx(1 / 4)
    # zero kernels: filters 0,1 (4 each) + channel 3 of the other 6 filters + (4, 0)
    assert r["kernels"] == pytest.approx((8 + 6 + 1) / 32)
    w = conv.weight.detach().reshape(8, -1).numpy()
    assert r["blocks"] == structure.blocks(w, (2, 9))
    assert r["vectors"] == structure.vectors(w, 4)
    assert r["sparsity"] == 1 - np.count_nonzero(w) / w.size


def test_structure_functions_on_padded_groups():
    w = np.zeros((5, 7), np.float32)
    w[4, 6] = 1.0
    assert structure.fine(w) == 1 - 1 / 35
    assert structure.rows(w) == pytest.approx(4 / 5)
    assert structure.channels(w) == pytest.approx(6 / 7)
    assert structure.kernels(w) is None
    assert structure.blocks(w, (4, 4)) == 3 / 4  # 2×2 tiles, the padded corner one is set
    assert structure.vectors(w, 4) == 13 / 14
    assert structure.fine(np.zeros((0, 3))) == 0.0


def _reference_structure(w4, r, c, v):
    """The structure sparsities by their definitions, one group at a time (slow, plain)."""
    o, ci = w4.shape[:2]
    m = w4.reshape(o, -1)
    mm, k = m.shape

    def share(flags):
        return 1 - sum(flags) / len(flags) if flags else 0.0

    return {"fine": share([bool(e) for e in m.ravel()]),
            "rows": share([bool(m[i].any()) for i in range(mm)]),
            "channels": share([bool(w4[:, j].any()) for j in range(ci)]),
            "kernels": share([bool(w4[i, j].any()) for i in range(o) for j in range(ci)]),
            "blocks": share([bool(m[i:i + r, j:j + c].any()) for i in range(0, mm, r)
                             for j in range(0, k, c)]),
            "vectors": share([bool(m[i:i + v, j].any()) for i in range(0, mm, v)
                              for j in range(k)])}


@settings(max_examples=40)
@given(shape=st.tuples(st.integers(1, 9), st.integers(1, 6), st.integers(1, 3),
                       st.integers(1, 4)),
       density=st.floats(0.0, 1.0), block=st.tuples(st.integers(1, 5), st.integers(1, 20)),
       vector=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_structure_sparsities_match_their_definitions(shape, density, block, vector, seed):
    """Each structure sparsity equals its definition counted group by group, from the values
    (numpy or torch, any float width) or from their nonzero pattern alike."""
    rng = np.random.default_rng(seed)
    w4 = rng.standard_normal(shape).astype(np.float32) * (rng.random(shape) < density)
    ref = _reference_structure(w4, *block, vector)
    m = w4.reshape(shape[0], -1)
    for weight, matrix in ((w4, m), (w4 != 0, m != 0), (torch.from_numpy(w4).half(),
                                                         torch.from_numpy(m).bfloat16())):
        got = structure.structure_sparsities(weight, matrix, block, vector)
        assert got == pytest.approx(ref), (type(weight), weight.dtype)


def test_summary_numbers_unchanged_by_counting_the_mask_once():
    """A pruned small_cnn's summary, as analyze gave it before it read each layer's zero
    pattern once and reduced it faster (the figures were taken from that version)."""
    torch.manual_seed(1)
    m = small_cnn().eval()
    sk.prune.magnitude(m, 0.9, structure="element", block=(4, 4), vector=8)
    x = torch.randn((1, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    s = analyze(m, x)
    keys = ("nnz", "rows", "channels", "kernels", "blocks", "vectors", "bytes_csr",
            "bytes_bsr", "bytes_vectorskip")
    before = {"conv1": (86, 0.0625, 0.0, 0.38541666666666663, 0.0892857142857143,
                        0.40740740740740744, 496, 3333, 2090),
              "conv2": (1843, 0.0, 0.0, 0.38720703125, 0.18663194444444442,
                        0.41623263888888884, 11188, 60939, 43378),
              "dw": (58, 0.390625, 0.0, 0.390625, 0.35416666666666663, 0.4305555555555556,
                     420, 2049, 1394),
              "pw": (819, 0.0, 0.0, 0.9000244140625, 0.15625, 0.451171875, 4353, 28146,
                     18146),
              "fc": (128, 0.0, 0.328125, None, 0.22916666666666663, 0.61328125, 662, 4818,
                     3206)}
    for name, figures in before.items():
        assert tuple(s[name][k] for k in keys) == pytest.approx(figures), name
    assert (s.total["nnz"], s.total["bytes_csr"], s.total["bytes_bsr"],
            s.total["bytes_vectorskip"]) == (2934, 17119, 99285, 68214)


def test_bytes_are_the_format_classes_and_best_is_smallest():
    torch.manual_seed(0)
    lin = nn.Linear(64, 48)
    sk.prune.magnitude(lin, 0.9)
    w = lin.weight.detach().numpy() * lin.weight_mask.numpy()
    s = analyze(lin, torch.randn(2, 64), block=(2, 4), vector=16)
    r = s[0]
    assert r["bytes_dense"] == 64 * 48 * 4
    assert r["bytes_csr"] == sk.CSR.from_dense(w).storage().total
    assert r["bytes_bsr"] == sk.BSR.from_dense(w, (2, 4)).storage().total
    assert r["bytes_vectorskip"] == sk.VectorSkip.from_dense(w, 16).storage().total
    sizes = {f: r[f"bytes_{f}"] for f in ("dense", "csr", "bsr", "vectorskip")}
    assert r["best_format"] == min(sizes, key=sizes.get) == "csr"
    assert r["best_bytes"] == min(sizes.values())
    s8 = analyze(lin, torch.randn(2, 64), value_bits=8, index_bits=16)
    assert s8[0]["bytes_dense"] == 64 * 48
    assert s8[0]["bytes_csr"] == sk.CSR.from_dense(w).storage(8, 16).total
    assert s[0]["name"] == "(model)"  # a bare module's own weight
    with pytest.raises(ValueError, match=r"layer '\(model\)'.*index_bits=8"):
        analyze(nn.Linear(300, 2), torch.randn(1, 300), index_bits=8)


def test_dense_layer_best_is_dense_and_formats_can_be_skipped():
    s = analyze(nn.Linear(8, 8), torch.randn(1, 8), formats=("csr",))
    assert s[0]["best_format"] == "dense" and s[0]["bytes_bsr"] is None
    with pytest.raises(ValueError, match="unknown format"):
        analyze(nn.Linear(8, 8), torch.randn(1, 8), formats=("coo",))


def test_outputs_csv_json_markdown_text():
    torch.manual_seed(0)
    s = analyze(small_cnn(), torch.randn(1, 3, 32, 32))
    rows = list(csv.DictReader(io.StringIO(s.to_csv())))
    assert len(rows) == 6 and rows[-1]["name"] == "total"
    assert rows[0]["input_shape"] == "1×3×32×32" and int(rows[0]["macs"]) == s[0]["macs"]
    data = json.loads(s.to_json())
    assert data["meta"]["block"] == [4, 4] and len(data["rows"]) == 6
    assert data["rows"][0]["weight_shape"] == [32, 3, 3, 3]
    md = s.to_markdown()
    table, notes = md.split("\n\n")
    assert table.startswith("| name |") and table.count("\n") == 2 + 6 - 1
    assert notes == "- [1] depthwise conv: sparsify keeps it dense\n"
    text = str(s)
    assert "conv1" in text and "total" in text and "depthwise" in text
    assert "K" in s.to_text(columns=["name", "K"])
    with pytest.raises(ValueError, match="unknown column"):
        s.to_text(columns=["nope"])


def test_to_dataframe_and_files(tmp_path):
    s = analyze(nn.Linear(4, 2), torch.randn(1, 4))
    s.to_csv(tmp_path / "a.csv")
    s.to_json(tmp_path / "a.json")
    assert (tmp_path / "a.csv").read_text().startswith("name,")
    assert json.loads((tmp_path / "a.json").read_text())["rows"][0]["M"] == 2
    pd = pytest.importorskip("pandas")
    df = s.to_dataframe()
    assert isinstance(df, pd.DataFrame) and len(df) == 2


def test_model_mode_and_statistics_untouched():
    m = small_cnn().train()
    before = m.bn1.running_mean.clone()
    analyze(m, torch.randn(4, 3, 32, 32))
    assert m.training and all(c.training for c in m.modules())
    assert torch.equal(m.bn1.running_mean, before)


def test_errors():
    with pytest.raises(TypeError):
        analyze("not a model", torch.randn(1))
    with pytest.raises(ValueError, match="block"):
        analyze(nn.Linear(2, 2), torch.randn(1, 2), block=(0, 4))
    with pytest.raises(ValueError, match="vector"):
        analyze(nn.Linear(2, 2), torch.randn(1, 2), vector=0)
    s = analyze(nn.ReLU(), torch.randn(3))
    assert len(s) == 0 and s.total["macs"] == 0
    with pytest.raises(KeyError, match="no layer"):
        s["x"]


def test_sk_analyze_is_exported():
    s = sk.analyze(nn.Linear(3, 2), torch.randn(5, 3))
    assert isinstance(s, sk.Summary) and s.total["macs"] == 30


def test_sparsified_model_analyzes_like_its_original():
    torch.manual_seed(0)
    m = small_cnn().eval()
    sk.prune.magnitude(m, 0.8)
    x = torch.randn(2, 3, 32, 32)
    dense = analyze(m, x)
    fast = analyze(sk.sparsify(m, "csr", example_input=x), x)
    assert [r["name"] for r in fast] == [r["name"] for r in dense]
    assert fast["conv2"]["type"] == "SparseConv2d" and fast["fc"]["type"] == "SparseLinear"
    for key in ("macs", "effective_macs", "nnz", "weight_params"):
        assert fast.total[key] == dense.total[key], key
    assert fast["conv1"]["input_shape"] == (2, 3, 32, 32)


def test_progress_bar_on_stderr_only_when_asked_or_on_a_terminal(capsys):
    m, x = small_cnn(), torch.randn(1, 3, 32, 32)
    s = analyze(m, x, progress=True)
    err = capsys.readouterr().err
    assert "analyze" in err and "layer" in err
    assert all(not mod._forward_hooks for mod in m.modules())  # its hooks are gone
    assert [r["name"] for r in s] == [r["name"] for r in analyze(m, x, progress=False)]
    analyze(m, x)  # None: stderr is not a terminal here
    assert capsys.readouterr().err == ""
    with pytest.raises(TypeError, match="progress must be True, False or None, got 'yes'"):
        analyze(m, x, progress="yes")


def test_views_the_schema_does_not_mark_move_no_bytes():
    """torch.matmul of a 4-D by a 2-D tensor reshapes its result with _unsafe_view, which the
    schema does not mark as a view: it shares the product's storage, so it is no op."""
    from sparsekit.model.tracing import trace_forward

    class Product(torch.nn.Module):
        def forward(self, x):
            return torch.matmul(x, torch.ones(4, 5))

    kinds = [o.kind for o in trace_forward(Product(), torch.randn(2, 3, 4, 4)).ops]
    assert "unsafe_view" not in kinds


def test_tracing_restores_each_modules_own_mode_when_a_module_is_reached_twice():
    """A module reachable through two parents (here a BatchNorm held directly and in a
    ModuleList) keeps its eval mode after a trace of its train-mode parent: restoring the
    parent with ``train(True)`` used to put the BatchNorm back in training mode."""
    class Twice(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = torch.nn.BatchNorm2d(3).eval()
            self.again = torch.nn.ModuleList([self.bn])

        def forward(self, x):
            return self.bn(x)

    model = Twice()                                  # the parent in train mode
    sk.analyze(model, torch.randn(1, 3, 4, 4))
    assert model.training and not model.bn.training
