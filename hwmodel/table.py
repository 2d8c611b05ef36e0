"""Rows of dicts out as a plain-text table, CSV, JSON, Markdown or a pandas DataFrame.

Shared by hwmodel results and sweeps (and free for sparsekit's reports): every function takes a
list of row dicts; columns are the union of the rows' keys in first-seen order.
"""

import csv
import io
import json
import math


def columns(rows):
    """Column names in first-seen order."""
    seen = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def _save(text, path):
    if path is not None:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    return text


def to_text(rows):
    """Aligned plain text: names left, numbers right."""
    cols = columns(rows)
    cells = [cols] + [[_cell(row.get(c)) for c in cols] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cols))]
    numeric = [all(isinstance(row.get(c), (int, float)) or row.get(c) is None for row in rows)
               for c in cols]
    lines = []
    for r, line in enumerate(cells):
        parts = [cell.rjust(w) if num and r else cell.ljust(w)
                 for cell, w, num in zip(line, widths, numeric)]
        lines.append("  ".join(parts).rstrip())
        if r == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def to_csv(rows, path=None):
    """CSV text with a header row (written to ``path`` too when given)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return _save(buffer.getvalue(), path)


def to_json(rows, path=None, meta=None):
    """JSON list of rows, or ``{**meta, "rows": rows}`` when ``meta`` is given."""
    data = list(rows) if meta is None else {**meta, "rows": list(rows)}
    return _save(json.dumps(data, indent=2), path)


def to_markdown(rows, path=None):
    """A GitHub-flavoured Markdown table."""
    cols = columns(rows)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(" --- " for _ in cols) + "|"]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in cols) + " |" for row in rows]
    return _save("\n".join(lines) + "\n", path)


def to_dataframe(rows):
    """A pandas DataFrame; ImportError with an install hint if pandas is missing."""
    try:
        import pandas
    except ImportError as exc:
        raise ImportError("to_dataframe() needs pandas, which is not installed: "
                          "pip install pandas (or use to_csv/to_json instead)") from exc
    return pandas.DataFrame(list(rows), columns=columns(rows))


class Table(list):
    """A list of row dicts that prints as a table and exports like one."""

    def __str__(self):
        return to_text(self)

    def to_csv(self, path=None):
        return to_csv(self, path)

    def to_json(self, path=None):
        return to_json(self, path)

    def to_markdown(self, path=None):
        return to_markdown(self, path)

    def to_dataframe(self):
        return to_dataframe(self)
