"""``Summary``: the per-layer table ``sk.analyze`` returns, with a totals row.

Rendering goes through ``hwmodel.table`` (one table module for the whole project). CSV, JSON
and ``to_dataframe()`` carry every column with exact values (integers stay integers); the
terminal table and Markdown show a compact, human-scaled selection (MACs in millions, bytes in
KiB, sparsities in %) unless ``columns=`` asks for others.
"""
from __future__ import annotations

from hwmodel import table as _table

# (column in the compact view, source column, scale): a compact view that fits a terminal.
COMPACT = (("name", "name", None), ("type", "type", None), ("M", "M", None), ("K", "K", None),
           ("N", "N", None), ("sparsity %", "sparsity", 100), ("rows %", "rows", 100),
           ("chan %", "channels", 100), ("blocks %", "blocks", 100),
           ("vectors %", "vectors", 100), ("MACs (M)", "macs", 1e-6),
           ("eff MACs (M)", "effective_macs", 1e-6), ("dense KiB", "bytes_dense", 1 / 1024),
           ("csr KiB", "bytes_csr", 1 / 1024), ("bsr KiB", "bytes_bsr", 1 / 1024),
           ("vs KiB", "bytes_vectorskip", 1 / 1024), ("best", "best_format", None))


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
    (block, vector, value/index widths)."""

    def __init__(self, rows, columns=None, total=None, meta=None):
        self.columns = tuple(columns) if columns is not None else tuple(_table.columns(rows))
        self.layers = [{c: _plain(r.get(c)) for c in self.columns} for r in rows]
        self.total = {c: _plain(total.get(c)) for c in self.columns} if total else None
        self.meta = dict(meta or {})

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
        present = [(label, src, scale) for label, src, scale in COMPACT
                   if any(r.get(src) is not None for r in self.rows)]
        view = []
        for r in self.rows:
            row = {}
            for label, src, scale in present:
                v = r.get(src)
                if scale is not None and isinstance(v, (int, float)):
                    v = round(v * scale, 1 if scale == 100 else 3)
                row[label] = v
            view.append(row)
        return view

    def to_text(self, columns=None) -> str:
        text = _table.to_text(self._view(columns))
        notes = [f"  {r['name']}: {r['note']}" for r in self.layers if r.get("note")]
        return text + ("\nnotes:\n" + "\n".join(notes) if notes and columns is None else "")

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
        """``{"meta": ..., "rows": [...]}`` with every column (totals row last)."""
        meta = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.meta.items()}
        return _table.to_json(self._export_rows(shapes_as_text=False), path,
                              meta={"meta": meta})

    def to_markdown(self, path=None, columns=None) -> str:
        """The compact view (or ``columns``) as a Markdown table."""
        return _table.to_markdown(self._view(columns), path)

    def to_dataframe(self):
        """A pandas DataFrame of every column (pandas must be installed)."""
        return _table.to_dataframe(self._export_rows(shapes_as_text=True))
