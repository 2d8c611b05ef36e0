"""Rows of dicts out as a plain-text table, CSV, JSON, Markdown or a pandas DataFrame.

Shared by hwmodel results and sweeps and by sparsekit's reports: every function takes a list of
row dicts; columns are the union of the rows' keys in first-seen order.

Units. Values stay in base units (seconds, joules, watts, bytes, MACs, cycles) and a column's
unit is read from its name: ``latency_s``, ``energy_j``, ``power_w``, ``bytes`` / ``..._bytes``
/ ``bytes_...``, ``macs`` / ``..._macs``, ``cycles`` / ``..._cycles``, ``..._bytes_per_s``,
``..._flop_per_s`` (a name whose last two parts are ``per_<unit>``, e.g. ``inf_per_s_per_w``, is a
rate without a unit). CSV, JSON and ``to_dataframe`` keep the exact base-unit values. The text
and Markdown views scale **per column**: one prefix for the whole column, the one that puts its
largest magnitude in [1, 1000) (bytes in binary steps: KiB, MiB, GiB), so values stay comparable
down the rows; the header says the unit (``latency_s`` -> ``latency ms``, ``bytes_csr`` ->
``csr KiB``, ``macs`` -> ``GMAC``). ``human(value, unit)`` formats a lone number in prose (a
headline), choosing the prefix for that one value.

Width. ``to_text`` fits ``width`` (100) characters unless ``wide=True``. When the full table is
wider, it drops columns by priority, lowest first: the columns named in ``priority`` rank first
in that order, the others after them in table order; the first column (the row's name) always
stays. Before dropping any column, text cells longer than 40 characters are shortened in the
middle with "…" ("encoder.layers.0.…attn.in_proj_weight"); if the kept columns are still too
wide, the longest text columns are shortened further. Lines are never wrapped. The table then
ends with a one-line note saying how many columns are hidden and how to see them.
"""

import csv
import io
import json
import math
import numbers
import textwrap

WIDTH = 100  # default width of a text table, in characters
GAP = "  "  # between columns
TEXT_CAP = 40  # a narrowed table shortens longer text cells to this before dropping columns

_SI = (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0), ("m", 1e-3), ("µ", 1e-6),
       ("n", 1e-9), ("p", 1e-12))
_BINARY = (("Ti", 2.0 ** 40), ("Gi", 2.0 ** 30), ("Mi", 2.0 ** 20), ("Ki", 2.0 ** 10), ("", 1.0))

# unit symbol -> the prefixes it may take, largest first
UNITS = {
    "s": _SI[4:8],  # s, ms, µs, ns
    "J": _SI[4:],  # J .. pJ
    "W": _SI[3:7],  # kW .. µW
    "B": _BINARY,  # bytes: B, KiB, MiB, GiB, TiB
    "MAC": _SI[:5],  # MAC, kMAC, MMAC, GMAC, TMAC
    "cycles": _SI[:5],
    "B/s": _SI[:5],  # bandwidth, decimal (GB/s) as bandwidths are quoted
    "FLOP/s": _SI[:5],
    "": _SI[:5],  # plain counts (parameters): k, M, G, T
}
_SUFFIX = {"s": "s", "j": "J", "w": "W", "bytes": "B", "macs": "MAC", "cycles": "cycles"}
_RATE = {("bytes", "per", "s"): "B/s", ("flop", "per", "s"): "FLOP/s"}


def columns(rows):
    """Column names in first-seen order."""
    seen = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


# -- units -----------------------------------------------------------------------------------
def unit_of(name):
    """(unit, rest of the name) for a column whose name carries a base unit, else (None, name).

    >>> unit_of("dense_latency_s"), unit_of("bytes_csr"), unit_of("inf_per_s_per_w")
    (('s', 'dense_latency'), ('B', 'csr'), (None, 'inf_per_s_per_w'))
    """
    if not isinstance(name, str):
        return None, name
    parts = name.split("_")
    if tuple(parts[-3:]) in _RATE:
        return _RATE[tuple(parts[-3:])], "_".join(parts[:-3])
    last = parts[-1].lower()
    if last in _SUFFIX and (len(parts) == 1 and last in ("bytes", "macs", "cycles")
                            or len(parts) > 1 and parts[-2].lower() != "per"):
        return _SUFFIX[last], "_".join(parts[:-1])
    if len(parts) > 1 and parts[0].lower() == "bytes":
        return "B", "_".join(parts[1:])
    return None, name


def prefix_for(magnitude, unit):
    """(prefix, factor) of ``unit`` that puts ``magnitude`` in [1, 1000) (or as near as the
    unit's prefixes go); the base unit for 0 or a non-finite magnitude."""
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; known: {sorted(UNITS)}")
    prefixes = UNITS[unit]
    if not magnitude or not math.isfinite(magnitude):
        return "", 1.0
    for prefix, factor in prefixes:
        if abs(magnitude) >= factor * 0.9995:  # 999.96 ms reads as 1.00 s, not 1000 ms
            return prefix, factor
    return prefixes[-1]


def is_number(value) -> bool:
    """A real number (numpy's included) that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def number(value, sig=3, strip=False):
    """``value`` with ``sig`` significant digits, in fixed point (no exponent): 0.00123, 12.3,
    456, 2.00 (``strip``: 2); tiny magnitudes (< 0.0001) as "<0.0001"; integers as they are."""
    if not is_number(value) or isinstance(value, numbers.Integral):
        return str(value)
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if abs(value) < 1e-4:
        return ("-" if value < 0 else "") + "<0.0001"
    magnitude = abs(float(f"{value:.{sig}g}"))  # rounded first: 9.996 reads 10.0, not 10.00
    decimals = max(0, sig - 1 - math.floor(math.log10(magnitude)))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if strip and decimals else text


def human(value, unit, sig=3):
    """One number with its own prefix: ``human(0.0005752, "J")`` -> "575 µJ"."""
    if value is None:
        return ""
    prefix, factor = prefix_for(abs(value), unit)
    return f"{number(value / factor, sig)} {prefix}{unit}".rstrip()


def _label(name, unit, prefix):
    rest = unit_of(name)[1]
    return f"{rest} {prefix}{unit}" if rest else f"{prefix}{unit}"


def _cell(value):
    """A cell of a column without a unit."""
    if value is None:
        return ""
    if is_number(value) and not isinstance(value, numbers.Integral):
        value = float(value)
        if math.isfinite(value) and (value == 0 or 1e-4 <= abs(value) < 1e15):
            return number(value, sig=4, strip=True)
        return f"{value:.3g}"
    return str(value)


def scaled(rows):
    """(labels, cells): the display header and the text cells of every column, each column with
    a unit scaled by one prefix (see the module docstring)."""
    cols = columns(rows)
    labels, cells = {}, {}
    for c in cols:
        values = [row.get(c) for row in rows]
        unit = unit_of(c)[0]
        finite = [abs(float(v)) for v in values if is_number(v) and math.isfinite(v)]
        if unit is None or not any(is_number(v) for v in values):
            labels[c], cells[c] = str(c), [_cell(v) for v in values]
            continue
        prefix, factor = prefix_for(max(finite, default=0.0), unit)
        labels[c] = _label(c, unit, prefix)
        cells[c] = [number(float(v) / factor) if is_number(v) else _cell(v) for v in values]
    return labels, cells


# -- text ------------------------------------------------------------------------------------
def _shorten(text, width):
    """``text`` cut to ``width`` characters in the middle ("layer4.…downsample.0")."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def _order(cols, priority):
    """Columns from most to least important: ``priority`` first, the rest in table order."""
    first = [c for c in (priority or ()) if c in cols]
    return first + [c for c in cols if c not in first]


def _fit(cols, width_of, numeric, labels, priority, width):
    """The columns to show within ``width`` (the module docstring's rule); narrows the text
    columns' entries of ``width_of`` where it shortens them."""
    def total(kept):
        return sum(width_of[c] for c in kept) + len(GAP) * (len(kept) - 1)

    shown = list(cols)
    if not cols or total(shown) <= width:
        return shown
    for c in cols:  # long texts (layer names) give way before whole columns do
        if not numeric[c]:
            width_of[c] = min(width_of[c], max(TEXT_CAP, len(labels[c])))
    for c in reversed(_order(cols[1:], priority)):
        if total(shown) <= width:
            break
        shown.remove(c)
    excess = total(shown) - width
    for c in sorted((c for c in shown if not numeric[c]), key=lambda c: -width_of[c]):
        cut = min(excess, width_of[c] - max(8, len(labels[c])))
        if cut > 0:
            width_of[c] -= cut
            excess -= cut
    return shown


def footnotes(rows, column="note", noun="rows"):
    """(rows with ``column`` replaced by a marker "[n]", note lines): each distinct note text
    numbered once, with the count of rows that carry it."""
    texts = {}
    for row in rows:
        text = row.get(column)
        if text:
            texts.setdefault(str(text), []).append(row)
    if not texts:
        return [{k: v for k, v in row.items() if k != column} for row in rows], []
    number_of = {text: i for i, text in enumerate(texts, 1)}
    marked = [{**row, column: f"[{number_of[str(row[column])]}]" if row.get(column) else None}
              for row in rows]
    lines = []
    for text, carriers in texts.items():
        count = f" ({len(carriers)} {noun})" if len(carriers) > 1 else ""
        lines.append(f"[{number_of[text]}] {text}{count}")
    return marked, lines


def to_text(rows, wide=False, width=WIDTH, priority=None, note="note", legend=None,
            noun="rows", footer=()):
    """Aligned plain text: text left, numbers right, units in the headers.

    wide: every column, at full width (else fit ``width`` as the module docstring says).
    priority: column names, most important first (the rest follow in table order).
    note: a column of free-text notes, shown under the table as numbered footnotes, each
        distinct text once with the number of rows carrying it; the table keeps "[n]" markers.
    legend: {column: explanation} printed under the table for the columns shown.
    noun: what a row is, in the footnotes' counts ("(17 layers)").
    footer: more lines of text for under the legend (wrapped to ``width`` unless ``wide``).
    """
    rows = list(rows)
    rows, notes = footnotes(rows, note, noun) if note else (rows, [])
    labels, cells = scaled(rows)
    cols = list(labels)
    numeric = {c: all(is_number(r.get(c)) or r.get(c) is None for r in rows) for c in cols}
    width_of = {c: max([len(labels[c])] + [len(s) for s in cells[c]]) for c in cols}
    shown = cols if wide else _fit(cols, width_of, numeric, labels, priority, width)
    lines = []
    if shown:
        header = [_shorten(labels[c], width_of[c]) for c in shown]
        lines.append(GAP.join(h.ljust(width_of[c]) for h, c in zip(header, shown)).rstrip())
        lines.append(GAP.join("-" * width_of[c] for c in shown))
        for i in range(len(rows)):
            parts = [_shorten(cells[c][i], width_of[c]) for c in shown]
            lines.append(GAP.join(p.rjust(width_of[c]) if numeric[c] else p.ljust(width_of[c])
                                  for p, c in zip(parts, shown)).rstrip())
    limit = None if wide else width
    if notes:
        lines.append("notes:")
        lines += wrap(notes, limit, indent="  ")
    explained = [f"{labels[c]}: {legend[c]}" for c in shown if legend and c in legend]
    if explained:
        lines.append("columns:")
        lines += wrap(explained, limit, indent="  ")
    lines += wrap(list(footer), limit, indent="")
    hidden = [c for c in cols if c not in shown]
    if hidden:
        lines.append(more_columns_note([labels[c] for c in hidden], width))
    return "\n".join(lines)


def wrap(items, width=WIDTH, indent=""):
    """Lines of text items, each wrapped to ``width`` (None: not wrapped), continuation lines
    indented by four more spaces."""
    out = []
    for item in items:
        if width is None:
            out.append(indent + item)
        else:
            out += textwrap.wrap(item, width, initial_indent=indent,
                                 subsequent_indent=indent + "    ", break_on_hyphens=False)
    return out


def more_columns_note(hidden, width=WIDTH):
    """The last line of a narrowed table: how many columns are hidden (named when they fit)."""
    n = len(hidden)
    plural = "column" if n == 1 else "columns"
    how = "--wide, or .to_text(wide=True)"
    named = f"({n} more {plural}: {', '.join(hidden)}; {how})"
    return named if len(named) <= width else f"({n} more {plural}: {how})"


# -- files -----------------------------------------------------------------------------------
def _save(text, path):
    if path is not None:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    return text


def to_csv(rows, path=None):
    """CSV text with a header row, exact base-unit values (written to ``path`` too when given)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return _save(buffer.getvalue(), path)


def to_json(rows, path=None, meta=None):
    """JSON list of rows, or ``{**meta, "rows": rows}`` when ``meta`` is given; exact values."""
    data = list(rows) if meta is None else {**meta, "rows": list(rows)}
    return _save(json.dumps(data, indent=2), path)


def to_markdown(rows, path=None, note="note", noun="rows"):
    """A GitHub-flavoured Markdown table of every column, scaled like the text view; a ``note``
    column becomes numbered footnotes in a list under the table."""
    rows, notes = footnotes(list(rows), note, noun) if note else (list(rows), [])
    labels, cells = scaled(rows)
    cols = list(labels)
    lines = ["| " + " | ".join(labels[c] for c in cols) + " |",
             "|" + "|".join(" --- " for _ in cols) + "|"]
    lines += ["| " + " | ".join(cells[c][i] for c in cols) + " |" for i in range(len(rows))]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return _save("\n".join(lines) + "\n", path)


def to_dataframe(rows):
    """A pandas DataFrame (exact values); ImportError with an install hint if pandas is
    missing."""
    try:
        import pandas
    except ImportError as exc:
        raise ImportError("to_dataframe() needs pandas, which is not installed: "
                          "pip install pandas (or use to_csv/to_json instead)") from exc
    return pandas.DataFrame(list(rows), columns=columns(rows))


class Table(list):
    """A list of row dicts that prints as a table and exports like one.

    priority: column names, most important first: the ones a narrow view keeps.
    legend: {column: explanation} printed under the text table.
    A column named "note" prints as numbered footnotes under the table.
    """

    priority = ()  # class defaults: a copied or unpickled Table has them too
    legend = {}

    def __init__(self, rows=(), *, priority=None, legend=None):
        super().__init__(rows)
        if priority:
            self.priority = tuple(priority)
        if legend:
            self.legend = dict(legend)

    def to_text(self, wide: bool = False) -> str:
        """Fits 100 columns (``wide=True``: every column); see the module docstring."""
        return to_text(self, wide=wide, priority=self.priority, legend=self.legend)

    def __str__(self):
        return self.to_text()

    def to_csv(self, path=None):
        return to_csv(self, path)

    def to_json(self, path=None):
        return to_json(self, path)

    def to_markdown(self, path=None):
        return to_markdown(self, path)

    def to_dataframe(self):
        return to_dataframe(self)
