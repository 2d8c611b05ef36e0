"""Numba CPU kernels for sparse-weight products Y = W @ X (numpy in, numpy out; never torch).

Every kernel writes the whole of its output (it needs no zeroed buffer), trusts its input
structure completely (Numba does not bounds-check: the format classes in ``sparsekit.formats``
validate before calling), and splits rows across threads by work, not by row count.

The package loads lazily: importing it costs nothing, and the first read of a kernel (the
first product) imports the kernels and Numba (about 0.2 s and 60 MB of resident memory), so a
command that never multiplies (``sparsekit summary``) never pays for them.
"""
from importlib import import_module

# name -> the submodule that defines it
_WHERE = {"csr_spmv": ".csr", "csr_spmm": ".csr", "csr_k_tiles": ".csr",
          "csr_tiling_pays": ".csr", "row_offsets": ".csr", "bsr_spmv": ".bsr",
          "bsr_spmm": ".bsr",
          "vectorskip_spmv": ".vectorskip", "vectorskip_spmm": ".vectorskip",
          "vector_columns": ".vectorskip", "columns_dtype": ".vectorskip",
          "get_num_threads": ".threads", "set_num_threads": ".threads"}

__all__ = list(_WHERE)


def __getattr__(name):
    """PEP 562: import a kernel's submodule at the first read of its name, then keep the name
    here, so later reads cost what a plain module attribute does."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
