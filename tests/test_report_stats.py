"""The report's statistics against scipy (and Holm's procedure written out by hand)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from ablate.report import stats
from helpers.report import holm_reference as holm_by_hand


@pytest.mark.parametrize("n", [2, 3, 5, 12, 40])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_t_interval_matches_scipy(n, confidence):
    x = np.random.default_rng(n).normal(0.8, 0.03, size=n)
    low, high = sps.t.interval(confidence, n - 1, loc=x.mean(), scale=sps.sem(x))
    got = stats.t_interval(x, confidence)
    assert got.n == n
    assert got.mean == pytest.approx(x.mean(), rel=1e-12)
    assert got.low == pytest.approx(low, rel=1e-10)
    assert got.high == pytest.approx(high, rel=1e-10)


def test_t_interval_ignores_nan_and_needs_two_runs():
    got = stats.t_interval([0.5, np.nan, 0.7])
    ref = sps.t.interval(0.95, 1, loc=0.6, scale=sps.sem([0.5, 0.7]))
    assert (got.n, got.low, got.high) == (2, pytest.approx(ref[0]), pytest.approx(ref[1]))
    one = stats.t_interval([0.9])
    assert one.n == 1 and one.mean == 0.9 and np.isnan(one.low) and np.isnan(one.high)
    none = stats.t_interval([])
    assert none.n == 0 and np.isnan(none.mean)


@pytest.mark.parametrize("sizes", [(2, 2), (3, 8), (10, 4), (25, 30)])
def test_welch_matches_scipy(sizes):
    rng = np.random.default_rng(sum(sizes))
    a = rng.normal(0.90, 0.01, size=sizes[0])
    b = rng.normal(0.88, 0.04, size=sizes[1])
    ref = sps.ttest_ind(a, b, equal_var=False)
    t, dof, p = stats.welch(a.mean(), a.var(ddof=1), len(a), b.mean(), b.var(ddof=1), len(b))
    assert float(t) == pytest.approx(ref.statistic, rel=1e-10)
    assert float(p) == pytest.approx(ref.pvalue, rel=1e-9)
    assert float(dof) == pytest.approx(ref.df, rel=1e-10)


def test_welch_is_vectorised_and_nan_where_undefined():
    a = [0.9, 0.91, 0.93]
    _, _, p = stats.welch([0.9, 0.5, 0.8, 0.7], [1e-4, 1e-4, 0.0, 1e-4], [3, 1, 4, 5],
                          np.mean(a), np.var(a, ddof=1), 3)
    assert np.isfinite(p[0]) and np.isfinite(p[3])
    assert np.isnan(p[1])  # one run: no variance to test with
    ref = sps.ttest_ind(a, [0.7 - 0.01, 0.7, 0.7 + 0.01], equal_var=False)
    _, _, q = stats.welch(np.mean(a), np.var(a, ddof=1), 3, 0.7, 1e-4, 3)
    assert float(q) == pytest.approx(ref.pvalue, rel=1e-9)
    _, _, same = stats.welch(0.5, 0.0, 3, 0.5, 0.0, 3)
    assert np.isnan(same)  # both without spread: no test possible


def test_holm_worked_example():
    # By hand: sorted 0.005, 0.01, 0.03, 0.04 → ×4, ×3, ×2, ×1 = 0.02, 0.03, 0.06, 0.04;
    # running maximum → 0.02, 0.03, 0.06, 0.06.
    got = stats.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(got, [0.03, 0.06, 0.06, 0.02])


def test_holm_matches_step_by_step_and_caps_at_one():
    rng = np.random.default_rng(7)
    for m in (1, 2, 5, 13):
        p = rng.uniform(0, 0.6, size=m).tolist()
        np.testing.assert_allclose(stats.holm(p), holm_by_hand(p), rtol=1e-12)
    assert stats.holm([0.4, 0.5, 0.9]).max() == 1.0


def test_holm_skips_nan_and_counts_only_real_comparisons():
    got = stats.holm([np.nan, 0.02, 0.01])
    assert np.isnan(got[0])
    np.testing.assert_allclose(got[1:], holm_by_hand([0.02, 0.01]))
    assert np.isnan(stats.holm([np.nan])).all()


def test_describe_matches_groupwise_scipy():
    rng = np.random.default_rng(3)
    groups = rng.integers(0, 4, size=60)
    groups[groups == 3] = 2  # group 3 empty
    values = rng.normal(0.7, 0.05, size=60)
    values[::7] = np.nan  # missing values are ignored
    d = stats.describe(values, groups, 4)
    for g in range(3):
        x = values[(groups == g) & np.isfinite(values)]
        low, high = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
        assert d["n"][g] == len(x)
        assert d["mean"][g] == pytest.approx(x.mean(), rel=1e-12)
        assert d["var"][g] == pytest.approx(x.var(ddof=1), rel=1e-10)
        assert (d["low"][g], d["high"][g]) == (pytest.approx(low, rel=1e-10), pytest.approx(high, rel=1e-10))
    assert d["n"][3] == 0 and np.isnan(d["mean"][3]) and np.isnan(d["low"][3])
