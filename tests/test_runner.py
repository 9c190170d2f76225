"""A run writes the contract's run directory; failures and divergence are results."""

import csv
import json

import pytest
import yaml

from ablate.config.compose import load_config
from ablate.runner.spec import RunSpec
from ablate.runner.run import run
from ablate.store.rundir import HISTORY_COLUMNS, RunDir

FAST = ["epochs=2", "device=cpu"]


def test_history_columns_are_the_epoch_record():
    """history.csv is written from EpochRecord: one list of columns, not two to keep in step."""
    import dataclasses

    from ablate.train.loop import EpochRecord

    assert tuple(f.name for f in dataclasses.fields(EpochRecord)) == HISTORY_COLUMNS


def test_run_writes_every_record(tmp_path):
    config = load_config(FAST + ["target_acc=0.5"])
    result = run(RunSpec(config, tmp_path / "r"))
    assert result.status == "completed"
    rd = RunDir(tmp_path / "r")
    assert {p.name for p in rd.path.iterdir()} >= {"config.yaml", "status.json", "history.csv", "summary.json",
                                                   "checkpoint.pt", "log.txt"}
    assert not list(rd.path.glob("*.tmp")), "no temporary files left behind"
    with open(rd.history) as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == HISTORY_COLUMNS and len(rows) == 2
    summary = json.loads(rd.summary.read_text())
    assert summary["best_val_acc"] == max(float(r["val_acc"]) for r in rows)
    assert summary["final_val_acc"] == float(rows[-1]["val_acc"])
    assert summary["params"] > 0 and summary["device"] == "cpu" and summary["versions"]["torch"]
    if summary["epochs_to_target"] is not None:
        assert float(rows[summary["epochs_to_target"] - 1]["val_acc"]) >= 0.5
    assert summary["target_acc"] == 0.5 and summary["target_from"] == "target_acc" and summary["classes"] == 10
    status = json.loads(rd.status_file.read_text())
    assert status["status"] == "completed" and status["host"] and status["started"] and status["ended"]
    assert yaml.safe_load(rd.config.read_text())["optim"]["lr"] == config.optim.lr


def test_without_target_acc_the_datasets_default_target_is_used(tmp_path):
    """digits' data.target (conf/data/digits.yaml), not a value that depends on other runs."""
    config = load_config(FAST)
    assert config.target_acc is None and config.data.target == 0.89
    run(RunSpec(config, tmp_path / "r"))
    summary = json.loads(RunDir(tmp_path / "r").summary.read_text())
    assert summary["target_acc"] == 0.89 and summary["target_from"] == "data.target"


def test_nan_loss_is_diverged_with_its_epoch(tmp_path):
    config = load_config(["epochs=3", "device=cpu", "optim.lr=1e6", "sched=constant", "optim.weight_decay=0"])
    result = run(RunSpec(config, tmp_path / "r"))
    assert result.status == "diverged"
    assert result.summary["diverged_epoch"] == 1
    assert json.loads((tmp_path / "r" / "status.json").read_text())["status"] == "diverged"


def test_an_exception_is_a_failed_result_with_traceback(tmp_path, monkeypatch):
    import ablate.runner.run

    def boom(*a, **k):
        raise RuntimeError("out of cheese")

    monkeypatch.setattr(ablate.runner.run, "make_optimizer", boom)
    result = run(RunSpec(load_config(FAST), tmp_path / "r"))
    assert result.status == "failed" and "out of cheese" in result.error
    status = json.loads((tmp_path / "r" / "status.json").read_text())
    assert status["status"] == "failed" and "out of cheese" in status["error"]
    assert "Traceback" in (tmp_path / "r" / "log.txt").read_text()


def test_finished_run_is_skipped_and_fresh_retrains(tmp_path):
    config = load_config(FAST)
    first = run(RunSpec(config, tmp_path / "r"))
    again = run(RunSpec(config, tmp_path / "r"))
    assert again.skipped and again.summary == first.summary
    fresh = run(RunSpec(config, tmp_path / "r", resume=False))
    assert not fresh.skipped and fresh.status == "completed"


def test_resume_from_checkpoint_matches_an_uninterrupted_run(tmp_path):
    """Stop after epoch 2 of 4, resume: same weights-derived metrics as straight through."""
    run(RunSpec(load_config(["epochs=4", "device=cpu", "dropout.p=0.3"]), tmp_path / "full"))

    import ablate.train.loop as loop

    calls = {"n": 0}
    original = loop.EpochRecord

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    config = load_config(["epochs=4", "device=cpu", "dropout.p=0.3"])
    loop.EpochRecord = interrupting
    try:
        with pytest.raises(KeyboardInterrupt):
            run(RunSpec(config, tmp_path / "part"))
    finally:
        loop.EpochRecord = original
    rd = RunDir(tmp_path / "part")
    assert rd.read_status()["status"] == "interrupted"
    assert len(rd.read_history()) == 2
    resumed = run(RunSpec(config, tmp_path / "part"))
    assert resumed.status == "completed"
    got = [h["val_acc"] for h in rd.read_history()]
    want = [h["val_acc"] for h in RunDir(tmp_path / "full").read_history()]
    assert got == pytest.approx(want, abs=1e-6)
    assert "resumed after epoch 2" in rd.log_file.read_text()


def test_resume_drops_a_history_row_the_checkpoint_does_not_hold(tmp_path, monkeypatch):
    """A kill between writing history.csv and checkpoint.pt leaves history one epoch ahead."""
    import ablate.train.loop as loop

    config = load_config(["epochs=4", "device=cpu"])
    original, calls = loop.EpochRecord, {"n": 0}

    def interrupt_on(n):
        def record(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n:
                raise KeyboardInterrupt
            return original(*args, **kwargs)
        return record

    monkeypatch.setattr(loop, "EpochRecord", interrupt_on(3))
    with pytest.raises(KeyboardInterrupt):
        run(RunSpec(config, tmp_path / "r"))
    rd = RunDir(tmp_path / "r")
    rows = rd.history.read_text().splitlines()
    rd.history.write_text("\n".join(rows + [rows[-1].replace("2,", "3,", 1)]) + "\n")  # the orphan row
    assert len(rd.read_history()) == 3
    calls["n"] = 0
    monkeypatch.setattr(loop, "EpochRecord", interrupt_on(1))  # stop before the resumed epoch ends
    with pytest.raises(KeyboardInterrupt):
        run(RunSpec(config, tmp_path / "r"))
    assert [int(h["epoch"]) for h in rd.read_history()] == [1, 2]


def test_cpu_runs_are_deterministic(tmp_path):
    a = run(RunSpec(load_config(FAST), tmp_path / "a"))
    b = run(RunSpec(load_config(FAST), tmp_path / "b"))
    assert a.summary["final_val_loss"] == b.summary["final_val_loss"]


def test_diagnostics_are_recorded_at_start_middle_and_end(tmp_path):
    import pandas as pd

    result = run(RunSpec(load_config(["epochs=4", "device=cpu"]), tmp_path / "r"))
    table = pd.read_csv(tmp_path / "r" / "diagnostics.csv")
    assert list(table.columns) == ["epoch", "layer", "depth", "statistic", "value"]
    assert sorted(table.epoch.unique()) == [0, 2, 4]
    assert {"act_std", "grad_norm", "dead_frac"} <= set(table.statistic)
    assert result.summary["warnings"] == []  # a healthy LeNet on digits


def test_diagnostics_off_writes_nothing_and_keeps_the_run_id(tmp_path):
    from ablate.runner.identity import run_id

    config = load_config(["epochs=1", "device=cpu", "diagnostics=off"])
    run(RunSpec(config, tmp_path / "r"))
    assert not (tmp_path / "r" / "diagnostics.csv").exists()
    assert run_id(config) == run_id(load_config(["epochs=1", "device=cpu"]))


def test_recording_does_not_change_training(tmp_path):
    on = run(RunSpec(load_config(["epochs=2", "device=cpu", "dropout.p=0.3"]), tmp_path / "on"))
    off = run(RunSpec(load_config(["epochs=2", "device=cpu", "dropout.p=0.3", "diagnostics=off"]), tmp_path / "off"))
    assert on.summary["final_val_loss"] == off.summary["final_val_loss"]


@pytest.mark.slow
def test_deep_sigmoid_with_small_init_warns_of_vanishing_gradients(tmp_path):
    config = load_config(["epochs=2", "device=cpu", "act=sigmoid", "init=normal", "model=convnet",
                          "model.depth=6", "model.width=8"])
    result = run(RunSpec(config, tmp_path / "r"))
    assert any("vanishing gradients" in w for w in result.summary["warnings"])
