"""predictions.npz: written by a run at its scored epoch, equal to the score it
reports, and the same after a resume as straight through."""

from __future__ import annotations

import numpy as np
import pytest

from ablate.config.compose import load_config
from ablate.runner.run import run
from ablate.runner.spec import RunSpec
from ablate.store import predictions
from ablate.store.rundir import RunDir

FAST = ["epochs=3", "device=cpu", "diagnostics=off"]


def test_the_file_holds_the_scored_epoch_and_equals_test_acc(tmp_path):
    result = run(RunSpec(load_config(FAST), tmp_path / "r"))
    p = predictions.read(RunDir(tmp_path / "r").predictions)
    assert p is not None and len(p.labels) == 359 and p.labels.dtype == np.uint8
    assert p.accuracy("test_acc") == result.summary["test_acc"]
    assert p.epochs == {"test_acc": result.summary["best_epoch"]}


def test_with_tta_both_scores_have_their_predictions(tmp_path):
    result = run(RunSpec(load_config(FAST + ["eval.tta=flip"]), tmp_path / "r"))
    rd = RunDir(tmp_path / "r")
    p = predictions.read(rd.predictions)
    assert p.accuracy("test_acc") == result.summary["test_acc"]
    assert p.accuracy("test_acc_tta") == result.summary["test_acc_tta"]
    best_tta = max(rd.read_history(), key=lambda h: h["val_acc_tta"])["epoch"]
    assert p.epochs["test_acc_tta"] == best_tta


def test_a_run_killed_before_its_checkpoint_resumes_to_the_uninterrupted_file(tmp_path, monkeypatch):
    """Killed after writing epoch 3's predictions but before its checkpoint: the resume
    rewrites the file from epoch 2's checkpoint, trains epoch 3 again, and ends with the
    file a run that was never stopped writes."""
    config = ["epochs=4", "device=cpu", "diagnostics=off", "optim.lr=0.05"]
    run(RunSpec(load_config(config), tmp_path / "full"))
    import ablate.runner.run as runner

    real_save = runner.checkpoint.save

    def killed_at_third(path, **state):
        if state["epoch"] == 3:
            raise KeyboardInterrupt
        real_save(path, **state)

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(runner.checkpoint, "save", killed_at_third)
        run(RunSpec(load_config(config), tmp_path / "part"))
    rd = RunDir(tmp_path / "part")
    assert max(predictions.read(rd.predictions).epochs.values()) == 3  # ahead of the checkpoint

    import ablate.train.loop as loop

    def stopped(*args, **kwargs):  # stop the resumed run before its first epoch ends
        raise KeyboardInterrupt

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(loop, "EpochRecord", stopped)
        run(RunSpec(load_config(config), tmp_path / "part"))
    assert max(predictions.read(rd.predictions).epochs.values()) <= 2, "restore rewrote it from the checkpoint"

    resumed = run(RunSpec(load_config(config), tmp_path / "part"))
    assert resumed.status == "completed"
    got, want = predictions.read(rd.predictions), predictions.read(RunDir(tmp_path / "full").predictions)
    assert got.epochs == want.epochs
    assert np.array_equal(got.labels, want.labels)
    assert np.array_equal(got.predicted["test_acc"], want.predicted["test_acc"])
    assert got.accuracy("test_acc") == resumed.summary["test_acc"]


def test_a_fresh_start_removes_an_old_file(tmp_path):
    path = tmp_path / "r"
    run(RunSpec(load_config(FAST), path))
    rd = RunDir(path)
    predictions.write(rd.predictions, predictions.Predictions(np.zeros(3, np.uint8), {}, {}))
    run(RunSpec(load_config(FAST), path, resume=False))
    assert len(predictions.read(rd.predictions).labels) == 359


def test_a_damaged_file_reads_as_none(tmp_path):
    path = tmp_path / predictions.FILE
    path.write_bytes(b"PK\x03\x04 not a zip")
    assert predictions.read(path) is None
    assert predictions.read(tmp_path / "missing.npz") is None


@pytest.mark.slow
def test_a_tiny_sweep_reports_mcnemar_and_the_test_set_interval(cli):
    result = cli("sweep", "act=relu,tanh", "seed=0,1", "epochs=2", "device=cpu", "diagnostics=off",
                 "--workers", "1", "--name", "tiny")
    assert result.exit_code == 0, result.output
    report = cli("report", "results/tiny")
    assert report.exit_code == 0, report.output
    text = " ".join(report.output.split())  # the terminal wraps long lines
    assert "test set, act: 359 test images: ±" in text and "points at 0.95 (Wilson" in text
    assert "McNemar p" in text and "on the majority vote of 2 and 2 runs over 359 images" in text
