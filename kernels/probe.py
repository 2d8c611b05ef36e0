"""Machine probes: the sustained read bandwidth the kernels can reach."""
import numba
import numpy as np

from .layer import pool_usable


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
    import time
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
