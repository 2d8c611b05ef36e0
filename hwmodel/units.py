"""Quantities with units, as written in hardware YAML ("34 GB/s", "1.3 nJ/64b", "108 KiB").

A description states numbers the way its source does; this module turns them into the one
unit the model stores (bytes, bytes/cycle, pJ/byte, Hz, W, pJ). A bare number is taken to be
in that stored unit already. Each reader raises ``ValueError`` with a message saying which
units it accepts; the hardware parser adds the field path.
"""

import math
import re

from .yamlsource import shown

# Unambiguous on purpose (one way to split "12.5e3 GB/s"): an ambiguous pattern backtracks for
# minutes on a long string of digits; inputs longer than _LONGEST are refused before matching.
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = re.compile(rf"\s*({_NUMBER})\s*((?:[A-Za-z][A-Za-z/0-9]*)?)\s*")
_LONGEST = 64

_BYTES = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
_PER_SECOND = {"B/s": 1, "KB/s": 1e3, "MB/s": 1e6, "GB/s": 1e9, "TB/s": 1e12,
               "KiB/s": 2**10, "MiB/s": 2**20, "GiB/s": 2**30}
_ENERGY_PJ = {"fJ": 1e-3, "pJ": 1.0, "nJ": 1e3, "uJ": 1e6}
_HERTZ = {"Hz": 1, "kHz": 1e3, "MHz": 1e6, "GHz": 1e9}
_WATTS = {"W": 1.0, "mW": 1e-3, "uW": 1e-6}


def _split(value, what, accepted):
    """(number, unit) from a number or a "<number> <unit>" string."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a {what} (a number or a string with one of {accepted}), "
                         f"got {shown(value)}")
    if isinstance(value, str):
        if len(value) > _LONGEST:
            raise ValueError(f"{shown(value)} is too long for a {what} ({len(value)} "
                             f"characters; at most {_LONGEST})")
        match = _QUANTITY.fullmatch(value)
        if not match:
            raise ValueError(f"cannot read {shown(value)} as a {what}; use one of {accepted}")
        number, unit = float(match.group(1)), match.group(2)
    else:
        try:
            number, unit = float(value), ""
        except OverflowError:
            raise ValueError(f"{shown(value)} is too large for a {what}") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {shown(value)}")
    return number, unit


def _scaled(value, what, table, bare_unit):
    accepted = ", ".join(table)
    number, unit = _split(value, what, accepted)
    if unit == "":
        return number
    if unit not in table:
        raise ValueError(f"unknown unit {shown(unit)} for a {what}; use one of {accepted} "
                         f"(a bare number means {bare_unit})")
    return number * table[unit]


def capacity_bytes(value):
    """Bytes from e.g. 108 KiB, 24 MiB, 512 B or a bare number of bytes."""
    return _scaled(value, "capacity", _BYTES, "bytes")


def frequency_hz(value):
    """Hz from e.g. 200 MHz, 0.7 GHz or a bare number of Hz."""
    return _scaled(value, "frequency", _HERTZ, "Hz")


def power_w(value):
    """Watts from e.g. 28 W, 250 mW or a bare number of watts."""
    return _scaled(value, "power", _WATTS, "W")


def energy_pj(value):
    """pJ from e.g. 0.2 pJ, 1.3 nJ or a bare number of pJ (energy of one operation)."""
    return _scaled(value, "energy", _ENERGY_PJ, "pJ")


def bandwidth_bytes_per_cycle(value, clock_hz):
    """Bytes per compute cycle from "8 B/cycle", "34 GB/s", "167 GiB/s" or a bare B/cycle."""
    accepted = "B/cycle, " + ", ".join(_PER_SECOND)
    number, unit = _split(value, "bandwidth", accepted)
    if unit in ("", "B/cycle"):
        return number
    if unit not in _PER_SECOND:
        raise ValueError(f"unknown unit {shown(unit)} for a bandwidth; use one of {accepted}")
    if not clock_hz > 0:
        raise ValueError(f"{shown(value)} needs a positive clock to become B/cycle, "
                         f"got clock {shown(clock_hz)}")
    return number * _PER_SECOND[unit] / clock_hz


def energy_pj_per_byte(value):
    """pJ per byte from "162.5 pJ/B", "1.3 nJ/64b" (per access of 64 bits) or a bare pJ/B."""
    accepted = "pJ/B, nJ/B, or energy per access of a stated width such as 10 pJ/64b"
    number, unit = _split(value, "energy per byte", accepted)
    if unit == "":
        return number
    match = re.fullmatch(r"([fpnu]J)/(B|(\d+)b)", unit)
    if not match or match.group(1) not in _ENERGY_PJ:
        raise ValueError(f"unknown unit {shown(unit)} for an access energy; use {accepted}")
    bytes_per_access = 1.0 if match.group(2) == "B" else int(match.group(3)) / 8
    if bytes_per_access <= 0:
        raise ValueError(f"access width in {shown(unit)} must be positive")
    return number * _ENERGY_PJ[match.group(1)] / bytes_per_access


def show(number, unit):
    """The canonical text for a stored quantity, exact enough to read back unchanged."""
    if float(number).is_integer() and abs(number) < 1e15:
        return f"{int(number)} {unit}"
    return f"{float(number)!r} {unit}"
