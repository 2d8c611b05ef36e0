"""Numba CPU kernels for sparse-weight products Y = W @ X (numpy in, numpy out; never torch).

Every kernel writes the whole of its output (it needs no zeroed buffer), trusts its input
structure completely (Numba does not bounds-check: the format classes in ``sparsekit.formats``
validate before calling), and splits rows across threads by work, not by row count.
"""
from .bsr import bsr_spmm, bsr_spmv
from .csr import csr_spmm, csr_spmv
from .threads import get_num_threads, set_num_threads
from .vectorskip import vectorskip_spmm, vectorskip_spmv

__all__ = ["csr_spmv", "csr_spmm", "bsr_spmv", "bsr_spmm", "vectorskip_spmv",
           "vectorskip_spmm", "get_num_threads", "set_num_threads"]
