"""Is anything else running? Multi-threaded timings mean little on a 2-core machine where one
busy neighbour takes a core: benchmarks check, wait a while, and say so when it stays busy."""
from __future__ import annotations

import time


def others_runnable() -> int | None:
    """Median over ~1 s of the runnable tasks on the machine besides this one (from
    /proc/loadavg), or None where there is no /proc."""
    samples = []
    for _ in range(10):
        try:
            with open("/proc/loadavg") as fh:
                samples.append(int(fh.read().split()[3].split("/")[0]) - 1)
        except (OSError, ValueError, IndexError):
            return None
        time.sleep(0.1)
    return sorted(samples)[len(samples) // 2]


def wait_until_quiet(max_wait_s: float = 900.0) -> float:
    """Wait (at most ``max_wait_s``) until no other process competes for the CPU. Returns the
    seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < max_wait_s:
        if not others_runnable():
            break
        time.sleep(5)
    return time.perf_counter() - start
