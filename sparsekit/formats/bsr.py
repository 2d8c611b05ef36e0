"""BSR: dense r×c blocks, block-row pointers, block-column indices. Edge blocks of a shape not
divisible by the block are padded with zeros; the padding never reaches the output."""
import numpy as np

from sparsekit import kernels
from sparsekit.formats.arrays import (check_float_dtype, check_pointers, check_shape,
                                      check_sorted_indices, index_array, pointer_dtype,
                                      to_numpy, unsigned_index_dtype)
from sparsekit.formats.base import SparseFormat
from sparsekit.formats.params import check_block
from sparsekit.formats.coo import (coo_from_dense, coo_from_scipy, coo_from_torch,
                                   group_coordinates)
from sparsekit.formats.storage import Storage, check_index_bits, check_value_bits


class BSR(SparseFormat):
    """Block sparse rows. ``BSR(blocks, indices, indptr, shape)`` with blocks (nblocks, r, c)."""

    format = "bsr"

    def __init__(self, blocks, indices, indptr, shape):
        m, k = check_shape(shape)
        blocks = to_numpy(blocks, "blocks")
        if blocks.ndim != 3:
            raise ValueError(f"blocks must be 3-D (nblocks, r, c), got shape {blocks.shape}")
        check_float_dtype(blocks.dtype, "blocks")
        r, c = check_block(blocks.shape[1:])
        nbr, nbc = -(-m // r), -(-k // c)
        indices = index_array(indices, "indices")
        indptr = index_array(indptr, "indptr")
        if indices.shape[0] != blocks.shape[0]:
            raise ValueError(f"indices and blocks must have the same length, got "
                             f"{indices.shape[0]} and {blocks.shape[0]}")
        check_pointers(indptr, "indptr", nbr + 1, blocks.shape[0])
        check_sorted_indices(indices, indptr, nbc, "indices")
        self.shape = (m, k)
        self.block = (r, c)
        self.dtype = blocks.dtype
        self.blocks = np.ascontiguousarray(blocks)
        self.indices = np.ascontiguousarray(indices, dtype=unsigned_index_dtype(max(nbc - 1, 0)))
        self.indptr = np.ascontiguousarray(indptr, dtype=pointer_dtype(blocks.shape[0]))
        self._check_padding()

    def _check_padding(self):
        """Entries of edge blocks that fall outside the shape must be zero."""
        m, k = self.shape
        r, c = self.block
        if self.blocks.size == 0 or (m % r == 0 and k % c == 0):
            return
        rows = np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr.astype(np.int64)))
        outside = ((rows[:, None, None] * r + np.arange(r)[None, :, None]) >= m) | \
                  ((self.indices.astype(np.int64)[:, None, None] * c
                    + np.arange(c)[None, None, :]) >= k)
        if np.any(self.blocks[np.broadcast_to(outside, self.blocks.shape)] != 0):
            raise ValueError("blocks hold nonzero values in the padding outside the shape "
                             f"{self.shape}")

    @property
    def values(self) -> np.ndarray:
        return self.blocks

    def _repr_extra(self) -> str:
        return f", block={self.block[0]}×{self.block[1]}"

    # -- construction --------------------------------------------------------------------
    @classmethod
    def _from_coo(cls, rows, cols, vals, shape, block) -> "BSR":
        r, c = check_block(block)
        m, k = shape
        nbr, nbc = -(-m // r), -(-k // c)
        keys, position = group_coordinates(rows, cols, r, c, nbc)
        blocks = np.zeros((keys.size, r, c), vals.dtype)
        blocks[position, rows % r, cols % c] = vals
        indptr = np.zeros(nbr + 1, np.int64)
        np.cumsum(np.bincount(keys // max(nbc, 1), minlength=nbr), out=indptr[1:])
        return cls(blocks, keys % max(nbc, 1), indptr, shape)

    @classmethod
    def from_dense(cls, W, block=(4, 4)) -> "BSR":
        """Keep every r×c block holding a nonzero (NaN and inf included)."""
        return cls._from_coo(*coo_from_dense(W), block)

    @classmethod
    def from_scipy(cls, s, block=None) -> "BSR":
        """From any scipy.sparse matrix; ``block`` defaults to a bsr input's own blocksize."""
        if block is None:
            block = getattr(s, "blocksize", None) if getattr(s, "format", "") == "bsr" else None
            if block is None:
                raise ValueError("block=(r, c) is required unless the input is scipy BSR")
        return cls._from_coo(*coo_from_scipy(s), block)

    @classmethod
    def from_torch(cls, t, block=None) -> "BSR":
        """From a torch tensor: sparse BSR (``block`` defaults to its blocksize), any other
        sparse layout, or dense."""
        import torch
        if block is None:
            if not (isinstance(t, torch.Tensor) and t.layout == torch.sparse_bsr):
                raise ValueError("block=(r, c) is required unless the input is torch sparse BSR")
            block = tuple(t.values().shape[1:])
        return cls._from_coo(*coo_from_torch(t), block)

    # -- conversion ----------------------------------------------------------------------
    def _padded_dense(self) -> np.ndarray:
        r, c = self.block
        nbr, nbc = len(self.indptr) - 1, -(-self.shape[1] // c)
        w = np.zeros((nbr, nbc, r, c), self.dtype)
        rows = np.repeat(np.arange(nbr), np.diff(self.indptr.astype(np.int64)))
        w[rows, self.indices] = self.blocks
        return w.transpose(0, 2, 1, 3).reshape(nbr * r, nbc * c)

    def to_dense(self) -> np.ndarray:
        m, k = self.shape
        return np.ascontiguousarray(self._padded_dense()[:m, :k])

    def _require_divisible(self, what: str):
        m, k = self.shape
        r, c = self.block
        if m % r or k % c:
            raise ValueError(f"{what} needs a shape divisible by the block; {m}×{k} is not "
                             f"divisible by {r}×{c} (use to_dense() or CSR)")

    def to_scipy(self):
        import scipy.sparse as sp
        self._require_divisible("scipy bsr_array")
        return sp.bsr_array((self.blocks.copy(), self.indices.astype(np.int32),
                             self.indptr.astype(np.int32)), shape=self.shape,
                            blocksize=self.block)

    def to_torch(self):
        import torch
        self._require_divisible("torch sparse_bsr")
        return torch.sparse_bsr_tensor(torch.from_numpy(self.indptr.astype(np.int64)),
                                       torch.from_numpy(self.indices.astype(np.int64)),
                                       torch.from_numpy(self.blocks.copy()), size=self.shape)

    # -- bytes ---------------------------------------------------------------------------
    def storage(self, value_bits=None, index_bits=None) -> Storage:
        """Block values (zeros inside blocks and padding included) + block-column indices +
        block-row pointers, at the widths the kernel reads unless asked otherwise."""
        vb = check_value_bits(self.dtype.itemsize * 8 if value_bits is None else value_bits)
        nbc = -(-self.shape[1] // self.block[1])
        ib = check_index_bits(index_bits, max(nbc - 1, 0))
        nblocks = self.blocks.shape[0]
        return Storage(self.format, values=self.stored * vb // 8, indices=nblocks * ib // 8,
                       pointers=self.indptr.size * self.indptr.dtype.itemsize, bitmap=0,
                       value_bits=vb, index_bits=ib)

    # -- kernels -------------------------------------------------------------------------
    def _spmv(self, x, y):
        kernels.bsr_spmv(self.blocks, self.indices, self.indptr, x, y)

    def _spmm(self, X, Y):
        kernels.bsr_spmm(self.blocks, self.indices, self.indptr, X, Y)
