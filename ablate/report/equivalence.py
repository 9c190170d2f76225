"""Not different is not the same: equivalence and power for each comparison.

A level that is "not significantly worse" than the best may be equivalent to
it, or the design may simply be too small to tell. For each level compared
with its table's reference (the best level, or --versus's), this says which:

- differs: Welch's p (Holm-corrected, the table's) below alpha;
- equivalent: the two one-sided tests (TOST, Schuirmann 1987; statsmodels'
  `ttost_ind`, Welch's variances) put the difference within ±margin;
- inconclusive: neither, with the power the design had to see a difference of
  `margin` at the variance measured (statsmodels' `TTestIndPower`, Cohen's d
  from the pooled sd) and the runs per level it would need for 80 % power.

With `--paired` the same three come from the paired differences (same seed, same
other factors): `ttost_paired` and the paired t-test's power (`TTestPower`), and
"runs per level" counts pairs.

An arm whose runs all scored the same (a floor at chance, a ceiling at 1.0)
has no variance: Welch's test then compares the other arm with a constant, a
one-sample test, and the line says so. The margin is in the metric's units:
0.01 is one accuracy point (`ablate report --margin`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.power import TTestIndPower, TTestPower
from statsmodels.stats.weightstats import ttost_ind, ttost_paired

from ablate.store.status import Status

MARGIN = 0.01  # one accuracy point: below it, no claim of the toolbox is about a difference
ALPHA = 0.05
POWER = 0.8  # the conventional target (Cohen 1988)
MAX_RUNS = 10_000  # runs per level beyond which "needed" is reported as more than this


@dataclass(frozen=True)
class Comparison:
    factor: str
    level: str
    reference: str
    delta: float  # mean(level) − mean(reference)
    p_holm: float
    p_equivalent: float  # TOST p; NaN when it cannot be computed
    power: float  # to see a difference of `margin` with the runs there are
    runs_needed: int | None  # per level, for POWER; None when unbounded
    constant: str | None  # the arm with no variance, named, if any
    margin: float

    @property
    def verdict(self) -> str:
        if self.p_holm < ALPHA:
            return "differs"
        if self.p_equivalent < ALPHA:
            return "equivalent"
        return "inconclusive"

    def describe(self) -> str:
        head = f"{self.factor}: {self.level} vs {self.reference} {self.verdict}"
        if self.verdict == "differs":
            text = f"{head} (Δ {self.delta:+.4f}, p {_p(self.p_holm)})"
        elif self.verdict == "equivalent":
            text = f"{head} within ±{self.margin:g} (Δ {self.delta:+.4f}, TOST p {_p(self.p_equivalent)})"
        else:
            need = f"~{self.runs_needed} runs per level" if self.runs_needed else f"more than {MAX_RUNS:,} runs per level"
            text = (f"{head}: neither different (p {_p(self.p_holm)}) nor within ±{self.margin:g} "
                    f"(TOST p {_p(self.p_equivalent)}); power {self.power:.0%} to see ±{self.margin:g}, "
                    f"{need} for {POWER:.0%}")
        if self.constant:
            text += (f"; {self.constant} scored the same in every run, so Welch's test is a one-sample test "
                     "of the other arm against that value")
        return text


def _p(p: float) -> str:
    """`< 0.001`, `= 0.964`: what follows "p"."""
    return "= —" if not math.isfinite(p) else "< 0.001" if p < 0.001 else f"= {p:.3f}"


def compare(factor: str, level: str, reference: str, a: np.ndarray, b: np.ndarray, p_holm: float,
            margin: float = MARGIN) -> Comparison:
    """`a`: the level's values, `b`: the reference's (completed runs)."""
    delta = float(a.mean() - b.mean())
    constant = next((name for name, x in ((level, a), (reference, b)) if np.ptp(x) == 0), None)
    try:
        p_eq = float(ttost_ind(a, b, -margin, margin, usevar="unequal")[0]) if a.std() + b.std() > 0 else (
            0.0 if abs(delta) < margin else 1.0)
    except (ValueError, ZeroDivisionError):
        p_eq = math.nan
    sd = math.sqrt((a.var(ddof=1) * (len(a) - 1) + b.var(ddof=1) * (len(b) - 1)) / max(1, len(a) + len(b) - 2))
    if sd == 0 or not math.isfinite(sd):
        power, needed = (1.0, None) if sd == 0 else (math.nan, None)
    else:
        solver, d = TTestIndPower(), margin / sd
        power = float(solver.power(effect_size=d, nobs1=len(a), alpha=ALPHA, ratio=len(b) / len(a)))
        needed = _runs_needed(solver, d)
    return Comparison(factor, level, reference, delta, p_holm, p_eq, power, needed, constant, margin)


def _runs_needed(solver: TTestIndPower, d: float) -> int | None:
    """The fewest runs per level with POWER to see Cohen's d (2 at least: a variance needs two)."""
    if solver.power(effect_size=d, nobs1=2, alpha=ALPHA, ratio=1.0) >= POWER:
        return 2
    if solver.power(effect_size=d, nobs1=MAX_RUNS, alpha=ALPHA, ratio=1.0) < POWER:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the root finder's progress, not the user's business
        n = float(solver.solve_power(effect_size=d, power=POWER, alpha=ALPHA, ratio=1.0))
    return math.ceil(n) if math.isfinite(n) else None


def compare_paired(factor: str, level: str, reference: str, differences: np.ndarray, p_holm: float,
                   margin: float = MARGIN) -> Comparison:
    """`compare` for paired runs (`ablate report --paired`): `differences` are level − reference
    per pair (same seed, same other factors). TOST on the differences (statsmodels'
    `ttost_paired`, as a one-sample TOST) and the power of the paired t-test
    (`TTestPower`, d = margin / sd of the differences), so the pairing that gave the
    table's p also gives these."""
    d = np.asarray(differences, dtype=float)
    delta, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0:
        p_eq, power, needed = (0.0 if abs(delta) < margin else 1.0), 1.0, None
    else:
        p_eq = float(ttost_paired(d, np.zeros_like(d), -margin, margin)[0])
        solver, effect = TTestPower(), margin / sd
        power = float(solver.power(effect_size=effect, nobs=len(d), alpha=ALPHA))
        needed = _pairs_needed(solver, effect)
    return Comparison(factor, level, reference, delta, p_holm, p_eq, power, needed, None, margin)


def _pairs_needed(solver: TTestPower, d: float) -> int | None:
    """The fewest pairs with POWER for the paired t-test to see Cohen's d (2 at least)."""
    if solver.power(effect_size=d, nobs=2, alpha=ALPHA) >= POWER:
        return 2
    if solver.power(effect_size=d, nobs=MAX_RUNS, alpha=ALPHA) < POWER:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n = float(solver.solve_power(effect_size=d, power=POWER, alpha=ALPHA))
    return math.ceil(n) if math.isfinite(n) else None


def _reference(table: pd.DataFrame, factor: str) -> str:
    return str(table.loc[table["reference"], factor].iloc[0]) if "reference" in table \
        and table["reference"].any() else str(table[factor].iloc[0])


def comparisons(marginals: dict[str, pd.DataFrame], runs: pd.DataFrame, column: str,
                margin: float = MARGIN, pair_on: dict[str, list[str]] | None = None) -> list[Comparison]:
    """One per compared level of each factor's table: its completed runs against the reference's.
    `pair_on`: per factor, the columns that make two runs a pair (--paired); None: independent."""
    out = []
    completed = runs[runs["status"] == Status.COMPLETED]
    for factor, table in marginals.items():
        if factor not in runs or "p_holm" not in table or len(table) < 2:
            continue
        reference = _reference(table, factor)
        keys = (pair_on or {}).get(factor)
        by_level = {str(k): g for k, g in completed.groupby(factor)}
        b = by_level.get(reference)
        for _, row in table.iterrows():
            level = str(row[factor])
            a = by_level.get(level)
            if level == reference or a is None or b is None:
                continue
            if keys:
                pairs = pd.merge(a[[*keys, column]], b[[*keys, column]], on=keys, suffixes=("", "_ref")).dropna()
                if len(pairs) >= 2:
                    out.append(compare_paired(factor, level, reference,
                                              (pairs[column] - pairs[column + "_ref"]).to_numpy(float),
                                              float(row["p_holm"]), margin))
                continue
            x, y = a[column].dropna().to_numpy(float), b[column].dropna().to_numpy(float)
            if len(x) >= 2 and len(y) >= 2:
                out.append(compare(factor, level, reference, x, y, float(row["p_holm"]), margin))
    return out
