"""Coordinates (rows, cols, values) of the nonzeros of a dense or scipy matrix: the common
starting point of every format's constructors."""
import numpy as np

from sparsekit.formats.arrays import check_float_dtype, float_matrix, is_torch


def coo_from_dense(W):
    """Row-major coordinates of every entry that is not zero (NaN and inf kept). A torch
    weight that requires grad (an nn.Parameter) is read detached."""
    if is_torch(W):
        W = W.detach()
    w = float_matrix(W)
    rows, cols = np.nonzero(w)
    return rows, cols, w[rows, cols], w.shape


def coo_from_scipy(s):
    """Row-major coordinates of a scipy.sparse matrix (duplicates summed, zeros dropped)."""
    import scipy.sparse as sp
    if not sp.issparse(s):
        raise TypeError(f"expected a scipy.sparse matrix or array, got {type(s).__name__}")
    c = sp.csr_array(s, copy=True)
    check_float_dtype(c.dtype, "scipy matrix")
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


def coo_from_torch(t):
    """Row-major coordinates of a torch tensor: dense (strided) or any sparse layout."""
    import torch
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(t).__name__}")
    if t.layout == torch.strided:
        return coo_from_dense(t)
    if t.dim() != 2:
        raise ValueError(f"expected a 2-D tensor, got shape {tuple(t.shape)}")
    c = t.detach().to_sparse_coo().coalesce()
    if c.dense_dim():
        raise ValueError(f"expected a 2-D sparse tensor without dense dimensions, got "
                         f"sparse_dim={c.sparse_dim()}, dense_dim={c.dense_dim()}")
    vals = c.values().numpy()
    check_float_dtype(vals.dtype, "tensor")
    rows, cols = c.indices().numpy()
    keep = vals != 0
    return rows[keep], cols[keep], vals[keep], tuple(t.shape)
