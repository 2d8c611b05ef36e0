"""Processes forked after a parallel kernel: they must run kernels correctly, never hang or die.

GNU OpenMP cannot run in a process forked after it started (Numba's omp layer kills such a
child; a grandchild hangs). DataLoader workers and fork pools are the everyday case. Numba
picks TBB when it loads (``kernels/layer.py`` makes a pip-installed TBB loadable), else GNU
OpenMP on Linux, in whose forked children the kernels run serially.

Each case runs in a fresh interpreter, in its own process group, with a timeout: a hang fails
the test (the whole group is killed) instead of stalling pytest.
"""
import os
import signal
import subprocess
import sys
import textwrap
import warnings

import numba
import pytest

from sparsekit.kernels import layer, threads

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="GNU OpenMP and fork: the Linux case")

TIMEOUT_S = 120

# The layer in each subprocess. "no-tbb": an environment without TBB (Numba's TBB module made
# unimportable) where nothing is chosen, so Numba takes GNU OpenMP; the others: the user's
# choice in NUMBA_THREADING_LAYER.
LAYERS = ["no-tbb", "tbb", "workqueue"]
EXPECTED_LAYER = {"no-tbb": "omp", "tbb": "tbb", "workqueue": "workqueue"}

# Run before each case: pick the layer, build matrices, run a parallel product in the parent.
PARENT = """
import os, sys, warnings
if {hide_tbb}:
    sys.modules["numba.np.ufunc.tbbpool"] = None
import numpy as np, numba, sparsekit as sk

rng = np.random.default_rng(0)
W = rng.standard_normal((512, 512)).astype(np.float32)
W[rng.random(W.shape) < 0.8] = 0
X = rng.standard_normal((512, 64)).astype(np.float32)
REF = W.astype(np.float64) @ X
MATS = [sk.CSR.from_dense(W), sk.BSR.from_dense(W, block=(4, 4)),
        sk.VectorSkip.from_dense(W, vector=8)]
A = MATS[0]

def correct(Y, ref=REF):
    return Y.shape == ref.shape and np.allclose(Y, ref, rtol=1e-4, atol=1e-3)

def all_correct():                  # 52k nonzeros x 64 columns: every product is parallel
    return all(correct(M @ X) for M in MATS)

assert all_correct(), "parent"
print("layer", numba.threading_layer(), flush=True)

def fork_and_wait(child):
    pid = os.fork()
    if pid == 0:
        try:
            code = child()
        except BaseException:
            import traceback; traceback.print_exc(); code = 4
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
"""

# What happens after the parent's product. Each prints "ok" when everything was correct.
MODES = {
    # fork_child.py nothing
    "child-nothing": """
status = fork_and_wait(lambda: 0)
assert status == 0, f"child exit status {status}"
""",
    # fork_child.py small: a product below the parallel threshold
    "child-small": """
Ws, Xs = W[:8, :8], X[:8, :2]
status = fork_and_wait(
    lambda: 0 if correct(sk.CSR.from_dense(Ws) @ Xs, Ws.astype(float) @ Xs) else 3)
assert status == 0, f"child exit status {status}"
""",
    # fork_child.py parallel, with every format
    "child-parallel": """
status = fork_and_wait(lambda: 0 if all_correct() else 3)
assert status == 0, f"child exit status {status}"
""",
    # a child forks again: Numba's own GNU OpenMP check does not see a grandchild
    "grandchild-parallel": """
status = fork_and_wait(lambda: fork_and_wait(lambda: 0 if all_correct() else 3))
assert status == 0, f"grandchild exit status {status}"
""",
    # fork_pool.py; maxtasksperchild: the pool's handler thread forks the replacements, so
    # forks from the main thread and from another thread are both covered
    "fork-pool": """
import multiprocessing as mp

def work(i):
    return bool(all_correct())

with mp.get_context("fork").Pool(2, maxtasksperchild=2) as pool:
    results = pool.map_async(work, range(8), chunksize=1).get(timeout=90)
assert results == [True] * 8, results
""",
    # fork_after_kernel.py: a sparse model's forward, then DataLoader workers (fork); here the
    # workers run sparse products too
    "dataloader": """
import torch, torch.nn as nn
from torch.utils.data import DataLoader, Dataset
warnings.filterwarnings("ignore", category=UserWarning)   # torch's sparse "beta" notes
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
sk.prune.magnitude(model, 0.9)
inputs = torch.randn(256, 512)
with torch.no_grad():
    dense_out = model(inputs)
fast = sk.sparsify(model, format="csr")
with torch.no_grad():
    fast(torch.randn(64, 512))              # a parallel kernel in the parent

class Products(Dataset):                    # each item: a parallel product in a worker
    def __len__(self):
        return 4
    def __getitem__(self, i):
        return torch.from_numpy(A @ X[:, 2 * i:2 * i + 2])

items = list(DataLoader(Products(), batch_size=None, num_workers=2))
assert all(correct(y.numpy(), REF[:, 2 * i:2 * i + 2]) for i, y in enumerate(items))
loader = DataLoader(inputs, batch_size=64, num_workers=2)
with torch.no_grad():
    out = torch.cat([fast(xb) for xb in loader])
    assert torch.allclose(out, dense_out, rtol=1e-4, atol=1e-4)
""",
}


def run_python(code: str, env: dict, timeout: float = TIMEOUT_S):
    """Run ``code`` in a fresh interpreter; kill its whole process group if it overruns."""
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"hung for {timeout} s\nstdout:\n{out}\nstderr:\n{err[-3000:]}")
    return proc.returncode, out, err


def layer_env(choice: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_THREADING_LAYER")}
    env["NUMBA_NUM_THREADS"] = "2"          # parallel even on a one-core machine
    if choice != "no-tbb":
        env["NUMBA_THREADING_LAYER"] = choice
    return env


def tbb_loads() -> bool:
    code = ("import numpy as np, sparsekit as sk\n"
            "sk.CSR.from_dense(np.ones((512, 512), np.float32)) @ np.ones((512, 64), np.float32)")
    return run_python(code, layer_env("tbb"), timeout=120)[0] == 0


@pytest.fixture(scope="module")
def tbb_available():
    return tbb_loads()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("choice", LAYERS)
def test_fork_after_parallel_kernel(choice, mode, tbb_available):
    if choice == "tbb" and not tbb_available:
        pytest.skip("TBB is not installed")
    code = PARENT.format(hide_tbb=choice == "no-tbb") + textwrap.dedent(MODES[mode]) \
        + '\nprint("ok", flush=True)\n'
    rc, out, err = run_python(code, layer_env(choice))
    assert rc == 0 and out.splitlines()[-1:] == ["ok"], f"exit {rc}\n{out}\n{err[-3000:]}"
    assert f"layer {EXPECTED_LAYER[choice]}" in out
    serial_note = "run on one thread in this process" in err
    # Only a child of a GNU OpenMP parent runs serially, and says so when it has work.
    assert serial_note == (choice == "no-tbb" and mode not in ("child-nothing", "child-small")), err


def test_kernels_from_many_python_threads_without_tbb():
    """The default layer without TBB must take concurrent launches from several threads
    (workqueue, fork-safe as it is, would abort the process here)."""
    code = PARENT.format(hide_tbb=True) + textwrap.dedent("""
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(4) as ex:
            results = list(ex.map(lambda i: all_correct(), range(40)))
        assert all(results)
        print("ok", flush=True)
    """)
    rc, out, err = run_python(code, layer_env("no-tbb"))
    assert rc == 0 and "layer omp" in out and out.splitlines()[-1:] == ["ok"], \
        f"exit {rc}\n{out}\n{err[-3000:]}"


def test_tbb_in_sys_prefix_is_loaded_at_import():
    """pip puts libtbb in sys.prefix/lib, where the loader does not look in a venv."""
    path = os.path.join(sys.prefix, "lib", "libtbb.so.12")
    if not os.path.exists(path):
        pytest.skip("no libtbb in sys.prefix/lib")
    code = textwrap.dedent(f"""
        import os, sparsekit
        real = os.path.realpath({path!r})
        maps = open("/proc/self/maps").read()
        assert real in maps, "libtbb from sys.prefix/lib not loaded"
        print("ok")
    """)
    rc, out, err = run_python(code, layer_env("no-tbb"), timeout=120)
    assert rc == 0 and "ok" in out, err[-3000:]


def test_preload_tbb_skips_missing_and_broken_files(tmp_path):
    assert layer.preload_tbb(str(tmp_path)) is False
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libtbb.so.12").write_bytes(b"not a shared library")
    assert layer.preload_tbb(str(tmp_path)) is False


def test_serial_in_a_child_of_gnu_openmp_warns_once(monkeypatch):
    monkeypatch.setattr(layer, "_forked_after_gnu_omp", True)
    monkeypatch.setattr(layer, "_warned", False)
    big = threads.PARALLEL_MIN_MACS * 4
    with pytest.warns(RuntimeWarning, match="forked after its parent started"):
        assert threads.num_parts(big) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert threads.num_parts(big) == 1
        assert threads.num_parts(1) == 1
