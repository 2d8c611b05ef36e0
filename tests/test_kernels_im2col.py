"""The gather im2col kernel (kernels/im2col.py) against torch's F.unfold, and its checks."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsekit.kernels.im2col import im2col


@settings(max_examples=120, deadline=None)
@given(c=st.integers(1, 5), h=st.integers(1, 9), w=st.integers(1, 9), kh=st.integers(1, 3),
       kw=st.integers(1, 3), sh=st.integers(1, 3), sw=st.integers(1, 3), dh=st.integers(1, 2),
       dw=st.integers(1, 2), pad=st.tuples(*[st.integers(0, 2)] * 4),
       col0=st.integers(0, 3), dtype=st.sampled_from([np.float32, np.float64]))
def test_im2col_matches_unfold_of_the_padded_image(c, h, w, kh, kw, sh, sw, dh, dw, pad, col0,
                                                   dtype):
    left, right, top, bottom = pad
    if h + top + bottom < dh * (kh - 1) + 1 or w + left + right < dw * (kw - 1) + 1:
        return
    x = np.random.default_rng(c * h * w).standard_normal((c, h, w)).astype(dtype)
    ref = F.unfold(F.pad(torch.from_numpy(x)[None], pad), (kh, kw), dilation=(dh, dw),
                   stride=(sh, sw))[0].numpy()
    out = np.full((c * kh * kw, col0 + ref.shape[1] + 2), np.nan, dtype)
    ho, wo = im2col(x, (kh, kw), (sh, sw), (dh, dw), pad, out, col0)
    assert ho * wo == ref.shape[1]
    np.testing.assert_array_equal(out[:, col0:col0 + ho * wo], ref)
    assert np.isnan(out[:, :col0]).all() and np.isnan(out[:, col0 + ho * wo:]).all()


def _args(**change):
    x = np.zeros((2, 4, 4), np.float32)
    args = dict(x=x, kernel=(3, 3), stride=(1, 1), dilation=(1, 1), pad=(1, 1, 1, 1),
                out=np.zeros((18, 16), np.float32), col0=0)
    args.update(change)
    return args


@pytest.mark.parametrize("change, message", [
    (dict(out=np.zeros((18, 16), np.float64)), "dtype"),
    (dict(out=np.zeros((16, 18), np.float32).T), "C-contiguous"),
    (dict(x=np.zeros((2, 4, 4, 1), np.float32)), "C-contiguous"),
    (dict(out=np.zeros((17, 16), np.float32)), "do not fit"),
    (dict(out=np.zeros((18, 15), np.float32)), "do not fit"),
    (dict(col0=1), "do not fit"),
    (dict(col0=-1), "do not fit"),
    (dict(stride=(0, 1)), ">= 1"),
    (dict(pad=(-1, 0, 0, 0)), ">= 0"),
    (dict(kernel=(7, 7)), "smaller than the kernel"),
])
def test_im2col_refuses_what_would_write_outside_out(change, message):
    with pytest.raises(ValueError, match=message):
        im2col(**_args(**change))
