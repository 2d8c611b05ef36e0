"""Numba's threading layer: a fork-safe one by default, and no pool in a child GNU OpenMP forbids.

Why: GNU OpenMP cannot run a parallel region in a process forked after it started: the child
has none of the parent's worker threads, so it waits for them forever, and Numba's ``omp``
layer kills such a child with SIGTERM instead. Forking is everyday use: torch DataLoader
workers and ``multiprocessing`` pools fork (on Linux) a process that has already run a
sparse product. Numba picks ``tbb``, else ``omp``, else ``workqueue``; ``pip install numba``
brings no TBB, so on Linux it picks GNU OpenMP.

What this module does, once, when the kernels are imported (before any parallel kernel runs):

- If neither the environment (``NUMBA_THREADING_LAYER``, ``NUMBA_THREADING_LAYER_PRIORITY``)
  nor the code (``numba.config``) chose a layer, it asks Numba for its ``forksafe`` layer:
  TBB when it loads, else ``workqueue`` on Linux (``omp`` elsewhere: the OpenMP runtimes of
  macOS and Windows survive a fork). This is process-wide: other Numba code in the process
  gets the same layer. ``workqueue`` cannot run two parallel launches at once; the kernels
  hold the GIL while they run, so two Python threads never launch together.
- TBB installed from PyPI into a virtual environment puts ``libtbb`` in ``<venv>/lib``, where
  the dynamic loader does not look (numba/numba#6108), so Numba never loads it. It is loaded
  from there by path, and Numba then finds it by name.
- If the layer is GNU OpenMP all the same (chosen by the user, or started before the kernels
  were imported), a process forked after it started runs the kernels serially, with one
  warning, instead of being killed.
"""
import ctypes
import os
import sys
import warnings

import numba

_DEFAULT_PRIORITY = ["tbb", "omp", "workqueue"]
_TBB_NAMES = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib"}  # the names Numba loads

# True in a process forked after its parent started GNU OpenMP: the pool cannot run here.
_forked_after_gnu_omp = False
_warned = False
_hooked = False


def started_layer():
    """The threading layer Numba started in this process, or None if none has started."""
    try:
        return numba.threading_layer()
    except ValueError:
        return None


def user_chose_layer() -> bool:
    """Whether the environment or the code already chose a threading layer or its priority."""
    return bool(os.environ.get("NUMBA_THREADING_LAYER")
                or os.environ.get("NUMBA_THREADING_LAYER_PRIORITY")
                or str(numba.config.THREADING_LAYER).lower() != "default"
                or list(numba.config.THREADING_LAYER_PRIORITY) != _DEFAULT_PRIORITY)


def preload_tbb(prefix: str = sys.prefix) -> bool:
    """Load ``libtbb`` from ``prefix``/lib, where ``pip install tbb`` puts it, if it is there.

    Numba loads TBB by its library name; once a library of that name is loaded, the dynamic
    loader hands it out for the name. Returns whether a library was loaded.
    """
    name = _TBB_NAMES.get(sys.platform)
    path = os.path.join(prefix, "lib", name) if name else None
    if path is None or not os.path.exists(path):
        return False
    try:
        ctypes.CDLL(path)
    except OSError:             # a broken or foreign-architecture file: Numba skips TBB
        return False
    return True


def configure() -> None:
    """Choose a fork-safe layer unless the user chose one; watch for forks. Idempotent."""
    global _hooked
    if started_layer() is None and not user_chose_layer():
        preload_tbb()
        numba.config.THREADING_LAYER = "forksafe"
    if hasattr(os, "register_at_fork") and not _hooked:
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _hooked = True


def _after_fork_in_child() -> None:
    global _forked_after_gnu_omp
    if started_layer() != "omp":
        return
    try:
        from numba.np.ufunc import omppool
        gnu = omppool.openmp_vendor == "GNU"
    except (ImportError, AttributeError):
        gnu = True              # unknown OpenMP: assume the unsafe one
    _forked_after_gnu_omp = _forked_after_gnu_omp or gnu


def pool_usable() -> bool:
    """False in a process forked after its parent started GNU OpenMP (warns once there)."""
    global _warned
    if not _forked_after_gnu_omp:
        return True
    if not _warned:
        _warned = True
        warnings.warn(
            "sparsekit kernels run on one thread in this process: it was forked after its "
            "parent started Numba's GNU OpenMP threading layer, which cannot run in a forked "
            "child. For parallel kernels in forked workers, install tbb, or leave "
            "NUMBA_THREADING_LAYER unset (or set it to 'workqueue' or 'tbb'), or start the "
            "workers with the 'spawn' method.", RuntimeWarning, stacklevel=3)
    return False
