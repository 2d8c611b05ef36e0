"""First-call cost of the Numba kernels: a cold compile (empty cache) and a second process
that loads them from the cache. Each is a fresh interpreter; the time is from just before
``import sparsekit`` to the last kernel's first result (every format, SpMV and SpMM, float32
with the index widths of a 4096-column weight)."""
import json
import os
import subprocess
import sys
import tempfile

FIRST_RESULT = r"""
import json, time
t0 = time.perf_counter()
import numpy as np
import sparsekit as sk
t_import = time.perf_counter() - t0
rng = np.random.default_rng(0)
w = rng.standard_normal((64, 4096)).astype(np.float32)
w[rng.random(w.shape) < 0.9] = 0
x = rng.standard_normal((4096, 4)).astype(np.float32)
for a in (sk.CSR.from_dense(w), sk.BSR.from_dense(w, (4, 4)), sk.VectorSkip.from_dense(w, 8)):
    a @ x[:, 0]
    a @ x
print(json.dumps({"import_s": t_import, "first_result_s": time.perf_counter() - t0}))
"""


def _run(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", FIRST_RESULT], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench_first_call(benchmark):
    with tempfile.TemporaryDirectory() as cache:
        cold = _run(cache)
        warm = benchmark.pedantic(_run, args=(cache,), rounds=3, iterations=1)
    benchmark.extra_info.update(cold_first_result_s=cold["first_result_s"],
                                cold_import_s=cold["import_s"],
                                cached_first_result_s=warm["first_result_s"],
                                cached_import_s=warm["import_s"])
    print(f"\ncold compile, import to first result: {cold['first_result_s']:.2f} s; "
          f"cached: {warm['first_result_s']:.2f} s (import {warm['import_s']:.2f} s)")
