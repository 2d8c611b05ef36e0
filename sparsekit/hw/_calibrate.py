"""Calibrate the "host-cpu" hardware preset on this machine (``sparsekit calibrate``).

Measured here, with the thread count pinned (``sk.set_num_threads``):
- read bandwidth of every cache level and of DRAM (``kernels.probe.read_bandwidth`` on an
  array half the level's capacity, or far larger than the last cache for DRAM);
- the dense peak: the faster of torch's float32 GEMM (``torch.matmul``, a large one) and its
  3×3 conv, as MACs per cycle of the clock /proc/cpuinfo reports. They run different
  libraries (MKL; oneDNN), which need not reach the same rate: on an AMD Zen 5 here, MKL's
  GEMM ran 111 GFLOP/s and oneDNN's 3×3 convs 189-248 (one thread), and a peak read off the
  GEMM alone, each op's efficiency being at most 1, priced those convs at half their speed
  (the dense resnet50 at batch 16 estimated at 2.1× its time);
- per-format kernel efficiency: at a few calibration points (``CALIBRATION_POINTS``), the
  format's stored MACs per second over the dense peak, the share of the dense datapath the
  sparse kernel keeps (index decoding, gathers, load imbalance);
- what a whole model pays besides its GEMMs (``measure_software``): the fixed cost of one
  call of each kind (a torch Linear, conv, depthwise conv, activation product, other op, and
  a sparse layer's kernel call: a call too small to do any work), torch's dense efficiency
  per op (a few layer shapes each: its convs and small GEMMs are slower per MAC than the
  large GEMM of the peak), the rate at which torch's non-GEMM ops stream their bytes, and
  each kind of non-GEMM op a model runs: its call and its rate (``_other_ops``; timed in
  turn, as a model calls them).
Energies cannot be measured (no power meter): they are cited per-byte and per-FLOP figures.

The preset is YAML that ``hwmodel.load(path)`` reads, or ``hwmodel.load("host-cpu")`` with
the directory on ``HWMODEL_PRESET_PATH``. ``kernel_layer`` / ``predict_seconds`` turn one
kernel call into an ``hwmodel.Layer`` so benchmarks can predict measured kernel times.
"""
from __future__ import annotations

import datetime
import os
import platform
import time
from pathlib import Path

import numpy as np

import hwmodel

from sparsekit.formats import registry
from sparsekit.kernels.caches import cache_sizes

DEFAULT_OUT = Path("~/.config/sparsekit/presets/host-cpu.yaml")
# format -> pruning structure, from the format registry (one calibrated pair per structure)
FORMAT_STRUCTURE = registry.structures()
# (shape, sparsity, batch) of the foundation's grid used to calibrate each format's efficiency;
# bench/bench_predict.py predicts the other grid points.
# Two conv-shaped points too (resnet's 3×3 convs as SparseConv2d runs them: one image's
# im2col matrix, N = its positions): there X is too large for L2, unlike the GEMM points.
CALIBRATION_POINTS = tuple(((1024, 4096), sp, b) for sp in (0.5, 0.9)
                           for b in (1, 16, 64, 256)) + (((64, 576), 0.9, 3136),
                                                         ((128, 1152), 0.9, 784))
BLOCK, VECTOR = (4, 4), 8


def _cpuinfo(field: str) -> str | None:
    """The value of ``field`` for the first core in /proc/cpuinfo, or None where there is none."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:   # no /proc (not Linux): each caller has its own fallback
        return None
    return None


def cpu_model() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine() or "unknown CPU"


def cpu_clock_hz() -> float:
    """The current clock /proc/cpuinfo reports (the first core), else 3 GHz."""
    try:
        return float(_cpuinfo("cpu MHz")) * 1e6
    except (TypeError, ValueError):
        return 3e9


def simd_lanes() -> int:
    """fp32 lanes of the widest vector unit /proc/cpuinfo lists (avx512f 16, avx 8, else 4)."""
    flags = (_cpuinfo("flags") or "").split()
    return 16 if "avx512f" in flags else 8 if "avx" in flags else 4


def kernel_layer(a, batch: int, name: str = "kernel") -> hwmodel.Layer:
    """The ``hwmodel.Layer`` of ``a @ X`` with X of ``batch`` float32 columns: exact format
    bytes (values, metadata), stored and effective MACs, the format's sparsity structure; X
    streamed (the kernels walk a row of X per stored value, untiled)."""
    m, k = a.shape
    st = a.storage(value_bits=32)
    dense = m * k * batch
    stored = min(a.stored * batch, dense)
    structure = FORMAT_STRUCTURE.get(a.format, "unstructured")
    return hwmodel.Layer(name=name, M=m, K=k, N=batch, value_bits=32, activation_bits=32,
                         kind="fp", input_bytes=4 * k * batch, output_bytes=4 * m * batch,
                         weight_value_bytes=float(st.values),
                         weight_metadata_bytes=float(st.metadata), dense_macs=dense,
                         effective_macs=min(a.nnz * batch, stored), stored_macs=stored,
                         structure=structure, streamed=("inputs",))


def warm(hw, working_set_bytes: float):
    """``hw`` as a repeated kernel call sees it: when the call's working set fits in the
    outermost cache, that cache serves what the model charges to DRAM (a benchmark loop
    reads a weight that fits in L3 from L3, not DRAM), so DRAM takes its bandwidth."""
    import dataclasses
    dram, last = hw.memory[0], hw.memory[1] if len(hw.memory) > 1 else None
    if last is None or working_set_bytes > last.capacity_bytes:
        return hw
    served = dataclasses.replace(dram, bandwidth_bytes_per_cycle=last.bandwidth_bytes_per_cycle)
    return dataclasses.replace(hw, memory=(served,) + tuple(hw.memory[1:]))


def working_set(a, batch: int) -> float:
    """Bytes one ``a @ X`` call touches: the format's storage, X and Y (float32)."""
    m, k = a.shape
    return a.storage(value_bits=32).total + 4 * (m + k) * batch


def predict_seconds(hw, a, batch: int, warm_cache: bool = True) -> float:
    """Predicted time of ``a @ X`` (``batch`` columns) on ``hw`` (latency-optimal mapping);
    ``warm_cache``: as a benchmark loop repeating the call sees it (see ``warm``)."""
    if warm_cache:
        hw = warm(hw, working_set(a, batch))
    return hwmodel.estimate(hw, kernel_layer(a, batch), objective="latency").latency_s


# Layer shapes timed for each dense op's efficiency: (op, what, build(torch) -> (fn, Layer
# arguments)). Shapes of the whole-model benchmark's models (resnet, mobilenet, transformer).
def _dense_points(small):
    import torch
    from torch import nn

    def linear(batch, k, m):
        mod, x = nn.Linear(k, m).eval(), torch.randn(batch, k)
        return f"Linear {k}->{m} x{batch}", lambda: mod(x), dict(M=m, K=k, N=batch)

    def conv(b, cin, cout, size, kernel, stride=1, groups=1):
        mod = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups).eval()
        x = torch.randn(b, cin, size, size)
        out = (size + 2 * (kernel // 2) - kernel) // stride + 1
        return (f"Conv2d {cin}->{cout} {kernel}x{kernel}/{stride} g{groups} {b}x{size}²",
                lambda: mod(x), dict(M=cout, K=cin * kernel * kernel // groups,
                                     N=b * out * out, groups=groups,
                                     input_bytes=4 * x.numel()))

    def bmm(heads, m, k, n):
        a, b = torch.randn(heads, m, k), torch.randn(heads, k, n)
        return (f"bmm {heads}x{m}x{k}x{n}", lambda: torch.bmm(a, b),
                dict(M=heads * m, K=k, N=n, groups=heads, input_bytes=4 * b.numel()))

    points = {"linear": [lambda: linear(128, 384, 1536), lambda: linear(16, 1024, 1024),
                         lambda: linear(2048, 384, 384), lambda: linear(1, 1024, 1024),
                         lambda: linear(16, 4096, 4096)],
              "conv": [lambda: conv(1, 64, 64, 28, 3), lambda: conv(1, 3, 64, 112, 7, 2),
                       lambda: conv(1, 256, 64, 28, 1), lambda: conv(16, 32, 64, 32, 3, 2),
                       lambda: conv(16, 128, 128, 14, 3)],
              "depthwise": [lambda: conv(1, 96, 96, 56, 3, groups=96),
                            lambda: conv(16, 64, 64, 16, 3, groups=64),
                            lambda: conv(16, 384, 384, 14, 3, groups=384)],
              "matmul": [lambda: bmm(6, 128, 64, 128), lambda: bmm(96, 128, 64, 128),
                         lambda: bmm(96, 128, 128, 64)]}
    return {op: builds[:1] if small else builds for op, builds in points.items()}


def _tiny_calls(sparse_conv):
    """{call kind: [callables]}: calls too small to do any work, whose time is the fixed cost
    of a call of that kind ("other": the mean over a few). ``sparse_conv``: (layer, input) of
    ``_tiny_sparse_conv``, whose time still includes the ops the layer runs besides its
    product (``measure_software`` takes them off)."""
    import torch
    from torch import nn

    from sparsekit.nn.layers import SparseLinear
    conv_layer, conv_input = sparse_conv
    x, img = torch.randn(1, 16), torch.randn(1, 4, 4, 4)
    lin, conv = nn.Linear(16, 16).eval(), nn.Conv2d(4, 4, 1).eval()
    dw = nn.Conv2d(4, 4, 3, padding=1, groups=4).eval()
    a, b = torch.randn(2, 4, 4), torch.randn(2, 4, 4)
    relu, bn, pool = nn.ReLU(), nn.BatchNorm2d(4).eval(), nn.MaxPool2d(2)
    pruned = nn.Linear(16, 16)
    with torch.no_grad():
        pruned.weight.mul_(pruned.weight.abs() > 0.1)
    sparse = SparseLinear.from_dense(pruned, "csr")
    return {"linear": [lambda: lin(x)], "conv": [lambda: conv(img)],
            "depthwise": [lambda: dw(img)], "matmul": [lambda: torch.bmm(a, b)],
            "other": [lambda: relu(img), lambda: img + img, lambda: bn(img),
                      lambda: pool(img)],
            "sparse": [lambda: sparse(x)],
            "sparse_conv": [lambda: conv_layer(conv_input)]}


def _tiny_sparse_conv():
    """A 3×3 csr SparseConv2d (4 → 4 channels, padding 1) and its 1×4×16×16 input: the
    padded image read in place, as resnet's 3×3 convs run."""
    import torch
    from torch import nn

    from sparsekit.nn.layers import SparseConv2d
    conv = nn.Conv2d(4, 4, 3, padding=1)
    with torch.no_grad():
        conv.weight.mul_(conv.weight.abs() > 0.1)
    return SparseConv2d.from_dense(conv, "csr"), torch.randn(1, 4, 16, 16)


RESIDENT = ("weights", "inputs", "outputs")     # a repeated call finds its operands cached


def measure_software(hw, budget_s, small=False, say=lambda msg: None) -> dict:
    """{"call_cycles": {kind: cycles}, "dense_efficiency": {op: share}, "other_bandwidth":
    bytes/s, "dense_points": rows}: see the module docstring. ``hw``: the preset measured so
    far (bandwidths, peak), which prices each shape's memory side for the fit.

    Each call kind's fixed cost is the time of its tiny call. A dense op's efficiency e and
    cycles per weight element w are fitted together (``_fit_compute``: least |log(predicted /
    measured)|) over its shapes, the fixed cost taken off, predicted = max(MACs / (peak · e)
    + w · weight elements, memory time): small batches do not amortise packing W."""
    import dataclasses

    import torch
    from hwmodel.hardware import DENSE_OPS

    from sparsekit.hw._other_ops import measure_other_ops
    from sparsekit.model.tracing import trace_forward
    clock = hw.clock_hz
    # priced as the library's products (their per-MAC reads in the efficiency being fitted)
    hw = dataclasses.replace(hw, compute=dataclasses.replace(
        hw.compute, dense_efficiency=dict.fromkeys(DENSE_OPS, 1.0)))
    sparse_conv = _tiny_sparse_conv()
    tiny = _tiny_calls(sparse_conv)
    per_call = max(0.01, budget_s / (6 * sum(len(v) for v in tiny.values())))
    calls = {}
    with torch.no_grad():
        for kind, fns in tiny.items():
            calls[kind] = float(np.mean([_budget_timer(fn, per_call) for fn in fns])) * clock
            say(f"{kind} call: {calls[kind] / clock * 1e6:.2f} µs")
        n = 1 << 20                                 # 4 MiB of float32: an activation
        x, y = torch.randn(n), torch.randn(n)
        bn = torch.nn.BatchNorm1d(16).eval()
        xb = x.view(-1, 16, 1024)
        streams = [(lambda: torch.relu(x), 8 * n), (lambda: x + y, 12 * n),
                   (lambda: bn(xb), 8 * n)]
        seconds = sum(max(_budget_timer(fn, per_call) - calls["other"] / clock, 1e-9)
                      for fn, _ in streams)
        other_bw = sum(b for _, b in streams) / seconds
        say(f"other ops stream {other_bw / 1e9:.1f} GB/s")
        other_ops = measure_other_ops(clock, lambda fns: _rotation_timer(fns, budget_s / 4),
                                      say)
        # the sparse conv's own cost: its pad, copy and bias add are priced as ops of their own
        for op in trace_forward(*sparse_conv).ops:
            calls["sparse_conv"] -= other_ops[op.kind]["call_cycles"] if op.kind in other_ops \
                else calls["other"]
        calls["sparse_conv"] = max(calls["sparse_conv"], 0.0)
        say(f"sparse_conv call without its ops: {calls['sparse_conv'] / clock * 1e6:.2f} µs")
        points = _dense_points(small)
        per_point = max(0.01, budget_s / (2 * sum(len(v) for v in points.values())))
        efficiency, weight, rows = {}, {}, []
        for op, builds in points.items():
            fits = []
            for build in builds:
                what, fn, dims = build()
                t = _budget_timer(fn, per_point) - calls[op] / clock
                layer = hwmodel.Layer(name=what, op=op, calls=0, resident=RESIDENT, **dims)
                cost = hwmodel.estimate(hw, layer, objective="latency").layers[0]
                memory_s = max(cost.level_cycles.values()) / clock
                fits.append((max(t, 1e-9), cost.compute_cycles / clock,
                             layer.M // layer.groups * layer.K / clock, memory_s))
                rows.append(dict(op=op, shape=what, seconds=t, macs=layer.dense_macs))
            efficiency[op], weight[op] = _fit_compute(fits)
            say(f"dense {op}: {efficiency[op]:.3f} of the peak, {weight[op]:.3g} cycles per "
                "weight element")
    return dict(call_cycles=calls, dense_efficiency=efficiency, weight_cycles=weight,
                other_bandwidth=other_bw, other_ops=other_ops, dense_points=rows)


def _budget_timer(fn, budget_s):
    """The fastest of the rounds timed within ``budget_s``: other processes on the machine
    only ever add time, so the minimum is the figure that does not depend on them."""
    from sparsekit.benchmarking.timing import measure
    return measure(fn, min_rounds=3, max_rounds=50, budget_s=budget_s).min


def _rotation_timer(fns, budget_s):
    """The fastest time of each of ``fns`` called in turn, round after round, within
    ``budget_s``: as a model calls its ops, never the same one twice in a row. Used for the
    non-GEMM ops, whose cost is mostly their call: in turn, a batch norm's tiny call takes
    25 µs and a ReLU's 12 µs, against 11 µs and 4 µs each in a loop of its own, and a model's
    ops take the former. The products are timed alone: in turn, calibration shapes far larger
    and smaller than a model's neighbouring layers evict each other (the CSR kernel's fitted
    efficiency fell from 0.54 to 0.28 and over-estimated the sparse MLP by 48 %)."""
    from sparsekit.benchmarking.timing import interleaved
    return [t.min for t in interleaved(fns, min_rounds=3, max_rounds=50, budget_s=budget_s)]


def measure(threads: int = 1, budget_s: float = 20.0, progress=None) -> dict:
    """Every measured number (see the module docstring), within about ``budget_s`` seconds."""
    import sparsekit as sk
    from sparsekit.kernels.probe import read_bandwidth
    from sparsekit.formats import pack
    from sparsekit.benchmarking.workloads import random_weight

    say = progress or (lambda msg: None)
    sk.set_num_threads(threads)
    small = budget_s < 5
    clock = cpu_clock_hz()
    caches = cache_sizes()
    bandwidth = {}
    # L1 is not a level of the preset: a probe call on an array that small measures the
    # call's overhead, not the cache; register/L1 traffic is in the kernel efficiencies.
    caches = {k: v for k, v in caches.items() if k != "l1"}
    for level, size in sorted(caches.items()):
        nbytes = max(4096, size // 2)
        repeats = 3 if small else max(5, min(201, int(2e8 // nbytes)))
        bandwidth[level] = read_bandwidth(nbytes, repeats)
        say(f"{level} ({size // 1024} KiB): {bandwidth[level] / 1e9:.1f} GB/s")
    dram_bytes = (1 << 25) if small else max(1 << 28, 4 * max(caches.values()))
    bandwidth["dram"] = read_bandwidth(dram_bytes, 3 if small else 5)
    say(f"dram: {bandwidth['dram'] / 1e9:.1f} GB/s")

    peak_macs = _dense_peak(small, 0.1 if small else 0.15 * budget_s, say)

    hw = _hardware(clock, peak_macs / clock, caches, bandwidth,
                   dict.fromkeys(FORMAT_STRUCTURE.values(), 1.0),
                   dict.fromkeys(FORMAT_STRUCTURE.values(), 0.0))
    software = measure_software(hw, 0.05 if small else 0.2 * budget_s, small, say)
    points = CALIBRATION_POINTS if not small else (((128, 256), 0.9, 16),)
    efficiency, decode, samples = {}, {}, []
    per_point = (0.05 if small else 0.4 * budget_s / (3 * len(points)))
    for fmt, structure in FORMAT_STRUCTURE.items():
        fits = []
        for shape, sparsity, batch in points:
            w = random_weight(shape, sparsity, structure, block=BLOCK, vector=VECTOR, seed=1)
            mat = pack(w, fmt, block=BLOCK, vector=VECTOR)
            x = np.random.default_rng(2).standard_normal(
                (shape[1], batch) if batch > 1 else shape[1]).astype(np.float32)
            out = np.empty((shape[0],) + x.shape[1:], np.float32)
            t = _budget_timer(lambda: mat.matmul(x, out), per_point)
            layer = kernel_layer(mat, batch)
            cost = hwmodel.estimate(warm(hw, working_set(mat, batch)), layer,
                                    objective="latency").layers[0]
            memory_s = max(cost.level_cycles.values()) / hw.clock_hz
            compute_s = layer.stored_macs / peak_macs
            fits.append((t, compute_s, layer.stored_macs / batch / clock, memory_s))
            samples.append(dict(format=fmt, shape=shape, sparsity=sparsity, batch=batch,
                                seconds=t, point_efficiency=min(1.0, compute_s / t)))
        efficiency[structure], decode[structure] = _fit_compute(fits)
        say(f"{fmt}: efficiency {efficiency[structure]:.3f} of the dense peak, "
            f"{decode[structure]:.2f} decode cycles per stored value")
    return dict(threads=threads, clock_hz=clock, lanes=simd_lanes(), points=points,
                caches=caches, bandwidth=bandwidth, peak_macs_per_s=peak_macs,
                efficiency=efficiency,
                decode_cycles=decode, samples=samples, **software,
                cpu=cpu_model(), date=datetime.datetime.now().isoformat(timespec="seconds"))


def _dense_peak(small, budget_s, say) -> float:
    """MACs per second of the faster of torch's float32 GEMM and 3×3 conv (module docstring),
    each on a large shape, within about ``budget_s`` seconds."""
    import torch
    n = 512 if small else 2048
    a, b = torch.randn(n, n), torch.randn(n, 128 if small else 512)
    gemm = n * n * b.shape[1] / _budget_timer(lambda: torch.matmul(a, b), budget_s / 2)
    say(f"dense torch.matmul: {2 * gemm / 1e9:.1f} GFLOP/s")
    c, side = (64, 14) if small else (256, 28)
    conv = torch.nn.Conv2d(c, c, 3, padding=1, bias=False).eval()
    x = torch.randn(1, c, side, side)
    with torch.no_grad():
        t = _budget_timer(lambda: conv(x), budget_s / 2)
    conv_macs = c * c * 9 * side * side / t
    say(f"dense torch 3x3 conv: {2 * conv_macs / 1e9:.1f} GFLOP/s")
    return max(gemm, conv_macs)


def _fit_compute(fits):
    """(efficiency e in (0, 1], decode cycles d >= 0) minimising sum |log(predicted/measured)|
    over the points, predicted = max(mac_s / e + values_s · d, memory_s): the preset's
    roofline, with MACs at e of the dense peak plus d cycles per stored weight value."""
    e = np.exp(np.linspace(np.log(1e-2), 0.0, 120))[:, None, None]
    d = np.concatenate([[0.0], np.exp(np.linspace(np.log(0.05), np.log(50.0), 119))])
    d = d[None, :, None]
    t, mac_s, values_s, memory_s = (np.array(v)[None, None, :] for v in zip(*fits))
    predicted = np.maximum(mac_s / e + values_s * d, memory_s)
    loss = np.abs(np.log(predicted / t)).sum(axis=2)
    i, j = np.unravel_index(int(np.argmin(loss)), loss.shape)
    return float(e[i, 0, 0]), float(d[0, j, 0])


def _hardware(clock, macs_per_cycle, caches, bandwidth, efficiency, decode_cycles):
    return hwmodel.Hardware.from_yaml(preset_yaml(dict(
        threads=1, clock_hz=clock, lanes=simd_lanes(), caches=caches, bandwidth=bandwidth,
        peak_macs_per_s=macs_per_cycle * clock, efficiency=efficiency,
        decode_cycles=decode_cycles, samples=[],
        cpu=cpu_model(), date="")))


# Cited energies (no power meter on this machine).
_H = "[H] Horowitz, ISSCC 2014, 45 nm"
_ENERGY = {"dram": ("1.3 nJ/64b", f"{_H}: DRAM 1.3-2.6 nJ per 64 bits, low end"),
           "l3": ("100 pJ/64b", f"{_H}: 1 MB SRAM 100 pJ per 64 bits (a lower bound for a "
                                "larger cache)"),
           "l2": ("100 pJ/64b", f"{_H}: 1 MB SRAM 100 pJ per 64 bits"),
           "l1": ("20 pJ/64b", f"{_H}: 32 KB SRAM 20 pJ per 64 bits")}


def _gbps(v):
    return f"{v / 1e9:.4g} GB/s"


def _points_text(points):
    shapes = sorted({f"{s[0]}x{s[1]}" for s, _, _ in points})
    sps = sorted({sp for _, sp, _ in points})
    batches = sorted({b for _, _, b in points})
    return f"shapes {shapes}, sparsity {sps}, batch {batches}"


def preset_yaml(m: dict) -> str:
    """The host-cpu preset for measurements ``m`` (as ``measure`` returns them), every number
    with a comment saying where it comes from."""
    where = f"measured {m['date']} on {m['cpu']}, {m['threads']} thread(s)"
    clock = m["clock_hz"]
    lines = [
        f'# "host-cpu" calibrated by `sparsekit calibrate`: {where}.',
        "# There is no power meter on this machine: energies are cited per-byte and per-FLOP",
        f"# figures, {_H} (datapath and SRAM/DRAM access energies).",
        "# Bandwidths: kernels.probe.read_bandwidth (a Numba sum) on an array half the size of",
        "# each cache (sysfs sizes of cpu0), and far larger than the last cache for DRAM.",
        "name: host-cpu",
        "description: >-",
        f"  This machine ({m['cpu']}), {m['threads']} thread(s), calibrated {m['date']}:",
        "  measured bandwidths, dense peak and sparse-kernel efficiencies; cited energies.",
        "static_power: 0 W               # not modelled: no power meter on this machine",
        "compute:",
        f"  macs_per_cycle: {m['peak_macs_per_s'] / clock:.6g}"
        f"   # measured: torch fp32 GEMM or 3x3 conv, the faster, "
        f"{2 * m['peak_macs_per_s'] / 1e9:.4g} GFLOP/s "
        "at this clock",
        f"  clock: {clock / 1e6:.6g} MHz   # /proc/cpuinfo 'cpu MHz' at calibration time",
        "  mac_energy:",
        f"    fp32: {{mult: 3.7 pJ, add: 0.9 pJ}}   # {_H}: 32-bit FP mult 3.7 pJ + add 0.9 pJ",
        "  spatial_fanout:             # assumption: SIMD register reuse (lanes: cpuinfo flags)",
        f"    weights: {m['lanes']}                # one broadcast weight feeds a vector of MACs",
        "    inputs: 1                  # each MAC loads its own activation",
        f"    outputs: {m['lanes']}                # accumulators stay in vector registers",
        *_software_yaml(m),
        "  sparsity:",
        "    support: skip              # the sparse kernels only compute stored values",
        "    # efficiency (share of the dense peak per stored MAC) and decode_cycles (cycles",
        "    # per stored weight value, whatever the batch): the pair that best fits each",
        f"    # format's measured times at {len(m.get('points', ()))} calibration points"
        " (least |log(predicted/measured)|),",
        f"    # {_points_text(m.get('points', ()))}, warm cache.",
    ]
    for key in ("efficiency", "decode_cycles"):
        lines.append(f"    {key}:")
        for fmt, structure in FORMAT_STRUCTURE.items():
            lines.append(f"      {structure}: {m[key][structure]:.6g}"
                         f"   # measured: {fmt} kernel")
    lines.append("memory:                         # outermost first")
    levels = ["dram"] + sorted((k for k in m["caches"]), reverse=True)
    for level in levels:
        energy, source = _ENERGY.get(level, _ENERGY["l2"])
        capacity = "null" if level == "dram" else f"{m['caches'][level]} B"
        lines += [f"  - name: {level}",
                  f"    capacity: {capacity}"
                  + ("" if level == "dram" else "   # sysfs cache size of cpu0"),
                  f"    bandwidth: {_gbps(m['bandwidth'][level])}   # measured read bandwidth",
                  f"    read_energy: {energy}   # {source}",
                  f"    write_energy: {energy}  # {source}",
                  "    holds: [weights, inputs, outputs]"]
    return "\n".join(lines) + "\n"


def _software_yaml(m: dict) -> list:
    """The preset lines of ``measure_software``'s figures (none when ``m`` has none)."""
    if "call_cycles" not in m:
        return []
    clock = m["clock_hz"]
    shapes = {}
    for row in m.get("dense_points", ()):
        shapes.setdefault(row["op"], []).append(row["shape"])
    lines = ["  dense_efficiency:           # measured: share of the peak torch's dense op "
             "reaches, fitted", "                              # with its weight_cycles "
             "over these shapes (one thread, warm cache)"]
    lines += [f"    {op}: {e:.4g}   # measured: {'; '.join(shapes.get(op, []))}"
              for op, e in m["dense_efficiency"].items()]
    lines.append("  weight_cycles:              # measured: cycles per weight element and "
                 "call, fitted with dense_efficiency")
    lines += [f"    {op}: {w:.4g}   # measured: fitted with dense_efficiency.{op}"
              for op, w in m["weight_cycles"].items()]
    lines.append("  call_cycles:                # measured: fastest time of a call too small "
                 "to do work, x clock")
    what = {"linear": "nn.Linear(16, 16) on 1x16", "conv": "nn.Conv2d(4, 4, 1) on 1x4x4x4",
            "depthwise": "nn.Conv2d(4, 4, 3, groups=4) on 1x4x4x4",
            "matmul": "torch.bmm of 2x4x4 tensors",
            "other": "fastest time of ReLU, add, BatchNorm2d, MaxPool2d on 1x4x4x4 (mean)",
            "sparse": "fastest time of a 16x16 csr SparseLinear on 1x16",
            "sparse_conv": "fastest time of a 3x3 csr SparseConv2d(4, 4, padding=1) on "
                           "1x4x16x16, less its traced ops' own call costs"}
    lines += [f"    {kind}: {c:.5g}   # measured: {what[kind]}, {c / clock * 1e6:.3g} µs"
              for kind, c in m["call_cycles"].items()]
    lines.append(f"  other_bandwidth: {_gbps(m['other_bandwidth'])}   # measured: torch relu, "
                 "add, BatchNorm1d on 4 MiB tensors (bytes read + written per second)")
    if m.get("other_ops"):
        lines += ["  other_ops:                  # measured per op kind (named as the trace "
                  "names it): the fastest", "                              # call on a tiny "
                  "input (its fixed cost), and bytes over the time above it on a typical one"]
        lines += [f"    {kind}: {{call_cycles: {op['call_cycles']:.5g}, bandwidth: "
                  f"{_gbps(op['bytes_per_cycle'] * clock)}}}   # measured: {op['what']}"
                  for kind, op in m["other_ops"].items()]
    return lines


def calibrate(out=None, threads: int = 1, budget_s: float = 20.0, progress=None):
    """Measure this machine and write the host-cpu preset to ``out`` (default
    ``~/.config/sparsekit/presets/host-cpu.yaml``). Returns (path, measurements)."""
    if budget_s <= 0:
        raise ValueError(f"budget must be positive, got {budget_s}")
    start = time.perf_counter()
    m = measure(threads=threads, budget_s=budget_s, progress=progress)
    text = preset_yaml(m)
    hwmodel.Hardware.from_yaml(text)           # never write a preset hwmodel cannot read
    path = Path(os.path.expanduser(os.fspath(out or DEFAULT_OUT)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    m["seconds"] = time.perf_counter() - start
    return path, m


def summary_rows(m: dict) -> list:
    """The calibration as table rows (quantity, value, unit)."""
    rows = [{"quantity": f"{k} read bandwidth", "value": v / 1e9, "unit": "GB/s"}
            for k, v in m["bandwidth"].items()]
    rows.append({"quantity": "dense peak (torch fp32)", "value": 2 * m["peak_macs_per_s"] / 1e9,
                 "unit": "GFLOP/s"})
    rows.append({"quantity": "clock", "value": m["clock_hz"] / 1e9, "unit": "GHz"})
    rows += [{"quantity": f"{s} efficiency", "value": e, "unit": "of peak"}
             for s, e in m["efficiency"].items()]
    rows += [{"quantity": f"{s} decode", "value": d, "unit": "cycles/stored value"}
             for s, d in m["decode_cycles"].items()]
    rows += [{"quantity": f"dense {op} efficiency", "value": e, "unit": "of peak"}
             for op, e in m.get("dense_efficiency", {}).items()]
    rows += [{"quantity": f"dense {op} per weight", "value": w, "unit": "cycles/element"}
             for op, w in m.get("weight_cycles", {}).items()]
    rows += [{"quantity": f"{kind} call", "value": c / m["clock_hz"] * 1e6, "unit": "µs"}
             for kind, c in m.get("call_cycles", {}).items()]
    if "other_bandwidth" in m:
        rows.append({"quantity": "other ops stream", "value": m["other_bandwidth"] / 1e9,
                     "unit": "GB/s"})
    for kind, op in m.get("other_ops", {}).items():
        rows.append({"quantity": f"{kind} call", "value": op["call_cycles"] / m["clock_hz"]
                     * 1e6, "unit": "µs"})
        rows.append({"quantity": f"{kind} stream", "value": op["bytes_per_cycle"]
                     * m["clock_hz"] / 1e9, "unit": "GB/s"})
    return rows



