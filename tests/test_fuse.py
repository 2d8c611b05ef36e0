"""sk.sparsify(fuse=True): each ReLU and residual add that reads only a sparse layer's output
runs inside that layer's kernels, and the model computes what it computed before."""
import re

import pytest
import torch
from torch import nn

import sparsekit as sk
from sparsekit.models import resnet18, resnet50
from sparsekit.nn import SparseConv2d, SparseLinear
from sparsekit.nn._sparsify import fold_masks


def _pruned(model, structure="element"):
    torch.manual_seed(0)
    sk.prune.magnitude(model, 0.8, structure=structure, vector=8)
    fold_masks(model)
    return model.eval()


def _fused_parts(model):
    relus = sum(1 for m in model.modules() if getattr(m, "relu", False) is True)
    residuals = len(re.findall(r"\bresidual =", model.code)) if hasattr(model, "code") else 0
    return relus, residuals


@pytest.mark.parametrize("fmt", ["csr", "bsr", "vectorskip"])
@pytest.mark.parametrize("build, shape", [(resnet18, (2, 3, 40, 40)),
                                          (resnet50, (1, 3, 64, 64))])
def test_a_fused_resnet_computes_what_the_unfused_one_does(build, shape, fmt):
    torch.manual_seed(1)
    model = _pruned(build(num_classes=10))
    x = torch.randn(shape)
    with torch.inference_mode():
        plain = sk.sparsify(model, fmt, example_input=x)
        fused, report = sk.sparsify(model, fmt, example_input=x, fuse=True,
                                    return_report=True)
        expected, got = plain(x), fused(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    relus, residuals = _fused_parts(fused)
    blocks = 8 if build is resnet18 else 16
    # every conv but a block's last reads into a ReLU; each block's last takes the residual
    assert residuals == blocks
    assert relus == 1 + blocks * (1 if build is resnet18 else 2) + blocks
    assert sum("fused: residual add and ReLU" in row["reason"] for row in report) == blocks
    assert type(fused).__name__ == "FusedResNet" and not fused.training
    # each block's input (or its downsampled copy) is read last by that add
    assert fused.code.count("into_residual = True") == blocks


def test_a_layer_read_twice_keeps_its_own_output():
    class TwoReaders(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 8, 3, padding=1)
            self.head = nn.Conv2d(8, 8, 1)

        def forward(self, x):
            y = self.conv(x)
            return torch.relu(y) + self.head(y)

    model = _pruned(TwoReaders())
    x = torch.randn(1, 4, 20, 20)
    with torch.inference_mode():
        fused = sk.sparsify(model, "csr", example_input=x, fuse=True, min_sparsity=0.0)
        torch.testing.assert_close(fused(x), model(x), rtol=1e-4, atol=1e-4)
    assert not fused.conv.relu


def test_a_residual_that_only_broadcasts_is_added_by_torch():
    class ChannelShift(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 1)
            self.shift = nn.Parameter(torch.randn(1, 6, 1, 1))

        def forward(self, x):
            return torch.relu(self.conv(x) + self.shift)

    model = _pruned(ChannelShift())
    x = torch.randn(2, 3, 9, 9)
    with torch.inference_mode():
        fused = sk.sparsify(model, "csr", example_input=x, fuse=True, min_sparsity=0.0)
        out = fused(x)
        torch.testing.assert_close(out, model(x), rtol=1e-5, atol=1e-5)
    assert "residual" in fused.code and fused.conv.relu


def test_an_mlp_runs_its_relus_in_the_kernels():
    model = _pruned(nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 32),
                                  nn.ReLU(), nn.Linear(32, 4)))
    for batch in (1, 5):
        x = torch.randn(batch, 64)
        with torch.inference_mode():
            fused = sk.sparsify(model, "csr", example_input=x, fuse=True, min_sparsity=0.0)
            torch.testing.assert_close(fused(x), model(x), rtol=1e-5, atol=1e-5)
    layers = [m for m in fused.modules() if isinstance(m, SparseLinear)]
    assert [m.relu for m in layers] == [True, True, False]
    assert not any(isinstance(m, nn.ReLU) for m in fused.modules())
    # to_dense keeps the fused ReLU
    dense = layers[0].to_dense()
    assert isinstance(dense, nn.Sequential) and isinstance(dense[1], nn.ReLU)


def test_a_model_fx_cannot_trace_is_left_unfused_with_a_warning():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            y = self.fc(x)
            return torch.relu(y) if y.sum() > 0 else y

    model = _pruned(DataDependent())
    x = torch.randn(2, 8)
    with pytest.warns(UserWarning, match="nothing fused: torch.fx cannot trace"):
        fused = sk.sparsify(model, "csr", example_input=x, fuse=True, min_sparsity=0.0)
    assert type(fused) is DataDependent and not fused.fc.relu
    with torch.inference_mode():
        torch.testing.assert_close(fused(x), model(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch, size, kernel, stride", [
    (1, 20, 1, 1),     # a 1×1 conv: the kernels write the output and add the residual
    (2, 6, 3, 1),      # small images folded into one product: torch adds it
    (1, 24, 3, 2),     # read in place: torch adds it
    (3, 17, 3, 1),     # im2col per image: the kernels add it
])
@pytest.mark.parametrize("relu", [False, True])
def test_a_conv_adds_its_residual_on_every_path(batch, size, kernel, stride, relu):
    torch.manual_seed(2)
    conv = nn.Conv2d(5, 7, kernel, stride=stride, padding=kernel // 2)
    with torch.no_grad():
        conv.weight[torch.rand_like(conv.weight) < 0.7] = 0
    layer = SparseConv2d.from_dense(conv, "csr")
    layer.relu = relu
    x = torch.randn(batch, 5, size, size)
    with torch.inference_mode():
        y = conv(x)
        residual = torch.randn_like(y)
        expected = y + residual
        expected = torch.relu(expected) if relu else expected
        torch.testing.assert_close(layer(x, residual=residual), expected, rtol=1e-5,
                                   atol=1e-5)
        # unbatched, and a float64 residual (torch's type promotion)
        torch.testing.assert_close(layer(x[0], residual=residual[0]), expected[0], rtol=1e-5,
                                   atol=1e-5)
        wide = residual.double()
        got = layer(x, residual=wide)
        assert got.dtype == torch.float64
        want = y.double() + wide
        torch.testing.assert_close(got, torch.relu(want) if relu else want, rtol=1e-5,
                                   atol=1e-5)


class _ResidualReadAgain(nn.Module):
    """A skip connection read again after its add: it must survive the add."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(4, 4, 1)
        self.b = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        y = self.a(x)
        z = self.b(y) + y
        return z * y


class _ResidualIsTheInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        return self.a(x) + x


@pytest.mark.parametrize("build", [_ResidualReadAgain, _ResidualIsTheInput])
def test_a_residual_read_again_or_given_by_the_caller_is_not_written_over(build):
    torch.manual_seed(3)
    model = _pruned(build())
    x = torch.randn(1, 4, 9, 9)
    kept = x.clone()
    with torch.inference_mode():
        fused = sk.sparsify(model, "csr", example_input=x, fuse=True, min_sparsity=0.0)
        assert "residual =" in fused.code and "into_residual" not in fused.code
        torch.testing.assert_close(fused(x), model(x), rtol=1e-5, atol=1e-5)
    assert torch.equal(x, kept)


@pytest.mark.parametrize("kernel", [1, 3])
def test_a_conv_writes_over_a_residual_it_is_given(kernel):
    torch.manual_seed(4)
    conv = nn.Conv2d(6, 6, kernel, padding=kernel // 2)
    with torch.no_grad():
        conv.weight[torch.rand_like(conv.weight) < 0.7] = 0
    layer = SparseConv2d.from_dense(conv, "csr")
    x = torch.randn(1, 6, 11, 11)
    with torch.inference_mode():
        residual = torch.randn(1, 6, 11, 11)
        kept = residual.clone()
        expected = layer(x, residual=kept)
        got = layer(x, residual=residual, into_residual=True)
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
        if kernel == 1:   # the kernels add it: written over it, not a new tensor
            assert got.data_ptr() == residual.data_ptr()
        else:             # read in place, added by torch afterwards: left as it was
            assert got.data_ptr() != residual.data_ptr() and torch.equal(residual, kept)
        # the layer's own input as its residual: read while written, so not written over
        same = x.clone()
        got = layer(same, residual=same, into_residual=True)
        assert got.data_ptr() != same.data_ptr() and torch.equal(same, x)
        torch.testing.assert_close(got, layer(x, residual=x.clone()), rtol=0, atol=0)
        # a residual that only broadcasts is added by torch, and left as it was
        row = torch.randn(1, 6, 1, 11)
        kept = row.clone()
        torch.testing.assert_close(layer(x, residual=row, into_residual=True),
                                   layer(x) + kept, rtol=1e-6, atol=1e-6)
        assert torch.equal(row, kept)


def test_extra_repr_says_relu():
    layer = SparseConv2d.from_dense(nn.Conv2d(2, 2, 1), "csr")
    assert "relu" not in repr(layer)
    layer.relu = True
    assert "relu=True" in repr(layer)
    assert isinstance(layer.to_dense()[-1], nn.ReLU)
