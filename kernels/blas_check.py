"""Numba's BLAS check without importing all of ``scipy.linalg``.

When Numba first compiles, or loads a kernel from its cache, it imports ``numba.np.arraymath``,
whose module-level check ``import scipy.linalg.cython_blas`` asks only whether a BLAS exists.
Importing that extension the normal way first runs ``scipy/linalg/__init__.py``, which takes
0.13-0.18 s here (it clones the numpy namespace, which imports ``numpy.f2py``): a quarter of a
cached process's time to its first product, for a check whose answer is in the extension alone.

``import_numba_arraymath`` loads the extension module by itself for the duration of that check
and takes it out of ``sys.modules`` afterwards, so a later ``import scipy.linalg`` (by the user,
or by Numba when a kernel calls BLAS) runs as usual: Python keeps one instance of an extension
module per process, and hands the same module back then.
"""
import importlib.machinery
import importlib.util
import os
import sys

_EXTENSION = "scipy.linalg.cython_blas"


def _extension_alone():
    """``scipy.linalg.cython_blas`` loaded without its package, or None where it cannot be."""
    scipy_spec = importlib.util.find_spec("scipy")
    if scipy_spec is None or not scipy_spec.submodule_search_locations:
        return None
    for directory in scipy_spec.submodule_search_locations:
        linalg = os.path.join(directory, "linalg")
        names = [n for n in os.listdir(linalg) if n.startswith("cython_blas.")] \
            if os.path.isdir(linalg) else []
        for name in names:
            spec = importlib.util.spec_from_file_location(_EXTENSION, os.path.join(linalg, name))
            if spec is None or not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
                continue
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    return None


def import_numba_arraymath():
    """Import ``numba.np.arraymath`` (Numba's BLAS check) with only scipy's BLAS extension
    loaded; a no-op once it, or ``scipy.linalg``, is imported."""
    if "numba.np.arraymath" in sys.modules:
        return
    if "scipy.linalg" in sys.modules or _EXTENSION in sys.modules:
        import numba.np.arraymath  # noqa: F401
        return
    try:
        extension = _extension_alone()
    except ImportError:
        extension = None
    if extension is not None:
        sys.modules[_EXTENSION] = extension
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        if extension is not None and sys.modules.get(_EXTENSION) is extension:
            del sys.modules[_EXTENSION]
