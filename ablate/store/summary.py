"""A run's summary numbers, computed from its per-epoch history."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ablate.store.rundir import RunDir


# The numbers of a run's summary.json, in runs.csv's column order: the one list
# of metric names the tables, the report's loader and the trackers take theirs from.
SUMMARY_METRICS = ("test_acc", "best_val_acc", "best_epoch", "final_test_acc", "final_val_acc", "best_val_acc_tta",
                   "test_acc_tta", "final_val_acc_tta", "final_val_loss", "final_train_acc", "final_train_loss",
                   "auc_val_acc", "target_acc", "epochs_to_target", "seconds_to_target", "epochs_run", "seconds",
                   "diverged_epoch", "collapsed_epoch", "params", "classes")


def summarize(history: Sequence[dict[str, float]], target_acc: float | None) -> dict[str, Any]:
    """Best/final accuracy and convergence speed.

    test_acc is the test accuracy at the epoch of best validation accuracy: the
    epoch is chosen on val, so the test number carries no selection bias
    (best_val_acc, a maximum over noisy epochs, is optimistic).

    epochs_to_target / seconds_to_target: the first epoch whose validation
    accuracy reaches `target_acc`, and the training wall time until then;
    None when the run never gets there (the report counts it as censored at
    its last epoch).
    """
    if not history:
        return {"epochs_run": 0}
    best, best_tta = (_best(history, SCORED_BY[m]) for m in ("test_acc", "test_acc_tta"))
    last = history[-1]
    hit = next((h for h in history if target_acc is not None and h["val_acc"] >= target_acc), None)
    accs = [h["val_acc"] if math.isfinite(h["val_acc"]) else 0.0 for h in history]
    return {
        "best_val_acc": best["val_acc"] if best else None,
        "best_epoch": int(best["epoch"]) if best else None,
        "test_acc": best.get("test_acc") if best else None,
        "final_val_acc": last["val_acc"],
        "final_test_acc": last.get("test_acc"),
        "best_val_acc_tta": best_tta["val_acc_tta"] if best_tta else None,
        # With test-time augmentation, chosen the same way: test at the best val-with-TTA epoch.
        "test_acc_tta": best_tta.get("test_acc_tta") if best_tta else None,
        "final_val_acc_tta": last.get("val_acc_tta"),
        "final_val_loss": last["val_loss"],
        "final_train_acc": last["train_acc"],
        "final_train_loss": last["train_loss"],
        # Mean validation accuracy over epochs: area under the curve per epoch.
        "auc_val_acc": sum(accs) / len(accs),
        "target_acc": target_acc,
        "epochs_to_target": int(hit["epoch"]) if hit else None,
        "seconds_to_target": hit["elapsed"] if hit else None,
        "epochs_run": int(last["epoch"]),
        "seconds": last["elapsed"],
    }


def config_target(config: dict[str, Any]) -> tuple[float | None, str | None]:
    """RunConfig.convergence_target, read off a config.yaml's plain tree: (the target,
    the key it came from: target_acc, or data.target, the dataset's default)."""
    if config.get("target_acc") is not None:
        return config["target_acc"], "target_acc"
    target = (config.get("data") or {}).get("target")
    return (target, "data.target") if target is not None else (None, None)


# Each test score and the val column that chooses its epoch: the first epoch of
# the highest finite value (max keeps the first of equals).
SCORED_BY = {"test_acc": "val_acc", "test_acc_tta": "val_acc_tta"}


def _best(history: Sequence[dict[str, float]], column: str) -> dict[str, float] | None:
    finite = [h for h in history if h.get(column) is not None and math.isfinite(h[column])]
    return max(finite, key=lambda h: h[column]) if finite else None


def scored_epochs(history: Sequence[dict[str, float]]) -> dict[str, int]:
    """Each test score's epoch (SCORED_BY): the one its summary value is read at; absent when none."""
    chosen = {metric: _best(history, column) for metric, column in SCORED_BY.items()}
    return {metric: int(h["epoch"]) for metric, h in chosen.items() if h is not None}


def finished_summary(rd: "RunDir", write: bool = False) -> dict[str, Any]:
    """A finished run's summary: summary.json, else its numbers recomputed from
    history.csv (written back with `write`: the sweep does, a report only reads);
    {} when neither can be read: the run is `unreadable`, and the next sweep resumes it."""
    summary = rd.read_summary()
    if summary:
        return summary
    history = rd.read_history()
    if not history:
        return {}
    last = history[-1]
    blown = not all(math.isfinite(last.get(k) if last.get(k) is not None else math.nan)
                    for k in ("train_loss", "val_loss"))
    target, source = config_target(rd.read_config() or {})
    summary = {"run_id": rd.run_id, **summarize(history, target), "target_from": source,
               "diverged_epoch": int(last["epoch"]) if blown else None, "recomputed_from": "history.csv"}
    if write:
        rd.write_summary(summary)
    return summary
