"""Run the kernel benchmarks on a grid and write the JSON, a Markdown table and a PNG plot.

    python bench/run.py --grid targets        # a few minutes: the points the README targets name
    python bench/run.py --grid full           # the whole grid of issue 2

numpy/OpenBLAS is measured with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset in the benchmark
process: set on these machines, they force AVX2 kernels and halve numpy's GEMM speed (tests
and CI leave them as they are). Timings: pytest-benchmark medians, threads pinned per point.
"""
import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", default="targets", choices=["smoke", "targets", "full"])
    p.add_argument("--out", default=None, help="output stem (default bench/results/GRID)")
    p.add_argument("--max-time", default="0.25", help="pytest-benchmark --benchmark-max-time")
    args = p.parse_args(argv)
    stem = Path(args.out or HERE / "results" / args.grid)
    stem.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    cmd = [sys.executable, "-m", "pytest", "-q", str(HERE / "bench_kernels.py"),
           f"--sk-grid={args.grid}", "--benchmark-min-rounds=5",
           f"--benchmark-max-time={args.max_time}", "--benchmark-disable-gc",
           "--benchmark-sort=name", f"--benchmark-json={stem}.json"]
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, str(HERE / "report.py"), f"{stem}.json",
                    "--markdown", f"{stem}.md", "--plot", f"{stem}.png"], check=True)
    print(f"wrote {stem}.json, {stem}.md, {stem}.png")


if __name__ == "__main__":
    main()
