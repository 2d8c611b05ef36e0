"""Machine probes: the sustained read bandwidth the kernels can reach, and what a cache line
costs to hand from one CPU to another."""
import time

import numba
import numpy as np

from .layer import pool_usable
from .threads import get_num_threads


def _total(a):
    total = 0.0
    for i in numba.prange(a.shape[0]):
        total += a[i]
    return total


# Two separately named functions, so Numba's on-disk cache keeps them apart.
_parallel_sum = numba.njit(cache=True, parallel=True, fastmath={"reassoc"})(_total)
_serial_sum = numba.njit(cache=True, fastmath={"reassoc"})(_total)


def read_bandwidth(nbytes: int = 1 << 29, repeats: int = 7) -> float:
    """Median bytes/second of summing a float64 array of ``nbytes`` (far larger than the
    caches) with the current Numba thread count."""
    a = np.ones(nbytes // 8)
    # A process forked after GNU OpenMP started cannot run a parallel region (kernels/layer.py).
    _sum = _parallel_sum if pool_usable() else _serial_sum
    _sum(a)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _sum(a)
        times.append(time.perf_counter() - t0)
    return a.nbytes / float(np.median(times))


LINE_FLOATS = 16    # float32 per 64-byte cache line


@numba.njit(cache=True, parallel=True)
def _exchange(rows, other):
    """Each thread reads one float per cache line of the row ``other`` rows after its own,
    then writes its own row: in the next call the other thread reads what this one wrote."""
    total = 0.0
    for _ in numba.prange(rows.shape[0]):
        me = numba.get_thread_id() % rows.shape[0]
        src, dst = rows[(me + other) % rows.shape[0]], rows[me]
        acc = 0.0
        for i in range(0, src.shape[0], LINE_FLOATS):
            acc += src[i]
        for i in range(0, dst.shape[0], LINE_FLOATS):
            dst[i] = acc
        total += acc
    return total


def core_handoff(nbytes: int = 1 << 20, repeats: int = 9):
    """(ns, own_ns): per 64-byte line, the median time of a parallel region in which each of
    two Numba threads reads the ``nbytes`` the other wrote in the previous region and writes
    its own, and of the same region reading its own. Activations move between a model's
    layers this way. On this virtual machine the handoff switches, for minutes at a time,
    between about 3.8 and 18.5 ns a line (own: 1.8 and 2.3 ns), and two-thread model times
    follow it (resnet50 V=8: 14.5 against 26.5 ms); one-thread times do not. A sequential
    handoff between two pinned threads stays near 2.7 ns in both states, as it would if the
    host sometimes ran the two virtual CPUs on cores with separate L3 caches (a core that
    goes idle writes its cache back). None where fewer than two Numba threads can run."""
    if get_num_threads() < 2 or not pool_usable():
        return None
    previous = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        rows = np.zeros((2, nbytes // 4), np.float32)
        per_line = []
        for other in (1, 0):
            _exchange(rows, other)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                _exchange(rows, other)
                times.append(time.perf_counter() - t0)
            per_line.append(float(np.median(times)) / (nbytes // 64) * 1e9)
    finally:
        numba.set_num_threads(previous)
    return per_line[0], per_line[1]
