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
  bootstrap   with `ablate report --bootstrap B`: a percentile interval of η²
              (the share the headline quotes) from B resamples of the runs
              within each cell, each refitted; it assumes no normal errors

Which effects: the main effects and interactions of up to `order` factors (2
by default, `ablate report --interactions 3` for three-way ones) that the
cells run can separate (`ablate.design.effects`): a fractional design, or a
grid with cells that have no completed run, aliases some effects with others,
and those are listed in a note instead of estimated.

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

from ablate.design.effects import separate
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
    aliased: list[str] = field(default_factory=list)  # effects asked for that the cells cannot separate: not in `table`
    bootstrap: int = 0  # resamples behind the table's eta2_low / eta2_high columns; 0: none

    def line(self) -> str:
        """`norm explains 71 % of the variance in best val acc (η²); act 9 %; norm × act 12 %; residual 8 %`."""

        def share(row) -> str:
            interval = self.bootstrap and math.isfinite(row.eta2_low)
            return f"{row.eta2:.0%}" + (f" [{row.eta2_low:.0%}, {row.eta2_high:.0%}]" if interval else "")

        first, *others = self.table.itertuples()
        text = f"{first.effect} explains {share(first)} of the variance in {self.label} (η²)"
        rest = [f"{row.effect} {share(row)}" for row in others]
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
               confidence: float = 0.95, order: int = 2, bootstrap: int = 0) -> Importance | None:
    """The ANOVA of `column` over `factors` on the completed runs, with the interactions of up to
    `order` factors the cells can separate; None with fewer than two factors or no residual.
    `bootstrap` > 0: percentile intervals of η² from that many within-cell resamples."""
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
    terms, parameters, aliased, term_notes = estimable(done, factors, order)
    if not any(len(t) == 1 for t in terms) or len(done) <= parameters:  # no residual to test an effect against
        return None
    notes += term_notes
    table, residual, total, residuals = _anova(done, terms, column, confidence)
    notes += assumption_notes(done, factors, column, residuals)
    if not math.isclose(table["eta2"].sum() + residual["sum_sq"] / total, 1.0, abs_tol=0.005):
        notes.append("type II sums of squares of unbalanced cells need not add up to 100 %")
    cells = list(done.groupby(factors, sort=False).indices.values()) if bootstrap else []  # positions per cell
    single = sum(len(rows) < 2 for rows in cells)
    if single:
        # A cell of one run resamples to itself: the interval would shrink toward certainty the data lack.
        notes.append(f"η² bootstrap intervals not computed: {single} cells have a single run, which a resample "
                     "within its cell cannot vary; add seeds for them")
        bootstrap = 0
    if bootstrap:
        table["eta2_low"], table["eta2_high"] = bootstrap_eta2(done, cells, terms, column, table["effect"],
                                                               bootstrap, confidence)
        notes.append(f"η² intervals: percentile bootstrap, {bootstrap} resamples of the runs within each cell "
                     f"(seed {BOOTSTRAP_SEED}: the same report gives the same intervals)")
    return Importance(column, label, table, float(residual["sum_sq"] / total), len(done), notes, aliased, bootstrap)


BOOTSTRAP_SEED = 0  # the resamples are fixed, so a report is reproducible
# Fewer resamples cannot place the 2.5th and 97.5th percentiles (5 resamples gave
# an interval [90 %, 90 %] beside an estimate of 84 %); Efron & Tibshirani (1993,
# §13.3) ask for 1,000 for percentile intervals.
MIN_BOOTSTRAP = 100


def bootstrap_eta2(done: pd.DataFrame, cells: list[np.ndarray], terms: list[tuple[str, ...]], column: str,
                   effects: pd.Series, resamples: int, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of each effect's η² over `resamples` refits, each on
    the runs drawn with replacement within their cell (`cells`: the positions of
    each cell's runs in `done`): every cell keeps its count, so the design (and
    which effects it separates) stays the one run, and only the metric's values
    move. Effects in the order of `effects`."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    values = done[column].to_numpy(dtype=float)
    # The design matrix is the same in every resample (each cell keeps its count),
    # so one model is built and refitted on new values, not rebuilt by patsy each time.
    model, names = _model(done, terms, column)
    draws = np.full((resamples, len(effects)), np.nan)
    for b in range(resamples):
        y = values.copy()
        for rows in cells:
            y[rows] = values[rng.choice(rows, size=len(rows))]
        model.endog = model.wendog = y  # OLS: the whitened values are the values
        _, (table, _, _) = _type2(model, names)
        draws[b] = table.set_index("effect")["eta2"].reindex(effects).to_numpy()
    alpha = (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an effect no resample could estimate: NaN
        return np.nanquantile(draws, alpha, axis=0), np.nanquantile(draws, 1 - alpha, axis=0)


def effect_name(term: tuple[str, ...]) -> str:
    return " × ".join(term)


def estimable(done: pd.DataFrame, factors: list[str], order: int) -> tuple[list[tuple[str, ...]], int, list[str],
                                                                          list[str]]:
    """(the effects to fit, their parameters with the mean, the names of those left out, notes saying why)."""
    codes = np.column_stack([pd.factorize(done[f])[0] for f in factors])
    levels = [int(done[f].nunique()) for f in factors]
    cells = np.unique(codes, axis=0)
    notes = []
    if len(done) <= len(cells) and order > 1:  # no replication within cells: nothing is left to estimate the error from
        order = 1
        notes.append("one run per cell: interactions are not separable from the error, main effects only")
    separation = separate(cells, levels, min(order, len(factors)))

    def name(t: tuple[int, ...]) -> tuple[str, ...]:
        return tuple(factors[i] for i in t)

    terms = [name(t) for t in separation.kept]
    parameters = 1 + sum(int(np.prod([levels[i] - 1 for i in t])) for t in separation.kept)
    aliased = [effect_name(name(t)) for t in separation.dropped]
    if separation.dropped:
        chains, told = [], set()
        for t, partners in separation.dropped.items():
            if t in told:
                continue
            told.update([t, *partners])
            chain = sorted([t, *partners], key=lambda e: (len(e), e))
            chains.append(" = ".join(effect_name(name(e)) for e in chain) if partners
                          else f"{effect_name(name(t))} (with several effects together, or it needs a missing cell)")
        missing = int(np.prod(levels)) - len(cells)
        where = f"; {missing} of the {int(np.prod(levels))} cells have no completed run (not run, or none completed)" if missing else ""
        notes.append(f"aliased: the cells run cannot tell these effects apart: {'; '.join(chains)}{where}. "
                     f"Left out of the table: {', '.join(aliased)}; a main effect stays, and its share includes "
                     "what is aliased with it")
    return terms, parameters, aliased, notes


ALPHA = 0.05  # the assumption checks' level
SHAPIRO_MAX = 5000  # scipy's Shapiro-Wilk p-value is accurate up to this many values
# Levene's test compares each cell's spread of |x − median|. With two runs both
# deviations are |a − b| / 2, so a cell's deviations never vary and any two cells
# that differ give p ≈ 0 (7.9e-61 on [.1,.2],[.5,.7],[.3,.31],[.9,.95]): cells of
# fewer runs than this are left out of it.
LEVENE_MIN_RUNS = 3


def assumption_notes(done: pd.DataFrame, factors: list[str], column: str, residuals: np.ndarray) -> list[str]:
    """The ANOVA's assumptions, checked and said: normal residuals (Shapiro-Wilk),
    equal variances across cells (Levene, median-centred); when either fails, a
    rank-based check per factor beside it (Kruskal-Wallis, which assumes neither);
    and cells with no spread at all, a floor or ceiling (at chance, or at 1.0)."""
    from scipy import stats as sps

    notes = []
    names, groups = _cells(done, factors, column)
    cells = [g for g in groups if len(g) >= 2]
    pinned = [name for name, g in zip(names, groups) if len(g) >= 2 and np.ptp(g) == 0]
    if pinned:
        shown = ", ".join(" ".join(map(str, k if isinstance(k, tuple) else (k,))) for k in pinned[:3])
        notes.append(f"{len(pinned)} cells have no spread over their seeds ({shown}{', ...' if len(pinned) > 3 else ''}):"
                     " a floor or ceiling (at chance, or at 1.0), where the ANOVA reads no noise")
    checks, failed = [], False
    if 3 <= len(residuals) and np.ptp(residuals) > 0:
        p_normal = sps.shapiro(residuals[:SHAPIRO_MAX]).pvalue
        failed |= p_normal < ALPHA
        checks.append(f"residuals {'not ' if p_normal < ALPHA else ''}normal (Shapiro-Wilk p = {p_normal:.2g})")
    spread = [g for g in cells if len(g) >= LEVENE_MIN_RUNS]
    with np.errstate(divide="ignore", invalid="ignore"):  # cells of one value each: Levene's spreads all tie
        p_equal = sps.levene(*spread, center="median").pvalue if len(spread) >= 2 else math.nan
    if math.isfinite(p_equal):
        failed |= p_equal < ALPHA
        checks.append(f"variances {'un' if p_equal < ALPHA else ''}equal across cells (Levene p = {p_equal:.2g})")
    elif cells and len(spread) < 2:
        notes.append(f"equal variances across cells not checked: Levene's test needs {LEVENE_MIN_RUNS} runs in a "
                     "cell, in two cells or more")
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


def _cells(done: pd.DataFrame, factors: list[str], column: str) -> tuple[list, list[np.ndarray]]:
    """Each cell's name and its values of `column`: one sort and split, not a Python loop
    over a groupby (400 cells of 10,000 runs: 0.4 s → a few ms)."""
    grouped = done.groupby(factors, sort=True)
    codes = grouped.ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    values = done[column].to_numpy(dtype=float)[order]
    groups = np.split(values, np.flatnonzero(np.diff(codes[order])) + 1) if len(values) else []
    return list(grouped.groups.keys()), groups


def _divergence(runs: pd.DataFrame, factors: list[str]) -> str:
    ended = runs[runs["status"].isin([Status.COMPLETED, Status.DIVERGED])]
    parts = []
    for f in factors:
        rate = ended.groupby(f)["status"].apply(lambda s: (s == Status.DIVERGED).mean())
        if (rate > 0).any():
            parts.append(f"{f}: " + ", ".join(f"{level} {share:.0%}" for level, share in rate.items() if share > 0))
    return "; ".join(parts)


def _anova(done: pd.DataFrame, terms: list[tuple[str, ...]], column: str,
           confidence: float) -> tuple[pd.DataFrame, pd.Series, float, np.ndarray]:
    """`_fit`, with Steiger's interval of each partial η², largest η² first."""
    out, residual, total, residuals = _fit(done, terms, column)
    bounds = [partial_eta2_interval(f, d, residual["df"], confidence) for f, d in zip(out["F"], out["df"])]
    out["low"], out["high"] = [b[0] for b in bounds], [b[1] for b in bounds]
    return out.sort_values("eta2", ascending=False).reset_index(drop=True), residual, total, residuals


def _fit(done: pd.DataFrame, terms: list[tuple[str, ...]], column: str) -> tuple[pd.DataFrame, pd.Series, float,
                                                                                 np.ndarray]:
    """statsmodels' type II ANOVA: (one row per effect, the residual row, SS_total, the residuals)."""
    fit, (out, residual, total) = _type2(*_model(done, terms, column))
    return out, residual, total, np.asarray(fit.resid, dtype=float)


def _model(done: pd.DataFrame, terms: list[tuple[str, ...]], column: str) -> tuple[object, dict[str, str]]:
    """The least-squares model of `column` on the effects in `terms` (statsmodels' formula API),
    and the factor each of its term names stands for."""
    from statsmodels.formula.api import ols

    factors = list(dict.fromkeys(f for t in terms for f in t))
    data = done[[*factors, column]].rename(columns={column: "y"})
    # Categorical columns spare patsy from sniffing every value's type (0.25 s over 10,000 runs).
    data = data.astype({f: "category" for f in factors})
    model = ols("y ~ " + " + ".join(":".join(_term(f) for f in t) for t in terms), data=data)
    return model, {_term(f): f for f in factors}


def _type2(model, names: dict[str, str]) -> tuple[object, tuple[pd.DataFrame, pd.Series, float]]:
    """Fit `model` and read its type II ANOVA: (fit, (effects, residual row, SS_total))."""
    from statsmodels.stats.anova import anova_lm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' rank warnings
        # QR, not the default pseudo-inverse: the effects kept are estimable, so the design has full rank,
        # and QR of 10,000 runs × 77 columns is several times faster than their SVD. statsmodels keeps
        # the factors Q and R on the model, so a bootstrap refit on new values reuses them.
        fit = model.fit(method="qr")
        anova = anova_lm(fit, typ=2)
    residual = anova.loc[RESIDUAL]
    effects = anova.drop(index=RESIDUAL).dropna(subset=["F"])
    y = np.asarray(model.endog, dtype=float)
    total = float(((y - y.mean()) ** 2).sum())
    out = pd.DataFrame({
        "effect": [" × ".join(names.get(t, t) for t in str(idx).split(":")) for idx in effects.index],
        "df": effects["df"].to_numpy(), "sum_sq": effects["sum_sq"].to_numpy(),
        "F": effects["F"].to_numpy(), "p": effects["PR(>F)"].to_numpy(),
    })
    ms_resid = residual["sum_sq"] / residual["df"]
    out["eta2"] = out["sum_sq"] / total
    out["partial_eta2"] = out["sum_sq"] / (out["sum_sq"] + residual["sum_sq"])
    out["omega2"] = ((out["sum_sq"] - out["df"] * ms_resid) / (total + ms_resid)).clip(lower=0)
    return fit, (out, residual, total)
