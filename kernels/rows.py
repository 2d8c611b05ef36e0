"""Where a CSR SpMM reads the rows of X: each one 64-byte aligned, and never 4 KiB apart.

Each stored nonzero of W reads a panel of one row of X: SIMD vectors of 64 bytes.
- **Aligned rows.** A vector that starts off a 64-byte boundary spans two cache lines, and
  costs about what two aligned ones do once X is read from L2: one thread, W 256 rows at 90 %,
  K = 2304, N = 192, X 64-byte aligned against 16 bytes off: 362 against 562 µs. So an X
  whose rows are not all aligned (N not a multiple of 16 float32, or a buffer off a 64-byte
  boundary, as numpy's often are) is read from a copy whose rows are (``pitch``), where X's
  rows are read often enough to repay the copy (REUSE_MIN stored entries a row of X).
  Measured in one process, one thread, at 90 % (copy included): 256 × 1024 × 196: 245 → 214
  µs; 1024 × 256 × 196: 227 → 189; 512 × 2048 × 49: 279 → 223; 2048 × 512 × 49: 277 → 217.
- **Rows never 4 KiB apart.** When X's rows are a multiple of 4 KiB apart, every row's
  panel falls in the same sets of the L1 cache (32 KiB, 8 ways: its sets repeat every 4 KiB),
  so at most 8 rows' panels stay in L1 however many rows there are, and the products read X
  from L2 instead. That is X (K, N) float32 with N a multiple of 1024 (float64: 512): a
  32×32 feature map at batch 1, a batch of 1024 or 2048 columns. Such an X is read from a
  copy whose rows are one cache line longer. Measured in one process, one thread, W 256
  rows at 90 %: K = 256: 712 → 468 µs at N = 1024, 1465 → 669 at 2048, 1740 → 1214 at 3072,
  3467 → 2143 at 4096; K = 128, N = 1024: 442 → 187; K = 4096, N = 1024: 11273 → 10508.

No copy:
- below MIN_ROWS rows of X (a few rows fit the L1's ways anyway);
- on two threads, where the copy's lines must then move to the other core: 340 → 486 µs at
  K = 256, N = 1024 (with the copy split between the threads too); with misaligned rows,
  126 → 223 µs at 256 × 1024 × 196, 142 → 198 at 512 × 2048 × 49 (131 against 141 at
  2048 × 512 × 49, the one shape that gained);
- for BSR 4×4 and VectorSkip(8), which read fewer lines a row of X and gained from the longer
  rows on some shapes only (BSR 253 → 265 µs at K = 256, N = 1024, 611 → 457 at 2048;
  VectorSkip 157 → 193 at 1024, 1553 → 1310 at 4096).
"""
import numpy as np

from .aligned import LINE_BYTES, aligned_empty

ALIAS_BYTES = 4096   # the L1's set period: 32 KiB / 8 ways (Zen 4), 48 KiB / 12 (Zen 5)
MIN_ROWS = 32        # 8 ways × 4 lines a panel: fewer rows than this fit L1 anyway
REUSE_MIN = 8        # stored entries a row of X, below which aligning rows does not pay


def pitch(X, stored: int) -> int | None:
    """The row pitch, in elements, of the copy that a CSR product with ``stored`` entries
    should read X (K, N), C-contiguous, from; None to read X itself."""
    if X.ndim != 2 or X.shape[0] < MIN_ROWS or X.shape[1] == 0:
        return None
    k, n = X.shape
    width = n * X.itemsize
    aliased = width % ALIAS_BYTES == 0
    if not aliased and not (width >= LINE_BYTES and stored >= REUSE_MIN * k and
                            (width % LINE_BYTES != 0 or X.ctypes.data % LINE_BYTES != 0)):
        return None   # (X.ctypes.data costs a µs: read last)
    row = -(-width // LINE_BYTES) * LINE_BYTES
    if row % ALIAS_BYTES == 0:
        row += LINE_BYTES
    return row // X.itemsize


def copy_rows(X, row_pitch: int) -> np.ndarray:
    """X's rows copied into a flat 64-byte-aligned buffer, row k from k · ``row_pitch`` (the
    elements between rows are left unset: the kernels never read past a row's N)."""
    k, n = X.shape
    buffer = aligned_empty(k * row_pitch, X.dtype)
    buffer.reshape(k, row_pitch)[:, :n] = X
    return buffer
