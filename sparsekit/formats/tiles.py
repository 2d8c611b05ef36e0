"""Packing a dense matrix into its r×c tiles that hold a nonzero, a few MB of rows at a time,
so that converting a large dense weight costs about the output plus one chunk of memory.
CSR is the 1×1 case, BSR the r×c case, VectorSkip the V×1 case (with a bitmap for columns).
"""
import numpy as np

from sparsekit.formats.arrays import float_matrix, is_torch, pointer_dtype, unsigned_index_dtype

# Working memory of one chunk: its copy of the input, the gathered tiles, and the int64
# coordinates numpy makes of a boolean mask (16 bytes per kept tile, twice).
CHUNK_BYTES = 4 << 20


def dense_matrix(W) -> np.ndarray:
    """The 2-D float32/float64 numpy view of a dense numpy or torch weight; a torch weight that
    requires grad (an nn.Parameter) is read detached."""
    return float_matrix(W.detach() if is_torch(W) else W)


def dense_tiles(w: np.ndarray, r: int, c: int, bitmap: bool = False):
    """Every r×c tile of the M×K float matrix ``w`` that holds an entry != 0 (NaN and inf
    count, -0.0 does not), row-major; edge tiles are padded with zeros. Returns
    ``(tiles (n, r, c), pointers (ceil(M/r) + 1,), where)``: ``where`` is each tile's column
    (narrowest unsigned dtype), or with ``bitmap`` one row of uint64 words per tile row with
    bit j % 64 of word j // 64 set when tile column j is kept.

    Two passes over row chunks (count, then fill the exact-size output): int64 coordinates
    exist for one chunk at a time only, and the output is never copied."""
    m, k = w.shape
    nbr, nbc = -(-m // r), -(-k // c)
    tile_row_bytes = nbc * (2 * r * c * w.itemsize + 32)
    per_chunk = min(max(nbr, 1), max(1, CHUNK_BYTES // max(1, tile_row_bytes)))
    padded = m % r != 0 or k % c != 0
    buf = np.zeros((per_chunk * r, nbc * c), w.dtype) if padded else None

    def chunks():
        """(first tile row, tiles view (q, r, nbc, c), kept (q, nbc)) per chunk."""
        for b0 in range(0, nbr, per_chunk):
            q = min(per_chunk, nbr - b0)
            rows = min(m - b0 * r, q * r)
            if k % c == 0 and rows == q * r:  # no padding: a view (or a chunk-size copy)
                t = w[b0 * r:b0 * r + rows].reshape(q, r, nbc, c)
            else:
                view = buf[:q * r]
                view[:rows, :k] = w[b0 * r:b0 * r + rows]
                view[rows:] = 0  # padding rows (the columns past k stay zero)
                t = view.reshape(q, r, nbc, c)
            nz = t != 0
            yield b0, t, nz.reshape(q, nbc) if r * c == 1 else nz.any(axis=(1, 3))

    counts = np.zeros(nbr, np.int64)
    for b0, _, kept in chunks():
        counts[b0:b0 + kept.shape[0]] = kept.sum(axis=1)
    ptr = np.zeros(nbr + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    n = int(ptr[-1])

    tiles = np.empty((n, r, c), w.dtype)
    nwords = -(-nbc // 64)
    where = (np.zeros((nbr, nwords), np.uint64) if bitmap
             else np.empty(n, unsigned_index_dtype(max(nbc - 1, 0))))
    for b0, t, kept in chunks():
        q = kept.shape[0]
        lo, hi = ptr[b0], ptr[b0 + q]
        tiles[lo:hi] = t.transpose(0, 2, 1, 3)[kept]
        if bitmap:
            where[b0:b0 + q] = _words(kept, nwords)
        else:
            where[lo:hi] = np.nonzero(kept)[1]
    return tiles, ptr.astype(pointer_dtype(n)), where


def _words(bits: np.ndarray, nwords: int) -> np.ndarray:
    """(rows, nwords) uint64 words of a (rows, cols) boolean array, bit j in word j // 64."""
    packed = np.packbits(bits, axis=1, bitorder="little")
    out = np.zeros((bits.shape[0], nwords * 8), np.uint8)
    out[:, :packed.shape[1]] = packed
    return out.view("<u8").astype(np.uint64)
