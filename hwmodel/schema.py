"""The YAML / plain-data form of a hardware description, and reading it strictly.

Keys: name, description, static_power, compute {macs_per_cycle, clock, mac_energy,
sparsity {support, gated_energy_fraction, efficiency, decode_cycles, decode_energy (pJ per
metadata bit, by rank representation), decode_bits_per_cycle}, spatial_fanout,
accumulator_bits, array {rows, cols, row_dims, col_dims}, dense_efficiency {op: share},
weight_cycles {op: cycles per weight element}, call_cycles {kind: cycles per call},
other_bandwidth (bytes/s or B/cycle), other_ops {op kind: {call_cycles, bandwidth}}},
memory [{name, capacity, bandwidth, read_bandwidth, write_bandwidth, word_bits, read_energy,
write_energy, link_energy, holds}] (``bandwidth`` may be left out when both read_ and
write_bandwidth are given: separate ports). Optional keys left at their defaults are not
written back. Quantities may carry the units of their source ("34 GB/s", "1.3 nJ/64b",
"108 KiB"; see ``hwmodel.units``). A missing or unknown key is an error naming its path;
``load_yaml`` adds the file and line.
"""

from . import units
from .formats.spec import REPRESENTATIONS
from .hardware import CALL_KINDS, DENSE_OPS, HOLDABLE, OPERANDS, SPARSE_STRUCTURES, Compute, \
    Hardware, HardwareError, MemoryLevel, OtherOp, PEArray, Sparsity, validate_compute
from .yamlsource import read_document, shown


def load_yaml(path_or_text):
    """A Hardware from a YAML file path or YAML text; errors carry the file and line."""
    data, text, file = read_document(path_or_text, HardwareError, "hardware description")
    try:
        return parse(data)
    except HardwareError as exc:
        raise exc.located(text, file) from None


def unparse(hw):
    """Plain data in canonical units: the inverse of ``parse``."""
    c, s = hw.compute, hw.compute.sparsity
    sparsity = {"support": s.support}
    if s.gated_energy_fraction is not None:
        sparsity["gated_energy_fraction"] = s.gated_energy_fraction
    sparsity["efficiency"] = dict(s.efficiency)
    if any(s.decode_cycles.values()):
        sparsity["decode_cycles"] = dict(s.decode_cycles)
    if s.decode_energy:
        sparsity["decode_energy"] = {k: units.show(v, "pJ") for k, v in s.decode_energy.items()}
    if s.decode_bits_per_cycle:
        sparsity["decode_bits_per_cycle"] = dict(s.decode_bits_per_cycle)
    out = {"name": hw.name}
    if hw.description:
        out["description"] = hw.description
    out["static_power"] = units.show(hw.static_power_w, "W")
    out["compute"] = {
        "macs_per_cycle": c.macs_per_cycle,
        "clock": units.show(c.clock_hz, "Hz"),
        "mac_energy": {k: units.show(v, "pJ") for k, v in c.mac_energy_pj.items()},
        "sparsity": sparsity,
        "spatial_fanout": dict(c.spatial_fanout),
        "accumulator_bits": c.accumulator_bits,
    }
    if c.array is not None:
        a = c.array
        out["compute"]["array"] = {"rows": a.rows, "cols": a.cols, "row_dims": list(a.row_dims),
                                   "col_dims": list(a.col_dims)}
    if c.dense_efficiency:
        out["compute"]["dense_efficiency"] = dict(c.dense_efficiency)
    if c.weight_cycles:
        out["compute"]["weight_cycles"] = dict(c.weight_cycles)
    if c.call_cycles:
        out["compute"]["call_cycles"] = dict(c.call_cycles)
    if c.other_bytes_per_cycle is not None:
        out["compute"]["other_bandwidth"] = units.show(c.other_bytes_per_cycle, "B/cycle")
    if c.other_ops:
        out["compute"]["other_ops"] = {
            kind: {"call_cycles": op.call_cycles,
                   "bandwidth": units.show(op.bytes_per_cycle, "B/cycle")}
            for kind, op in c.other_ops.items()}
    out["memory"] = [_unparse_level(m) for m in hw.memory]
    return out


def _unparse_level(m):
    out = {"name": m.name,
           "capacity": None if m.capacity_bytes is None else units.show(m.capacity_bytes, "B"),
           "bandwidth": units.show(m.bandwidth_bytes_per_cycle, "B/cycle")}
    for key in ("read_bandwidth", "write_bandwidth"):
        value = getattr(m, f"{key}_bytes_per_cycle")
        if value is not None:
            out[key] = units.show(value, "B/cycle")
    if m.word_bits is not None:
        out["word_bits"] = m.word_bits
    out.update({"read_energy": units.show(m.read_pj_per_byte, "pJ/B"),
                "write_energy": units.show(m.write_pj_per_byte, "pJ/B"),
                "link_energy": units.show(m.link_pj_per_byte, "pJ/B"),
                "holds": list(m.holds)})
    return out


def _fields(data, parts, required, optional=()):
    if not isinstance(data, dict):
        raise HardwareError(parts, f"expected a mapping, got {type(data).__name__}")
    for key in data:
        if key not in required and key not in optional:
            raise HardwareError((*parts, key), "unknown field (expected one of "
                                f"{', '.join((*required, *optional))})")
    for key in required:
        if key not in data:
            raise HardwareError((*parts, key), "missing field")
    return data


def _read(reader, value, parts, *args):
    try:
        return reader(value, *args)
    except ValueError as exc:
        raise HardwareError(parts, str(exc)) from None


def _number(value, parts):
    if isinstance(value, str):          # YAML 1.1 reads 1e3 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HardwareError(parts, f"expected a number, got {shown(value)}")
    return value


def parse(data):
    """A Hardware from plain data (as ``yaml.safe_load`` returns); strict about every field."""
    top = _fields(data, (), ("name", "static_power", "compute", "memory"), ("description",))
    compute = _parse_compute(top["compute"], ("compute",))
    validate_compute(compute, ("compute",))       # bandwidths in GB/s divide by its clock
    memory = top["memory"]
    if not isinstance(memory, list) or not memory:
        raise HardwareError(("memory",), "expected a non-empty list of levels, outermost first")
    levels = tuple(_parse_level(m, ("memory", i), compute.clock_hz) for i, m in enumerate(memory))
    return Hardware(name=top["name"], compute=compute, memory=levels,
                    static_power_w=_read(units.power_w, top["static_power"], ("static_power",)),
                    description=top.get("description", ""))


def _parse_compute(data, parts):
    data = _fields(data, parts, ("macs_per_cycle", "clock", "mac_energy"),
                   ("sparsity", "spatial_fanout", "accumulator_bits", "array",
                    "dense_efficiency", "weight_cycles", "call_cycles",
                    "other_bandwidth", "other_ops"))
    energies = data["mac_energy"]
    if not isinstance(energies, dict) or not energies:
        raise HardwareError((*parts, "mac_energy"), "expected a mapping such as {int8: 0.23 pJ}")
    mac_energy = {}
    for key, value in energies.items():
        where = (*parts, "mac_energy", key)
        if isinstance(value, dict):
            value = _fields(value, where, ("mult", "add"))
            mac_energy[key] = (_read(units.energy_pj, value["mult"], (*where, "mult"))
                               + _read(units.energy_pj, value["add"], (*where, "add")))
        else:
            mac_energy[key] = _read(units.energy_pj, value, where)
    fanout = dict.fromkeys(OPERANDS, 1.0)
    if "spatial_fanout" in data:
        given = _fields(data["spatial_fanout"], (*parts, "spatial_fanout"), (), OPERANDS)
        fanout.update({k: _number(v, (*parts, "spatial_fanout", k)) for k, v in given.items()})
    sparsity = Sparsity()
    if "sparsity" in data:
        sparsity = _parse_sparsity(data["sparsity"], (*parts, "sparsity"))
    clock = _read(units.frequency_hz, data["clock"], (*parts, "clock"))
    other = data.get("other_bandwidth")
    if other is not None:
        other = _read(units.bandwidth_bytes_per_cycle, other, (*parts, "other_bandwidth"),
                      clock)
    return Compute(macs_per_cycle=_number(data["macs_per_cycle"], (*parts, "macs_per_cycle")),
                   clock_hz=clock,
                   mac_energy_pj=mac_energy, sparsity=sparsity, spatial_fanout=fanout,
                   accumulator_bits=data.get("accumulator_bits", 32),
                   array=_parse_array(data["array"], (*parts, "array")) if "array" in data
                   else None,
                   dense_efficiency=_numbers(data, "dense_efficiency", DENSE_OPS, parts),
                   weight_cycles=_numbers(data, "weight_cycles", DENSE_OPS, parts),
                   call_cycles=_numbers(data, "call_cycles", CALL_KINDS, parts),
                   other_bytes_per_cycle=other,
                   other_ops=_other_ops(data.get("other_ops", {}), (*parts, "other_ops"),
                                        clock))


def _other_ops(data, parts, clock):
    """{op kind: OtherOp} from {kind: {call_cycles, bandwidth}}."""
    if not isinstance(data, dict):
        raise HardwareError(parts, f"expected a mapping of op kinds, got {shown(data)}")
    out = {}
    for kind, value in data.items():
        where = (*parts, str(kind))
        value = _fields(value, where, ("call_cycles", "bandwidth"))
        out[kind] = OtherOp(
            call_cycles=_number(value["call_cycles"], (*where, "call_cycles")),
            bytes_per_cycle=_read(units.bandwidth_bytes_per_cycle, value["bandwidth"],
                                  (*where, "bandwidth"), clock))
    return out


def _numbers(data, key, allowed, parts):
    """A {name: number} field whose names are drawn from ``allowed`` ({} when absent)."""
    if key not in data:
        return {}
    given = _fields(data[key], (*parts, key), (), allowed)
    return {k: _number(v, (*parts, key, k)) for k, v in given.items()}


def _parse_array(data, parts):
    data = _fields(data, parts, ("rows", "cols"), ("row_dims", "col_dims"))
    for key in ("row_dims", "col_dims"):
        if key in data and not isinstance(data[key], list):
            raise HardwareError((*parts, key), f"expected a list drawn from M, K, N, got "
                                f"{shown(data[key])}")
    return PEArray(rows=data["rows"], cols=data["cols"],
                   row_dims=tuple(data.get("row_dims", ["M"])),
                   col_dims=tuple(data.get("col_dims", ["N"])))


def _parse_sparsity(data, parts):
    data = _fields(data, parts, ("support",),
                   ("gated_energy_fraction", "efficiency", "decode_cycles", "decode_energy",
                    "decode_bits_per_cycle"))
    efficiency = _per_structure(data, "efficiency", 1.0, parts)
    decode_cycles = _per_structure(data, "decode_cycles", 0.0, parts)
    fraction = data.get("gated_energy_fraction")
    if fraction is not None:
        fraction = _number(fraction, (*parts, "gated_energy_fraction"))
    decode_energy, decode_rate = {}, {}
    if "decode_energy" in data:
        given = _fields(data["decode_energy"], (*parts, "decode_energy"), (), REPRESENTATIONS)
        decode_energy = {k: _read(units.energy_pj, v, (*parts, "decode_energy", k))
                         for k, v in given.items()}
    if "decode_bits_per_cycle" in data:
        given = _fields(data["decode_bits_per_cycle"], (*parts, "decode_bits_per_cycle"), (),
                        REPRESENTATIONS)
        decode_rate = {k: _number(v, (*parts, "decode_bits_per_cycle", k))
                       for k, v in given.items()}
    return Sparsity(support=data["support"], gated_energy_fraction=fraction,
                    efficiency=efficiency, decode_cycles=decode_cycles,
                    decode_energy=decode_energy, decode_bits_per_cycle=decode_rate)


def _per_structure(data, key, default, parts):
    """A {structure: number} field, every structure present (``default`` where not given)."""
    values = dict.fromkeys(SPARSE_STRUCTURES, default)
    if key in data:
        given = _fields(data[key], (*parts, key), (), SPARSE_STRUCTURES)
        values.update({k: _number(v, (*parts, key, k)) for k, v in given.items()})
    return values


def _parse_level(data, parts, clock_hz):
    data = _fields(data, parts, ("name", "capacity", "read_energy", "write_energy", "holds"),
                   ("bandwidth", "read_bandwidth", "write_bandwidth", "word_bits", "link_energy"))
    ports = {key: _read(units.bandwidth_bytes_per_cycle, data[key], (*parts, key), clock_hz)
             for key in ("bandwidth", "read_bandwidth", "write_bandwidth") if key in data}
    if "bandwidth" not in ports:
        if not {"read_bandwidth", "write_bandwidth"} <= set(ports):
            raise HardwareError((*parts, "bandwidth"), "missing field (or give both "
                                "read_bandwidth and write_bandwidth: separate ports)")
        ports["bandwidth"] = ports["read_bandwidth"] + ports["write_bandwidth"]
    capacity = data["capacity"]
    if capacity is not None:
        capacity = _read(units.capacity_bytes, capacity, (*parts, "capacity"))
    holds = data["holds"]
    if not isinstance(holds, list):
        raise HardwareError((*parts, "holds"), "expected a list drawn from "
                            f"{', '.join(HOLDABLE)}")
    return MemoryLevel(
        name=data["name"], capacity_bytes=capacity,
        bandwidth_bytes_per_cycle=ports["bandwidth"],
        read_bandwidth_bytes_per_cycle=ports.get("read_bandwidth"),
        write_bandwidth_bytes_per_cycle=ports.get("write_bandwidth"),
        word_bits=data.get("word_bits"),
        read_pj_per_byte=_read(units.energy_pj_per_byte, data["read_energy"],
                               (*parts, "read_energy")),
        write_pj_per_byte=_read(units.energy_pj_per_byte, data["write_energy"],
                                (*parts, "write_energy")),
        link_pj_per_byte=_read(units.energy_pj_per_byte, data.get("link_energy", 0),
                               (*parts, "link_energy")),
        holds=tuple(holds))
