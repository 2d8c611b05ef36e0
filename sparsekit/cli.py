"""The ``sparsekit`` command line.

    sparsekit demo [MODEL]              the main job: prune, analyse, time sparse on this
                                        machine, estimate on hardware; writes a report folder
    sparsekit summary MODEL             per-layer analysis (MACs, structure, bytes per format)
    sparsekit estimate MODEL --hw HW    latency, energy, inferences/s/W on a hardware description
    sparsekit formats MODEL --spec S    weight formats side by side (YAML specs, built-in names,
                                        short strings such as UOP-CP) on one hardware
    sparsekit calibrate                 measure this machine: the "host-cpu" preset
    sparsekit bench [--quick]           sparse formats against dense on this machine
    sparsekit presets | models          what --hw and MODEL accept
    sparsekit --version

Output. Tables go to stdout and fit 100 columns (``--wide`` shows every column); progress
goes to stderr, with bars only on a terminal. ``--json``/``--csv``/``--markdown`` write the
tables too; every command's JSON has the same layout, ``{"command", "meta", "tables"}``,
described in ``sparsekit.report.outputs``.

Errors. What the user typed or points to (arguments, model arguments, an input shape that does
not fit the model, a batch too big for memory, hardware files, output paths) ends in one line,
``sparsekit CMD: error: ...``, and exit 2. Output paths, hardware and the model's input are
checked before any long work starts. Ctrl-C exits 130. A bug still shows its traceback.
"""
import argparse
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass

from hwmodel.table import human

DEMO_PRESETS = ("host-cpu", "eyeriss-like", "edge-npu")
LAYER_HW = "host-cpu"           # the preset the report's per-layer estimates come from
DEMO_SPARSITIES = (0.5, 0.7, 0.9, 0.95)
WIDTH = 100                     # terminal columns the default output fits


class UserError(Exception):
    """Something wrong in what the user asked for: printed as one line, exit 2."""


@dataclass
class Outcome:
    """What a command produced for --json/--csv/--markdown: the run's meta, its tables by
    name, and the name of the main table (the one --csv writes)."""

    meta: dict
    tables: dict
    main: str


# -- argument types --------------------------------------------------------------------------
def _shape(text):
    try:
        m, k = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape must look like 4096x4096, got {text!r}")
    if m < 1 or k < 1:
        raise argparse.ArgumentTypeError(f"shape must be positive, got {text!r}")
    return m, k


def _sparsity(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"sparsity must be a number, got {text!r}")
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"sparsity must be in [0, 1), got {text}")
    return v


def _positive(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return v


def _seconds(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}")
    if not 0.0 < v < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return v


def _model_arg(text):
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    import ast
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return key, value


def _executable_formats():
    """The registered executable formats (``sparsekit.formats.registry``)."""
    from sparsekit.formats import registry
    return list(registry.names())


def _builtin_specs():
    """The built-in specs of ``hwmodel.formats`` that are not executable formats."""
    from hwmodel import formats as hf
    return [n for n in hf.BUILTINS if n not in _executable_formats() + ["dense"]]


def _dims(text):
    try:
        dims = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"input shape must look like 3x32x32, got {text!r}")
    if not dims or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"input shape must be positive, got {text!r}")
    return dims


# -- shared options ----------------------------------------------------------------------------
def add_outputs(p):
    p.add_argument("--csv", metavar="PATH", help="also write the main table as CSV")
    p.add_argument("--json", metavar="PATH", help="also write every table and the run's "
                   "metadata as JSON")
    p.add_argument("--markdown", metavar="PATH", help="also write the tables as Markdown")
    p.add_argument("--wide", action="store_true",
                   help=f"show every column (default: tables fit {WIDTH} columns)")


def add_model(p, default=None):
    p.add_argument("model", metavar="MODEL", nargs="?" if default else None, default=default,
                   help="a built-in model (see `sparsekit models`) or package.module:callable"
                        + (f" (default {default})" if default else ""))
    p.add_argument("--arg", dest="model_args", type=_model_arg, action="append", default=[],
                   metavar="KEY=VALUE", help="keyword argument for the model constructor "
                   "(repeatable), e.g. --arg 'sizes=(256, 256, 10)'")
    p.add_argument("--input-shape", type=_dims, metavar="DxHxW",
                   help="shape of one input without the batch dimension (default: the "
                        "model's own)")
    p.add_argument("--batch", type=_positive, default=1, help="batch size (default 1)")
    p.add_argument("--structure", default="element",
                   choices=["element", "block", "vector", "filter", "channel"],
                   help="pruning structure for --sparsity (default element)")
    p.add_argument("--block", type=_shape, default=(4, 4), help="BSR block RxC (default 4x4)")
    p.add_argument("--vector", type=_positive, default=8, help="VectorSkip V (default 8)")


def _say(msg):
    print(msg, file=sys.stderr, flush=True)


def _print(text, wide=False):
    """Print prose on stdout, wrapped to 100 columns unless ``wide`` (a leading newline
    kept)."""
    import textwrap
    lead = "\n" if text.startswith("\n") else ""
    body = text.lstrip("\n")
    print(lead + (body if wide else textwrap.fill(body, WIDTH, break_long_words=False,
                                                  break_on_hyphens=False)))


def _progress():
    from sparsekit.hw._estimate import show_progress
    return show_progress(None)


# -- checks made before the work -----------------------------------------------------------
def check_outputs(args):
    """Every output path the command will write, checked now (UserError otherwise)."""
    from sparsekit.report import outputs
    try:
        for kind in ("csv", "json", "markdown", "plot"):
            if getattr(args, kind, None):
                outputs.check_file(getattr(args, kind), "--" + kind)
        if args.command == "calibrate":
            from sparsekit.hw._calibrate import DEFAULT_OUT
            outputs.check_file_in_new_directory(args.out or DEFAULT_OUT, "--out")
        if args.command == "demo" and not args.no_report:
            args.out = outputs.prepare_directory(args.out, "--out")
    except ValueError as e:
        raise UserError(str(e)) from None


def load_hardware(name):
    """``hwmodel.load(name)``, any problem with the name or the file as a UserError."""
    import hwmodel
    try:
        return hwmodel.load(name)
    except (ValueError, OSError, ArithmeticError, RecursionError) as e:
        raise UserError(f"--hw {name}: {e}") from None


def check_plotting():
    from sparsekit.report import plots
    try:
        plots.figure(1, 1)
    except ImportError as e:
        raise UserError(f"{e}; or run without the pictures (--no-report, no --plot)") from None


def available_memory():
    """Bytes of memory available to a new allocation (Linux MemAvailable), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _fmt_shape(shape):
    return "x".join(str(d) for d in shape)


def _probe(model, shape, name):
    """Run ``model`` once on one random input of ``shape``: UserError if the input does not
    fit. Returns the bytes of the largest output any submodule produced, and for a model on
    the meta device (run on placeholder weights) which modules read whose tensors
    (``streamed.find_readers``, for ``analyze_streamed``); None for any other."""
    import torch
    from sparsekit.model.streamed import find_readers
    largest, readers = [0], None

    def hook(module, inputs, output):
        if isinstance(output, torch.Tensor):
            largest[0] = max(largest[0], output.numel() * output.element_size())

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        x = torch.randn((1,) + tuple(shape))
        with torch.no_grad():
            if _on_meta(model):
                readers = find_readers(model, x)
            else:
                model(x)
    except (RuntimeError, ValueError, IndexError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"input shape {_fmt_shape(shape)} does not fit model {name!r} "
                        f"({first}); give the shape of one input with --input-shape") from None
    finally:
        for h in handles:
            h.remove()
    return largest[0], readers


def _on_meta(model):
    return any(p.device.type == "meta" for p in model.parameters())


@contextmanager
def _no_weight_init():
    """torch.nn.init's functions as no-ops (the meta-device build that sizes a model needs no
    values: initialising meta tensors goes through torch._refs, which imports torch._dynamo,
    about 1 s)."""
    import torch.nn.init as init
    saved = {n: getattr(init, n) for n in dir(init) if n.endswith("_") and not n.startswith("_")}
    try:
        for n in saved:
            setattr(init, n, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for n, fn in saved.items():
            setattr(init, n, fn)


def load_model_and_input(args):
    """(model in eval mode, random input of --batch × the input shape). The input shape is
    checked on one example and the batch's memory against what the machine has available,
    before the full input is allocated."""
    return load_model_input_readers(args)[:2]


def load_model_input_readers(args, meta=False):
    """``load_model_and_input``, and the probe's ``find_readers`` (None for a model with
    weights). meta: a built-in model (a name of ``sparsekit.models.MODELS``) stays on the meta
    device, without values, for ``analyze_streamed`` (``streamed.streamable``); any other
    model is built with its weights."""
    import math
    import torch
    from sparsekit import models
    from sparsekit.model.streamed import streamable
    kwargs = dict(args.model_args)
    free = available_memory()
    try:
        with torch.device("meta"), _no_weight_init():   # sizes only: nothing allocated yet
            sized = models.load_model(args.model, **kwargs)
        params = sum(p.numel() * p.element_size() for p in sized.parameters())
    except TypeError as e:
        raise UserError(f"model {args.model!r}: {e}") from None
    except (RuntimeError, NotImplementedError):
        sized, params = None, 0             # a constructor that needs real tensors
    if free is not None and 3 * params > free:   # the model, its pruned and sparse copies
        raise UserError(f"model {args.model!r} has {human(params, 'B')} of parameters; with "
                        f"its pruned and sparsified copies that is more than the "
                        f"{human(free, 'B')} of memory available")
    if meta and ":" not in args.model and sized is not None and streamable(sized) is None:
        model = sized
    else:
        model = models.load_model(args.model, **kwargs)
    shape = args.input_shape
    if shape is None and "sizes" in kwargs and isinstance(kwargs["sizes"], (tuple, list)):
        shape = (int(kwargs["sizes"][0]),)
    if shape is None:
        shape = models.input_shape(args.model)
    if free is not None and 4 * math.prod(shape) > free:
        raise UserError(f"one input of shape {_fmt_shape(shape)} needs "
                        f"{human(4 * math.prod(shape), 'B')}, more than the "
                        f"{human(free, 'B')} of memory available")
    largest, readers = _probe(model, shape, args.model)
    per_input = 4 * math.prod(shape) + 3 * largest   # the input, an output, im2col scratch
    need = args.batch * per_input
    if free is not None and need > free:
        raise UserError(f"--batch {args.batch} needs about {human(need, 'B')} of memory for "
                        f"the input and activations ({human(per_input, 'B')} per input), more than "
                        f"the {human(free, 'B')} available; use a smaller --batch")
    g = torch.Generator().manual_seed(0)
    return model, torch.randn((args.batch,) + tuple(shape), generator=g), readers


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


def _analyze(model, x, args, **kwargs):
    """sk.analyze with the command's block/vector and a progress bar where it takes one."""
    from sparsekit.model._analyze import analyze
    return analyze(model, x, block=args.block, vector=args.vector, progress=_progress(),
                   **kwargs)


def _model_meta(args, x, **fields):
    from sparsekit.report.meta import run_meta
    return run_meta(command=args.command, model=args.model, model_args=dict(args.model_args),
                    input_shape=list(x.shape[1:]), batch=args.batch,
                    sparsity=args.sparsity, structure=args.structure, **fields)


# -- commands --------------------------------------------------------------------------------
def summary_of(model, x, args, readers=None):
    """The summary command's analysis. A model on the meta device (a built-in one) is
    analysed one module at a time, each layer pruned as it is built (``analyze_streamed``,
    with the probe's ``readers``: resnet50 in under 300 MB); any other is pruned as a whole
    copy and analysed whole."""
    from sparsekit.model.streamed import analyze_streamed
    if _on_meta(model):
        pruning = None if args.sparsity is None else dict(
            sparsity=args.sparsity, structure=args.structure, block=args.block,
            vector=args.vector)
        return analyze_streamed(model, x, pruning=pruning, block=args.block, vector=args.vector,
                                value_bits=args.value_bits, progress=_progress(),
                                readers=readers)
    return _analyze(pruned_copy(model, args), x, args, value_bits=args.value_bits)


def _return_freed_memory():
    """Have glibc serve each allocation of 256 KiB or more with a mapping of its own, unmapped
    when freed. By default its threshold rises to the size of the largest block freed (up to
    32 MiB), so the weights that ``analyze_streamed`` builds and frees one module at a time
    end up in the heap, which keeps what they leave: 20-40 MB more resident memory for
    resnet50's summary. Nothing happens where the C library has no ``mallopt``."""
    import ctypes
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    M_MMAP_THRESHOLD = -3
    mallopt(M_MMAP_THRESHOLD, 256 * 1024)


def cmd_summary(args):
    _return_freed_memory()
    model, x, readers = load_model_input_readers(args, meta=True)
    summary = summary_of(model, x, args, readers)
    print(summary.to_text(wide=args.wide))
    return Outcome(_model_meta(args, x, hardware=None, format=None,
                               value_bits=args.value_bits),
                   {"summary": summary}, "summary")


def cmd_estimate(args):
    from sparsekit.hw._estimate import compare, estimate
    if args.hw is None:
        args.hw = LAYER_HW if args.measure else "eyeriss-like"
    hw = load_hardware(args.hw)
    if args.measure and hw.name != LAYER_HW:
        raise UserError(f"--measure times the model on this machine: compare it with the "
                        f"{LAYER_HW} preset (--hw {LAYER_HW}), not {hw.name!r}")
    if args.measure and args.compare:
        raise UserError("--measure and --compare: pick one")
    model, x = load_model_and_input(args)
    if args.measure:
        return _estimate_measured(args, hw, model, x)
    pruned = pruned_copy(model, args)
    kw = dict(format=args.format, value_bits=args.value_bits,
              activation_density=args.activation_density, block=args.block,
              vector=args.vector, objective=args.objective, progress=_progress())
    meta = _model_meta(args, x, hardware=[hw.name], format=args.format,
                       value_bits=args.value_bits, objective=args.objective,
                       activation_density=args.activation_density)
    if args.compare:
        table = compare(model, pruned, x, hw, **kw)
        _print(f"{hw.name}: dense vs {args.format} ({args.objective}-optimal mappings, "
               f"batch {args.batch})", args.wide)
        print(table.to_text(wide=args.wide))
        return Outcome(meta, {"compare": table}, "compare")
    est = estimate(pruned, x, hw, **kw)
    print(est.to_text(wide=args.wide))
    return Outcome(meta, {"estimate": est}, "estimate")


def _estimate_measured(args, hw, model, x):
    """``estimate --measure``: the model as it runs here (pruned and converted with
    sk.sparsify when --sparsity is given) estimated on host-cpu, then timed whole and layer by
    layer, the two side by side with the error and, where it is off, why."""
    import sparsekit as sk
    from hwmodel.table import Table
    from sparsekit.hw._estimate import estimate
    from sparsekit.report import measure
    sk.set_num_threads(args.threads)
    runs = model
    if args.sparsity is not None:
        fmt = args.format if args.format in _executable_formats() else "auto"
        runs = sk.sparsify(pruned_copy(model, args), format=fmt, example_input=x,
                           block=args.block, vector=args.vector, progress=_progress())
    est = estimate(runs, x, hw, format="auto" if args.sparsity is not None else "dense",
                   value_bits=args.value_bits, block=args.block, vector=args.vector,
                   objective="latency", progress=_progress())
    print(est.to_text(wide=args.wide))
    _say(f"timing the model and each layer on this machine ({args.threads} thread(s), "
         f"budget {args.budget:g} s)")
    model_s = measure.model_seconds(runs, x, args.budget)
    names = [layer.name for layer in est.layers]
    seconds = measure.layer_seconds(runs, x, names, args.budget, progress=_progress())
    rows = measure.against_estimate(est, seconds, model_s)
    table = Table(rows, priority=("layer", "estimated_s", "measured_s", "error", "format",
                                  "note"))
    whole = rows[-1]
    _print(f"\n== {hw.name} estimate against this machine: whole model estimated "
           f"{whole['estimated_s'] * 1e3:.3f} ms, measured {whole['measured_s'] * 1e3:.3f} ms, "
           f"error {whole['error']:.0%} ==", args.wide)
    print(table.to_text(wide=args.wide))
    off = [r for r in rows if r["note"]]
    if off:
        _print(f"{len(off)} of {len(rows)} rows are off by more than "
               f"{measure.OFF:.0%}: see their note (layers are timed alone, on the input "
               "they received in the model)", args.wide)
    meta = _model_meta(args, x, hardware=[hw.name], format=args.format,
                       value_bits=args.value_bits, objective="latency", measured=True,
                       threads=args.threads, budget_s=args.budget)
    return Outcome(meta, {"estimate": est, "measured": table}, "measured")


def cmd_calibrate(args):
    from hwmodel.table import Table
    from sparsekit.hw._calibrate import calibrate, summary_rows
    from sparsekit.report.meta import run_meta
    path, m = calibrate(args.out, threads=args.threads, budget_s=args.budget,
                        progress=None if args.quiet else _say)
    _print(f"host-cpu calibrated on {m['cpu']} ({m['date']}, {m['threads']} thread(s), "
           f"{m['seconds']:.1f} s)", args.wide)
    table = Table(summary_rows(m))
    print(table.to_text(wide=args.wide))
    _print(f"wrote {path}; use it with hwmodel.load({str(path)!r}) or "
           f"HWMODEL_PRESET_PATH={path.parent} (then the preset name 'host-cpu')", args.wide)
    meta = run_meta(command="calibrate", hardware=["host-cpu"], threads=args.threads,
                    budget_s=args.budget, preset=str(path))
    return Outcome(meta, {"calibration": table}, "calibration")


def cmd_bench(args):
    from sparsekit.benchmarking import quick as quickbench
    from sparsekit.report.meta import run_meta
    grid = dict(quickbench.QUICK)
    if not args.quick:
        grid = dict(shapes=[(4096, 4096), (1024, 4096), (256, 2304)],
                    sparsities=[0.0, 0.5, 0.7, 0.9, 0.95], batches=[1, 16, 64, 256])
    for key in ("shapes", "sparsities", "batches"):
        if getattr(args, key):
            grid[key] = getattr(args, key)
    largest = max(4 * m * k * 4 + 8 * (m + k) * b for m, k in grid["shapes"]
                  for b in grid["batches"])   # dense + sparse copies of W, X and Y
    free = available_memory()
    if free is not None and largest > free:
        raise UserError(f"the largest shape and batch: each point needs about "
                        f"{human(largest, 'B')} of memory, more than the "
                        f"{human(free, 'B')} available")
    result = quickbench.run(**grid, formats=args.formats, threads=args.threads,
                            progress=_progress() and not args.no_progress)
    _print(f"sparse vs dense on this machine, {args.threads} thread(s); "
           "speedups over dense torch.matmul in the same process", args.wide)
    print(result.to_text(wide=args.wide))
    meta = run_meta(command="bench", hardware=None, format=args.formats, threads=args.threads,
                    batch=grid["batches"], sparsity=grid["sparsities"],
                    shapes=[list(s) for s in grid["shapes"]])
    return Outcome(meta, {"bench": result}, "bench")


def _one_line(text, width):
    """``text``'s first clause (up to ': ' or '. '), cut to ``width`` with an ellipsis."""
    for sep in (": ", ". "):
        text = text.split(sep)[0]
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_formats(args):
    """Several weight formats on one model and one hardware: per format in total (and per
    layer with --layers): bytes, bits per nonzero, DRAM bytes, energy, latency, utilisation,
    inferences/s/W."""
    from sparsekit.hw._compare_formats import compare_formats
    from sparsekit.hw._specs import resolve
    specs = args.specs or ["dense", "csr", "bitmap"]
    for spec in specs:
        try:
            resolve(spec, args.block, args.vector)
        except (ValueError, TypeError) as e:
            raise UserError(f"--spec {spec}: {e}") from None
    if args.plot:
        check_plotting()
    hw = load_hardware(args.hw)
    model, x = load_model_and_input(args)
    try:
        result = compare_formats(pruned_copy(model, args), x, specs, hw,
                                 value_bits=args.value_bits, block=args.block,
                                 vector=args.vector, objective=args.objective,
                                 progress=_progress())
    except ValueError as e:
        raise UserError(str(e)) from None
    print(result.to_text(wide=args.wide, layers=args.layers))
    if args.plot:
        _say(f"wrote {result.plot(args.plot)}")
    meta = _model_meta(args, x, hardware=[hw.name], format=list(result.formats),
                       value_bits=args.value_bits, objective=args.objective)
    return Outcome(meta, {"formats": result.table()}, "formats")


def cmd_presets(args):
    """The hardware presets --hw accepts, one line each."""
    import hwmodel
    from hwmodel.presets import preset_path
    from hwmodel.table import Table
    from sparsekit.report.meta import run_meta
    rows = []
    for name in hwmodel.presets():
        row = {"name": name, "path": str(preset_path(name))}
        try:
            hw = hwmodel.load(name)
        except (ValueError, OSError, ArithmeticError, RecursionError) as e:
            row["description"] = f"(cannot be read: {str(e).splitlines()[0]})"
        else:
            row.update(description=" ".join(hw.description.split()),
                       mac_type=hw.compute.native_type,
                       peak_macs_per_s=hw.compute.macs_per_cycle * hw.clock_hz,
                       memory=[level.name for level in hw.memory])
        rows.append(row)
    width = max(len(r["name"]) for r in rows) if rows else 0
    for r in rows:
        text = r["description"] if args.wide else _one_line(r["description"],
                                                              WIDTH - width - 2)
        print(f"{r['name']:<{width}}  {text}")
    print("\nuse one with --hw NAME, or give a YAML file: --hw path/to/hardware.yaml")
    return Outcome(run_meta(command="presets"), {"presets": Table(rows)}, "presets")


def cmd_models(args):
    """The built-in example models and their default input shapes."""
    from hwmodel.table import Table
    from sparsekit import models
    from sparsekit.report.meta import run_meta
    rows = models.catalogue()
    width = max(len(r["name"]) for r in rows)
    print(f"{'model':<{width}}  {'input':<9}  {'params':>8}  {'MACs':>9}  description")
    for r in rows:
        line = (f"{r['name']:<{width}}  {_fmt_shape(r['input_shape']):<9}  "
                f"{human(r['params'], ''):>8}  {human(r['macs'], 'MAC'):>9}  {r['description']}")
        print(line if args.wide or len(line) <= WIDTH else line[: WIDTH - 1] + "…")
    print("\naliases: " + ", ".join(f"{a} = {r['name']}" for r in rows for a in r["aliases"]))
    print("any package.module:callable works too, e.g. torchvision.models:inception_v3 "
          f"(input {_fmt_shape(models.input_shape('torchvision.models:inception_v3'))})")
    return Outcome(run_meta(command="models"), {"models": Table(rows)}, "models")


# The whole-model table's columns, most important first: what a narrow terminal keeps.
WHOLE_MODEL_PRIORITY = ("hardware", "speedup", "sparse_latency_s", "energy_saving",
                        "sparse_energy_j", "dense_latency_s", "dense_energy_j", "format",
                        "sparse_inf_per_s_per_w", "dense_inf_per_s_per_w", "sparse_bound",
                        "dense_bound")


def _whole_model_rows(measured, comparisons):
    """The demo's headline table: the measured row, then each hardware's totals."""
    rows = [{"hardware": "this machine (measured)", "dense_latency_s": measured["dense_s"],
             "sparse_latency_s": measured["sparse_s"], "speedup": measured["speedup"]}]
    for name, table in comparisons.items():
        total = dict(table[-1])
        total.pop("layer")
        rows.append({"hardware": f"{name} (estimated)", **total})
    return rows


def _host_rows(model, fast, x, host, here, args):
    """The demo's host check: (whole-model rows {model, estimated_s, measured_s, error,
    note} of the dense model and of the sparsified one as it runs, on ``host``; the
    sparsified model's ModelEstimate, for its per-layer rows)."""
    from sparsekit.hw._estimate import estimate
    from sparsekit.report import measure
    rows, sparse_est = [], None
    for label, m, fmt, measured_s in (("dense", model, "dense", here["dense_s"]),
                                      ("sk.sparsify", fast, "auto", here["sparse_s"])):
        est = estimate(m, x, host, format=fmt, block=args.block, vector=args.vector,
                       objective="latency", progress=_progress())
        row = measure.against_estimate(est, {}, measured_s)[-1]
        rows.append({"model": label, **{k: v for k, v in row.items()
                                        if k not in ("layer", "format")}})
        sparse_est = est
    return rows, sparse_est


def cmd_demo(args):
    """The main job: prune, analyse, time sparse on this machine, estimate on hardware, and
    (unless --no-report) measure a few more sparsities and every layer for the report."""
    import sparsekit as sk
    from hwmodel.table import Table
    from sparsekit.hw._estimate import compare
    from sparsekit.nn._sparsify import sparsify
    from sparsekit.report import folder, measure, plots

    hardware = {}
    for name in args.hw:
        hw = load_hardware(name)
        hardware[hw.name] = hw
    report = not args.no_report
    if report or args.plot:
        check_plotting()
    host = hardware.get(LAYER_HW) or load_hardware(LAYER_HW)
    steps = 4 if report else 3
    sk.set_num_threads(args.threads)
    progress = _progress()
    model, x = load_model_and_input(args)

    _say(f"[1/{steps}] pruning {args.model} to {args.sparsity:.0%} by magnitude "
         f"({args.structure}) and analysing it")
    pruned = pruned_copy(model, args)
    summary = _analyze(pruned, x, args)
    _print(f"== {args.model} pruned to {args.sparsity:.0%} ({args.structure}), "
           f"input {_fmt_shape(x.shape)} ==", args.wide)
    print(summary.to_text(wide=args.wide))

    _say(f"[2/{steps}] converting with sk.sparsify and timing dense vs sparsified on this "
         f"machine ({args.threads} thread(s))")
    fast, decisions = sparsify(pruned, format="auto", example_input=x, block=args.block,
                               vector=args.vector, progress=progress, return_report=True)
    dense_s = measure.model_seconds(model, x, args.budget)
    sparse_s = measure.model_seconds(fast, x, args.budget)
    here = {"sparsity": args.sparsity, "dense_s": dense_s, "sparse_s": sparse_s,
            "speedup": dense_s / sparse_s}
    _print(f"\n== measured on this machine: dense {dense_s * 1e3:.3f} ms, sk.sparsify "
           f"{sparse_s * 1e3:.3f} ms, speedup {dense_s / sparse_s:.2f}x ==", args.wide)
    host_rows, sparse_est = _host_rows(model, fast, x, host, here, args)
    host_table = Table(host_rows, priority=("model", "estimated_s", "measured_s", "error",
                                            "note"))
    _print(f"\n== {host.name} estimate against this machine (whole model, as it runs) ==",
           args.wide)
    print(host_table.to_text(wide=args.wide))

    _say(f"[3/{steps}] estimating on {', '.join(hardware)}")
    comparisons = {name: compare(model, pruned, x, hw, format=args.format, block=args.block,
                                 vector=args.vector, progress=progress)
                   for name, hw in hardware.items()}
    estimates = Table(_whole_model_rows(here, comparisons), priority=WHOLE_MODEL_PRIORITY)
    print("\n== dense vs compressed, whole model (ratios are dense / compressed) ==")
    print(estimates.to_text(wide=args.wide))

    meta = _model_meta(args, x, hardware=list(hardware), format=args.format,
                       threads=args.threads, budget_s=args.budget)
    tables = {"summary": summary, "estimates": estimates, "measured": Table([here]),
              "host_vs_measured": host_table,
              **{f"{name} per layer": table for name, table in comparisons.items()}}
    if report:
        _say(f"[4/{steps}] measuring {', '.join(f'{s:.0%}' for s in DEMO_SPARSITIES)} "
             "sparsity and every layer for the report")
        others = [s for s in DEMO_SPARSITIES if s != args.sparsity]
        sweep = measure.speedup_vs_sparsity(model, x, others, dense_s, args.budget,
                                            structure=args.structure, block=args.block,
                                            vector=args.vector, progress=progress)
        tables["measured"] = Table(sorted(sweep + [here], key=lambda r: r["sparsity"]))
        speedups = ", ".join(f"{r['sparsity']:.0%} {r['speedup']:.2f}x"
                             for r in tables["measured"])
        _print(f"\n== measured speedup against sparsity: {speedups} ==", args.wide)
        names = [layer.name for layer in sparse_est.layers]
        seconds = measure.layer_seconds(fast, x, names, args.budget, progress=progress)
        tables["layer_latency"] = Table(
            measure.against_estimate(sparse_est, seconds),
            priority=("layer", "estimated_s", "measured_s", "error", "format", "note"))
        _print(f"\n== {host.name} estimate against this machine, per layer of the sparsified "
               "model (each timed alone on its recorded input) ==", args.wide)
        print(tables["layer_latency"].to_text(wide=args.wide))
        written = folder.write(args.out, title=f"sparsekit demo: {args.model} pruned to "
                               f"{args.sparsity:.0%}", meta=meta, tables=tables,
                               comparisons=comparisons, hardware=hardware, layer_hw=LAYER_HW)
        _print(f"\nreport: {written[0]} (with {len(written) - 1} pictures in {args.out})",
               args.wide)
    if args.plot:
        plots.energy_breakdown(comparisons, args.plot)
        _say(f"wrote {args.plot}")
    return Outcome(meta, tables, "estimates")


# -- parser and main -----------------------------------------------------------------------
def build_parser():
    from sparsekit.report.meta import version_line
    parser = argparse.ArgumentParser(prog="sparsekit", description="What sparsity really "
                                     "buys a neural network: formats, kernels, estimates.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="the main job: prune a model, analyse it, time it sparse "
                       "on this machine, estimate it on hardware presets, write a report")
    add_model(d, default="small_cnn")
    d.add_argument("--sparsity", type=_sparsity, default=0.9,
                   help="magnitude-pruning sparsity (default 0.9)")
    d.add_argument("--format", default="auto", choices=["auto", "dense"] + _executable_formats(),
                   help="format for the estimates (default auto)")
    d.add_argument("--hw", action="append", default=None,
                   help=f"hardware preset or YAML (repeatable; default {', '.join(DEMO_PRESETS)})")
    d.add_argument("--threads", type=_positive, default=1, help="threads (default 1)")
    d.add_argument("--budget", type=_seconds, default=0.5,
                   help="timing budget per model in seconds (default 0.5)")
    d.add_argument("--out", default="sparsekit-report", metavar="DIR",
                   help="the report folder: report.md and PNG pictures (default "
                        "./sparsekit-report)")
    d.add_argument("--no-report", action="store_true", help="write no report folder")
    d.add_argument("--plot", metavar="PATH", help="also write the energy breakdown PNG here")
    add_outputs(d)
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser("summary", help="per-layer analysis of a model (shapes, MACs, nnz, "
                       "structure, bytes per format)")
    add_model(s)
    s.add_argument("--sparsity", type=_sparsity,
                   help="prune a copy to this sparsity by magnitude first")
    s.add_argument("--value-bits", type=int, default=32, choices=[8, 16, 32, 64],
                   help="stored value width (default 32)")
    add_outputs(s)
    s.set_defaults(func=cmd_summary)

    e = sub.add_parser("estimate", help="latency, energy and inferences/s/W of a model on "
                       "a hardware description")
    add_model(e)
    e.add_argument("--sparsity", type=_sparsity,
                   help="prune a copy to this sparsity by magnitude first")
    e.add_argument("--hw", default=None,
                   help="hardware preset name or YAML path (default eyeriss-like, or "
                        f"{LAYER_HW} with --measure; see `sparsekit presets`)")
    e.add_argument("--format", default="auto", choices=["auto", "dense"] + _executable_formats(),
                   help="weight format (auto: smallest per layer; any other spec: `sparsekit "
                        "formats`)")
    e.add_argument("--value-bits", type=int, choices=[8, 16, 32, 64],
                   help="weight/activation width (default: the hardware's native type)")
    e.add_argument("--activation-density", type=float,
                   help="share of nonzero input activations (default 1)")
    e.add_argument("--objective", default="energy", choices=["energy", "latency", "edp"],
                   help="what the mapping search minimises (default energy)")
    e.add_argument("--compare", action="store_true",
                   help="set the dense model and the compressed one side by side")
    e.add_argument("--measure", action="store_true",
                   help=f"also time the model (sk.sparsify'd with --sparsity) and each layer "
                        f"on this machine, beside the {LAYER_HW} estimate, with the error")
    e.add_argument("--threads", type=_positive, default=1,
                   help="threads for --measure (default 1)")
    e.add_argument("--budget", type=_seconds, default=0.5,
                   help="timing budget for --measure, per model and for the layers "
                        "(default 0.5 s)")
    add_outputs(e)
    e.set_defaults(func=cmd_estimate)

    f = sub.add_parser("formats", help="weight formats side by side on a model and a hardware: "
                       "bytes, traffic, energy, latency, utilisation")
    add_model(f)
    f.add_argument("--spec", dest="specs", action="append", metavar="SPEC",
                   help="a format (repeatable; default dense, csr, bitmap): a YAML file, "
                        f"dense, {', '.join(_executable_formats())}, a built-in spec "
                        f"({', '.join(_builtin_specs())}), or ranks as a short string such as "
                        "UOP-CP or U-B")
    f.add_argument("--sparsity", type=_sparsity,
                   help="prune a copy to this sparsity by magnitude first")
    f.add_argument("--hw", default="eyeriss-like",
                   help="hardware preset name or YAML path (default eyeriss-like)")
    f.add_argument("--value-bits", type=int, choices=[8, 16, 32, 64],
                   help="weight/activation width (default: the hardware's native type; a "
                        "YAML spec keeps its own value_bits)")
    f.add_argument("--objective", default="energy", choices=["energy", "latency", "edp"],
                   help="what the mapping search minimises (default energy)")
    f.add_argument("--layers", action="store_true", help="also print the per-layer table")
    f.add_argument("--plot", metavar="PATH", help="write a PNG: payload against metadata "
                   "bytes, and energy, per format")
    add_outputs(f)
    f.set_defaults(func=cmd_formats)

    c = sub.add_parser("calibrate", help="measure this machine and write the host-cpu "
                       "hardware preset")
    c.add_argument("--out", default=None, metavar="PATH",
                   help="where to write the YAML (default "
                        "~/.config/sparsekit/presets/host-cpu.yaml; missing folders are "
                        "created)")
    c.add_argument("--threads", type=_positive, default=1, help="threads (default 1)")
    c.add_argument("--budget", type=_seconds, default=20.0,
                   help="time budget in seconds (default 20)")
    c.add_argument("--quiet", action="store_true", help="no progress lines")
    add_outputs(c)
    c.set_defaults(func=cmd_calibrate)

    b = sub.add_parser("bench", help="time sparse formats against dense on this machine")
    b.add_argument("--quick", action="store_true", help="a short grid (about a minute)")
    b.add_argument("--shape", dest="shapes", type=_shape, action="append",
                   help="MxK weight shape (repeatable)")
    b.add_argument("--sparsity", dest="sparsities", type=_sparsity, action="append",
                   help="sparsity in [0, 1) (repeatable)")
    b.add_argument("--batch", dest="batches", type=_positive, action="append",
                   help="batch N (repeatable)")
    b.add_argument("--format", dest="formats", action="append",
                   choices=_executable_formats(), help="format (repeatable)")
    b.add_argument("--threads", type=_positive, default=1, help="threads (default 1)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_outputs(b)
    b.set_defaults(func=cmd_bench, formats=None)

    p = sub.add_parser("presets", help="the hardware presets --hw accepts, one line each")
    add_outputs(p)
    p.set_defaults(func=cmd_presets)
    m = sub.add_parser("models", help="the built-in example models and their input shapes")
    add_outputs(m)
    m.set_defaults(func=cmd_models)
    return parser


def _use_calibrated_presets():
    """Put the directory `sparsekit calibrate` writes to on HWMODEL_PRESET_PATH (after any
    directory already there), so "host-cpu" means this machine once it is calibrated."""
    from sparsekit.hw._calibrate import DEFAULT_OUT
    directory = os.path.expanduser(os.fspath(DEFAULT_OUT.parent))
    paths = [p for p in os.environ.get("HWMODEL_PRESET_PATH", "").split(os.pathsep) if p]
    if os.path.isdir(directory) and directory not in paths:
        os.environ["HWMODEL_PRESET_PATH"] = os.pathsep.join(paths + [directory])


def _run(args):
    """Check what can be checked up front, run the command, write its outputs."""
    from sparsekit.report import outputs
    check_outputs(args)
    outcome = args.func(args)
    paths = {kind: getattr(args, kind, None) for kind in ("json", "csv", "markdown")}
    for path in outputs.write(paths, args.command, outcome.meta, outcome.tables,
                              outcome.main):
        _say(f"wrote {path}")
    return 0


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:         # --help, --version (0) and bad arguments (2) as codes
        return e.code
    if getattr(args, "formats", "unset") is None:
        args.formats = _executable_formats()
    _use_calibrated_presets()
    if args.command == "demo" and args.hw is None:
        args.hw = list(DEMO_PRESETS)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print(f"\nsparsekit {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:         # `sparsekit ... | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (UserError, ValueError, OSError) as e:
        message = " ".join(str(e).split()) or type(e).__name__
        if len(message) > 1000:
            message = message[:999] + "…"
        print(f"sparsekit {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
