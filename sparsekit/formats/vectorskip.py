"""VectorSkip(V): W cut into panels of V consecutive output rows; in each panel, column j is a
length-V vector; all-zero vectors are skipped, present ones stored contiguously (panel by
panel, columns ascending), and a bitmap with one bit per panel×column says which are present.
The bitmap is kept as 64-bit words (bit j % 64 of word j // 64), the width the kernel reads."""
import numpy as np

from sparsekit import kernels
from sparsekit.formats.arrays import (check_pointers, check_shape, float_array, index_array,
                                      owned, pointer_dtype, to_numpy)
from sparsekit.formats.base import SparseFormat, read_only
from sparsekit.formats.coo import (coo_from_scipy, coo_from_torch, group_coordinates,
                                   is_dense_tensor)
from sparsekit.formats.interop import torch_compressed
from sparsekit.formats.params import check_vector, check_vector_for_shape
from sparsekit.formats.storage import Storage, check_index_bits, check_value_bits
from sparsekit.formats.tiles import dense_matrix, dense_tiles


_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits per row of a (rows, words) uint64 array (a byte table: 1 byte of scratch per
    byte of bitmap)."""
    return _POPCOUNT8[_as_bytes(words)].sum(axis=1, dtype=np.int64)


def _as_bytes(words: np.ndarray) -> np.ndarray:
    """The (rows, 8·words) little-endian byte view of a (rows, words) uint64 array."""
    words = np.ascontiguousarray(words.astype("<u8", copy=False))
    return words.view(np.uint8).reshape(words.shape[0], words.shape[1] * 8)


class VectorSkip(SparseFormat):
    """``VectorSkip(vectors, bitmap, panel_ptr, shape)`` with vectors (nvec, V), bitmap
    (npanels, ceil(K/64)) uint64 and panel_ptr (npanels+1) offsets into vectors; copies and
    validates everything (see ``SparseFormat`` on ownership). V ≤ max(M, 64)
    (``params.check_vector_for_shape``).

    Stored entries are every entry of a stored vector inside the shape, zeros included: a zero
    beside a nonzero in one vector is multiplied (0 · inf = nan), as in the dense product; a
    skipped (all-zero) vector is never multiplied. ``A.T`` is not cheap (the transpose of a
    VectorSkip is no VectorSkip) and raises TypeError; so does ``X @ A``."""

    format = "vectorskip"
    structure = "vector"
    params = ("vector",)
    order = 30
    short_name = "vskip"                         # its column label in tables
    roles = ("values", "bitmap", "pointers")    # the constructor's arrays, in order

    @classmethod
    def _spec(cls, value_bits, index_bits, vector=8):
        """Panel pointers (UOP, ``index_bits`` wide: VectorSkip has no indices), a bitmap over
        columns in 64-bit words (B), length-V vectors (U)."""
        from hwmodel import formats as hf
        return hf.builtin("vectorskip", vector=check_vector(vector), value_bits=value_bits,
                          index_bits=index_bits)

    def _packed_widths(self):
        return None, self._panel_ptr.dtype.itemsize * 8, {"vector": self.vector}

    def __init__(self, vectors, bitmap, panel_ptr, shape):
        self._setup(vectors, bitmap, panel_ptr, shape, copy=True)

    def _setup(self, vectors, bitmap, panel_ptr, shape, copy):
        m, k = check_shape(shape)
        vectors = float_array(vectors, "vectors", copy)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D (nvec, V), got shape {vectors.shape}")
        v_len = check_vector_for_shape(vectors.shape[1], (m, k))
        npanels, nwords = -(-m // v_len), -(-k // 64)
        bitmap = to_numpy(bitmap, "bitmap", copy)
        if bitmap.dtype != np.uint64:
            raise TypeError(f"bitmap must be uint64 words, got {bitmap.dtype}")
        if bitmap.shape != (npanels, nwords):
            raise ValueError(f"bitmap must have shape {(npanels, nwords)} for {m}×{k} with "
                             f"V={v_len}, got {bitmap.shape}")
        panel_ptr = index_array(panel_ptr, "panel_ptr", copy)
        check_pointers(panel_ptr, "panel_ptr", npanels + 1, vectors.shape[0])
        if k % 64 and nwords and np.any(bitmap[:, -1] >> np.uint64(k % 64)):
            raise ValueError(f"bitmap has bits set past column {k - 1}")
        counts = _popcount(bitmap)
        if not np.array_equal(counts, np.diff(panel_ptr.astype(np.int64))):
            bad = int(np.argmax(counts != np.diff(panel_ptr.astype(np.int64))))
            raise ValueError(f"bitmap and panel_ptr disagree: panel {bad} has {counts[bad]} "
                             f"bits set but {int(panel_ptr[bad + 1]) - int(panel_ptr[bad])} "
                             "vectors")
        tail = m - (npanels - 1) * v_len if npanels else v_len
        if tail < v_len and panel_ptr[-2] < panel_ptr[-1]:
            if np.any(vectors[int(panel_ptr[-2]):, tail:] != 0):
                raise ValueError(f"vectors hold nonzero values in the padding rows past {m}")
        self._shape = (m, k)
        self._vector = v_len
        self._dtype = vectors.dtype
        self._vectors = owned(vectors)
        self._bitmap = owned(bitmap)
        self._panel_ptr = owned(panel_ptr, pointer_dtype(vectors.shape[0]))

    def _parts(self) -> tuple:
        return self._vectors, self._bitmap, self._panel_ptr, self._shape

    @property
    def vector(self) -> int:
        """V, the rows of a panel."""
        return self._vector

    vectors = read_only("_vectors", "The stored (nvec, V) vectors, panel by panel, columns "
                                    "ascending.")
    bitmap = read_only("_bitmap", "(npanels, ceil(K/64)) uint64: bit j % 64 of word j // 64 marks "
                                  "column j.")
    panel_ptr = read_only("_panel_ptr", "Panel p holds vectors panel_ptr[p]:panel_ptr[p+1].")
    values = read_only("_vectors")

    def _repr_extra(self) -> str:
        return f", vector={self.vector}"

    # -- construction --------------------------------------------------------------------
    @classmethod
    def _from_coo(cls, rows, cols, vals, shape, vector) -> "VectorSkip":
        v_len = check_vector_for_shape(vector, shape)
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
        return cls._adopt(vectors, bitmap, panel_ptr, shape)

    @classmethod
    def from_dense(cls, W, vector=8) -> "VectorSkip":
        """Keep every length-V column vector of a panel that holds a nonzero (NaN and inf
        included), zeros beside it too. Converts a few MB of rows at a time: the peak is
        about the output plus one chunk."""
        w = dense_matrix(W)
        v_len = check_vector_for_shape(vector, w.shape)
        vectors, panel_ptr, bitmap = dense_tiles(w, v_len, 1, bitmap=True)
        return cls._adopt(vectors.reshape(-1, v_len), bitmap, panel_ptr, w.shape)

    @classmethod
    def from_scipy(cls, s, vector=8) -> "VectorSkip":
        return cls._from_coo(*coo_from_scipy(s), vector)

    @classmethod
    def from_torch(cls, t, vector=8) -> "VectorSkip":
        if is_dense_tensor(t):
            return cls.from_dense(t, vector)
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
        """A torch sparse_bsr tensor with V×1 blocks (no beta warning reaches the caller)."""
        s = self.to_scipy()
        return torch_compressed("bsr", s.indptr, s.indices, s.data, self.shape)

    @property
    def T(self):
        raise TypeError("VectorSkip has no cheap transpose (the transpose of a VectorSkip is "
                        "no VectorSkip); transpose the dense matrix and pack that, e.g. "
                        "sk.BSR.from_dense(A.to_dense().T, block=(1, A.vector))")

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
    def _spmv(self, x, y, epi):
        kernels.vectorskip_spmv(self.vectors, self.bitmap, self.panel_ptr, x, y, *epi,
                                columns=self._vector_columns())

    def _vector_columns(self):
        """Each stored vector's column (``kernels.vector_columns``), which the SpMV kernels
        read instead of the bitmap: decoded at the first product and kept (2 bytes a vector
        up to 65,536 columns, 4 beyond: 6 % of the values' bytes at V = 8, float32)."""
        columns = self.__dict__.get("_columns_cache")
        if columns is None:
            columns = self._columns_cache = owned(
                kernels.vector_columns(self._bitmap, self._panel_ptr, self.shape[1]))
        return columns

    def _spmm(self, X, Y, epi):
        kernels.vectorskip_spmm(self.vectors, self.bitmap, self.panel_ptr, X, Y, None, *epi)

    def _spmm_at(self, x, starts, out, epi):
        kernels.vectorskip_spmm(self.vectors, self.bitmap, self.panel_ptr, x, out, starts, *epi)
