"""Rendering a report: rich tables on the terminal, and Markdown, CSV, JSON and
LaTeX as text.

`FORMATS` maps a file format to its writer; `--out` writes every one of them
(report.md, report.csv, report.json, report.tex) beside the plots. `OUTPUTS`
maps a `--format` name to what prints it: the terminal tables or one format.

CSV and JSON carry raw numbers (interval bounds, unrounded p-values) for
further analysis; the terminal, Markdown and LaTeX show the same cells.

On the terminal each section prints as two tables, so each fits a normal
terminal: what ran and how accurate it was, then how fast it converged and how
much it overfit. An interaction also prints as a grid of the ranking metric.

Where runs recorded diagnostics, a diagnostics table per factor follows (not
in CSV, whose one tidy table has a row per level): activation std and gradient
norm by depth, first → last recorded epoch; on a terminal too narrow for that,
the last epoch only, then fewer depths.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from ablate.registry import Registry
from ablate.report.build import Report, Section
from ablate.report.diagnostics import OVER_LAYERS, WHOLE, Diagnostics, FactorDiagnostics
from ablate.report.importance import Importance
from ablate.report.latex import to_latex
from ablate.report.present import (cells, column_groups, chosen_cells, diagnostic_caption, diagnostic_cells,
                                   diagnostic_numeric, expected_max_caption, expected_max_cells, grid_caption,
                                   importance_caption, importance_columns, importance_rows, numeric_columns,
                                   pivot_cells)
from ablate.store.status import Reading, Status


@dataclass(frozen=True)
class Format:
    extension: str
    write: Callable[[Report], str]


# -- CSV: one tidy table, every section stacked, a `table` column naming it.

def tidy(report: Report) -> pd.DataFrame:
    """Every section in one long table; key columns a section does not use are empty."""
    keys = list(dict.fromkeys(k for s in report.sections for k in s.keys))
    frames = []
    for section in report.sections:
        frame = section.table.copy()
        frame.insert(0, "table", section.title)
        frames.append(frame)
    long = pd.concat(frames, ignore_index=True)
    first = ["table", "rank", *keys]
    return long[first + [c for c in long.columns if c not in first]]


def to_csv(report: Report) -> str:
    return tidy(report).to_csv(index=False, lineterminator="\n")


# -- JSON: header facts plus each section's rows; NaN becomes null.

def _clean(value):
    if value is pd.NA or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if hasattr(value, "item"):  # numpy scalar → Python number
        return _clean(value.item())
    return value


def to_json(report: Report) -> str:
    document = {
        "sweeps": [{"name": s.name, "planned": s.planned, "done": s.done, Status.COMPLETED: s.completed,
                    Status.DIVERGED: s.diverged, Status.FAILED: s.failed, "partial": s.partial}
                   for s in report.sweeps],
        "where": report.where,
        "factors": report.factors,
        "fixed": report.fixed,
        "metric": report.rank_by.column,
        "confidence": report.confidence,
        "target": {"value": report.target.value, "source": report.target.source,
                   "rescored": report.target.rescored},
        "notes": report.notes,
        "tables": [{"title": s.title, "keys": s.keys,
                    "rows": [{k: _clean(v) for k, v in row.items()} for row in s.table.to_dict("records")]}
                   for s in report.sections],
        "diagnostics": _diagnostics_json(report.diagnostics),
        "testset": report.testset.to_json(),
        "tuning": [{"sweep": t.sweep, "grid": t.grid, "budget": t.budget, "rerun_seeds": t.rerun_seeds,
                    "chosen": [{k: _clean(v) for k, v in row.items()} for row in t.chosen_table().to_dict("records")],
                    "expected_max": [{k: _clean(v) for k, v in row.items()}
                                     for row in t.curve_table().to_dict("records")]} for t in report.tuning],
        "importance": None if report.importance is None else {
            "metric": report.importance.metric, "line": report.importance.line(),
            "residual_share": report.importance.residual_share, "runs": report.importance.runs,
            "notes": report.importance.notes, "aliased": report.importance.aliased,
            "effects": [{k: _clean(v) for k, v in row.items()} for row in report.importance.table.to_dict("records")]},
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _diagnostics_json(diag: Diagnostics | None) -> dict | None:
    """Raw means per level, quantity and depth (null: a quantity over all layers)."""
    if diag is None:
        return None
    factors = []
    for f in diag.factors:
        rows = []
        for level in f.levels:
            for q in f.quantities():
                for d in [WHOLE] if q in OVER_LAYERS else f.depths():
                    cell = f.value(level, q, d)
                    if cell is not None:
                        rows.append({"level": level, "quantity": q, "depth": None if d == WHOLE else d,
                                     "first": _clean(cell[0]), "last": _clean(cell[1]), "n": cell[2]})
        factors.append({"factor": f.factor,
                        "levels": [{"level": lv, "runs": f.runs[lv], "finished": f.finished[lv]} for lv in f.levels],
                        "rows": rows})
    return {"finished": diag.finished, "read": diag.read, "skipped": diag.skipped, Reading.UNREADABLE: diag.unreadable,
            "epochs": "first and last recorded epoch of each run", "factors": factors}


# -- Markdown: GitHub pipe tables.

def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def md_table(frame: pd.DataFrame, numeric: list[bool], index: bool = False) -> str:
    if index:
        frame = frame.reset_index()
        numeric = [False] * (frame.shape[1] - len(numeric)) + numeric
    head = "| " + " | ".join(_md_cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---:" if right else ":---" for right in numeric) + "|"
    body = ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def to_markdown(report: Report) -> str:
    parts = ["# ablate report", "", *[f"- {line}" for line in report.header()]]
    if report.importance is not None:
        imp = report.importance
        frame = pd.DataFrame(importance_rows(imp), columns=importance_columns(imp))
        parts += ["", "## Which factor matters most", "", f"**{imp.line()}**", "",
                  md_table(frame, [False] + [True] * (frame.shape[1] - 1)), *[f"- {n}" for n in imp.notes]]
    for t in report.tuning:
        chosen, curve = chosen_cells(t), expected_max_cells(t)
        parts += ["", f"## Tuning: {t.sweep}", "", "Setting chosen per cell on val:", "",
                  md_table(chosen, [False] * (1 + len(t.grid)) + [True] * (chosen.shape[1] - 1 - len(t.grid))),
                  "", expected_max_caption(t) + ":", "", md_table(curve, [False] + [True] * (curve.shape[1] - 1))]
    for section in report.sections:
        parts += ["", f"## {section.title}", "", md_table(cells(report, section), numeric_columns(report, section))]
        if section.interaction:
            grid = pivot_cells(report, section)
            parts += ["", grid_caption(report, section), "",
                      md_table(grid, [True] * grid.shape[1], index=True)]
    if report.diagnostics is not None:
        parts += ["", "## Diagnostics", "", report.diagnostics.describe()]
        for f in report.diagnostics.factors:
            frame = diagnostic_cells(f)
            parts += ["", f"### {f.factor}", "", diagnostic_caption(f), "", md_table(frame, diagnostic_numeric(frame))]
    return "\n".join(parts) + "\n"


FORMATS: Registry[Format] = Registry("format")
FORMATS.add("md", Format("md", to_markdown), "Markdown pipe tables")
FORMATS.add("csv", Format("csv", to_csv), "one tidy CSV table, raw numbers")
FORMATS.add("json", Format("json", to_json), "everything, raw numbers, NaN as null")
FORMATS.add("latex", Format("tex", to_latex), "booktabs tables for a paper")


# -- Terminal: rich tables. Every cell is a `Text`, never markup: a level such
# as aug's `[flip,crop]` would otherwise be read as a style tag and vanish.

# Colour of the status columns, matching `ablate train`'s summary.
STYLE = {Status.DIVERGED: "yellow", Status.COLLAPSED: "yellow", Status.FAILED: "red"}


def _rich_table(title: str | None, frame, numeric: list[bool], best_first: bool) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", header_style="bold")
    for header, right in zip(frame.columns, numeric):
        table.add_column(Text(str(header)), justify="right" if right else "left", style=STYLE.get(header),
                         no_wrap=right)
    for i, row in enumerate(frame.itertuples(index=False)):
        table.add_row(*[Text(str(v)) for v in row], style="bold" if best_first and i == 0 else None)
    return table


def _print_section(console: Console, report: Report, section: Section) -> None:
    frame = cells(report, section)
    numeric = numeric_columns(report, section)
    # The page-sized groups the HTML and LaTeX use too, so no column is squeezed to nothing
    # in an 80-column terminal: the ranking metric and its test, runs by status and the
    # other accuracies, then convergence and overfitting.
    lead = 1 + len(section.keys)
    for i, (title, positions) in enumerate(column_groups(report, section)):
        for part in _fitting(console, frame, numeric, positions, lead):
            console.print(_rich_table(f"{section.title} — {title or report.rank_by.label}", frame.iloc[:, part],
                                      [numeric[j] for j in part], best_first=i == 0))
    if section.interaction:
        grid = pivot_cells(report, section).reset_index()
        rows = len(section.keys) - 1
        # The caption on its own line: a table title would wrap to the (narrow) grid's width.
        console.print(Text(grid_caption(report, section), style="bold"))
        console.print(_rich_table(None, grid, [False] * rows + [True] * (grid.shape[1] - rows), best_first=False))


def _natural_width(console: Console, table: Table) -> int:
    # console.measure caps a table at the console's width: measure it unbounded.
    return Measurement.get(console, console.options.update(max_width=10**6), table).maximum


def _fitting(console: Console, frame: pd.DataFrame, numeric: list[bool], positions: list[int],
             lead: int) -> list[list[int]]:
    """`positions` as tables that each fit the console, every one led by the rank and
    level columns: a narrow terminal gets more tables rather than squeezed cells."""
    parts, current = [], positions[:lead]
    for j in positions[lead:]:
        trial = current + [j]
        table = _rich_table(None, frame.iloc[:, trial], [numeric[k] for k in trial], best_first=False)
        if len(current) > lead and _natural_width(console, table) > console.width:
            parts.append(current)
            trial = positions[:lead] + [j]
        current = trial
    return parts + [current]


def _fitted(console: Console, diag: FactorDiagnostics) -> tuple[Table, Text]:
    """The widest form that fits the console: first → last at every depth, else
    the last epoch at every depth, else the last epoch at fewer depths (the
    first and the last kept, the others evenly spaced)."""
    every = diag.depths()
    tries = [(True, every), (False, every)]
    for k in range(len(every) - 1, 1, -1):
        tries.append((False, sorted({every[round(i * (len(every) - 1) / (k - 1))] for i in range(k)})))
    for arrows, depths in tries:
        frame = diagnostic_cells(diag, arrows, depths)
        table = _rich_table(None, frame, diagnostic_numeric(frame), best_first=False)
        if _natural_width(console, table) <= console.width:
            break
    return table, Text(diagnostic_caption(diag, arrows, depths), style="bold")


def print_diagnostics(console: Console, diag: Diagnostics | None) -> None:
    if diag is None:
        return  # no run recorded any: no section, no noise
    console.print()
    console.print(Text(diag.describe(), style="dim"))
    for f in diag.factors:
        table, caption = _fitted(console, f)
        console.print(caption)  # own line: a table title would wrap to the table's width
        console.print(table)


def print_importance(console: Console, imp: Importance | None) -> None:
    if imp is None:
        return
    console.print(Text(imp.line(), style="bold"))
    console.print(Text(f"which factor matters most: {importance_caption(imp)}", style="dim"))
    table = Table(header_style="bold", box=None)
    for i, column in enumerate(importance_columns(imp)):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in importance_rows(imp):
        table.add_row(*row)
    console.print(table)
    for note in imp.notes:
        console.print(Text(note, style="dim"))
    console.print()


def print_tuning(console: Console, report: Report) -> None:
    for t in report.tuning:
        chosen, curve = chosen_cells(t), expected_max_cells(t)
        console.print(_rich_table(f"{t.sweep} — setting chosen per cell on val", chosen,
                                  [False] * (1 + len(t.grid)) + [True] * (chosen.shape[1] - 1 - len(t.grid)),
                                  best_first=False))
        console.print(Text(expected_max_caption(t), style="bold"))
        console.print(_rich_table(None, curve, [False] + [True] * (curve.shape[1] - 1), best_first=False))


def print_terminal(console: Console, report: Report) -> None:
    for line in report.header():
        console.print(Text(line, style="dim"))
    console.print()
    print_importance(console, report.importance)
    print_tuning(console, report)
    for section in report.sections:
        console.print()
        _print_section(console, report, section)
    print_diagnostics(console, report.diagnostics)


def _print_text(name: str) -> Callable[[Console, Report], None]:
    def emit(console: Console, report: Report) -> None:
        # Straight to the file: rich would wrap and colour what must stay parseable.
        console.file.write(FORMATS[name].write(report))
        console.file.flush()

    return emit


OUTPUTS: Registry[Callable[[Console, Report], None]] = Registry("format")
OUTPUTS.add("terminal", print_terminal, "rich tables (the default)")
for _name in FORMATS:
    OUTPUTS.add(_name, _print_text(_name), FORMATS.help[_name])
