"""``Summary``: the per-layer table ``sk.analyze`` returns, with a totals row.

Rendering goes through ``hwmodel.table`` (one table module for the whole project). CSV, JSON
and ``to_dataframe()`` carry every column with exact base-unit values (integers stay integers:
MACs, bytes). The terminal table and Markdown show a compact selection, scaled per column
(MMAC/GMAC, KiB/MiB, sparsities in %); the terminal table fits 100 columns (``wide=True``: the
whole compact view), keeps the columns in ``PRIORITY`` order first, prints each distinct note
once under the table with the number of layers it concerns, and explains the structure columns
in a legend. ``ops`` (the forward pass's other operators, one row per op kind: calls, bytes
moved, FLOPs) prints as a second small table under it, and is in the JSON.
"""
from __future__ import annotations

from hwmodel import table as _table
from sparsekit.formats import registry


def _short(name: str) -> str:
    """A format's column label: its class's ``short_name`` ("vskip"), else its name."""
    return getattr(registry.get(name), "short_name", name)


def _formats_in_words() -> str:
    classes = [cls.__name__ for cls in registry.FORMATS.values()]
    return ", ".join(classes[:-1]) + " and " + classes[-1] if len(classes) > 1 else classes[0]


# (column of the compact view, source column, percent?). View names follow hwmodel.table's unit
# rule: "macs" prints as "MMAC"/"GMAC", "bytes_dense" as "dense KiB"/"dense MiB".
COMPACT = (("name", "name", False), ("type", "type", False), ("M", "M", False),
           ("K", "K", False), ("N", "N", False), ("sparsity %", "sparsity", True),
           ("rows %", "rows", True), ("chan %", "channels", True),
           ("blocks %", "blocks", True), ("vectors %", "vectors", True),
           ("macs", "macs", False), ("eff_macs", "effective_macs", False),
           ("bytes_dense", "bytes_dense", False),
           *((f"bytes_{_short(name)}", f"bytes_{name}", False) for name in registry.names()),
           ("best", "best_format", False), ("best_bytes", "best_bytes", False),
           ("note", "note", False))

# Most important first: what a 100-column terminal keeps. The name, how sparse, what it costs
# dense and effectively, its bytes dense and in the smallest format, where the zeros are
# (which format can skip them), the bytes of each format, then the layer's type and shape.
PRIORITY = ("name", "note", "sparsity %", "macs", "eff_macs", "bytes_dense", "best",
            "best_bytes", "blocks %", "vectors %", "rows %", "chan %",
            *(f"bytes_{_short(name)}" for name in registry.names()), "type", "M", "K", "N")


def legend(block=(4, 4), vector=8) -> dict:
    """What the compact view's less obvious columns mean (``block``/``vector``: the options
    the summary was made with)."""
    r, c = block
    return {
        "sparsity %": "zero weights of the M×K weight matrix",
        "rows %": "all-zero rows (filters of a conv, output neurons of a Linear)",
        "chan %": "all-zero input channels (input columns of a Linear)",
        "blocks %": f"all-zero {r}×{c} blocks, the ones BSR skips",
        "vectors %": f"all-zero {vector}×1 vectors in panels of {vector} rows, the ones "
                     f"VectorSkip skips",
        "eff_macs": "MACs whose weight is nonzero",
        **{f"bytes_{_short(name)}": f"bytes of the {cls.__name__} format"
           for name, cls in registry.FORMATS.items() if _short(name) != name},
        "best": f"the smallest of dense, {_formats_in_words()} for this layer",
        "best_bytes": "bytes of that smallest format",
    }


def _plain(value):
    """JSON/CSV-friendly cell: shapes as lists (JSON) stay tuples here; numpy scalars become
    Python numbers."""
    if hasattr(value, "item") and not isinstance(value, (list, tuple)):
        return value.item()
    return value


def _shape_text(value):
    if isinstance(value, (tuple, list)):
        return "×".join(str(v) for v in value)
    return value


class Summary:
    """Per-layer rows (dicts) plus a ``total`` row; ``meta`` records the options used
    (block, vector, value/index widths) and ``model_params``, every parameter of the model;
    ``ops`` the other operators of the pass, one row per op kind (op, calls, bytes_read,
    bytes_written, bytes_moved, flops)."""

    def __init__(self, rows, columns=None, total=None, meta=None, ops=()):
        self.columns = tuple(columns) if columns is not None else tuple(_table.columns(rows))
        self.layers = [{c: _plain(r.get(c)) for c in self.columns} for r in rows]
        self.total = {c: _plain(total.get(c)) for c in self.columns} if total else None
        self.meta = dict(meta or {})
        self.ops = [dict(r) for r in ops]

    # -- access --------------------------------------------------------------------------
    @property
    def rows(self) -> list[dict]:
        """The layer rows followed by the totals row."""
        return self.layers + ([self.total] if self.total else [])

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, key):
        """A layer row by position or by name."""
        if isinstance(key, str):
            for r in self.layers:
                if r["name"] == key:
                    return r
            raise KeyError(f"no layer named {key!r}; layers: {[r['name'] for r in self.layers]}")
        return self.layers[key]

    def column(self, name) -> list:
        return [r[name] for r in self.layers]

    # -- output --------------------------------------------------------------------------
    def _export_rows(self, shapes_as_text: bool) -> list[dict]:
        out = []
        for r in self.rows:
            out.append({c: (_shape_text(v) if shapes_as_text else
                            (list(v) if isinstance(v, tuple) else v)) for c, v in r.items()})
        return out

    def _view(self, columns=None) -> list[dict]:
        """Rows for the terminal/Markdown: the compact view, or the named raw columns."""
        if columns is not None:
            unknown = [c for c in columns if c not in self.columns]
            if unknown:
                raise ValueError(f"unknown column(s) {unknown}; available: {self.columns}")
            return [{c: _shape_text(r.get(c)) for c in columns} for r in self.rows]
        present = [(label, src, pct) for label, src, pct in COMPACT
                   if any(r.get(src) not in (None, "") for r in self.rows)]
        return [{label: (round(r[src] * 100, 1) if pct and r.get(src) is not None
                         else r.get(src)) for label, src, pct in present} for r in self.rows]

    def _table(self, columns=None) -> _table.Table:
        block, vector = self.meta.get("block", (4, 4)), self.meta.get("vector", 8)
        return _table.Table(self._view(columns), priority=PRIORITY,
                            legend=legend(block, vector) if columns is None else None)

    def to_text(self, wide: bool = False, columns=None) -> str:
        """The table for a terminal: 100 columns wide at most unless ``wide``; ``columns``
        names raw columns to show instead of the compact view."""
        t = self._table(columns)
        params, footer = self.meta.get("model_params"), []
        if columns is None and params is not None and (self.total or {}).get("weight_params"):
            footer.append(f"weight_params: {self.total['weight_params']:,} in the weight "
                          f"matrices above; the model has {params:,} parameters in all")
        text = _table.to_text(t, wide=wide, priority=t.priority, legend=t.legend,
                              noun="layers", footer=footer)
        if columns is None and self.ops:
            text += "\n\nother operators (per op kind; FLOPs estimated):\n" + \
                _table.to_text(self._ops_view(), wide=wide, noun="op kinds")
        return text

    def _ops_view(self) -> list[dict]:
        """The ops rows for the terminal: op, calls, bytes moved (read + written), FLOPs."""
        return [{"op": r["op"], "calls": r["calls"], "bytes_moved": r["bytes_moved"],
                 "flops": r["flops"]} for r in self.ops]

    def __str__(self):
        return self.to_text()

    def __repr__(self):
        t = self.total or {}
        return (f"<Summary {len(self.layers)} layers, {t.get('macs')} MACs, "
                f"sparsity {t.get('sparsity')}>")

    def to_csv(self, path=None) -> str:
        """Every column, exact values; written to ``path`` too when given."""
        return _table.to_csv(self._export_rows(shapes_as_text=True), path)

    def to_json(self, path=None) -> str:
        """``{"meta": ..., "ops": [...], "rows": [...]}`` with every column (totals row
        last)."""
        meta = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.meta.items()}
        return _table.to_json(self._export_rows(shapes_as_text=False), path,
                              meta={"meta": meta, "ops": self.ops})

    def to_markdown(self, path=None, columns=None) -> str:
        """The compact view (or ``columns``) as a Markdown table, notes as footnotes."""
        return _table.to_markdown(self._view(columns), path, noun="layers")

    def to_dataframe(self):
        """A pandas DataFrame of every column (pandas must be installed)."""
        return _table.to_dataframe(self._export_rows(shapes_as_text=True))
