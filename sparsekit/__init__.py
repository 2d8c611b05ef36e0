"""sparsekit: what sparsity really buys a neural network.

Compressed weight formats with fast Numba CPU kernels, model analysis and pruning for PyTorch,
and a bridge to the analytical hardware model in ``hwmodel``.

The package is grouped by concern:

- ``sparsekit.formats``  executable formats (CSR, BSR, VectorSkip), one class each
- ``sparsekit.kernels``  the Numba kernels they call (numpy only, never torch)
- ``sparsekit.model``    what a forward pass does, layer by layer (``analyze``)
- ``sparsekit.prune``    masks over torch.nn.utils.prune
- ``sparsekit.nn``       sparse layers and ``sparsify``
- ``sparsekit.hw``       estimates on a described hardware (``estimate``, ``compare``,
                         ``compare_formats``, ``calibrate``)
- ``sparsekit.models``   example models;  ``sparsekit.cli``  the command line
"""
from importlib import import_module

from sparsekit.kernels import get_num_threads
from sparsekit.formats import BSR, CSR, FORMATS, SparseFormat, Storage, VectorSkip
from sparsekit.threads import set_num_threads
from sparsekit.hw import calibrate, compare, compare_formats, estimate

__version__ = "0.1.0"

__all__ = ["CSR", "BSR", "VectorSkip", "SparseFormat", "Storage", "FORMATS",
           "set_num_threads", "get_num_threads", "estimate", "compare", "compare_formats",
           "calibrate"]

# The model side (torch) loads on first use, so ``import sparsekit`` stays torch-free and fast.
_LAZY = {"analyze": ("sparsekit.model", "analyze"),
         "Summary": ("sparsekit.model", "Summary"),
         "sparsify": ("sparsekit.nn", "sparsify"),
         "prune": ("sparsekit.prune", None),
         "nn": ("sparsekit.nn", None),
         "model": ("sparsekit.model", None),
         "models": ("sparsekit.models", None)}
__all__ += list(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'sparsekit' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    value = import_module(module_name)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value
