"""The inner loops every SpMM kernel shares: y += a·x over one output row, four at a time."""
import numba

# Reorder sums and fuse multiply-adds; no finite-math flags, so NaN and inf stay exact.
FASTMATH = {"reassoc", "contract", "nsz"}

# The SpMV kernels with a fixed block/vector shape keep their sums in locals and fuse only
# (no reassociation): with "reassoc" LLVM vectorises the loop over blocks or vectors as a
# reduction, with a gather of x per lane: 4-6x slower for BSR 4x4, ~15 % for V = 8 (measured
# at 4096x4096, 90 %, one thread). CSR's one-sum loop is the opposite case and keeps reassoc.
FASTMATH_FUSE = {"contract", "nsz"}


@numba.njit(cache=True, fastmath=FASTMATH)
def axpy4(y, a0, x0, a1, x1, a2, x2, a3, x3):
    """y += a0·x0 + a1·x1 + a2·x2 + a3·x3: one load and store of y per four FMAs."""
    for k in range(y.shape[0]):
        y[k] += a0 * x0[k] + a1 * x1[k] + a2 * x2[k] + a3 * x3[k]


@numba.njit(cache=True, fastmath=FASTMATH)
def axpy(y, a, x):
    """y += a·x."""
    for k in range(y.shape[0]):
        y[k] += a * x[k]
