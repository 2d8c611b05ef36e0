"""BSR: dense r×c blocks, block-row pointers, block-column indices. Edge blocks of a shape not
divisible by the block are padded with zeros; the padding never reaches the output."""
import numpy as np

from sparsekit import kernels
from sparsekit.formats.arrays import (check_pointers, check_shape, check_sorted_indices,
                                      float_array, index_array, owned, pointer_dtype,
                                      unsigned_index_dtype)
from sparsekit.formats.base import SparseFormat, read_only
from sparsekit.formats.coo import (coo_from_scipy, coo_from_torch, group_coordinates,
                                   is_dense_tensor, transpose_pattern)
from sparsekit.formats.interop import torch_compressed
from sparsekit.formats.params import check_block, check_block_for_shape
from sparsekit.formats.storage import Storage, check_index_bits, check_value_bits
from sparsekit.formats.tiles import dense_matrix, dense_tiles


class BSR(SparseFormat):
    """Block sparse rows. ``BSR(blocks, indices, indptr, shape)`` with blocks (nblocks, r, c)
    copies and validates everything (see ``SparseFormat`` on ownership). r ≤ max(M, 64) and
    c ≤ max(K, 64) (``params.check_block_for_shape``).

    Stored entries are every entry of a stored block inside the shape, zeros included: a zero
    beside a nonzero in one block is multiplied (0 · inf = nan), as in the dense product.
    ``A.T`` is cheap: a BSR of the transpose with c×r blocks (O(stored))."""

    format = "bsr"
    structure = "block"
    params = ("block",)
    order = 20
    roles = ("values", "indices", "pointers")   # the constructor's arrays, in order

    @classmethod
    def _spec(cls, value_bits, index_bits, block=(4, 4)):
        """Block-row pointers (UOP), block-column indices (CP), dense r×c blocks (U, U)."""
        from hwmodel import formats as hf
        return hf.builtin("bsr", block=check_block(block), value_bits=value_bits,
                          index_bits=index_bits)

    def _packed_widths(self):
        return (self._indices.dtype.itemsize * 8, self._indptr.dtype.itemsize * 8,
                {"block": self.block})

    def __init__(self, blocks, indices, indptr, shape):
        self._setup(blocks, indices, indptr, shape, copy=True)

    def _setup(self, blocks, indices, indptr, shape, copy):
        m, k = check_shape(shape)
        blocks = float_array(blocks, "blocks", copy)
        if blocks.ndim != 3:
            raise ValueError(f"blocks must be 3-D (nblocks, r, c), got shape {blocks.shape}")
        r, c = check_block_for_shape(blocks.shape[1:], (m, k))
        nbr, nbc = -(-m // r), -(-k // c)
        indices = index_array(indices, "indices", copy)
        indptr = index_array(indptr, "indptr", copy)
        if indices.shape[0] != blocks.shape[0]:
            raise ValueError(f"indices and blocks must have the same length, got "
                             f"{indices.shape[0]} and {blocks.shape[0]}")
        check_pointers(indptr, "indptr", nbr + 1, blocks.shape[0])
        check_sorted_indices(indices, indptr, nbc, "indices")
        _check_padding(blocks, indices, indptr, (m, k))
        self._shape = (m, k)
        self._block = (r, c)
        self._dtype = blocks.dtype
        self._blocks = owned(blocks)
        self._indices = owned(indices, unsigned_index_dtype(max(nbc - 1, 0)))
        self._indptr = owned(indptr, pointer_dtype(blocks.shape[0]))

    def _parts(self) -> tuple:
        return self._blocks, self._indices, self._indptr, self._shape

    @property
    def block(self) -> tuple[int, int]:
        """(r, c)."""
        return self._block

    blocks = read_only("_blocks", "The stored (nblocks, r, c) blocks, block row by block row.")
    indices = read_only("_indices", "The block column of each stored block.")
    indptr = read_only("_indptr", "Block row i holds blocks indptr[i]:indptr[i+1].")
    values = read_only("_blocks")

    def _repr_extra(self) -> str:
        return f", block={self.block[0]}×{self.block[1]}"

    # -- construction --------------------------------------------------------------------
    @classmethod
    def _from_coo(cls, rows, cols, vals, shape, block) -> "BSR":
        r, c = check_block_for_shape(block, shape)
        m, k = shape
        nbr, nbc = -(-m // r), -(-k // c)
        keys, position = group_coordinates(rows, cols, r, c, nbc)
        blocks = np.zeros((keys.size, r, c), vals.dtype)
        blocks[position, rows % r, cols % c] = vals
        indptr = np.zeros(nbr + 1, np.int64)
        np.cumsum(np.bincount(keys // max(nbc, 1), minlength=nbr), out=indptr[1:])
        return cls._adopt(blocks, keys % max(nbc, 1), indptr, shape)

    @classmethod
    def from_dense(cls, W, block=(4, 4)) -> "BSR":
        """Keep every r×c block holding a nonzero (NaN and inf included), zeros beside it too.
        Converts a few MB of rows at a time: the peak is about the output plus one chunk."""
        w = dense_matrix(W)
        r, c = check_block_for_shape(block, w.shape)
        blocks, indptr, indices = dense_tiles(w, r, c)
        return cls._adopt(blocks, indices, indptr, w.shape)

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
        dense = is_dense_tensor(t)
        if block is None:
            if t.layout != torch.sparse_bsr:
                raise ValueError("block=(r, c) is required unless the input is torch sparse BSR")
            block = tuple(t.values().shape[1:])
        if dense:
            return cls.from_dense(t, block)
        return cls._from_coo(*coo_from_torch(t), block)

    # -- conversion ----------------------------------------------------------------------
    @property
    def T(self) -> "BSR":
        """The K×M transpose, as a new BSR with c×r blocks (O(stored) time and memory)."""
        nbc = -(-self.shape[1] // self.block[1])
        order, tptr, rows = transpose_pattern(self._indices, self._indptr, nbc)
        return BSR._adopt(self._blocks[order].transpose(0, 2, 1), rows, tptr, self.shape[::-1])

    def to_dense(self) -> np.ndarray:
        m, k = self.shape
        r, c = self.block
        nbr, nbc = len(self._indptr) - 1, -(-k // c)
        w = np.zeros((nbr, nbc, r, c), self.dtype)
        rows = np.repeat(np.arange(nbr), np.diff(self._indptr.astype(np.int64)))
        w[rows, self._indices] = self._blocks
        return np.ascontiguousarray(w.transpose(0, 2, 1, 3).reshape(nbr * r, nbc * c)[:m, :k])

    def _require_divisible(self, what: str):
        m, k = self.shape
        r, c = self.block
        if m % r or k % c:
            raise ValueError(f"{what} needs a shape divisible by the block; {m}×{k} is not "
                             f"divisible by {r}×{c} (use to_dense() or CSR)")

    def to_scipy(self):
        import scipy.sparse as sp
        self._require_divisible("scipy bsr_array")
        return sp.bsr_array((self._blocks.copy(), self._indices.astype(np.int32),
                             self._indptr.astype(np.int32)), shape=self.shape,
                            blocksize=self.block)

    def to_torch(self):
        """A torch sparse_bsr tensor (int64 indices; no beta warning reaches the caller)."""
        self._require_divisible("torch sparse_bsr")
        return torch_compressed("bsr", self._indptr, self._indices, self._blocks, self.shape)

    # -- bytes ---------------------------------------------------------------------------
    def storage(self, value_bits=None, index_bits=None) -> Storage:
        """Block values (zeros inside blocks and padding included) + block-column indices +
        block-row pointers, at the widths the kernel reads unless asked otherwise."""
        vb = check_value_bits(self.dtype.itemsize * 8 if value_bits is None else value_bits)
        nbc = -(-self.shape[1] // self.block[1])
        ib = check_index_bits(index_bits, max(nbc - 1, 0))
        nblocks = self._blocks.shape[0]
        return Storage(self.format, values=self.stored * vb // 8, indices=nblocks * ib // 8,
                       pointers=self._indptr.size * self._indptr.dtype.itemsize, bitmap=0,
                       value_bits=vb, index_bits=ib)

    # -- kernels -------------------------------------------------------------------------
    def _spmv(self, x, y, epi):
        kernels.bsr_spmv(self._blocks, self._indices, self._indptr, x, y, *epi)

    def _spmm(self, X, Y, epi):
        kernels.bsr_spmm(self._blocks, self._indices, self._indptr, X, Y, None, *epi)

    def _spmm_at(self, x, starts, out, epi):
        kernels.bsr_spmm(self._blocks, self._indices, self._indptr, x, out, starts, *epi)


def _check_padding(blocks, indices, indptr, shape):
    """Entries of edge blocks that fall outside the shape must be zero: the rows past M of the
    last block row, the columns past K of the last block column."""
    m, k = shape
    r, c = blocks.shape[1:]
    if blocks.shape[0] and m % r and np.any(blocks[int(indptr[-2]):, m % r:, :] != 0):
        raise ValueError(f"blocks hold nonzero values in the padding rows past row {m - 1} "
                         f"of the shape {shape}")
    if blocks.shape[0] and k % c and np.any(blocks[indices == k // c, :, k % c:] != 0):
        raise ValueError(f"blocks hold nonzero values in the padding columns past column "
                         f"{k - 1} of the shape {shape}")
