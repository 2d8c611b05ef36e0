"""Where a CSR SpMM reads the rows of X: never 4 KiB apart.

Each stored nonzero of W reads a panel of one row of X (four cache lines, the same columns of
every row). When X's rows are a multiple of 4 KiB apart, every row's panel falls in the same
sets of the L1 cache (32 KiB, 8 ways: its sets repeat every 4 KiB), so at most 8 rows' panels
stay in L1 however many rows there are, and the products read X from L2 instead. That is
X (K, N) float32 with N a multiple of 1024 (float64: 512): a 32×32 feature map at batch 1, a
batch of 1024 or 2048 columns. So a CSR product on one thread first copies such an X into rows
one cache line longer (``spread``) and reads it through ``starts``.

Measured in one process, one thread, X as it is against spread (the copy included), W 256 rows
at 90 %: K = 256: 712 → 468 µs at N = 1024, 1465 → 669 at 2048, 1740 → 1214 at 3072,
3467 → 2143 at 4096; K = 128, N = 1024: 442 → 187; K = 4096, N = 1024: 11273 → 10508.
Not spread:
- below SPREAD_MIN_ROWS rows of X (a few rows fit the L1's ways anyway);
- on two threads, where the copy's lines must then move to the other core: 340 → 486 µs at
  K = 256, N = 1024 (with the copy split between the threads too);
- BSR 4×4 and VectorSkip(8), which read fewer lines a row of X and gained on some shapes
  only (BSR 253 → 265 µs at K = 256, N = 1024, 611 → 457 at 2048; VectorSkip 157 → 193 at
  1024, 1553 → 1310 at 4096).
"""
import numpy as np

ALIAS_BYTES = 4096        # the L1's set period: 32 KiB / 8 ways (AMD Zen 4; Intel likewise)
LINE_BYTES = 64           # what each row of the copy gains, so that rows fall in other sets
SPREAD_MIN_ROWS = 32      # 8 ways × 4 lines a panel: fewer rows than this fit L1 anyway


def spreads(X) -> bool:
    """Whether an SpMM should read X (K, N), C-contiguous, from a copy with longer rows."""
    return (X.ndim == 2 and X.shape[0] >= SPREAD_MIN_ROWS and X.shape[1] > 0
            and (X.shape[1] * X.itemsize) % ALIAS_BYTES == 0)


def spread(X):
    """(buffer, starts): X's rows copied into a flat buffer, each one cache line longer than
    X's, and where each starts (int64), as the SpMM kernels read X through ``starts``."""
    k, n = X.shape
    width = n + LINE_BYTES // X.itemsize
    buffer = np.empty(k * width, X.dtype)
    buffer.reshape(k, width)[:, :n] = X
    return buffer, np.arange(k, dtype=np.int64) * width
