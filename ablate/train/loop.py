"""The training loop: one function, read top to bottom.

Per step there is no host synchronisation: loss and accuracy accumulate in
device tensors and are read once per epoch, so a GPU never waits for Python.
Divergence (a non-finite loss) is detected at that once-per-epoch read.
"""

from __future__ import annotations

import math
import time
from itertools import islice
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ablate.data.device import DeviceData
from ablate.data.tta import Views, predict_tta


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based: the number of finished passes over the training split
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    val_acc_tta: float | None  # with test-time augmentation; None when eval.tta=none
    # The test split, evaluated every epoch like val but never used to choose
    # anything: the summary reads it at the epoch val chose (ablate.store.summary).
    test_loss: float
    test_acc: float
    test_acc_tta: float | None
    lr: float  # at the end of the epoch
    seconds: float  # wall time of this epoch, evaluation included
    elapsed: float  # wall time since the run started training, across resumes


@dataclass(frozen=True)
class Predicted:
    """An epoch's predicted class per test image, on the host, in the split's order:
    the very argmaxes its test_acc and test_acc_tta count (ablate.store.predictions)."""

    plain: torch.Tensor
    tta: torch.Tensor | None  # None when eval.tta=none


@torch.no_grad()
def evaluate(model: nn.Module, data: DeviceData, split: str, batch_size: int, autocast,
             tta: Views | None = None, keep: bool = False) -> tuple[float, float, float | None, Predicted | None]:
    """On the "val" or "test" split: (mean loss, accuracy, accuracy with test-time augmentation or None,
    the predicted classes when `keep`, else None)."""
    model.eval()
    device = data.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    correct_tta = torch.zeros((), device=device, dtype=torch.long)
    kept: tuple[list, list] = ([], [])
    for x, y in data.eval_batches(split, batch_size):
        with autocast():
            logits = model(x)
            guess_tta = predict_tta(model, tta(x)).argmax(dim=1) if tta is not None else None
        guess = logits.argmax(dim=1)
        if guess_tta is not None:
            correct_tta += (guess_tta == y).sum()
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
        correct += (guess == y).sum()
        if keep:  # kept on the device: one copy to the host per epoch, not one sync per batch
            kept[0].append(guess)
            kept[1].append(guess_tta)
    n = len(data.eval_split(split)[1])
    predicted = Predicted(torch.cat(kept[0]).cpu(), torch.cat(kept[1]).cpu() if tta is not None else None) \
        if keep and kept[0] else None
    return (loss_sum.item() / n, correct.item() / n, (correct_tta.item() / n if tta is not None else None),
            predicted)


def train(
    model: nn.Module,
    data: DeviceData,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    *,
    epochs: int,
    batch_size: int,
    eval_batch_size: int,
    seed: int,
    amp_dtype: torch.dtype | None,
    scaler: torch.amp.GradScaler | None = None,
    tta: Views | None = None,  # eval.tta's views (ablate.data.tta.make_views); None: no TTA
    start_epoch: int = 0,
    total_steps: int | None = None,
    elapsed: float = 0.0,
    augment: Callable[[torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]] | None = None,
    on_step: Callable[[], None] = lambda: None,
    on_epoch: Callable[[EpochRecord], None] = lambda record: None,
    on_predicted: Callable[[EpochRecord, Predicted], None] | None = None,
    stop: Callable[[EpochRecord], bool] = lambda record: False,
) -> EpochRecord | None:
    """Train from `start_epoch` to `epochs`; returns the last epoch's record.
    `on_predicted`, when given, gets each epoch's test predictions just before `on_epoch`.
    `total_steps`: stop the last epoch at that many optimiser steps in all
    (budget=steps, ablate.train.budget); None: every epoch is a whole pass.

    Stops early, after recording the epoch, when the loss is no longer finite:
    the caller reads that as divergence; or when `stop(record)` says so (a
    tuning run that has stalled, see `stalled`).
    """
    device = data.device
    autocast = (lambda: torch.autocast(device.type, dtype=amp_dtype)) if amp_dtype else nullcontext
    if scaler is None:  # loss scaling is for fp16 only; disabled, it is a pass-through
        scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    record = None
    for epoch in range(start_epoch, epochs):
        started = time.perf_counter()
        model.train()
        # Shuffling seeded per epoch: a run resumed at epoch k sees the same order.
        epoch_seed = seed * 1_000_003 + epoch
        order = torch.Generator(device=data.train_x.device).manual_seed(epoch_seed)
        # Augmentations draw on the batch's device; when streaming, the images
        # (and so the shuffle) are on the host, so they need their own generator.
        rng = torch.Generator(device=device).manual_seed(epoch_seed) if data.streaming else order
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        batches = data.train_batches(batch_size, order)
        if total_steps is not None:  # every epoch before this one was whole
            batches = islice(batches, max(0, total_steps - epoch * data.train_steps(batch_size)))
        for raw, y in batches:
            x, target = data.to_unit(raw), y
            if augment is not None:  # on [0, 1] pixels; target turns soft under mixup/cutmix
                x, target = augment(x, y, rng)
            x = data.normalize(x)
            with autocast():
                logits = model(x)
                loss = F.cross_entropy(logits.float(), target)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            loss_sum += loss.detach() * len(y)
            hard = target.argmax(dim=1) if target.dim() == 2 else target
            correct += (logits.argmax(dim=1) == hard).sum()
            seen += len(y)
            on_step()
        train_loss = loss_sum.item() / seen  # the epoch's one host sync
        train_acc = correct.item() / seen
        val = evaluate(model, data, "val", eval_batch_size, autocast, tta)[:3]
        *test, predicted = evaluate(model, data, "test", eval_batch_size, autocast, tta, keep=on_predicted is not None)
        seconds = time.perf_counter() - started
        elapsed += seconds
        record = EpochRecord(epoch + 1, train_loss, train_acc, *val, *test, optimizer.param_groups[0]["lr"],
                             seconds, elapsed)
        if on_predicted is not None and predicted is not None:
            on_predicted(record, predicted)
        on_epoch(record)
        if diverged(record) or stop(record):
            break
    return record


# How close to chance (1/classes) val accuracy must stay to count as stalled, in
# accuracy points: a net that predicts one class of a balanced 10-class split
# scores 0.10, off by the split's class imbalance (digits' val: under 0.01).
STALL_BAND = 0.02


def stalled(val_accs: list[float], classes: int, epochs: int | None) -> bool:
    """The last `epochs` val accuracies all lie within STALL_BAND of chance: the run is not learning.
    `epochs` None: never (--stop-stalled is off)."""
    if epochs is None or len(val_accs) < epochs:
        return False
    return all(abs(acc - 1.0 / classes) <= STALL_BAND for acc in val_accs[-epochs:])


def diverged(record: EpochRecord | None) -> bool:
    """The epoch's loss is NaN or infinite: training has blown up."""
    return record is not None and not (math.isfinite(record.train_loss) and math.isfinite(record.val_loss))
