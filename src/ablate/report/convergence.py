"""Convergence speed: which accuracy target the report uses, and how fast runs reach it.

A run that never reaches the target has no epochs-to-target; it is counted as
"not reached" and kept out of the mean, never averaged as if it had got there.

The target comes from the sweeps' own `target_acc` when they set one. When
none did, the report uses DEFAULT_FRACTION of the best run's best validation
accuracy and says so, and re-scores every run from its per-epoch history
(epochs.csv) because the stored epochs_to_target columns are empty then.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ablate.report.load import Store

# Fraction of the best run's accuracy used as the target when no sweep set one:
# close enough to the top to separate slow from fast, low enough that most runs
# of a reasonable configuration reach it.
DEFAULT_FRACTION = 0.95


@dataclass(frozen=True)
class Target:
    value: float | None
    source: str  # stated in every output, so a reader knows what "to target" means
    rescored: bool = False  # epochs/seconds-to-target recomputed from each run's history

    def describe(self) -> str:
        if self.value is None:
            return f"target accuracy: none ({self.source})"
        return f"target accuracy {self.value:.4f} ({self.source})"


def choose_target(runs: pd.DataFrame) -> tuple[Target, bool]:
    """(the target, whether the stored epochs_to_target columns already use it)."""
    done = runs[runs["status"] == "completed"]
    set_targets = done["target_acc"].dropna().unique()
    if len(set_targets):
        value = float(set_targets.max())
        uniform = len(set_targets) == 1 and done["target_acc"].notna().all()
        if uniform:
            return Target(value, "target_acc of the sweep"), True
        # Sweeps with different (or missing) targets are compared at one target,
        # the strictest, which every run's history can be checked against.
        return Target(value, "highest target_acc among the sweeps", rescored=True), False
    best = done["best_val_acc"].max()
    if not np.isfinite(best):
        return Target(None, "no completed runs"), True
    value = DEFAULT_FRACTION * float(best)
    source = (f"default: no target_acc was set; {DEFAULT_FRACTION:.0%} of the best run's "
              f"best val acc {best:.4f}")
    return Target(value, source, rescored=True), False


def first_reach(epochs: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per (sweep, run_id): the first epoch with val_acc ≥ target and the elapsed
    training seconds at that epoch. Runs that never get there are absent."""
    keys = ["sweep", "run_id", "epoch"]
    acc = epochs.loc[epochs["metric"] == "val_acc", keys + ["value"]]
    hits = acc[acc["value"] >= target]
    first = hits.sort_values(keys).drop_duplicates(["sweep", "run_id"], keep="first")
    elapsed = epochs.loc[epochs["metric"] == "elapsed", keys + ["value"]].rename(columns={"value": "elapsed"})
    first = first.merge(elapsed, on=keys, how="left")
    return first.set_index(["sweep", "run_id"])[["epoch", "elapsed"]]


def apply_target(store: Store, runs: pd.DataFrame) -> tuple[pd.DataFrame, Target]:
    """Runs with epochs_to_target / seconds_to_target measured against one target."""
    target, stored = choose_target(runs)
    if stored:
        return runs, target
    runs = runs.copy()
    reached = first_reach(store.epochs(), target.value)
    index = pd.MultiIndex.from_arrays([runs["sweep"], runs["run_id"]])
    runs["epochs_to_target"] = reached["epoch"].reindex(index).to_numpy(dtype=float)
    runs["seconds_to_target"] = reached["elapsed"].reindex(index).to_numpy(dtype=float)
    runs["target_acc"] = target.value
    return runs, target
