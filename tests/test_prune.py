"""sk.prune: exact levels per structure, masks that are torch.nn.utils.prune masks, layer
selection, all-or-nothing errors, the AGP schedule and sensitivity analysis."""
import csv
import io

import numpy as np
import pytest
import torch
import torch.nn.utils.prune as torch_prune
from torch import nn

import sparsekit as sk
from sparsekit.models import mlp, small_cnn

P = sk.prune


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(40, 24), nn.ReLU(), nn.Linear(24, 10))


def _zeros(t):
    return int((t == 0).sum())


def test_magnitude_per_layer_exact_and_smallest_go():
    m = _model()
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    out = P.magnitude(m, 0.7)
    for name, n in (("0", 40 * 24), ("2", 24 * 10)):
        layer = m.get_submodule(name)
        assert _zeros(layer.weight) == round(0.7 * n)
        assert out[name] == pytest.approx(round(0.7 * n) / n)
        w0 = before[f"{name}.weight"].abs()
        kept = layer.weight_mask.bool()
        assert w0[~kept].max() <= w0[kept].min()  # the smallest magnitudes were pruned
        # a torch.nn.utils.prune mask: original kept, hook applies it, remove folds it
        assert torch.equal(layer.weight_orig, before[f"{name}.weight"])
    x = torch.randn(3, 40)
    y = m(x)
    P.remove(m)
    assert not hasattr(m[0], "weight_mask") and _zeros(m[0].weight) == round(0.7 * 960)
    torch.testing.assert_close(m(x), y)


def test_global_scope_ranks_across_layers():
    m = _model()
    with torch.no_grad():
        m[2].weight.abs_().add_(1)  # the second layer's weights are all larger than 1
    P.magnitude(m, 0.5, scope="global")
    total = 40 * 24 + 24 * 10
    assert _zeros(m[0].weight) + _zeros(m[2].weight) == round(0.5 * total)
    assert _zeros(m[2].weight) == 0  # nothing pruned in the large layer


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_structured_filters_and_channels(norm):
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 10, 3)
    w = conv.weight.detach().clone()
    P.structured(nn.Sequential(conv), 0.3, dim="filters", norm=norm)
    rows_zero = (conv.weight.reshape(10, -1) == 0).all(dim=1)
    assert int(rows_zero.sum()) == 3
    p = 1 if norm == "l1" else 2
    scores = w.reshape(10, -1).norm(p=p, dim=1)
    assert set(torch.argsort(scores)[:3].tolist()) == set(torch.nonzero(rows_zero).flatten()
                                                          .tolist())
    lin = nn.Linear(8, 5)
    P.structured(nn.Sequential(lin), 0.5, dim="channels", norm=norm)
    assert int((lin.weight == 0).all(dim=0).sum()) == 4


def test_block_and_vector_structures_are_the_formats_groups():
    torch.manual_seed(0)
    lin = nn.Linear(37, 21)  # not divisible by the block or the vector: padded edges
    P.block(nn.Sequential(lin), 0.6, block=(4, 4))
    w = lin.weight.detach().numpy()
    nblocks = 6 * 10
    assert sk.BSR.from_dense(w, (4, 4)).blocks.shape[0] == nblocks - round(0.6 * nblocks)
    lin2 = nn.Linear(37, 21)
    P.vector(nn.Sequential(lin2), 0.75, vector=8)
    v = sk.VectorSkip.from_dense(lin2.weight.detach().numpy(), 8)
    nvec = 3 * 37
    assert v.vectors.shape[0] == nvec - round(0.75 * nvec)
    conv = nn.Conv2d(4, 16, 3)
    P.vector(nn.Sequential(conv), 0.5, vector=8)  # vectors of the C_out × C_in·kh·kw matrix
    mat = conv.weight.detach().reshape(16, -1).numpy()
    assert sk.VectorSkip.from_dense(mat, 8).vectors.shape[0] == 2 * 36 // 2


def test_n_m():
    torch.manual_seed(0)
    lin = nn.Linear(18, 5)  # K = 18: four full groups of 4 and a last group of 2
    out = P.n_m(nn.Sequential(lin), 2, 4)
    nz = (lin.weight != 0).reshape(5, -1)
    assert all(int(nz[:, j:j + 4].sum(dim=1).max()) <= 2 for j in range(0, 16, 4))
    assert int(nz[:, :16].sum()) == 5 * 8 and bool(nz[:, 16:].all())
    assert out["0"] == pytest.approx(1 - 50 / 90)


def test_selection_by_pattern_and_type():
    m = small_cnn()
    out = P.magnitude(m, 0.5, include="conv*", exclude=["conv2"])
    assert list(out) == ["conv1"]
    out = P.magnitude(small_cnn(), 0.5, types=nn.Linear)
    assert list(out) == ["fc"]
    out = P.magnitude(small_cnn(), 0.5, types=["Conv2d"], exclude="dw")
    assert list(out) == ["conv1", "conv2", "pw"]
    names = [n for n, _ in P.select_layers(nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 2)))]
    assert names == ["1"]  # embeddings are lookups, not products


@pytest.mark.parametrize("kwargs, match", [
    (dict(sparsity=1.0), r"\[0, 1\)"), (dict(sparsity=-0.1), r"\[0, 1\)"),
    (dict(sparsity=float("nan")), r"\[0, 1\)"), (dict(sparsity="0.5"), r"\[0, 1\)"),
    (dict(sparsity=0.5, include="nope"), "matches no weight layer"),
    (dict(sparsity=0.5, exclude=["0", "typo"]), "matches no weight layer"),
    (dict(sparsity=0.5, structure="block", block=(0, 4)), "block"),
    (dict(sparsity=0.5, structure="block", block=(4,)), "block"),
    (dict(sparsity=0.5, structure="vector", vector=0), "vector"),
    (dict(sparsity=0.5, structure="nm"), "leave sparsity=None"),
    (dict(structure="nm", n=3, m=2), "N:M"),
    (dict(sparsity=0.5, structure="filter", scope="global"), "global"),
    (dict(sparsity=0.5, structure="diagonal"), "unknown structure"),
    (dict(sparsity=0.5, norm="l3"), "norm"),
    (dict(sparsity=0.5, scope="model"), "scope"),
    (dict(sparsity=0.5, types=nn.Conv2d), "no weight layer selected"),
])
def test_bad_requests_raise_and_change_nothing(kwargs, match):
    m = _model()
    state = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(ValueError, match=match):
        P.magnitude(m, **kwargs)
    assert m.state_dict().keys() == state.keys()
    assert all(torch.equal(v, state[k]) for k, v in m.state_dict().items())


def test_apply_is_all_or_nothing(monkeypatch):
    m = _model()
    with pytest.raises(ValueError, match="mask shape"):
        P.apply_masks(m, {"0": torch.ones(24, 40), "2": torch.ones(3, 3)})
    assert not hasattr(m[0], "weight_mask")
    # a failure after a first layer was applied rolls that layer back
    P.magnitude(m, 0.5, include="2")
    mask2, w0 = m[2].weight_mask.clone(), m[0].weight

    def broken(module, name, mask):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(torch_prune, "custom_from_mask", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        P.apply_masks(m, {"2": torch.zeros(10, 24), "0": torch.zeros(24, 40)})
    assert torch.equal(m[2].weight_mask, mask2) and torch.equal(m[2].weight,
                                                                m[2].weight_orig * mask2)
    assert not hasattr(m[0], "weight_mask") and m[0].weight is w0


def test_fresh_masks_are_undone_when_a_later_layer_fails(monkeypatch):
    m = _model()
    w0 = m[0].weight
    real, calls = torch_prune.custom_from_mask, []

    def second_fails(module, name, mask):
        calls.append(module)
        if len(calls) == 2:
            raise RuntimeError("second layer failed")
        return real(module, name, mask)

    monkeypatch.setattr(torch_prune, "custom_from_mask", second_fails)
    with pytest.raises(RuntimeError, match="second layer failed"):
        P.magnitude(m, 0.5)
    assert m[0].weight is w0 and isinstance(m[0].weight, nn.Parameter)
    assert not m[0]._forward_pre_hooks and set(dict(m[0].named_buffers())) == set()
    assert set(dict(m.named_parameters())) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_parametrized_weights_are_refused():
    from torch.nn.utils import parametrize

    class Mask(nn.Module):
        def forward(self, w):
            return w

    m = _model()
    parametrize.register_parametrization(m[0], "weight", Mask())
    with pytest.raises(ValueError, match="parametrized"):
        P.magnitude(m, 0.5)
    assert not hasattr(m[2], "weight_mask")


def test_pruning_again_combines_in_place():
    m = _model()
    P.magnitude(m, 0.5)
    first = m[0].weight_mask.clone()
    P.magnitude(m, 0.8)
    assert len(m[0]._forward_pre_hooks) == 1  # still one pruning hook, one mask buffer
    assert bool((m[0].weight_mask <= first).all())  # pruned weights stay pruned
    assert _zeros(m[0].weight) == round(0.8 * 960)
    # torch's own pruning on top still works, and sk.prune on top of torch's too
    torch_prune.random_unstructured(m[2], "weight", amount=0.1)
    P.magnitude(m, 0.9, include="2")
    assert _zeros(m[2].weight) == round(0.9 * 240)


def test_agp_schedule_is_distillers():
    m = mlp((16, 32, 8))
    agp = P.AGP(m, final_sparsity=0.8, initial_sparsity=0.05, start_step=2, end_step=13,
                frequency=2)
    span = ((13 - 2 - 1) // 2) * 2  # Distiller: ((end - start - 1) // freq) * freq = 10
    steps = [t for t, _ in agp.schedule()]
    assert steps == [2, 4, 6, 8, 10, 12]
    for t, s in agp.schedule():
        assert s == pytest.approx(0.8 + (0.05 - 0.8) * (1 - (t - 2) / span) ** 3)
    assert agp.target(0) == 0.0 and agp.target(12) == pytest.approx(0.8)
    orig = m.fc1.weight  # the optimizer's Parameter must stay the one being masked
    seen = []
    for t in range(16):
        seen.append(agp.step())
        if t < 2:
            assert not hasattr(m.fc1, "weight_mask")
    assert m.fc1.weight_orig is orig
    assert seen[2] == pytest.approx(0.05) and seen[3] == seen[2]
    assert seen[-1] == pytest.approx(0.8)
    for name, s in agp.sparsity().items():
        assert s == pytest.approx(0.8, abs=0.01), name
    assert all(b >= a for a, b in zip(seen, seen[1:]))


@pytest.mark.parametrize("kwargs, err", [
    (dict(final_sparsity=0.5, initial_sparsity=0.6, end_step=10), ValueError),
    (dict(final_sparsity=1.0, end_step=10), ValueError),
    (dict(final_sparsity=0.5, start_step=5, end_step=6), ValueError),
    (dict(final_sparsity=0.5, end_step=10, frequency=0), ValueError),
    (dict(final_sparsity=0.5, end_step=10.5), TypeError),
    (dict(final_sparsity=0.5, end_step=10, structure="nm"), ValueError),
    (dict(final_sparsity=0.5, end_step=10, include="zzz"), ValueError),
])
def test_agp_errors(kwargs, err):
    with pytest.raises(err):
        P.AGP(_model(), **kwargs)


def test_agp_structured():
    m = small_cnn()
    agp = P.AGP(m, 0.5, end_step=4, structure="filter", include=["conv2", "pw"])
    for _ in range(4):
        agp.step()
    assert int((m.conv2.weight.reshape(64, -1) == 0).all(dim=1).sum()) == 32


def test_sensitivity_table_plot_and_restore(tmp_path):
    m = _model()
    state = {k: v.clone() for k, v in m.state_dict().items()}
    x = torch.randn(16, 40)
    ref = m(x).detach()

    def evaluate(model):
        with torch.no_grad():
            err = (model(x) - ref).abs().mean().item()
        return {"error": err, "zeros": float(sum(_zeros(p) for p in model.parameters()))}

    res = P.sensitivity(m, evaluate, levels=[0.25, 0.5, 0.9], progress=False)
    assert all(torch.equal(v, state[k]) for k, v in m.state_dict().items())
    assert len(res.rows) == 2 * 4 and res.metrics == ("error", "zeros")
    rows0 = res.layer("0")
    assert [r["sparsity"] for r in rows0] == [0.0, 0.25, 0.5, 0.9]
    assert rows0[0]["error"] == 0.0
    assert [r["zeros"] for r in rows0][1:] == [round(s * 960) for s in (0.25, 0.5, 0.9)]
    errs = [r["error"] for r in rows0]
    assert errs == sorted(errs)  # more pruning, more damage
    table = list(csv.DictReader(io.StringIO(res.to_csv())))
    assert table[0].keys() == {"layer", "sparsity", "error", "zeros"} and len(table) == 8
    fig = res.plot(tmp_path / "sens.png", metric="error")
    assert (tmp_path / "sens.png").read_bytes()[:4] == b"\x89PNG"
    assert fig.axes[0].get_ylabel() == "error"
    with pytest.raises(ValueError, match="metric"):
        res.plot(metric="accuracy")


def test_sensitivity_restores_after_evaluate_raises_and_on_pruned_models():
    m = _model()
    P.magnitude(m, 0.5)
    state = {k: v.clone() for k, v in m.state_dict().items()}
    calls = []

    def evaluate(model):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("eval failed")
        return 1.0

    with pytest.raises(RuntimeError, match="eval failed"):
        P.sensitivity(m, evaluate, levels=[0.6, 0.9], progress=False)
    assert all(torch.equal(v, state[k]) for k, v in m.state_dict().items())
    res = P.sensitivity(m, lambda model: float(_zeros(model[0].weight)), levels=[0.8],
                        include="0", progress=False)
    assert [r["metric"] for r in res.rows] == [480.0, 768.0]
    with pytest.raises(TypeError, match="number"):
        P.sensitivity(m, lambda model: "bad", progress=False)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        P.sensitivity(m, lambda model: 1.0, levels=[1.5])


def test_layer_sparsity_and_effective_weight():
    m = _model()
    P.magnitude(m, 0.25)
    s = P.layer_sparsity(m)
    assert s["0"] == pytest.approx(0.25) and s["2"] == pytest.approx(0.25)
    assert torch.equal(P.effective_weight(m[0]), m[0].weight_orig * m[0].weight_mask)
    np.testing.assert_array_equal(P.effective_weight(m[0]).numpy() == 0,
                                  m[0].weight_mask.numpy() == 0)
