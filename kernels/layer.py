"""Numba's threading layer and fork: TBB when installed, serial kernels where OpenMP cannot run.

GNU OpenMP cannot run a parallel region in a process forked after it started: the child has
none of the parent's worker threads, so it waits for them forever; Numba's ``omp`` layer kills
such a child with SIGTERM instead (a grandchild it does not recognise, and that one hangs).
Forking is everyday use: torch DataLoader workers and ``multiprocessing`` pools fork (on Linux)
a process that has already run a sparse product. Numba takes the first layer that loads of
``tbb``, ``omp``, ``workqueue``; without TBB that is GNU OpenMP on Linux.

- TBB is fork-safe and thread-safe. ``pip install tbb`` puts ``libtbb`` in ``sys.prefix``/lib,
  where the dynamic loader does not look in a virtual environment (numba/numba#6108), so
  Numba never finds it there. It is loaded from there by path before any kernel runs; Numba
  then finds it by name.
- Under GNU OpenMP all the same (no TBB for the platform, or the user's choice), a process
  forked after the layer started runs the kernels serially, with one warning, instead of
  being killed or hanging.
- The layer is not switched to ``workqueue``, although it is fork-safe: it aborts the whole
  process when two threads launch parallel code at once (a threaded server, Dask's threaded
  scheduler), and the switch would reach every other Numba user in the process.
"""
import os
import warnings

import numba

from .tbb import preload_tbb

_forked_after_gnu_omp = False   # this process was forked after GNU OpenMP started: no pool
_warned = False
_hooked = False


def started_layer():
    """The threading layer Numba started in this process, or None if none has started."""
    try:
        return numba.threading_layer()
    except ValueError:
        return None


def configure() -> None:
    """Make a pip-installed TBB loadable (before any layer starts) and watch for forks."""
    global _hooked
    if started_layer() is None:
        preload_tbb()
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
        gnu = True              # an OpenMP of unknown make: assume the unsafe one
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
            "child. For parallel kernels in forked workers, install tbb (pip install tbb) and "
            "leave NUMBA_THREADING_LAYER unset, or start the workers with the 'spawn' "
            "method.", RuntimeWarning, stacklevel=2)
    return False
