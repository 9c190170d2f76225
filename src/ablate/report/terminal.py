"""The report on a terminal (rich tables), and `--format` dispatch to stdout.

Each section prints as two tables, so each fits a normal terminal: what ran
and how accurate it was, then how fast it converged. An interaction also
prints as a grid of the ranking metric, rows × columns.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from ablate.registry import Registry
from ablate.report.build import Report, Section
from ablate.report.formats import FORMATS
from ablate.report.present import cells, grid_caption, numeric_columns, pivot_cells

# Colour of the status columns, matching `ablate train`'s summary.
STYLE = {"diverged": "yellow", "failed": "red"}
SPLIT_AT = "reached target"  # the first column of the convergence table


def _rich_table(title: str, frame, numeric: list[bool], best_first: bool) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", header_style="bold")
    for header, right in zip(frame.columns, numeric):
        table.add_column(str(header), justify="right" if right else "left", style=STYLE.get(header),
                         no_wrap=right)
    for i, row in enumerate(frame.itertuples(index=False)):
        table.add_row(*[str(v) for v in row], style="bold" if best_first and i == 0 else None)
    return table


def _print_section(console: Console, report: Report, section: Section) -> None:
    frame = cells(report, section)
    numeric = numeric_columns(report, section)
    split = list(frame.columns).index(SPLIT_AT)
    lead = 1 + len(section.keys)  # rank and level columns start both tables
    console.print(_rich_table(f"{section.title} — {report.rank_by.label}", frame.iloc[:, :split],
                              numeric[:split], best_first=True))
    speed = list(range(lead)) + list(range(split, frame.shape[1]))
    console.print(_rich_table(f"{section.title} — convergence and overfitting", frame.iloc[:, speed],
                              [numeric[i] for i in speed], best_first=False))
    if section.interaction:
        grid = pivot_cells(report, section).reset_index()
        rows = len(section.keys) - 1
        console.print(_rich_table(grid_caption(report, section), grid,
                                  [False] * rows + [True] * (grid.shape[1] - rows), best_first=False))


def print_terminal(console: Console, report: Report) -> None:
    for line in report.header():
        console.print(f"[dim]{line}[/]", highlight=False)
    for section in report.sections:
        console.print()
        _print_section(console, report, section)


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
