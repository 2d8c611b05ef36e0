"""Analytical memory-hierarchy model (numpy + pyyaml only): what a layer costs on a described
accelerator, dense or sparse.

Hardware
    Hardware.from_yaml(path_or_text) / .to_yaml() / .from_dict() / .to_dict()
    Hardware(name, compute=Compute(...), memory=(MemoryLevel, ...), static_power_w, description)
    HardwareError(ValueError): names the field (memory[1].bandwidth), file and line
    load(name_or_path) -> Hardware;  presets() -> list of preset names
Workload
    Layer(name, M, K, N, value_bits, activation_bits, kind, input_bytes, output_bytes,
          weight_value_bytes, weight_metadata_bytes, dense_macs, effective_macs, stored_macs,
          structure, activation_density, accumulator_bits, groups,
          weight_format, footprint, rank_metadata, compute, row_nnz)
    The weight format, for ``sk.estimate(format=spec)`` / ``compare_formats``:
      Layer(..., weight_format=spec, footprint=hwmodel.formats.footprint(spec, W != 0, bits),
            row_nnz=(W != 0).sum(axis=1))     # bytes, per-rank metadata bits, MACs follow
      or, without the formats package: weight_value_bytes=, weight_metadata_bytes=,
            rank_metadata=(("UOP", bits), ("CP", bits)), compute="skip"|"gate"|"none".
    accumulator_bits=None (default) takes the hardware's compute.accumulator_bits.
Cost (ZigZag style: a pure function of hardware, layer and mapping)
    estimate(hw, layers, objective="energy"|"latency"|"edp", batch=1) -> Estimate
    best_mapping(hw, layer, objective) -> Mapping;  evaluate(hw, layer, mapping) -> LayerCost
    LayerCost / Estimate: add with + or sum(); str() is a table; to_csv/to_json/to_markdown/
    to_dataframe
Sweeps
    sweep(grid_or_fn, points=None, objective=..., batch=..., executor=None, progress=True)
        -> Table (rows of dicts), run on any concurrent.futures.Executor
"""

from .cost import evaluate
from .estimate import estimate
from .hardware import Compute, Hardware, HardwareError, MemoryLevel, PEArray, Sparsity
from .mapping import LevelMapping, Mapping
from .presets import load, presets
from .result import Estimate, LayerCost
from .search import best_mapping
from .sweep import sweep
from .table import Table
from .workload import Layer

__all__ = ["Compute", "Estimate", "Hardware", "HardwareError", "Layer", "LayerCost",
           "LevelMapping", "Mapping", "MemoryLevel", "PEArray", "Sparsity", "Table", "best_mapping",
           "estimate", "evaluate", "load", "presets", "sweep"]
