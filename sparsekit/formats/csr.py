"""CSR: row pointers, column indices, values."""
import numpy as np

from sparsekit import kernels
from sparsekit.formats.arrays import (check_float_dtype, check_pointers, check_shape,
                                      check_sorted_indices, index_array, pointer_dtype,
                                      to_numpy, unsigned_index_dtype)
from sparsekit.formats.coo import coo_from_dense, coo_from_scipy, coo_from_torch
from sparsekit.formats.base import SparseFormat
from sparsekit.formats.storage import Storage, check_index_bits, check_value_bits


class CSR(SparseFormat):
    """Compressed sparse rows. ``CSR(data, indices, indptr, shape)`` validates everything."""

    format = "csr"

    def __init__(self, data, indices, indptr, shape):
        m, k = check_shape(shape)
        data = to_numpy(data, "data")
        if data.ndim != 1:
            raise ValueError(f"data must be 1-D, got shape {data.shape}")
        check_float_dtype(data.dtype, "data")
        indices = index_array(indices, "indices")
        indptr = index_array(indptr, "indptr")
        if indices.shape[0] != data.shape[0]:
            raise ValueError(f"indices and data must have the same length, got "
                             f"{indices.shape[0]} and {data.shape[0]}")
        check_pointers(indptr, "indptr", m + 1, data.shape[0])
        check_sorted_indices(indices, indptr, k, "indices")
        self.shape = (m, k)
        self.dtype = data.dtype
        self.data = np.ascontiguousarray(data)
        self.indices = np.ascontiguousarray(indices, dtype=unsigned_index_dtype(max(k - 1, 0)))
        self.indptr = np.ascontiguousarray(indptr, dtype=pointer_dtype(data.shape[0]))

    @property
    def values(self) -> np.ndarray:
        return self.data

    # -- construction --------------------------------------------------------------------
    @classmethod
    def _from_coo(cls, rows, cols, vals, shape) -> "CSR":
        indptr = np.zeros(shape[0] + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
        return cls(vals, cols, indptr, shape)

    @classmethod
    def from_dense(cls, W) -> "CSR":
        """Keep every entry that is not zero (NaN and inf included)."""
        return cls._from_coo(*coo_from_dense(W))

    @classmethod
    def from_scipy(cls, s) -> "CSR":
        """From any scipy.sparse matrix or array (duplicates summed, explicit zeros dropped)."""
        return cls._from_coo(*coo_from_scipy(s))

    @classmethod
    def from_torch(cls, t) -> "CSR":
        """From a torch sparse tensor of any layout, or a dense 2-D tensor."""
        return cls._from_coo(*coo_from_torch(t))

    # -- conversion ----------------------------------------------------------------------
    def to_dense(self) -> np.ndarray:
        m, k = self.shape
        w = np.zeros((m, k), self.dtype)
        rows = np.repeat(np.arange(m), np.diff(self.indptr.astype(np.int64)))
        w[rows, self.indices] = self.data
        return w

    def to_scipy(self):
        import scipy.sparse as sp
        return sp.csr_array((self.data.copy(), self.indices.astype(np.int64),
                             self.indptr.astype(np.int64)), shape=self.shape)

    def to_torch(self):
        import torch
        return torch.sparse_csr_tensor(torch.from_numpy(self.indptr.astype(np.int64)),
                                       torch.from_numpy(self.indices.astype(np.int64)),
                                       torch.from_numpy(self.data.copy()), size=self.shape)

    # -- bytes ---------------------------------------------------------------------------
    def storage(self, value_bits=None, index_bits=None) -> Storage:
        """Values + column indices + row pointers, at the widths the kernel reads unless
        ``value_bits``/``index_bits`` ask what another width would cost."""
        vb = check_value_bits(self.dtype.itemsize * 8 if value_bits is None else value_bits)
        ib = check_index_bits(index_bits, max(self.shape[1] - 1, 0))
        pb = self.indptr.dtype.itemsize * 8
        return Storage(self.format, values=self.stored * vb // 8,
                       indices=self.stored * ib // 8,
                       pointers=(self.shape[0] + 1) * pb // 8, bitmap=0,
                       value_bits=vb, index_bits=ib)

    # -- kernels -------------------------------------------------------------------------
    def _spmv(self, x, y):
        kernels.csr_spmv(self.data, self.indices, self.indptr, x, y)

    def _spmm(self, X, Y):
        kernels.csr_spmm(self.data, self.indices, self.indptr, X, Y)
