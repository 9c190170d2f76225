"""Level tables: per level of a factor (or of a combination, for `--by a,b`), its
status counts, the mean and interval of every metric, its rank and its
difference from the best level with a Holm-corrected Welch p-value.

Status is part of the result: every planned run is counted in exactly one of
completed / diverged / failed / pending. Only completed runs enter the means;
a diverged run's accuracy would drag a mean down for a reason the divergence
rate already reports, and a failed run has no accuracy at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ablate.registry import Registry
from ablate.report import stats


@dataclass(frozen=True)
class Metric:
    column: str  # the runs.csv column (or one derived in `load`)
    label: str
    higher_is_better: bool
    spec: str  # format spec of a value in the tables
    kind: str = "accuracy"  # accuracy | convergence (empty for runs that never reached the target) | overfitting


METRICS: Registry[Metric] = Registry("metric")
METRICS.add("best_val_acc", Metric("best_val_acc", "best val acc", True, ".4f"),
            "highest validation accuracy over the epochs of a run")
METRICS.add("final_val_acc", Metric("final_val_acc", "final val acc", True, ".4f"),
            "validation accuracy after the last epoch")
METRICS.add("auc_val_acc", Metric("auc_val_acc", "AUC val acc", True, ".4f"),
            "area under the validation-accuracy curve, per epoch (mean accuracy over epochs)")
METRICS.add("epochs_to_target", Metric("epochs_to_target", "epochs to target", False, ".1f", "convergence"),
            "first epoch whose validation accuracy reaches the target")
METRICS.add("seconds_to_target", Metric("seconds_to_target", "seconds to target", False, ".1f", "convergence"),
            "training wall time (s) until that epoch")
METRICS.add("train_val_gap", Metric("train_val_gap", "train − val acc", False, ".4f", "overfitting"),
            "final train accuracy minus final validation accuracy (overfitting)")

# Statuses that mean "not finished yet" (a partial sweep); the others are results.
PENDING = ("queued", "running", "interrupted")
STATUS_COLUMNS = ("completed", "diverged", "failed", "pending")


def level_order(values: pd.Series) -> list[str]:
    """Levels in numeric order when they are all numbers, else in first-seen
    order, which in runs.csv is the order the grid was typed in."""
    unique = list(pd.unique(values))
    numbers = pd.to_numeric(pd.Series(unique), errors="coerce")
    if len(unique) and numbers.notna().all():
        return [unique[i] for i in np.argsort(numbers.to_numpy(), kind="stable")]
    return unique


def varying(runs: pd.DataFrame, keys: list[str]) -> list[str]:
    """The keys that take more than one value in `runs`: the factors to report."""
    return [k for k in keys if runs[k].nunique(dropna=False) > 1]


def _status_counts(status: pd.Series, codes: np.ndarray, k: int) -> dict[str, np.ndarray]:
    masks = {
        "completed": status.eq("completed").to_numpy(),
        "diverged": status.eq("diverged").to_numpy(),
        "failed": status.eq("failed").to_numpy(),
    }
    # Anything else (queued, running, interrupted, or a status this version does
    # not know) is not a result yet: pending, never dropped.
    masks["pending"] = ~(masks["completed"] | masks["diverged"] | masks["failed"])
    return {name: np.bincount(codes[mask], minlength=k) for name, mask in masks.items()}


def level_table(runs: pd.DataFrame, keys: list[str], rank_by: Metric,
                confidence: float = stats.CONFIDENCE) -> pd.DataFrame:
    """One row per level of `keys` (a combination when several), best first."""
    grouped = runs.groupby(keys, sort=False, observed=True)
    codes = grouped.ngroup().to_numpy()
    index = grouped.size().index
    k = len(index)
    levels = index.to_frame(index=False) if len(keys) > 1 else pd.DataFrame({keys[0]: list(index)})
    table = levels.astype(str)

    counts = _status_counts(runs["status"], codes, k)
    table["runs"] = np.bincount(codes, minlength=k)
    for name in STATUS_COLUMNS:
        table[name] = counts[name]
    finished = counts["completed"] + counts["diverged"] + counts["failed"]
    with np.errstate(divide="ignore", invalid="ignore"):
        # Share of the finished runs that blew up (loss stopped being finite).
        table["divergence_rate"] = np.where(finished > 0, counts["diverged"] / finished, np.nan)

    completed = runs["status"].eq("completed").to_numpy()
    described = {}
    for name, metric in METRICS.items():
        values = np.where(completed, runs[metric.column].to_numpy(dtype=float), np.nan)
        d = described[name] = stats.describe(values, codes, k, confidence)
        table[f"{name}_n"] = d["n"]
        table[f"{name}_mean"] = d["mean"]
        table[f"{name}_low"] = d["low"]
        table[f"{name}_high"] = d["high"]

    d = described[rank_by.column]
    score = d["mean"] if rank_by.higher_is_better else -d["mean"]
    # Ties share the better rank (1, 2, 2, 4); levels without a completed run have none.
    table["rank"] = pd.Series(score).rank(ascending=False, method="min").astype("Int64").array
    table["diff"], table["p"], table["p_holm"] = _versus_best(d, score)
    order = np.lexsort((np.arange(k), np.where(np.isfinite(score), -score, np.inf)))
    return table.iloc[order].reset_index(drop=True)


def _versus_best(d: dict, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Difference of each level's mean from the best level's, Welch's p of that
    difference, and Holm's correction across the (levels - 1) comparisons."""
    k = len(score)
    nan = np.full(k, np.nan)
    if not np.isfinite(score).any():
        return nan, nan, nan
    best = int(np.nanargmax(score))
    diff = d["mean"] - d["mean"][best]
    _, _, p = stats.welch(d["mean"], d["var"], d["n"], d["mean"][best], d["var"][best], d["n"][best])
    p[best] = np.nan  # the best level is not compared with itself
    return diff, p, stats.holm(p)


def factor_tables(runs: pd.DataFrame, factors: list[str], rank_by: Metric,
                  confidence: float = stats.CONFIDENCE) -> dict[str, pd.DataFrame]:
    """Marginal table of every factor: each level pooled over all other factors."""
    return {f: level_table(runs, [f], rank_by, confidence) for f in factors}


def pivot(table: pd.DataFrame, keys: list[str], column: str, runs: pd.DataFrame) -> pd.DataFrame:
    """`column` of a combination table as rows = all keys but the last,
    columns = the last key; levels in their natural order."""
    rows, col = keys[:-1], keys[-1]
    wide = table.set_index(keys)[column].unstack(col)
    wide = wide.reindex(columns=[c for c in level_order(runs[col]) if c in wide.columns])
    if len(rows) == 1:
        wide = wide.reindex([r for r in level_order(runs[rows[0]]) if r in wide.index])
    return wide
