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

Everything loads on first use, so ``import sparsekit`` imports neither torch nor Numba, and a
command that never multiplies (``sparsekit summary``) never pays for Numba: its import costs
about 0.3 s and 60 MB of resident memory. ``sparsekit.kernels`` is a lazy package: it imports
the kernels (and Numba) at the first read of a kernel, the first product.
"""
from importlib import import_module

from sparsekit.kernels.tbb import preload_tbb as _preload_tbb

__version__ = "0.1.0"


# Before anything can start Numba's threading layer (see sparsekit.kernels.layer); no Numba.
_preload_tbb()

# name -> (module, attribute or None for the module itself), imported on first access.
_LAZY = {"CSR": ("sparsekit.formats", "CSR"),
         "BSR": ("sparsekit.formats", "BSR"),
         "VectorSkip": ("sparsekit.formats", "VectorSkip"),
         "SparseFormat": ("sparsekit.formats", "SparseFormat"),
         "Storage": ("sparsekit.formats", "Storage"),
         "FORMATS": ("sparsekit.formats", "FORMATS"),
         "set_num_threads": ("sparsekit.threads", "set_num_threads"),
         "get_num_threads": ("sparsekit.kernels", "get_num_threads"),
         "estimate": ("sparsekit.hw", "estimate"),
         "compare": ("sparsekit.hw", "compare"),
         "compare_formats": ("sparsekit.hw", "compare_formats"),
         "calibrate": ("sparsekit.hw", "calibrate"),
         "analyze": ("sparsekit.model", "analyze"),
         "Summary": ("sparsekit.model", "Summary"),
         "sparsify": ("sparsekit.nn", "sparsify"),
         "prune": ("sparsekit.prune", None),
         "nn": ("sparsekit.nn", None),
         "model": ("sparsekit.model", None),
         "models": ("sparsekit.models", None),
         "formats": ("sparsekit.formats", None),
         "hw": ("sparsekit.hw", None),
         "threads": ("sparsekit.threads", None)}

__all__ = ["CSR", "BSR", "VectorSkip", "SparseFormat", "Storage", "FORMATS",
           "set_num_threads", "get_num_threads", "estimate", "compare", "compare_formats",
           "calibrate", "analyze", "Summary", "sparsify", "prune", "nn", "model", "models"]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'sparsekit' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    value = import_module(module_name)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
