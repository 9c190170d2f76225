"""`collapsed`: a run that learnt, then fell back to chance and stayed there."""

from __future__ import annotations

import math

import pytest

from ablate.store.outcome import collapsed_epoch
from ablate.store.status import FINISHED, Status

LN10 = math.log(10)


def history(accs, losses=None):
    losses = losses or [1.0] * len(accs)
    return [{"epoch": i + 1, "val_acc": a, "train_loss": l} for i, (a, l) in enumerate(zip(accs, losses))]


def test_a_run_that_learnt_and_fell_back_to_chance_collapsed_at_the_first_epoch_back():
    # dropconnect at lr 0.05: about 0.5 by epoch 5-7, then chance (train loss ln 10) to the end.
    accs = [0.2, 0.3, 0.4, 0.45, 0.5, 0.52, 0.5, 0.1, 0.1, 0.11, 0.1]
    losses = [2.0, 1.8, 1.6, 1.5, 1.4, 1.4, 1.4, LN10, LN10, LN10, LN10]
    assert collapsed_epoch(history(accs, losses), 10) == 8


def test_the_loss_alone_back_at_ln_classes_is_a_collapse():
    accs = [0.6, 0.7, 0.3, 0.3]  # val accuracy still above chance: the loss says the net stopped learning
    assert collapsed_epoch(history(accs, [1.0, 0.8, 0.995 * LN10, LN10]), 10) == 3


@pytest.mark.parametrize("accs,losses", [
    ([0.1, 0.1, 0.1], [LN10] * 3),  # never left chance: a stall, not a collapse
    ([0.5, 0.1, 0.6], None),  # dipped and recovered: only the end counts
    ([0.3, 0.6, 0.9], None),  # learnt and kept it
])
def test_runs_that_did_not_collapse(accs, losses):
    assert collapsed_epoch(history(accs, losses), 10) is None


def test_two_classes_have_their_own_chance():
    assert collapsed_epoch(history([0.9, 0.51, 0.5], [0.3, 0.69, 0.693]), 2) == 2
    assert collapsed_epoch(history([0.9, 0.6, 0.6], [0.3, 0.5, 0.5]), 2) is None


def test_collapsed_is_a_result_a_rerun_skips():
    assert Status.COLLAPSED in FINISHED


def test_the_runner_records_a_collapsed_run_with_its_epoch_and_reason(tmp_path):
    """finish() on a history that learnt and fell back: status.json, summary.json and the result agree."""
    from types import SimpleNamespace

    from torch import nn

    from ablate.runner.run import finish
    from ablate.schema.run import RunConfig
    from ablate.store.rundir import RunDir
    from ablate.shapes import InputShape
    from ablate.train.budget import Budget

    rows = []
    for epoch, (acc, loss) in enumerate([(0.4, 1.6), (0.55, 1.3), (0.1, LN10), (0.1, LN10)], start=1):
        rows.append({"epoch": epoch, "train_loss": loss, "train_acc": acc, "val_loss": loss, "val_acc": acc,
                     "val_acc_tta": None, "test_loss": loss, "test_acc": acc, "test_acc_tta": None, "lr": 0.05,
                     "seconds": 1.0, "elapsed": float(epoch)})
    rd = RunDir(tmp_path / "run")
    rd.path.mkdir()
    cfg = RunConfig(epochs=len(rows))  # the real spec, so finish() reads every field it needs
    steps = 10  # optimiser steps per epoch
    session = SimpleNamespace(history=rows, data=SimpleNamespace(shape=InputShape(1, 8, 10)), cfg=cfg,
                              run_id="run", model=nn.Linear(2, 2), device="cpu", precision="fp32",
                              layout="contiguous", rd=rd, trackers=None, stall_epochs=None, steps=steps,
                              budget=Budget.of(cfg, steps))
    result = finish(session, [])
    assert (result.status, result.summary["collapsed_epoch"]) == (Status.COLLAPSED, 3)
    assert rd.read_status()["status"] == "collapsed" and "from epoch 3" in rd.read_status()["error"]
    assert rd.read_summary()["test_acc"] == 0.55  # scored where val was best, and marked collapsed beside it
