"""Many estimates in parallel: hardware variants x workloads (formats) x sparsity levels.

Work goes to any ``concurrent.futures.Executor`` (a process pool by default), so a Dask
``Client.get_executor()`` spreads a large sweep over a cluster unchanged. Results come back in
the order of the grid; a tqdm bar shows progress when tqdm is installed.
"""

from concurrent.futures import ProcessPoolExecutor
from itertools import product

from .estimate import estimate
from .hardware import Hardware
from .presets import load
from .result import Estimate
from .table import Table

_GRID_KEYS = ("hardware", "workloads", "sparsity")


def sweep(grid_or_fn, points=None, *, objective="energy", batch=1, executor=None,
          progress=True):
    """Run a sweep and return its rows as a Table.

    Grid form: ``sweep({"hardware": [...], "workloads": {...}, "sparsity": [...]})``.
      hardware: a Hardware, preset name or path, a list of them, or {label: one of them}.
      workloads: {label: list of Layers, or a picklable callable sparsity -> list of Layers
      (a "format")}; a plain list counts once with sparsity None.
      sparsity: values passed to the callables (default [None]).
      One row per point: hardware, workload, sparsity and the estimate's headline numbers.
    Function form: ``sweep(fn, points)`` calls a picklable ``fn(point)`` for each point; a
      dict result is the row, an Estimate becomes {"point": point, **its summary}.
    """
    if callable(grid_or_fn):
        if points is None:
            raise TypeError("sweep(fn, points): points are required with a function")
        tasks = [(_call, (grid_or_fn, point)) for point in points]
    else:
        tasks = [(_grid_point, (*point, objective, batch)) for point in _expand(grid_or_fn)]
    return Table(_run(tasks, executor, progress))


def _hardware_items(value):
    if isinstance(value, dict):
        return list(value.items())
    values = value if isinstance(value, (list, tuple)) else [value]
    return [(v.name if isinstance(v, Hardware) else str(v), v) for v in values]


def _workload_items(value):
    return list(value.items()) if isinstance(value, dict) else [("layers", value)]


def _expand(grid):
    if not isinstance(grid, dict) or "hardware" not in grid or "workloads" not in grid:
        raise ValueError("a sweep grid is a dict with 'hardware' and 'workloads' "
                         "(and optionally 'sparsity')")
    unknown = set(grid) - set(_GRID_KEYS)
    if unknown:
        raise ValueError(f"unknown sweep grid keys {sorted(unknown)}; use {_GRID_KEYS}")
    hardware = [(label, load(hw)) for label, hw in _hardware_items(grid["hardware"])]
    workloads = _workload_items(grid["workloads"])
    sparsities = list(grid.get("sparsity", [None]))
    for (hw_label, hw), (wl_label, wl) in product(hardware, workloads):
        for s in (sparsities if callable(wl) else [None]):
            yield hw, hw_label, wl_label, wl, s


def _grid_point(hw, hw_label, wl_label, workload, sparsity, objective, batch):
    layers = workload(sparsity) if callable(workload) else workload
    summary = estimate(hw, layers, objective, batch).summary()
    del summary["hardware"]
    return {"hardware": hw_label, "workload": wl_label, "sparsity": sparsity, **summary}


def _call(fn, point):
    result = fn(point)
    if isinstance(result, Estimate):
        return {"point": point, **result.summary()}
    return result if isinstance(result, dict) else {"point": point, "result": result}


def _bar(total, progress):
    if progress:
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            return tqdm(total=total, desc="sweep", unit="point")
    return None


def _run(tasks, executor, progress):
    own = executor is None
    if own:
        executor = ProcessPoolExecutor()
    bar = _bar(len(tasks), progress)
    try:
        futures = [executor.submit(fn, *args) for fn, args in tasks]
        rows = []
        for future in futures:
            rows.append(future.result())
            if bar is not None:
                bar.update(1)
        return rows
    finally:
        if bar is not None:
            bar.close()
        if own:
            executor.shutdown()
