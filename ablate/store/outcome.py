"""Whether a run that ended without error learnt and kept it: `collapsed`.

A run whose loss stays finite can still fall back to chance after it had
learnt something (dropconnect at lr 0.05 reached ~0.5 val accuracy by epoch
5–7, then its train loss returned to ln 10 = 2.303 and stayed there). Scored at
its best-val epoch it looks like a completed run of middling accuracy; it is a
result of its own, `collapsed`, counted per level like `diverged`.

The bands, in accuracy points of the gap between chance (1/classes) and 1:
"left chance" is 25 % of the way up (0.325 for 10 classes, 0.625 for 2), "back
at chance" within 5 % of it (0.145, 0.525). The loss test: train loss back
within 2 % of ln(classes) (the cross-entropy of a uniform guess) after it had
been below 90 % of it. Only the end counts: a run that dips and recovers is
not collapsed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

LEFT, BACK = 0.25, 0.05  # fractions of (1 - chance)
LOSS_BACK, LOSS_LEFT = 0.98, 0.90  # fractions of ln(classes)


def at_chance(row: dict, classes: int) -> bool:
    chance = 1.0 / classes
    acc_back = row["val_acc"] <= chance + BACK * (1 - chance)
    loss = row.get("train_loss")
    loss_back = loss is not None and math.isfinite(loss) and loss >= LOSS_BACK * math.log(classes)
    return acc_back or loss_back


def left_chance(row: dict, classes: int) -> bool:
    chance = 1.0 / classes
    loss = row.get("train_loss")
    return (row["val_acc"] >= chance + LEFT * (1 - chance)
            or (loss is not None and math.isfinite(loss) and loss < LOSS_LEFT * math.log(classes)))


def collapsed_epoch(history: Sequence[dict], classes: int) -> int | None:
    """The first epoch of the run of at-chance epochs that ends the history, when
    the run had left chance before it; None otherwise."""
    if classes < 2 or not history or not at_chance(history[-1], classes):
        return None
    start = len(history) - 1
    while start > 0 and at_chance(history[start - 1], classes):
        start -= 1
    if not any(left_chance(row, classes) for row in history[:start]):
        return None  # never learnt: a stall, not a collapse
    return int(history[start]["epoch"])
