"""Sparse kernels vs the real alternatives, on one grid, in one process.

Each benchmark records in extra_info what the report needs: the point on the grid, the bytes
the implementation moves (values + indices + pointers + X + Y), and the useful FLOPs
(2 · nnz · batch). Speedups are computed by bench/report.py against the dense baselines of
the same run.
"""
import numpy as np
import pytest

from conftest import BLOCK, activations, sparse_matrix, weight
from sparsekit.benchmarking.baselines import DENSE, SPARSE, baseline
from sparsekit.benchmarking.workloads import STRUCTURE_OF_FORMAT
from sparsekit.kernels.probe import core_handoff

FORMATS = tuple(STRUCTURE_OF_FORMAT)     # every registered format (sparsekit.formats.registry)
BASELINE_STRUCTURE = {"torch_csr": "unstructured", "scipy_csr": "unstructured",
                      "torch_bsr": "block", "scipy_bsr": "block"}


def _record(benchmark, machine, impl, shape, sparsity, batch, threads, structure, nnz,
            moved):
    m, k = shape
    benchmark.extra_info.update(
        impl=impl, m=m, k=k, sparsity=sparsity, batch=batch, threads=threads,
        structure=structure, nnz=int(nnz), bytes_moved=int(moved),
        useful_flops=2 * int(nnz) * batch,
        read_bandwidth_Bps=machine["read_bandwidth_Bps"][threads],
        openblas_coretype=machine["openblas_coretype"],
        # two-thread times here follow this cost of a line between the threads, which on
        # this machine switches between two levels (kernels.probe.core_handoff)
        core_handoff_ns=(core_handoff() or (None,))[0] if threads > 1 else None)


def _io_bytes(shape, batch):
    return 4 * (shape[1] + shape[0]) * batch


@pytest.mark.parametrize("fmt", FORMATS)
def bench_sparsekit(benchmark, machine, pinned, fmt, shape, sparsity, batch, threads):
    structure = STRUCTURE_OF_FORMAT[fmt]
    a = sparse_matrix(fmt, shape, sparsity, structure)
    x = activations(shape[1], batch)
    out = np.empty((shape[0],) + x.shape[1:], np.float32)
    y = benchmark(a.matmul, x, out)
    np.testing.assert_allclose(y, weight(shape, sparsity, structure) @ x, rtol=1e-3, atol=1e-2)
    _record(benchmark, machine, f"sparsekit_{fmt}", shape, sparsity, batch, threads, structure,
            a.nnz, a.storage().total + _io_bytes(shape, batch))


@pytest.mark.parametrize("impl", SPARSE)
def bench_sparse_baseline(benchmark, machine, pinned, impl, shape, sparsity, batch, threads):
    structure = BASELINE_STRUCTURE[impl]
    w = weight(shape, sparsity, structure)
    fn = baseline(impl, w, activations(shape[1], batch), BLOCK)
    if fn is None:
        pytest.skip(f"{impl} cannot hold {shape} with block {BLOCK}")
    benchmark(fn)
    nnz = np.count_nonzero(w)
    index_bytes = 8 if impl.startswith("torch") else 4
    if impl.endswith("bsr"):
        nblocks = np.count_nonzero(w.reshape(shape[0] // BLOCK[0], BLOCK[0], -1, BLOCK[1])
                                   .any(axis=(1, 3)))
        moved = nblocks * (BLOCK[0] * BLOCK[1] * 4 + index_bytes)
    else:
        moved = nnz * (4 + index_bytes)
    _record(benchmark, machine, impl, shape, sparsity, batch, threads, structure, nnz,
            moved + _io_bytes(shape, batch))


@pytest.mark.parametrize("impl", DENSE)
def bench_dense(benchmark, machine, pinned, impl, shape, batch, threads):
    w = weight(shape, 0.0, "unstructured")
    benchmark(baseline(impl, w, activations(shape[1], batch)))
    _record(benchmark, machine, impl, shape, 0.0, batch, threads, "dense", w.size,
            w.nbytes + _io_bytes(shape, batch))
