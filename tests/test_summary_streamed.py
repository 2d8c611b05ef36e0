"""``analyze_streamed`` (the summary of a model built on meta, one module's weights at a time)
against ``sk.analyze`` on the whole model: the same rows, columns and totals wherever the
random draw of the weights does not matter (dense models; unstructured and filter per-layer
pruning keep the same number of weights in every layer), and ``sparsekit summary`` on it."""
import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from sparsekit import cli, models, prune
from sparsekit.model._analyze import analyze
from sparsekit.model.streamed import analyze_streamed, streamable
from sparsekit.model.tracing import _broadcast

# Columns that read only shapes, or only how many weights are nonzero: equal between any two
# draws of the weights (dense, or pruned per layer to a level that keeps a fixed count).
COUNT_COLUMNS = ("name", "type", "op", "weight_shape", "groups", "M", "K", "N", "input_shape",
                 "output_shape", "weight_params", "nnz", "sparsity", "macs", "effective_macs",
                 "bytes_dense", "bytes_csr", "note")


class Twice(nn.Module):
    """A module called twice (one weight, two rows, counted once in the totals) and attention
    whose q/k/v are slices of one parameter (three weights)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        x = self.fc(torch.relu(self.fc(x)))
        x, _ = self.attn(x, x, x, need_weights=False)
        return self.head(x)


CASES = {
    "small_cnn": (lambda: models.small_cnn(), (2, 3, 32, 32)),
    "mlp": (lambda: models.mlp((48, 64, 32, 10)), (3, 48)),
    "twice": (Twice, (2, 5, 16)),
    "transformer_encoder": (lambda: models.transformer_encoder(2, 32, 4, 64), (2, 7, 32)),
}


def _on_meta(build):
    with torch.device("meta"), cli._no_weight_init():
        return build().eval()


def _input(shape):
    return torch.randn(shape, generator=torch.Generator().manual_seed(1))


def _whole(build, x, pruning=None):
    torch.manual_seed(3)
    model = build().eval()
    if pruning:
        prune.magnitude(model, **pruning)
    return analyze(model, x)


@pytest.mark.parametrize("case", sorted(CASES))
def test_dense_summary_is_the_whole_models(case):
    """Dense: every row, every column, the totals and the ops summary, as sk.analyze gives
    them for the whole model."""
    build, shape = CASES[case]
    x = _input(shape)
    whole = _whole(build, x)
    streamed = analyze_streamed(_on_meta(build), x)
    assert streamed.layers == whole.layers
    assert streamed.total == whole.total
    assert streamed.ops == whole.ops
    assert streamed.meta == whole.meta


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("structure", ["element", "filter"])
def test_pruned_counts_are_the_whole_models(case, structure):
    """Pruned per layer: each layer keeps the same number of weights whatever their values,
    so the counts, MACs and CSR bytes equal the whole model's, row by row and in total."""
    build, shape = CASES[case]
    x = _input(shape)
    pruning = {"sparsity": 0.7, "structure": structure}
    whole = _whole(build, x, pruning)
    streamed = analyze_streamed(_on_meta(build), x, pruning=pruning)
    assert len(streamed.layers) == len(whole.layers)
    for a, b in zip(streamed.layers, whole.layers):
        assert {c: a[c] for c in COUNT_COLUMNS} == {c: b[c] for c in COUNT_COLUMNS}
    assert {c: streamed.total[c] for c in COUNT_COLUMNS} == \
        {c: whole.total[c] for c in COUNT_COLUMNS}
    assert any(0.6 < r["sparsity"] < 0.8 for r in streamed.layers if r["weight_params"])


def test_a_module_called_twice_is_counted_once_and_qkv_slices_thrice():
    streamed = analyze_streamed(_on_meta(Twice), _input((2, 5, 16)))
    names = [r["name"] for r in streamed.layers if r["weight_params"]]
    assert names[:2] == ["fc", "fc#2"]
    weights = 16 * 16 + 3 * 16 * 16 + 16 * 16 + 4 * 16   # fc, q/k/v, out_proj, head
    assert streamed.total["weight_params"] == weights


def test_same_seed_same_summary_and_model_left_on_meta():
    build, shape = CASES["small_cnn"]
    x = _input(shape)
    model = _on_meta(build)
    pruning = {"sparsity": 0.8, "structure": "block", "block": (2, 2)}
    a = analyze_streamed(model, x, pruning=pruning, seed=5)
    assert all(t.is_meta for t in [*model.parameters(), *model.buffers()])
    b = analyze_streamed(model, x, pruning=pruning, seed=5)
    assert a.layers == b.layers and a.total == b.total


def test_one_module_holds_weights_at_a_time():
    """While a layer runs, the only tensors of the model holding values are those its forward
    reads: its own (and, for attention, its out_proj's). (The pass that finds who reads what
    runs on placeholders: one element each.)"""
    build, shape = CASES["twice"]
    model = _on_meta(build)
    holders = []

    def holds(t):
        return not t.is_meta and t.untyped_storage().nbytes() == t.numel() * t.element_size()

    def hook(module, inputs):
        holders.append(sorted(name for name, m in model.named_modules()
                              if any(holds(t) for t in m.parameters(recurse=False))))

    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda m, i, o: hook(m, i))
    try:
        analyze_streamed(model, _input(shape))
    finally:
        handle.remove()
    assert max(len(h) for h in holders) == 2
    assert ["attn", "attn.out_proj"] in holders
    assert all(len(h) <= 1 for h in holders if "attn" not in h)


def test_bad_requests_name_the_problem():
    x = _input((1, 48))
    with pytest.raises(ValueError, match="meta"):
        analyze_streamed(models.mlp((48, 10)), x)
    meta = _on_meta(lambda: models.mlp((48, 10)))
    with pytest.raises(ValueError, match="global"):
        analyze_streamed(meta, x, pruning={"sparsity": 0.5, "scope": "global"})
    with pytest.raises(ValueError, match="sparsity"):
        analyze_streamed(meta, x, pruning={"sparsity": 1.5})
    with pytest.raises(TypeError, match="pruning"):
        analyze_streamed(meta, x, pruning=0.5)
    with pytest.raises(ValueError, match="seed"):
        analyze_streamed(meta, x, seed=-1)
    with pytest.raises(TypeError, match="seed"):
        analyze_streamed(meta, x, seed=1.5)

    class Raw(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(4, 48))

        def forward(self, x):
            return x @ self.w.t()

    assert "reset_parameters" in streamable(_on_meta(Raw))
    with pytest.raises(ValueError, match="'\\(model\\)' \\(Raw\\).*reset_parameters"):
        analyze_streamed(_on_meta(Raw), x)


@pytest.mark.parametrize("extra", [[], ["--sparsity", "0.6", "--batch", "2"]])
def test_summary_command_streams_a_built_in_model(tmp_path, capsys, extra):
    """`sparsekit summary small_cnn` builds it on meta and prints the whole model's counts."""
    out = tmp_path / "s.json"
    assert cli.main(["summary", "small_cnn", *extra, "--json", str(out)]) == 0
    rows = [r for r in json.loads(out.read_text())["tables"]["summary"] if r["name"] != "total"]
    x = _input((2 if extra else 1, 3, 32, 32))
    whole = _whole(models.small_cnn, x, {"sparsity": 0.6} if extra else None)
    assert [{c: r[c] for c in ("name", "macs", "nnz", "weight_params")} for r in rows] == \
        [{c: r[c] for c in ("name", "macs", "nnz", "weight_params")} for r in whole.layers]


def test_the_command_keeps_a_built_in_model_on_meta():
    args = cli.build_parser().parse_args(["summary", "small_cnn"])
    model, x, readers = cli.load_model_input_readers(args, meta=True)
    assert all(p.is_meta for p in model.parameters()) and not x.is_meta
    assert readers[model.fc] == [model.fc]
    model, _ = cli.load_model_and_input(args)
    assert not any(p.is_meta for p in model.parameters())
    args = cli.build_parser().parse_args(["summary", "torch.nn:Linear", "--arg", "in_features=4",
                                          "--arg", "out_features=2", "--input-shape", "4"])
    model, _, readers = cli.load_model_input_readers(args, meta=True)   # not a built-in one
    assert readers is None and not any(p.is_meta for p in model.parameters())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(2, 4), max_size=3), st.data())
def test_broadcast_is_torchs(shape, data):
    """tracing._broadcast (the batch of a fused attention) is torch.broadcast_shapes."""
    n = data.draw(st.integers(0, len(shape)))
    b = tuple(data.draw(st.sampled_from([1, d])) for d in shape[len(shape) - n:])
    a = tuple(data.draw(st.sampled_from([1, d])) for d in shape)
    if data.draw(st.booleans()):
        a, b = b, a
    assert _broadcast(a, b) == tuple(torch.broadcast_shapes(a, b))


def test_analyze_reads_a_pruned_out_proj_that_is_never_called():
    """MultiheadAttention reads out_proj.weight without calling out_proj, so torch's pruning
    hook never recomputes it during the pass: the tracer must still know it as a weight
    (it came out as an activation × activation "mm", weightless)."""
    torch.manual_seed(0)
    model = models.transformer_encoder(1, 16, 2, 32).eval()
    prune.magnitude(model, 0.5)
    rows = {r["name"]: r for r in analyze(model, _input((1, 4, 16))).layers}
    out = rows["layers.0.self_attn.out_proj"]
    assert (out["op"], out["weight_params"], out["nnz"]) == ("linear", 256, 128)
    assert not any(r["op"] == "mm" for r in rows.values())


def test_find_readers_restores_every_train_flag():
    """A module held twice keeps its own train/eval flag (``module.train()`` on a parent
    would reset it)."""
    from sparsekit.model.streamed import find_readers

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            drop = nn.Dropout(0.0)
            self.a, self.fc, self.b = nn.Sequential(drop), nn.Linear(4, 4), nn.Sequential(drop)

        def forward(self, x):
            return self.b(self.fc(self.a(x)))

    model = _on_meta(Shared)
    model.a.train()
    model.a[0].train()
    flags = {name: m.training for name, m in model.named_modules(remove_duplicate=False)}
    readers = find_readers(model, _input((2, 4)))
    assert readers[model.fc] == [model.fc]
    assert {name: m.training for name, m in model.named_modules(remove_duplicate=False)} == flags
