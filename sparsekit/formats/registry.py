"""The one registry of executable formats: every list of formats in sparsekit derives from it
(analyze's byte columns, estimate, compare_formats, sparsify's candidates, calibrate, the CLI
choices, the benchmarks).

**Adding a format takes one file**, ``sparsekit/formats/<name>.py``, holding a subclass of
``SparseFormat`` that sets, besides the kernels (``_spmv``, ``_spmm``) and ``storage()``:

- ``format = "<name>"``: the registry key (CLI choice, ``bytes_<name>`` column);
- ``structure``: the pruning structure it suits ("unstructured", "block" or "vector"; it is
  also the ``hwmodel.Layer.structure`` of a layer stored in it);
- ``params``: which shared packing options it takes: ``()``, ``("block",)`` or ``("vector",)``;
  ``from_dense(W, **those)`` packs a dense matrix;
- ``order``: its place in listings (CSR 10, BSR 20, VectorSkip 30);
- ``_spec(value_bits, index_bits, **params)`` (a classmethod): its per-rank
  ``hwmodel.formats.FormatSpec``, such that
  ``hf.footprint(A.spec, W != 0, value_bits=b).total_bytes == A.storage(value_bits=b).total``;
- ``_packed_widths()``: ``(index_bits, pointer_bits, params)`` as the instance is packed;
- ``short_name`` (optional): a shorter column label for tables ("vskip");
- ``roles``: the role of each constructor array ("values", "indices", "pointers", "bitmap"),
  so the sparse layers can store and rebuild it as buffers.

Subclassing registers the class (``SparseFormat.__init_subclass__``); this package imports
every module in its folder, so the new file is found without being listed anywhere.
"""
from __future__ import annotations

import importlib
import pkgutil

FORMATS: dict = {}          # name -> class, filled by SparseFormat.__init_subclass__
DEFAULTS = {"block": (4, 4), "vector": 8}


def register(cls) -> None:
    """Add an executable format class (called by ``SparseFormat.__init_subclass__``)."""
    for attr in ("format", "structure", "params", "order"):
        if not hasattr(cls, attr):
            raise TypeError(f"format class {cls.__name__} must set {attr!r}")
    if cls.format in FORMATS and FORMATS[cls.format] is not cls:
        raise TypeError(f"two format classes named {cls.format!r}: "
                        f"{FORMATS[cls.format].__name__} and {cls.__name__}")
    FORMATS[cls.format] = cls
    ordered = sorted(FORMATS.items(), key=lambda kv: (kv[1].order, kv[0]))
    FORMATS.clear()
    FORMATS.update(ordered)


def discover(package) -> None:
    """Import every module of the formats package, so that each format class registers."""
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")


def names() -> tuple:
    """The registered format names, in listing order ("csr", "bsr", "vectorskip", ...)."""
    return tuple(FORMATS)


def get(name: str):
    """The class registered as ``name``, or ValueError listing the choices."""
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}; choose from {names()}")
    return FORMATS[name]


def structure_of(name: str) -> str:
    """"dense" for "dense", else the registered class's pruning structure."""
    return "dense" if name == "dense" else get(name).structure


def structures() -> dict:
    """{format name: pruning structure} of every registered format."""
    return {n: c.structure for n, c in FORMATS.items()}


def options(cls, block=None, vector=None) -> dict:
    """The packing keywords ``cls`` takes, from the shared options (defaults: DEFAULTS)."""
    given = {"block": block, "vector": vector}
    return {p: DEFAULTS[p] if given[p] is None else given[p] for p in cls.params}


def pack(w, format: str, block=None, vector=None):
    """The dense M×K weight ``w`` (numpy or torch) packed in the format named ``format``;
    ``block`` / ``vector`` reach the formats that take them (BSR, VectorSkip)."""
    cls = get(format)
    return cls.from_dense(w, **options(cls, block, vector))


def spec(format: str, value_bits: int = 32, index_bits=None, block=None, vector=None):
    """The per-rank ``FormatSpec`` of the registered format ``format``."""
    cls = get(format)
    return cls.spec(value_bits=value_bits, index_bits=index_bits,
                    **options(cls, block, vector))
