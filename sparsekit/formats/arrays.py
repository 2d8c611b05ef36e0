"""Turning user input (numpy arrays or torch tensors) into the arrays kernels accept."""
import sys

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def is_torch(x) -> bool:
    """True for a torch.Tensor, without importing torch when the caller never did."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def to_numpy(x, name: str = "array") -> np.ndarray:
    """A numpy view (or copy) of a numpy array, torch tensor or array-like."""
    if is_torch(x):
        if x.is_sparse or x.layout != sys.modules["torch"].strided:
            raise TypeError(f"{name} is a sparse torch tensor ({x.layout}); use from_torch()")
        if x.requires_grad and sys.modules["torch"].is_grad_enabled():
            raise RuntimeError(f"{name} requires grad: sparsekit kernels are inference-only; "
                               "call under torch.no_grad() or pass a detached tensor")
        return x.detach().cpu().resolve_conj().resolve_neg().numpy()
    if isinstance(x, np.ndarray):
        return x
    return np.asarray(x)


def float_matrix(x, name: str = "W") -> np.ndarray:
    """A 2-D float32/float64 numpy array from numpy or torch input, or a clear error."""
    a = to_numpy(x, name)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    check_float_dtype(a.dtype, name)
    return a


def check_float_dtype(dtype, name: str) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {dtype}; cast it first")
    return dtype


def index_array(x, name: str) -> np.ndarray:
    """A 1-D integer numpy array (any signedness), or a TypeError/ValueError naming it."""
    a = to_numpy(x, name)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.size == 0:
        return a.astype(np.int64)  # an empty list arrives as float64
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must have an integer dtype, got {a.dtype}")
    return a


def unsigned_index_dtype(max_value: int) -> np.dtype:
    """The smallest of uint8/16/32 that holds max_value (unsigned indices let Numba
    vectorise), else int64 (Numba turns uint64 + int64 arithmetic into float64)."""
    if max_value < 1 << 8:
        return np.dtype(np.uint8)
    if max_value < 1 << 16:
        return np.dtype(np.uint16)
    if max_value < 1 << 32:
        return np.dtype(np.uint32)
    return np.dtype(np.int64)


def pointer_dtype(max_value: int) -> np.dtype:
    """The smallest of uint16/uint32 that holds max_value, else int64."""
    if max_value < 1 << 16:
        return np.dtype(np.uint16)
    return np.dtype(np.uint32) if max_value < 1 << 32 else np.dtype(np.int64)


def check_shape(shape) -> tuple[int, int]:
    try:
        m, k = (int(s) for s in shape)
        if any(int(s) != s for s in shape):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"shape must be two non-negative integers, got {shape!r}") from None
    if m < 0 or k < 0:
        raise ValueError(f"shape must be two non-negative integers, got {shape!r}")
    return m, k


def check_pointers(ptr: np.ndarray, name: str, length: int, end: int) -> None:
    """ptr must have ``length`` entries, start at 0, never decrease, and end at ``end``."""
    if ptr.shape[0] != length:
        raise ValueError(f"{name} must have {length} entries, got {ptr.shape[0]}")
    if ptr[0] != 0:
        raise ValueError(f"{name}[0] must be 0, got {ptr[0]}")
    if ptr[-1] != end:
        raise ValueError(f"{name}[-1] must equal the number of stored entries {end}, "
                         f"got {ptr[-1]}")
    if length > 1 and np.any(np.diff(ptr.astype(np.int64)) < 0):
        raise ValueError(f"{name} must be non-decreasing")


def check_sorted_indices(indices: np.ndarray, ptr: np.ndarray, bound: int, name: str) -> None:
    """Within each row segment of ptr, indices are in [0, bound) and strictly increasing."""
    if indices.size == 0:
        return
    if indices.min() < 0 or indices.max() >= bound:
        raise ValueError(f"{name} must lie in [0, {bound}); found "
                         f"{indices.min()}..{indices.max()}")
    steps = np.diff(indices.astype(np.int64)) > 0
    row_starts = ptr[1:-1].astype(np.int64)
    row_starts = row_starts[(row_starts > 0) & (row_starts < indices.size)]
    steps[row_starts - 1] = True  # the first index of a row may be anything
    if not steps.all():
        bad = int(np.argmin(steps)) + 1
        raise ValueError(f"{name} must be sorted and unique within each row; "
                         f"entry {bad} ({indices[bad]}) follows {indices[bad - 1]}")
