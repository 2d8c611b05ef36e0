"""Short strings for the common formats: "UOP-CP" (CSR), "U-B" (bitmap), "UOP32-CP16",
"U-B-U-B" with tile=(4, 4).

One token per rank, outermost first: a representation, optionally followed by its width in bits
("CP8", "RLE4"). The ranks walk the outer dimensions first, M before K, then the inner tile
dimensions: M, K untiled; M1, K1, M0, K0 with both tiled; M1, K, M0 with only M tiled (VectorSkip);
M, K1, K0 with only K tiled (N:M).
"""

import re

from ..yamlsource import shown
from .spec import REPRESENTATIONS, FormatError, FormatSpec, Rank

_TOKEN = re.compile(r"^(UOP|RLE|CP|U|B)(\d*)$")


def parse(text: str, tile=None, value_bits: int = 16, name: str | None = None) -> FormatSpec:
    """A FormatSpec from a short string; ``tile`` is (m0, k0), a dict such as {"M": 8}, or None."""
    if not isinstance(text, str) or not text.strip():
        raise FormatError(("ranks",), f"expected a string such as 'UOP-CP', got {shown(text)}")
    if isinstance(tile, (tuple, list)):
        if len(tile) != 2:
            raise FormatError(("tile",), f"expected (m0, k0), got {shown(tile)}")
        tile = {"M": tile[0], "K": tile[1]}
    tile = dict(tile or {})
    outer = [f"{d}1" if d in tile else d for d in ("M", "K")]
    dims = outer + [f"{d}0" for d in ("M", "K") if d in tile]
    tokens = text.strip().split("-")
    if len(tokens) != len(dims):
        raise FormatError(("ranks",), f"{shown(text)} has {len(tokens)} ranks; this view has "
                          f"{len(dims)} dimensions ({', '.join(dims)})")
    ranks = []
    for i, token in enumerate(tokens):
        match = _TOKEN.match(token.strip().upper())
        if not match:
            raise FormatError(("ranks", i, "format"), f"unknown representation {shown(token)} "
                              f"(expected one of {', '.join(REPRESENTATIONS)}, optionally "
                              "followed by a width in bits)")
        rep, bits = match.groups()
        ranks.append(Rank(dims[i], rep, bits=int(bits) if bits else None))
    return FormatSpec(name or text.strip(), tuple(ranks), value_bits, tile=tile)
