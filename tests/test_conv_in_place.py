"""Convolutions read the padded image in place, split into its stride phases
(``matmul_rows_at``: the SpMM kernels with row starts, every format), instead of building
im2col: against torch's conv2d, and the checks."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import sparsekit as sk
from sparsekit.nn import SparseConv2d


PACKS = [sk.CSR.from_dense, lambda w: sk.BSR.from_dense(w, (4, 4)),
         lambda w: sk.BSR.from_dense(w, (3, 5)), lambda w: sk.VectorSkip.from_dense(w, 8),
         lambda w: sk.VectorSkip.from_dense(w, 3)]


@settings(max_examples=150, deadline=None)
@given(c=st.integers(1, 4), m=st.integers(1, 9), h=st.integers(1, 12),
       w=st.sampled_from([1, 5, 15, 16, 17, 31, 33, 48, 63, 64, 65, 70]),
       kh=st.integers(1, 3), kw=st.integers(1, 3), dh=st.integers(1, 2), dw=st.integers(1, 2),
       sh=st.integers(1, 3), sw=st.integers(1, 3),
       pad=st.tuples(*[st.integers(0, 2)] * 4), batch=st.sampled_from([1, 3]),
       dtype=st.sampled_from([torch.float32, torch.float64]),
       sparsity=st.sampled_from([0.0, 0.5, 0.9, 1.0]), seed=st.integers(0, 99),
       pack=st.sampled_from(PACKS), in_place=st.booleans(), gather=st.booleans(),
       fold=st.booleans(), mode=st.sampled_from(["zeros", "zeros", "reflect", "circular"]),
       bias=st.booleans())
def test_strided_conv_matches_torch(c, m, h, w, kh, kw, dh, dw, sh, sw, pad, batch, dtype,
                                    sparsity, seed, pack, in_place, gather, fold, mode, bias):
    """Every path: in place, im2col by the gather kernel or by torch's copy, per image or
    folded over the batch, with each padding mode."""
    left, right, top, bottom = pad
    if h + top + bottom < dh * (kh - 1) + 1 or w + left + right < dw * (kw - 1) + 1:
        return
    if mode != "zeros" and (max(left, right) >= w or max(top, bottom) >= h):
        return                       # reflect/circular padding must be narrower than the image
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(m, c, kh, kw, generator=g, dtype=dtype)
    weight[torch.rand(weight.shape, generator=g) < sparsity] = 0
    conv = nn.Conv2d(c, m, (kh, kw), (sh, sw), dilation=(dh, dw), bias=bias, dtype=dtype)
    with torch.no_grad():
        conv.weight.copy_(weight)
    matrix = pack(weight.reshape(m, -1))
    layer = SparseConv2d(matrix, c, (kh, kw), (sh, sw), padding=pad, dilation=(dh, dw),
                         padding_mode=mode, bias=conv.bias.detach() if bias else None)
    layer._in_place_pays = lambda *shape: in_place   # every path, whatever the shapes
    layer.GATHER_BELOW = 1 << 30 if gather else 0
    layer.FOLD_BELOW = 1 << 30 if fold else 0
    x = torch.randn(batch, c, h, w, generator=g, dtype=dtype)
    padded = F.pad(x, pad, mode="constant" if mode == "zeros" else mode)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), conv(padded), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride", [(2, 2), (3, 2), (1, 3)])
@pytest.mark.parametrize("hw", [(7, 7), (8, 13), (1, 5)])
@pytest.mark.parametrize("batch", [1, 2])
def test_strided_1x1_conv_matches_torch(stride, hw, batch):
    """A strided 1×1 conv on one image reads X from ``subsample`` (a ResNet downsample)."""
    g = torch.Generator().manual_seed(7)
    conv = nn.Conv2d(6, 5, 1, stride, bias=True)
    with torch.no_grad():
        conv.weight.mul_(torch.rand(conv.weight.shape, generator=g) < 0.5)
    layer = SparseConv2d.from_dense(conv)
    x = torch.randn(batch, 6, *hw, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), conv(x), rtol=1e-5, atol=1e-5)


def test_matmul_rows_at_reads_overlapping_rows_and_refuses_rows_outside_x():
    a = sk.CSR.from_dense(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]], np.float32))
    x = np.arange(10, dtype=np.float32)
    starts = np.array([0, 1, 5], np.int64)          # X rows x[0:4], x[1:5], x[5:9]
    out = np.full((2, 4), np.nan, np.float32)
    a.matmul_rows_at(x, starts, out)
    X = np.stack([x[s:s + 4] for s in starts])
    np.testing.assert_array_equal(out, a.toarray() @ X)
    for bad in [dict(starts=np.array([0, 1, 7], np.int64)),      # x[7:11] leaves x
                dict(starts=np.array([-1, 1, 5], np.int64)),
                dict(starts=starts[:2]), dict(starts=starts.astype(np.int32)),
                dict(x=x.astype(np.float64)), dict(x=x[::2]),
                dict(out=np.empty((3, 4), np.float32)),
                dict(out=np.empty((2, 8), np.float32)[:, ::2])]:
        args = dict(x=x, starts=starts, out=out) | bad
        with pytest.raises(ValueError, match="matmul_rows_at"):
            a.matmul_rows_at(**args)



@pytest.mark.parametrize("n", [4, 70])    # 70 columns of 600: the K-tiled copy too
def test_csr_rows_at_follows_starts_that_change(n):
    """CSR keeps each entry's row offset for the last starts: new starts, and the caller's
    array changed in place after a call, are both read afresh."""
    rng = np.random.default_rng(3)
    w = np.where(rng.random((40, 600)) < 0.2, rng.standard_normal((40, 600)), 0)
    a = sk.CSR.from_dense(w.astype(np.float32))
    x = rng.standard_normal(2000).astype(np.float32)
    starts = rng.integers(0, x.size - n - 1, 600).astype(np.int64)
    for step in range(4):
        now = starts + 1 if step == 3 else starts   # a new array of the same length
        out = a.matmul_rows_at(x, now, np.empty((40, n), np.float32))
        X = np.stack([x[s:s + n] for s in now])
        np.testing.assert_allclose(out, a.toarray() @ X, rtol=1e-4, atol=1e-4)
        starts[rng.integers(0, 600, 50)] = rng.integers(0, x.size - n - 1, 50)   # in place


def test_in_place_only_where_it_does_not_add_vector_passes():
    pays = SparseConv2d._in_place_pays
    # resnet at 224 (float32, 16 lanes): 56², 28², 14², 7² outputs read in place
    assert all(pays(n, n, n + 2, 4) for n in (56, 28, 14, 7))
    assert not pays(4, 4, 6, 4)          # 16 columns would become 22: two vectors, not one
    # float64 (8 lanes): 8×8 -> 78 columns is 10 vectors for 8, 16×16 -> 286 is 36 for 32
    assert not pays(8, 8, 10, 8) and pays(16, 16, 18, 8)


def test_a_layer_keeps_one_plan_per_input_shape():
    """``forward``'s choices are kept per input shape and dtype: a layer called on shapes in
    turn (more of them than it keeps), and again after ``load_state_dict`` gives it another
    stride and padding, matches torch's conv each time."""
    g = torch.Generator().manual_seed(5)
    conv = nn.Conv2d(3, 4, 3, padding=1, dtype=torch.float64)
    other = nn.Conv2d(3, 4, 3, stride=2, padding=2, dtype=torch.float64)
    layer = SparseConv2d.from_dense(conv).double()
    more = [(5 + i, 7) for i in range(SparseConv2d.MAX_PLANS)]   # more than it keeps
    sides = [(9, 9), (16, 12), (9, 9), (3, 20)] + more
    with torch.no_grad():
        for h, w in sides + sides[:2]:
            x = torch.randn(2 if h == 16 else 1, 3, h, w, generator=g, dtype=torch.float64)
            torch.testing.assert_close(layer(x), conv(x))
            torch.testing.assert_close(layer(x.float().double()[0]), conv(x)[0])
        layer.load_state_dict(SparseConv2d.from_dense(other).double().state_dict())
        x = torch.randn(1, 3, 9, 9, generator=g, dtype=torch.float64)
        torch.testing.assert_close(layer(x), other(x))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(3, 7, 2, 3, 128), (2, 3, 1, 1, 80), (4, 3, 1, 0, 66)])
def test_output_rows_written_in_place(shape, dtype, threads):
    """Where each output row is a whole panel or more (``_segments_pay``), a CSR conv read in
    place writes its output rows straight into the output (``kernels.csr_spmm``'s segments):
    equal to torch's conv, with a ReLU and a residual added in the kernels, on one thread and
    split over two."""
    c, k, s, p, side = shape
    g = torch.Generator().manual_seed(11)
    conv = nn.Conv2d(c, 5, k, s, p, dtype=dtype)
    with torch.no_grad():
        conv.weight.mul_(torch.rand(conv.weight.shape, generator=g, dtype=dtype) < 0.4)
    layer = SparseConv2d.from_dense(conv)
    layer.relu = True
    x = torch.randn(2, c, side, side, generator=g, dtype=dtype)
    before = sk.get_num_threads()
    try:
        sk.set_num_threads(threads)
        with torch.no_grad():
            ref = conv(x)
            residual = torch.randn(ref.shape, generator=g, dtype=dtype)
            out = layer(x, residual=residual)
    finally:
        sk.set_num_threads(before)
    assert layer._plans[(x.shape, dtype)].segments
    torch.testing.assert_close(out, torch.relu(ref + residual))


def test_a_plan_goes_with_the_format_it_was_made_for():
    """A CSR layer writes the stem's output rows in place (``segments``); after
    ``load_state_dict`` brings a BSR matrix, which cannot, the layer plans afresh."""
    g = torch.Generator().manual_seed(2)
    conv = nn.Conv2d(3, 8, 7, 2, 3)
    layer = SparseConv2d.from_dense(conv, "csr")
    x = torch.randn(1, 3, 128, 128, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), conv(x), rtol=1e-4, atol=1e-4)
        assert layer._plans[(x.shape, x.dtype)].segments
        layer.load_state_dict(SparseConv2d.from_dense(conv, "bsr").state_dict())
        assert layer.format == "bsr"
        torch.testing.assert_close(layer(x), conv(x), rtol=1e-4, atol=1e-4)
