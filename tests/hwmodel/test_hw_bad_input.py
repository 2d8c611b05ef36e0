"""Bad hardware descriptions: every one raises HardwareError (a ValueError) naming the field,
the file and the line, with a message of bounded size; reading is capped and strict."""

import math
import pickle
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hwmodel
from hw_builders import native_layer
from hwmodel import Hardware, HardwareError
from hwmodel.presets import preset_path
from hwmodel.yamlsource import MAX_BYTES, SourceError, read_document, shown


def preset(name="edge-npu"):
    return yaml.safe_load(preset_path(name).read_text())


def set_at(data, parts, value):
    for part in parts[:-1]:
        data = data[part]
    data[parts[-1]] = value


def key_line(text, parts):
    """Line of the last key of ``parts`` in ``text`` as yaml.safe_dump writes it (block style),
    found by a forward search of the text, independently of hwmodel's own field_line."""
    lines = text.splitlines()
    row = 0
    for part in parts:
        if isinstance(part, int):                    # the part-th item of the next list
            first = next(r for r in range(row, len(lines)) if lines[r].lstrip().startswith("- "))
            dash = lines[first][:lines[first].index("-") + 2]
            items = [r for r in range(first, len(lines)) if lines[r].startswith(dash)]
            row = items[part]
        else:
            row = next(r for r in range(row, len(lines))
                       if lines[r].lstrip(" -").startswith(f"{part}:"))
    return row + 1


HUGE = 10 ** 400          # a 401-digit integer: float(HUGE) raises OverflowError

CASES = [
    # (field path, bad value, message fragment); the first four are repro/hw_inf.py's cases
    (("compute", "sparsity", "decode_cycles"), {"unstructured": math.inf}, "finite"),
    (("compute", "spatial_fanout"), {"weights": math.inf, "inputs": math.inf,
                                     "outputs": math.inf}, "finite"),
    (("memory", 1, "bandwidth"), 1e-320, "below the minimum 1e-06 B/cycle"),
    (("compute", "mac_energy"), {"int0": 1}, "int<bits> or fp<bits>"),
    (("compute", "mac_energy"), {"int8": math.nan}, "finite"),
    (("compute", "mac_energy"), {"int8": {"mult": math.inf, "add": 1}}, "finite"),
    (("memory", 2, "read_energy"), math.nan, "finite"),
    (("memory", 1, "capacity"), math.inf, "finite"),
    (("compute", "clock"), 0, "positive"),
    (("compute", "clock"), 0.7, "below the minimum 1000 Hz"),
    (("compute", "clock"), 1e-320, "below the minimum"),
    (("compute", "clock"), math.inf, "finite"),
    (("compute", "macs_per_cycle"), 1e-300, "below the minimum"),
    (("compute", "sparsity", "efficiency"), {"block": 1e-320}, "below the minimum"),
    (("compute", "sparsity", "efficiency"), {"block": 2}, "at most 1"),
    (("compute", "sparsity", "efficiency"), {"vector": math.nan}, "finite"),
    (("memory", 0, "bandwidth"), "1e-300 GB/s", "below the minimum"),
    (("memory", 0, "bandwidth"), "1e308 TB/s", "finite"),
    (("memory", 1, "capacity"), 1e40, "at most 1e+30"),
    (("static_power",), -1, "zero or more"),
    (("memory", 2, "write_energy"), -0.5, "zero or more"),
    (("memory", 1, "capacity"), -4, "positive"),
    (("compute", "macs_per_cycle"), -8, "positive"),
    (("compute", "sparsity", "decode_cycles"), {"block": -1}, "zero or more"),
    (("compute", "spatial_fanout"), {"inputs": 0.5}, "1 or more"),
    (("compute", "macs_per_cycle"), HUGE, "too large"),
    (("compute", "clock"), HUGE, "too large"),
    (("memory", 1, "capacity"), HUGE, "too large"),
    (("memory", 1, "bandwidth"), HUGE, "too large"),
    (("static_power",), HUGE, "too large"),
    (("compute", "spatial_fanout"), {"outputs": HUGE}, "too large"),
    (("compute", "sparsity", "decode_cycles"), {"vector": HUGE}, "too large"),
    (("compute", "macs_per_cycle"), True, "expected a number"),
    (("memory", 1, "bandwidth"), True, "expected a"),
    (("compute", "sparsity", "efficiency"), {"block": True}, "expected a number"),
    (("compute", "spatial_fanout"), {"inputs": False}, "expected a number"),
    (("memory", 2, "read_energy"), False, "expected a"),
]


def field_of(parts, value):
    """The field the error names: a mapping value names its (first) key."""
    if isinstance(value, dict):
        key = next(iter(value))
        inner = value[key]
        return (*parts, key, *(["mult"] if isinstance(inner, dict) else []))
    return parts


@pytest.mark.parametrize("parts, value, fragment", CASES,
                         ids=[f"{'.'.join(map(str, p))}={shown(v, 30)}" for p, v, _ in CASES])
def test_bad_value_names_field_file_and_line(parts, value, fragment, tmp_path):
    data = preset()
    set_at(data, parts, value)
    text = yaml.safe_dump(data, sort_keys=False)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    field = field_of(parts, value)
    with pytest.raises(HardwareError) as info:
        Hardware.from_yaml(path)
    err = info.value
    assert err.parts == field and err.file == str(path)
    assert err.line == key_line(text, field)
    assert fragment in err.message
    assert str(err).startswith(f"{path}:{err.line}: {err.field}: ")
    with pytest.raises(HardwareError) as direct:       # plain data: the same field
        Hardware.from_dict(data)
    assert direct.value.parts == field and fragment in direct.value.message


def test_clock_zero_is_reported_before_bandwidths_divide_by_it():
    data = preset()                      # its DRAM bandwidth is in GB/s: divided by the clock
    assert str(data["memory"][0]["bandwidth"]).endswith("GB/s")
    data["compute"]["clock"] = 0
    with pytest.raises(HardwareError, match=r"^compute\.clock: must be positive, got 0(\.0)?$"):
        Hardware.from_dict(data)


# ---------------------------------------------------------------- reading the text

def test_huge_integer_in_yaml_names_field_file_and_line(tmp_path):
    text = preset_path("edge-npu").read_text().replace(
        "macs_per_cycle: 1024", "macs_per_cycle: 1" + "0" * 399)
    path = tmp_path / "big.yaml"
    path.write_text(text)
    with pytest.raises(HardwareError) as info:
        Hardware.from_yaml(path)
    line = next(i + 1 for i, s in enumerate(text.splitlines()) if "macs_per_cycle" in s)
    assert (info.value.field, info.value.file, info.value.line) == (
        "compute.macs_per_cycle", str(path), line)
    assert "too large" in str(info.value) and len(str(info.value)) < 300
    # beyond Python's 4300-digit int() limit the YAML reader itself refuses it, at its field
    path.write_text(text.replace("1" + "0" * 399, "1" + "0" * 5000))
    with pytest.raises(HardwareError, match=r"compute\.macs_per_cycle: integer of 5001") as info:
        Hardware.from_yaml(path)
    assert info.value.line == line


def test_duplicate_keys_are_refused_naming_key_and_lines(tmp_path):
    text = preset_path("edge-npu").read_text().replace(
        "  clock: 976.5625 MHz", "  clock: 976.5625 MHz\n  clock: 1 GHz")
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    first = next(i + 1 for i, s in enumerate(text.splitlines()) if "clock:" in s)
    with pytest.raises(HardwareError) as info:
        Hardware.from_yaml(path)
    err = info.value
    assert (err.field, err.file, err.line) == ("compute.clock", str(path), first + 1)
    assert f"duplicate key 'clock' (first given on line {first})" in err.message
    with pytest.raises(SourceError, match=r"^line 1: a\.b: duplicate key 'b'"):
        read_document("a: {b: 1, b: 1}")             # same value, same line: still refused


def alias_bomb(levels=9, width=9):
    """A few hundred bytes that expand to width**levels nodes (the "billion laughs")."""
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_quickly_with_a_short_message():
    text = alias_bomb()
    assert len(text) < 1500                          # the 1.3 KB of aliases
    start = time.process_time()
    with pytest.raises(HardwareError, match="expands to more than 100000 nodes") as info:
        Hardware.from_yaml(text)
    assert time.process_time() - start < 5           # a safety net for a hang, not a timing
    assert len(str(info.value)) < 300


def test_alias_bomb_under_the_cap_gives_a_short_message():
    """An aliased structure small enough to read, where a number is expected: its repr was
    embedded whole (a 351 MB message for 1.3 KB of YAML); now it is cut to 80 characters."""
    data = preset()
    value = ["x"] * 8
    for _ in range(5):
        value = [value] * 8                          # 8**6 leaves, one shared list per level
    data["compute"]["macs_per_cycle"] = value
    with pytest.raises(HardwareError, match="expected a number") as info:
        Hardware.from_dict(data)
    assert len(str(info.value)) < 200 and "…" in str(info.value)
    def inline(level):                               # &a4 [&a3 [...], *a3, ...]: 9 * 8**4 nodes
        if level == 0:
            return "&a0 [" + ", ".join(["x"] * 8) + "]"
        return f"&a{level} [{inline(level - 1)}, " + ", ".join([f"*a{level - 1}"] * 7) + "]"

    text = preset_path("edge-npu").read_text().replace("macs_per_cycle: 1024",
                                                       f"macs_per_cycle: {inline(4)}")
    with pytest.raises(HardwareError, match="compute.macs_per_cycle: expected a number") as info:
        Hardware.from_yaml(text)
    assert len(str(info.value)) < 200


def test_long_strings_and_keys_are_cut_in_messages():
    data = preset()
    data["compute"]["clock"] = "9" * 10_000 + " Hz!"
    with pytest.raises(HardwareError) as info:
        Hardware.from_dict(data)
    assert len(str(info.value)) < 400 and "…" in str(info.value) and "too long" in str(info.value)
    data = preset()
    data["compute"]["k" * 10_000] = 1
    with pytest.raises(HardwareError, match="unknown field") as info:
        Hardware.from_dict(data)
    assert len(str(info.value)) < 400


def test_recursive_alias_is_refused():
    with pytest.raises(HardwareError, match=r"^line 1: memory: an alias refers to the node"):
        Hardware.from_yaml("memory: &m [*m]\n")


def test_file_size_is_capped(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("# padding\n" * (MAX_BYTES // 10 + 1))
    with pytest.raises(HardwareError) as info:
        Hardware.from_yaml(path)
    size = path.stat().st_size
    assert info.value.file == str(path)
    assert f"{size} B exceeds the {MAX_BYTES} B limit" in info.value.message
    with pytest.raises(HardwareError, match=f"exceed the {MAX_BYTES}-character limit"):
        Hardware.from_yaml(path.read_text())


def test_non_utf8_file_names_the_file_and_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    text = preset_path("edge-npu").read_text().replace("name: edge-npu", "name: edge-npü")
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(HardwareError) as info:
        Hardware.from_yaml(path)
    err = info.value
    line = next(i + 1 for i, s in enumerate(text.splitlines()) if "edge-npü" in s)
    assert not isinstance(err, UnicodeDecodeError)
    assert (err.file, err.line) == (str(path), line)
    assert "not UTF-8" in err.message and "0xfc" in err.message
    assert str(err).startswith(f"{path}:{line}: ")


@pytest.mark.parametrize("make", [lambda p: p / "missing.yaml", lambda p: p])
def test_unreadable_path_is_a_hardware_error_naming_it(make, tmp_path):
    path = make(tmp_path)
    with pytest.raises(HardwareError, match="cannot read the hardware description") as info:
        Hardware.from_yaml(path)
    assert info.value.file == str(path)


def test_unknown_preset_lists_the_known_names():
    with pytest.raises(ValueError) as info:
        hwmodel.load("edge-np")
    message = str(info.value)
    assert all(name in message for name in hwmodel.presets())
    assert "did you mean 'edge-npu'?" in message
    with pytest.raises(TypeError, match="preset name, a YAML path or a Hardware"):
        hwmodel.load(3)


# ---------------------------------------------------------------- SourceError, read_document

def test_read_document_and_source_error():
    data, text, file = read_document("a: [1, 2]\nb: {c: 3}\n")
    assert data == {"a": [1, 2], "b": {"c": 3}} and file is None and text.startswith("a:")
    err = SourceError(("b", "c"), "bad").located(text, "f.yaml")
    assert (err.file, err.line, str(err)) == ("f.yaml", 2, "f.yaml:2: b.c: bad")
    assert str(pickle.loads(pickle.dumps(err))) == str(err)
    assert issubclass(HardwareError, SourceError) and issubclass(SourceError, ValueError)
    hw_err = HardwareError(("memory", 1, "bandwidth"), "bad").located(
        "memory:\n  - a\n  - bandwidth: 1\n", "x.yaml")
    assert type(hw_err) is HardwareError and str(hw_err) == "x.yaml:3: memory[1].bandwidth: bad"

    class FormatError(SourceError):
        pass

    with pytest.raises(FormatError, match=r"^line 2: not valid YAML|^line 2: \(document\)"):
        read_document("a: [1,\n", FormatError, "format")


def test_shown_is_bounded():
    assert shown("x" * 1000).endswith("…") and len(shown("x" * 1000)) == 80
    nested = [1]
    for _ in range(30):
        nested = [nested] * 10                        # 10**30 leaves: repr would never end
    assert len(shown(nested)) <= 80
    deep = []
    for _ in range(10_000):
        deep = [deep]                                 # repr() itself would hit the recursion limit
    assert shown(deep).startswith("[[[[") and len(shown(deep)) <= 80
    assert "digits" in shown(10 ** 5000)
    assert shown({"a": 1}) == "{'a': 1}"


# ---------------------------------------------------------------- any mutation

LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300, max_value=10**500),
    st.floats(), st.text(max_size=12),
    st.sampled_from(["1 GHz", "0 MHz", "1e-320 GB/s", ".inf", "-1 pJ", "int8", "skip",
                     "gate", "weights", "3 KiB", "1.3 nJ/64b", "1e3", "nan", "8 B/cycle"]))
VALUES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)


def paths(node, parts=()):
    yield parts
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*parts, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from paths(value, (*parts, i))


@st.composite
def mutated(draw):
    data = preset(draw(st.sampled_from(hwmodel.presets())))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(list(paths(data))[1:]))
        parent = data
        for part in where[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[where[-1]] = draw(VALUES)
        elif action == "delete":
            del parent[where[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(VALUES)
        else:
            parent.append(draw(VALUES))
    return data


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_any_mutation_of_a_preset_loads_or_raises_hardware_error(data):
    """Never another exception type; what loads round-trips and prices a layer finitely."""
    try:
        hw = Hardware.from_dict(data)
    except HardwareError as exc:
        assert len(str(exc)) < 600
    else:
        assert Hardware.from_dict(hw.to_dict()) == hw
        est = hwmodel.estimate(hw, [native_layer(hw, "fc", 64, 64, 4)])
        assert 0 < est.latency_s < math.inf and 0 <= est.energy_j < math.inf
    try:
        text = yaml.safe_dump(data)
    except yaml.YAMLError:
        return
    try:
        Hardware.from_yaml(text)
    except HardwareError as exc:
        assert len(str(exc)) < 600
