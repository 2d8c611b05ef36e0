"""The report folder's ``report.md``: what was run, on what, the pictures and every table.

Tables are rendered with their own ``to_markdown()`` (the compact views), so the report shows
what the terminal shows; the JSON output keeps every column.
"""
from __future__ import annotations


def _meta_lines(meta: dict) -> list:
    lines = []
    for key, value in meta.items():
        if key in ("versions", "machine") or value is None or value == {}:
            continue
        if key.endswith("shape") and isinstance(value, (list, tuple)):
            value = "×".join(str(v) for v in value)
        elif isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        lines.append(f"- **{key}**: {value}")
    machine = meta.get("machine") or {}
    if machine:
        lines.append(f"- **machine**: {machine.get('cpu')}, {machine.get('cores')} logical "
                     f"cores, Python {machine.get('python')} ({machine.get('platform')})")
    versions = meta.get("versions") or {}
    if versions:
        lines.append("- **versions**: " + ", ".join(f"{k} {v}" for k, v in versions.items()
                                                   if v))
    return lines


def table_markdown(table) -> str:
    """A table as Markdown: its own ``to_markdown()``, else hwmodel's for a list of rows."""
    if hasattr(table, "to_markdown"):
        return table.to_markdown().rstrip("\n")
    from hwmodel.table import to_markdown
    return to_markdown(list(table)).rstrip("\n")


def report(title: str, meta: dict, sections, images) -> str:
    """Markdown text: ``title``, the run's ``meta`` as a list, then each picture of
    ``images`` ([(caption, file name)]) and each table of ``sections``
    ([(heading, explanation, table)])."""
    out = [f"# {title}", "", *_meta_lines(meta), ""]
    if images:
        out += ["## Pictures", ""]
        for caption, name in images:
            out += [f"### {caption}", "", f"![{caption}]({name})", ""]
    for heading, text, table in sections:
        out += [f"## {heading}", ""]
        if text:
            out += [text, ""]
        out += [table_markdown(table), ""]
    return "\n".join(out)
