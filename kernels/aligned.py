"""Arrays that start on a cache line: numpy aligns its buffers to 16 bytes only.

A SIMD vector load (64 bytes) that starts off a 64-byte line spans two lines and costs about
what two aligned ones do where the loads, not DRAM, set the pace (``rows``). Making the
formats' own arrays start on a line changed nothing measurable: BSR 4×4 and VectorSkip(8)
SpMV at 8192 × 8192 and 4096 × 4096, 90 %, one thread, stayed within the runs' spread.
"""
import numpy as np

LINE_BYTES = 64   # a cache line, and an AVX-512 vector


def aligned_empty(size: int, dtype) -> np.ndarray:
    """An uninitialised 1-D array of ``size`` elements starting on a 64-byte line."""
    dtype = np.dtype(dtype)
    raw = np.empty(size + LINE_BYTES // dtype.itemsize, dtype)
    skip = (-raw.ctypes.data % LINE_BYTES) // dtype.itemsize
    return raw[skip:skip + size]
