"""Compressed weight formats: one class per format, strict structure checks."""
from sparsekit.formats.base import SparseFormat
from sparsekit.formats.bsr import BSR
from sparsekit.formats.csr import CSR
from sparsekit.formats.storage import Storage
from sparsekit.formats.vectorskip import VectorSkip

FORMATS = {"csr": CSR, "bsr": BSR, "vectorskip": VectorSkip}


def pack(w, format: str, block=(4, 4), vector: int = 8) -> SparseFormat:
    """The dense M×K weight ``w`` (numpy or torch) in the format named ``format``; ``block``
    is BSR's (r, c), ``vector`` VectorSkip's V (each ignored by the other formats)."""
    if format == "csr":
        return CSR.from_dense(w)
    if format == "bsr":
        return BSR.from_dense(w, block)
    if format == "vectorskip":
        return VectorSkip.from_dense(w, vector)
    raise ValueError(f"unknown format {format!r}; choose from {tuple(FORMATS)}")

__all__ = ["SparseFormat", "CSR", "BSR", "VectorSkip", "Storage", "FORMATS", "pack"]
