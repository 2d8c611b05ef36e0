"""How ``sk.sparsify(format="auto")`` picks each layer's format: priced by the cost model
(``choose="model"``, the default) or timed on this machine (``choose="time"``).

- **model**: one ``sk.estimate(model, example_input, host, format="auto")`` of the model as
  sparsify will run it (masks and BatchNorms folded, attention split), one traced pass, and
  the estimate's per-layer host choice taken as it is: its rules are sparsify's (depthwise
  and grouped convs and layers below ``min_sparsity`` stay dense; otherwise the smallest
  format, unless the host prices it slower than dense). So the estimate and sparsify make
  the same choice. The host is the calibrated preset when ``sparsekit calibrate`` wrote one
  (on ``HWMODEL_PRESET_PATH``, else at its default path), for the thread count it was
  calibrated at; else the shipped preset, with a warning (once per process) that the machine
  is not calibrated. Without ``example_input`` only Linears are priced, each at batch 1.
- **time**: per layer, the dense module and each candidate format timed on the layer's real
  input shape (one pass of ``example_input`` records them) at the current thread count; the
  fastest is kept.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from sparsekit.benchmarking.timing import measure
from sparsekit.model.inputs import layer_inputs
from sparsekit.model.weights import effective_weight
from sparsekit.nn.layers import SparseConv2d

HOST = "host-cpu"
CHOICES = ("model", "time")
_cache: dict = {}           # preset path -> (mtime_ns, Hardware)
_warned: list = []          # the shipped preset's warning is given once per process


class UncalibratedWarning(UserWarning):
    """``sparsify(format="auto")`` priced layers with the shipped host-cpu preset: this
    machine has not been calibrated (``sparsekit calibrate``)."""


def host_hardware():
    """(hwmodel.Hardware, source): this machine's "host-cpu" description and where it came
    from. A preset named host-cpu on ``HWMODEL_PRESET_PATH`` or the file ``sparsekit
    calibrate`` writes by default is the calibrated one; else the shipped preset, with an
    ``UncalibratedWarning`` the first time. Each file is read once (again when it changes)."""
    import hwmodel
    from hwmodel.presets import PRESET_DIR, preset_path
    from sparsekit.hw._calibrate import DEFAULT_OUT
    path = preset_path(HOST)
    calibrated = path.parent.resolve() != PRESET_DIR.resolve()
    if not calibrated:
        own = Path(os.path.expanduser(os.fspath(DEFAULT_OUT)))
        if own.is_file():
            path, calibrated = own, True
    mtime = path.stat().st_mtime_ns
    if _cache.get(path, (None,))[0] != mtime:
        _cache[path] = mtime, hwmodel.load(path)
    if calibrated:
        return _cache[path][1], f"calibrated preset {path}"
    if not _warned:
        _warned.append(True)
        warnings.warn("sk.sparsify(format='auto') prices layers with the shipped host-cpu "
                      "preset: this machine is not calibrated (run `sparsekit calibrate` "
                      "once for choices fitted to it)", UncalibratedWarning, stacklevel=4)
    return _cache[path][1], f"shipped preset {path} (not calibrated on this machine)"


def check_hardware(hw):
    """``hw`` (None: ``host_hardware()``) as (Hardware, source); it must describe the host
    (named "host-cpu"), the only hardware whose estimate makes sparsify's choices."""
    if hw is None:
        return host_hardware()
    import hwmodel
    loaded = hwmodel.load(hw)
    if loaded.name != HOST:
        raise ValueError(f"hw must describe this machine (a hardware named {HOST!r}, e.g. "
                         f"written by `sparsekit calibrate`), got {loaded.name!r}")
    given = os.fspath(hw) if isinstance(hw, (str, os.PathLike)) else "a Hardware"
    return loaded, f"given: {given}"


class _EachAtBatchOne(nn.Module):
    """The Linears to price, each called on one zero row: what a model without
    ``example_input`` is priced on (batch 1)."""

    def __init__(self, linears):
        super().__init__()
        self.layers = nn.ModuleList(linears)

    def forward(self):
        for lin in self.layers:
            lin(torch.zeros(1, lin.in_features, dtype=effective_weight(lin).dtype))


def by_model(model, example_input, todo, hw, *, min_sparsity, block, vector, progress):
    """{layer name: (format, estimated seconds, note)} for the layers ``todo`` (name,
    module) that ``example_input`` calls, from one ``sk.estimate`` of ``model`` on ``hw``.
    A module called several times takes its first call's choice. Without ``example_input``
    only Linears can be priced: each at batch 1."""
    from sparsekit.hw import estimate
    names = [name for name, _ in todo]
    if example_input is None:
        if any(not isinstance(m, nn.Linear) for _, m in todo):
            raise ValueError("format='auto' prices each layer on its real input: pass "
                             "example_input= (a conv's input size is unknown)")
        model, example_input = _EachAtBatchOne([m for _, m in todo]), ()
        rename = {f"layers.{i}": name for i, name in enumerate(names)}
    else:
        rename = {name: name for name in names}
    called = set()
    hooks = [m.register_forward_pre_hook(lambda *_, n=n: called.add(n)) for n, m in todo]
    try:
        est = estimate(model, example_input, hw, format="auto", block=block, vector=vector,
                       min_sparsity=min_sparsity, progress=progress)
    except ValueError:
        if called:
            raise
        return {}               # example_input calls none of them (maybe no weight layer)
    finally:
        for h in hooks:
            h.remove()
    out = {}
    for cost, fmt, note in zip(est.layers, est.formats, est.notes):
        if cost.name in rename and fmt != "-":
            out[rename[cost.name]] = fmt, cost.seconds, note
    return out


def layer_shapes(model, example_input, todo) -> dict:
    """{name: input shape} of each layer of ``todo`` (name, module, ...) as ``example_input``
    calls it (without it: Linears at batch 1; a conv raises ValueError)."""
    shapes = {}
    if example_input is not None:
        received = layer_inputs(model, example_input, [t[0] for t in todo])
        shapes = {n: tuple(args[0].shape) for n, (args, _) in received.items()
                  if args and isinstance(args[0], torch.Tensor)}
        return shapes
    for name, module, *_ in todo:
        if not isinstance(module, nn.Linear):
            raise ValueError("format='auto' times each layer on its real input: pass "
                             "example_input= (a conv's input size is unknown)")
        shapes[name] = (1, module.in_features)
    return shapes


def _time(fn, budget_s, reject_above=float("inf")) -> float:
    """Best (minimum) time of fn() within a small budget, after an untimed warm-up call (it
    may load or compile a kernel). A candidate slower than ``reject_above`` on its first timed
    call is not timed further."""
    first = measure(fn, budget_s=0.0, min_rounds=1, max_rounds=1).min
    if first > reject_above:
        return first
    return min(first, measure(fn, budget_s=budget_s, min_rounds=2, max_rounds=50,
                              warmup=False).min)


def _positions(conv, shape) -> int:
    """Output positions per image of ``conv`` on an input of ``shape`` (B, C, H, W)."""
    left, right, top, bottom = conv._reversed_padding_repeated_twice
    (kh, kw), (sh, sw), (dh, dw) = conv.kernel_size, conv.stride, conv.dilation
    ho = (shape[2] + top + bottom - dh * (kh - 1) - 1) // sh + 1
    wo = (shape[3] + left + right - dw * (kw - 1) - 1) // sw + 1
    return max(ho, 0) * max(wo, 0)


def by_time(module, shape, candidates, convert, budget_s, max_batch):
    """(choice, {format: seconds}, the chosen sparse module or None): the dense module and
    each candidate format (``convert(module, fmt)`` packs one) timed on a random input of
    ``shape``. A conv with large images is timed on at most ``max_batch`` of them:
    SparseConv2d runs such convs image by image, so its time scales with the batch (small
    images are batched into one product, whose speed depends on the batch: those are timed
    on the whole batch)."""
    shape = list(shape)
    if isinstance(module, nn.Conv2d) and len(shape) == 4 and shape[0] > max_batch and \
            _positions(module, shape) >= SparseConv2d.FOLD_BELOW:
        shape[0] = max_batch
    x = torch.randn(shape, dtype=effective_weight(module).dtype)
    times, modules = {}, {}
    with torch.no_grad():
        times["dense"] = _time(lambda: module(x), budget_s)  # masks already folded
        for fmt in candidates:
            modules[fmt] = sparse = convert(module, fmt)
            times[fmt] = _time(lambda: sparse(x), budget_s,
                               reject_above=3 * min(times.values()))
    choice = min(times, key=times.get)
    return choice, times, modules.get(choice)
