"""Median wall-clock timing for quick in-process comparisons (pytest-benchmark does the
full benchmarks under bench/)."""
import time

import numpy as np


def median_seconds(fn, min_repeats: int = 5, max_repeats: int = 200,
                   budget_s: float = 0.3) -> float:
    """Median time of fn() after one warm-up call; repeats until ``budget_s`` is spent
    (at least ``min_repeats``, at most ``max_repeats`` times)."""
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < max_repeats and (len(times) < min_repeats
                                        or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))
