"""The entry point: estimate a list of layers on one hardware description."""

from .cost import evaluate
from .presets import load
from .result import Estimate
from .search import best_mapping
from .workload import Layer


def estimate(hw, layers, objective="energy", batch=1):
    """Estimate ``layers`` (a Layer or a list) on ``hw`` (a Hardware, preset name or YAML
    path), each layer with its ``objective``-optimal mapping; ``batch`` inferences per pass
    (the layers' N already includes it) for the per-inference figures. With no static power
    in ``hw`` the Estimate is flagged ``dynamic_only``."""
    hw = load(hw)
    if isinstance(layers, Layer):
        layers = [layers]
    if isinstance(batch, bool) or not isinstance(batch, int) or batch <= 0:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    costs = [evaluate(hw, layer, best_mapping(hw, layer, objective)) for layer in layers]
    return Estimate(hw.name, objective, batch, costs, dynamic_only=hw.static_power_w == 0)
