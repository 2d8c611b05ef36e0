"""The SIMD transpose kernel (a sparse Linear's input as the kernels' X): exact on every shape,
whole blocks, edges and empty ones, in both dtypes."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsekit.kernels.transpose import _swap_masks, transpose
from sparsekit.nn import SparseLinear


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 70), k=st.integers(0, 70), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 99))
def test_transpose_equals_numpy(n, k, dtype, seed):
    x = np.random.default_rng(seed).standard_normal((n, k)).astype(dtype)
    out = np.full((k, n), np.nan, dtype)
    np.testing.assert_array_equal(transpose(x, out), x.T)


@pytest.mark.parametrize("lanes", [8, 16])
def test_four_rounds_of_swaps_transpose_a_block(lanes):
    """The shuffle masks alone, applied as the intrinsic applies them, transpose an L × L
    block of labels."""
    rows = [[(r, c) for c in range(lanes)] for r in range(lanes)]
    bit = 1
    while bit < lanes:
        first, second = _swap_masks(lanes, bit)
        for r in range(lanes):
            if not r & bit:
                both = rows[r] + rows[r + bit]
                rows[r], rows[r + bit] = [both[i] for i in first], [both[i] for i in second]
        bit *= 2
    assert rows == [[(c, r) for c in range(lanes)] for r in range(lanes)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sparse_linear_reads_batched_input_of_any_layout(dtype):
    """A batch of contiguous rows goes through the transpose kernel, a strided one through
    torch: both equal the dense Linear."""
    g = torch.Generator().manual_seed(4)
    lin = torch.nn.Linear(40, 24, dtype=dtype)
    with torch.no_grad():
        lin.weight.mul_(torch.rand(lin.weight.shape, generator=g, dtype=dtype) < 0.3)
    layer = SparseLinear.from_dense(lin)
    x = torch.randn(3, 37, 40, generator=g, dtype=dtype)
    with torch.no_grad():
        for inp in (x, x[:, ::2], x.transpose(0, 1)):
            torch.testing.assert_close(layer(inp), lin(inp))
