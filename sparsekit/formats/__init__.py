"""Compressed weight formats: one class per format, strict structure checks."""
from sparsekit.formats.base import SparseFormat
from sparsekit.formats.bsr import BSR
from sparsekit.formats.csr import CSR
from sparsekit.formats.storage import Storage
from sparsekit.formats.vectorskip import VectorSkip

FORMATS = {"csr": CSR, "bsr": BSR, "vectorskip": VectorSkip}

__all__ = ["SparseFormat", "CSR", "BSR", "VectorSkip", "Storage", "FORMATS"]
