"""sparsekit: what sparsity really buys a neural network.

Compressed weight formats with fast Numba CPU kernels, model analysis and pruning for PyTorch,
and a bridge to the analytical hardware model in ``hwmodel``.
"""
from kernels import get_num_threads
from sparsekit.formats import BSR, CSR, FORMATS, SparseFormat, Storage, VectorSkip
from sparsekit.threads import set_num_threads

__version__ = "0.1.0"

__all__ = ["CSR", "BSR", "VectorSkip", "SparseFormat", "Storage", "FORMATS",
           "set_num_threads", "get_num_threads"]
