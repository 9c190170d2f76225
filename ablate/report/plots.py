"""Report plots (matplotlib, Agg, PNG), one registry entry per kind.

Figures are built with `matplotlib.figure.Figure`, never pyplot: no global
figure state, no GUI backend, nothing left open between reports.

  curves     validation accuracy against epoch, mean and band per level, a panel per factor
  intervals  mean and interval of the ranking metric per level, a panel per factor
  gap        final train − validation accuracy per level (overfitting), a panel per factor
  heatmap    the `--by a,b` interaction, mean of the ranking metric per cell
  diagnostics  per factor: activation std and gradient norm (log) by depth, first
             and last recorded epoch, and the dead / saturated fraction per level
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from ablate.registry import Registry
from ablate.report import stats
from ablate.report.build import Report
from ablate.report.diagnostics import BY_DEPTH, LABELS, OVER_LAYERS, FactorDiagnostics
from ablate.report.present import sig
from ablate.report.tables import METRICS, level_order
from ablate.store.status import Status

PANEL = (5.0, 3.4)  # inches per panel: legible at 100 dpi in a 1200-px page
DPI = 100
MAX_COLUMNS = 3  # panels per row


@dataclass(frozen=True)
class Plot:
    name: str  # file stem under plots/
    title: str
    path: Path
    group: str = "plots"  # the page's section that shows it: plots | diagnostics
    figure: Figure | None = field(default=None, compare=False, repr=False)  # for the Python API (Study.plot)


def _panels(n: int, height: float = PANEL[1]) -> tuple[Figure, list]:
    cols = min(n, MAX_COLUMNS)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(PANEL[0] * cols, height * rows), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, list(axes[:n])


def _save(fig: Figure, out: Path, name: str, title: str, group: str = "plots") -> Plot:
    path = out / f"{name}.png"
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return Plot(name, title, path, group, fig)


def _colours(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _accuracy_band(low, high) -> tuple[np.ndarray, np.ndarray]:
    """An accuracy's interval drawn inside [0, 1], the values an accuracy can take:
    a Student t band over 3 seeds can reach past them (0.90 ± 0.31), which no run
    could. Only the drawing is clipped; the tables keep the interval as computed."""
    return np.clip(np.asarray(low, dtype=float), 0.0, 1.0), np.clip(np.asarray(high, dtype=float), 0.0, 1.0)


def _drawable(metric_name: str, low, high) -> tuple[np.ndarray, np.ndarray]:
    """`metric_name`'s interval as drawn: clipped to [0, 1] for an accuracy."""
    if metric_name in METRICS and METRICS[metric_name].kind == "accuracy":
        return _accuracy_band(low, high)
    return np.asarray(low, dtype=float), np.asarray(high, dtype=float)


def val_curves(report: Report, factor: str) -> pd.DataFrame:
    """Per level and epoch: mean, low and high validation accuracy over the
    completed runs of the level (Student t band, like the tables)."""
    columns = list(dict.fromkeys(["sweep", "run_id", factor]))  # the factor may be `sweep` itself
    runs = report.runs.loc[report.runs["status"] == Status.COMPLETED, columns]
    epochs = report.store.epochs()
    acc = epochs.loc[epochs["metric"] == "val_acc", ["sweep", "run_id", "epoch", "value"]]
    joined = acc.merge(runs, on=["sweep", "run_id"], how="inner")
    grouped = joined.groupby([factor, "epoch"], sort=True)["value"].agg(["mean", "std", "count"]).reset_index()
    half = stats.t_halfwidth(grouped["std"], grouped["count"], report.confidence)
    grouped["low"], grouped["high"] = grouped["mean"] - half, grouped["mean"] + half
    return grouped


def plot_curves(report: Report, out: Path) -> list[Plot]:
    if report.store.epochs().empty:
        return []  # no per-epoch history in the store: nothing to draw
    factors = list(report.marginals)
    fig, axes = _panels(len(factors))
    for ax, factor in zip(axes, factors):
        curves = val_curves(report, factor)
        levels = [lv for lv in level_order(report.runs[factor]) if lv in set(curves[factor])]
        for level, colour in zip(levels, _colours(len(levels))):
            c = curves[curves[factor] == level]
            ax.plot(c["epoch"], c["mean"], color=colour, label=str(level), lw=1.5)
            ax.fill_between(c["epoch"], *_accuracy_band(c["low"], c["high"]), color=colour, alpha=0.2, lw=0)
        if report.target.value is not None:
            ax.axhline(report.target.value, color="grey", ls="--", lw=0.8, label="target")
        ax.set(title=factor, xlabel="epoch", ylabel="val acc")
        ax.legend(fontsize="small", loc="lower right")
    return [_save(fig, out, "curves",
                  f"Validation accuracy per epoch (mean, {report.confidence:.0%} band, drawn inside [0, 1])")]


def interval_figure(report: Report, metric_name: str) -> Figure:
    """Per factor, each level's mean of `metric_name` with its interval; the best on top."""
    metric = METRICS[metric_name]
    factors = list(report.marginals)
    longest = max(len(report.marginals[f]) for f in factors)
    fig, axes = _panels(len(factors), height=max(PANEL[1], 0.35 * longest + 1.2))
    for ax, factor in zip(axes, factors):
        table = report.marginals[factor]
        mean = table[f"{metric_name}_{metric.center}"].to_numpy(dtype=float)
        low, high = _drawable(metric_name, table[f"{metric_name}_low"], table[f"{metric_name}_high"])
        y = np.arange(len(table))[::-1]  # the first (best-ranked) level on top
        _points(ax, mean, low, high, y, "tab:blue")
        if len(table) and np.isfinite(mean[0]):
            _points(ax, mean[:1], low[:1], high[:1], y[:1], "tab:orange", bars=False)
        ax.set_yticks(y, [str(v) for v in table[factor]])
        ax.set(title=factor, xlabel=metric.label)
        ax.grid(axis="x", alpha=0.3)
    return fig


def _points(ax, mean: np.ndarray, low: np.ndarray, high: np.ndarray, y: np.ndarray, colour: str,
            bars: bool = True) -> None:
    """Filled points with error bars where there is an interval; hollow points and
    no bar where there is none (one run): a zero-width bar would look certain."""
    sure = np.isfinite(mean) & np.isfinite(low) & np.isfinite(high)
    lone = np.isfinite(mean) & ~sure
    if bars and sure.any():
        err = np.vstack([mean[sure] - low[sure], high[sure] - mean[sure]])
        ax.errorbar(mean[sure], y[sure], xerr=err, fmt="o", color=colour, ecolor=colour, capsize=3)
    elif sure.any():
        ax.plot(mean[sure], y[sure], "o", color=colour, zorder=3)
    if lone.any():
        ax.plot(mean[lone], y[lone], "o", color=colour, mfc="none", zorder=3)


def _point_intervals(report: Report, out: Path, name: str, metric_name: str, title: str) -> list[Plot]:
    return [_save(interval_figure(report, metric_name), out, name, title)]


def plot_intervals(report: Report, out: Path) -> list[Plot]:
    return _point_intervals(report, out, "intervals", report.rank_by.column,
                            f"{report.rank_by.label} per level, mean and {report.confidence:.0%} interval "
                            "(best in orange; hollow: a single run, no interval)")


def plot_gap(report: Report, out: Path) -> list[Plot]:
    return _point_intervals(report, out, "gap", "train_val_gap",
                            "Overfitting: final train − validation accuracy per level")


def plot_heatmap(report: Report, out: Path) -> list[Plot]:
    plots = []
    for section in (s for s in report.sections if s.interaction):
        grid = report.pivot(section, f"{report.rank_by.column}_{report.rank_by.center}").astype(float)
        rows = [" / ".join(map(str, r)) if isinstance(r, tuple) else str(r) for r in grid.index]
        fig = Figure(figsize=(1.2 * grid.shape[1] + 3, 0.6 * grid.shape[0] + 2), dpi=DPI, layout="constrained")
        ax = fig.subplots()
        image = ax.imshow(grid.to_numpy(), cmap="viridis", aspect="auto")
        ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns])
        ax.set_yticks(range(grid.shape[0]), rows)
        ax.set(xlabel=section.keys[-1], ylabel=" / ".join(section.keys[:-1]), title=section.title)
        finite = grid.to_numpy()[np.isfinite(grid.to_numpy())]
        middle = (finite.min() + finite.max()) / 2 if finite.size else 0
        for (i, j), value in np.ndenumerate(grid.to_numpy()):
            if np.isfinite(value):
                ax.text(j, i, format(value, report.rank_by.spec), ha="center", va="center", fontsize="small",
                        color="black" if value > middle else "white")  # viridis is light at the top
        fig.colorbar(image, ax=ax, label=report.rank_by.label)
        plots.append(_save(fig, out, f"heatmap-{section.slug}", f"{report.rank_by.label}: {section.title}"))
    return plots


def _numbers(levels: pd.Series) -> np.ndarray | None:
    """The levels as numbers, when every one is a number and there are two or more."""
    x = pd.to_numeric(levels, errors="coerce").to_numpy(dtype=float)
    return x if len(x) >= 2 and np.isfinite(x).all() else None


def _curve(ax, x: np.ndarray, table: pd.DataFrame, column: str, colour, label: str | None = None) -> None:
    """Means joined by a line, with the interval as a band; a level of one run is a
    hollow point with no band (a zero-width band would look certain)."""
    order = np.argsort(x, kind="stable")
    x = x[order]
    mean, low, high = (table[f"{column}_{part}"].to_numpy(dtype=float)[order] for part in ("mean", "low", "high"))
    low, high = _drawable(column, low, high)
    sure = np.isfinite(low) & np.isfinite(high)
    ax.plot(x, mean, "-", color=colour, label=label, lw=1.5)
    ax.plot(x[sure], mean[sure], "o", color=colour)
    ax.plot(x[~sure], mean[~sure], "o", color=colour, mfc="none")
    ax.fill_between(x, low, high, where=sure, color=colour, alpha=0.2, lw=0, interpolate=False)


def _x_axis(ax, x: np.ndarray, key: str, label: str) -> None:
    # Learning rates, batch sizes, subset sizes: levels that span 10× or more read on a log axis.
    if (x > 0).all() and x.max() / x.min() >= 10:
        ax.set_xscale("log")
    ax.set(xlabel=key, ylabel=label)
    ax.grid(alpha=0.3)


def plot_numeric(report: Report, out: Path) -> list[Plot]:
    """The ranking metric against each numeric factor; with `--by F,X` (X numeric), one line per level of F."""
    column, label, band = report.rank_by.column, report.rank_by.label, f"{report.confidence:.0%}"
    plots = []
    for factor, table in report.marginals.items():
        x = _numbers(table[factor])
        if x is None:
            continue
        fig, [ax] = _panels(1)
        _curve(ax, x, table, column, "tab:blue")
        _x_axis(ax, x, factor, label)
        ax.set(title=factor)
        plots.append(_save(fig, out, f"numeric-{factor.replace('.', '_')}",
                           f"{label} against {factor} (mean and {band} band; hollow: one run)"))
    for section in (s for s in report.sections if s.interaction):
        key, lines = section.keys[-1], section.keys[:-1]
        x = _numbers(section.table[key])
        if x is None:
            continue
        fig, [ax] = _panels(1)
        groups = dict(list(section.table.groupby(lines, sort=False)))
        if len(lines) == 1:  # the grid's order, as every other plot shows a factor's levels
            groups = {(lv,): groups[(lv,)] for lv in level_order(report.runs[lines[0]]) if (lv,) in groups}
        for (name, rows), colour in zip(groups.items(), _colours(len(groups))):
            _curve(ax, rows[key].astype(float).to_numpy(), rows, column, colour, label=" / ".join(map(str, name)))
        _x_axis(ax, x, key, label)
        ax.set(title=section.title)
        ax.legend(fontsize="small", title=" / ".join(lines))
        plots.append(_save(fig, out, f"numeric-{section.slug}",
                           f"{label} against {key}, one line per {' / '.join(lines)} (mean and {band} band)"))
    return plots


def plot_interactions(report: Report, out: Path) -> list[Plot]:
    """For every interaction the ANOVA finds (p < 0.05): the mean of one factor's
    levels across the other's, with 95 % bars. Parallel lines: no interaction."""
    imp, plots = report.importance, []
    if imp is None:
        return plots
    done = report.runs[report.runs["status"] == Status.COMPLETED]
    for effect in imp.table[(imp.table["p"] < 0.05) & imp.table["effect"].str.contains(" × ")]["effect"]:
        lines, across = effect.split(" × ")
        cells = done.groupby([lines, across])[imp.metric].agg(["mean", "std", "count"])
        cells["half"] = stats.t_halfwidth(cells["std"], cells["count"], report.confidence)
        fig, [ax] = _panels(1)
        levels = level_order(done[across])
        for level, colour in zip(level_order(done[lines]), _colours(done[lines].nunique())):
            row = cells.xs(level, level=0).reindex(levels)
            ax.errorbar(range(len(levels)), row["mean"], yerr=row["half"], marker="o", capsize=3, color=colour,
                        label=str(level))
        ax.set_xticks(range(len(levels)), levels)
        ax.set(xlabel=across, ylabel=imp.label, title=effect)
        ax.legend(fontsize="small", title=lines)
        plots.append(_save(fig, out, f"interaction-{lines.replace('.', '_')}-x-{across.replace('.', '_')}",
                           f"{effect}: mean {imp.label} of each {lines} across {across} "
                           f"({report.confidence:.0%} bars); parallel lines would mean no interaction"))
    return plots


def diagnostics_name(factor: str) -> str:
    return "diagnostics-" + factor.replace(".", "_")


def _by_depth(ax, diag: FactorDiagnostics, quantity: str, colours: list) -> None:
    depths = diag.depths()
    for level, colour in zip(diag.levels, colours):
        points = [(d, cell) for d in depths if (cell := diag.value(level, quantity, d)) is not None]
        if not points:
            continue
        x = [d for d, _ in points]
        ax.plot(x, [cell[0] for _, cell in points], color=colour, ls="--", lw=1, marker=".", alpha=0.7)
        ax.plot(x, [cell[1] for _, cell in points], color=colour, lw=1.8, marker="o", ms=3,
                label=f"{level} (n={diag.runs[level]})")
    cells = [diag.value(lv, quantity, d) for lv in diag.levels for d in depths]
    values = np.array([v for c in cells if c is not None for v in c[:2]], dtype=float)
    positive = values[np.isfinite(values) & (values > 0)]
    # Gradient norms span orders of magnitude by nature; activation stds when they collapse.
    if quantity == "grad_norm" or (positive.size and positive.max() > 100 * positive.min()):
        ax.set_yscale("log")
        # Plain labels (1e−5, 0.01, 10), no minor ticks: matplotlib's default mathtext
        # labels of a log axis cost ~0.25 s a panel to lay out, most of a plot's time.
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: sig(v, 1)))
        ax.yaxis.set_minor_locator(NullLocator())
    ax.set_xticks(depths)
    ax.set(xlabel="depth (conv/linear layer from the input)", ylabel=LABELS[quantity])
    ax.grid(alpha=0.3)


def _rotated(levels: list[str]) -> bool:
    """Level names too long to sit side by side under a panel (~60 characters wide)."""
    return sum(len(lv) + 3 for lv in levels) > 55


def _fractions(ax, diag: FactorDiagnostics, colours: list) -> None:
    """Dead and saturated fraction per level: a bar at the last epoch, a tick at the first."""
    present = [q for q in OVER_LAYERS if q in diag.quantities()]
    width = 0.8 / len(present)
    x = np.arange(len(diag.levels))
    for j, (quantity, hatch) in enumerate(zip(present, ("", "//"))):
        cells = [diag.value(lv, quantity) for lv in diag.levels]
        last = [c[1] if c else np.nan for c in cells]
        first = [c[0] if c else np.nan for c in cells]
        at = x - 0.4 + width * (j + 0.5)
        ax.bar(at, last, width, color=colours, hatch=hatch, edgecolor="black", lw=0.5)
        ax.plot(at, first, "_", color="black", ms=12, mew=2)
    rotated = _rotated(diag.levels)
    ax.set_xticks(x, diag.levels, rotation=30 if rotated else 0, ha="right" if rotated else "center")
    ax.set(ylim=(0, 1), ylabel="fraction (mean over layers)", title="dead (relu) / saturated (sigmoid, tanh)")
    # Neutral legend patches: the bars' colours are the levels'.
    handles = [Patch(facecolor="white", edgecolor="black", hatch=hatch, label=LABELS[q])
               for q, hatch in zip(present, ("", "//"))]
    ax.legend(handles=handles, fontsize="small")


def plot_diagnostics(report: Report, out: Path) -> list[Plot]:
    diagnostics = report.diagnostics
    plots = []
    for diag in diagnostics.factors if diagnostics is not None else []:
        fractions = any(q in OVER_LAYERS for q in diag.quantities())
        n = 3 if fractions else 2
        # Fixed margins, not the constrained layout of the other plots: laying out
        # 3 factors × 3 panels by their text extents cost 0.6 s of the 10,000-run
        # benchmark's 10 s. Rotated (30°) level names get 0.04 inch a character below.
        below = 0.04 * max(map(len, diag.levels)) if fractions and _rotated(diag.levels) else 0.0
        height = PANEL[1] + below
        fig = Figure(figsize=(PANEL[0] * n, height), dpi=DPI)
        fig.subplots_adjust(left=0.22 / n, right=0.99, top=1 - 0.3 / height, bottom=(0.55 + below) / height,
                            wspace=0.28)
        axes = list(fig.subplots(1, n, squeeze=False).ravel())
        colours = _colours(len(diag.levels))
        for ax, quantity in zip(axes, BY_DEPTH):
            _by_depth(ax, diag, quantity, colours)
            ax.set_title(f"{diag.factor}: {LABELS[quantity]}")
        if axes[0].get_legend_handles_labels()[0]:
            axes[0].legend(fontsize="small", title=diag.factor)
        if fractions:
            _fractions(axes[2], diag, colours)
        plots.append(_save(fig, out, diagnostics_name(diag.factor),
                           f"Diagnostics per level of {diag.factor}: activation std and gradient norm by depth "
                           "(dashed: first recorded epoch, solid: last; mean over n runs); dead and saturated "
                           "fraction (bar: last epoch, tick: first)", group="diagnostics"))
    return plots


PlotFn = Callable[[Report, Path], list[Plot]]
PLOTS: Registry[PlotFn] = Registry("plot")
PLOTS.add("curves", plot_curves, "validation accuracy per epoch, mean and band per level")
PLOTS.add("intervals", plot_intervals, "point and interval of the ranking metric per level")
PLOTS.add("heatmap", plot_heatmap, "interaction of --by a,b")
PLOTS.add("interactions", plot_interactions, "the cell means of every interaction with p < 0.05")
PLOTS.add("numeric", plot_numeric, "the metric against a numeric factor (optim.lr, batch_size, ...), log x when wide")
PLOTS.add("gap", plot_gap, "train − validation accuracy per level")
PLOTS.add("diagnostics", plot_diagnostics, "activation std and gradient norm by depth, dead/saturated fraction")


LEGEND_INSIDE = 5  # cells an expected-max legend may list inside its panel


def expected_max_name(sweep: str) -> str:
    return f"expected-max-{sweep}"


def plot_expected_max(report: Report, out: Path) -> list[Plot]:
    """Per tuned sweep: expected best val score against budget k, a line and 95 % band per cell."""
    plots = []
    for t in report.tuning:
        cells = [c for c in t.cells if len(c.curve)]
        if not cells:
            continue
        fig, [ax] = _panels(1)
        for c, colour in zip(cells, _colours(len(cells))):
            k = np.arange(1, len(c.curve) + 1)
            ax.plot(k, c.curve, marker="o", color=colour, label=c.name)
            if np.isfinite(c.low).any():
                low, high = _accuracy_band(c.low, c.high)
                ax.fill_between(k, low, high, color=colour, alpha=0.15, linewidth=0)
        ax.set_xlabel("settings tried (k)")
        ax.set_ylabel("expected best val acc")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(cells) > LEGEND_INSIDE:  # beside the panel: inside, a long legend hides the curves
            fig.set_size_inches(PANEL[0] * 1.8, PANEL[1] * 1.3)
            ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
        else:
            ax.legend(fontsize="small")
        title = f"{t.sweep}: expected best val accuracy against tuning budget (Dodge et al. 2019), 95 % bootstrap band"
        plots.append(_save(fig, out, expected_max_name(t.sweep), title, group="tuning"))
    return plots


PLOTS.add("expected_max", plot_expected_max, "a tuned sweep's expected best val accuracy against budget, per cell")


def write_plots(report: Report, out: Path) -> list[Plot]:
    """Every plot kind that applies, as PNGs under `out`."""
    return [plot for make in PLOTS.values() for plot in make(report, out)]
