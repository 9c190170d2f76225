"""Numbers → table cells: the one place that decides how a report reads.

The terminal, Markdown, LaTeX and HTML outputs all show these cells, so they
agree to the digit; CSV and JSON carry the raw numbers instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ablate.report.build import Report, Section
from ablate.report.convergence import KNOWN
from ablate.report.diagnostics import BY_DEPTH, LABELS, OVER_LAYERS, FactorDiagnostics
from ablate.report.importance import Importance
from ablate.report.survival import TIMED
from ablate.report.tables import ALL_RUNS, METRICS, Metric, all_runs_label
from ablate.report.tuning import SCORE as TUNING_SCORE, Tuning
from ablate.store.provenance import VERSION, git_commit
from ablate.store.status import Reading, Status

TUNING_STATUSES = (Status.COMPLETED, Status.STALLED, Status.DIVERGED, Status.COLLAPSED, Status.FAILED)  # a cell's tuning runs, by status

MISSING = "—"  # no value: fewer than two runs for an interval, no completed run, ...


def number(value: float, spec: str) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    return format(value, spec)


def mean_pm(mean: float, low: float, high: float, spec: str, n: int | None = None) -> str:
    """'0.9512 ± 0.0031': the Student t interval is symmetric, so mean ± half-width
    says the same as [low, high] in half the width. Without an interval (one
    run) the mean carries its n, '0.8700 (n=1)', so it never looks certain."""
    if mean is None or not math.isfinite(mean):
        return MISSING
    if not math.isfinite(high):
        return number(mean, spec) + ("" if n is None else f" (n={int(n)})")
    return f"{format(mean, spec)} ± {format((high - low) / 2, spec)}"


def pvalue(p: float) -> str:
    if p is None or not math.isfinite(p):
        return MISSING
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def prob_cell(row: pd.Series) -> str:
    """'0.17 [0.00, 0.44]': P(a run of this level beats one of the reference), bootstrap interval."""
    p = row.get("p_better")
    if p is None or not math.isfinite(p):
        return MISSING
    low, high = row.get("p_better_low"), row.get("p_better_high")
    return f"{p:.2f} [{low:.2f},{high:.2f}]" if low is not None and math.isfinite(low) else f"{p:.2f}"


def signed(value: float, spec: str) -> str:
    """'+0.0120', '−0.0040'; a difference that rounds to zero is '+0.0000' (a tie),
    not '−0.0000'."""
    if value is None or not math.isfinite(value):
        return MISSING
    text = format(value, "+" + spec)
    if float(text) == 0:
        text = format(0.0, "+" + spec)
    return text.replace("-", "−")


def delta(row: pd.Series, spec: str) -> str:
    """Δ from the reference level: none for the reference itself; '+0.0000' for a tie."""
    return MISSING if row["reference"] else signed(row["diff"], spec)


@dataclass(frozen=True)
class Column:
    header: str
    cell: object  # (row, report) -> str
    numeric: bool = True  # right-aligned


def median_cell(median: float, low: float, high: float, bound: float, spec: str) -> str:
    """'7.0 [6.0, 9.0]': a Kaplan–Meier median and its interval (not symmetric, so
    both ends); '> 30.0' when more than half the runs never got there in their
    budget; an end the data do not bound is '∞' (above) or '—' (unknown)."""
    if median is None or not math.isfinite(median):
        return f"> {format(bound, spec)}" if bound is not None and math.isfinite(bound) else MISSING
    if (low is None or not math.isfinite(low)) and (high is None or not math.isfinite(high)):
        return format(median, spec)
    top = "∞" if high is not None and math.isinf(high) else number(high, spec)
    return f"{format(median, spec)} [{number(low, spec)}, {top}]"


def level_cell(row: pd.Series, name: str, metric: Metric) -> str:
    """A level's number of `metric`: mean ± half-width, or the censored median."""
    if metric.center == "median":
        return median_cell(row[f"{name}_median"], row[f"{name}_low"], row[f"{name}_high"], row[f"{name}_bound"],
                           metric.spec)
    return mean_pm(row[f"{name}_mean"], row[f"{name}_low"], row[f"{name}_high"], metric.spec, row[f"{name}_n"])


def _metric_column(name: str, metric: Metric) -> Column:
    header = f"{metric.label} (median)" if metric.center == "median" else metric.label
    return Column(header, lambda r, rep: level_cell(r, name, metric))


def all_runs_header(report: Report) -> str | None:
    return all_runs_label(report.runs, report.rank_by)


def _all_runs_column(report: Report) -> list[Column]:
    header = all_runs_header(report)
    spec = report.rank_by.spec
    return [] if header is None else [
        Column(header, lambda r, rep: mean_pm(r[f"{ALL_RUNS}_mean"], r[f"{ALL_RUNS}_low"], r[f"{ALL_RUNS}_high"],
                                              spec, r[f"{ALL_RUNS}_n"]))]


def _reached(row: pd.Series, report: Report) -> str:
    """'3/5': reached / completed runs whose time-to-target is known; runs without
    history are neither, only counted after it ('3/4, 1 unknown'; '—' if all are)."""
    known, unknown = int(row[KNOWN]), int(sum(row[s] for s in TIMED) - row[KNOWN])
    if unknown and not known:
        return MISSING
    return f"{int(row['epochs_to_target_n'])}/{known}" + (f", {unknown} unknown" if unknown else "")


def _diverged(row: pd.Series, report: Report) -> str:
    rate = row["divergence_rate"]
    return f"{int(row[Status.DIVERGED])}" + (f" ({rate:.0%})" if math.isfinite(rate) and rate > 0 else "")


def _distinct(metric: Metric, report: Report) -> bool:
    """False for a metric that equals its `same_as` in every run: a copy, not a column."""
    if metric.same_as is None:
        return True
    runs = report.runs
    mine, other = runs[metric.column], runs[metric.same_as]
    same = (mine == other) | (mine.isna() & other.isna())
    return not same.all()


def columns(report: Report) -> list[Column]:
    """The columns after the level keys, in reading order: rank and status
    first (what ran), then the ranking metric and its test, then the rest."""
    rank_by = report.rank_by
    ranking = rank_by.column  # registry names are the column names
    rest = {kind: [(n, m) for n, m in METRICS.items() if m.kind == kind and n != ranking and _distinct(m, report)]
            for kind in ("accuracy", "convergence", "overfitting")}
    return [
        Column("done", lambda r, rep: f"{r['runs'] - r[Reading.PENDING]}/{r['runs']}"),
        Column(Status.COMPLETED, lambda r, rep: str(int(r[Status.COMPLETED]))),
        Column(Status.DIVERGED, _diverged),
        Column(Status.COLLAPSED, lambda r, rep: str(int(r[Status.COLLAPSED]))),
        Column(Status.FAILED, lambda r, rep: str(int(r[Status.FAILED]))),
        _metric_column(ranking, rank_by),
        Column(f"Δ {rank_by.label}", lambda r, rep: delta(r, rank_by.spec)),
        Column("p (Holm)", lambda r, rep: pvalue(r["p_holm"])),
        Column("P(>ref)", lambda r, rep: prob_cell(r)),
        *_all_runs_column(report),
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


ESSENTIAL = ("done", "p (Holm)")  # beside the ranking metric and its Δ: what a reader needs first
SPLIT_AT = "reached target"  # the first column of convergence and overfitting


def column_groups(report: Report, section: Section) -> list[tuple[str, list[int]]]:
    """The columns of `cells` as tables that fit a page: (title, column positions),
    each led by rank and the levels. First the essential ones (runs done, the ranking
    metric, its Δ and p); then runs by status and the other accuracies; then
    convergence and overfitting. The HTML page shows the first and folds the rest
    away, LaTeX prints each as its own table, so none runs off a paper column."""
    headers = ["rank", *section.keys, *[c.header for c in columns(report)]]
    lead = list(range(1 + len(section.keys)))
    label = report.rank_by.label
    ranking = _metric_column(report.rank_by.column, report.rank_by).header
    first = (ESSENTIAL[0], ranking, f"Δ {label}", ESSENTIAL[1], all_runs_header(report))
    essential = [headers.index(h) for h in first if h is not None]
    split = headers.index(SPLIT_AT)
    others = [i for i in range(len(lead), split) if i not in essential]
    return [("", lead + essential), ("runs by status and other accuracies", lead + others),
            ("convergence and overfitting", lead + list(range(split, len(headers))))]


def numeric_columns(report: Report, section: Section) -> list[bool]:
    """Per column of `cells`: right-align it?"""
    return [True, *[False] * len(section.keys), *[c.numeric for c in columns(report)]]


def pivot_cells(report: Report, section: Section) -> pd.DataFrame:
    """An interaction as a grid: rows = all keys but the last, columns = the last;
    each cell 'mean ± half-width (n)' of the ranking metric."""
    name, metric = report.rank_by.column, report.rank_by
    table = section.table.copy()
    table["_cell"] = [f"{level_cell(r, name, metric)} (n={int(r[f'{name}_n'])})" for _, r in table.iterrows()]
    grid = report.pivot(Section(section.title, section.keys, table), "_cell").fillna(MISSING)
    grid.columns = [str(c) for c in grid.columns]
    return grid


def grid_caption(report: Report, section: Section) -> str:
    rows = " / ".join(section.keys[:-1])
    how = "Kaplan–Meier median [interval], runs that got there" if report.rank_by.center == "median" else \
        "mean ± half-width, n"
    return f"{report.rank_by.label} ({how}): {rows} in rows, {section.keys[-1]} in columns"


# -- Factor importance: the ANOVA table as cells (the numbers stay in Importance.table).

IMPORTANCE_COLUMNS = ("effect", "df", "F", "p", "η²", "partial η² [95 %]", "ω²")
BOOTSTRAP_COLUMN = "η² [95 % bootstrap]"  # after η², with `ablate report --bootstrap B`


def importance_columns(imp: Importance) -> list[str]:
    columns = list(IMPORTANCE_COLUMNS)
    if imp.bootstrap:
        columns.insert(columns.index("η²") + 1, BOOTSTRAP_COLUMN)
    return columns


def importance_rows(imp: Importance) -> list[list[str]]:
    """The importance table as text cells, shared by the terminal, Markdown, LaTeX and HTML."""
    rows = []
    for r in imp.table.itertuples():
        interval = f"{r.partial_eta2:.2f} [{r.low:.2f}, {r.high:.2f}]" if math.isfinite(r.low) else f"{r.partial_eta2:.2f}"
        shares = [f"{r.eta2:.0%}"]
        if imp.bootstrap:
            shares.append(f"[{r.eta2_low:.0%}, {r.eta2_high:.0%}]" if math.isfinite(r.eta2_low) else "—")
        rows.append([r.effect, f"{r.df:g}", f"{r.F:.2f}", sig(r.p), *shares, interval, f"{r.omega2:.2f}"])
    return rows


def importance_caption(imp: Importance) -> str:
    return f"type II ANOVA of {imp.label} over {imp.runs} completed runs"


# -- Provenance: what a shared report says about where it came from.

def provenance(report: Report, now: str | None = None) -> list[tuple[str, str]]:
    """(what, value) for a page's footer: the command, the date (UTC), ablate's
    version and the git commit of its code ('none': an installed wheel)."""
    from datetime import datetime, timezone

    paths = " ".join(str(s.path) for s in report.store.sweeps)
    return [("command", report.command or f"ablate report {paths}"),
            ("date", now or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
            ("ablate", VERSION), ("commit", git_commit() or "none")]


# -- Diagnostics: per factor, rows = levels (two lines each), columns = depths.

def sig(value: float | None, digits: int = 2) -> str:
    """2 significant digits, short: 0.52, 0.0073, 1.2e−4, 16, 3.1e4, inf."""
    if value is None or math.isnan(value):
        return MISSING
    if math.isinf(value):
        return "inf" if value > 0 else "−inf"
    text = format(value, f".{digits}g")
    if value != 0 and abs(value) < 1e-3:  # 1.2e−4 is shorter than 0.00012
        text = format(value, f".{digits - 1}e")
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text.replace("-", "−")


def first_last(cell: tuple[float, float, int] | None, arrows: bool) -> str:
    """'0.52→0.61' (first → last recorded epoch), or the last value alone."""
    if cell is None:
        return MISSING
    first, last, _ = cell
    return f"{sig(first)}→{sig(last)}" if arrows else sig(last)


def depth_header(depth: int) -> str:
    return f"d{depth}"


def diagnostic_cells(diag: FactorDiagnostics, arrows: bool = True, depths: list[int] | None = None) -> pd.DataFrame:
    """One factor's diagnostics as strings: per level an 'act std' and a 'grad
    norm' line, a column per depth, then dead and saturated fractions (mean over
    activation layers; only columns some level has). A fraction from fewer runs
    than the level's n (relu runs only, say) carries its own n."""
    depths = diag.depths() if depths is None else depths
    whole = [q for q in OVER_LAYERS if q in diag.quantities()]
    rows = []
    for level in diag.levels:
        n = diag.runs[level]
        for i, quantity in enumerate(BY_DEPTH):
            row = [level if i == 0 else "", str(n) if i == 0 else "", LABELS[quantity]]
            row += [first_last(diag.value(level, quantity, d), arrows) for d in depths]
            for q in whole:
                cell = diag.value(level, q) if i == 0 else None
                text = first_last(cell, arrows) if i == 0 else ""
                if cell is not None and cell[2] != n:
                    text += f" (n={cell[2]})"
                row.append(text)
            rows.append(row)
    headers = [diag.factor, "n", "", *map(depth_header, depths), *[LABELS[q] for q in whole]]
    return pd.DataFrame(rows, columns=headers)


def diagnostic_numeric(frame: pd.DataFrame) -> list[bool]:
    return [False, True, False] + [True] * (frame.shape[1] - 3)


def diagnostic_caption(diag: FactorDiagnostics, arrows: bool = True, depths: list[int] | None = None) -> str:
    when = "first → last recorded epoch" if arrows else "last recorded epoch"
    shown = ""
    every = diag.depths()
    if depths is not None and len(depths) < len(every):
        shown = f"; depths {', '.join(map(str, depths))} of {every[0]}–{every[-1]}"
    return (f"{diag.factor} — activation std and gradient norm by depth (d0: first conv/linear layer), "
            f"{when}, mean over n runs{shown}")


# -- A tuned sweep: per cell the setting chosen on val, and expected best val score against budget.

def chosen_cells(tuning: Tuning) -> pd.DataFrame:
    """Per cell: the chosen value of each tuned key, its val score, its tuning runs by status."""
    table = tuning.chosen_table()
    statuses = [s.value for s in TUNING_STATUSES if s.value in table]
    frame = table[["cell", *tuning.grid]].copy()
    frame[f"chosen on {TUNING_SCORE}"] = [number(v, ".4f") for v in table[TUNING_SCORE]]
    frame["tried"] = table["tried"].astype(int).astype(str)
    for s in statuses:
        frame[s] = table[s].fillna(0).astype(int).astype(str)
    return frame


def expected_max_cells(tuning: Tuning) -> pd.DataFrame:
    """Per cell, E[max of k] for k = 1..budget as 'mean [low, high]' (Dodge et al. 2019)."""
    k_max = max((len(c.curve) for c in tuning.cells), default=0)
    rows = []
    for c in tuning.cells:
        row = [c.name]
        for k in range(k_max):
            if k >= len(c.curve):
                row.append(MISSING)
            elif np.isfinite(c.low[k]):
                row.append(f"{c.curve[k]:.4f} [{c.low[k]:.3f}, {c.high[k]:.3f}]")
            else:
                row.append(number(c.curve[k], ".4f"))
        rows.append(row)
    return pd.DataFrame(rows, columns=["cell", *[f"k={k + 1}" for k in range(k_max)]])


def expected_max_caption(tuning: Tuning) -> str:
    return (f"{tuning.sweep}: expected best {TUNING_SCORE} of k settings tried (Dodge et al. 2019), "
            f"with a 95 % bootstrap band over the tuning runs")
