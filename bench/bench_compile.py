"""First-call cost of the Numba kernels: a cold compile (empty cache) and a second process
that loads them from the cache. Each is a fresh interpreter; the time is from just before
``import sparsekit`` to the last kernel's first result (every format, SpMV and SpMM, float32
with the index widths of a 4096-column weight).

Measured twice: on one thread (the products run serially, so only the serial kernels
compile) and on every thread Numba has (products of this size then split across threads, so
each kernel's parallel launcher compiles too: Numba links the row kernel's code into the
launcher and generates it again, about 0.5-1 s per launcher here)."""
import json
import os
import subprocess
import sys
import tempfile

import pytest

FIRST_RESULT = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import sparsekit as sk
t_import = time.perf_counter() - t0
if sys.argv[1] != "all":
    sk.set_num_threads(int(sys.argv[1]))
rng = np.random.default_rng(0)
w = rng.standard_normal((64, 4096)).astype(np.float32)
w[rng.random(w.shape) < 0.9] = 0
x = rng.standard_normal((4096, 4)).astype(np.float32)
for a in (sk.CSR.from_dense(w), sk.BSR.from_dense(w, (4, 4)), sk.VectorSkip.from_dense(w, 8)):
    a @ x[:, 0]
    a @ x
print(json.dumps({"import_s": t_import, "first_result_s": time.perf_counter() - t0}))
"""


def _run(cache_dir, threads):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", FIRST_RESULT, threads], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("numba_threads", ["1", "all"])
def bench_first_call(benchmark, numba_threads):
    with tempfile.TemporaryDirectory() as cache:
        cold = _run(cache, numba_threads)
        warm = benchmark.pedantic(_run, args=(cache, numba_threads), rounds=3, iterations=1)
    benchmark.extra_info.update(numba_threads=numba_threads,
                                cold_first_result_s=cold["first_result_s"],
                                cold_import_s=cold["import_s"],
                                cached_first_result_s=warm["first_result_s"],
                                cached_import_s=warm["import_s"])
    print(f"\n{numba_threads} thread(s): cold compile, import to first result: "
          f"{cold['first_result_s']:.2f} s; cached: {warm['first_result_s']:.2f} s "
          f"(import {warm['import_s']:.2f} s)")
