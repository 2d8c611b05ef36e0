"""CSR: row pointers, column indices, values."""
import numpy as np

from sparsekit import kernels
from sparsekit.formats.arrays import (check_pointers, check_shape, check_sorted_indices,
                                      float_array, index_array, owned, pointer_dtype,
                                      unsigned_index_dtype)
from sparsekit.formats.base import SparseFormat, read_only
from sparsekit.formats.coo import coo_from_scipy, coo_from_torch, is_dense_tensor, transpose_pattern
from sparsekit.formats.interop import torch_compressed
from sparsekit.formats.storage import Storage, check_index_bits, check_value_bits
from sparsekit.formats.tiles import dense_matrix, dense_tiles


class CSR(SparseFormat):
    """Compressed sparse rows. ``CSR(data, indices, indptr, shape)`` copies and validates
    everything (see ``SparseFormat`` on ownership).

    Stored entries are exactly those in ``data``: every entry != 0 of ``from_dense`` (NaN and
    inf included, -0.0 not), and every entry passed to the constructor, explicit zeros too
    (0 · inf = nan in a product). ``A.T`` is cheap: a CSR of the transpose (O(stored))."""

    format = "csr"
    structure = "unstructured"
    params = ()
    order = 10
    roles = ("values", "indices", "pointers")   # the constructor's arrays, in order

    @classmethod
    def _spec(cls, value_bits, index_bits):
        """Row pointers (UOP), column indices (CP), values: ``hwmodel.formats.builtin("csr")``."""
        from hwmodel import formats as hf
        return hf.builtin("csr", value_bits=value_bits, index_bits=index_bits)

    def _packed_widths(self):
        return self._indices.dtype.itemsize * 8, self._indptr.dtype.itemsize * 8, {}

    def __init__(self, data, indices, indptr, shape):
        self._setup(data, indices, indptr, shape, copy=True)

    def _setup(self, data, indices, indptr, shape, copy):
        m, k = check_shape(shape)
        data = float_array(data, "data", copy)
        if data.ndim != 1:
            raise ValueError(f"data must be 1-D, got shape {data.shape}")
        indices = index_array(indices, "indices", copy)
        indptr = index_array(indptr, "indptr", copy)
        if indices.shape[0] != data.shape[0]:
            raise ValueError(f"indices and data must have the same length, got "
                             f"{indices.shape[0]} and {data.shape[0]}")
        check_pointers(indptr, "indptr", m + 1, data.shape[0])
        check_sorted_indices(indices, indptr, k, "indices")
        self._shape = (m, k)
        self._dtype = data.dtype
        self._data = owned(data)
        self._indices = owned(indices, unsigned_index_dtype(max(k - 1, 0)))
        self._indptr = owned(indptr, pointer_dtype(data.shape[0]))

    def _parts(self) -> tuple:
        return self._data, self._indices, self._indptr, self._shape

    data = read_only("_data", "The stored values, row by row.")
    indices = read_only("_indices", "The column of each stored value (the narrowest unsigned "
                                    "dtype).")
    indptr = read_only("_indptr", "Row i holds entries indptr[i]:indptr[i+1].")
    values = read_only("_data")

    # -- construction --------------------------------------------------------------------
    @classmethod
    def _from_coo(cls, rows, cols, vals, shape) -> "CSR":
        indptr = np.zeros(shape[0] + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
        return cls._adopt(vals, cols, indptr, shape)

    @classmethod
    def from_dense(cls, W) -> "CSR":
        """Keep every entry that is not zero (NaN and inf included). Converts a few MB of
        rows at a time: the peak memory is about the output plus one chunk."""
        w = dense_matrix(W)
        tiles, indptr, indices = dense_tiles(w, 1, 1)
        return cls._adopt(tiles.reshape(-1), indices, indptr, w.shape)

    @classmethod
    def from_scipy(cls, s) -> "CSR":
        """From any scipy.sparse matrix or array (duplicates summed, explicit zeros dropped)."""
        return cls._from_coo(*coo_from_scipy(s))

    @classmethod
    def from_torch(cls, t) -> "CSR":
        """From a torch sparse tensor of any layout, or a dense 2-D tensor."""
        if is_dense_tensor(t):
            return cls.from_dense(t)
        return cls._from_coo(*coo_from_torch(t))

    # -- conversion ----------------------------------------------------------------------
    @property
    def T(self) -> "CSR":
        """The K×M transpose, as a new CSR (O(stored) time and memory)."""
        order, tptr, rows = transpose_pattern(self._indices, self._indptr, self.shape[1])
        return CSR._adopt(self._data[order], rows, tptr, self.shape[::-1])

    def to_dense(self) -> np.ndarray:
        m, k = self.shape
        w = np.zeros((m, k), self.dtype)
        rows = np.repeat(np.arange(m), np.diff(self._indptr.astype(np.int64)))
        w[rows, self._indices] = self._data
        return w

    def to_scipy(self):
        import scipy.sparse as sp
        return sp.csr_array((self._data.copy(), self._indices.astype(np.int64),
                             self._indptr.astype(np.int64)), shape=self.shape)

    def to_torch(self):
        """A torch sparse_csr tensor (int64 indices; no beta warning reaches the caller)."""
        return torch_compressed("csr", self._indptr, self._indices, self._data, self.shape)

    # -- bytes ---------------------------------------------------------------------------
    def storage(self, value_bits=None, index_bits=None) -> Storage:
        """Values + column indices + row pointers, at the widths the kernel reads unless
        ``value_bits``/``index_bits`` ask what another width would cost."""
        vb = check_value_bits(self.dtype.itemsize * 8 if value_bits is None else value_bits)
        ib = check_index_bits(index_bits, max(self.shape[1] - 1, 0))
        pb = self._indptr.dtype.itemsize * 8
        return Storage(self.format, values=self.stored * vb // 8,
                       indices=self.stored * ib // 8,
                       pointers=(self.shape[0] + 1) * pb // 8, bitmap=0,
                       value_bits=vb, index_bits=ib)

    # -- kernels -------------------------------------------------------------------------
    def _spmv(self, x, y, epi):
        kernels.csr_spmv(self._data, self._indices, self._indptr, x, y, *epi)

    def _spmm(self, X, Y, epi):
        kernels.csr_spmm(self._data, self._indices, self._indptr, X, Y, None,
                         self._k_tiles(Y.shape[1]), *epi)

    def _k_tiles(self, n):
        """The K-tiled copy of the entries that the SpMM kernel reads for a product of ``n``
        columns where ``kernels.csr_tiling_pays``, else None. Built at the first such product
        and kept: it doubles the memory of the values and indices, for 1.1-1.4x (see
        ``kernels.csr``)."""
        if not kernels.csr_tiling_pays(self.shape[1], n, self.dtype):
            return None
        tiles = self.__dict__.get("_tiles")
        if tiles is None:
            tiles = tuple(owned(a) for a in kernels.csr_k_tiles(
                self._data, self._indices, self._indptr, self.shape[1]))
            self._tiles = tiles
        return tiles

    SEGMENTS = True

    def _spmm_at(self, x, starts, out, epi, segments=None):
        """(``segments``: see ``kernels.csr_spmm``; the K-tiled copy is chosen by a
        segment's width, the columns each pass reads.)"""
        offsets, tiles = self._offsets(starts, out.shape[1] if segments is None else segments[1])
        kernels.csr_spmm(self._data, offsets, self._indptr, x, out, None, tiles, *epi, pitch=1,
                         segments=segments)

    def _offsets(self, starts, n):
        """Where each stored entry's row of X starts, ``starts[indices]``, and the K-tiled
        copy (``_k_tiles``) with its indices so replaced: the kernel then reads an entry's
        row without looking up ``starts``, one load fewer in each product's address chain
        (one thread, 90 %: a 3×3 conv of resnet50's 14×14 stage read in place, 641 → 556 µs).
        Kept for the last ``starts`` (a layer reads the same rows of each input), a copy,
        compared at every call."""
        cached = self.__dict__.get("_starts_offsets")
        if cached is None or cached[0] != n or not np.array_equal(cached[1], starts):
            offsets, tiles = kernels.row_offsets(starts, self._indices, self._k_tiles(n))
            if tiles is not None:
                tiles = tuple(owned(a) for a in tiles)
            cached = self._starts_offsets = (n, owned(starts.copy()), owned(offsets), tiles)
        return cached[2], cached[3]
