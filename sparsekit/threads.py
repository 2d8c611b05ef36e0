"""One thread count for Numba kernels and torch, so sparse-vs-dense comparisons are fair."""
import sys

from sparsekit import kernels


def set_num_threads(n: int, torch_threads: int | None = None) -> None:
    """Set Numba's and torch's intra-op thread counts together, for the whole process
    (torch's to ``torch_threads`` when given).

    For a sparsified model on several threads, ``torch_threads=1`` is usually faster: torch's
    OpenMP workers keep spinning for a while after each of its ops (the ReLUs, adds and pads
    between the sparse layers) and hold the cores the next sparse kernel needs. MLP
    4096-4096-4096-1024 at 90 %, batch 64, 2 cores: 13.2 ms with torch on 2 threads, 8.0 ms
    with torch on 1 (13.0 ms on one thread for both).

    Numba's own setting is per Python thread (a new thread starts at NUMBA_NUM_THREADS), so
    sparsekit keeps the count process-wide itself: every sparsekit product, from any thread
    started before or after this call, runs on ``n`` threads (each launch applies ``n`` to its
    calling thread's Numba setting). torch's intra-op count is process-wide already. Numba code
    of your own in another thread follows that thread's ``numba.set_num_threads``."""
    if torch_threads is not None and (not isinstance(torch_threads, int)
                                      or isinstance(torch_threads, bool) or torch_threads < 1):
        raise ValueError(f"torch_threads must be an int >= 1, got {torch_threads!r}")
    kernels.set_num_threads(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(int(n if torch_threads is None else torch_threads))
