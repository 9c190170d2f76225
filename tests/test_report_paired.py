"""`ablate report --paired` and the TTA metric, on hand-built stores checked against scipy.

A paired comparison matches a level's runs with the best level's by seed and
by the levels of every other factor; the expected p-values below are computed
from the fixture's own run list with `scipy.stats.ttest_rel`, never by
calling the report code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from typer.testing import CliRunner

from ablate.cli.app import app
from ablate.report import stats
from ablate.report.build import build_report
from ablate.report.present import columns
from helpers.report import Run, holm_reference, norm_act_runs, ramp, write_sweep

SEED_SPREAD = (0.60, 0.75, 0.68, 0.82, 0.71)  # what a seed gives, whatever the level: wide
LEVEL_SHIFT = {"none": 0.0, "flip": 0.008, "five_crop": -0.03}  # small against that spread


def tta_runs() -> list[Run]:
    """eval.tta × 5 seeds where the seed moves accuracy far more than the level
    does, as when every level evaluates the same trained net. The shift carries
    a little per-seed jitter so that the paired differences have spread."""
    runs = []
    for index, (level, shift) in enumerate(LEVEL_SHIFT.items()):
        for seed, base in enumerate(SEED_SPREAD):
            jitter = 0.002 * ((seed * (index + 2)) % 5 - 2)
            runs.append(Run({"eval.tta": level, "seed": str(seed)}, ramp(base + shift + jitter)))
    return runs


def best_of(run: Run) -> float:
    return max(run.curve)


def test_paired_test_matches_scipy_ttest_rel():
    d = np.array([0.01, 0.03, -0.005, 0.02])
    t, dof, p = stats.paired(d)
    ref = sps.ttest_rel(d + 0.5, np.full(4, 0.5))
    assert (t, p) == (pytest.approx(ref.statistic, rel=1e-10), pytest.approx(ref.pvalue, rel=1e-10))
    assert dof == 3
    assert all(np.isnan(stats.paired([0.02])))  # one pair: no test
    assert all(np.isnan(stats.paired([0.02, 0.02, 0.02])))  # no spread: no test, as in Welch
    assert stats.paired([0.01, np.nan, 0.03, 0.02])[1] == 2  # a missing value is not a pair


@pytest.fixture()
def tta_sweep(tmp_path):
    return write_sweep(tmp_path, "tta", tta_runs(), keys=["eval.tta", "seed"])


def test_paired_p_values_match_ttest_rel_over_seeds(tta_sweep):
    runs = tta_runs()
    values = {(r.levels["eval.tta"], r.levels["seed"]): best_of(r) for r in runs}
    seeds = [str(s) for s in range(len(SEED_SPREAD))]
    means = {lvl: np.mean([values[lvl, s] for s in seeds]) for lvl in LEVEL_SHIFT}
    best = max(means, key=means.get)
    others = [lvl for lvl in LEVEL_SHIFT if lvl != best]
    raw = {lvl: sps.ttest_rel([values[lvl, s] for s in seeds], [values[best, s] for s in seeds]).pvalue
           for lvl in others}
    holm = dict(zip(others, holm_reference([raw[lvl] for lvl in others])))

    table = build_report([tta_sweep], paired=True).sections[0].table.set_index("eval.tta")
    assert table.index[0] == best and table.loc[best, "pairs"] == 0 and pd.isna(table.loc[best, "p"])
    for lvl in others:
        assert table.loc[lvl, "pairs"] == len(seeds)
        assert table.loc[lvl, "p"] == pytest.approx(raw[lvl], rel=1e-9)
        assert table.loc[lvl, "p_holm"] == pytest.approx(holm[lvl], rel=1e-9)
        assert table.loc[lvl, "diff"] == pytest.approx(means[lvl] - means[best], abs=1e-12)


def test_pairing_finds_the_seed_effect_that_welch_cannot(tta_sweep):
    """The reason for --paired: a 3-point drop hidden in a 20-point seed spread."""
    welch = build_report([tta_sweep]).sections[0].table.set_index("eval.tta")
    paired = build_report([tta_sweep], paired=True).sections[0].table.set_index("eval.tta")
    assert welch.loc["five_crop", "p"] > 0.2
    assert paired.loc["five_crop", "p"] < 0.001
    assert "pairs" not in welch  # the Welch table is what it always was


def test_pairs_match_seed_and_the_other_factors(tmp_path):
    """norm's table pairs (act, seed) cells; a diverged, failed or queued run has no pair."""
    runs = norm_act_runs()
    path = write_sweep(tmp_path, "norm-vs-act", runs, keys=["norm", "act", "seed"])
    report = build_report([path], paired=True)
    tables = {s.title: s.table.set_index(s.keys[0]) for s in report.sections}
    done = {(r.levels["norm"], r.levels["act"], r.levels["seed"]): best_of(r)
            for r in runs if r.status == "completed"}

    norm = tables["norm"]
    best = norm.index[0]
    for level in norm.index[1:]:
        cells = sorted((a, s) for (n, a, s) in done if n == level and (best, a, s) in done)
        mine = [done[level, a, s] for a, s in cells]
        ref = [done[best, a, s] for a, s in cells]
        assert norm.loc[level, "pairs"] == len(cells)
        assert norm.loc[level, "p"] == pytest.approx(sps.ttest_rel(mine, ref).pvalue, rel=1e-9)
    # none lost seed 2 under both activations (diverged): 2 of its 8 cells have no pair.
    assert norm.loc["none", "pairs"] == 6


def test_cli_paired_and_tta_metric(tmp_path):
    """From the command line: the metric is accepted, runs without TTA score their
    plain test_acc, and the header names the paired test."""
    runs = tta_runs()
    for r in runs:  # the TTA accuracy as runs.csv records it: none has no value of its own
        r.extra = {} if r.levels["eval.tta"] == "none" else {"test_acc_tta": best_of(r) + 0.01}
    path = write_sweep(tmp_path, "tta", runs, keys=["eval.tta", "seed"])
    result = CliRunner().invoke(app, ["report", str(path), "--metric", "test_acc_tta", "--paired", "--format", "md"])
    assert result.exit_code == 0, result.output
    assert "paired t-test against the best level, over runs matched on seed" in result.output
    report = build_report([path], metric="test_acc_tta", paired=True)
    table = report.sections[0].table.set_index("eval.tta")
    none = [best_of(r) for r in runs if r.levels["eval.tta"] == "none"]
    flip = [best_of(r) + 0.01 for r in runs if r.levels["eval.tta"] == "flip"]
    assert table.loc["none", "test_acc_tta_mean"] == pytest.approx(np.mean(none), rel=1e-12)
    assert table.loc["flip", "test_acc_tta_mean"] == pytest.approx(np.mean(flip), rel=1e-12)
    assert any(c.header == "test acc (TTA)" for c in columns(report))


def test_tta_column_only_when_it_differs_from_test_acc(tta_sweep):
    """Without TTA anywhere, test acc (TTA) would copy test acc: no column."""
    headers = [c.header for c in columns(build_report([tta_sweep]))]
    assert "test acc" in headers and "test acc (TTA)" not in headers
