"""Compressed weight formats: one class per format, strict structure checks, and the one
registry of them (``registry``: adding a format takes one file in this folder)."""
import sys

from sparsekit.formats import registry
from sparsekit.formats.base import SparseFormat
from sparsekit.formats.bsr import BSR
from sparsekit.formats.csr import CSR
from sparsekit.formats.storage import Storage
from sparsekit.formats.vectorskip import VectorSkip

registry.discover(sys.modules[__name__])
FORMATS = registry.FORMATS          # name -> class, in listing order
pack = registry.pack

__all__ = ["SparseFormat", "CSR", "BSR", "VectorSkip", "Storage", "FORMATS", "pack", "registry"]
