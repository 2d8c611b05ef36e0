"""Compressed formats described per rank (numpy + pyyaml only): write a format down, count
exactly what it stores on real weights, encode and decode it, and estimate it at a density.

    spec = load("two-level-bitmap.yaml"); parse("UOP-CP"); builtin("bsr", block=(4, 4))
    fp = footprint(spec, W != 0, value_bits=16)     # exact ints: total_bytes, per_rank, ...
    arrays = encode(spec, W); decode(spec, arrays, W.shape)   # reference codec, exact
    expected_footprint(spec, shape, density)        # uniform random placement, closed form

See ``spec`` for the representations (U, B, CP, UOP, RLE) and how padding is counted.
"""

from .builtin import BUILTINS, builtin
from .codec import Encoded, RankArrays, decode, encode
from .expected import expected_footprint
from .footprint import Footprint, RankFootprint, footprint
from .layout import Layout
from .load import dump, from_dict, load, to_dict
from .parse import parse
from .spec import REPRESENTATIONS, FormatError, FormatSpec, Rank

__all__ = ["BUILTINS", "REPRESENTATIONS", "Encoded", "Footprint", "FormatError", "FormatSpec",
           "Layout", "Rank", "RankArrays", "RankFootprint", "builtin", "decode", "dump",
           "encode", "expected_footprint", "footprint", "from_dict", "load", "parse", "to_dict"]
