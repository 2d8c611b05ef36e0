"""Structured SpMV against CSR at batch 1 (issue 9): one process, interleaved.

Builds a ``--size``² weight (4096² by default) at 90 % sparsity three ways (unstructured,
4×4-block and V=8-vector magnitude pruning, ``workloads.random_weight``), packs it as CSR, BSR
4×4 and VectorSkip(8), and times ``A @ x`` of every format in the same rounds
(``timing.balanced``: interleaved, half the rounds in reverse order), so a change of machine
load hits all of them alike. Prints p50/p90 and the GB/s of the bytes each format reads
(``storage().total`` + x + y), and each format's ratio to CSR (time of CSR / time of format).

    python bench/spmv_structured.py [--size 4096] [--sparsity 0.9] [--batch 1] [--budget 2]
                                    [--repeat 1] [--threads 1] [--cold]

``--repeat R`` makes each timed call R products in a row (time per product reported): with R =
1 every product starts after the other formats' passes have evicted part of its matrix from L3
(three matrices of 7-10 MB each); a larger R shows the L3-resident rate.

``--cold`` reads four times the L3 (untimed) before each call, so every product streams its
whole matrix from DRAM. Without it a matrix smaller than the L3 (BSR and VectorSkip at 8192²,
28 MB against 32 MiB) keeps part of itself there across the other formats' calls, and its
"DRAM" rate reads high: BSR 4×4 at 8192² moved 31 GB/s cold against 34-36 warm on one thread,
37 against 47-52 on two.

``--batch N`` times the SpMM ``A @ X`` with X (K, N) instead (bytes: storage + X + Y). Checks
the load average first and says so when the machine is not idle.

The read bandwidth of this machine is measured in the same run (``kernels.probe``: a 256 MiB
array for DRAM, half the L3 for L3, on ``--threads`` threads like the products), before and
after the rounds, and each format's GB/s is given as a share of it: at ``--size 8192 --cold``
the matrices (28-40 MB each) come from DRAM and the DRAM share is the one that counts; at 4096
(7-10 MB) the L3 one. Beside them, the bytes/s CSR would move if it ran at the indexed-load
rate of one thread with nothing in memory (``kernels.probe.indexed_load_rate``), times the
threads: where that ceiling is below the bandwidth, CSR SpMV is bound by its gathers, not by
its bytes.
"""
import argparse
import os

import numpy as np

import sparsekit as sk
from sparsekit.benchmarking.timing import Timing, balanced
from sparsekit.benchmarking.workloads import random_weight
from sparsekit.kernels.caches import cache_sizes
from sparsekit.kernels.probe import indexed_load_rate, read_bandwidth


def l3_bytes() -> int:
    return cache_sizes().get("l3", 32 << 20)


def bandwidths():
    """{"DRAM": bytes/s, "L3": bytes/s} read bandwidth with the current thread count, now."""
    return {"DRAM": read_bandwidth(256 << 20, 5), "L3": read_bandwidth(l3_bytes() // 2, 50)}


def packed(size, sparsity, seed=0):
    """(name, matrix) of each format, each from the weight pruned in its own structure."""
    shape = (size, size)
    return [
        ("CSR", sk.CSR.from_dense(random_weight(shape, sparsity, "unstructured", seed=seed))),
        ("BSR 4x4", sk.BSR.from_dense(random_weight(shape, sparsity, "block", block=(4, 4),
                                                    seed=seed), block=(4, 4))),
        ("VectorSkip(8)", sk.VectorSkip.from_dense(random_weight(shape, sparsity, "vector",
                                                                 vector=8, seed=seed), vector=8)),
    ]


def main(argv=None):
    """Print the table; return [(format name, Timing per product)], CSR first."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--batch", type=int, default=1, help="1: SpMV; N > 1: SpMM with N columns")
    ap.add_argument("--budget", type=float, default=2.0, help="seconds of timed rounds")
    ap.add_argument("--repeat", type=int, default=1, help="products per timed call")
    ap.add_argument("--threads", type=int, default=1, help="kernel threads")
    ap.add_argument("--cold", action="store_true",
                    help="read 4x the L3 (untimed) before each call: every matrix from DRAM")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error(f"--repeat must be >= 1, got {args.repeat}")
    try:
        sk.set_num_threads(args.threads)
    except ValueError as e:
        ap.error(f"--threads: {e}")

    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"note: machine not idle (1-min load average {load:.2f}); ratios stay fair, "
              "absolute figures may be low")
    mats = packed(args.size, args.sparsity)
    rng = np.random.default_rng(1)
    cols = args.size if args.batch == 1 else (args.size, args.batch)
    x = rng.standard_normal(cols).astype(np.float32)
    outs = [np.empty((args.size,) if args.batch == 1 else (args.size, args.batch), np.float32)
            for _ in mats]
    reps = range(args.repeat)
    fns = [lambda A=A, y=y: [A.matmul(x, out=y) for _ in reps] for (_, A), y in zip(mats, outs)]
    if args.cold:  # an untimed read of 4x the L3 before each call
        evict = np.ones(4 * l3_bytes() // 8).sum
        fns = [f for fn in fns for f in (evict, fn)]
    before = bandwidths()
    gather_rate = indexed_load_rate()
    timings = [Timing.of(np.array(t.times) / args.repeat) for t in balanced(fns, args.budget)]
    if args.cold:
        timings = timings[1::2]
    after = bandwidths()
    read_bw = {k: max(before[k], after[k]) for k in before}

    kind = "SpMV" if args.batch == 1 else f"SpMM batch {args.batch}"
    print(f"{kind}, {args.size}x{args.size} at {args.sparsity:.0%}, "
          f"{sk.get_num_threads()} thread(s), {'cold' if args.cold else 'warm'} caches")
    print(f"{timings[0].rounds} interleaved rounds (both orders), {args.repeat} product(s) "
          "per call")
    print("read bandwidth, same run (best of before/after): "
          + ", ".join(f"{k} {v / 1e9:.1f} GB/s" for k, v in read_bw.items()))
    print(f"{'format':<14} {'bytes':>12} {'p50 us':>9} {'p90 us':>9} {'GB/s':>7} "
          f"{'of DRAM':>8} {'of L3':>6} {'vs CSR':>7}")
    for (name, A), y, t in zip(mats, outs, timings):
        nbytes = A.storage().total + x.nbytes + y.nbytes
        rate = nbytes / t.p50
        print(f"{name:<14} {nbytes:>12,} {t.p50 * 1e6:>9.1f} {t.p90 * 1e6:>9.1f} "
              f"{rate / 1e9:>7.2f} {rate / read_bw['DRAM']:>8.0%} {rate / read_bw['L3']:>6.0%} "
              f"{timings[0].p50 / t.p50:>6.2f}x")
    if args.batch == 1:
        name, A = mats[0]
        ceiling = (A.storage().total + x.nbytes + outs[0].nbytes) / A.nnz * gather_rate \
            * sk.get_num_threads()
        print(f"{name} ceiling, indexed loads at {gather_rate / 1e9:.2f} G/s a thread (all in "
              f"cache): {ceiling / 1e9:.2f} GB/s, {ceiling / read_bw['DRAM']:.0%} of DRAM")
    return [(name, t) for (name, _), t in zip(mats, timings)]


if __name__ == "__main__":
    main()
