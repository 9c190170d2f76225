"""Convergence speed: which accuracy target the report uses, and how fast runs reach it.

A run that never reaches the target has no epochs-to-target; it is counted as
"not reached" and kept out of the mean, never averaged as if it had got there.

The target is what the runs measured against: their `target_acc`, or where
none was set their dataset's fixed default (`data.target` in conf/data/NAME.yaml,
0.9 × the dataset's usual ceiling), so it never moves when an arm is added. Runs
made before datasets had a default and never given a target fall back to
DEFAULT_FRACTION of the best run's best validation accuracy, said so, and are
re-scored from their per-epoch history (epochs.csv). A run without such history
is "unknown": neither reached nor not reached. Which target was used is printed
in every output.

The target is chosen from every run read, before --where, so filtering never
moves it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ablate.report.load import Store
from ablate.store.status import Status

# Fraction of the best run's accuracy used as the target when no sweep set one:
# close enough to the top to separate slow from fast, low enough that most runs
# of a reasonable configuration reach it.
DEFAULT_FRACTION = 0.95
KNOWN = "target_known"  # runs column: is this run's time-to-target known (measured or re-scored)?


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
    done = runs[runs["status"] == Status.COMPLETED]
    set_targets = done["target_acc"].dropna().unique()
    if len(set_targets):
        value = float(set_targets.max())
        uniform = len(set_targets) == 1 and done["target_acc"].notna().all()
        if uniform:
            return Target(value, _source(done)), True
        # Sweeps with different (or missing) targets are compared at one target,
        # the strictest, which every run's history can be checked against.
        return Target(value, "highest target_acc among the sweeps", rescored=True), False
    best = done["best_val_acc"].max()
    if not np.isfinite(best):
        return Target(None, "no completed runs"), True
    value = DEFAULT_FRACTION * float(best)
    source = (f"no target_acc set and no data.target default recorded: {DEFAULT_FRACTION:.0%} of the best run's "
              f"best val acc {best:.4f}, over every run read (before --where); it moves when runs are added")
    return Target(value, source, rescored=True), False


def _source(done: pd.DataFrame) -> str:
    """Where the runs' one target came from, as summary.json's target_from says."""
    keys = set(done["target_from"].replace("", np.nan).dropna()) if "target_from" in done else set()
    if keys == {"data.target"}:
        return "the dataset's fixed default, data.target; set target_acc=... to choose another"
    if "data.target" in keys:
        return "target_acc where the sweep set one, else the dataset's default (data.target): the same value"
    return "target_acc of the sweep"


def first_reach(acc: pd.DataFrame, elapsed: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per (sweep, run_id): the first epoch with val_acc ≥ target and the elapsed
    training seconds at that epoch. Runs that never get there are absent."""
    keys = ["sweep", "run_id", "epoch"]
    hits = acc[acc["value"] >= target]
    first = hits.sort_values(keys).drop_duplicates(["sweep", "run_id"], keep="first")
    first = first.merge(elapsed.rename(columns={"value": "elapsed"}), on=keys, how="left")
    return first.set_index(["sweep", "run_id"])[["epoch", "elapsed"]]


def _metric(epochs: pd.DataFrame, name: str) -> pd.DataFrame:
    return epochs.loc[epochs["metric"] == name, ["sweep", "run_id", "epoch", "value"]]


def apply_target(store: Store, runs: pd.DataFrame) -> tuple[pd.DataFrame, Target]:
    """Runs with epochs_to_target / seconds_to_target measured against one target,
    and KNOWN: whether a run's time-to-target is known at all.

    The target is chosen from every run read, not only those `runs` (after
    --where) keeps: a level's convergence numbers must not change with the filter."""
    target, stored = choose_target(store.runs)
    runs = runs.copy()
    if stored:
        runs[KNOWN] = True  # the sweep measured every run against this target itself
        return runs, target
    acc = _metric(store.epochs(), "val_acc")
    reached = first_reach(acc, _metric(store.epochs(), "elapsed"), target.value)
    index = pd.MultiIndex.from_arrays([runs["sweep"], runs["run_id"]])
    runs["epochs_to_target"] = reached["epoch"].reindex(index).to_numpy(dtype=float)
    runs["seconds_to_target"] = reached["elapsed"].reindex(index).to_numpy(dtype=float)
    runs["target_acc"] = target.value
    # Without a val_acc history a run's time-to-target cannot be re-scored: it is
    # unknown, not "never reached", and stays out of the reached/known counts.
    runs[KNOWN] = index.isin(pd.MultiIndex.from_frame(acc[["sweep", "run_id"]].drop_duplicates()))
    return runs, target


def target_notes(runs: pd.DataFrame) -> list[str]:
    """A note when completed runs have no history to re-score (their time is unknown)."""
    unknown = int((runs["status"].eq(Status.COMPLETED) & ~runs[KNOWN]).sum())
    return [f"no per-epoch history for {unknown} runs: time-to-target unknown"] if unknown else []
