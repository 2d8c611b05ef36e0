"""Validators of format parameters (the BSR block, the VectorSkip vector length), shared by
the formats, pruning, analysis and the sparse layers: one definition of what a valid block is,
and one of how large a block may be for a given matrix."""
import numbers

# A block or vector may overhang a matrix narrower than itself (edge tiles are zero-padded),
# so that one setting, e.g. block=(4, 4) or vector=8, packs every layer of a model, a 1-output
# head included. Beyond max(side, MAX_OVERHANG) a tile would hold nothing but padding, and
# kernels and to_dense() allocate per-tile scratch: a 1×1 matrix with r = 2**26 took 256 MB.
MAX_OVERHANG = 64


def is_int(v) -> bool:
    """An integer that is not a bool (4.0 or True is no block size)."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def check_block(block) -> tuple[int, int]:
    """(r, c) as two positive integers, or ValueError naming the value."""
    try:
        r, c = block
        ok = is_int(r) and is_int(c)
    except (TypeError, ValueError):
        ok = False
    if not ok or r < 1 or c < 1:
        raise ValueError(f"block must be two positive integers (r, c), got {block!r}")
    return int(r), int(c)


def check_vector(vector) -> int:
    """V as a positive integer, or ValueError naming the value."""
    if not is_int(vector) or vector < 1:
        raise ValueError(f"vector length must be a positive integer, got {vector!r}")
    return int(vector)


def _bound(side: int) -> int:
    return max(side, MAX_OVERHANG)


def check_block_for_shape(block, shape) -> tuple[int, int]:
    """check_block, and r ≤ max(M, 64), c ≤ max(K, 64) for an M×K matrix."""
    r, c = check_block(block)
    m, k = shape
    if r > _bound(m) or c > _bound(k):
        raise ValueError(f"block {r}×{c} is too large for a {m}×{k} matrix: r must be at most "
                         f"max(M, {MAX_OVERHANG}) = {_bound(m)} and c at most "
                         f"max(K, {MAX_OVERHANG}) = {_bound(k)}")
    return r, c


def check_vector_for_shape(vector, shape) -> int:
    """check_vector, and V ≤ max(M, 64) for an M×K matrix."""
    v = check_vector(vector)
    m, k = shape
    if v > _bound(m):
        raise ValueError(f"vector length {v} is too large for a {m}×{k} matrix: V must be at "
                         f"most max(M, {MAX_OVERHANG}) = {_bound(m)}")
    return v
