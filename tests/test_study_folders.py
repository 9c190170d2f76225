"""Sweep folders as a study: a smaller grid run later in the same folder hides
no run, and several sweeps read together compare whatever tells their runs apart."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ablate.report.build import build_report

pytestmark = pytest.mark.slow  # real (one-epoch) runs on digits

FAST = ["epochs=1", "device=cpu", "diagnostics=off", "--workers", "1"]


def runs_csv(name: str) -> pd.DataFrame:
    return pd.read_csv(Path("results") / name / "runs.csv", dtype=str, keep_default_na=False)


def test_a_second_grid_in_the_same_folder_keeps_the_first_grids_runs(cli):
    assert cli("sweep", "norm=none,batch", "seed=0", *FAST, "--name", "s").exit_code == 0
    assert cli("sweep", "act=relu,tanh", "seed=0", *FAST, "--name", "s").exit_code == 0
    runs = runs_csv("s")
    # (none, relu) is in both grids: one run. (batch, relu) and (none, tanh) are the others.
    assert len(runs) == 3 and set(runs["status"]) == {"completed"}
    assert list(runs.columns[3:5]) == ["norm", "act"]
    assert set(zip(runs["norm"], runs["act"])) == {("none", "relu"), ("batch", "relu"), ("none", "tanh")}
    meta = yaml.safe_load(Path("results/s/sweep.yaml").read_text())
    assert [g["factors"] for g in meta["grids"]] == [["norm"], ["act"]]
    assert meta["factors"] == ["norm", "act"] and meta["planned"] == 3
    # Each run's labels as its grids wrote them; the rest is read off its config.
    recorded = [json.loads(f.read_text()) for f in Path("results/s/runs").glob("*/factors.json")]
    assert sorted(map(sorted, recorded)) == [["act"], ["act", "norm"], ["norm"]]
    report = build_report([Path("results/s")])
    assert set(report.factors) == {"norm", "act"}
    assert report.sweeps[0].planned == 3 and not report.sweeps[0].partial


def test_the_same_grid_again_is_recorded_once(cli):
    for _ in range(2):
        assert cli("sweep", "norm=none,batch", *FAST, "--name", "t").exit_code == 0
    meta = yaml.safe_load(Path("results/t/sweep.yaml").read_text())
    assert len(meta["grids"]) == 1 and len(runs_csv("t")) == 2


def test_two_grids_in_one_folder_that_differ_in_a_fixed_setting_compare_it(cli):
    """Runs of 1 and 2 epochs in one folder are not repeats of each other: the
    setting that tells them apart is a factor, as it is across two folders."""
    for epochs in ("1", "2"):
        options = [a for a in FAST if not a.startswith("epochs=")]
        assert cli("sweep", "norm=none,batch", "seed=0", *options, f"epochs={epochs}", "--name", "e").exit_code == 0
    report = build_report([Path("results/e")])
    assert set(report.factors) == {"norm", "epochs"}
    by_epochs = report.marginals["epochs"].set_index("epochs")
    assert sorted(by_epochs.index) == ["1", "2"] and by_epochs["runs"].tolist() == [2, 2]
    assert report.marginals["norm"]["runs"].tolist() == [2, 2]


def test_the_train_folder_reports_what_its_runs_differ_in(cli):
    for norm in ("none", "batch"):
        for seed in ("0", "1"):
            assert cli("train", f"norm={norm}", f"seed={seed}", "epochs=1", "device=cpu", "--quiet").exit_code == 0
    report = build_report([Path("results/train")])
    assert report.factors == ["norm"]
    assert report.marginals["norm"]["runs"].tolist() == [2, 2]


def test_two_sweeps_that_differ_in_a_fixed_choice_compare_it(cli):
    for name, init in (("x", "xavier_normal"), ("k", "kaiming_normal")):
        assert cli("sweep", "norm=none,batch", f"init={init}", "seed=0,1", *FAST, "--name", name).exit_code == 0
    report = build_report([Path("results/x"), Path("results/k")])
    assert report.factors == ["norm", "init"]
    assert set(report.marginals["init"]["init"]) == {"xavier_normal", "kaiming_normal"}
    assert report.marginals["init"]["runs"].tolist() == [4, 4]


def test_an_option_that_moves_with_its_group_is_not_a_factor_of_its_own(cli):
    assert cli("sweep", "dropout=inverted,classic", *FAST, "--name", "d").exit_code == 0
    assert cli("sweep", "act=relu,tanh", *FAST, "--name", "a").exit_code == 0
    report = build_report([Path("results/d"), Path("results/a")])
    assert "dropout.p" not in report.factors  # 0.0 for inverted, 0.5 for classic: dropout's confound
    assert set(report.factors) == {"dropout", "act"}
