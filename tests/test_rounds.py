"""`ablate sweep --seeds-until W`: seeds added one per cell per round until every
level's 95 % interval is ±W or narrower, or --max-seeds; the widths are the
report's own intervals; re-running the command resumes the rounds."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as sps

from ablate.errors import ConfigError
from statsmodels.stats.power import TTestIndPower

from ablate.report.precision import lowest_power, widest
from ablate.sweep.rounds import PowerGoal, SeedRounds, Width, WidthGoal, parse_goal, run_rounds, seeded_plan

FAST = ["epochs=1", "device=cpu"]


def seeds_of(plan) -> list[int]:
    return sorted({p.config.seed for p in plan.runs})


@pytest.mark.parametrize(("given", "start", "all_seeds"), [
    ([], [0, 1, 2], [0, 1, 2, 3, 4, 5]),
    (["seed=0,1,2,3"], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5]),
    (["seed=5"], [5, 6, 7], [5, 6, 7, 8, 9, 10]),
    (["seed=4,2"], [4, 2], [4, 2, 5, 6, 7, 8]),
])
def test_the_first_round_runs_the_grids_seeds_or_three(given, start, all_seeds):
    plan, rounds = seeded_plan(["norm=none,batch", *given, *FAST], None, 1000, 0.01, 6, "best_val_acc")
    assert list(rounds.seeds) == all_seeds and rounds.start == len(start)
    first = rounds.cut(plan, rounds.start)
    assert seeds_of(first) == sorted(start) and len(first.runs) == 2 * len(start)
    assert first.grid["seed"] == [str(s) for s in start] and "seed" in first.factors
    assert first.record["seeds_until"]["seeds_per_cell"] == len(start)


def test_each_round_gives_every_cell_one_seed_more_until_the_width_is_reached():
    plan, rounds = seeded_plan(["norm=none,batch", "act=relu,tanh", *FAST], None, 1000, 0.01, 8, "best_val_acc")
    ran, heard = [], []
    widths = iter([0.05, 0.02, 0.009, 0.001])

    def run(p):
        ran.append(Counter((r.factors["norm"], r.factors["act"]) for r in p.runs))
        return Counter(completed=len(p.runs))

    outcome = run_rounds(plan, rounds, run, lambda p: Width(next(widths), "norm=none"),
                         on_round=lambda n, w: heard.append(n))
    assert [set(c.values()) for c in ran] == [{3}, {4}, {5}]  # every cell, one seed more per round
    assert outcome.reached and outcome.seeds == 5 and heard == [3, 4]


def test_the_rounds_stop_at_max_seeds_and_say_it_was_not_reached():
    plan, rounds = seeded_plan(["norm=none,batch", *FAST], None, 1000, 0.01, 4, "best_val_acc")
    sizes = []
    outcome = run_rounds(plan, rounds, lambda p: sizes.append(len(p.runs)) or Counter(),
                         lambda p: Width(float("nan"), "norm=none"))
    assert sizes == [6, 8] and outcome.seeds == 4 and not outcome.reached


@pytest.mark.parametrize(("args", "message"), [
    (["--seeds-until", "0"], "--seeds-until 0.0 must be a number above 0"),
    (["--seeds-until", "inf"], "--seeds-until inf must be a number above 0"),
    (["--seeds-until", "0.01", "--max-seeds", "99999999999"], "--max-seeds 99999999999: "),
    (["--seeds-until", "0.01", "--max-seeds", "3", "seed=0,1,2,3"], "--max-seeds 3 is fewer than the 4 seeds"),
    (["--max-seeds", "5"], "--max-seeds goes with --seeds-until W"),
    (["--metric", "final_val_acc"], "--metric goes with --seeds-until W"),
    (["--seeds-until", "0.01", "--metric", "epochs_to_target"], "--metric epochs_to_target is missing for runs"),
    (["--seeds-until", "0.01", "--metric", "best_val_ac"], "unknown metric 'best_val_ac'; did you mean 'best_val_acc'?"),
    (["--seeds-until", "wide"], "--seeds-until 'wide': --seeds-until takes W"),
    (["--seeds-until", "power=1.5"], "power must be in (0, 1)"),
    (["--seeds-until", "power=0.8,margn=0.01"], "unknown margn"),
])
def test_bad_seed_options_are_one_line_and_exit_2(cli, args, message):
    result = cli("sweep", "norm=none,batch", *FAST, *args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message in result.output and result.output.count("\n") == 1
    assert not Path("results").exists()


@pytest.mark.parametrize(("text", "goal"), [
    ("0.01", WidthGoal(0.01)), (0.02, WidthGoal(0.02)), ("power=0.8", PowerGoal(0.8, 0.01)),
    ("power=0.9,margin=0.02", PowerGoal(0.9, 0.02)),
])
def test_the_goal_is_a_width_or_a_power(text, goal):
    assert parse_goal(text) == goal


def test_the_rounds_stop_when_every_comparison_has_the_power_asked():
    plan, rounds = seeded_plan(["norm=none,batch", *FAST], None, 1000, "power=0.8", 8, "best_val_acc")
    powers = iter([0.3, 0.79, 0.81])
    outcome = run_rounds(plan, rounds, lambda p: Counter(completed=len(p.runs)),
                         lambda p: Width(next(powers), "norm=none vs batch"))
    assert outcome.reached and outcome.seeds == 5
    assert rounds.describe(5, outcome.widest) == {"power": 0.8, "margin": 0.01, "metric": "best_val_acc",
                                                  "max_seeds": 8, "seeds_per_cell": 5, "lowest_power": 0.81,
                                                  "lowest_power_level": "norm=none vs batch", "reached": True}


def test_the_lowest_power_is_statsmodels_power_at_the_pooled_sd():
    rng = np.random.default_rng(5)
    runs = pd.DataFrame({"norm": np.repeat(["none", "batch", "group"], 4), "status": "completed",
                         "best_val_acc": np.r_[rng.normal(0.90, 0.01, 4), rng.normal(0.95, 0.004, 4),
                                               rng.normal(0.94, 0.03, 4)]})
    power, where = lowest_power(runs, ["norm"], "best_val_acc", 0.01)
    x = {k: g.best_val_acc.to_numpy() for k, g in runs.groupby("norm")}

    def expected(a, b):
        sd = np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
        return TTestIndPower().power(effect_size=0.01 / sd, nobs1=len(a), alpha=0.05, ratio=len(b) / len(a))

    best = max(x, key=lambda k: x[k].mean())
    by_level = {f"norm={k} vs {best}": expected(x[k], x[best]) for k in x if k != best}
    assert where == min(by_level, key=by_level.get) and power == pytest.approx(min(by_level.values()))
    thin = runs.iloc[:9]  # group has one run: no variance, no power yet
    assert np.isnan(lowest_power(thin, ["norm"], "best_val_acc", 0.01)[0])


def test_the_widest_interval_is_the_reports_student_t_interval():
    rng = np.random.default_rng(3)
    runs = pd.DataFrame({"norm": np.repeat(["none", "batch"], 5), "act": np.tile(["relu", "tanh"], 5),
                         "status": "completed", "best_val_acc": rng.normal(0.9, 0.02, 10)})
    runs.loc[9, "status"] = "failed"  # not counted
    found = widest(runs, ["norm", "act"], "best_val_acc")
    done = runs[runs.status == "completed"]
    halves = {}
    for factor in ("norm", "act"):
        for level, group in done.groupby(factor):
            x = group.best_val_acc.to_numpy()
            halves[f"{factor}={level}"] = sps.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    label, half = max(halves.items(), key=lambda kv: kv[1])
    assert found.label == label and found.halfwidth == pytest.approx(half)
    one = runs.iloc[:6].assign(norm=["none"] * 5 + ["batch"])  # batch has one run: no interval yet
    assert np.isnan(widest(one, ["norm"], "best_val_acc").halfwidth)


def test_the_dry_run_shows_the_first_round_and_what_follows(cli):
    result = cli("sweep", "norm=none,batch", *FAST, "--seeds-until", "0.01", "--max-seeds", "5", "--dry-run")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "6 runs planned" in text
    assert ("then one seed more per cell per round (3, 4), up to 5 per cell, until test_acc reaches "
            "±0.01") in text  # test_acc: the report's default metric
    power = cli("sweep", "norm=none,batch", *FAST, "--seeds-until", "power=0.8,margin=0.02", "--dry-run")
    assert "until test_acc reaches power 80% at ±0.02" in " ".join(power.output.split())


@pytest.mark.slow
def test_seeds_until_runs_rounds_records_them_and_resumes(cli):
    args = ["sweep", "--name", "s", "-w", "1", "norm=none,batch", *FAST, "--max-seeds", "4"]
    wide = cli(*args, "--seeds-until", "1e-9")  # never narrow enough: every round, to --max-seeds
    assert wide.exit_code == 0, wide.output
    assert "round of 3 seeds per cell (0, 1, 2)" in wide.output
    assert "seeds until ±1e-09: not reached; stopped at --max-seeds 4 seeds per cell" in wide.output
    runs = pd.read_csv("results/s/runs.csv")
    assert runs.groupby("norm")["seed"].nunique().eq(4).all()  # the seeds each cell got, in runs.csv
    record = yaml.safe_load(Path("results/s/sweep.yaml").read_text(encoding="utf-8"))
    assert record["seeds_until"]["seeds_per_cell"] == 4 and record["seeds_until"]["reached"] is False
    assert len(record["grids"]) == 1  # the rounds are one grid, not one per round

    loose = cli(*args, "--seeds-until", "0.5")  # reached after the first round, which is done already
    assert "6 runs: 6 already done" in loose.output and "reached with 3 seeds per cell" in loose.output
    again = cli(*args, "--seeds-until", "1e-9")  # the same command again: every round done, nothing re-run
    assert again.output.count("already done; running 0") == 2
    report = json.loads(cli("report", "results/s", "--format", "json").stdout)
    assert any("not reached by --max-seeds 4" in n for n in report["notes"])
