"""The SIMD intrinsics the structured SpMV kernels are built from, against numpy: each
reads and writes only what its docstring says (sentinels around the buffers)."""
import numba
import numpy as np
import pytest

from sparsekit.kernels.simd import (vfmav, vhalves_sum, vload_first,
                                    vload_quads, vquad_sum, vsplat_halves, vstore_first,
                                    vzero)

LANES = {np.float32: 16, np.float64: 8}


@numba.njit
def _block_times_x(block, x, off, count):
    acc = vfmav(vzero(block), vload_first(block, 0, 16), vload_quads(x, off, count))
    return vquad_sum(acc, 0), vquad_sum(acc, 1), vquad_sum(acc, 2), vquad_sum(acc, 3)


@pytest.mark.parametrize("count", [0, 1, 2, 3, 4])
def test_vload_quads_and_vquad_sum_are_a_4x4_block_product(count):
    block = np.random.default_rng(count).standard_normal(16).astype(np.float32)
    x = np.full(9, np.nan, np.float32)   # NaN past the count: never read
    x[3:3 + count] = np.arange(1, count + 1)
    got = np.array(_block_times_x(block, x, 3, count))
    expected = block.reshape(4, 4)[:, :count].astype(np.float64) @ x[3:3 + count]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@numba.njit
def _two_vectors(pair, x, i, j, out):
    acc = vfmav(vzero(pair), vload_first(pair, 0, 16), vsplat_halves(x, i, j, pair))
    for r in range(8):
        out[r] = vhalves_sum(acc, r)


def test_vsplat_halves_and_vhalves_sum_add_two_scaled_vectors():
    pair = np.arange(16, dtype=np.float32)
    x = np.array([0, 2, 0, -3], np.float32)
    out = np.empty(8, np.float32)
    _two_vectors(pair, x, 1, 3, out)
    np.testing.assert_array_equal(out, 2 * pair[:8] - 3 * pair[8:])


@numba.njit
def _store(dst, at, src, count):
    vstore_first(dst, at, vload_first(src, 0, count), count)


def test_vstore_first_writes_only_count():
    dst = np.full(20, -1, np.float32)
    _store(dst, 2, np.arange(16, dtype=np.float32), 5)
    np.testing.assert_array_equal(dst[2:7], np.arange(5))
    assert (dst[:2] == -1).all() and (dst[7:] == -1).all()
