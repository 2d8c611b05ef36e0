"""Reliability of the sparse layers: the kernels only run on a structure validated after the
last change of the buffers (no crash from in-place edits), load_state_dict is all or
nothing per layer, and the dense weight read on demand.

Reproducers that crashed the interpreter (repro/inplace_state.py) run in a subprocess, so a
regression fails the test instead of killing pytest."""
import copy
import io
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import sparsekit as sk
from sparsekit.nn import DenseReadWarning, SparseConv2d, SparseLinear

from helpers import NN_TOL as TOL, pruned as _pruned  # noqa: E402
from sparsekit.nn import FORMATS  # noqa: E402


def _run(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (a segfault there is a failed test here)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=600)


def _state(module):
    return {k: (v.clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v))
            for k, v in module.state_dict().items()}


def _same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k


# -- buffers never reach the kernels unvalidated ------------------------------------------

def test_inplace_edit_of_state_dict_tensor_raises_instead_of_crashing():
    """repro/inplace_state.py: it ended in SIGSEGV."""
    r = _run("""
        import torch, torch.nn as nn, sparsekit as sk, warnings
        warnings.simplefilter("ignore")
        lin = nn.Linear(70_000, 4)                       # K > 65536 -> uint32 indices
        sk.prune.magnitude(lin, 0.99)
        layer = sk.nn.SparseLinear.from_dense(lin, "csr")
        x = torch.randn(2, 70_000)
        with torch.no_grad(): layer(x)
        layer.state_dict()["indices"].fill_(4_000_000_000)
        try:
            with torch.no_grad(): layer(x)
        except ValueError as e:
            print("ValueError:", e)
    """)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "ValueError" in r.stdout and "indices must lie in [0, 70000)" in r.stdout


@pytest.mark.parametrize("fmt", FORMATS)
def test_buffers_are_clones_of_a_private_read_only_matrix(fmt):
    layer = SparseLinear.from_dense(_pruned(nn.Linear(40, 24)), fmt)
    arrays = {"csr": ("data", "indices", "indptr"), "bsr": ("blocks", "indices", "indptr"),
              "vectorskip": ("vectors", "bitmap", "panel_ptr")}[fmt]
    mat = layer.matrix()
    for name in arrays:
        a = getattr(mat, name)
        assert not a.flags.writeable
        for buf in layer.buffers():
            assert not np.shares_memory(a, buf.numpy())


def test_changing_the_callers_arrays_after_construction_does_not_reach_the_layer():
    idx = np.array([0, 1], np.uint32)
    A = sk.CSR(np.ones(2, np.float32), idx, np.array([0, 2], np.uint16), (1, 70000))
    layer = SparseLinear(A)
    idx[1] = 4_000_000_000  # the caller's array (A may or may not have copied it)
    x = torch.ones(3, 70000)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), torch.full((3, 1), 2.0))


@pytest.mark.parametrize("fmt", FORMATS)
def test_valid_inplace_edits_are_picked_up_and_invalid_ones_refused(fmt):
    lin = _pruned(nn.Linear(20, 12))
    layer = SparseLinear.from_dense(lin, fmt)
    x = torch.randn(4, 20)
    with torch.no_grad():
        y = layer(x)
        layer.values.mul_(2)  # through torch: seen, revalidated, used
        layer.bias.mul_(2)
        torch.testing.assert_close(layer(x), 2 * y, **TOL)
        layer.state_dict()["pointers"].fill_(7)  # through a state_dict tensor: invalid
        with pytest.raises(ValueError, match="buffers were changed.*pointers"):
            layer(x)
        with pytest.raises(ValueError, match="pointers"):
            layer.nnz
        good = SparseLinear.from_dense(lin, fmt)
        layer.load_state_dict(good.state_dict())  # repaired by a valid load
        torch.testing.assert_close(layer(x), y)


def test_assigned_buffers_are_validated():
    layer = SparseLinear.from_dense(_pruned(nn.Linear(10, 6)), "csr")
    x = torch.randn(2, 10)
    with torch.no_grad():
        y = layer(x)
        layer.values = layer.values * 3
        torch.testing.assert_close(layer(x) - layer.bias, 3 * (y - layer.bias), **TOL)
        layer.bias = torch.zeros(5)
        with pytest.raises(ValueError, match=r"bias must have shape \(6,\)"):
            layer(x)
        layer.bias = torch.zeros(6)
        values = layer.values
        layer.values = values.long()
        with pytest.raises(TypeError, match="values: sparse layers support float32/float64"):
            layer(x)
        layer.values = values
        layer.indices = layer.indices.to(torch.float32)
        with pytest.raises(TypeError, match="indices must have an integer dtype"):
            layer(x)


def test_writes_bypassing_torch_keep_the_validated_matrix():
    """Writes through .numpy() are not seen (documented): the kernels keep their own copy."""
    r = _run("""
        import torch, torch.nn as nn, sparsekit as sk, warnings
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        lin = nn.Linear(70_000, 4)
        sk.prune.magnitude(lin, 0.99)
        layer = sk.nn.SparseLinear.from_dense(lin, "csr")
        x = torch.randn(2, 70_000)
        with torch.no_grad():
            y = layer(x)
            layer.indices.numpy()[:] = 4_000_000_000
            layer.indices.data.fill_(4_000_000_000)
            print("same:", torch.equal(layer(x), y))
    """)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "same: True" in r.stdout


def test_random_inplace_edits_never_crash():
    """Property: whatever an in-place edit writes into the buffers, the forward equals the
    reference product of the edited arrays when they form a valid matrix, else raises."""
    r = _run("""
        import numpy as np, torch, torch.nn as nn, sparsekit as sk, warnings
        warnings.simplefilter("ignore")
        rng = np.random.default_rng(0)
        make = {"csr": lambda b, s: sk.CSR(b["values"], b["indices"], b["pointers"], s),
                "bsr": lambda b, s: sk.BSR(b["values"], b["indices"], b["pointers"], s),
                "vectorskip": lambda b, s: sk.VectorSkip(b["values"], b["bitmap"],
                                                         b["pointers"], s)}
        checked = {"ok": 0, "refused": 0}
        for trial in range(300):
            fmt = ("csr", "bsr", "vectorskip")[trial % 3]
            torch.manual_seed(trial)
            lin = nn.Linear(int(rng.integers(1, 90)), int(rng.integers(1, 30)))
            sk.prune.magnitude(lin, 0.6)
            layer = sk.nn.SparseLinear.from_dense(lin, fmt, block=(2, 3), vector=4)
            name = str(rng.choice([n for n in ("indices", "pointers", "bitmap", "values")
                                   if getattr(layer, n).numel()]))
            buf = getattr(layer, name)
            i = int(rng.integers(0, buf.numel()))
            target = buf.view(torch.int64) if buf.dtype == torch.uint64 else buf
            hi = 3 if buf.dtype == torch.float32 else min(torch.iinfo(target.dtype).max, 2**40)
            value = int(rng.integers(0, hi)) if rng.random() < 0.5 else int(rng.integers(0, 4))
            with torch.no_grad():
                target.view(-1)[i] = value  # in place, through a view: torch sees it
            arrays = {k: getattr(layer, k).numpy().copy() for k in
                      ("values", "indices", "pointers", "bitmap")}
            try:
                ref = make[fmt](arrays, layer.shape).to_dense()
            except (ValueError, TypeError):
                ref = None
            x = torch.randn(3, layer.shape[1])
            try:
                with torch.no_grad():
                    y = layer(x)
            except (ValueError, TypeError):
                assert ref is None, (trial, fmt, name)
                checked["refused"] += 1
                continue
            assert ref is not None, (trial, fmt, name)
            expect = x.numpy() @ ref.T + layer.bias.numpy()
            np.testing.assert_allclose(y.numpy(), expect, rtol=1e-4, atol=1e-4)
            checked["ok"] += 1
        print(checked)
    """)
    assert r.returncode == 0, r.stderr[-3000:]
    counts = eval(r.stdout.strip().splitlines()[-1])
    assert counts["ok"] > 20 and counts["refused"] > 20  # both branches exercised


def test_to_dtype_rebuilds_and_unsupported_dtype_leaves_layer_unchanged():
    lin = _pruned(nn.Linear(16, 8))
    layer = SparseLinear.from_dense(lin, "bsr")
    x = torch.randn(2, 16)
    with torch.no_grad():
        y = layer(x)
        d = layer.double()
        torch.testing.assert_close(d(x.double()), lin(x).double(), **TOL)
        layer.float()
        for dtype in (torch.bfloat16, torch.float16):
            with pytest.raises(TypeError, match="sparse layers support float32/float64"):
                layer.to(dtype)
            assert layer.values.dtype == torch.float32
            torch.testing.assert_close(layer(x), y)


def test_bf16_and_fp16_inputs_get_the_librarys_message():
    layer = SparseLinear.from_dense(_pruned(nn.Linear(8, 4)))
    conv = SparseConv2d.from_dense(_pruned(nn.Conv2d(2, 3, 3)))
    for dtype in (torch.bfloat16, torch.float16):
        with pytest.raises(TypeError, match="sparse layers support float32/float64"):
            layer(torch.randn(2, 8, dtype=dtype))
        with pytest.raises(TypeError, match="sparse layers support float32/float64"):
            conv(torch.randn(1, 2, 5, 5, dtype=dtype))
        with pytest.raises(TypeError, match="sparse layers support float32/float64"):
            SparseLinear.from_dense(nn.Linear(4, 4).to(dtype))


def test_layers_created_in_inference_mode_track_edits():
    with torch.inference_mode():
        layer = SparseLinear.from_dense(_pruned(nn.Linear(8, 4)), "csr")
    x = torch.randn(2, 8)
    with torch.no_grad():
        y = layer(x)
        layer.values.mul_(0)
        torch.testing.assert_close(layer(x), layer.bias.expand(2, 4))
    assert not torch.equal(y, layer.bias.expand(2, 4))


def test_deepcopy_and_pickle_rebuild_a_validated_private_matrix():
    layer = SparseConv2d.from_dense(_pruned(nn.Conv2d(3, 5, 3, padding=1)), "vectorskip")
    x = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        y = layer(x)
        twin = copy.deepcopy(layer)
        twin.values.mul_(0)
        torch.testing.assert_close(layer(x), y)  # independent
        buf = io.BytesIO()
        torch.save(layer, buf)
        buf.seek(0)
        back = torch.load(buf, weights_only=True)
        torch.testing.assert_close(back(x), y)
        assert back.matrix() is not layer.matrix()


def test_geometry_is_read_only():
    conv = SparseConv2d.from_dense(_pruned(nn.Conv2d(3, 5, 3)))
    with pytest.raises(AttributeError):
        conv.stride = (0, 0)
    with pytest.raises(AttributeError):
        conv.format = "bsr"


# -- load_state_dict: all or nothing ------------------------------------------------------

def test_failed_load_leaves_the_failing_layer_unchanged():
    """repro/failed_load_stale.py: the failing layer kept its old matrix while its buffers
    (and state_dict) showed the new one."""
    def make(seed):
        torch.manual_seed(seed)
        m = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
        sk.prune.magnitude(m, 0.5)
        return sk.sparsify(m, format="csr", min_sparsity=0.0)
    src, dst = make(1), make(2)
    h = torch.randn(3, 16)
    with torch.no_grad():
        old_out = dst[2](h)
    old_state = _state(dst[2])
    sd = src.state_dict()
    sd["2._extra_state"] = dict(sd["2._extra_state"], format="coo")
    with pytest.raises(RuntimeError, match="'format' must be one of.*'coo'.*unchanged"):
        dst.load_state_dict(sd)
    _same_state(_state(dst[2]), old_state)
    with torch.no_grad():
        assert torch.equal(dst[2](h), old_out)
    # layer 0 was valid and torch loads layer by layer (as for dense layers): it is loaded
    assert torch.equal(dst[0].values, src[0].values)
    with torch.no_grad():
        torch.testing.assert_close(dst[0](h), src[0](h))


def _conv_state(**changes):
    conv = SparseConv2d.from_dense(_pruned(nn.Conv2d(3, 4, 3, padding=1), seed=5), "csr")
    sd = conv.state_dict()
    extra = dict(sd["_extra_state"])
    for k, v in changes.items():
        if k in extra:
            extra[k] = v
        else:
            sd[k] = v
    sd["_extra_state"] = extra
    return sd


BAD_STATES = {
    "pointers reversed": (lambda sd: sd.update(
        pointers=torch.from_numpy(sd["pointers"].numpy()[::-1].copy())), "indptr"),
    "index out of range": (lambda sd: sd["indices"].fill_(200), "indices must lie"),
    "values short": (lambda sd: sd.update(values=sd["values"][:-1]), "same length"),
    "values bf16": (lambda sd: sd.update(values=sd["values"].bfloat16()),
                    "sparse layers support float32/float64"),
    "values not a tensor": (lambda sd: sd.update(values=[1.0]), "must be a torch.Tensor"),
    "bias shape": (lambda sd: sd.update(bias=torch.zeros(5)), r"bias must have shape \(4,\)"),
    "bias dtype": (lambda sd: sd.update(bias=torch.zeros(4, dtype=torch.float64)),
                   "bias must have the values' dtype"),
    "format unknown": (lambda sd: sd["_extra_state"].update(format="coo"), "'format'"),
    "format swapped": (lambda sd: sd["_extra_state"].update(format="bsr", block=[4, 4]),
                       "blocks must be 3-D"),
    "block stated": (lambda sd: sd["_extra_state"].update(block=[2, 2]), "block="),
    "shape": (lambda sd: sd["_extra_state"].update(shape=[4, 28]), "'shape'"),
    "bitmap in csr": (lambda sd: sd.update(bitmap=torch.zeros(3, dtype=torch.uint64)),
                      "no bitmap"),
    "stride 0": (lambda sd: sd["_extra_state"].update(stride=[0, 1]), "stride"),
    "dilation": (lambda sd: sd["_extra_state"].update(dilation="2"), "dilation"),
    "padding negative": (lambda sd: sd["_extra_state"].update(pad=[1, 1, -1, 1]), "padding"),
    "padding mode": (lambda sd: sd["_extra_state"].update(padding_mode="mirror"),
                     "padding_mode"),
    "in_channels": (lambda sd: sd["_extra_state"].update(in_channels=2), "columns"),
    "kernel": (lambda sd: sd["_extra_state"].update(kernel_size=[1, 27], in_channels=1),
               "kernel"),
    "geometry missing": (lambda sd: sd["_extra_state"].pop("stride"), "lacks.*stride"),
    "extra not a dict": (lambda sd: sd.update(_extra_state="csr"), "must be a dict"),
}


@pytest.mark.parametrize("case", BAD_STATES)
def test_bad_states_are_refused_and_the_layer_is_unchanged(case):
    corrupt, message = BAD_STATES[case]
    layer = SparseConv2d.from_dense(_pruned(nn.Conv2d(3, 4, 3, padding=1)), "vectorskip")
    x = torch.randn(2, 3, 7, 7)
    with torch.no_grad():
        y = layer(x)
    before = _state(layer)
    sd = _conv_state()
    corrupt(sd)
    with pytest.raises(RuntimeError, match=message):
        layer.load_state_dict(sd)
    _same_state(_state(layer), before)
    with torch.no_grad():
        assert torch.equal(layer(x), y)


def test_valid_loads_change_format_and_geometry_atomically():
    layer = SparseConv2d.from_dense(_pruned(nn.Conv2d(3, 4, 3, padding=1)), "vectorskip")
    src = SparseConv2d.from_dense(_pruned(nn.Conv2d(3, 4, 3, stride=2), seed=3), "bsr")
    layer.load_state_dict(src.state_dict())
    assert (layer.format, layer.block, layer.stride, layer.pad) == ("bsr", (4, 4), (2, 2),
                                                                    (0, 0, 0, 0))
    x = torch.randn(2, 3, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), src(x))
    _same_state(_state(layer), _state(src))


def test_swapped_format_state_is_a_clear_error():
    """repro/swap_fmt.py: csr arrays stated as bsr."""
    torch.manual_seed(0)
    lin = nn.Linear(288, 70)
    sk.prune.magnitude(lin, 0.8)
    a = SparseLinear.from_dense(lin, "csr")
    sd = a.state_dict()
    sd["_extra_state"]["format"] = "bsr"
    b = SparseLinear.from_dense(lin, "csr")
    before = _state(b)
    with pytest.raises(RuntimeError, match="not a valid bsr layer state.*unchanged"):
        b.load_state_dict(sd)
    assert b.format == "csr" and b.block is None
    _same_state(_state(b), before)
    # a consistent state of another format switches the layer, whole
    c = SparseLinear.from_dense(lin, "bsr", block=(2, 8))
    b.load_state_dict(c.state_dict())
    assert (b.format, b.block) == ("bsr", (2, 8))
    x = torch.randn(3, 288)
    with torch.no_grad():
        torch.testing.assert_close(b(x), lin(x), **TOL)


def test_strict_and_non_strict_loads_with_missing_keys():
    lin = _pruned(nn.Linear(12, 6))
    layer = SparseLinear.from_dense(lin, "csr")
    before = _state(layer)
    sd = SparseLinear.from_dense(_pruned(nn.Linear(12, 6), seed=4), "csr").state_dict()
    del sd["bitmap"]
    with pytest.raises(RuntimeError, match="Missing key.*bitmap"):
        layer.load_state_dict(sd)
    _same_state(_state(layer), before)
    result = layer.load_state_dict({"bias": torch.ones(6)}, strict=False)
    assert set(result.missing_keys) == {"values", "indices", "pointers", "bitmap",
                                        "_extra_state"}
    _same_state(_state(layer), before)  # a partial sparse state is not loaded
    other = SparseLinear.from_dense(_pruned(nn.Linear(12, 6), seed=4), "bsr").state_dict()
    with pytest.raises(RuntimeError, match="Unexpected key.*weight"):
        layer.load_state_dict({**other, "weight": torch.zeros(6, 12)})
    result = layer.load_state_dict({**other, "weight": torch.zeros(6, 12)}, strict=False)
    assert result.unexpected_keys == ["weight"]
    _same_state(_state(layer), before)
    layer.load_state_dict(other)
    assert layer.format == "bsr"


def test_set_extra_state_is_validated():
    layer = SparseLinear.from_dense(_pruned(nn.Linear(12, 6)), "csr")
    state = layer.get_extra_state()
    with pytest.raises(ValueError, match="'format'"):
        layer.set_extra_state(dict(state, format="dense"))
    with pytest.raises(ValueError, match="3-D"):
        layer.set_extra_state(dict(state, format="bsr", block=[4, 4]))
    assert layer.format == "csr"
    layer.set_extra_state(state)


# -- the dense weight on demand -----------------------------------------------------------

def test_weight_is_dense_on_demand_cached_and_warns_once():
    conv = _pruned(nn.Conv2d(3, 4, 3))
    layer = SparseConv2d.from_dense(conv, "bsr")
    with pytest.warns(DenseReadWarning, match="read densely"):
        w = layer.weight
    torch.testing.assert_close(w, conv.weight.detach())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert layer.weight is w  # cached; no second warning
        w.mul_(0)  # in-place edits of the copy are discarded
        torch.testing.assert_close(layer.weight, conv.weight.detach())
        layer.values.mul_(2)  # a change of the matrix rebuilds it
        torch.testing.assert_close(layer.weight, 2 * conv.weight.detach())
    assert layer.read_densely


def test_effective_weight_reads_sparse_layers_without_warning():
    conv = _pruned(nn.Conv2d(3, 4, 3))
    layer = SparseConv2d.from_dense(conv, "csr")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DenseReadWarning)
        w = sk.prune.effective_weight(layer)
    torch.testing.assert_close(w, conv.weight.detach())
    assert not layer.read_densely
