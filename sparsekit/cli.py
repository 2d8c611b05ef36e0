"""The `sparsekit` command line: bench (and, as they land, summary, estimate, demo)."""
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
    from sparsekit import quickbench
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
    write_outputs(result.table(), args)
    return 0


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
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if getattr(args, "formats", "unset") is None:
        args.formats = ["csr", "bsr", "vectorskip"]
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"sparsekit {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
