"""Equivalence and power: a level not shown different is called equivalent
(TOST within the margin) or inconclusive, with the power the runs had. The
expected numbers are computed here from scipy's t distributions, by hand."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from ablate.report.build import build_report
from ablate.report.equivalence import ALPHA, compare
from helpers.report import Run, grid_runs, ramp, write_sweep


def welch(a, b):
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return se, df


def test_tost_p_is_the_larger_of_the_two_one_sided_tests():
    a = np.array([0.981, 0.979, 0.983, 0.980, 0.982])
    b = np.array([0.978, 0.982, 0.980, 0.979, 0.981])
    se, df = welch(a, b)
    d = a.mean() - b.mean()
    lower = sps.t.sf((d + 0.01) / se, df)  # H0: Δ <= -δ
    upper = sps.t.cdf((d - 0.01) / se, df)  # H0: Δ >= +δ
    c = compare("norm", "group", "batch", a, b, p_holm=0.9, margin=0.01)
    assert c.p_equivalent == pytest.approx(max(lower, upper), rel=1e-6)
    assert c.verdict == "equivalent" and "within ±0.01" in c.describe()


def test_power_and_runs_needed_follow_the_noncentral_t():
    rng = np.random.default_rng(0)
    a, b = 0.95 + 0.02 * rng.standard_normal(4), 0.95 + 0.02 * rng.standard_normal(4)
    c = compare("act", "relu", "tanh", a, b, p_holm=0.6, margin=0.01)
    sd = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    df, nc = 6, (0.01 / sd) * math.sqrt(4 * 4 / 8)
    crit = sps.t.ppf(1 - ALPHA / 2, df)
    power = sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc)
    assert c.power == pytest.approx(power, rel=1e-4)
    assert c.verdict == "inconclusive" and f"~{c.runs_needed} runs per level" in c.describe()
    n = c.runs_needed  # the smallest n with 80 % power
    def power_at(n):
        nc, df = (0.01 / sd) * math.sqrt(n / 2), 2 * n - 2
        crit = sps.t.ppf(1 - ALPHA / 2, df)
        return sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc)
    assert power_at(n) >= 0.8 > power_at(n - 1)


def test_a_constant_arm_is_named():
    c = compare("init", "zeros", "kaiming", np.full(3, 0.1), np.array([0.97, 0.98, 0.99]), p_holm=0.001)
    assert c.verdict == "differs" and "zeros scored the same in every run" in c.describe()


def test_the_report_says_it_for_each_factor(tmp_path):
    shift = {"batch": 0.0, "group": -0.001, "none": -0.05}
    runs = grid_runs({"norm": list(shift)}, 5, lambda combo, seed: ramp(0.95 + shift[combo["norm"]] + 0.002 * seed))
    report = build_report([write_sweep(tmp_path, "n", runs, keys=["norm", "seed"])])
    verdicts = {(c.level, c.reference): c.verdict for c in report.comparisons}
    assert verdicts == {("group", "batch"): "equivalent", ("none", "batch"): "differs"}
    assert any(n.startswith("norm: group vs batch equivalent within ±0.01") for n in report.notes)


def test_paired_tost_and_power_use_the_differences_by_hand():
    """--paired: the seed spread (±8 points) is shared by both levels, the differences
    vary by half a point, so the pairs show equivalence within ±0.01 that independent
    samples never could; TOST and power by hand on the differences."""
    spread = np.array([0.60, 0.75, 0.68, 0.82, 0.71])
    shift = np.array([0.006, -0.004, 0.009, -0.002, 0.003])
    runs = [Run({"eval.tta": "none", "seed": str(s)}, ramp(v)) for s, v in enumerate(spread)]
    runs += [Run({"eval.tta": "flip", "seed": str(s)}, ramp(v + d)) for s, (v, d) in enumerate(zip(spread, shift))]
    path = write_sweep(Path(tempfile.mkdtemp()), "tta", runs, keys=["eval.tta", "seed"])
    paired = {c.level: c for c in build_report([path], paired=True).comparisons}
    unpaired = {c.level: c for c in build_report([path]).comparisons}
    d = -shift  # none − flip (flip is the best level, the reference)
    se, df = d.std(ddof=1) / math.sqrt(len(d)), len(d) - 1
    tost = max(sps.t.sf((d.mean() + 0.01) / se, df), sps.t.cdf((d.mean() - 0.01) / se, df))
    c = paired["none"]
    assert c.p_equivalent == pytest.approx(tost, rel=1e-6) and c.verdict == "equivalent"
    effect = 0.01 / d.std(ddof=1)
    nc = effect * math.sqrt(len(d))
    crit = sps.t.ppf(1 - ALPHA / 2, df)
    power = sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc)
    assert c.power == pytest.approx(power, rel=1e-4)
    assert unpaired["none"].verdict == "inconclusive"  # the seed spread swamps it without pairing
