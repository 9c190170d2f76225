"""Numbers → table cells: the one place that decides how a report reads.

The terminal, Markdown, LaTeX and HTML outputs all show these cells, so they
agree to the digit; CSV and JSON carry the raw numbers instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ablate.report.build import Report, Section
from ablate.report.tables import METRICS, Metric

MISSING = "—"  # no value: fewer than two runs for an interval, no completed run, ...


def number(value: float, spec: str) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    return format(value, spec)


def mean_pm(mean: float, low: float, high: float, spec: str) -> str:
    """'0.9512 ± 0.0031': the Student t interval is symmetric, so mean ± half-width
    says the same as [low, high] in half the width."""
    if mean is None or not math.isfinite(mean):
        return MISSING
    if not math.isfinite(high):
        return number(mean, spec)
    return f"{format(mean, spec)} ± {format((high - low) / 2, spec)}"


def pvalue(p: float) -> str:
    if p is None or not math.isfinite(p):
        return MISSING
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def signed(value: float, spec: str) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    return MISSING if value == 0 else format(value, "+" + spec).replace("-", "−")


@dataclass(frozen=True)
class Column:
    header: str
    cell: object  # (row, report) -> str
    numeric: bool = True  # right-aligned


def _metric_column(name: str, metric: Metric) -> Column:
    return Column(metric.label, lambda r, rep: mean_pm(r[f"{name}_mean"], r[f"{name}_low"],
                                                        r[f"{name}_high"], metric.spec))


def _reached(row: pd.Series, report: Report) -> str:
    return f"{int(row['epochs_to_target_n'])}/{int(row['completed'])}"


def _diverged(row: pd.Series, report: Report) -> str:
    rate = row["divergence_rate"]
    return f"{int(row['diverged'])}" + (f" ({rate:.0%})" if math.isfinite(rate) and rate > 0 else "")


def columns(report: Report) -> list[Column]:
    """The columns after the level keys, in reading order: rank and status
    first (what ran), then the ranking metric and its test, then the rest."""
    rank_by = report.rank_by
    ranking = rank_by.column  # registry names are the column names
    rest = {kind: [(n, m) for n, m in METRICS.items() if m.kind == kind and n != ranking]
            for kind in ("accuracy", "convergence", "overfitting")}
    return [
        Column("done", lambda r, rep: f"{r['runs'] - r['pending']}/{r['runs']}"),
        Column("completed", lambda r, rep: str(int(r["completed"]))),
        Column("diverged", _diverged),
        Column("failed", lambda r, rep: str(int(r["failed"]))),
        _metric_column(ranking, rank_by),
        Column(f"Δ {rank_by.label}", lambda r, rep: signed(r["diff"], rank_by.spec)),
        Column("p (Holm)", lambda r, rep: pvalue(r["p_holm"])),
        *[_metric_column(n, m) for n, m in rest["accuracy"]],
        Column("reached target", _reached),
        *[_metric_column(n, m) for n, m in rest["convergence"] + rest["overfitting"]],
    ]


def cells(report: Report, section: Section) -> pd.DataFrame:
    """The section's table as strings, with readable headers."""
    cols = columns(report)
    rows = []
    for _, row in section.table.iterrows():
        rank = row["rank"]
        rows.append([str(int(rank)) if pd.notna(rank) else MISSING,
                     *[str(row[k]) for k in section.keys],
                     *[c.cell(row, report) for c in cols]])
    return pd.DataFrame(rows, columns=["rank", *section.keys, *[c.header for c in cols]])


def numeric_columns(report: Report, section: Section) -> list[bool]:
    """Per column of `cells`: right-align it?"""
    return [True, *[False] * len(section.keys), *[c.numeric for c in columns(report)]]


def pivot_cells(report: Report, section: Section) -> pd.DataFrame:
    """An interaction as a grid: rows = all keys but the last, columns = the last;
    each cell 'mean ± half-width (n)' of the ranking metric."""
    name = report.rank_by.column
    table = section.table.copy()
    table["_cell"] = [
        f"{mean_pm(r[f'{name}_mean'], r[f'{name}_low'], r[f'{name}_high'], report.rank_by.spec)}"
        f" (n={int(r[f'{name}_n'])})"
        for _, r in table.iterrows()
    ]
    grid = report.pivot(Section(section.title, section.keys, table), "_cell").fillna(MISSING)
    grid.columns = [str(c) for c in grid.columns]
    return grid


def grid_caption(report: Report, section: Section) -> str:
    rows = " / ".join(section.keys[:-1])
    return f"{report.rank_by.label} (mean ± half-width, n): {rows} in rows, {section.keys[-1]} in columns"
