"""Loading a pip-installed TBB where Numba will find it (see ``layer`` for why TBB matters).

No Numba here: ``import sparsekit`` runs this before anything can start Numba's threading
layer, without paying for Numba itself.
"""
import ctypes
import os
import sys

TBB_NAMES = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib"}  # the names Numba loads


def preload_tbb(prefix: str = sys.prefix) -> bool:
    """Load ``libtbb`` from ``prefix``/lib, where ``pip install tbb`` puts it, if it is there.

    Numba loads TBB by its library name; once a library of that name is loaded, the dynamic
    loader hands it out for the name. Returns whether a library was loaded.
    """
    name = TBB_NAMES.get(sys.platform)
    path = os.path.join(prefix, "lib", name) if name else None
    if path is None or not os.path.exists(path):
        return False
    try:
        ctypes.CDLL(path)
    except OSError:             # a broken or foreign-architecture file: Numba skips TBB
        return False
    return True
