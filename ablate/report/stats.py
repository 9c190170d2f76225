"""The statistics of the report: Student t intervals, Welch's and the paired t-test, Holm's correction.

Vectorised over levels (numpy arrays of per-level mean, variance, n) because a
report computes them for every level of every factor at once; the tests check
them against `scipy.stats` computed from the raw runs.

Seeds are the repetitions: n is the number of completed runs of a level, the
variance is over those runs (ddof=1), and the interval is for the mean of the
level over seeds *and* over the other factors it is marginalised across.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95  # two-sided level of every interval in the report


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int


def t_halfwidth(sd, n, confidence: float = CONFIDENCE) -> np.ndarray:
    """Half-width of the Student t interval of a mean: t_{(1+c)/2, n-1} · sd / √n.

    NaN where n < 2: one run says nothing about the spread (Student 1908).
    """
    sd = np.asarray(sd, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        dof = np.where(n >= 2, n - 1, np.nan)
        quantile = sps.t.ppf((1 + confidence) / 2, dof)
        return np.where(n >= 2, quantile * sd / np.sqrt(n), np.nan)


def t_interval(values, confidence: float = CONFIDENCE) -> Interval:
    """Mean and Student t interval of one sample; NaNs are ignored."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    mean = float(x.mean())
    half = float(t_halfwidth(x.std(ddof=1) if x.size > 1 else np.nan, x.size, confidence))
    return Interval(mean, mean - half, mean + half, int(x.size))


def welch(mean1, var1, n1, mean2, var2, n2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Welch's unequal-variance t-test, two-sided: (t, degrees of freedom, p).

    se² = v1/n1 + v2/n2; dof by Welch–Satterthwaite,
    (v1/n1 + v2/n2)² / ((v1/n1)²/(n1-1) + (v2/n2)²/(n2-1)) (Welch 1947).
    NaN where either side has fewer than two runs or both have zero spread.
    """
    m1, v1, k1, m2, v2, k2 = (np.asarray(a, dtype=float) for a in (mean1, var1, n1, mean2, var2, n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b = v1 / k1, v2 / k2
        se2 = a + b
        t = (m1 - m2) / np.sqrt(se2)
        dof = se2**2 / (a**2 / (k1 - 1) + b**2 / (k2 - 1))
        p = 2 * sps.t.sf(np.abs(t), dof)
    valid = (k1 >= 2) & (k2 >= 2) & (se2 > 0)
    return (np.where(valid, t, np.nan), np.where(valid, dof, np.nan), np.where(valid, p, np.nan))


def paired(differences) -> tuple[float, float, float]:
    """Paired t-test, two-sided, on the within-pair differences: (t, dof, p).

    The same test as scipy.stats.ttest_rel on the two sides; run on the
    differences so that the pairs can be matched first. NaN with fewer than two
    pairs or differences with zero spread (as `welch`: no spread, no test).
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if d.size < 2 or not d.std() > 0:
        return math.nan, math.nan, math.nan
    result = sps.ttest_1samp(d, 0.0)
    return float(result.statistic), float(d.size - 1), float(result.pvalue)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (Holm 1979).

    Sorted ascending, p_(i) is multiplied by (m - i + 1), made non-decreasing
    by a running maximum and capped at 1. NaNs (comparisons that could not be
    made) stay NaN and do not count in m.
    """
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size == 0:
        return adjusted
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    scaled = (m - np.arange(m)) * p[order]
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def describe(values: np.ndarray, groups: np.ndarray, n_groups: int, confidence: float = CONFIDENCE) -> dict:
    """Per-group n, mean, variance and interval of `values` (NaNs ignored).

    `groups` holds each value's group number in [0, n_groups); one pass with
    `np.bincount` instead of a Python loop over groups.
    """
    values = np.asarray(values, dtype=float)
    ok = np.isfinite(values)
    g, x = groups[ok], values[ok]
    n = np.bincount(g, minlength=n_groups).astype(float)
    total = np.bincount(g, weights=x, minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, total / n, np.nan)
        # Two-pass variance (deviations from the group mean) for accuracy.
        dev2 = np.bincount(g, weights=(x - mean[g]) ** 2, minlength=n_groups)
        var = np.where(n >= 2, dev2 / (n - 1), np.nan)
    half = t_halfwidth(np.sqrt(var), n, confidence)
    return {"n": n.astype(int), "mean": mean, "var": var, "low": mean - half, "high": mean + half}


PROB_RESAMPLES = 1000  # bootstrap resamples of P(A>B): percentile bounds to about ±0.01
PROB_SEED = 0  # the interval is the same on every read of the same runs


def _beats(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """Share of (a, b) pairs with a > b, ties counted half: the Mann-Whitney U of a over nₐ·n_b."""
    a, b = np.moveaxis(np.asarray(a, float), axis, -1), np.moveaxis(np.asarray(b, float), axis, -1)
    diff = a[..., :, None] - b[..., None, :]
    return (diff > 0).mean(axis=(-2, -1)) + 0.5 * (diff == 0).mean(axis=(-2, -1))


def prob_better(a, b, confidence: float = CONFIDENCE, resamples: int = PROB_RESAMPLES,
                seed: int = PROB_SEED) -> tuple[float, float, float]:
    """P(A > B): the probability that a run of A scores higher than a run of B (ties half),
    with a percentile bootstrap interval, A and B resampled independently (Bouthillier et
    al. 2021, "Accounting for variance in machine learning benchmarks", MLSys). The point
    is scipy's Mann-Whitney U₁ / (nₐ·n_b). NaN with no runs on a side; no interval with
    fewer than two on either side, or no spread at all (every resample gives the same)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan, math.nan
    point = float(sps.mannwhitneyu(a, b, alternative="two-sided").statistic / (a.size * b.size))
    if a.size < 2 or b.size < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return point, math.nan, math.nan
    result = sps.bootstrap((a, b), _beats, n_resamples=resamples, confidence_level=confidence,
                           method="percentile", vectorized=True, random_state=np.random.default_rng(seed))
    return point, float(result.confidence_interval.low), float(result.confidence_interval.high)
