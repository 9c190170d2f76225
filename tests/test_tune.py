"""`ablate sweep --tune KEY=GRID --budget K --rerun-seeds N`: plan, bad input, selection on val only, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from ablate.api.runs import prepare_sweep, run_sweep
from ablate.data.registry import DATASETS, Dataset
from ablate.errors import ConfigError
from ablate.store.rundir import RunDir

GRID = ["norm=none,batch", "epochs=2", "device=cpu", "diagnostics=off"]
TUNE = dict(tune=["optim.lr=0.01,0.1,0.5"], budget=2, rerun_seeds=2)
FLAGS = ["--tune", "optim.lr=0.01,0.1,0.5", "--budget", "2", "--rerun-seeds", "2"]


# -- the plan


def test_plan_tries_budget_settings_per_cell_sampled_alike(tmp_path):
    setup = prepare_sweep(GRID, results=tmp_path, **TUNE)
    tuning = setup.tuning
    assert [c.label for c in tuning.cells] == [{"norm": "none"}, {"norm": "batch"}]
    # 3 settings > budget 2: a seeded sample, the same two for every cell (their grids are the same).
    points = [c.points for c in tuning.cells]
    assert len(points[0]) == 2 and points[0] == points[1]
    assert all(c.space == 3 for c in tuning.cells)
    assert len(setup.plan.runs) == 4 and tuning.runs == 4 + 2 * 2
    assert {p.config.seed for p in setup.plan.runs} == {0} and tuning.rerun_seeds == (1, 2)
    assert {p.role for p in setup.plan.runs} == {"tune"}
    again = prepare_sweep(GRID, results=tmp_path, **TUNE)
    assert [c.points for c in again.tuning.cells] == points and again.sweep_dir == setup.sweep_dir


def test_a_grid_within_budget_is_tried_whole_and_run_ids_are_the_plain_runs(tmp_path):
    setup = prepare_sweep(GRID, results=tmp_path, tune=["optim.lr=0.01,0.1"], budget=5, rerun_seeds=1)
    assert [p["optim.lr"] for p in setup.tuning.cells[0].points] == ["0.01", "0.1"]
    # A tuning run is an ordinary run: the same id as the untuned sweep's run of that config.
    plain = prepare_sweep([*GRID, "optim.lr=0.01,0.1", "seed=0"], results=tmp_path)
    assert {p.run_id for p in setup.plan.runs} == {p.run_id for p in plain.plan.runs}
    assert setup.sweep_dir != plain.sweep_dir  # a tuned sweep has a folder of its own


def test_an_option_of_one_level_is_tuned_in_that_level_only(tmp_path):
    setup = prepare_sweep(["init=kaiming_normal,normal", "epochs=1"], results=tmp_path,
                          tune=["init.std=0.01,0.1"], budget=4, rerun_seeds=1)
    by = {c.label["init"]: c for c in setup.tuning.cells}
    assert by["normal"].points == [{"init.std": "0.01"}, {"init.std": "0.1"}]
    assert by["kaiming_normal"].points == [{}] and by["kaiming_normal"].space == 1


def test_dry_run_shows_the_plan_and_the_run_count(cli, tmp_path):
    result = cli("sweep", *GRID, *FLAGS, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "tune" in result.output and "4 tuning runs" in result.output and "4 reruns" in result.output
    assert "8 runs" in result.output
    assert not Path("results").exists()


@pytest.mark.parametrize("args, says", [
    (["optim.lr=0.1,0.3", *FLAGS], "optim.lr is also swept"),
    (["--tune", "optim.lr=0.01,0.1", "--budget", "0", "--rerun-seeds", "2"], "--budget 0"),
    (["--tune", "optim.lr=0.01,0.1", "--budget", "2", "--rerun-seeds", "0"], "--rerun-seeds 0"),
    (["--tune", "optim.lrr=0.01,0.1", "--budget", "2", "--rerun-seeds", "1"], "optim.lrr"),
    (["--tune", "norm.groups=1,2", "--budget", "2", "--rerun-seeds", "1"], "norm.groups"),
    (["--tune", "optim.lr=0.01,0.1", "--rerun-seeds", "1"], "--budget"),
    (["--budget", "3"], "--budget goes with --tune"),
    (["--tune", "optim.lr=0.1", "--budget", "2", "--rerun-seeds", "1"], "one value"),
    (["--tune", "seed=0,1", "--budget", "2", "--rerun-seeds", "1"], "seeds are not a setting"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli, args, says):
    result = cli("sweep", *GRID, *args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.output
    assert not Path("results").exists()


def test_tune_with_fraction_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="--fraction"):
        prepare_sweep(GRID, results=tmp_path, fraction=2, **TUNE)


def test_a_preset_can_carry_the_tuning(tmp_path):
    presets = tmp_path / "conf" / "experiment"
    presets.mkdir(parents=True)
    (presets / "tuned.yaml").write_text("# @package _global_\nepochs: 1\nhydra:\n  sweeper:\n    params:\n"
                                        "      norm: none,batch\n      tune.optim.lr: 0.01,0.1,0.5\n"
                                        "      tune.budget: 3\n      tune.rerun_seeds: 2\n")
    setup = prepare_sweep(["experiment=tuned"], config_dir=tmp_path / "conf", results=tmp_path)
    assert setup.tuning.budget == 3 and setup.tuning.rerun_seeds == (1, 2) and len(setup.plan.runs) == 6
    # The command line wins over the preset.
    setup = prepare_sweep(["experiment=tuned"], config_dir=tmp_path / "conf", results=tmp_path, budget=1)
    assert len(setup.plan.runs) == 2


# -- running it


def _record(sweep_dir: Path) -> dict:
    return yaml.safe_load((sweep_dir / "sweep.yaml").read_text())["tune"]


@pytest.mark.slow
def test_tuned_sweep_selects_on_val_reruns_the_best_and_resumes_without_retraining(tmp_path):
    result = run_sweep(GRID, results=tmp_path, workers=1, **TUNE)
    runs = pd.read_csv(result.sweep_dir / "runs.csv", dtype={"norm": str})
    assert sorted(runs["role"]) == ["rerun"] * 4 + ["tune"] * 4
    record = _record(result.sweep_dir)
    for cell in record["cells"]:
        tuning = runs[(runs["role"] == "tune") & (runs["norm"] == cell["cell"]["norm"])]
        # Diverged and collapsed runs are never chosen: only those that ended as a setting that trains.
        scored = tuning[tuning["status"].isin(["completed", "stalled"])]
        best = scored.loc[scored["best_val_acc"].idxmax()]
        assert cell["chosen_run"] == best["run_id"]
        chosen_lr = RunDir(result.sweep_dir / "runs" / best["run_id"]).read_config()["optim"]["lr"]
        reruns = runs[(runs["role"] == "rerun") & (runs["norm"] == cell["cell"]["norm"])]
        assert sorted(reruns["seed"]) == [1, 2]
        for rid in reruns["run_id"]:
            assert RunDir(result.sweep_dir / "runs" / rid).read_config()["optim"]["lr"] == chosen_lr
    finished = {rid: json.loads((result.sweep_dir / "runs" / rid / "summary.json").read_text())["finished"]
                for rid in runs["run_id"]}
    again = run_sweep(GRID, results=tmp_path, workers=1, **TUNE)
    assert sum(again.counts.values()) == 8 and again.counts.get("failed", 0) == 0
    for rid, stamp in finished.items():
        assert json.loads((result.sweep_dir / "runs" / rid / "summary.json").read_text())["finished"] == stamp


@pytest.mark.slow
def test_perturbed_test_labels_cannot_change_the_chosen_setting(tmp_path, monkeypatch):
    """Selection reads val only: with the test labels scrambled, every tuning run's
    val scores, and so each cell's choice, stay as they were; test accuracy moves."""
    first = run_sweep(GRID, results=tmp_path / "a", workers=1, **TUNE)
    real = DATASETS["digits"]

    def scrambled(cfg):
        s = real.load(cfg)
        y = (s.test_y + 1 + torch.arange(len(s.test_y)) % 7) % s.classes  # every label moved
        return type(s)(s.train_x, s.train_y, s.val_x, s.val_y, s.test_x, y, s.classes)

    monkeypatch.setitem(DATASETS._entries, "digits", Dataset(scrambled, real.native, real.check))
    second = run_sweep(GRID, results=tmp_path / "b", workers=1, **TUNE)
    a, b = _record(first.sweep_dir), _record(second.sweep_dir)
    assert [c["chosen"] for c in a["cells"]] == [c["chosen"] for c in b["cells"]]
    assert [c["best_val_acc"] for c in a["cells"]] == [c["best_val_acc"] for c in b["cells"]]
    ta = pd.read_csv(first.sweep_dir / "runs.csv").set_index("run_id")
    tb = pd.read_csv(second.sweep_dir / "runs.csv").set_index("run_id")
    assert (ta["best_val_acc"] == tb.loc[ta.index, "best_val_acc"]).all()
    assert (ta["test_acc"] != tb.loc[ta.index, "test_acc"]).any()  # the perturbation did reach the test split


@pytest.mark.slow
def test_kill_9_mid_tuning_resumes_without_retraining_finished_tuning_runs(tmp_path):
    grid = [g for g in GRID if not g.startswith("epochs=")]
    args = [sys.executable, "-m", "ablate", "sweep", *grid, "epochs=4", *FLAGS, "--results", str(tmp_path),
            "--workers", "1", "--name", "t"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    runs = tmp_path / "t" / "runs"
    deadline = time.time() + 120

    def completed() -> list[Path]:
        return [p for p in runs.glob("*/status.json") if json.loads(p.read_text()).get("status") == "completed"] \
            if runs.exists() else []

    while len(completed()) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the sweep ended before the kill"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p.parent.name: json.loads((p.parent / "summary.json").read_text())["finished"] for p in completed()}
    assert 2 <= len(done) < 4, "the kill must land mid-tuning"
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    table = pd.read_csv(tmp_path / "t" / "runs.csv")
    assert table["status"].isin(["completed", "diverged", "collapsed"]).all() and len(table) == 8
    for rid, stamp in done.items():
        assert json.loads((runs / rid / "summary.json").read_text())["finished"] == stamp
        assert (runs / rid / "log.txt").read_text().count("starting") == 1  # trained once, never restarted


@pytest.mark.slow
def test_the_report_compares_reruns_only_and_shows_the_tuning(tmp_path, cli):
    from ablate.report.build import build_report

    result = run_sweep(GRID, results=tmp_path, workers=1, **TUNE)
    report = build_report([result.sweep_dir])
    [table] = [s.table for s in report.sections]
    assert table["runs"].tolist() == [2, 2]  # the reruns, not the tuning runs
    assert any("compared on the reruns only" in line for line in report.header())
    [tuning] = report.tuning
    record = _record(result.sweep_dir)
    assert [c.chosen for c in tuning.cells] == [c["chosen"] for c in record["cells"]]
    assert all(len(c.curve) == 2 for c in tuning.cells)
    md = cli("report", str(result.sweep_dir), "--format", "md")
    assert md.exit_code == 0 and "## Tuning" in md.output and "k=2" in md.output and "P(" in md.output
    html = cli("report", str(result.sweep_dir), "--out", str(tmp_path / "out"))
    assert html.exit_code == 0 and (tmp_path / "out" / "plots" / f"expected-max-{result.sweep_dir.name}.png").exists()
    assert "Tuning:" in (tmp_path / "out" / "index.html").read_text()


def test_stalled_means_every_one_of_the_last_epochs_near_chance():
    from ablate.train.loop import STALL_BAND, stalled

    near = [0.1, 0.1 + STALL_BAND / 2, 0.1 - STALL_BAND / 2]
    assert stalled(near, classes=10, epochs=3)
    assert not stalled(near, classes=10, epochs=None)  # off unless asked
    assert not stalled(near[:2], classes=10, epochs=3)  # not enough epochs yet
    assert not stalled([0.1, 0.1, 0.1 + 2 * STALL_BAND], classes=10, epochs=3)
    assert stalled([0.9, 0.5, 0.5], classes=2, epochs=2) and not stalled([0.9, 0.5, 0.5], classes=2, epochs=3)


@pytest.mark.slow
def test_stop_stalled_stops_tuning_runs_only_and_counts_them(tmp_path):
    # init=zeros: every hidden unit stays alike, so the net predicts one class (~0.10 on digits) all along.
    grid = ["init=zeros", "epochs=5", "device=cpu", "diagnostics=off"]
    result = run_sweep(grid, results=tmp_path, workers=1, tune=["optim.lr=0.01,0.1"], budget=2, rerun_seeds=1,
                       stop_stalled=2)
    runs = pd.read_csv(result.sweep_dir / "runs.csv")
    tune, rerun = runs[runs["role"] == "tune"], runs[runs["role"] == "rerun"]
    assert (tune["status"] == "stalled").all() and (tune["epochs_run"] == 2).all()
    assert (rerun["status"] == "completed").all() and (rerun["epochs_run"] == 5).all()  # a measured run never stops
    status = json.loads((result.sweep_dir / "runs" / tune["run_id"].iloc[0] / "status.json").read_text())
    assert "--stop-stalled" in status["error"]
    from ablate.report.build import build_report

    [tuning] = build_report([result.sweep_dir]).tuning
    assert tuning.cells[0].statuses == {"stalled": 2}


def test_reruns_of_a_setting_no_longer_chosen_are_superseded_never_compared(tmp_path):
    from ablate.report.tuning import tuning_runs
    from ablate.sweep.tune import Choice, rerun_plan

    setup = prepare_sweep(GRID, results=tmp_path, **TUNE)
    choices = [Choice(c, c.points[0], c.run_ids[0], 0.9, 0) for c in setup.tuning.cells]
    plan = rerun_plan(setup.plan, setup.tuning, choices, before={"oldrerun0001": "rerun", setup.plan.runs[0].run_id: "tune"})
    roles = plan.record["tune"]["roles"]
    assert roles["oldrerun0001"] == "superseded" and list(roles.values()).count("rerun") == 4
    runs = pd.DataFrame({"run_id": list(roles), "role": list(roles.values())})
    compared, tuning = tuning_runs(runs)
    assert set(compared["role"]) == {"rerun"} and set(tuning["role"]) == {"tune"}
