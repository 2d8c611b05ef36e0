"""Machine probes: the sustained read bandwidth the kernels can reach, the rate of indexed
loads that bounds a CSR product, and what a cache line costs to hand from one CPU to
another."""
import time

import numba
import numpy as np

from .axpy import FASTMATH
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


@numba.njit(cache=True, fastmath=FASTMATH)
def _indexed_dot(values, indices, x, repeats):
    total = np.float32(0)
    for _ in range(repeats):
        # Unsigned counters: a signed index makes LLVM handle negative ones per element.
        for p in range(np.uint64(0), np.uint64(indices.shape[0])):
            total += values[p] * x[np.uint64(indices[p])]
    return total


def indexed_load_rate(entries: int = 4096, repeats: int = 7) -> float:
    """Median entries/second of one thread summing values[p] * x[indices[p]] with everything
    in the core's own caches (uint16 indices into 8192 float32, as CSR stores them; 56 KB by
    default): the inner loop of a CSR SpMV without memory traffic, so the most CSR can do
    per thread. Each x[indices[p]] is
    a lane of a vector gather, and a CPU gathers only so many lanes a cycle (about one on
    AMD Zen 5), so CSR can be bound by this rate rather than by its bytes."""
    if not 1 <= entries <= 1 << 20 or repeats < 1:
        raise ValueError(f"entries must be in 1..2**20 and repeats >= 1, got {entries!r}, "
                         f"{repeats!r}")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(8192).astype(np.float32)
    indices = rng.integers(0, x.shape[0], entries).astype(np.uint16)
    values = rng.standard_normal(entries).astype(np.float32)
    rounds = max(1, (1 << 22) // entries)  # ~1 ms a timing
    _indexed_dot(values, indices, x, 1)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _indexed_dot(values, indices, x, rounds)
        times.append(time.perf_counter() - t0)
    return entries * rounds / float(np.median(times))


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
