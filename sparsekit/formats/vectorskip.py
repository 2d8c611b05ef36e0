"""VectorSkip(V): W cut into panels of V consecutive output rows; in each panel, column j is a
length-V vector; all-zero vectors are skipped, present ones stored contiguously (panel by
panel, columns ascending), and a bitmap with one bit per panel×column says which are present.
The bitmap is kept as 64-bit words (bit j % 64 of word j // 64), the width the kernel reads."""
import numpy as np

from sparsekit import kernels
from sparsekit.formats.arrays import (check_float_dtype, check_pointers, check_shape,
                                      index_array, pointer_dtype, to_numpy)
from sparsekit.formats.base import SparseFormat
from sparsekit.formats.params import check_vector
from sparsekit.formats.coo import (coo_from_dense, coo_from_scipy, coo_from_torch,
                                   group_coordinates)
from sparsekit.formats.storage import Storage, check_index_bits, check_value_bits


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits per row of a (rows, words) uint64 array."""
    return np.unpackbits(_as_bytes(words), axis=1).sum(axis=1, dtype=np.int64)


def _as_bytes(words: np.ndarray) -> np.ndarray:
    """The (rows, 8·words) little-endian byte view of a (rows, words) uint64 array."""
    return words.astype("<u8", copy=False).view(np.uint8).reshape(words.shape[0],
                                                                   words.shape[1] * 8)


class VectorSkip(SparseFormat):
    """``VectorSkip(vectors, bitmap, panel_ptr, shape)`` with vectors (nvec, V), bitmap
    (npanels, ceil(K/64)) uint64 and panel_ptr (npanels+1) offsets into vectors."""

    format = "vectorskip"

    def __init__(self, vectors, bitmap, panel_ptr, shape):
        m, k = check_shape(shape)
        vectors = to_numpy(vectors, "vectors")
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D (nvec, V), got shape {vectors.shape}")
        check_float_dtype(vectors.dtype, "vectors")
        v_len = check_vector(vectors.shape[1])
        npanels, nwords = -(-m // v_len), -(-k // 64)
        bitmap = to_numpy(bitmap, "bitmap")
        if bitmap.dtype != np.uint64:
            raise TypeError(f"bitmap must be uint64 words, got {bitmap.dtype}")
        if bitmap.shape != (npanels, nwords):
            raise ValueError(f"bitmap must have shape {(npanels, nwords)} for {m}×{k} with "
                             f"V={v_len}, got {bitmap.shape}")
        panel_ptr = index_array(panel_ptr, "panel_ptr")
        check_pointers(panel_ptr, "panel_ptr", npanels + 1, vectors.shape[0])
        if k % 64 and nwords and np.any(bitmap[:, -1] >> np.uint64(k % 64)):
            raise ValueError(f"bitmap has bits set past column {k - 1}")
        counts = _popcount(np.ascontiguousarray(bitmap))
        if not np.array_equal(counts, np.diff(panel_ptr.astype(np.int64))):
            bad = int(np.argmax(counts != np.diff(panel_ptr.astype(np.int64))))
            raise ValueError(f"bitmap and panel_ptr disagree: panel {bad} has {counts[bad]} "
                             f"bits set but {int(panel_ptr[bad + 1]) - int(panel_ptr[bad])} "
                             "vectors")
        tail = m - (npanels - 1) * v_len if npanels else v_len
        if tail < v_len and panel_ptr[-2] < panel_ptr[-1]:
            if np.any(vectors[int(panel_ptr[-2]):, tail:] != 0):
                raise ValueError(f"vectors hold nonzero values in the padding rows past {m}")
        self.shape = (m, k)
        self.vector = v_len
        self.dtype = vectors.dtype
        self.vectors = np.ascontiguousarray(vectors)
        self.bitmap = np.ascontiguousarray(bitmap)
        self.panel_ptr = np.ascontiguousarray(panel_ptr, dtype=pointer_dtype(vectors.shape[0]))

    @property
    def values(self) -> np.ndarray:
        return self.vectors

    def _repr_extra(self) -> str:
        return f", vector={self.vector}"

    # -- construction --------------------------------------------------------------------
    @classmethod
    def _from_coo(cls, rows, cols, vals, shape, vector) -> "VectorSkip":
        v_len = check_vector(vector)
        m, k = shape
        npanels, nwords = -(-m // v_len), -(-k // 64)
        keys, position = group_coordinates(rows, cols, v_len, 1, max(k, 1))
        vectors = np.zeros((keys.size, v_len), vals.dtype)
        vectors[position, rows % v_len] = vals
        panel, col = keys // max(k, 1), keys % max(k, 1)
        bitmap = np.zeros((npanels, nwords), np.uint64)
        np.bitwise_or.at(bitmap, (panel, col // 64),
                         np.left_shift(np.uint64(1), (col % 64).astype(np.uint64)))
        panel_ptr = np.zeros(npanels + 1, np.int64)
        np.cumsum(np.bincount(panel, minlength=npanels), out=panel_ptr[1:])
        return cls(vectors, bitmap, panel_ptr, shape)

    @classmethod
    def from_dense(cls, W, vector=8) -> "VectorSkip":
        """Keep every length-V column vector of a panel that holds a nonzero."""
        return cls._from_coo(*coo_from_dense(W), vector)

    @classmethod
    def from_scipy(cls, s, vector=8) -> "VectorSkip":
        return cls._from_coo(*coo_from_scipy(s), vector)

    @classmethod
    def from_torch(cls, t, vector=8) -> "VectorSkip":
        return cls._from_coo(*coo_from_torch(t), vector)

    # -- conversion ----------------------------------------------------------------------
    def _columns(self) -> tuple[np.ndarray, np.ndarray]:
        """(panel, column) of every stored vector, in storage order."""
        bits = np.unpackbits(_as_bytes(self.bitmap), axis=1,
                             bitorder="little")[:, :self.shape[1]]
        return np.nonzero(bits)

    def to_dense(self) -> np.ndarray:
        m, k = self.shape
        npanels = self.bitmap.shape[0]
        w = np.zeros((npanels, k, self.vector), self.dtype)
        panel, col = self._columns()
        w[panel, col] = self.vectors
        return np.ascontiguousarray(w.transpose(0, 2, 1).reshape(npanels * self.vector, k)[:m])

    def to_scipy(self):
        """A scipy bsr_array with V×1 blocks: the same structure VectorSkip stores."""
        import scipy.sparse as sp
        m, k = self.shape
        if m % self.vector:
            raise ValueError(f"scipy bsr_array needs the rows ({m}) divisible by V="
                             f"{self.vector} (use to_dense() or CSR)")
        _, col = self._columns()
        return sp.bsr_array((self.vectors[:, :, None].copy(), col.astype(np.int32),
                             self.panel_ptr.astype(np.int32)), shape=self.shape,
                            blocksize=(self.vector, 1))

    def to_torch(self):
        """A torch sparse_bsr tensor with V×1 blocks."""
        import torch
        s = self.to_scipy()
        return torch.sparse_bsr_tensor(torch.from_numpy(s.indptr.astype(np.int64)),
                                       torch.from_numpy(s.indices.astype(np.int64)),
                                       torch.from_numpy(s.data), size=self.shape)

    # -- bytes ---------------------------------------------------------------------------
    def storage(self, value_bits=None, index_bits=None) -> Storage:
        """Vector values (padding rows of the last panel included) + the bitmap words +
        panel pointers. ``index_bits`` sets the pointer width (VectorSkip has no indices)."""
        vb = check_value_bits(self.dtype.itemsize * 8 if value_bits is None else value_bits)
        pb = (self.panel_ptr.dtype.itemsize * 8 if index_bits is None
              else check_index_bits(index_bits, self.vectors.shape[0]))
        return Storage(self.format, values=self.stored * vb // 8, indices=0,
                       pointers=self.panel_ptr.size * pb // 8, bitmap=self.bitmap.nbytes,
                       value_bits=vb, index_bits=pb)

    # -- kernels -------------------------------------------------------------------------
    def _spmv(self, x, y):
        kernels.vectorskip_spmv(self.vectors, self.bitmap, self.panel_ptr, x, y)

    def _spmm(self, X, Y):
        kernels.vectorskip_spmm(self.vectors, self.bitmap, self.panel_ptr, X, Y)
