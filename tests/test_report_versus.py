"""`ablate report --versus factor=level`: a factor's levels compared with its
baseline (the ablation's "without"), not with the best level. Expected numbers
come from the fixture's own run list and scipy, never from the report code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from typer.testing import CliRunner

from ablate.cli.app import app
from ablate.report.build import build_report
from helpers.report import holm_reference, norm_act_runs, write_sweep
from test_report_paired import LEVEL_SHIFT, SEED_SPREAD, best_of, tta_runs


@pytest.fixture()
def tta_sweep(tmp_path):
    return write_sweep(tmp_path, "tta", tta_runs(), keys=["eval.tta", "seed"])


def _values(level: str) -> list[float]:
    by = {(r.levels["eval.tta"], r.levels["seed"]): best_of(r) for r in tta_runs()}
    return [by[level, str(s)] for s in range(len(SEED_SPREAD))]


@pytest.mark.parametrize("paired", [False, True])
def test_each_level_is_compared_with_the_baseline(tta_sweep, paired):
    others = [level for level in LEVEL_SHIFT if level != "none"]
    test = sps.ttest_rel if paired else (lambda a, b: sps.ttest_ind(a, b, equal_var=False))
    raw = {level: test(_values(level), _values("none")).pvalue for level in others}
    holm = dict(zip(others, holm_reference([raw[level] for level in others])))

    report = build_report([tta_sweep], paired=paired, versus=["eval.tta=none"])
    table = report.sections[0].table.set_index("eval.tta")
    assert table.loc["none", "reference"] and pd.isna(table.loc["none", "p"])
    assert table.index[0] == "flip"  # the rows stay ranked: the baseline is not moved to the top
    for level in others:
        assert table.loc[level, "diff"] == pytest.approx(np.mean(_values(level)) - np.mean(_values("none")), abs=1e-12)
        assert table.loc[level, "p"] == pytest.approx(raw[level], rel=1e-9)
        assert table.loc[level, "p_holm"] == pytest.approx(holm[level], rel=1e-9)
    assert "against eval.tta=none (--versus)" in " ".join(report.header())


def test_a_baseline_for_one_factor_leaves_the_others_against_their_best(tmp_path):
    path = write_sweep(tmp_path, "na", norm_act_runs(), keys=["norm", "act", "seed"])
    plain = {s.title: s.table for s in build_report([path]).sections}
    report = build_report([path], versus=["norm=none"])
    tables = {s.title: s.table for s in report.sections}
    assert tables["norm"].set_index("norm").loc["none", "reference"]
    pd.testing.assert_frame_equal(tables["act"], plain["act"])
    # A combination table (--by norm,act) has no one baseline: against its best, as before.
    combined = build_report([path], by="norm,act", versus=["norm=none"]).sections[0].table
    assert combined["reference"].iloc[0]


@pytest.mark.parametrize("versus, message", [
    (["eval.tta=nope"], "unknown --versus level of eval.tta 'nope'"),
    (["norm=none"], "unknown --versus factor 'norm'"),
    (["eval.tta"], "--versus needs factor=level"),
    (["eval.tta=none", "eval.tta=flip"], "--versus names eval.tta twice"),
])
def test_a_bad_baseline_is_one_line(tta_sweep, versus, message):
    args = ["report", str(tta_sweep)] + [a for v in versus for a in ("--versus", v)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error:") and len(result.output.strip().splitlines()) == 1, result.output
    assert message in result.output
    if "nope" in message:
        assert "five_crop" in result.output and "none" in result.output  # the levels to choose from
