"""One thread count for Numba kernels and torch, so sparse-vs-dense comparisons are fair."""
import sys

from sparsekit import kernels


def set_num_threads(n: int) -> None:
    """Set Numba's and torch's intra-op thread counts together, for the whole process.

    Numba's own setting is per Python thread (a new thread starts at NUMBA_NUM_THREADS), so
    sparsekit keeps the count process-wide itself: every sparsekit product, from any thread
    started before or after this call, runs on ``n`` threads (each launch applies ``n`` to its
    calling thread's Numba setting). torch's intra-op count is process-wide already. Numba code
    of your own in another thread follows that thread's ``numba.set_num_threads``."""
    kernels.set_num_threads(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(int(n))
