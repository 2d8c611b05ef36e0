"""sparsekit.nn.MaxPool2d (kernels.pool) against torch's nn.MaxPool2d."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from sparsekit.nn.pool import MaxPool2d


@settings(max_examples=120, deadline=None)
@given(b=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 11), w=st.integers(1, 11),
       kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       data=st.data(), dtype=st.sampled_from([torch.float32, torch.float64]),
       specials=st.booleans(), seed=st.integers(0, 99))
def test_max_pool_matches_torch(b, c, h, w, kh, kw, sh, sw, data, dtype, specials, seed):
    ph, pw = data.draw(st.integers(0, kh // 2)), data.draw(st.integers(0, kw // 2))
    if (h + 2 * ph - kh) // sh + 1 < 1 or (w + 2 * pw - kw) // sw + 1 < 1:
        return
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c, h, w, generator=g, dtype=dtype)
    if specials:  # NaN wins wherever it is in the window; ±inf like any value
        picks = torch.randint(0, 8, x.shape, generator=g)
        x[picks == 0] = float("nan")
        x[picks == 1] = float("inf")
        x[picks == 2] = -float("inf")
    pool = MaxPool2d((kh, kw), (sh, sw), (ph, pw))
    expected = F.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw))
    with torch.no_grad():
        np.testing.assert_array_equal(pool(x).numpy(), expected.numpy())
        np.testing.assert_array_equal(pool(x[0]).numpy(), expected[0].numpy())


def test_from_dense_copies_the_geometry_and_refuses_what_the_kernel_cannot_run():
    pool = MaxPool2d.from_dense(nn.MaxPool2d(3, 2, 1))
    assert (pool.kernel_size, pool.stride, pool.padding) == (3, 2, 1)
    for unsupported in (nn.MaxPool2d(3, 2, 1, dilation=2), nn.MaxPool2d(3, ceil_mode=True),
                        nn.MaxPool2d(2, return_indices=True)):
        assert not MaxPool2d.supports(unsupported)
        with pytest.raises(ValueError, match="dilation 1"):
            MaxPool2d.from_dense(unsupported)
    with pytest.raises(ValueError, match="padding at most half"):
        MaxPool2d(2, 2, 2)


def test_what_the_kernel_does_not_cover_runs_torchs_pool():
    pool = MaxPool2d(2)
    x = torch.randn(1, 2, 4, 4, requires_grad=True)
    y = pool(x)
    y.sum().backward()                       # autograd: torch's own op
    assert x.grad is not None
    half = torch.randn(1, 2, 4, 4).half()
    torch.testing.assert_close(pool(half), F.max_pool2d(half, 2))
    with pytest.raises(RuntimeError):
        pool(torch.randn(1, 1, 1, 1))        # window larger than the input: torch's error


def test_sparsify_runs_max_pools_on_the_kernel_with_the_same_results():
    import sparsekit as sk
    from sparsekit import models
    model = models.resnet18().eval()
    x = models.example_input("resnet18")
    sk.prune.magnitude(model, 0.9)
    fast, report = sk.sparsify(model, "csr", example_input=x, return_report=True)
    pools = [m for m in fast.modules() if isinstance(m, nn.MaxPool2d)]
    assert pools and all(type(m) is MaxPool2d for m in pools)
    assert any(r["type"] == "MaxPool2d" and "max-pool kernel" in r["reason"]
               for r in report)
    assert all(type(m) is nn.MaxPool2d for m in model.modules()
               if isinstance(m, nn.MaxPool2d))            # the original keeps torch's
    kept = sk.sparsify(model, "csr", example_input=x, fast_pool=False)
    assert all(type(m) is nn.MaxPool2d for m in kept.modules() if isinstance(m, nn.MaxPool2d))
    with torch.no_grad():
        torch.testing.assert_close(fast(x), kept(x), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(fast(x), model(x), rtol=1e-3, atol=1e-3)


def test_the_kernel_pool_is_traced_like_torchs():
    """sk.analyze / sk.estimate see the Numba max-pool as they see torch's: one op with the
    same bytes and FLOPs (the kind names the kernel's op, without torch's indices)."""
    from sparsekit.model.tracing import trace_forward
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(3, 2, 1)).eval()
    x = torch.randn(1, 3, 12, 12)
    fast = nn.Sequential(model[0], MaxPool2d.from_dense(model[1]))
    ops = {}
    for m in (model, fast):
        pools = [o for o in trace_forward(m, x).ops if "pool" in o.kind]
        assert len(pools) == 1
        ops[m] = pools[0]
    torch_op, kernel_op = ops[model], ops[fast]
    assert kernel_op.kind == "max_pool2d"
    assert kernel_op.bytes_read == torch_op.bytes_read
    assert kernel_op.flops == torch_op.flops
    out_bytes = 4 * 4 * 5 * 5   # the pooled output; torch also writes int64 indices
    assert kernel_op.bytes_written == out_bytes


def test_max_pool_split_across_threads_matches_torch(restore_threads):
    import sparsekit as sk
    from sparsekit.kernels.threads import num_parts
    sk.set_num_threads(2)
    x = torch.randn(2, 5, 64, 64)
    x[0, 3, 10, 10] = float("nan")
    assert num_parts(x.numel() * 3) == 2                  # big enough to run in parallel
    with torch.no_grad():
        np.testing.assert_array_equal(MaxPool2d(3, 2, 1)(x).numpy(),
                                      F.max_pool2d(x, 3, 2, 1).numpy())
