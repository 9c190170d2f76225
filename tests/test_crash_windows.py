"""Kills that land between two writes of a run, and what the next attempt makes of them."""

import json
import os
import stat

import torch

from ablate.config.compose import load_config
from ablate.runner.spec import RunSpec
from ablate.runner.run import run
from ablate.store import atomic
from ablate.store.rundir import RunDir


def test_a_run_killed_after_diverging_is_recorded_diverged_not_trained_on(tmp_path):
    config = load_config(["epochs=3", "device=cpu", "optim.lr=1e6", "sched=constant", "optim.weight_decay=0"])
    first = run(RunSpec(config, tmp_path / "r"))
    assert first.status == "diverged" and first.summary["diverged_epoch"] == 1
    # The kill lands after the diverging epoch's checkpoint, before the run says so.
    rd = RunDir(tmp_path / "r")
    rd.summary.unlink()
    rd.write_status("running")
    again = run(RunSpec(config, tmp_path / "r"))
    assert again.status == "diverged" and again.summary["diverged_epoch"] == 1
    assert len(rd.read_history()) == 1  # no epoch trained on from NaN weights


def test_an_unusable_checkpoint_starts_the_run_over(tmp_path):
    config = load_config(["epochs=2", "device=cpu"])
    rd = RunDir(tmp_path / "r")
    run(RunSpec(config, rd.path))
    rd.summary.unlink()
    rd.write_status("interrupted")
    rd.checkpoint.write_bytes(b"not a checkpoint")  # truncated by a full disk, say
    again = run(RunSpec(config, rd.path))
    assert again.status == "completed"
    assert "checkpoint unusable" in rd.log_file.read_text()
    assert [int(h["epoch"]) for h in rd.read_history()] == [1, 2]


def test_a_resume_keeps_the_first_start_time(tmp_path):
    config = load_config(["epochs=2", "device=cpu"])
    rd = RunDir(tmp_path / "r")
    run(RunSpec(config, rd.path))
    rd.summary.unlink()
    rd.write_status("interrupted", started="2026-01-01T00:00:00+0000")
    torch.save({**torch.load(rd.checkpoint, weights_only=False), "epoch": 1,
                "history": rd.read_history()[:1]}, rd.checkpoint)
    run(RunSpec(config, rd.path))
    assert json.loads(rd.status_file.read_text())["started"] == "2026-01-01T00:00:00+0000"


def test_result_files_get_the_umask_mode_not_mkstemps_0600(tmp_path):
    # Collaborators and report jobs on shared storage read each other's results.
    atomic.write_text(tmp_path / "status.json", "{}")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "status.json").stat().st_mode) == 0o666 & ~mask


def test_ablate_train_refuses_a_run_another_process_is_training(cli, tmp_path):
    from ablate.runner.identity import run_id
    from ablate.store.lock import run_lock

    run_dir = tmp_path / "results" / "train" / "runs" / run_id(load_config(["epochs=1", "device=cpu"]))
    with run_lock(run_dir) as held:
        assert held
        result = cli("train", "-q", "epochs=1", "device=cpu")
    assert result.exit_code == 1 and "being trained by another process" in result.output
    assert not (run_dir / "history.csv").exists()
