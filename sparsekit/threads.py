"""One thread count for Numba kernels and torch, so sparse-vs-dense comparisons are fair."""
import sys

from sparsekit import kernels


def set_num_threads(n: int) -> None:
    """Set Numba's and torch's intra-op thread counts together."""
    kernels.set_num_threads(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(int(n))
