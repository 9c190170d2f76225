"""index.html: the whole report as one self-contained page.

Images are embedded as base64 data URIs and the style sheet and the one script
are inline, so the page opens offline, can be mailed or attached to a ticket as
one file, and never points at a plots/ folder that did not travel with it.

It opens with the headline, which factor matters most (the ANOVA, its η², ω²
and intervals, the assumption checks), as report.md does. Each section's table
shows the essential columns (runs done, the ranking metric, its Δ and p), so it
fits a 1400-px screen and a printed page; the other columns sit in a folded
`<details>` beneath, as two more tables of the same width. A click on a column
header sorts its table (numbers as numbers), with no library to fetch. The
footer says how the page was made: command, date, ablate version, git commit.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from ablate.report.build import Report, Section
from ablate.report.plots import Plot, diagnostics_name, expected_max_name
from ablate.report.present import (cells, chosen_cells, column_groups, diagnostic_caption, diagnostic_cells,
                                   diagnostic_numeric, expected_max_caption, expected_max_cells, grid_caption,
                                   importance_caption, importance_columns, importance_rows, numeric_columns,
                                   pivot_cells, provenance)
from ablate.store import atomic

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
ul.header { color: #555; padding-left: 1.2em; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
th, td { padding: .25em .6em; border-bottom: 1px solid #eee; white-space: nowrap; }
th { background: #f4f4f4; text-align: left; } td.num { text-align: right; }
tr.best td { font-weight: 600; background: #f2f8ff; }
.scroll { overflow-x: auto; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .95em; }
.partial { color: #a60; font-weight: 600; }
p.headline { font-size: 1.15em; font-weight: 600; } ul.notes { color: #555; }
th.sort { cursor: pointer; user-select: none; } th.sort:after { content: " \\2195"; color: #bbb; }
th[data-order="asc"]:after { content: " \\2191"; color: #333; } th[data-order="desc"]:after { content: " \\2193"; color: #333; }
details { margin: .5em 0 1.5em; } summary { cursor: pointer; color: #355; }
footer { color: #888; margin-top: 3em; font-size: .9em; } footer code { color: #666; }
@media print { body { margin: 0; max-width: none; font-size: 10pt; } th, td { padding: .2em .4em; }
               .scroll { overflow: visible; } figure { break-inside: avoid; } th.sort:after { content: ""; } }
"""

# Sorts a table by the clicked header: leading numbers as numbers ('−' is a minus,
# '<0.001' sorts as 0.001, '7/8' as 7), missing cells ('—') last, text otherwise.
SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(th => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0], col = th.cellIndex;
  const asc = th.dataset.order !== "asc";
  th.closest("tr").querySelectorAll("th").forEach(h => delete h.dataset.order);
  th.dataset.order = asc ? "asc" : "desc";
  const key = row => {
    const text = row.cells[col].textContent.trim().replace("\u2212", "-").replace(/^[<>]/, "");
    const n = parseFloat(text);
    return text === "\u2014" ? null : (isNaN(n) ? text : n);
  };
  const rows = [...body.rows].map(r => [key(r), r]);
  rows.sort(([a], [b]) => a === null ? 1 : b === null ? -1 :
    (typeof a === typeof b ? (a < b ? -1 : a > b ? 1 : 0) : (typeof a === "number" ? -1 : 1)) * (asc ? 1 : -1));
  rows.forEach(([, r]) => body.append(r));
}));
"""


def _escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def table_html(frame: pd.DataFrame, numeric: list[bool], best_first: bool = False, index: bool = False,
               sortable: bool = False) -> str:
    if index:
        frame = frame.reset_index()
        numeric = [False] * (frame.shape[1] - len(numeric)) + numeric
    th = '<th class="sort" title="sort">' if sortable else "<th>"
    head = "".join(f"{th}{_escape(c)}</th>" for c in frame.columns)
    body = []
    for i, row in enumerate(frame.itertuples(index=False)):
        tds = "".join(f'<td class="num">{_escape(v)}</td>' if right else f"<td>{_escape(v)}</td>"
                      for v, right in zip(row, numeric))
        body.append(f'<tr class="best">{tds}</tr>' if best_first and i == 0 else f"<tr>{tds}</tr>")
    kind = ' class="sortable"' if sortable else ""
    return (f'<div class="scroll"><table{kind}><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def image_html(plot: Plot) -> str:
    data = base64.b64encode(plot.path.read_bytes()).decode("ascii")
    return (f'<figure id="plot-{_escape(plot.name)}"><img alt="{_escape(plot.title)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{_escape(plot.title)}</figcaption></figure>')


def _header(report: Report) -> str:
    items = []
    for line in report.header():
        partial = any(line == s.describe() and s.partial for s in report.sweeps)
        items.append(f'<li class="partial">{_escape(line)}</li>' if partial else f"<li>{_escape(line)}</li>")
    return f'<ul class="header">{"".join(items)}</ul>'


def _diagnostics(report: Report, plots: list[Plot]) -> list[str]:
    """Per factor: its table (first → last at every depth) and its plot."""
    diag = report.diagnostics
    if diag is None:
        return []
    by_name = {p.name: p for p in plots}
    parts = ['<h2 id="diagnostics">Diagnostics</h2>', f'<p class="note">{_escape(diag.describe())}</p>']
    for f in diag.factors:
        frame = diagnostic_cells(f)
        parts.append(f"<p>{_escape(diagnostic_caption(f))}</p>")
        parts.append(table_html(frame, diagnostic_numeric(frame)))
        if diagnostics_name(f.factor) in by_name:
            parts.append(image_html(by_name[diagnostics_name(f.factor)]))
    return parts


def _importance(report: Report) -> list[str]:
    """The headline: which factor matters most, as report.md has it."""
    imp = report.importance
    if imp is None:
        return []
    frame = pd.DataFrame(importance_rows(imp), columns=importance_columns(imp))
    notes = "".join(f"<li>{_escape(n)}</li>" for n in imp.notes)
    return ['<h2 id="importance">Which factor matters most</h2>', f'<p class="headline">{_escape(imp.line())}</p>',
            f"<p>{_escape(importance_caption(imp))}</p>",
            table_html(frame, [False] + [True] * (frame.shape[1] - 1), sortable=True),
            f'<ul class="notes">{notes}</ul>' if notes else ""]


def _section(report: Report, section: Section) -> list[str]:
    """The essential columns shown; the others folded away beneath, as tables that fit too."""
    frame, numeric = cells(report, section), numeric_columns(report, section)
    (_, shown), *rest = column_groups(report, section)
    parts = [f'<h2 id="table-{_escape(section.slug)}">{_escape(section.title)}</h2>',
             table_html(frame.iloc[:, shown], [numeric[i] for i in shown], best_first=True, sortable=True)]
    more = [f"<p>{_escape(title)}</p>" + table_html(frame.iloc[:, cols], [numeric[i] for i in cols],
                                                     best_first=True, sortable=True) for title, cols in rest]
    titles = " · ".join(title for title, _ in rest)
    parts.append(f'<details class="more"><summary>more columns: {_escape(titles)}</summary>{"".join(more)}</details>')
    return parts


def _footer(report: Report) -> str:
    facts = " · ".join(f"{_escape(what)} <code>{_escape(value)}</code>" for what, value in provenance(report))
    return f"<footer>{facts}</footer>"


def _tuning(report: Report, plots: list[Plot]) -> list[str]:
    """Per tuned sweep: the setting chosen per cell, expected best val score against budget, its plot."""
    by_name = {p.name: p for p in plots}
    parts = []
    for t in report.tuning:
        chosen, curve = chosen_cells(t), expected_max_cells(t)
        parts.append(f'<h2 id="tuning-{_escape(t.sweep)}">Tuning: {_escape(t.sweep)}</h2>')
        parts.append("<p>Setting chosen per cell on val</p>")
        parts.append(table_html(chosen, [False] * (1 + len(t.grid)) + [True] * (chosen.shape[1] - 1 - len(t.grid))))
        parts.append(f"<p>{_escape(expected_max_caption(t))}</p>")
        parts.append(table_html(curve, [False] + [True] * (curve.shape[1] - 1)))
        if expected_max_name(t.sweep) in by_name:
            parts.append(image_html(by_name[expected_max_name(t.sweep)]))
    return parts


def render(report: Report, plots: list[Plot]) -> str:
    names = ", ".join(s.name for s in report.sweeps)
    parts = [f"<h1>ablate report: {_escape(names)}</h1>", _header(report), *_importance(report)]
    parts += _tuning(report, [p for p in plots if p.group == "tuning"])
    for section in report.sections:
        parts += _section(report, section)
        if section.interaction:
            grid = pivot_cells(report, section)
            parts.append(f"<p>{_escape(grid_caption(report, section))}</p>")
            parts.append(table_html(grid, [True] * grid.shape[1], index=True))
    shown = [p for p in plots if p.group == "plots"]
    if shown:
        parts.append('<h2 id="plots">Plots</h2>')
        parts.extend(image_html(p) for p in shown)
    parts += _diagnostics(report, [p for p in plots if p.group == "diagnostics"])
    parts.append(_footer(report))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>ablate report: {_escape(names)}</title><style>{STYLE}</style></head>"
            f"<body>{''.join(parts)}<script>{SORT_SCRIPT}</script></body></html>\n")


def write_html(report: Report, plots: list[Plot], out: Path) -> Path:
    path = Path(out) / "index.html"
    atomic.write_text(path, render(report, plots))
    return path
