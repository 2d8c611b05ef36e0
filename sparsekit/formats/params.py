"""Validators of format parameters (the BSR block, the VectorSkip vector length), shared by
the formats, pruning, analysis and the sparse layers: one definition of what a valid block is."""
import numbers


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
