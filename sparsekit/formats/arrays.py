"""Turning user input (numpy arrays or torch tensors) into the arrays kernels accept, and the
structure checks every format shares. A format owns its arrays: ``owned`` freezes them."""
import sys

import numpy as np

from sparsekit.formats.params import is_int

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
INT64_MAX = int(np.iinfo(np.int64).max)


def is_torch(x) -> bool:
    """True for a torch.Tensor, without importing torch when the caller never did."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def to_numpy(x, name: str = "array", copy: bool = False) -> np.ndarray:
    """A numpy view of a numpy array, torch tensor or array-like; with ``copy`` a fresh
    C-ordered copy that nobody else holds."""
    if is_torch(x):
        torch = sys.modules["torch"]
        if x.is_sparse or x.layout != torch.strided:
            raise TypeError(f"{name} is a sparse torch tensor ({x.layout}); use from_torch()")
        if x.requires_grad and torch.is_grad_enabled():
            raise RuntimeError(f"{name} requires grad: sparsekit kernels are inference-only; "
                               "call under torch.no_grad() or pass a detached tensor")
        try:
            a = x.detach().cpu().resolve_conj().resolve_neg().numpy()
        except TypeError:  # bfloat16, float8, ...: no numpy dtype
            raise TypeError(f"{name} has dtype {_torch_dtype_name(x.dtype)}, which numpy "
                            "cannot hold; cast it first") from None
    else:
        a = np.asarray(x)  # a list, or anything with __array__ (which may share memory)
    return np.array(a, order="C", copy=True) if copy else a


def float_array(x, name: str, copy: bool = False) -> np.ndarray:
    """``to_numpy`` of float32/float64 input; a torch dtype is checked before conversion, so
    bfloat16 gets this library's message rather than torch's."""
    if is_torch(x):
        check_float_dtype(x.dtype, name)
    a = to_numpy(x, name, copy)
    check_float_dtype(a.dtype, name)
    return a


def float_matrix(x, name: str = "W") -> np.ndarray:
    """A 2-D float32/float64 numpy array (a view when possible) from numpy or torch input."""
    a = float_array(x, name)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    return a


def _torch_dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


# The float dtypes every product checks, as numpy/torch hand them over: a dict lookup instead
# of naming the dtype on each call (check_float_dtype's general path costs ~5 µs, a product
# on a small layer ~10 µs). Torch's are added once torch is loaded.
_FLOAT_DTYPES = {d: np.dtype(d) for d in (np.float32, np.float64, np.dtype(np.float32),
                                          np.dtype(np.float64))}


def check_float_dtype(dtype, name: str) -> np.dtype:
    """The numpy dtype (float32 or float64) of a numpy or torch dtype, or a TypeError."""
    try:
        return _FLOAT_DTYPES[dtype]
    except (KeyError, TypeError):    # another dtype, a torch one not seen yet, unhashable
        pass
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(dtype, torch.dtype):
        label = _torch_dtype_name(dtype)
        ok = dtype in (torch.float32, torch.float64)
    else:
        try:  # np.dtype(None) would be float64
            label = repr(dtype) if dtype is None else str(np.dtype(dtype))
        except TypeError:
            label = repr(dtype)
        ok = label in ("float32", "float64")
    if not ok:
        raise TypeError(f"{name} must be float32 or float64, got {label}; cast it first")
    if torch is not None and isinstance(dtype, torch.dtype):
        _FLOAT_DTYPES[dtype] = np.dtype(label)
    return np.dtype(label)


def index_array(x, name: str, copy: bool = False) -> np.ndarray:
    """A 1-D integer numpy array (any signedness), or a TypeError/ValueError naming it."""
    a = to_numpy(x, name, copy)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.size == 0:
        return a.astype(np.int64)  # an empty list arrives as float64
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must have an integer dtype, got {a.dtype}")
    return a


def owned(a: np.ndarray, dtype=None) -> np.ndarray:
    """``a`` (an array this package created or copied: nobody else holds it) as a C-contiguous
    array of ``dtype``, made read-only so nothing can change it after validation."""
    a = np.ascontiguousarray(a, dtype=dtype)
    base = a
    while isinstance(base, np.ndarray):  # a view's flag could be turned back on if its
        base.flags.writeable = False     # base were writable: freeze the whole chain
        base = base.base
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
    """(M, K) as two integers in [0, 2**63): not bools, not floats (3.0 is no size), nothing
    the int64 indices could not hold."""
    try:
        ok = len(shape) == 2 and all(is_int(s) and 0 <= s <= INT64_MAX for s in shape)
    except TypeError:
        ok = False
    if not ok or isinstance(shape, (str, bytes)):
        raise ValueError(f"shape must be two integers in [0, 2**63), got {shape!r}")
    return int(shape[0]), int(shape[1])


def check_pointers(ptr: np.ndarray, name: str, length: int, end: int) -> None:
    """ptr must have ``length`` entries, start at 0, never decrease, and end at ``end``."""
    if ptr.shape[0] != length:
        raise ValueError(f"{name} must have {length} entries, got {ptr.shape[0]}")
    if ptr[0] != 0:
        raise ValueError(f"{name}[0] must be 0, got {ptr[0]}")
    if ptr[-1] != end:
        raise ValueError(f"{name}[-1] must equal the number of stored entries {end}, "
                         f"got {ptr[-1]}")
    if length > 1 and np.any(ptr[1:] < ptr[:-1]):
        raise ValueError(f"{name} must be non-decreasing")


def check_sorted_indices(indices: np.ndarray, ptr: np.ndarray, bound: int, name: str) -> None:
    """Within each row segment of ptr, indices are in [0, bound) and strictly increasing.
    Compares in the indices' own dtype: one byte of scratch per entry."""
    if indices.size == 0:
        return
    if indices.min() < 0 or indices.max() >= bound:
        raise ValueError(f"{name} must lie in [0, {bound}); found "
                         f"{indices.min()}..{indices.max()}")
    steps = indices[1:] > indices[:-1]
    row_starts = ptr[1:-1].astype(np.int64)
    row_starts = row_starts[(row_starts > 0) & (row_starts < indices.size)]
    steps[row_starts - 1] = True  # the first index of a row may be anything
    if not steps.all():
        bad = int(np.argmin(steps)) + 1
        raise ValueError(f"{name} must be sorted and unique within each row; "
                         f"entry {bad} ({indices[bad]}) follows {indices[bad - 1]}")
