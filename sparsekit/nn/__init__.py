"""Running a model sparse: ``SparseLinear`` and ``SparseConv2d`` (layers whose forward runs
the Numba kernels) and ``sparsify`` (a converted copy of a whole model)."""
from sparsekit.nn.layers import FORMATS, SparseConv2d, SparseLinear
from sparsekit.nn._sparsify import sparsify

__all__ = ["SparseLinear", "SparseConv2d", "sparsify", "FORMATS"]
