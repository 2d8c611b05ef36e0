"""The `sparsekit` command line: bench, summary, estimate, calibrate, demo."""
import argparse
import sys


def _shape(text):
    try:
        m, k = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape must look like 4096x4096, got {text!r}")
    if m < 1 or k < 1:
        raise argparse.ArgumentTypeError(f"shape must be positive, got {text!r}")
    return m, k


def _sparsity(text):
    v = float(text)
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"sparsity must be in [0, 1), got {text}")
    return v


def _positive(text):
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return v


def add_outputs(p):
    p.add_argument("--csv", metavar="PATH", help="also write the table as CSV")
    p.add_argument("--json", metavar="PATH", help="also write the table as JSON")
    p.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown")


def write_outputs(table, args):
    for kind in ("csv", "json", "markdown"):
        path = getattr(args, kind)
        if path:
            with open(path, "w", encoding="utf-8") as f:
                f.write(getattr(table, "to_" + kind)())
            print(f"wrote {path}", file=sys.stderr)


def cmd_bench(args):
    from sparsekit.benchmarking import quick as quickbench
    grid = dict(quickbench.QUICK)
    if not args.quick:
        grid = dict(shapes=[(4096, 4096), (1024, 4096), (256, 2304)],
                    sparsities=[0.0, 0.5, 0.7, 0.9, 0.95], batches=[1, 16, 64, 256])
    for key in ("shapes", "sparsities", "batches"):
        if getattr(args, key):
            grid[key] = getattr(args, key)
    result = quickbench.run(**grid, formats=args.formats, threads=args.threads,
                            progress=not args.no_progress)
    print(f"sparse vs dense on this machine, {args.threads} thread(s); "
          "speedups over dense torch.matmul in the same process")
    print(result)
    write_outputs(result, args)
    return 0


# -- summary / estimate / calibrate / demo -------------------------------------------------
DEMO_PRESETS = ("host-cpu", "eyeriss-like", "edge-npu")


def _model_arg(text):
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    import ast
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def _dims(text):
    try:
        dims = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"input shape must look like 3x32x32, got {text!r}")
    if not dims or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"input shape must be positive, got {text!r}")
    return dims


def _block(text):
    r, c = _shape(text)
    return r, c


def add_model(p, sparsity_help="prune a copy to this sparsity by magnitude first"):
    p.add_argument("model", metavar="MODEL",
                   help="a sparsekit.models name (mlp, small_cnn, resnet18, resnet50) or "
                        "package.module:callable")
    p.add_argument("--arg", dest="model_args", type=_model_arg, action="append", default=[],
                   metavar="KEY=VALUE", help="keyword argument for the model constructor "
                   "(repeatable), e.g. --arg 'sizes=(256, 256, 10)'")
    p.add_argument("--input-shape", type=_dims, metavar="DxHxW",
                   help="shape of one input without the batch dimension (default: the "
                        "model's own)")
    p.add_argument("--batch", type=_positive, default=1, help="batch size (default 1)")
    p.add_argument("--sparsity", type=_sparsity, help=sparsity_help)
    p.add_argument("--structure", default="element",
                   choices=["element", "block", "vector", "filter", "channel"],
                   help="pruning structure for --sparsity (default element)")
    p.add_argument("--block", type=_block, default=(4, 4), help="BSR block RxC (default 4x4)")
    p.add_argument("--vector", type=_positive, default=8, help="VectorSkip V (default 8)")


def load_model_and_input(args):
    """(model, example input) of the MODEL argument, in eval mode."""
    import torch
    from sparsekit import models
    kwargs = dict(args.model_args)
    model = models.load_model(args.model, **kwargs)
    shape = args.input_shape
    if shape is None and "sizes" in kwargs:
        shape = (int(kwargs["sizes"][0]),)
    if shape is None:
        return model, models.example_input(args.model, batch=args.batch)
    g = torch.Generator().manual_seed(0)
    return model, torch.randn((args.batch,) + tuple(shape), generator=g)


def pruned_copy(model, args):
    """A magnitude-pruned deep copy of ``model`` (the model itself when no --sparsity)."""
    import copy
    from sparsekit import prune
    if args.sparsity is None:
        return model
    pruned = copy.deepcopy(model)
    prune.magnitude(pruned, args.sparsity, structure=args.structure, block=args.block,
                    vector=args.vector)
    return pruned


def _say(msg):
    print(msg, file=sys.stderr, flush=True)


def cmd_summary(args):
    from sparsekit.model._analyze import analyze
    model, x = load_model_and_input(args)
    summary = analyze(pruned_copy(model, args), x, block=args.block, vector=args.vector,
                      value_bits=args.value_bits)
    print(summary)
    write_outputs(summary, args)
    return 0


def cmd_estimate(args):
    from sparsekit.hw._estimate import compare, estimate
    model, x = load_model_and_input(args)
    pruned = pruned_copy(model, args)
    kw = dict(format=args.format, value_bits=args.value_bits,
              activation_density=args.activation_density, block=args.block,
              vector=args.vector, objective=args.objective)
    if args.compare:
        table = compare(model, pruned, x, args.hw, **kw)
        print(f"{args.hw}: dense vs {args.format} ({args.objective}-optimal mappings, "
              f"batch {args.batch})")
        print(table)
    else:
        est = estimate(pruned, x, args.hw, **kw)
        print(est)
        table = est.table(detail=True)
    write_outputs(table, args)
    return 0


def cmd_calibrate(args):
    from hwmodel.table import Table
    from sparsekit.hw._calibrate import calibrate, summary_rows
    path, m = calibrate(args.out, threads=args.threads, budget_s=args.budget,
                                  progress=None if args.quiet else _say)
    print(f"host-cpu calibrated on {m['cpu']} ({m['date']}, {m['threads']} thread(s), "
          f"{m['seconds']:.1f} s)")
    table = Table(summary_rows(m))
    print(table)
    print(f"wrote {path}; use it with hwmodel.load({str(path)!r}) or "
          f"HWMODEL_PRESET_PATH={path.parent} (then the preset name 'host-cpu')")
    write_outputs(table, args)
    return 0


def _time_model(model, x, budget_s):
    import torch
    from sparsekit.benchmarking.timing import median_seconds
    with torch.no_grad():
        return median_seconds(lambda: model(x), min_repeats=3, max_repeats=100,
                              budget_s=budget_s)


def cmd_demo(args):
    import sparsekit as sk
    from hwmodel.table import Table
    from sparsekit.model._analyze import analyze
    from sparsekit.hw._estimate import compare
    from sparsekit.nn._sparsify import sparsify

    sk.set_num_threads(args.threads)
    if args.sparsity is None:
        args.sparsity = 0.9
    model, x = load_model_and_input(args)
    _say(f"[1/4] pruning {args.model} to {args.sparsity:.0%} by magnitude ({args.structure})")
    pruned = pruned_copy(model, args)
    summary = analyze(pruned, x, block=args.block, vector=args.vector)
    print(f"== {args.model} pruned to {args.sparsity:.0%} ({args.structure}), "
          f"input {tuple(x.shape)} ==")
    print(summary)

    _say(f"[2/4] timing dense vs sparsified on this machine ({args.threads} thread(s))")
    fast = sparsify(pruned, format="auto", example_input=x, block=args.block,
                    vector=args.vector)
    dense_s = _time_model(model, x, args.budget)
    sparse_s = _time_model(fast, x, args.budget)
    print(f"\n== measured on this machine: dense torch {dense_s * 1e3:.3f} ms, "
          f"sk.sparsify(format='auto') {sparse_s * 1e3:.3f} ms, "
          f"speedup {dense_s / sparse_s:.2f}x ==")

    _say(f"[3/4] estimating on {', '.join(args.hw)}")
    rows = [{"hardware": "this machine (measured)", "dense_latency_s": dense_s,
             "sparse_latency_s": sparse_s, "speedup": dense_s / sparse_s}]
    comparisons = {}
    for hw in args.hw:
        table = compare(model, pruned, x, hw, format=args.format, block=args.block,
                        vector=args.vector)
        comparisons[hw] = table
        total = dict(table[-1])
        total.pop("layer")
        rows.append({"hardware": f"{hw} (estimated)", **total})
    table = Table(rows)
    print("\n== dense vs compressed, whole model (ratios are dense / compressed) ==")
    print(table)
    write_outputs(table, args)
    if args.plot:
        _say("[4/4] plotting the energy breakdown")
        plot_energy(comparisons, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def plot_energy(comparisons, path):
    """A PNG: per hardware, dense and compressed energy per inference stacked by part."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(comparisons), figsize=(4 * len(comparisons), 4),
                             squeeze=False)
    for ax, (hw, table) in zip(axes[0], comparisons.items()):
        parts = {}
        for label, est in (("dense", table.dense), ("compressed", table.sparse)):
            per = {f"{k} memory": v for k, v in est.energy_by_level.items()}
            per["MAC"] = est.mac_energy_j
            per["static"] = est.static_energy_j
            for k, v in per.items():
                parts.setdefault(k, {})[label] = v / est.batch
        bottom = [0.0, 0.0]
        for k, v in parts.items():
            heights = [v.get("dense", 0.0), v.get("compressed", 0.0)]
            ax.bar(["dense", "compressed"], heights, bottom=bottom, label=k)
            bottom = [b + h for b, h in zip(bottom, heights)]
        ax.set_title(hw)
        ax.set_ylabel("energy per inference (J)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _use_calibrated_presets():
    """Put the directory `sparsekit calibrate` writes to on HWMODEL_PRESET_PATH (after any
    directory already there), so "host-cpu" means this machine once it is calibrated."""
    import os
    from sparsekit.hw._calibrate import DEFAULT_OUT
    directory = os.path.expanduser(os.fspath(DEFAULT_OUT.parent))
    paths = [p for p in os.environ.get("HWMODEL_PRESET_PATH", "").split(os.pathsep) if p]
    if os.path.isdir(directory) and directory not in paths:
        os.environ["HWMODEL_PRESET_PATH"] = os.pathsep.join(paths + [directory])


def build_parser():
    parser = argparse.ArgumentParser(prog="sparsekit", description="What sparsity really "
                                     "buys a neural network: formats, kernels, estimates.")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench", help="time sparse formats against dense on this machine")
    b.add_argument("--quick", action="store_true", help="a short grid (about a minute)")
    b.add_argument("--shape", dest="shapes", type=_shape, action="append",
                   help="MxK weight shape (repeatable)")
    b.add_argument("--sparsity", dest="sparsities", type=_sparsity, action="append",
                   help="sparsity in [0, 1) (repeatable)")
    b.add_argument("--batch", dest="batches", type=_positive, action="append",
                   help="batch N (repeatable)")
    b.add_argument("--format", dest="formats", action="append",
                   choices=["csr", "bsr", "vectorskip"], help="format (repeatable)")
    b.add_argument("--threads", type=_positive, default=1, help="threads (default 1)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_outputs(b)
    b.set_defaults(func=cmd_bench, formats=None)

    s = sub.add_parser("summary", help="per-layer analysis of a model (shapes, MACs, nnz, "
                       "structure, bytes per format)")
    add_model(s)
    s.add_argument("--value-bits", type=int, default=32, choices=[8, 16, 32, 64],
                   help="stored value width (default 32)")
    add_outputs(s)
    s.set_defaults(func=cmd_summary)

    fmts = ["auto", "dense", "csr", "bsr", "vectorskip"]
    e = sub.add_parser("estimate", help="latency, energy and inferences/s/W of a model on "
                       "a hardware description")
    add_model(e)
    e.add_argument("--hw", default="eyeriss-like",
                   help="hardware preset name or YAML path (default eyeriss-like)")
    e.add_argument("--format", default="auto", choices=fmts,
                   help="weight format (auto: smallest per layer)")
    e.add_argument("--value-bits", type=int, choices=[8, 16, 32, 64],
                   help="weight/activation width (default: the hardware's native type)")
    e.add_argument("--activation-density", type=float,
                   help="share of nonzero input activations (default 1)")
    e.add_argument("--objective", default="energy", choices=["energy", "latency", "edp"],
                   help="what the mapping search minimises (default energy)")
    e.add_argument("--compare", action="store_true",
                   help="set the dense model and the compressed one side by side")
    add_outputs(e)
    e.set_defaults(func=cmd_estimate)

    c = sub.add_parser("calibrate", help="measure this machine and write the host-cpu "
                       "hardware preset")
    c.add_argument("--out", default=None, metavar="PATH",
                   help="where to write the YAML (default "
                        "~/.config/sparsekit/presets/host-cpu.yaml)")
    c.add_argument("--threads", type=_positive, default=1, help="threads (default 1)")
    c.add_argument("--budget", type=float, default=20.0,
                   help="time budget in seconds (default 20)")
    c.add_argument("--quiet", action="store_true", help="no progress lines")
    add_outputs(c)
    c.set_defaults(func=cmd_calibrate)

    d = sub.add_parser("demo", help="the main job: prune a model, analyse it, time it sparse "
                       "on this machine and estimate it on a few hardware presets")
    d.add_argument("model", metavar="MODEL", nargs="?", default="small_cnn",
                   help="model (default small_cnn); see `sparsekit summary --help`")
    d.add_argument("--arg", dest="model_args", type=_model_arg, action="append", default=[],
                   metavar="KEY=VALUE", help="keyword argument for the model constructor")
    d.add_argument("--input-shape", type=_dims, metavar="DxHxW",
                   help="shape of one input without the batch dimension")
    d.add_argument("--batch", type=_positive, default=1, help="batch size (default 1)")
    d.add_argument("--sparsity", type=_sparsity, default=0.9,
                   help="magnitude-pruning sparsity (default 0.9)")
    d.add_argument("--structure", default="element",
                   choices=["element", "block", "vector", "filter", "channel"],
                   help="pruning structure (default element)")
    d.add_argument("--block", type=_block, default=(4, 4), help="BSR block (default 4x4)")
    d.add_argument("--vector", type=_positive, default=8, help="VectorSkip V (default 8)")
    d.add_argument("--format", default="auto", choices=fmts,
                   help="format for the estimates (default auto)")
    d.add_argument("--hw", action="append", default=None,
                   help=f"hardware preset or YAML (repeatable; default {', '.join(DEMO_PRESETS)})")
    d.add_argument("--threads", type=_positive, default=1, help="threads (default 1)")
    d.add_argument("--budget", type=float, default=0.5,
                   help="timing budget per model in seconds (default 0.5)")
    d.add_argument("--plot", metavar="PATH", help="write a PNG energy breakdown")
    add_outputs(d)
    d.set_defaults(func=cmd_demo)
    return parser


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:         # --help (0) and bad arguments (2) as return codes
        return e.code
    if getattr(args, "formats", "unset") is None:
        args.formats = ["csr", "bsr", "vectorskip"]
    _use_calibrated_presets()
    if getattr(args, "command", None) == "demo" and args.hw is None:
        args.hw = list(DEMO_PRESETS)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, KeyError) as e:
        print(f"sparsekit {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
