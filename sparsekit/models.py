"""Example models for tests, benchmarks and the demo, without torchvision.

``resnet18``/``resnet50`` rebuild torchvision's ResNet (v1.5: stride on the 3×3 conv of a
bottleneck) with the same layer shapes, module names and initialisation, so their state_dicts
load into torchvision's models and back, and their MACs at 1×3×224×224 are torchvision's
(1,814,073,344 and 4,089,184,256). ``transformer_encoder`` is torch's nn.TransformerEncoder
(6 layers, d=384, sequence 128): the attention workload of the whole-model benchmark.
``mobilenet_v2`` has torchvision's MobileNetV2 layout (width 1.0: 17 inverted residual
blocks, each with a depthwise conv; module names ``features.N...`` and ``classifier``), at
300,774,272 MACs on 1×3×224×224 (torchvision counts 300.8 M).

``load_model(name)`` takes one of the names in ``MODELS`` or a ``package.module:callable``
spec (``"torchvision.models:resnet50"``) when that package is installed. ``input_shape(name)``
is the shape of one input the model expects (without the batch dimension): a torchvision model
gets the crop size of its default weights (inception_v3 299×299, efficientnet_b7 600×600),
other specs 3×224×224.
"""
import importlib

import torch
from torch import nn

__all__ = ["MLP", "SmallCNN", "ResNet", "BasicBlock", "Bottleneck", "resnet18", "resnet50",
           "mlp", "small_cnn", "transformer_encoder", "mobilenet_v2", "MobileNetV2",
           "load_model", "example_input", "input_shape", "catalogue", "MODELS"]


class MLP(nn.Sequential):
    """Linear layers with ReLU between them: ``MLP((4096, 4096, 4096, 1024))`` is
    4096→4096→4096→1024 (three Linear layers, named fc1, fc2, fc3)."""

    def __init__(self, sizes=(4096, 4096, 4096, 1024), bias=True):
        try:
            if isinstance(sizes, (str, bytes)):
                raise TypeError
            sizes = tuple(int(s) for s in sizes)
        except (TypeError, ValueError):
            raise ValueError(f"sizes must be a sequence of integer widths, e.g. (256, 10), "
                             f"got {sizes!r}") from None
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must be at least two positive widths, got {sizes}")
        super().__init__()
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            self.add_module(f"fc{i}", nn.Linear(a, b, bias=bias))
            if i < len(sizes) - 1:
                self.add_module(f"relu{i}", nn.ReLU(inplace=True))
        self.sizes = sizes


class SmallCNN(nn.Module):
    """A small CNN for 3×32×32 inputs with one of each kind of layer sparsekit handles:
    a 3×3 conv, a strided 3×3 conv, a depthwise conv, a 1×1 conv and a Linear head."""

    def __init__(self, num_classes=10, width=32):
        super().__init__()
        w = int(width)
        self.conv1 = nn.Conv2d(3, w, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.conv2 = nn.Conv2d(w, 2 * w, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(2 * w, 2 * w, 3, padding=1, groups=2 * w)
        self.pw = nn.Conv2d(2 * w, 4 * w, 1)
        self.bn2 = nn.BatchNorm2d(4 * w)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * w, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.dw(x))
        x = torch.relu(self.bn2(self.pw(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


# -- ResNet, as torchvision builds it ------------------------------------------------------
def _conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def _conv1x1(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = _conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """torchvision's ResNet: the same modules under the same names."""

    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(_conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes=1000) -> ResNet:
    """torchvision's ResNet-18 (basic blocks [2, 2, 2, 2])."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes)


def resnet50(num_classes=1000) -> ResNet:
    """torchvision's ResNet-50 v1.5 (bottlenecks [3, 4, 6, 3])."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes)


def mlp(sizes=(4096, 4096, 4096, 1024), bias=True) -> MLP:
    """Linear layers with ReLU between (--arg 'sizes=(...)')."""
    return MLP(sizes, bias)


def small_cnn(num_classes=10, width=32) -> SmallCNN:
    """A small CNN: plain, strided, depthwise, 1×1 convs, a Linear."""
    return SmallCNN(num_classes, width)


def transformer_encoder(layers=6, d_model=384, nhead=6, dim_feedforward=1536) -> nn.Module:
    """nn.TransformerEncoder: 6 post-norm layers, d=384, 6 heads, FFN 1536, sequence 128."""
    layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=0.0,
                                       batch_first=True)
    return nn.TransformerEncoder(layer, int(layers), enable_nested_tensor=False)


def _conv_bn_relu6(cin, cout, kernel=3, stride=1, groups=1, relu=True):
    layers = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups,
                        bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU6(inplace=True)) if relu else nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1×1 expansion, 3×3 depthwise, 1×1 projection (residual when the
    shape allows)."""

    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = [_conv_bn_relu6(cin, hidden, 1)] if expand != 1 else []
        layers += [_conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                   _conv_bn_relu6(hidden, cout, 1, relu=False)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision's MobileNetV2 (width 1.0), without torchvision."""

    # (expansion, output channels, blocks, first stride): torchvision's settings
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, num_classes=1000):
        super().__init__()
        features, cin = [_conv_bn_relu6(3, 32, 3, 2)], 32
        for expand, cout, blocks, stride in self.SETTINGS:
            for i in range(blocks):
                features.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expand))
                cin = cout
        features.append(_conv_bn_relu6(cin, 1280, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x).mean((2, 3)))


def mobilenet_v2(num_classes=1000) -> MobileNetV2:
    """torchvision's MobileNetV2 layout (depthwise convs: sparsify keeps them dense)."""
    return MobileNetV2(num_classes)


# name -> (constructor, shape of one example input without the batch dimension)
MODELS = {
    "mlp": (mlp, (4096,)),
    "small_cnn": (small_cnn, (3, 32, 32)),
    "resnet18": (resnet18, (3, 224, 224)),
    "resnet50": (resnet50, (3, 224, 224)),
    "transformer_encoder": (transformer_encoder, (128, 384)),
    "mobilenet_v2": (mobilenet_v2, (3, 224, 224)),
}
_ALIASES = {"cnn": "small_cnn", "smallcnn": "small_cnn", "transformer": "transformer_encoder"}


def catalogue() -> list:
    """One row per built-in model: name, aliases, input shape (without the batch), parameter
    count, MACs at batch 1, and a one-line description. Counted on the meta device: no
    weights are allocated."""
    from sparsekit.model._analyze import total_macs
    rows = []
    for name, (ctor, shape) in MODELS.items():
        with torch.device("meta"):
            model = ctor()
            macs = total_macs(model, torch.empty((1,) + shape))
        rows.append({"name": name,
                     "aliases": [a for a, key in _ALIASES.items() if key == name],
                     "input_shape": shape,
                     "params": sum(p.numel() for p in model.parameters()),
                     "macs": macs,
                     "description": (ctor.__doc__ or "").strip().splitlines()[0]})
    return rows


def _resolve(spec: str):
    """The callable behind a ``package.module:callable`` spec, or a clear error."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"model spec must be 'package.module:callable', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"cannot import {module_name!r} for model {spec!r}: {e}") from e
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{spec!r} is not callable")
    return obj


def load_model(name: str, **kwargs) -> nn.Module:
    """A model by name: one of ``MODELS`` (``"mlp"``, ``"small_cnn"``, ``"resnet18"``,
    ``"resnet50"``, ``"transformer_encoder"``) or ``"package.module:callable"`` (called
    with ``kwargs``). Returned in eval mode."""
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {type(name).__name__}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key in MODELS:
        model = MODELS[key][0](**kwargs)
    elif ":" in name:
        model = _resolve(name)(**kwargs)
        if not isinstance(model, nn.Module):
            raise TypeError(f"{name!r} returned {type(model).__name__}, not an nn.Module")
    else:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)} or give "
                         "'package.module:callable'")
    return model.eval()


# Crop sizes of torchvision's default weights that differ from 224 (its weights' docs:
# ``weights.transforms().crop_size``); used when torchvision itself cannot be asked.
TORCHVISION_CROP = {"inception_v3": 299, "efficientnet_b1": 240, "efficientnet_b2": 288,
                    "efficientnet_b3": 300, "efficientnet_b4": 380, "efficientnet_b5": 456,
                    "efficientnet_b6": 528, "efficientnet_b7": 600, "efficientnet_v2_s": 384,
                    "efficientnet_v2_m": 480, "efficientnet_v2_l": 480, "swin_v2_t": 256,
                    "swin_v2_s": 256, "swin_v2_b": 256}


def _torchvision_crop(attr: str) -> int:
    """The crop size of torchvision model ``attr``'s default weights (224 if unknown)."""
    try:
        from torchvision.models import get_model_weights
        crop = get_model_weights(attr).DEFAULT.transforms.keywords["crop_size"]
        return int(crop[0] if isinstance(crop, (tuple, list)) else crop)
    except (ImportError, AttributeError, KeyError, ValueError, TypeError, IndexError):
        # torchvision missing or older than 0.14, an unknown name, a model without weights
        return TORCHVISION_CROP.get(attr, 224)


def input_shape(name: str) -> tuple:
    """Shape of one input of model ``name`` without the batch dimension: the built-in models'
    own (``MODELS``), the crop size of a torchvision model's default weights
    (``"torchvision.models:inception_v3"`` → (3, 299, 299)), else 3×224×224 images."""
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {type(name).__name__}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key in MODELS:
        return MODELS[key][1]
    module, _, attr = name.partition(":")
    if module.split(".")[0] == "torchvision" and attr:
        size = _torchvision_crop(attr.rpartition(".")[2])
        return (3, size, size)
    return (3, 224, 224)


def example_input(name: str, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """A random float32 input for a named model: ``batch`` × ``input_shape(name)``."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn((int(batch),) + tuple(input_shape(name)), generator=g)
