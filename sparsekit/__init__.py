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
about 0.3 s and 60 MB of resident memory. ``sparsekit.kernels`` is a lazy module: the format
modules bind a stand-in at import (``from sparsekit import kernels``) that imports the kernels
(and Numba) at its first attribute access: the first product.
"""
import types
from importlib import import_module

__version__ = "0.1.0"


def _lazy_module(name: str) -> types.ModuleType:
    """A stand-in for module ``name`` that imports it at the first read of an attribute and
    serves its attributes, each kept on the stand-in at its first read (a product then reads
    ``kernels.csr_spmv`` as fast as from the module itself; a name rebound in the module later
    is not seen here). The stand-in stays out of ``sys.modules``: tools that scan every loaded
    module (``inspect.getmodule``, which torch's import runs) would otherwise load it.
    Importing the real module (``import sparsekit.kernels``) replaces the package's attribute
    by it; modules that bound the stand-in keep working through it."""
    stand_in = types.ModuleType(name)

    def __getattr__(attr):      # PEP 562: called only for names not yet on the stand-in
        value = getattr(import_module(name), attr)
        setattr(stand_in, attr, value)
        return value

    stand_in.__getattr__ = __getattr__
    return stand_in


kernels = _lazy_module("sparsekit.kernels")


def _preload_tbb() -> None:
    """Load a pip-installed ``libtbb`` from ``sys.prefix``/lib now, as importing the kernels
    did before they became lazy, so that Numba, whenever it starts, finds TBB there (the
    fork-safe layer; see ``sparsekit.kernels.layer``). The same load as
    ``sparsekit.kernels.layer.preload_tbb``, which cannot be imported without Numba; the
    kernels repeat it (harmlessly) when they load."""
    import ctypes
    import os
    import sys
    name = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib"}.get(sys.platform)
    path = os.path.join(sys.prefix, "lib", name) if name else None
    if path is not None and os.path.exists(path):
        try:
            ctypes.CDLL(path)
        except OSError:     # a broken or foreign-architecture file: Numba skips TBB
            pass


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
