"""`index.html`: the whole report on one page.

The title (the sweep's name), the header (command, machine, wall time, the data, recipe, precision and budget
the members ran with, what the intervals and error bars mean), the sweep's table with its intervals, differences
from the reference, verdicts and the paper's numbers, the notes that say how the verdicts
were reached, the members that did not complete and why, Table 2 of the template, the figures and links to
every file. Each string that comes from a config or a run record passes through
`html.escape` before it reaches the page, so a config value cannot inject markup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html import escape

import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
dt { font-weight: bold; float: left; clear: left; width: 7em; }
dd { margin-left: 8em; }
code { background: #f6f6f6; padding: 0 0.2em; }
img { max-width: 100%; }
.warning { background: #fff4d6; border-left: 4px solid #e0a800; padding: 0.5em 0.8em; }
.notes { font-size: 0.9em; color: #444; }
"""


def page(
    sweep,
    shown: pd.DataFrame,
    table2_shown: pd.DataFrame | None,
    table2_title: str | None,
    figures: list[str],
    about: list[tuple[str, str]],
    search: Sequence[str] = (),
    head: Sequence[str] = (),
    foot: Sequence[str] = (),
    logs: Mapping | None = None,
) -> str:
    """The page's HTML text; `search` names the files of an Optuna search report beside it; `head` and
    `foot` are the table's notes (Markdown with `code` and **bold** only) above the header and under the table;
    `logs` maps a failed member's row to the link of its traceback (error.log, relative to the page)."""
    name = escape(sweep.title)
    parts = [
        f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{name}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{name}: top-1 error by setting</h1>",
    ]
    parts += [f"<p class='warning'>{inline(n)}</p>" for n in head]
    parts.append("<dl>")
    for key, value in about:
        value = f"<code>{escape(value)}</code>" if key == "command" else escape(value)
        parts.append(f"<dt>{escape(key)}</dt><dd>{value}</dd>")
    parts += ["</dl>", frame(shown)]
    if foot:
        parts.append("<ul class='notes'>" + "".join(f"<li>{inline(n)}</li>" for n in foot) + "</ul>")
    bad = sweep.runs[sweep.runs.status != "completed"]
    if len(bad):
        parts.append("<h2>Members that did not complete</h2><ul>")
        for i, r in bad.iterrows():
            where = escape(r.run) if isinstance(r.run, str) else "(no folder)"
            reason = escape(r.reason) if isinstance(r.reason, str) else "no reason recorded"
            log = f" (traceback: <a href='{escape(logs[i])}'>error.log</a>)" if logs and i in logs else ""
            parts.append(
                f"<li><code>{where}</code> [{escape(str(r.overrides))}]: <b>{escape(str(r.status))}</b> — {reason}"
                f"{log}</li>"
            )
        parts.append("</ul>")
    if figures:
        parts.append("<h2>Figures</h2>")
        parts += [f"<p><a href='{f}.svg'><img src='{f}.svg' alt='{f}'></a></p>" for f in figures]
    if table2_shown is not None:
        parts += [f"<h2>{escape((table2_title or 'Table 2').lstrip('# '))}</h2>", frame(table2_shown)]
    if search:
        parts.append("<h2>Search</h2>")
        parts += [f"<p><img src='{f}' alt='{f}'></p>" for f in search if f.endswith(".svg")]
    files = ["table.md", "table.csv", "table.tex", "runs.csv", "epochs.csv", "report.json"]
    if table2_shown is not None:
        files += ["table2.md", "table2.csv", "table2.tex"]
    files += [f"{f}.{ext}" for f in figures for ext in ("png", "svg")] + list(search)
    parts.append("<h2>Files</h2><p>" + " · ".join(f"<a href='{f}'>{f}</a>" for f in files) + "</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def inline(text: str) -> str:
    """One line of the notes' Markdown (`code`, **bold**) as HTML, the text escaped first."""
    text = escape(text)
    text = re.sub(r"`([^`]*)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)


def frame(shown: pd.DataFrame) -> str:
    """A table of strings as HTML, every cell and heading escaped with `html.escape`."""
    safe = shown.rename(columns=lambda c: escape(str(c))).map(lambda x: escape(str(x)))
    return safe.to_html(index=False, escape=False, border=0, na_rep="")
