"""Bad input and reliability of the executable formats: a format owns its arrays (the caller
cannot change them after validation), block and vector sizes are bounded by the shape,
from_dense converts in chunks (bounded peak memory), shapes and sizes are validated the same
way everywhere, half-precision input gets this library's message, and the thread count set by
sk.set_num_threads reaches every Python thread.

Reproducers that crashed the interpreter run in a subprocess, so a regression fails the test
instead of killing pytest."""
import subprocess
import sys
import textwrap
import threading
import tracemalloc

import numba
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import sparsekit as sk
from helpers import SPECS, build, random_sparse
from sparsekit.formats import params
from sparsekit.kernels import threads as kthreads
from sparsekit.prune.masks import check_level


def run_isolated(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (a segfault there is a failed test here)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300)


def _assert_ok(r):
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"


# -- the repros: the caller changes its arrays after validation ------------------------------
def test_alias_csr_indices():
    """repro/alias_csr.py: uint32 indices were kept without a copy; changed to 4e9 after
    validation, the product read out of bounds (SIGSEGV)."""
    _assert_ok(run_isolated("""
        import numpy as np, sparsekit as sk
        k = 70000
        idx = np.array([0, 1], np.uint32)
        A = sk.CSR(np.ones(2, np.float32), idx, np.array([0, 2], np.uint16), (1, k))
        assert not np.shares_memory(A.indices, idx)
        idx[1] = 4_000_000_000
        y = A @ np.ones(k, np.float32)
        assert y.tolist() == [2.0], y
    """))


def test_alias_csr_pointers():
    """repro/alias_ptr.py: a changed pointer made row 0 claim 60000 entries."""
    _assert_ok(run_isolated("""
        import numpy as np, sparsekit as sk
        ptr = np.array([0, 1], np.uint16)
        A = sk.CSR(np.ones(1, np.float32), np.array([0], np.uint8), ptr, (1, 4))
        assert not np.shares_memory(A.indptr, ptr)
        ptr[1] = 60000
        assert (A @ np.ones(4, np.float32)).tolist() == [1.0]
    """))


def test_alias_vectorskip_bitmap():
    """repro/alias_vs.py: a changed bitmap claimed 64 vectors where one is stored."""
    _assert_ok(run_isolated("""
        import numpy as np, sparsekit as sk
        bm = np.zeros((1, 1), np.uint64); bm[0, 0] = 1
        A = sk.VectorSkip(np.ones((1, 8), np.float32), bm, np.array([0, 1]), (8, 64))
        assert not np.shares_memory(A.bitmap, bm)
        bm[0, 0] = np.uint64(2**64 - 1)
        X = np.ones((64, 4), np.float32)
        assert (A @ X == 1).all()
        D = A.to_dense()
        assert D[:, 0].tolist() == [1.0] * 8 and not D[:, 1:].any()
    """))


def _raw_parts(A):
    """Constructor arguments of A as fresh writable numpy arrays of the widest dtypes."""
    values, first, second, shape = A._parts()
    first = first.copy() if first.dtype == np.uint64 else first.astype(np.int64)
    return values.copy(), first, second.astype(np.int64), shape


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_constructors_copy_every_array(spec, kind):
    W = random_sparse(np.random.default_rng(0), 11, 70, 0.3)
    A = build(spec, W)
    raw = list(_raw_parts(A))
    if kind == "torch":
        raw[:3] = [torch.from_numpy(a) for a in raw[:3]]
    B = type(A)(*raw)
    for mine, theirs in zip(B._parts()[:3], raw[:3]):
        theirs = theirs.numpy() if kind == "torch" else theirs
        assert not np.shares_memory(mine, theirs)
    for theirs in raw[:3]:  # scribble over every caller array
        if kind == "torch":
            theirs.fill_(7) if theirs.dtype != torch.uint64 else theirs.numpy().fill(7)
        else:
            theirs.fill(7)
    np.testing.assert_array_equal(B.to_dense(), W)
    np.testing.assert_allclose(B @ np.ones(70), W @ np.ones(70))


def test_accessors_are_read_only(spec):
    A = build(spec, random_sparse(np.random.default_rng(1), 9, 70, 0.4))
    names = {"csr": ("data", "indices", "indptr"), "bsr": ("blocks", "indices", "indptr"),
             "vectorskip": ("vectors", "bitmap", "panel_ptr")}[A.format]
    for name in (*names, "values"):
        a = getattr(A, name)
        assert not a.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            a[...] = 0
        with pytest.raises(ValueError):
            a.flags.writeable = True  # a view of a frozen array: cannot be turned back on
        with pytest.raises(AttributeError):
            setattr(A, name, np.zeros_like(a))
    for name in ("shape", "dtype"):
        with pytest.raises(AttributeError):
            setattr(A, name, getattr(A, name))


def test_derived_formats_are_frozen_too(spec):
    """from_dense, from_scipy, from_torch, .T, astype, copy: every route freezes its arrays
    (a view over a writable base could otherwise be re-enabled)."""
    import scipy.sparse as sp
    W = random_sparse(np.random.default_rng(2), 8, 12, 0.4)
    A = build(spec, W)
    _, cls, kw = spec
    made = [A, cls.from_scipy(sp.csr_array(W), **kw), cls.from_torch(torch.from_numpy(W), **kw),
            cls.from_torch(torch.from_numpy(W).to_sparse(), **kw), A.astype(np.float32),
            A.copy()]
    if not isinstance(A, sk.VectorSkip):
        made.append(A.T)
    for B in made:
        for a in B._parts()[:3]:
            with pytest.raises(ValueError):
                a.view().flags.writeable = True


# -- block and vector sizes bounded by the shape --------------------------------------------
@pytest.mark.parametrize("which", ["bsr", "vs"])
def test_huge_block_repro(which):
    """repro/huge_block.py 26: a 1×1 matrix whose (empty) blocks claim 2**26 rows allocated
    256 MB of scratch in the kernel; now the constructor refuses it, naming the sizes."""
    r = 2 ** 26
    with pytest.raises(ValueError, match=f"{r}.*1×1.*at most max") as e:
        if which == "bsr":
            sk.BSR(np.zeros((0, r, 1), np.float32), np.array([], np.int64), [0, 0], (1, 1))
        else:
            sk.VectorSkip(np.zeros((0, r), np.float32), np.zeros((1, 1), np.uint64), [0, 0],
                          (1, 1))
    assert str(params.MAX_OVERHANG) in str(e.value)


@given(m=st.integers(0, 200), k=st.integers(0, 200), r=st.integers(1, 300),
       c=st.integers(1, 300))
def test_block_bound(m, k, r, c):
    ok = r <= max(m, params.MAX_OVERHANG) and c <= max(k, params.MAX_OVERHANG)
    if ok:
        assert params.check_block_for_shape((r, c), (m, k)) == (r, c)
    else:
        with pytest.raises(ValueError, match=f"block {r}×{c} is too large for a {m}×{k}"):
            params.check_block_for_shape((r, c), (m, k))


@given(m=st.integers(0, 200), v=st.integers(1, 300))
def test_vector_bound(m, v):
    if v <= max(m, params.MAX_OVERHANG):
        assert params.check_vector_for_shape(v, (m, 5)) == v
    else:
        with pytest.raises(ValueError, match=f"vector length {v} is too large for a {m}×5"):
            params.check_vector_for_shape(v, (m, 5))


def test_bounds_apply_to_from_dense_and_constructors():
    W = np.ones((100, 3))
    assert sk.BSR.from_dense(W, (100, 64)).block == (100, 64)       # r = M, c = 64 > K
    assert sk.VectorSkip.from_dense(W, 100).vector == 100
    assert sk.BSR.from_dense(np.ones((1, 1)), (4, 4)).to_dense().tolist() == [[1.0]]
    for call in (lambda: sk.BSR.from_dense(W, (101, 1)), lambda: sk.BSR.from_dense(W, (1, 65)),
                 lambda: sk.VectorSkip.from_dense(W, 101),
                 lambda: sk.BSR.from_scipy(__import__("scipy.sparse").sparse.csr_array(W),
                                           block=(101, 1)),
                 lambda: sk.VectorSkip.from_torch(torch.from_numpy(W).to_sparse(), 101),
                 lambda: sk.BSR(np.zeros((0, 1, 65)), [], [0] * 101, (100, 3))):
        with pytest.raises(ValueError, match="too large"):
            call()


def test_float_block_and_vector_rejected():
    with pytest.raises(ValueError, match=r"block must be two positive integers.*4\.0"):
        sk.BSR.from_dense(np.ones((4, 4)), block=(4.0, 4))
    with pytest.raises(ValueError, match=r"vector length must be a positive integer.*2\.0"):
        sk.VectorSkip.from_dense(np.ones((4, 4)), vector=2.0)
    with pytest.raises(ValueError, match="block"):
        sk.BSR.from_dense(np.ones((4, 4)), block=(True, 4))
    assert sk.BSR.from_dense(np.ones((4, 4)), block=(np.int64(2), np.uint8(2))).block == (2, 2)


# -- shapes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(True, 2), (2, False), (np.True_, 2), (1, 2**64),
                                   (2**63, 1), (1, np.uint64(2**63)), (3.0, 3), (1, -1),
                                   (np.float32(3), 3), "12", b"12", (1, 2, 3)])
def test_bad_shapes_rejected(shape):
    with pytest.raises(ValueError, match=r"shape must be two integers in \[0, 2\*\*63\)"):
        sk.CSR([], [], [0], shape)


def test_good_shapes_accepted():
    for shape in [(1, 2), [1, 2], (np.int64(1), np.uint8(2)), torch.Size([1, 2]),
                  np.array([1, 2])]:
        A = sk.CSR([], [], [0, 0], shape)
        assert A.shape == (1, 2) and all(type(s) is int for s in A.shape)
    assert sk.CSR([], [], [0], (0, 2**63 - 1)).shape == (0, 2**63 - 1)


# -- half precision: this library's message, never torch's -----------------------------------
HALF = "must be float32 or float64, got {}; cast it first"


@pytest.mark.parametrize("dt,name", [(torch.bfloat16, "bfloat16"), (torch.float16, "float16")])
def test_torch_half_precision(spec, dt, name):
    _, cls, kw = spec
    W = torch.eye(4, dtype=dt)
    with pytest.raises(TypeError, match=HALF.format(name)):
        cls.from_dense(W, **kw)
    with pytest.raises(TypeError, match=HALF.format(name)):
        cls.from_torch(W, **kw)
    with pytest.raises(TypeError, match=HALF.format(name)):
        cls.from_torch(W.to_sparse(), **kw)
    A = cls.from_dense(np.eye(4, dtype=np.float32), **kw)
    with pytest.raises(TypeError, match=HALF.format(name)):
        A @ torch.ones(4, dtype=dt)
    if not isinstance(A, sk.VectorSkip):  # X @ A goes through A.T (CSR and BSR only)
        with pytest.raises(TypeError, match=HALF.format(name)):
            torch.ones(4, dtype=dt) @ A


def test_half_precision_in_constructors():
    for dt, name in [(torch.bfloat16, "bfloat16"), (torch.float16, "float16")]:
        with pytest.raises(TypeError, match="data " + HALF.format(name)):
            sk.CSR(torch.ones(2, dtype=dt), [0, 1], [0, 2], (1, 2))
        with pytest.raises(TypeError, match="blocks " + HALF.format(name)):
            sk.BSR(torch.ones(1, 1, 2, dtype=dt), [0], [0, 1], (1, 2))
    with pytest.raises(TypeError, match="vectors " + HALF.format("float16")):
        sk.VectorSkip(np.ones((1, 1), np.float16), np.ones((1, 1), np.uint64), [0, 1], (1, 2))
    with pytest.raises(TypeError, match="indices has dtype bfloat16"):
        sk.CSR([1.0], torch.zeros(1, dtype=torch.bfloat16), [0, 1], (1, 2))


# -- memory: from_dense converts in chunks -----------------------------------------------------
@pytest.mark.parametrize("make", [sk.CSR.from_dense, lambda w: sk.BSR.from_dense(w, (4, 4)),
                                  lambda w: sk.VectorSkip.from_dense(w, 8),
                                  lambda w: sk.VectorSkip.from_dense(w, 1)],
                         ids=["csr", "bsr4x4", "vs8", "vs1"])
def test_from_dense_peak_memory(make):
    """A fully dense 2048×2048 float32 (16 MiB) took 9× (CSR) and 17.5× (BSR, VectorSkip)
    its size at the peak; now about the output (1.5× for CSR with 16-bit indices, ~1× for the
    others) plus one chunk. numpy reports its allocations to tracemalloc."""
    w = np.random.default_rng(3).uniform(1, 2, (2048, 2048)).astype(np.float32)
    make(w[:64])  # warm up (imports, caches) outside the measurement
    tracemalloc.start()
    try:
        A = make(w)
        output, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert A.nnz == w.size
    assert output >= w.nbytes          # tracemalloc does see numpy's allocations
    assert peak < output + w.nbytes, (peak / w.nbytes, output / w.nbytes)


def test_from_dense_chunks_agree_with_one_chunk(monkeypatch):
    """Chunk boundaries (several per matrix, one block row each) change nothing."""
    from sparsekit.formats import tiles
    rng = np.random.default_rng(4)
    W = random_sparse(rng, 37, 70, 0.2)
    W[5, 3], W[36, 69] = np.nan, np.inf
    expected = [build(s, W) for s in SPECS]
    monkeypatch.setattr(tiles, "CHUNK_BYTES", 1)
    for s, A in zip(SPECS, expected):
        B = build(s, W)
        for a, b in zip(A._parts(), B._parts()):
            np.testing.assert_array_equal(a, b)


# -- sparsity levels ---------------------------------------------------------------------------
@pytest.mark.parametrize("level", [np.float32(0.5), np.float64(0.25), np.float16(0.5), 0.5,
                                   0, np.int64(0), np.uint8(0)])
def test_check_level_accepts_numpy_numbers(level):
    assert check_level(level) == float(level) and type(check_level(level)) is float


@pytest.mark.parametrize("level", [True, np.True_, False, float("nan"), np.float32("nan"),
                                   "0.5", None, 1.0, np.float32(1), -0.1, float("inf"), 0.5j,
                                   torch.tensor(0.5)])
def test_check_level_rejects(level):
    with pytest.raises(ValueError, match="sparsity must be a number in"):
        check_level(level)


def test_prune_accepts_numpy_float_sparsity():
    model = torch.nn.Sequential(torch.nn.Linear(8, 8))
    sk.prune.magnitude(model, np.float32(0.5))
    assert (model[0].weight == 0).float().mean().item() == 0.5


# -- threads -------------------------------------------------------------------------------------
def _in_thread(fn):
    out = {}

    def run():
        out["value"] = fn()
    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out["value"]


def _product_threads():
    """Run a product large enough to go parallel; report the counts this thread saw."""
    A = sk.CSR.from_dense(np.ones((256, 512)))
    A @ np.ones(512)
    return sk.get_num_threads(), kthreads.num_parts(1 << 30), numba.get_num_threads()


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_set_num_threads_reaches_other_python_threads(restore_threads):
    """Numba's own count is per thread: a new thread started at NUMBA_NUM_THREADS whatever the
    main thread had set. sk.set_num_threads is process-wide."""
    started = threading.Event()
    go = threading.Event()
    early = {}

    def early_thread():  # started before the call
        started.set()
        go.wait(60)
        early["value"] = _product_threads()
    t = threading.Thread(target=early_thread)
    t.start()
    started.wait(60)
    sk.set_num_threads(1)
    go.set()
    t.join()
    assert early["value"] == (1, 1, 1)
    assert _in_thread(_product_threads) == (1, 1, 1)   # started after the call
    sk.set_num_threads(2)
    assert _in_thread(_product_threads) == (2, 2, 2)
    assert sk.get_num_threads() == 2 and numba.get_num_threads() == 2
    assert torch.get_num_threads() == 2


def test_small_products_leave_the_thread_setting_alone(restore_threads):
    sk.set_num_threads(1)

    def small():
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        sk.CSR.from_dense(np.eye(4)) @ np.ones(4)   # serial: never touches Numba's setting
        return numba.get_num_threads()
    assert _in_thread(small) == numba.config.NUMBA_NUM_THREADS


def test_set_num_threads_can_give_torch_its_own_count(restore_threads):
    import torch
    sk.set_num_threads(2, torch_threads=1)
    assert sk.get_num_threads() == 2 and torch.get_num_threads() == 1
    sk.set_num_threads(1)
    assert sk.get_num_threads() == 1 and torch.get_num_threads() == 1
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="torch_threads"):
            sk.set_num_threads(1, torch_threads=bad)
