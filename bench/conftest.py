"""Shared set-up of the kernel benchmarks: the grid, cached weights, pinned thread counts."""
import functools
import os

import numpy as np
import pytest

import sparsekit as sk
from sparsekit.formats import pack
from sparsekit.benchmarking.workloads import random_weight

GRIDS = {
    # The grid of issue 2: shapes × sparsity × batch × threads.
    "full": dict(shapes=[(4096, 4096), (1024, 4096), (256, 2304)],
                 sparsities=[0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98],
                 batches=[1, 16, 64, 256], threads=[1, 2]),
    # The points the README's targets name, for a run of a few minutes.
    "targets": dict(shapes=[(4096, 4096)], sparsities=[0.0, 0.3, 0.5, 0.7, 0.9],
                    batches=[1, 64, 256], threads=[1, 2]),
    # One point per kind, for CI smoke runs (--benchmark-disable).
    "smoke": dict(shapes=[(256, 2304)], sparsities=[0.9], batches=[1, 16], threads=[1]),
}
BLOCK = (4, 4)
VECTOR = 8


def pytest_addoption(parser):
    parser.addoption("--sk-grid", default=os.environ.get("SK_GRID", "smoke"),
                     choices=sorted(GRIDS), help="benchmark grid (default: smoke)")


def pytest_generate_tests(metafunc):
    grid = GRIDS[metafunc.config.getoption("--sk-grid")]
    for name, key in (("shape", "shapes"), ("sparsity", "sparsities"), ("batch", "batches"),
                      ("threads", "threads")):
        if name in metafunc.fixturenames:
            values = grid[key]
            metafunc.parametrize(name, values, ids=[_id(v) for v in values], scope="module")


def _id(v):
    return "x".join(map(str, v)) if isinstance(v, tuple) else str(v)


@functools.lru_cache(maxsize=6)
def weight(shape, sparsity, structure):
    return random_weight(shape, sparsity, structure, block=BLOCK, vector=VECTOR, seed=1)


@functools.lru_cache(maxsize=6)
def sparse_matrix(fmt, shape, sparsity, structure):
    return pack(weight(shape, sparsity, structure), fmt, block=BLOCK, vector=VECTOR)


@functools.lru_cache(maxsize=4)
def activations(k, batch):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((k, batch) if batch > 1 else k).astype(np.float32)
    return x


@pytest.fixture
def pinned(threads):
    """Numba, torch and OpenBLAS all run with ``threads`` threads."""
    from threadpoolctl import threadpool_limits
    import torch  # noqa: F401  (so set_num_threads reaches torch too)
    sk.set_num_threads(threads)
    with threadpool_limits(threads):
        yield threads


@pytest.fixture(scope="session")
def machine():
    """This machine's measured read bandwidth (1 and 2 threads), recorded in every result."""
    import numba

    from sparsekit.kernels.probe import read_bandwidth
    bw = {}
    for n in range(1, numba.config.NUMBA_NUM_THREADS + 1):
        sk.set_num_threads(n)
        bw[n] = read_bandwidth()
    return {"read_bandwidth_Bps": bw,
            "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "")}
