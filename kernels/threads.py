"""Thread count and the work split shared by every kernel."""
import numba
import numpy as np

from . import layer
from .blas_check import import_numba_arraymath
from .simd import PANEL_BYTES

layer.configure()   # before any parallel kernel can start Numba's thread pool
import_numba_arraymath()   # before the first compile or cache load would import it

# Below this many multiply-accumulates a kernel runs on the calling thread: waking the pool
# costs more than it saves.
PARALLEL_MIN_MACS = 1 << 16


# The count set by set_num_threads for every thread of the process (None: never set, each
# thread keeps Numba's own setting). Numba's count is thread-local (a new Python thread starts
# at NUMBA_NUM_THREADS whatever another thread set), so each kernel launch applies this one to
# its calling thread first.
_process_threads = None


def set_num_threads(n: int) -> None:
    """Set the number of threads Numba kernels use (1 ≤ n ≤ NUMBA_NUM_THREADS), for every
    Python thread of the process: kernels called from any thread, now or later, run on n.
    (A kernel launch sets its calling thread's Numba count to n, so that thread's own
    ``numba.set_num_threads`` is overridden at its next sparsekit product.)"""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"thread count must be an int, got {type(n).__name__}")
    limit = numba.config.NUMBA_NUM_THREADS
    if not 1 <= n <= limit:
        raise ValueError(f"thread count must be in [1, {limit}], got {n}")
    global _process_threads
    _process_threads = int(n)
    numba.set_num_threads(_process_threads)


def get_num_threads() -> int:
    """The count kernels use: set_num_threads's, else this thread's Numba setting."""
    return numba.get_num_threads() if _process_threads is None else _process_threads


def num_parts(macs: int) -> int:
    """How many chunks to split a product of ``macs`` multiply-accumulates into (1: serial).

    Serial also in a process forked after its parent started GNU OpenMP (see ``layer``).
    For a parallel launch, the calling thread's Numba count is made set_num_threads's.
    """
    if macs < PARALLEL_MIN_MACS or not layer.pool_usable():
        return 1
    n = _process_threads
    if n is None:
        return numba.get_num_threads()
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)
    return n


@numba.njit(cache=True)
def split_point(ptr, part, nparts):
    """Row index where chunk ``part`` of ``nparts`` starts, balancing ptr[i] + i.

    ``ptr`` is a CSR-style pointer array (monotone); the cost of rows [a, b) is taken as
    (ptr[b] - ptr[a]) + (b - a): stored entries plus a per-row overhead. Binary search, so
    the split needs no side structure beyond the pointers the kernel already reads.
    """
    nrows = ptr.shape[0] - 1
    total = np.int64(ptr[nrows]) + nrows
    target = (total * part) // nparts
    lo = 0
    hi = nrows
    while lo < hi:
        mid = (lo + hi) // 2
        if np.int64(ptr[mid]) + mid < target:
            lo = mid + 1
        else:
            hi = mid
    return lo


def split_by_columns(n: int, nparts: int, dtype, pass_bytes: int = PANEL_BYTES) -> bool:
    """Whether an SpMM of ``n`` columns on ``nparts`` threads splits by columns rather than
    rows: when each thread gets two of the kernel's column passes or more (``pass_bytes``
    wide: CSR's four-vector panels, N ≥ 256 float32 on two threads, a conv's positions and
    not an MLP's batch of 64; VectorSkip(8)'s two-vector passes, N ≥ 128). Each thread then
    reads only its columns of X, which the previous layer's product left in its own cache,
    and all of the weights. CSR (resnet50 at 90 %, batch 1, two threads, one process,
    interleaved): 18.00-18.46 against 17.75-18.22 ms where a line crossed between the
    threads in 3.6-3.8 ns, 29.24-29.42 against 27.82-28.16 ms where it took 18.6 ns.
    VectorSkip(8), resnet50 V=8, the same way, rounds sorted by ``probe.core_handoff``: split
    from N = 256 → 128 (its 14 × 14 layers too), 6.47 → 6.52 ms at 2 ns a line, 12.08 → 11.27
    at 10 ns; 256 → 33 (its 7 × 7 layers too, one pass a thread), 6.24 → 6.42 and 11.83 →
    11.32."""
    return n >= 2 * nparts * pass_bytes // np.dtype(dtype).itemsize


@numba.njit(cache=True)
def part_range(n, width, part, nparts):
    """Items [i0, i1) of ``n`` that thread ``part`` of ``nparts`` takes: whole units of
    ``width`` items, shared out evenly. A product split by columns (``split_by_columns``)
    shares its columns in passes of a panel; the passes over an image that come between
    such products (stride phases, keeping a conv's output columns) share its rows, one
    each, so that each thread reads mostly what it wrote the layer before. Those two so
    split (they ran on the calling thread alone: the phase kernel, and torch's copy),
    resnet50 at batch 1 on two threads, one process, interleaved, rounds sorted by how long
    a cache line took to cross between the threads (``probe.core_handoff``): V=8 6.47 →
    6.27 ms (another run 6.61 → 6.40) at 2 ns a line, 11.45 → 11.13 at 10 ns; unstructured
    9.26 → 9.12 and 11.94 → 12.17; one thread, V=8, 9.35 → 9.28. (Max-pool stays split by
    image planes: by rows it ran alike alone but slower in the model, 6.39 against 6.47 ms
    at 2 ns.)"""
    passes = -(-n // width)
    return (passes * part // nparts) * width, min((passes * (part + 1) // nparts) * width, n)
