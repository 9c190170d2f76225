"""`ablate sweep --fraction K`: a balanced 1/K of the grid's cells, every seed of
each, chosen the same way every time; its aliases in the plan and in sweep.yaml;
bad K values refused in one line with the nearest K that fits."""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ablate.errors import ConfigError
from ablate.sweep.driver import write_sweep_yaml
from ablate.sweep.fraction import fractional
from ablate.sweep.plan import make_plan

FAST = ["epochs=1", "device=cpu"]
FOUR = ["norm=none,batch", "act=relu,tanh", "init=kaiming_normal,xavier_uniform", "model.pool=max,avg"]


def cells(plan, keys):
    return Counter(tuple(p.factors[k] for k in keys) for p in plan.runs)


def test_a_half_of_four_two_level_factors_is_balanced_with_every_seed():
    plan = make_plan([*FOUR, "seed=0,1,2", *FAST])
    half = fractional(plan, 2)
    keys = ["norm", "act", "init", "model.pool"]
    chosen = cells(half, keys)
    assert len(chosen) == 8 and set(chosen.values()) == {3}  # 8 of 16 cells, 3 seeds each
    for k in keys:  # every level of every factor equally often
        assert set(Counter(p.factors[k] for p in half.runs).values()) == {12}
    for a, b in itertools.combinations(keys, 2):  # resolution IV: every pair of levels of two factors, equally
        assert set(Counter((p.factors[a], p.factors[b]) for p in half.runs).values()) == {6}
    again = fractional(make_plan([*FOUR, "seed=0,1,2", *FAST]), 2)
    assert [p.run_id for p in again.runs] == [p.run_id for p in half.runs]  # the same cells every time


def test_the_plan_and_sweep_yaml_say_what_is_aliased(tmp_path):
    half = fractional(make_plan([*FOUR, *FAST]), 2)
    note = half.notes[-1]
    assert note.startswith("fraction 1/2 (resolution IV, I = ABCD with A=norm, B=act, C=init, D=model.pool)")
    assert "norm × act aliased with init × model.pool" in note
    write_sweep_yaml(tmp_path, half, "ablate sweep ... --fraction 2")
    record = yaml.safe_load((tmp_path / "sweep.yaml").read_text(encoding="utf-8"))
    design = record["design"]
    assert design["fraction"] == 2 and design["cells"] == 8 and design["of"] == 16 and design["resolution"] == 4
    assert design["defining_relation"] == "I = ABCD" and design["generators"] == ["D = ABC"]
    assert "norm × act = init × model.pool" in design["aliases"]
    assert record["planned"] == 8 and record["grids"][-1]["design"] == design


def test_options_of_one_level_are_folded_into_their_group_before_the_fraction():
    # norm=batch has no norm.groups: batch, group/1, group/2 are the three levels of one design factor.
    plan = make_plan(["model=convnet", "norm=batch,group", "norm.groups=1,2", "act=relu,tanh,gelu",
                      "init=kaiming_normal,xavier_uniform", "seed=0,1", *FAST])
    third = fractional(plan, 3)
    chosen = cells(third, ["norm", "norm.groups", "act", "init"])
    assert len(chosen) == 6 and set(chosen.values()) == {2}  # 18 distinct cells → 6, 2 seeds each
    assert set(Counter((p.factors["norm"], p.factors["norm.groups"]) for p in third.runs).values()) == {4}
    assert set(Counter(p.factors["act"] for p in third.runs).values()) == {4}
    assert set(Counter(p.factors["init"] for p in third.runs).values()) == {6}
    assert "generalized subset design" in third.notes[-1] and third.record["design"]["kind"] == "gsd"


@pytest.mark.parametrize(("args", "message"), [
    (["--fraction", "3"], "--fraction 3 does not fit this grid (norm 2 × act 2 × init 2 × model.pool 2): "
                          "K must be a power of two for two-level factors; the nearest that fits is --fraction 2"),
    (["--fraction", "4"], "--fraction 4 does not fit this grid (norm 2 × act 2 × init 2 × model.pool 2): "
                          "1/4 of the 16 cells is fewer than the 5 it takes to estimate every main effect; "
                          "the nearest that fits is --fraction 2"),
])
def test_a_fraction_the_grid_cannot_support_is_one_line_and_exit_2(cli, args, message):
    result = cli("sweep", *FOUR, *FAST, *args)
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {message}"
    assert not Path("results").exists()  # nothing half-written


def test_a_fraction_of_one_factor_is_refused(cli):
    result = cli("sweep", "norm=none,batch", "seed=0,1,2,3", *FAST, "--fraction", "2")
    assert result.exit_code == 2 and "needs two or more factors besides seed; this grid has 1: norm" in result.output


def test_labels_of_one_run_are_one_level_and_a_grid_with_a_hole_is_no_factorial():
    merged = fractional(make_plan(["optim.lr=0.1,1e-1,0.2,0.3", "act=relu,tanh", "norm=none,batch", *FAST]), 2)
    assert merged.record["design"]["of"] == 12  # 0.1 and 1e-1 are one run: 3 levels of optim.lr, not 4
    plan = make_plan(["norm=none,batch", "act=relu,tanh,gelu", *FAST])
    holed = dataclasses.replace(plan, runs=plan.runs[1:])  # as if two labels had made one cell the same run
    with pytest.raises(ConfigError, match="1 cells of this grid are the same run as another"):
        fractional(holed, 2)


def test_dry_run_prints_the_aliases_and_the_fraction(cli):
    result = cli("sweep", *FOUR, "seed=0,1", *FAST, "--fraction", "2", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "norm × act aliased with init × model.pool" in result.output
    assert "16 runs planned (fraction 1/2: 8 of the grid's 16 cells)" in " ".join(result.output.split())


@pytest.mark.slow
def test_a_fractional_sweep_resumes_retries_and_reports_only_what_it_separates(cli, monkeypatch):
    import ablate.runner.run

    args = ["sweep", "--name", "half", "-w", "1", *FOUR, "seed=0,1", *FAST, "--fraction", "2"]
    real = ablate.runner.run.build_model

    def flaky(model, norm, act, *rest):
        if norm.name == "batch" and act.name == "tanh":
            raise RuntimeError("batch × tanh exploded")
        return real(model, norm, act, *rest)

    monkeypatch.setattr(ablate.runner.run, "build_model", flaky)
    first = cli(*args)
    assert first.exit_code == 0, first.output
    assert "16 runs: 12 completed, 4 failed" in first.output
    monkeypatch.setattr(ablate.runner.run, "build_model", real)
    again = cli(*args)
    assert "16 runs: 12 already done, 4 failed before" in again.output  # the same cells, nothing re-run
    retried = cli(*args, "--retry-failed")
    assert "16 runs: 16 completed" in retried.output
    runs = pd.read_csv("results/half/runs.csv")
    assert len(runs) == 16 and runs.groupby(["norm", "act", "init", "model.pool"]).size().eq(2).all()
    report = cli("report", "results/half", "--format", "json")
    assert report.exit_code == 0, report.output
    import json

    document = json.loads(report.stdout)
    importance = document["importance"]
    assert {e["effect"] for e in importance["effects"]} == {"norm", "act", "init", "model.pool"}
    assert set(importance["aliased"]) == {"norm × act", "norm × init", "norm × model.pool", "act × init",
                                          "act × model.pool", "init × model.pool"}
    assert any("half ran 1/2 of its grid's cells (8 of 16): a resolution IV" in n for n in document["notes"])
