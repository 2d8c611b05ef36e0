"""Turn pytest-benchmark JSON from bench_kernels.py into a Markdown table and a PNG plot of
speedup vs sparsity.

    python bench/report.py results.json --markdown table.md --plot speedup.png

Speedup is over dense torch.matmul of the same shape, batch and thread count in the same run
(what a PyTorch user runs), and over the fastest dense baseline of the run (torch or numpy).
"""
import argparse
import json
from collections import defaultdict

import numpy as np


def load_rows(path):
    """One dict per benchmark: its extra_info plus the median time in seconds."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return [dict(b["extra_info"], median_s=b["stats"]["median"]) for b in data["benchmarks"]
            if "impl" in b.get("extra_info", {})]


def with_speedups(rows):
    """Add speedup_torch, speedup_best_dense, GB/s, GFLOP/s and % of read bandwidth."""
    dense = defaultdict(dict)
    for r in rows:
        if r["impl"] in ("torch_dense", "numpy_dense"):
            dense[(r["m"], r["k"], r["batch"], r["threads"])][r["impl"]] = r["median_s"]
    out = []
    for r in rows:
        d = dense.get((r["m"], r["k"], r["batch"], r["threads"]), {})
        t = r["median_s"]
        r = dict(r, gbps=r["bytes_moved"] / t / 1e9, gflops=r["useful_flops"] / t / 1e9,
                 bw_fraction=r["bytes_moved"] / t / r["read_bandwidth_Bps"])
        if "torch_dense" in d:
            r["speedup_torch"] = d["torch_dense"] / t
        if d:
            r["speedup_best_dense"] = min(d.values()) / t
        out.append(r)
    return out


COLUMNS = [("impl", "impl", "{}"), ("shape", "M×K", "{}"), ("sparsity", "sparsity", "{:.0%}"),
           ("batch", "N", "{}"), ("threads", "thr", "{}"), ("median_us", "median µs", "{:,.1f}"),
           ("speedup_torch", "× torch dense", "{:.2f}"),
           ("speedup_best_dense", "× best dense", "{:.2f}"), ("gbps", "GB/s", "{:.1f}"),
           ("bw_fraction", "% read BW", "{:.0%}"), ("gflops", "useful GFLOP/s", "{:.1f}"),
           ("core_handoff_ns", "handoff ns/line", "{:.1f}")]


def markdown(rows):
    lines = ["| " + " | ".join(c[1] for c in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    key = lambda r: (r["m"], r["k"], r["threads"], r["batch"], r["sparsity"], r["impl"])
    for r in sorted(rows, key=key):
        r = dict(r, shape=f"{r['m']}×{r['k']}", median_us=r["median_s"] * 1e6)
        cells = [fmt.format(r[k]) if r.get(k) is not None else "–" for k, _, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(rows, path):
    """One panel per (shape, batch) at one thread: speedup over dense torch vs sparsity."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in rows if r["threads"] == 1 and "speedup_torch" in r
            and not r["impl"].endswith("_dense")]
    panels = sorted({(r["m"], r["k"], r["batch"]) for r in rows})
    if not panels:
        raise ValueError("no sparse rows with a dense baseline to plot")
    cols = min(4, len(panels))
    nrows = -(-len(panels) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3.2 * nrows), squeeze=False)
    for ax, (m, k, n) in zip(axes.flat, panels):
        for impl in sorted({r["impl"] for r in rows}):
            pts = sorted((r["sparsity"], r["speedup_torch"]) for r in rows
                         if (r["m"], r["k"], r["batch"], r["impl"]) == (m, k, n, impl))
            if pts:
                xs, ys = zip(*pts)
                ax.plot(np.array(xs) * 100, ys, marker="o", ms=3, label=impl,
                        lw=2 if impl.startswith("sparsekit") else 1)
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.set_title(f"{m}×{k}, batch {n}, 1 thread", fontsize=9)
        ax.set_xlabel("sparsity %")
        ax.set_ylabel("speedup over dense torch")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("json", help="pytest-benchmark --benchmark-json output")
    p.add_argument("--markdown", help="write the table here (default: print it)")
    p.add_argument("--plot", help="write the speedup-vs-sparsity PNG here")
    args = p.parse_args(argv)
    rows = with_speedups(load_rows(args.json))
    table = markdown(rows)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(table)
    else:
        print(table)
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
