"""Coordinates (rows, cols, values) of the nonzeros of a scipy matrix or a torch sparse tensor,
the starting point of from_scipy/from_torch; and the transposition of a compressed pattern.
Dense input goes through ``tiles.dense_tiles`` instead (chunked, no per-entry coordinates)."""
import numpy as np

from sparsekit.formats.arrays import check_float_dtype, is_torch
from sparsekit.formats.interop import quiet


def coo_from_scipy(s):
    """Row-major coordinates of a scipy.sparse matrix (duplicates summed, zeros dropped)."""
    import scipy.sparse as sp
    if not sp.issparse(s):
        raise TypeError(f"expected a scipy.sparse matrix or array, got {type(s).__name__}")
    check_float_dtype(s.dtype, "scipy matrix")
    c = sp.csr_array(s, copy=True)
    c.sum_duplicates()
    c.eliminate_zeros()
    rows = np.repeat(np.arange(c.shape[0]), np.diff(c.indptr))
    return rows, c.indices.astype(np.int64), c.data, c.shape


def group_coordinates(rows, cols, group_rows, group_cols, n_group_cols):
    """Map each nonzero to a (group row, group col) tile; return the sorted unique tile keys
    and, for each nonzero, the position of its tile among them."""
    keys = (rows // group_rows).astype(np.int64) * n_group_cols + cols // group_cols
    unique_keys, position = np.unique(keys, return_inverse=True)
    return unique_keys, position


def is_dense_tensor(t) -> bool:
    """True for a strided torch tensor, False for a sparse one; TypeError for anything else."""
    import torch
    if not is_torch(t):
        raise TypeError(f"expected a torch.Tensor, got {type(t).__name__}")
    return t.layout == torch.strided


def coo_from_torch(t):
    """Row-major coordinates of a sparse torch tensor of any layout (zeros dropped)."""
    if t.dim() != 2:
        raise ValueError(f"expected a 2-D tensor, got shape {tuple(t.shape)}")
    check_float_dtype(t.dtype, "tensor")
    with quiet():
        c = t.detach().to_sparse_coo().coalesce()
    if c.dense_dim():
        raise ValueError(f"expected a 2-D sparse tensor without dense dimensions, got "
                         f"sparse_dim={c.sparse_dim()}, dense_dim={c.dense_dim()}")
    vals = c.values().numpy()
    rows, cols = c.indices().numpy()
    keep = vals != 0
    return rows[keep], cols[keep], vals[keep], tuple(t.shape)


def transpose_pattern(indices: np.ndarray, ptr: np.ndarray, ncols: int):
    """For a compressed pattern (row i holds ``indices[ptr[i]:ptr[i+1]]``): the order that
    lists its entries column by column (rows ascending within each column), the transposed
    pointers (ncols + 1) and the transposed indices (the original rows, in that order)."""
    rows = np.repeat(np.arange(ptr.shape[0] - 1), np.diff(ptr.astype(np.int64)))
    order = np.argsort(indices, kind="stable")
    tptr = np.zeros(ncols + 1, np.int64)
    np.cumsum(np.bincount(indices.astype(np.int64), minlength=ncols), out=tptr[1:])
    return order, tptr, rows[order]
