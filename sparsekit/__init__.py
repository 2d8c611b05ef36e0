"""sparsekit: what sparsity really buys a neural network.

Compressed weight formats with fast Numba CPU kernels, model analysis and pruning for PyTorch,
and a bridge to the analytical hardware model in ``hwmodel``.
"""
from kernels import get_num_threads
from sparsekit.formats import BSR, CSR, FORMATS, SparseFormat, Storage, VectorSkip
from sparsekit.threads import set_num_threads
from sparsekit.estimate import compare, estimate
from sparsekit.calibrate import calibrate

__version__ = "0.1.0"

__all__ = ["CSR", "BSR", "VectorSkip", "SparseFormat", "Storage", "FORMATS",
           "set_num_threads", "get_num_threads"]
__all__ += ["estimate", "compare", "calibrate"]

# The model side (torch) loads on first use, so ``import sparsekit`` stays torch-free and fast.
# ``sk.analyze`` and ``sk.sparsify`` are functions living in modules of the same name; if
# such a module is imported before the attribute is first read, the import system binds the
# module instead, and the module forwards calls to its function (see the module's end).
_LAZY = {"analyze": ("sparsekit.analyze", "analyze"),
         "sparsify": ("sparsekit.sparsify", "sparsify"),
         "Summary": ("sparsekit.summary", "Summary"),
         "prune": ("sparsekit.prune", None),
         "nn": ("sparsekit.nn", None),
         "models": ("sparsekit.models", None)}
__all__ += list(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'sparsekit' has no attribute {name!r}")
    import importlib
    module_name, attr = _LAZY[name]
    value = importlib.import_module(module_name)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value
