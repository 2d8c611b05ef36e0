"""Running a model sparse: ``SparseLinear`` and ``SparseConv2d`` (layers whose forward runs
the Numba kernels), ``SparseMultiheadAttention`` (attention with separate, possibly sparse,
projections), ``MaxPool2d`` (a faster inference max-pool) and ``sparsify`` (a converted copy
of a whole model)."""
from sparsekit.nn._base import DenseReadWarning
from sparsekit.nn._choose import UncalibratedWarning
from sparsekit.nn.attention import SparseMultiheadAttention
from sparsekit.nn.layers import FORMATS, SparseConv2d, SparseLinear
from sparsekit.nn.pool import MaxPool2d
from sparsekit.nn._sparsify import sparsify

__all__ = ["SparseLinear", "SparseConv2d", "SparseMultiheadAttention", "sparsify",
           "DenseReadWarning", "UncalibratedWarning", "FORMATS", "MaxPool2d"]
