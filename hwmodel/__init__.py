"""Analytical memory-hierarchy model (numpy + pyyaml only): what a layer costs on a described
accelerator, dense or sparse.

Hardware
    Hardware.from_yaml(path_or_text) / .to_yaml() / .from_dict() / .to_dict()
    Hardware(name, compute=Compute(...), memory=(MemoryLevel, ...), static_power_w, description)
    Compute(macs_per_cycle, clock_hz, mac_energy_pj, sparsity=Sparsity(...), spatial_fanout,
            accumulator_bits=32, array=PEArray(rows, cols, row_dims, col_dims) or None)
    Sparsity(support, gated_energy_fraction, efficiency, decode_cycles,
             decode_energy={rep: pJ per metadata bit}, decode_bits_per_cycle={rep: bits})
    MemoryLevel(name, capacity_bytes, bandwidth_bytes_per_cycle, read_pj_per_byte,
                write_pj_per_byte, holds, link_pj_per_byte, read_/write_bandwidth_bytes_per_cycle,
                word_bits);  holds: weights | weight_payload | weight_metadata | inputs | outputs
    YAML: compute.accumulator_bits, compute.array {rows, cols, row_dims: [M|K|N], col_dims},
          compute.sparsity.decode_energy / decode_bits_per_cycle {U|B|CP|UOP|RLE: ...},
          memory[i].read_bandwidth / write_bandwidth / word_bits (see hwmodel.schema)
    HardwareError(ValueError): names the field (memory[1].bandwidth), file and line
    load(name_or_path) -> Hardware;  presets() -> list of preset names
Workload
    Layer(name, M, K, N, value_bits, activation_bits, kind, input_bytes, output_bytes,
          weight_value_bytes, weight_metadata_bytes, dense_macs, effective_macs, stored_macs,
          structure, activation_density, accumulator_bits, groups,
          weight_format, footprint, rank_metadata, compute, row_nnz)
    The weight format, for ``sk.estimate(format=spec)`` / ``compare_formats``:
      Layer(..., weight_format=spec, footprint=hwmodel.formats.footprint(spec, W != 0, bits),
            row_nnz=(W != 0).sum(axis=1))     # payload/metadata bytes, per-rank metadata bits,
                                              # effective/stored MACs and compute follow
      or, without the formats package: weight_value_bytes=, weight_metadata_bytes=,
            rank_metadata=(("UOP", bits), ("CP", bits)), compute="skip"|"gate"|"none".
      row_nnz: stored values per output row (sum * N == stored_macs): load imbalance on arrays
      that spread M over PEs. compute=None: the spec's compute, else the hardware's support.
    accumulator_bits=None (default) takes the hardware's compute.accumulator_bits.
Cost (ZigZag style: a pure function of hardware, layer and mapping; see hwmodel.cost)
    estimate(hw, layers, objective="energy"|"latency"|"edp", batch=1) -> Estimate
    best_mapping(hw, layer, objective) -> Mapping;  evaluate(hw, layer, mapping) -> LayerCost
    LayerCost: cycles = max(compute_cycles, level_cycles...) + fill_cycles + drain_cycles;
      reads_bytes / writes_bytes / memory_energy_j[level][tensor], tensor in weights (payload),
      weight_metadata, inputs, outputs; energy_by_operand; mac_energy_j, decode_energy_j,
      static_energy_j; dense/effective/executed/issued_macs; utilisation (issued MACs over the
      array's slots while computing: ceilings, imbalance, efficiency, decoding).
    Estimate: .layers, .total, .latency_s, .energy_j, .inferences_per_sec_per_watt,
      .dynamic_only (no static power in the hardware: energies are dynamic only; the printed
      headline says so), .summary()
    LayerCost / Estimate: add with + or sum(); str() is a table; to_csv/to_json/to_markdown/
    to_dataframe
Sweeps
    sweep(grid_or_fn, points=None, objective=..., batch=..., executor=None, progress=True)
        -> Table (rows of dicts), run on any concurrent.futures.Executor
"""

from .cost import evaluate
from .estimate import estimate
from .hardware import Compute, Hardware, HardwareError, MemoryLevel, OtherOp, PEArray, \
    Sparsity
from .mapping import LevelMapping, Mapping
from .presets import load, presets
from .result import Estimate, LayerCost
from .search import best_mapping
from .sweep import sweep
from .table import Table
from .workload import Layer

__all__ = ["Compute", "Estimate", "Hardware", "HardwareError", "Layer", "LayerCost",
           "LevelMapping", "Mapping", "MemoryLevel", "OtherOp", "PEArray", "Sparsity", "Table",
           "best_mapping", "estimate", "evaluate", "load", "presets", "sweep"]
