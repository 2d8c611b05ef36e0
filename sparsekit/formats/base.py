"""What every compressed weight format shares: shape bookkeeping and the matmul front door."""
import numpy as np

from sparsekit.formats.arrays import check_float_dtype, is_torch, to_numpy
from sparsekit.formats.storage import Storage


class SparseFormat:
    """A compressed M×K weight matrix. Subclasses set ``format`` and implement the hooks
    ``_spmv(x, y)``, ``_spmm(X, Y)``, ``to_dense()``, ``storage()`` and ``_stored_values``."""

    format = "?"
    shape: tuple[int, int]
    dtype: np.dtype

    # -- sizes ---------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return 2

    @property
    def values(self) -> np.ndarray:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    @property
    def nnz(self) -> int:
        """True nonzeros (NaN and inf count; stored zeros do not)."""
        return int(np.count_nonzero(self.values))

    @property
    def stored(self) -> int:
        """Values the format keeps, zeros inside blocks or vectors included."""
        return int(self.values.size)

    @property
    def density(self) -> float:
        m, k = self.shape
        return self.nnz / (m * k) if m * k else 0.0

    @property
    def sparsity(self) -> float:
        return 1.0 - self.density if self.shape[0] * self.shape[1] else 0.0

    def storage(self, value_bits: int | None = None, index_bits: int | None = None) -> Storage:
        raise NotImplementedError  # pragma: no cover

    def to_dense(self) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover

    def __repr__(self) -> str:
        m, k = self.shape
        return (f"<{type(self).__name__} {m}×{k} {self.dtype}, nnz={self.nnz}, "
                f"stored={self.stored}, density={self.density:.4f}{self._repr_extra()}>")

    def _repr_extra(self) -> str:
        return ""

    # -- products ------------------------------------------------------------------------
    def __matmul__(self, X):
        return self.matmul(X)

    def matmul(self, X, out=None):
        """Y = A @ X for X of shape (K,) or (K, N), numpy or torch (result of the same kind),
        any strides, the same float dtype as A. ``out`` (numpy or torch) receives Y."""
        torch_in = is_torch(X)
        x = to_numpy(X, "X")
        if x.ndim not in (1, 2):
            raise ValueError(f"X must be 1-D or 2-D, got shape {x.shape}")
        check_float_dtype(x.dtype, "X")
        if x.dtype != self.dtype:
            raise TypeError(f"dtype mismatch: A is {self.dtype}, X is {x.dtype}; cast one")
        m, k = self.shape
        if x.shape[0] != k:
            raise ValueError(f"shape mismatch: A is {m}×{k} but X has {x.shape[0]} rows "
                             f"(shape {x.shape})")
        x = np.ascontiguousarray(x)
        out_shape = (m,) + x.shape[1:]
        y = self._output(out, out_shape)
        if np.may_share_memory(x, y):  # the kernels read X while writing Y
            x = x.copy()
        target = y if y.flags.c_contiguous else np.empty(out_shape, self.dtype)
        if x.ndim == 1:
            self._spmv(x, target)
        else:
            self._spmm(x, target)
        if target is not y:
            y[...] = target
        if out is not None:
            return out
        if torch_in:
            import torch
            return torch.from_numpy(y)
        return y

    def _output(self, out, shape) -> np.ndarray:
        if out is None:
            return np.empty(shape, self.dtype)
        y = to_numpy(out, "out")
        if y.shape != shape:
            raise ValueError(f"out must have shape {shape}, got {y.shape}")
        if y.dtype != self.dtype:
            raise TypeError(f"out must be {self.dtype}, got {y.dtype}")
        if not y.flags.writeable:
            raise ValueError("out is read-only")
        return y

    def _spmv(self, x, y):
        raise NotImplementedError  # pragma: no cover

    def _spmm(self, X, Y):
        raise NotImplementedError  # pragma: no cover
