"""The report tells the truth about thin or awkward stores: duplicated sweep
folders, runs without per-epoch history, levels with a single run, convergence
metrics where few runs reach the target, and `--where` filters.

Expected numbers come from the fixture's own run list and scipy, never from
the report code.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from ablate.report.build import build_report
from ablate.report.convergence import DEFAULT_FRACTION
from ablate.report.present import MISSING, cells
from helpers.report import Run, grid_runs, norm_act_runs, ramp, write_sweep

KEYS = ["norm", "act", "seed"]


def table_of(report, title: str) -> pd.DataFrame:
    return next(s.table for s in report.sections if s.title == title)


def cells_of(report, title: str) -> pd.DataFrame:
    section = next(s for s in report.sections if s.title == title)
    return cells(report, section).set_index(section.keys[0])


# -- 1. the same sweep in two folders


@pytest.fixture()
def copies(tmp_path):
    """results/a and backup/a, a copy of it: a store backed up before a rerun."""
    runs = norm_act_runs()
    original = write_sweep(tmp_path / "results", "a", runs, keys=KEYS, target=None)
    backup = tmp_path / "backup" / "a"
    shutil.copytree(original, backup)
    return original, backup, runs


def test_a_copied_sweep_counts_each_run_once(copies):
    original, backup, runs = copies
    once = build_report([original])
    twice = build_report([original, backup])  # no target set: used to crash on a non-unique index
    assert len(twice.runs) == len(runs)
    for title in ("norm", "act"):
        pd.testing.assert_frame_equal(table_of(twice, title), table_of(once, title))
    assert [s.describe() for s in twice.sweeps] == [s.describe() for s in once.sweeps]
    assert twice.header()[0].startswith("a: 23 of 24 planned runs done (partial)")
    assert f"2 folders hold the same sweep 'a': {len(runs)} duplicate runs counted once" in twice.header()
    assert twice.target.value == pytest.approx(once.target.value)
    # The per-epoch history is not doubled either (the plots' bands).
    assert len(twice.store.epochs()) == len(once.store.epochs())


def test_a_duplicate_keeps_the_finished_row(tmp_path):
    runs = [Run({"lr": lr, "seed": str(s)}, ramp(f)) for lr, f in (("0.1", 0.9), ("0.01", 0.8)) for s in range(3)]
    done = write_sweep(tmp_path / "backup", "a", runs, keys=["lr", "seed"], target=0.5)
    # The live folder was copied mid-sweep: its last run still says running.
    live_runs = [Run(dict(r.levels), r.curve, r.status, run_id=r.run_id) for r in runs]
    live_runs[-1].status = "running"
    live = write_sweep(tmp_path / "results", "a", live_runs, keys=["lr", "seed"], target=0.5)
    report = build_report([live, done])
    lr = table_of(report, "lr").set_index("lr")
    assert lr.loc["0.01", ["runs", "completed", "pending"]].tolist() == [3, 3, 0]
    assert report.header()[0].startswith("a: 6 of 6 planned runs done (complete); 6 completed")


def overlapping(tmp_path, change=None):
    """`big` runs norm × act × 3 seeds; `small`, another sweep, reran 2 of the
    seeds of two norms: the same configs, so the same run ids and numbers."""
    levels = {"norm": ["batch", "none"], "act": ["relu", "tanh"]}
    big = grid_runs(levels, 3, lambda combo, seed: ramp(0.7 + 0.1 * (combo["norm"] == "batch") + 0.01 * seed))
    for i, run in enumerate(big):
        run.run_id = f"id{i:03d}"
    shared = [r for r in big if r.levels["seed"] != "2"]
    small = [Run(dict(r.levels), list(r.curve), r.status, run_id=r.run_id) for r in shared]
    if change:
        change(small)
    a = write_sweep(tmp_path, "norm-vs-act", big, keys=KEYS, target=0.5, run_dirs=True)
    b = write_sweep(tmp_path, "progress", small, keys=KEYS, target=0.5, run_dirs=True)
    return a, b, big, small


def test_sweeps_sharing_run_ids_count_each_run_once(tmp_path):
    a, b, big, small = overlapping(tmp_path)
    alone, both = build_report([a]), build_report([a, b])
    assert len(both.runs) == len(big) and both.runs["run_id"].is_unique
    for title in ("norm", "act"):
        table = table_of(both, title)
        assert table["runs"].sum() == len(big)  # 12 distinct runs, not 12 + 8
        pd.testing.assert_frame_equal(table, table_of(alone, title))
    assert (f"sweeps 'norm-vs-act' and 'progress' share {len(small)} runs (same run ids and numbers): "
            f"{len(small)} duplicates merged, each counted once (under 'norm-vs-act')") in both.header()
    # Each sweep's own line still counts the runs it ran.
    assert both.header()[1].startswith(f"progress: {len(small)} of {len(small)} planned runs done (complete)")
    assert len(both.store.epochs()) == len(alone.store.epochs())  # the curves are not doubled either
    assert both.importance.table.equals(alone.importance.table)


def test_shared_run_ids_with_different_numbers_are_left_out_and_said(tmp_path):
    def retrained(small):  # one run retrained elsewhere: same id, another result
        small[0].curve = ramp(0.55)

    a, b, big, small = overlapping(tmp_path, retrained)
    report = build_report([a, b])
    rid = small[0].run_id
    assert rid not in set(report.runs["run_id"])  # neither copy is used
    assert len(report.runs) == len(big) - 1
    note = next(n for n in report.header() if "different results" in n)
    assert note.startswith(f"1 run has different results in different folders (run {rid}: test_acc ")
    assert f"{max(big[0].curve):.4f} in 'norm-vs-act'" in note and f"{max(small[0].curve):.4f} in 'progress'" in note
    merged = f"share {len(small) - 1} runs (same run ids and numbers)"
    assert any(merged in n for n in report.header())


# -- 2. re-scoring without per-epoch history


def test_no_history_means_time_to_target_unknown(tmp_path):
    runs = norm_act_runs()
    path = write_sweep(tmp_path, "bare", runs, keys=KEYS, target=None, epochs_csv=False, run_dirs=False)
    report = build_report([path])
    completed = sum(r.status == "completed" for r in runs)
    assert f"no per-epoch history for {completed} runs: time-to-target unknown" in report.header()
    shown = cells_of(report, "norm")
    assert (shown["reached target"] == MISSING).all()  # not 0/6: nobody knows
    table = table_of(report, "norm")
    assert (table["target_known"] == 0).all() and (table["epochs_to_target_n"] == 0).all()


def test_some_runs_without_history_leave_the_denominator(tmp_path):
    runs = [Run({"lr": lr, "seed": str(s)}, ramp(f)) for lr, f in (("0.1", 0.9), ("0.01", 0.6)) for s in range(3)]
    path = write_sweep(tmp_path, "a", runs, keys=["lr", "seed"], target=None, epochs_csv=False, run_dirs=True)
    (path / "runs" / runs[0].run_id / "history.csv").unlink()
    report = build_report([path])
    assert "no per-epoch history for 1 runs: time-to-target unknown" in report.header()
    shown = cells_of(report, "lr")
    # target = 95% of 0.9: lr=0.1 runs reach it, lr=0.01 runs (0.6) never do.
    assert shown.loc["0.1", "reached target"] == "2/2, 1 unknown"
    assert shown.loc["0.01", "reached target"] == "0/3"


# -- 3. a level with one completed run is not the reference


def lr_runs(single: float = 0.95) -> list[Run]:
    """lr 0.1 and 0.01 with three seeds each; lr 1.0 has one completed run (the
    highest) and two failed ones."""
    acc = {"0.1": [0.90, 0.91, 0.905], "0.01": [0.85, 0.86, 0.845], "1.0": [single, 0.0, 0.0]}
    runs = []
    for lr, finals in acc.items():
        for s, final in enumerate(finals):
            failed = lr == "1.0" and s > 0
            runs.append(Run({"lr": lr, "seed": str(s)}, [] if failed else ramp(final),
                            "failed" if failed else "completed"))
    return runs


def test_single_run_level_is_not_the_reference(tmp_path):
    runs = lr_runs()
    report = build_report([write_sweep(tmp_path, "lr", runs, keys=["lr", "seed"], target=0.5)])
    table = table_of(report, "lr")
    assert table["lr"].tolist() == ["0.1", "0.01", "1.0"]  # the reference first, the unranked last
    assert table["rank"].tolist()[:2] == [1, 2] and pd.isna(table["rank"].iloc[2])
    best = [max(r.curve) for r in runs if r.levels["lr"] == "0.1"]
    other = [max(r.curve) for r in runs if r.levels["lr"] == "0.01"]
    p = sps.ttest_ind(other, best, equal_var=False).pvalue
    assert table.set_index("lr").loc["0.01", "p_holm"] == pytest.approx(p, rel=1e-9)  # one comparison
    assert pd.isna(table.set_index("lr").loc["1.0", "p_holm"])
    assert "lr=1.0 has 1 completed run: no interval, not ranked" in report.header()
    assert cells_of(report, "lr").loc["0.01", "p (Holm)"] != MISSING


def test_only_single_run_levels_still_rank_by_mean(tmp_path):
    runs = [Run({"lr": lr, "seed": "0"}, ramp(f)) for lr, f in (("0.1", 0.8), ("1.0", 0.9))]
    report = build_report([write_sweep(tmp_path, "lr", runs, keys=["lr", "seed"], target=0.5)])
    table = table_of(report, "lr")
    assert table["lr"].tolist() == ["1.0", "0.1"] and table["rank"].tolist() == [1, 2]
    assert any("have 1 completed run each" in line and "no level has 2" in line for line in report.header())


# -- 4. intervals plot: one run has no error bar


def test_interval_plot_draws_no_bar_for_a_single_run(tmp_path):
    from ablate.report.plots import interval_figure

    report = build_report([write_sweep(tmp_path, "lr", lr_runs(), keys=["lr", "seed"], target=0.5)])
    [ax] = interval_figure(report, "best_val_acc").axes
    [bars] = ax.containers
    # One horizontal bar per level with an interval (0.1, 0.01), none for lr=1.0 (a single run).
    segments = bars.lines[2][0].get_segments()
    assert len(segments) == 2
    hollow = [line for line in ax.get_lines() if line.get_markerfacecolor() == "none"]
    assert len(hollow) == 1 and hollow[0].get_xdata()[0] == pytest.approx(0.95)


# -- 5. convergence metrics rank by a median that counts the runs that never reached the target


def test_convergence_ranks_by_censored_median(tmp_path):
    def reach_at(epoch: int | None) -> list[float]:
        return [0.5 if epoch is None or e < epoch else 0.85 for e in range(1, 11)]

    runs = [Run({"optim": "sgd", "seed": str(s)}, reach_at(7 if s == 0 else None)) for s in range(5)]
    runs += [Run({"optim": "adam", "seed": str(s)}, reach_at(8)) for s in range(5)]
    path = write_sweep(tmp_path, "optim", runs, keys=["optim", "seed"], target=0.8)
    report = build_report([path], metric="epochs_to_target")
    table = table_of(report, "optim")
    assert table["optim"].tolist() == ["adam", "sgd"] and table["rank"].tolist() == [1, 2]
    assert any("Kaplan–Meier median epochs to target, runs that never reached it" in line for line in report.header())
    # sgd's one run at epoch 7 is faster than any of adam's, but 4 of 5 never get there
    assert np.isnan(table.loc[1, "epochs_to_target_median"]) and table.loc[0, "epochs_to_target_median"] == 8
    shown = cells_of(report, "optim")
    assert shown.loc["adam", "reached target"] == "5/5" and shown.loc["sgd", "reached target"] == "1/5"


# -- 6. the default target does not move with --where


def test_default_target_is_chosen_before_where(tmp_path):
    runs = norm_act_runs()
    path = write_sweep(tmp_path, "s", runs, keys=KEYS, target=None)
    whole = build_report([path])
    part = build_report([path], where=["norm=none"])
    best = max(max(r.curve) for r in runs if r.status == "completed")
    assert part.target.value == pytest.approx(DEFAULT_FRACTION * best) == whole.target.value
    merged = part.runs.merge(whole.runs, on=["sweep", "run_id"], suffixes=("", "_whole"))
    np.testing.assert_array_equal(merged["epochs_to_target"], merged["epochs_to_target_whole"])


# -- 7. display: ties and single runs


def test_a_tie_with_the_best_shows_zero_and_one_run_shows_its_n(tmp_path):
    runs = [Run({"lr": lr, "seed": str(s)}, ramp(0.9 + 0.01 * s)) for lr in ("0.1", "0.2") for s in range(2)]
    runs.append(Run({"lr": "1.0", "seed": "0"}, ramp(0.87)))
    report = build_report([write_sweep(tmp_path, "lr", runs, keys=["lr", "seed"], target=0.5)])
    shown = cells_of(report, "lr")
    delta = "Δ test acc"  # the default ranking: test acc at the best-val epoch (the helper's test curve = val's)
    assert shown.loc["0.1", delta] == MISSING  # the reference itself
    assert shown.loc["0.2", delta] == "+0.0000"  # tied with it
    assert shown.loc["1.0", "test acc"] == "0.8700 (n=1)"
    assert shown.loc["1.0", delta] == "−0.0350"  # 0.87 − mean(0.90, 0.91)


# -- 8. results formats: numbers that mean something else are never mixed in


OLD = {"results_format": "", "test_acc": "", "final_test_acc": ""}  # a runs.csv row from before the test split


def test_old_format_runs_are_left_out_beside_new_ones_and_named(tmp_path):
    new = [Run({"norm": n, "seed": str(s)}, ramp(0.9 if n == "batch" else 0.8)) for n in ("none", "batch")
           for s in range(2)]
    old = [Run({"norm": n, "seed": str(s)}, ramp(0.99), extra=dict(OLD)) for n in ("none", "batch")
           for s in range(2, 4)]
    report = build_report([write_sweep(tmp_path, "mixed", new + old, keys=["norm", "seed"])])
    assert report.rank_by.column == "test_acc"
    assert len(report.runs) == 4 and set(report.runs["seed"]) == {"0", "1"}
    assert any("left out 4 runs in results format 1" in n for n in report.notes), report.notes
    shown = table_of(report, "norm").set_index("norm")
    assert shown.loc["batch", "test_acc_mean"] == pytest.approx(0.9)  # the old 0.99s are not in the mean


def test_old_format_runs_alone_rank_by_best_val_acc_and_say_so(tmp_path):
    old = [Run({"norm": n, "seed": str(s)}, ramp(0.9 if n == "batch" else 0.8), extra=dict(OLD))
           for n in ("none", "batch") for s in range(2)]
    report = build_report([write_sweep(tmp_path, "old", old, keys=["norm", "seed"])])
    assert report.rank_by.column == "best_val_acc" and len(report.runs) == 4
    assert any("results format 1" in n and "ranks them by best_val_acc" in n for n in report.notes)
    explicit = build_report([tmp_path / "old"], metric="test_acc")
    assert explicit.rank_by.column == "test_acc"  # asked for by name: no substitution


def test_failed_and_pending_runs_count_whatever_their_format(tmp_path):
    runs = [Run({"norm": "none", "seed": "0"}, ramp(0.8)), Run({"norm": "batch", "seed": "0"}, ramp(0.9)),
            Run({"norm": "batch", "seed": "1"}, [], status="failed", extra={"results_format": ""}),
            Run({"norm": "none", "seed": "1"}, [], status="queued", extra={"results_format": ""})]
    report = build_report([write_sweep(tmp_path, "s", runs, keys=["norm", "seed"])])
    assert len(report.runs) == 4 and not any("results format" in n for n in report.notes)


# -- runs from different machines read together


def _mixed(tmp_path, base: dict, other: dict, status: str = "completed"):
    """norm × seed, 3 seeds, with `base`'s runs.csv cells; the seed-2 runs carry `other`'s and `status`."""
    runs = [Run({"norm": n, "seed": str(s)}, ramp(0.8 + 0.05 * (n == "batch")),
                status if s == 2 else "completed", extra=other if s == 2 else base)
            for n in ("none", "batch") for s in range(3)]
    write_sweep(tmp_path, "m", runs, keys=["norm", "seed"])
    return [n for n in build_report([tmp_path / "m"]).notes if "the runs differ in" in n]


def test_runs_on_different_devices_and_precisions_are_named(tmp_path):
    """A sweep resumed on a GPU node after starting on a laptop (precision=auto
    resolves per machine, under the same run id): its times compare machines."""
    [note] = _mixed(tmp_path, {}, {"device": "cuda:0", "precision": "bf16"})
    assert "device (cpu: 4, cuda: 2)" in note and "precision (fp32: 4, bf16: 2)" in note
    assert "seconds columns compare machines as well as settings, and bf16 or fp16 runs round" in note


@pytest.mark.parametrize("base, other, status", [
    ({"device": "cuda:0"}, {"device": "cuda:1"}, "completed"),  # two GPUs of one node: one kind of machine
    ({}, {"precision": ""}, "completed"),  # a run written before runs.csv had the column
    ({}, {"device": "cuda:0", "precision": "bf16"}, "failed"),  # a failed run carries no numbers to compare
])
def test_no_hardware_note_when_the_scored_runs_agree(tmp_path, base, other, status):
    assert _mixed(tmp_path, base, other, status) == []


def test_a_device_difference_alone_is_about_time_not_rounding(tmp_path):
    [note] = _mixed(tmp_path, {}, {"device": "cuda:0"})  # fp32 on both machines
    assert "device (cpu: 4, cuda: 2)" in note and "precision" not in note and "round" not in note
