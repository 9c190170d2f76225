"""Which factor matters most: a factorial ANOVA of the ranking metric.

statsmodels fits `metric ~ C(a) * C(b) ...` (main effects and two-way
interactions) by least squares on the completed runs, and `anova_lm(typ=2)`
gives type II sums of squares, which stay right when cells are unbalanced
(failed runs, fractional designs). Per effect:

  η²          SS_effect / SS_total: its share of all the variation
  partial η²  SS_effect / (SS_effect + SS_residual)
  ω²          (SS_effect − df·MS_residual) / (SS_total + MS_residual), less biased (Hays 1963)
  interval    of partial η², by inverting the noncentral F distribution
              (Steiger 2004, "Beyond the F test", Psychological Methods 9:164):
              the noncentrality λ whose F distribution puts the observed F at
              the 97.5th and the 2.5th percentile, as η²p = λ / (λ + df1 + df2 + 1)

Seeds are replication, never a factor; a numeric factor's levels are
categories here. Diverged runs are left out, as in the tables' means, so the
analysis is conditional on not diverging, and the line says how often each
factor's levels diverged. An option of one level (`norm.groups`, empty where it
does not apply) is left out of this table.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.stats import ncf

from ablate.store.status import Status
from ablate.store.tables import NOT_APPLICABLE

RESIDUAL = "Residual"
MAX_NONCENTRALITY = 1e7  # beyond this scipy's ncf.cdf returns NaN; the interval is then not given


@dataclass
class Importance:
    metric: str  # the column analysed
    label: str  # how the report names it
    table: pd.DataFrame  # one row per effect, largest η² first: effect, df, F, p, eta2, partial_eta2, low, high, omega2
    residual_share: float  # SS_residual / SS_total
    runs: int
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        """`norm explains 71 % of the variance in best val acc (η²); act 9 %; norm × act 12 %; residual 8 %`."""
        shares = [f"{row.effect} {row.eta2:.0%}" for row in self.table.itertuples()]
        head, *rest = shares
        name, _, share = head.rpartition(" ")
        text = f"{name} explains {share} of the variance in {self.label} (η²)"
        return "; ".join([text, *rest, f"residual {self.residual_share:.0%}"])


def partial_eta2_interval(f: float, df1: float, df2: float, confidence: float = 0.95) -> tuple[float, float]:
    """Steiger's (2004) interval for partial η², from the noncentral F."""
    if not (np.isfinite(f) and df1 > 0 and df2 > 0):
        return math.nan, math.nan
    upper_q, lower_q = (1 + confidence) / 2, (1 - confidence) / 2

    def noncentrality(q: float) -> float:
        # cdf(F; λ) falls as λ grows: find λ with cdf = q, or 0 when even λ = 0 is below it.
        gap = lambda lam: ncf.cdf(f, df1, df2, lam) - q  # noqa: E731
        if gap(0.0) <= 0:
            return 0.0
        high = max(10.0, f * df1 * 4)
        while gap(high) > 0 and high < MAX_NONCENTRALITY:
            high *= 2
        if not gap(high) <= 0:  # an F too large for scipy's noncentral F (a near-perfect fit)
            return math.nan
        return optimize.brentq(gap, 0.0, high, xtol=1e-8)

    to_eta = lambda lam: lam / (lam + df1 + df2 + 1)  # noqa: E731
    return to_eta(noncentrality(upper_q)), to_eta(noncentrality(lower_q))


def _term(factor: str) -> str:
    return f'C(Q("{factor}"))'


def importance(runs: pd.DataFrame, factors: list[str], column: str, label: str,
               confidence: float = 0.95) -> Importance | None:
    """The ANOVA of `column` over `factors` on the completed runs; None with fewer than two factors."""
    notes = []
    per_level = [f for f in factors if runs[f].eq(NOT_APPLICABLE).any()]
    if per_level:
        notes.append(f"{', '.join(per_level)} left out of the importance table: an option of one level, "
                     "compared within that level in its own table")
    done = runs[runs["status"] == Status.COMPLETED].dropna(subset=[column])
    factors = [f for f in factors if f not in per_level and done[f].nunique() > 1]
    if len(factors) < 2:
        return None
    diverged = _divergence(runs, factors)
    if diverged:
        notes.append(f"diverged runs are left out, so the shares are conditional on not diverging ({diverged})")
    levels = sum(done[f].nunique() - 1 for f in factors)
    if len(done) <= levels + 1:  # as many parameters as runs: no residual to test an effect against
        return None
    table, residual, total, fit_note, residuals = _anova(done, factors, column, confidence)
    if fit_note:
        notes.append(fit_note)
    notes += assumption_notes(done, factors, column, residuals)
    if not math.isclose(table["eta2"].sum() + residual["sum_sq"] / total, 1.0, abs_tol=0.005):
        notes.append("type II sums of squares of unbalanced cells need not add up to 100 %")
    return Importance(column, label, table, float(residual["sum_sq"] / total), len(done), notes)


ALPHA = 0.05  # the assumption checks' level
SHAPIRO_MAX = 5000  # scipy's Shapiro-Wilk p-value is accurate up to this many values


def assumption_notes(done: pd.DataFrame, factors: list[str], column: str, residuals: np.ndarray) -> list[str]:
    """The ANOVA's assumptions, checked and said: normal residuals (Shapiro-Wilk),
    equal variances across cells (Levene, median-centred); when either fails, a
    rank-based check per factor beside it (Kruskal-Wallis, which assumes neither);
    and cells with no spread at all, a floor or ceiling (at chance, or at 1.0)."""
    from scipy import stats as sps

    notes = []
    cells = [g[column].to_numpy(dtype=float) for _, g in done.groupby(factors) if len(g) >= 2]
    pinned = [name for name, g in done.groupby(factors) if len(g) >= 2 and g[column].nunique() == 1]
    if pinned:
        shown = ", ".join(" ".join(map(str, k if isinstance(k, tuple) else (k,))) for k in pinned[:3])
        notes.append(f"{len(pinned)} cells have no spread over their seeds ({shown}{', ...' if len(pinned) > 3 else ''}):"
                     " a floor or ceiling (at chance, or at 1.0), where the ANOVA reads no noise")
    checks, failed = [], False
    if 3 <= len(residuals) and np.ptp(residuals) > 0:
        p_normal = sps.shapiro(residuals[:SHAPIRO_MAX]).pvalue
        failed |= p_normal < ALPHA
        checks.append(f"residuals {'not ' if p_normal < ALPHA else ''}normal (Shapiro-Wilk p = {p_normal:.2g})")
    with np.errstate(divide="ignore", invalid="ignore"):  # two runs a cell: Levene's spreads can all tie
        p_equal = sps.levene(*cells, center="median").pvalue if len(cells) >= 2 else math.nan
    if math.isfinite(p_equal):
        failed |= p_equal < ALPHA
        checks.append(f"variances {'un' if p_equal < ALPHA else ''}equal across cells (Levene p = {p_equal:.2g})")
    if checks and not failed:
        notes.append(f"assumptions hold: {'; '.join(checks)}")
    if failed:
        ranks = []
        for f in factors:
            groups = [g[column].to_numpy(dtype=float) for _, g in done.groupby(f)]
            if len(groups) >= 2 and np.ptp(np.concatenate(groups)) > 0:
                h = sps.kruskal(*groups)
                ranks.append(f"{f} H = {h.statistic:.1f}, p = {h.pvalue:.2g}")
        notes.append(f"assumptions fail: {'; '.join(checks)}; rank-based check beside it (Kruskal-Wallis per factor): "
                     + "; ".join(ranks))
    return notes


def _divergence(runs: pd.DataFrame, factors: list[str]) -> str:
    ended = runs[runs["status"].isin([Status.COMPLETED, Status.DIVERGED])]
    parts = []
    for f in factors:
        rate = ended.groupby(f)["status"].apply(lambda s: (s == Status.DIVERGED).mean())
        if (rate > 0).any():
            parts.append(f"{f}: " + ", ".join(f"{level} {share:.0%}" for level, share in rate.items() if share > 0))
    return "; ".join(parts)


def _anova(done: pd.DataFrame, factors: list[str], column: str,
           confidence: float) -> tuple[pd.DataFrame, pd.Series, float, str | None, np.ndarray]:
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    data = done[[*factors, column]].rename(columns={column: "y"})
    mains = [_term(f) for f in factors]
    pairs = [f"{_term(a)}:{_term(b)}" for i, a in enumerate(factors) for b in factors[i + 1:]]
    note = None
    cells = data.groupby(factors).ngroups
    if len(data) <= cells:  # no replication within cells: nothing is left to estimate the error from
        pairs, note = [], "one run per cell: interactions are not separable from the error, main effects only"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' rank warnings for empty interaction cells
        fit = ols("y ~ " + " + ".join(mains + pairs), data=data).fit()
        anova = anova_lm(fit, typ=2)
    residual = anova.loc[RESIDUAL]
    effects = anova.drop(index=RESIDUAL).dropna(subset=["F"])
    total = float(((data["y"] - data["y"].mean()) ** 2).sum())
    names = {_term(f): f for f in factors}
    out = pd.DataFrame({
        "effect": [" × ".join(names.get(t, t) for t in str(idx).split(":")) for idx in effects.index],
        "df": effects["df"].to_numpy(), "sum_sq": effects["sum_sq"].to_numpy(),
        "F": effects["F"].to_numpy(), "p": effects["PR(>F)"].to_numpy(),
    })
    ms_resid = residual["sum_sq"] / residual["df"]
    out["eta2"] = out["sum_sq"] / total
    out["partial_eta2"] = out["sum_sq"] / (out["sum_sq"] + residual["sum_sq"])
    out["omega2"] = ((out["sum_sq"] - out["df"] * ms_resid) / (total + ms_resid)).clip(lower=0)
    bounds = [partial_eta2_interval(f, d, residual["df"], confidence) for f, d in zip(out["F"], out["df"])]
    out["low"], out["high"] = [b[0] for b in bounds], [b[1] for b in bounds]
    return (out.sort_values("eta2", ascending=False).reset_index(drop=True), residual, total, note,
            np.asarray(fit.resid, dtype=float))
