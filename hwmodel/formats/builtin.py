"""The built-in formats, each written as per-rank specs.

The widths of csr, bsr and vectorskip are those sparsekit packs with, so that their footprint
equals ``storage().total`` byte for byte: indices take the smallest of 8/16/32/64 bits that holds
the largest index, pointers the smallest of 16/32/64 that holds the stored count; an explicit
``index_bits`` sets the index width (VectorSkip's pointer width, since it has no indices).
"""

from ..yamlsource import shown
from .spec import FormatError, FormatSpec, Rank, is_int

INDEX_WIDTHS = (8, 16, 32, 64)
POINTER_WIDTHS = (16, 32, 64)


def _index(bits):
    """CP/RLE width keywords: an explicit width, or auto over sparsekit's index widths."""
    return {"bits": bits} if bits is not None else {"widths": INDEX_WIDTHS}


def _pointer(bits=None):
    return {"bits": bits} if bits is not None else {"widths": POINTER_WIDTHS}


def _pair(value, what):
    try:
        r, c = value
        ok = is_int(r) and is_int(c)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise FormatError((what,), f"expected two positive integers (r, c), got {shown(value)}")
    return int(r), int(c)


def dense(value_bits=16):
    """Every value, no metadata (U-U); zero work is neither skipped nor gated."""
    return FormatSpec("dense", (Rank("M", "U"), Rank("K", "U")), value_bits, compute="none")


def csr(value_bits=16, index_bits=None):
    """Row pointers (UOP), column indices (CP), values."""
    return FormatSpec("csr", (Rank("M", "UOP", **_pointer()),
                              Rank("K", "CP", **_index(index_bits))), value_bits)


def csc(value_bits=16, index_bits=None):
    """Column pointers (UOP), row indices (CP), values."""
    return FormatSpec("csc", (Rank("K", "UOP", **_pointer()),
                              Rank("M", "CP", **_index(index_bits))), value_bits)


def coo(value_bits=16, index_bits=None):
    """A (row, column) pair per nonzero: one flattened CP rank over M·K, with its count."""
    return FormatSpec("coo", (Rank(("M", "K"), "CP", **_index(index_bits)),), value_bits)


def bitmap(value_bits=16):
    """One bit per entry (U-B), then the nonzero values."""
    return FormatSpec("bitmap", (Rank("M", "U"), Rank("K", "B")), value_bits)


def bsr(block=(4, 4), value_bits=16, index_bits=None):
    """Dense r×c blocks (zeros and edge padding stored), block-row pointers, block-column
    indices."""
    r, c = _pair(block, "block")
    return FormatSpec(f"bsr{r}x{c}", (Rank("M1", "UOP", **_pointer()),
                                      Rank("K1", "CP", **_index(index_bits)),
                                      Rank("M0", "U"), Rank("K0", "U")),
                      value_bits, tile={"M": r, "K": c})


def vectorskip(vector=8, value_bits=16, index_bits=None):
    """Panels of V rows; per panel a bitmap over columns in 64-bit words; the present length-V
    column vectors (zeros and edge padding stored); panel pointers."""
    return FormatSpec(f"vectorskip{vector}", (Rank("M1", "UOP", **_pointer(index_bits)),
                                              Rank("K", "B", align=64), Rank("M0", "U")),
                      value_bits, tile={"M": vector})


def nm(n=2, m=4, value_bits=16, index_bits=None):
    """N:M: every group of m consecutive entries of a row holds exactly n values and their
    positions in the group (2:4 with 2-bit indices); groups with fewer nonzeros store zeros."""
    return FormatSpec(f"{n}:{m}", (Rank("M", "U"), Rank("K1", "U"),
                                   Rank("K0", "CP", fixed=n, bits=index_bits)),
                      value_bits, tile={"K": m})


def csr_rle(run_bits=4, value_bits=16):
    """CSR whose column indices are runs of zeros, ``run_bits`` wide (EIE's 4-bit runs, with a
    filler zero when a gap is too long)."""
    return FormatSpec(f"csr-rle{run_bits}", (Rank("M", "UOP", **_pointer()),
                                             Rank("K", "RLE", bits=run_bits)), value_bits)


def two_level_bitmap(block=(4, 4), value_bits=16):
    """A bitmap over r×c blocks, then a bitmap inside each present block."""
    r, c = _pair(block, "block")
    return FormatSpec("two-level-bitmap", (Rank("M1", "U"), Rank("K1", "B"),
                                           Rank("M0", "U"), Rank("K0", "B")),
                      value_bits, tile={"M": r, "K": c})


BUILTINS = {"dense": dense, "csr": csr, "csc": csc, "coo": coo, "bitmap": bitmap, "bsr": bsr,
            "vectorskip": vectorskip, "nm": nm, "csr-rle": csr_rle,
            "two-level-bitmap": two_level_bitmap}


def builtin(name: str, **params) -> FormatSpec:
    """A built-in format by name, e.g. ``builtin("bsr", block=(4, 4), index_bits=16)``."""
    if name not in BUILTINS:
        raise ValueError(f"unknown built-in format {shown(name)} (expected one of "
                         f"{', '.join(BUILTINS)})")
    try:
        return BUILTINS[name](**params)
    except TypeError as exc:
        raise TypeError(f"built-in format {shown(name)}: {exc}") from None
