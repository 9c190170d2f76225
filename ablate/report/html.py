"""index.html: the whole report as one self-contained page.

Images are embedded as base64 data URIs and the style sheet is inline, so the
page opens offline, can be mailed or attached to a ticket as one file, and
never points at a plots/ folder that did not travel with it.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from ablate.report.build import Report
from ablate.report.plots import Plot, diagnostics_name
from ablate.report.present import (cells, diagnostic_caption, diagnostic_cells, diagnostic_numeric, grid_caption,
                                   numeric_columns, pivot_cells)
from ablate.store import atomic
from ablate.store.provenance import VERSION

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
footer { color: #888; margin-top: 3em; font-size: .9em; }
"""


def _escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def table_html(frame: pd.DataFrame, numeric: list[bool], best_first: bool = False, index: bool = False) -> str:
    if index:
        frame = frame.reset_index()
        numeric = [False] * (frame.shape[1] - len(numeric)) + numeric
    head = "".join(f"<th>{_escape(c)}</th>" for c in frame.columns)
    body = []
    for i, row in enumerate(frame.itertuples(index=False)):
        tds = "".join(f'<td class="num">{_escape(v)}</td>' if right else f"<td>{_escape(v)}</td>"
                      for v, right in zip(row, numeric))
        body.append(f'<tr class="best">{tds}</tr>' if best_first and i == 0 else f"<tr>{tds}</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
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


def render(report: Report, plots: list[Plot]) -> str:
    names = ", ".join(s.name for s in report.sweeps)
    parts = [f"<h1>ablate report: {_escape(names)}</h1>", _header(report)]
    for section in report.sections:
        parts.append(f'<h2 id="table-{_escape(section.slug)}">{_escape(section.title)}</h2>')
        parts.append(table_html(cells(report, section), numeric_columns(report, section), best_first=True))
        if section.interaction:
            grid = pivot_cells(report, section)
            parts.append(f"<p>{_escape(grid_caption(report, section))}</p>")
            parts.append(table_html(grid, [True] * grid.shape[1], index=True))
    shown = [p for p in plots if p.group == "plots"]
    if shown:
        parts.append('<h2 id="plots">Plots</h2>')
        parts.extend(image_html(p) for p in shown)
    parts += _diagnostics(report, [p for p in plots if p.group == "diagnostics"])
    parts.append(f"<footer>ablate {_escape(VERSION)}</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>ablate report: {_escape(names)}</title><style>{STYLE}</style></head>"
            f"<body>{''.join(parts)}</body></html>\n")


def write_html(report: Report, plots: list[Plot], out: Path) -> Path:
    path = Path(out) / "index.html"
    atomic.write_text(path, render(report, plots))
    return path
