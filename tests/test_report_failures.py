"""Runs that did not learn stay in the table: the ranking accuracy over every
finished run (diverged, collapsed, failed ones at chance) beside the completed
runs' mean; and the convergence target is a fixed default per dataset, so it
does not move when an arm is added.

Expected numbers come from the fixture's run list, by hand, never from report code.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from ablate.report.build import build_report
from ablate.report.present import cells, column_groups
from helpers.report import Run, ramp, write_sweep


def lr_runs() -> list[Run]:
    """lr=0.1: two runs at 0.95, one diverged; lr=0.01: three at 0.90. Completed means rank
    0.1 first; counted over all runs (the diverged one at chance, 1/10) 0.01 is ahead."""
    runs = [Run({"lr": "0.1", "seed": str(s)}, ramp(0.95), extra={"classes": 10}) for s in range(2)]
    runs.append(Run({"lr": "0.1", "seed": "2"}, ramp(0.5), status="diverged", extra={"classes": 10}))
    runs += [Run({"lr": "0.01", "seed": str(s)}, ramp(0.90 + s / 1000), extra={"classes": 10}) for s in range(3)]
    return runs


def test_a_level_with_a_diverged_run_shows_both_means(tmp_path):
    path = write_sweep(tmp_path, "lr", lr_runs(), keys=["lr", "seed"], target=0.8)
    report = build_report([path], metric="best_val_acc")
    table = report.sections[0].table.set_index("lr")
    assert table.loc["0.1", "rank"] == 1 and table.loc["0.1", "best_val_acc_mean"] == pytest.approx(0.95)
    every = [0.95, 0.95, 0.1]  # the diverged run scored at chance
    assert table.loc["0.1", "all_runs_mean"] == pytest.approx(np.mean(every))
    low, high = sps.t.interval(0.95, 2, loc=np.mean(every), scale=sps.sem(every))
    assert (table.loc["0.1", "all_runs_low"], table.loc["0.1", "all_runs_high"]) == (pytest.approx(low),
                                                                                      pytest.approx(high))
    assert table.loc["0.01", "all_runs_mean"] == pytest.approx(table.loc["0.01", "best_val_acc_mean"])
    shown = cells(report, report.sections[0]).set_index("lr")
    assert shown.loc["0.1", "best val acc, all runs"].startswith("0.6667 ± ")
    # Said which ranks, and that the other mean would rank another level first.
    header = " ".join(report.header())
    assert "'best val acc, all runs': every finished run" in header and "ranking uses completed runs only" in header
    assert any("lr=0.01 would rank first on best val acc" in n and "lr=0.1's 0.6667" in n for n in report.notes)
    # In the first of the page-sized column groups, beside the ranking metric.
    [(_, first), *_] = column_groups(report, report.sections[0])
    headers = list(cells(report, report.sections[0]).columns)
    assert "best val acc, all runs" in [headers[i] for i in first]


def test_chance_of_a_run_without_classes_is_its_sweeps(tmp_path):
    """A failed run has no summary: it is scored at the chance its sweep's other runs state."""
    runs = lr_runs()
    runs[2] = Run({"lr": "0.1", "seed": "2"}, [], status="failed")
    path = write_sweep(tmp_path, "lr", runs, keys=["lr", "seed"], target=0.8)
    table = build_report([path], metric="best_val_acc").sections[0].table.set_index("lr")
    assert table.loc["0.1", "failed"] == 1
    assert table.loc["0.1", "all_runs_mean"] == pytest.approx(np.mean([0.95, 0.95, 0.1]))


def test_no_failures_no_second_column(tmp_path):
    runs = [r for r in lr_runs() if r.status == "completed"]
    path = write_sweep(tmp_path, "lr", runs, keys=["lr", "seed"], target=0.8)
    report = build_report([path])
    assert not any("all runs" in c for c in cells(report, report.sections[0]).columns)
    assert not any("all runs" in line for line in report.header())


def digits_runs(arms: dict[str, float], target: float) -> list[Run]:
    return [Run({"arm": arm, "seed": str(s)}, ramp(final + s / 1000, epochs=10),
                extra={"classes": 10, "target_from": "data.target"}) for arm, final in arms.items() for s in range(3)]


def test_the_default_target_does_not_move_when_an_arm_is_added(tmp_path):
    """Runs measured against their dataset's data.target: adding a far better arm leaves
    the target, and the first arm's epochs to target, as they were (the old default,
    95 % of the best run, would have moved from 0.855 to 0.9405)."""
    one = write_sweep(tmp_path, "one", digits_runs({"a": 0.9}, 0.89), keys=["arm", "seed"], target=0.89)
    two = write_sweep(tmp_path, "two", digits_runs({"a": 0.9, "b": 0.99}, 0.89), keys=["arm", "seed"], target=0.89)
    before, after = build_report([one]), build_report([two])
    assert before.target.value == after.target.value == 0.89
    assert not after.target.rescored and "data.target" in after.target.describe()
    a_before = before.sections[0].table.iloc[0]
    a_after = after.sections[0].table.set_index("arm").loc["a"]
    assert a_before["epochs_to_target_median"] == a_after["epochs_to_target_median"]
    assert "target accuracy 0.8900 (the dataset's fixed default, data.target" in " ".join(after.header())
