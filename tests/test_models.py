"""Example models: torchvision's ResNet shapes and MACs reproduced, model loading by name."""
import pytest
import torch
from torch import nn

import sparsekit as sk
from sparsekit.model._analyze import analyze, total_macs
from sparsekit.models import MODELS, example_input, load_model, mlp, resnet18, resnet50

# torchvision's published figures (weights docs: "GFLOPS" = MACs at 1×3×224×224, "params").
TORCHVISION = {"resnet18": (1_814_073_344, 11_689_512),
               "resnet50": (4_089_184_256, 25_557_032),
               "mobilenet_v2": (300_774_272, 3_504_872)}


def _meta(ctor):
    with torch.device("meta"):
        return ctor()


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v2"])
def test_resnet_macs_and_params_are_torchvisions(name):
    macs, params = TORCHVISION[name]
    model = _meta(MODELS[name][0])  # shapes only: no weights to initialise, no real compute
    x = torch.empty(1, 3, 224, 224, device="meta")
    assert total_macs(model, x) == macs
    assert sum(p.numel() for p in model.parameters()) == params
    summary = analyze(model, x, formats=())
    assert summary.total["macs"] == macs == sum(r["macs"] for r in summary.layers)
    # 20 convs + fc for resnet18, 53 convs + fc for resnet50, 52 convs + fc for mobilenet_v2
    assert len(summary) == {"resnet18": 21, "resnet50": 54, "mobilenet_v2": 53}[name]


def test_resnet18_macs_on_cpu_with_real_weights():
    torch.manual_seed(0)
    summary = analyze(resnet18(), torch.randn(1, 3, 224, 224), formats=())
    assert summary.total["macs"] == TORCHVISION["resnet18"][0]
    assert summary.total["effective_macs"] == summary.total["macs"]  # dense weights


def test_resnet_layer_names_and_shapes_match_torchvision():
    sd = _meta(resnet50).state_dict()
    expected = {"conv1.weight": (64, 3, 7, 7), "bn1.running_mean": (64,),
                "layer1.0.downsample.0.weight": (256, 64, 1, 1),
                "layer2.0.conv2.weight": (128, 128, 3, 3),  # v1.5: stride on the 3×3 conv
                "layer4.2.conv3.weight": (2048, 512, 1, 1), "fc.weight": (1000, 2048)}
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape
    assert len(sd) == 320  # torchvision resnet50's state_dict has 320 entries
    m = _meta(resnet18)
    assert m.layer2[0].conv1.stride == (2, 2) and tuple(m.fc.weight.shape) == (1000, 512)


def test_mlp_shape_and_default_sizes():
    m = mlp((8, 16, 4))
    assert [type(c).__name__ for c in m] == ["Linear", "ReLU", "Linear"]
    assert m(torch.randn(2, 8)).shape == (2, 4)
    big = _meta(mlp)
    assert [tuple(p.shape) for n, p in big.named_parameters() if n.endswith("weight")] == \
        [(4096, 4096), (4096, 4096), (1024, 4096)]
    with pytest.raises(ValueError):
        mlp((8,))
    for bad in ("(8, 4)", 8, (8, "x")):
        with pytest.raises(ValueError, match="sizes must be a sequence"):
            mlp(bad)


def test_small_cnn_has_each_kind_of_layer():
    m = load_model("small_cnn")
    kinds = {(type(c).__name__, getattr(c, "groups", 1) > 1, getattr(c, "kernel_size", 0))
             for c in m.modules() if isinstance(c, (nn.Conv2d, nn.Linear))}
    assert ("Conv2d", True, (3, 3)) in kinds and ("Conv2d", False, (1, 1)) in kinds
    assert m(example_input("small_cnn", batch=2)).shape == (2, 10)


def test_load_model_by_name_alias_and_spec():
    assert isinstance(load_model("MLP", sizes=(4, 2)), nn.Sequential)
    assert isinstance(load_model("cnn"), sk.models.SmallCNN)
    assert not load_model("mlp", sizes=(4, 2)).training  # returned in eval mode
    m = load_model("torch.nn:Linear", in_features=3, out_features=2)
    assert isinstance(m, nn.Linear) and m.weight.shape == (2, 3)
    assert isinstance(load_model("sparsekit.models:resnet18", num_classes=7).fc, nn.Linear)


@pytest.mark.parametrize("bad, err", [
    ("resnet1000", ValueError), ("no_such_pkg.mod:fn", ValueError),
    ("sparsekit.models:nothing", ValueError), ("sparsekit.models:", ValueError),
    ("sparsekit.models:MODELS", ValueError), ("torch:randn", TypeError), (3, TypeError)])
def test_load_model_errors(bad, err):
    with pytest.raises(err):
        load_model(bad) if bad != "torch:randn" else load_model(bad, size=(2,))


def test_example_input_shapes():
    assert example_input("mlp", batch=3).shape == (3, 4096)
    assert example_input("resnet50").shape == (1, 3, 224, 224)
    assert example_input("torchvision.models:resnet50").shape == (1, 3, 224, 224)
    assert torch.equal(example_input("mlp", seed=1), example_input("mlp", seed=1))


@pytest.mark.parametrize("name, shape", [
    ("torchvision.models:inception_v3", (3, 299, 299)),
    ("torchvision.models:efficientnet_b7", (3, 600, 600)),
    ("torchvision.models:swin_v2_t", (3, 256, 256)),
    ("torchvision.models:resnet50", (3, 224, 224)),
    ("torch.nn:Linear", (3, 224, 224)),
    ("small_cnn", (3, 32, 32)), ("CNN", (3, 32, 32)), ("mlp", (4096,))])
def test_example_input_uses_each_models_real_input_size(name, shape):
    from sparsekit.models import input_shape
    assert input_shape(name) == shape
    assert example_input(name, batch=2).shape == (2, *shape)


def test_catalogue_counts_match_torchvision():
    from sparsekit.models import catalogue
    rows = {r["name"]: r for r in catalogue()}
    assert set(rows) == set(MODELS)
    for name, (macs, params) in TORCHVISION.items():
        assert (rows[name]["macs"], rows[name]["params"]) == (macs, params)
        assert rows[name]["input_shape"] == (3, 224, 224)
    assert "cnn" in rows["small_cnn"]["aliases"]
    assert all(r["description"] for r in rows.values())
