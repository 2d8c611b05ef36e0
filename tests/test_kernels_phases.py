"""The phase kernel (``kernels.phases``): a padded image split into its stride phases in one
pass, equal to torch's pad and permuted copy, and refused where the shapes disagree."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsekit.kernels.phases import split_phases, subsample


def _torch_phases(x, pad, sh, sw):
    left, right, top, bottom = pad
    c, h, w = x.shape
    hq, wq = -(-(h + top + bottom) // sh), -(-(w + left + right) // sw)
    padded = F.pad(torch.from_numpy(x), (left, right + wq * sw - (w + left + right),
                                         top, bottom + hq * sh - (h + top + bottom)))
    return padded.reshape(c, hq, sh, wq, sw).permute(2, 4, 0, 1, 3).contiguous().numpy()


@settings(max_examples=120, deadline=None)
@given(c=st.integers(1, 5), h=st.integers(1, 19), w=st.integers(1, 40),
       pad=st.tuples(*[st.integers(0, 4)] * 4), sh=st.integers(1, 4), sw=st.integers(1, 4),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 99))
def test_split_matches_torchs_pad_and_permute(c, h, w, pad, sh, sw, dtype, seed):
    x = np.random.default_rng(seed).standard_normal((c, h, w)).astype(dtype)
    expected = _torch_phases(x, pad, sh, sw)
    out = np.full(expected.shape, np.nan, dtype)   # every element is written
    split_phases(x, pad, out)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("bad", [
    dict(out=np.empty((2, 2, 3, 6, 5), np.float32)),          # Hq of 10 + 2 rows is 6
    dict(out=np.empty((2, 2, 4, 6, 6), np.float32)),          # channels
    dict(out=np.empty((2, 2, 3, 6, 6), np.float64)),          # dtype
    dict(out=np.empty((2, 2, 3, 6, 12), np.float32)[..., ::2]),   # not contiguous
    dict(pad=(-1, 1, 1, 1)),
    dict(x=np.zeros((3, 10, 20), np.float32)[:, :, ::2]),
])
def test_disagreeing_shapes_are_refused(bad):
    args = dict(x=np.zeros((3, 10, 10), np.float32), pad=(1, 1, 1, 1),
                out=np.empty((2, 2, 3, 6, 6), np.float32)) | bad
    with pytest.raises(ValueError, match="split_phases"):
        split_phases(**args)


@settings(max_examples=60, deadline=None)
@given(c=st.integers(1, 5), h=st.integers(1, 19), w=st.integers(1, 40), sh=st.integers(1, 4),
       sw=st.integers(1, 4), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 99))
def test_subsample_is_the_strided_view(c, h, w, sh, sw, dtype, seed):
    x = np.random.default_rng(seed).standard_normal((c, h, w)).astype(dtype)
    out = np.full((c, -(-h // sh), -(-w // sw)), np.nan, dtype)
    subsample(x, (sh, sw), out)
    np.testing.assert_array_equal(out, x[:, ::sh, ::sw])


@pytest.mark.parametrize("out", [np.empty((3, 5, 4), np.float32), np.empty((3, 5, 5), np.float64),
                                 np.empty((2, 5, 5), np.float32)])
def test_subsample_refuses_a_wrong_output(out):
    with pytest.raises(ValueError, match="subsample"):
        subsample(np.zeros((3, 10, 10), np.float32), (2, 2), out)


@pytest.mark.parametrize("shape, pad, stride", [((8, 91, 90), (1, 1, 1, 1), (2, 2)),
                                                ((3, 224, 224), (3, 3, 3, 3), (2, 2)),
                                                ((24, 57, 64), (0, 2, 1, 0), (1, 3))])
def test_split_shared_across_threads_matches_torch(shape, pad, stride, restore_threads):
    import sparsekit as sk
    from sparsekit.kernels.threads import num_parts
    sk.set_num_threads(2)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    expected = _torch_phases(x, pad, *stride)
    assert num_parts(expected.size) == 2                  # big enough to run in parallel
    out = np.full(expected.shape, np.nan, np.float32)
    split_phases(x, pad, out)
    np.testing.assert_array_equal(out, expected)


def test_subsample_shared_across_threads_is_the_strided_view(restore_threads):
    import sparsekit as sk
    from sparsekit.kernels.threads import num_parts
    sk.set_num_threads(2)
    x = np.random.default_rng(2).standard_normal((64, 113, 112)).astype(np.float32)
    out = np.full((64, 57, 56), np.nan, np.float32)
    assert num_parts(out.size) == 2                       # big enough to run in parallel
    subsample(x, (2, 2), out)
    np.testing.assert_array_equal(out, x[:, ::2, ::2])
