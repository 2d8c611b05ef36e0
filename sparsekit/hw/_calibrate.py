"""Calibrate the "host-cpu" hardware preset on this machine (``sparsekit calibrate``).

Measured here, with the thread count pinned (``sk.set_num_threads``):
- read bandwidth of every cache level and of DRAM (``kernels.probe.read_bandwidth`` on an
  array half the level's capacity, or far larger than the last cache for DRAM);
- the dense peak: torch float32 matmul GFLOP/s on a large GEMM, as MACs per cycle of the
  clock /proc/cpuinfo reports;
- per-format kernel efficiency: at a few calibration points (``CALIBRATION_POINTS``), the
  format's stored MACs per second over the dense peak, the share of the dense datapath the
  sparse kernel keeps (index decoding, gathers, load imbalance).
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

DEFAULT_OUT = Path("~/.config/sparsekit/presets/host-cpu.yaml")
# format -> pruning structure, from the format registry (one calibrated pair per structure)
FORMAT_STRUCTURE = registry.structures()
# (shape, sparsity, batch) of the foundation's grid used to calibrate each format's efficiency;
# bench/bench_predict.py predicts the other grid points.
CALIBRATION_POINTS = tuple(((1024, 4096), sp, b) for sp in (0.5, 0.9) for b in (1, 16, 64, 256))
BLOCK, VECTOR = (4, 4), 8


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_clock_hz() -> float:
    """The current clock /proc/cpuinfo reports (the first core), else 3 GHz."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":", 1)[1]) * 1e6
    except (OSError, ValueError):
        pass
    return 3e9


def cache_sizes() -> dict:
    """{"l1": bytes, "l2": ..., "l3": ...} of the data/unified caches of cpu0 (sysfs)."""
    out = {}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in sorted(base.glob("index*")) if base.is_dir() else []:
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text())
            size = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        if kind == "Instruction":
            continue
        scale = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(size[-1], 1)
        out[f"l{level}"] = int(size.rstrip("KMG")) * scale
    return out or {"l1": 32 * 1024, "l2": 1024 ** 2}


def simd_lanes() -> int:
    """fp32 lanes of the widest vector unit /proc/cpuinfo lists (avx512f 16, avx 8, else 4)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line.split()
                    return 16 if "avx512f" in flags else 8 if "avx" in flags else 4
    except OSError:
        pass
    return 4


def kernel_layer(a, batch: int, name: str = "kernel") -> hwmodel.Layer:
    """The ``hwmodel.Layer`` of ``a @ X`` with X of ``batch`` float32 columns: exact format
    bytes (values, metadata), stored and effective MACs, the format's sparsity structure."""
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
                         structure=structure)


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


def _budget_timer(fn, budget_s):
    from sparsekit.benchmarking.timing import measure
    return measure(fn, min_rounds=3, max_rounds=50, budget_s=budget_s).p50


def measure(threads: int = 1, budget_s: float = 20.0, progress=None) -> dict:
    """Every measured number (see the module docstring), within about ``budget_s`` seconds."""
    import torch

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

    n = 512 if small else 2048
    a, b = torch.randn(n, n), torch.randn(n, 512 if not small else 128)
    t = _budget_timer(lambda: torch.matmul(a, b), 0.1 if small else 0.15 * budget_s)
    peak_macs = n * n * b.shape[1] / t
    say(f"dense torch.matmul: {2 * peak_macs / 1e9:.1f} GFLOP/s")

    hw = _hardware(clock, peak_macs / clock, caches, bandwidth,
                   dict.fromkeys(FORMAT_STRUCTURE.values(), 1.0),
                   dict.fromkeys(FORMAT_STRUCTURE.values(), 0.0))
    points = CALIBRATION_POINTS if not small else (((128, 256), 0.9, 16),)
    efficiency, decode, samples = {}, {}, []
    per_point = (0.05 if small else 0.5 * budget_s / (3 * len(points)))
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
                caches=caches, bandwidth=bandwidth, peak_macs_per_s=peak_macs, efficiency=efficiency,
                decode_cycles=decode, samples=samples,
                cpu=cpu_model(), date=datetime.datetime.now().isoformat(timespec="seconds"))


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
        f"   # measured: torch fp32 matmul {2 * m['peak_macs_per_s'] / 1e9:.4g} GFLOP/s "
        "at this clock",
        f"  clock: {clock / 1e6:.6g} MHz   # /proc/cpuinfo 'cpu MHz' at calibration time",
        "  mac_energy:",
        f"    fp32: {{mult: 3.7 pJ, add: 0.9 pJ}}   # {_H}: 32-bit FP mult 3.7 pJ + add 0.9 pJ",
        "  spatial_fanout:             # assumption: SIMD register reuse (lanes: cpuinfo flags)",
        f"    weights: {m['lanes']}                # one broadcast weight feeds a vector of MACs",
        "    inputs: 1                  # each MAC loads its own activation",
        f"    outputs: {m['lanes']}                # accumulators stay in vector registers",
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
    return rows



