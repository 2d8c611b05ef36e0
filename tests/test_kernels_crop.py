"""``kernels.crop.keep_columns``: the first Wo columns of each Wq-wide row of a conv's output
buffer, equal to the strided view it replaces, on one thread and shared across two, and
refused where the shapes disagree."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsekit.kernels.crop import keep_columns


def _kept(wide, wq, ho, wo):
    return np.lib.stride_tricks.as_strided(
        wide, (wide.shape[0], ho, wo), (wide.strides[0], wq * wide.itemsize, wide.itemsize))


@settings(max_examples=80, deadline=None)
@given(c=st.integers(1, 6), ho=st.integers(1, 12), wo=st.integers(1, 40),
       extra=st.integers(0, 5), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 99))
def test_keep_columns_is_the_strided_view(c, ho, wo, extra, dtype, seed):
    wq = wo + extra
    wide = np.random.default_rng(seed).standard_normal((c, (ho - 1) * wq + wo)).astype(dtype)
    wide[0, 0] = np.nan                       # values are copied, never computed with
    out = np.full((c, ho, wo), 7.0, dtype)
    keep_columns(wide, wq, out)
    np.testing.assert_array_equal(out, _kept(wide, wq, ho, wo))


@pytest.mark.parametrize("c, ho, wo, wq", [(64, 56, 56, 58), (512, 15, 14, 16), (9, 131, 60, 62)])
def test_keep_columns_shared_across_threads(c, ho, wo, wq, restore_threads):
    import sparsekit as sk
    from sparsekit.kernels.threads import num_parts
    sk.set_num_threads(2)
    assert num_parts(c * ho * wo) == 2                  # big enough to run in parallel
    wide = np.random.default_rng(1).standard_normal((c, (ho - 1) * wq + wo)).astype(np.float32)
    out = np.full((c, ho, wo), np.nan, np.float32)
    keep_columns(wide, wq, out)
    np.testing.assert_array_equal(out, _kept(wide, wq, ho, wo))


@pytest.mark.parametrize("wide, wq, out", [
    (np.zeros((3, 4 * 6 + 5), np.float32), 6, np.empty((3, 5, 5), np.float64)),   # dtype
    (np.zeros((3, 4 * 6 + 5), np.float32), 6, np.empty((2, 5, 5), np.float32)),   # channels
    (np.zeros((3, 4 * 6 + 5), np.float32), 7, np.empty((3, 5, 5), np.float32)),   # width
    (np.zeros((3, 4 * 6 + 5), np.float32), 4, np.empty((3, 5, 5), np.float32)),   # wq < Wo
    (np.zeros((3, 60), np.float32)[:, ::2], 6, np.empty((3, 5, 5), np.float32)),  # strided
    (np.zeros((3, 4 * 6 + 5), np.float32), 6, np.empty((3, 5, 10), np.float32)[..., ::2]),
])
def test_disagreeing_shapes_are_refused(wide, wq, out):
    with pytest.raises(ValueError, match="keep_columns"):
        keep_columns(wide, wq, out)
