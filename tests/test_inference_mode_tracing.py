"""The tracers (sk.estimate's, sparsify's BatchNorm folding) see the same ops under
torch.inference_mode, where torch runs composite ops such as aten.conv2d whole."""
import torch

import sparsekit as sk
from sparsekit.models import resnet18


def test_estimate_is_the_same_under_inference_mode():
    model = resnet18(num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32)
    outside = sk.estimate(model, x, "host-cpu")
    with torch.inference_mode():
        inside = sk.estimate(model, x, "host-cpu")
        made_inside = sk.estimate(model, torch.randn(1, 3, 32, 32), "host-cpu")
    assert str(inside) == str(outside) == str(made_inside)


def test_sparsify_folds_batchnorm_under_inference_mode():
    model = resnet18(num_classes=10).eval()
    with torch.inference_mode():
        x = torch.randn(1, 3, 32, 32)
        fast = sk.sparsify(model, "csr", example_input=x, min_sparsity=0.0)
    assert isinstance(fast.bn1, torch.nn.Identity)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules()) == 0
