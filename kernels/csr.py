"""CSR kernels: y = A @ x (SpMV) and Y = A @ X (SpMM, X is K×N row-major)."""
import numba
import numpy as np

from .axpy import FASTMATH, axpy, axpy4
from .threads import num_parts, split_point



@numba.njit(cache=True, fastmath=FASTMATH)
def _spmv_rows(data, indices, indptr, x, y, r0, r1):
    for i in range(r0, r1):
        acc = data.dtype.type(0)
        for p in range(np.int64(indptr[i]), np.int64(indptr[i + 1])):
            acc += data[p] * x[indices[p]]
        y[i] = acc


@numba.njit(cache=True, parallel=True)
def _spmv_parallel(data, indices, indptr, x, y, nparts):
    for part in numba.prange(nparts):
        _spmv_rows(data, indices, indptr, x, y,
                   split_point(indptr, part, nparts), split_point(indptr, part + 1, nparts))


@numba.njit(cache=True, fastmath=FASTMATH)
def _spmm_rows(data, indices, indptr, X, Y, r0, r1):
    for i in range(r0, r1):
        yi = Y[i]
        yi[:] = 0
        p = np.int64(indptr[i])
        end = np.int64(indptr[i + 1])
        # Four nonzeros per pass: one load/store of the output row per four FMAs.
        while p + 4 <= end:
            a0 = data[p]
            a1 = data[p + 1]
            a2 = data[p + 2]
            a3 = data[p + 3]
            x0 = X[indices[p]]
            x1 = X[indices[p + 1]]
            x2 = X[indices[p + 2]]
            x3 = X[indices[p + 3]]
            axpy4(yi, a0, x0, a1, x1, a2, x2, a3, x3)
            p += 4
        while p < end:
            a0 = data[p]
            x0 = X[indices[p]]
            axpy(yi, a0, x0)
            p += 1


@numba.njit(cache=True, parallel=True)
def _spmm_parallel(data, indices, indptr, X, Y, nparts):
    for part in numba.prange(nparts):
        _spmm_rows(data, indices, indptr, X, Y,
                   split_point(indptr, part, nparts), split_point(indptr, part + 1, nparts))


def csr_spmv(data, indices, indptr, x, y):
    """y[:] = A @ x for a validated CSR matrix; x and y 1-D contiguous, same dtype as data."""
    nparts = num_parts(data.shape[0])
    if nparts == 1:
        _spmv_rows(data, indices, indptr, x, y, 0, y.shape[0])
    else:
        _spmv_parallel(data, indices, indptr, x, y, nparts)
    return y


def csr_spmm(data, indices, indptr, X, Y):
    """Y[:] = A @ X for a validated CSR matrix; X (K, N) and Y (M, N) C-contiguous."""
    nparts = num_parts(data.shape[0] * X.shape[1])
    if nparts == 1:
        _spmm_rows(data, indices, indptr, X, Y, 0, Y.shape[0])
    else:
        _spmm_parallel(data, indices, indptr, X, Y, nparts)
    return Y
