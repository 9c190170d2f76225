"""Level tables: per level of a factor (or of a combination, for `--by a,b`), its
status counts, the mean and interval of every metric, its rank and its
difference from the best level (or a baseline, `--versus`) with a Holm-corrected
Welch p-value.

Status is part of the result: every planned run is counted in exactly one of
completed / diverged / failed / pending. Only completed runs enter the means;
a diverged run's accuracy would drag a mean down for a reason the divergence
rate already reports, and a failed run has no accuracy at all.

Ranking (`RANKINGS`, per kind of metric): by the mean, or for epochs/seconds to
target by the share of runs that reached it, then the mean of those that did.
Only levels with MIN_RUNS completed runs are ranked and can be the best (the
reference of Δ and p): one run has no interval and cannot be tested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ablate.registry import Registry
from ablate.report import stats, survival
from ablate.report.convergence import KNOWN
from ablate.report.survival import TIMED
from ablate.store.status import ENDED, Reading, Status
from ablate.store.tables import NOT_APPLICABLE


@dataclass(frozen=True)
class Metric:
    column: str  # the runs.csv column (or one derived in `load`)
    label: str
    higher_is_better: bool
    spec: str  # format spec of a value in the tables
    kind: str = "accuracy"  # accuracy | convergence (empty for runs that never reached the target) | overfitting
    # What a level's number is: the mean over its completed runs, or for a time to
    # target the Kaplan–Meier median over its runs, censored where they never got there.
    center: str = "mean"
    # A metric that is another in most sweeps (TTA accuracy without TTA is test_acc):
    # not a column of its own unless some run's value differs from that one's.
    same_as: str | None = None


METRICS: Registry[Metric] = Registry("metric")
METRICS.add("test_acc", Metric("test_acc", "test acc", True, ".4f"),
            "test accuracy at the epoch of best validation accuracy (the default: chosen on val, scored on test)")
METRICS.add("test_acc_tta", Metric("test_acc_tta", "test acc (TTA)", True, ".4f", same_as="test_acc"),
            "test accuracy with the run's eval.tta views averaged, at the epoch of best val accuracy with them "
            "(eval.tta=none: test_acc)")
METRICS.add("best_val_acc", Metric("best_val_acc", "best val acc", True, ".4f"),
            "highest validation accuracy over the epochs of a run (optimistic: a maximum over noisy epochs)")
METRICS.add("final_test_acc", Metric("final_test_acc", "final test acc", True, ".4f"),
            "test accuracy after the last epoch")
METRICS.add("final_val_acc", Metric("final_val_acc", "final val acc", True, ".4f"),
            "validation accuracy after the last epoch")
METRICS.add("auc_val_acc", Metric("auc_val_acc", "AUC val acc", True, ".4f"),
            "area under the validation-accuracy curve, per epoch (mean accuracy over epochs)")
METRICS.add("epochs_to_target", Metric("epochs_to_target", "epochs to target", False, ".1f", "convergence", "median"),
            "first epoch whose validation accuracy reaches the target (per level: the Kaplan–Meier median, "
            "runs that never got there censored at their last epoch)")
METRICS.add("seconds_to_target", Metric("seconds_to_target", "seconds to target", False, ".1f", "convergence",
                                        "median"),
            "training wall time (s) until that epoch (per level: the Kaplan–Meier median, censored likewise)")
METRICS.add("train_val_gap", Metric("train_val_gap", "train − val acc", False, ".4f", "overfitting"),
            "final train accuracy minus final validation accuracy (overfitting)")

# A count per status that is a result (completed, diverged, failed), then one
# for everything not finished yet (pending: a partial sweep).
RESULTS = tuple(s for s in Status if s in ENDED)
STATUS_COLUMNS = (*RESULTS, Reading.PENDING)


def level_order(values: pd.Series) -> list[str]:
    """Levels in numeric order when they are all numbers, else in first-seen
    order, which in runs.csv is the order the grid was typed in. An option
    that does not apply to a run (an empty cell) is not a level."""
    unique = [v for v in pd.unique(values) if v != NOT_APPLICABLE]
    numbers = pd.to_numeric(pd.Series(unique), errors="coerce")
    if len(unique) and numbers.notna().all():
        return [unique[i] for i in np.argsort(numbers.to_numpy(), kind="stable")]
    return unique


def applicable(runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The runs that every key applies to: what a table of those keys compares."""
    mask = np.logical_and.reduce([runs[k].ne(NOT_APPLICABLE).to_numpy() for k in keys])
    return runs if mask.all() else runs[mask]


def applicable_note(runs: pd.DataFrame, key: str) -> str | None:
    """`norm.groups applies to norm=group only: ...` when some runs lack the option."""
    left = runs[key].eq(NOT_APPLICABLE)
    if not left.any():
        return None
    parent = key.partition(".")[0]
    if parent != key and parent in runs:
        have, lack = level_order(runs.loc[~left, parent]), level_order(runs.loc[left, parent])
        return (f"{key} applies to {parent}={','.join(have)} only: its table compares those runs "
                f"(the {int(left.sum())} runs of {parent}={','.join(lack)} have no {key})")
    return f"{key} applies to some runs only: its table leaves out the {int(left.sum())} runs without it"


def varying(runs: pd.DataFrame, keys: list[str]) -> list[str]:
    """The keys that take more than one value in `runs`: the factors to report."""
    return [k for k in keys if runs[k].nunique(dropna=False) > 1]


def _status_counts(status: pd.Series, codes: np.ndarray, k: int) -> dict[str, np.ndarray]:
    masks = {s: status.eq(s).to_numpy() for s in RESULTS}
    # Anything else (queued, running, interrupted, or a status this version does
    # not know) is not a result yet: pending, never dropped.
    masks[Reading.PENDING] = ~np.logical_or.reduce(list(masks.values()))
    return {name: np.bincount(codes[mask], minlength=k) for name, mask in masks.items()}


def level_table(runs: pd.DataFrame, keys: list[str], rank_by: Metric, confidence: float = stats.CONFIDENCE,
                pair_on: list[str] | None = None, versus: str | None = None) -> pd.DataFrame:
    """One row per level of `keys` (a combination when several), best first.

    `pair_on`: compare each level with the reference by a paired t-test over the
    runs the two share these columns' values with (seed and the other factors),
    not by Welch's test of independent groups; None: Welch. `versus`: the level
    of a one-key table that is the reference (a baseline); None: the best."""
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
    finished = sum(counts[s] for s in RESULTS)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Share of the finished runs that blew up (loss stopped being finite).
        table["divergence_rate"] = np.where(finished > 0, counts[Status.DIVERGED] / finished, np.nan)

    completed = runs["status"].eq(Status.COMPLETED).to_numpy()
    # Runs whose time-to-target is known, reached or not: the "reached target" denominator.
    known = runs["status"].isin(TIMED).to_numpy() & (runs[KNOWN].to_numpy(dtype=bool) if KNOWN in runs else True)
    table[KNOWN] = np.bincount(codes[known], minlength=k)
    described = {}
    for name, metric in METRICS.items():
        d = described[name] = DESCRIBE[metric.center](runs, metric, codes, k, completed, known, confidence)
        for part in ("n", metric.center, "low", "high", *(["bound"] if "bound" in d else [])):
            table[f"{name}_{part}"] = d[part]

    table["rank"], order, reference, eligible = rank_levels(table, rank_by)
    if versus is not None and len(keys) == 1 and versus in set(table[keys[0]]):
        reference = int(np.flatnonzero(table[keys[0]].to_numpy() == versus)[0])
    # The level the others are compared with.
    table["reference"] = np.arange(k) == (-1 if reference is None else reference)
    d = described[rank_by.column]
    center = d[rank_by.center]
    table["diff"] = center - center[reference] if reference is not None else np.nan
    table["p"], better = _versus(runs, codes, d, rank_by, reference, eligible, pair_on, completed, known,
                                 confidence, table)
    table["p_holm"] = stats.holm(table["p"].to_numpy())
    table["p_better"], table["p_better_low"], table["p_better_high"] = better
    if rank_by.kind == "accuracy":
        all_runs = stats.describe(scored_at_chance(runs, rank_by), codes, k, confidence)
        for part in ("n", "mean", "low", "high"):
            table[f"{ALL_RUNS}_{part}"] = all_runs[part]
    return table.iloc[order].reset_index(drop=True)


# The ranking accuracy over every finished run of a level, the runs that failed to
# learn (diverged, collapsed, stalled) or to run (failed) scored at chance, 1/classes:
# beside the completed runs' mean, so a level that only sometimes trains shows it.
ALL_RUNS = "all_runs"
AT_CHANCE = (Status.DIVERGED, Status.COLLAPSED, Status.STALLED, Status.FAILED)


def chance(runs: pd.DataFrame) -> np.ndarray:
    """Per run 1/classes: its own summary's classes, else (a run that failed before
    it had data, or one made before summaries kept classes) its sweep's, when all
    the sweep's runs that say agree; NaN when nothing says."""
    classes = pd.to_numeric(runs["classes"], errors="coerce") if "classes" in runs else \
        pd.Series(np.nan, index=runs.index)
    sweep = runs["sweep"] if "sweep" in runs else pd.Series("", index=runs.index)
    per_sweep = classes.groupby(sweep).agg(lambda c: c.dropna().iloc[0] if c.dropna().nunique() == 1 else np.nan)
    filled = classes.fillna(sweep.map(per_sweep))
    return 1.0 / filled.to_numpy(dtype=float)


def all_runs_label(runs: pd.DataFrame, metric: Metric) -> str | None:
    """The header of `metric` over all finished runs (ALL_RUNS), when it says something
    the completed mean does not: some run read ended without learning. Else None."""
    failures = runs["status"].isin(AT_CHANCE).to_numpy()
    if metric.kind != "accuracy" or not np.isfinite(chance(runs)[failures]).any():
        return None
    return f"{metric.label}, all runs"


def unscored_note(runs: pd.DataFrame) -> str | None:
    """Runs that ended without learning whose chance level nothing records (their sweep's
    runs were made before summaries kept `classes`): left out of every mean, said so."""
    unknown = int((runs["status"].isin(AT_CHANCE).to_numpy() & ~np.isfinite(chance(runs))).sum())
    if not unknown:
        return None
    return (f"{unknown} diverged, collapsed or failed runs are in no mean: their runs record no class count "
            f"(made before ablate kept one), so they cannot be scored at chance; the status columns count them")


def all_runs_note(table: pd.DataFrame, keys: list[str], metric: Metric) -> str | None:
    """'counting every finished run, failures at chance, lr=0.01 would rank first on test acc
    (0.9010 against lr=0.1's 0.6667); ...': when the completed-run ranking's best is not the
    best once failures count."""
    column = f"{ALL_RUNS}_mean"
    first = table["rank"].eq(1).fillna(False).to_numpy(dtype=bool) if "rank" in table else []
    if column not in table or not any(first) or table[column].isna().all():
        return None
    best, top = table.loc[first].iloc[0], table.loc[table[column].idxmax()]
    if top[column] <= best[column] or (table[column] == best[column]).sum() > 1:
        return None
    name = ", ".join(f"{k}={top[k]}" for k in keys)
    ref = ", ".join(f"{k}={best[k]}" for k in keys)
    spec = metric.spec
    return (f"counting every finished run, failures at chance, {name} would rank first on {metric.label} "
            f"({format(top[column], spec)} against {ref}'s {format(best[column], spec)}); the table ranks "
            f"completed runs")


def scored_at_chance(runs: pd.DataFrame, metric: Metric) -> np.ndarray:
    """`metric` of completed runs, chance for the runs that ended without learning; NaN for pending."""
    value = runs[metric.column].to_numpy(dtype=float)
    status = runs["status"]
    return np.where(status.eq(Status.COMPLETED), value, np.where(status.isin(AT_CHANCE), chance(runs), np.nan))


def _versus(runs: pd.DataFrame, codes: np.ndarray, d: dict, rank_by: Metric, reference: int | None,
            eligible: np.ndarray, pair_on: list[str] | None, completed: np.ndarray, known: np.ndarray,
            confidence: float, table: pd.DataFrame) -> tuple[np.ndarray, tuple]:
    """(p of each level against the reference, P(a run beats one of the reference) with its
    interval). A time to target: log-rank, and a run that never got there is slower than
    any that did (runs followed for one budget); else Welch, or paired over `pair_on`."""
    values = np.where(completed, runs[rank_by.column].to_numpy(dtype=float), np.nan)
    if rank_by.center == "median":
        p = _logrank_versus(d, reference, eligible)
        time, event = d["time"], d["event"]  # each run's censored time, as the medians used them
        # Never got there: slower than any run that did, and tied with another that did not.
        never = np.nanmax(np.where(known, time, np.nan), initial=0.0) + 1.0
        values = np.where(known, np.where(event == 1, time, never), np.nan)
    elif pair_on is None:
        p = _welch_versus(d, reference, eligible)
    else:
        table["pairs"], p = _paired_versus(runs, codes, values, reference, eligible, pair_on)
    return p, _prob_versus(values, codes, reference, eligible, rank_by.higher_is_better, confidence)


def _completed_mean(runs: pd.DataFrame, metric: Metric, codes: np.ndarray, k: int, completed: np.ndarray,
                    known: np.ndarray, confidence: float) -> dict:
    values = np.where(completed, runs[metric.column].to_numpy(dtype=float), np.nan)
    return stats.describe(values, codes, k, confidence)


def _censored_median(runs: pd.DataFrame, metric: Metric, codes: np.ndarray, k: int, completed: np.ndarray,
                     known: np.ndarray, confidence: float) -> dict:
    """Per level the Kaplan–Meier median of a time to target (report.survival): every
    run with a known time counts, those that never got there censored when they ended."""
    time, event = survival.run_times(runs, metric.column)
    usable = known & np.isfinite(time)
    levels = [(time[usable & (codes == g)], event[usable & (codes == g)]) for g in range(k)]
    medians = [survival.km_median(t, e, confidence) for t, e in levels]
    return {"n": np.array([int(e.sum()) for _, e in levels]), "median": np.array([m.value for m in medians]),
            "low": np.array([m.low for m in medians]), "high": np.array([m.high for m in medians]),
            "bound": np.array([m.bound for m in medians]), "times": levels, "time": time, "event": event}


# How a level's number is computed, per Metric.center.
DESCRIBE = {"mean": _completed_mean, "median": _censored_median}


def _logrank_versus(d: dict, reference: int | None, eligible: np.ndarray) -> np.ndarray:
    """The log-rank p of each ranked level's censored times against the reference's."""
    p = np.full(len(eligible), np.nan)
    if reference is None:
        return p
    for level in np.flatnonzero(eligible):
        if level != reference:
            p[level] = survival.logrank(*d["times"][level], *d["times"][reference])
    return p


def _prob_versus(values: np.ndarray, codes: np.ndarray, reference: int | None, eligible: np.ndarray,
                 higher_is_better: bool, confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P(a run of each level beats a run of the reference), with its bootstrap interval
    (stats.prob_better), beside each p; "beats" is lower for a lower-is-better metric."""
    k = len(eligible)
    out = np.full((3, k), np.nan)
    if reference is None:
        return out[0], out[1], out[2]
    sign = 1.0 if higher_is_better else -1.0
    mine = [sign * values[codes == level] for level in range(k)]
    for level in np.flatnonzero(eligible):
        if level != reference:
            out[:, level] = stats.prob_better(mine[level], mine[reference], confidence)
    return out[0], out[1], out[2]


# -- Ranking: how levels are ordered, per kind of metric.

MIN_RUNS = 2  # fewer runs have no interval and no test: such a level cannot be the reference


@dataclass(frozen=True)
class Ranking:
    keys: Callable[[pd.DataFrame, Metric], list[np.ndarray]]  # per level, higher is better, most important first
    support: Callable[[pd.DataFrame, Metric], np.ndarray]  # runs behind each level's place
    runs: str  # what `support` counts, for the notes
    rule: str  # how levels are ranked, for the header; {label} is the metric's


def _by_mean(table: pd.DataFrame, metric: Metric) -> list[np.ndarray]:
    mean = table[f"{metric.column}_{metric.center}"].to_numpy(dtype=float)
    return [mean if metric.higher_is_better else -mean]


def _by_median_then_share(table: pd.DataFrame, metric: Metric) -> list[np.ndarray]:
    # Censored runs are in the median (report.survival), so one lucky run of five
    # cannot make a level "fast". A level whose median is not reached (more than
    # half never got there) ranks below every level whose median is, then by the
    # share that got there.
    reached = table[f"{metric.column}_n"].to_numpy(dtype=float)
    known = table[KNOWN].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(known > 0, reached / known, np.nan)
    [speed] = _by_mean(table, metric)
    has_median = np.where(known > 0, np.isfinite(speed).astype(float), np.nan)
    return [has_median, np.where(np.isfinite(speed), speed, -np.inf), share]


def _completed_with_value(table: pd.DataFrame, metric: Metric) -> np.ndarray:
    return table[f"{metric.column}_n"].to_numpy()


def _completed_known(table: pd.DataFrame, metric: Metric) -> np.ndarray:
    return table[KNOWN].to_numpy()


_BY_MEAN = Ranking(_by_mean, _completed_with_value, "completed run", "levels ranked by mean {label} of completed runs")
RANKINGS: dict[str, Ranking] = {
    "accuracy": _BY_MEAN,
    "overfitting": _BY_MEAN,
    "convergence": Ranking(_by_median_then_share, _completed_known, "run with a known time-to-target",
                           "levels ranked by the Kaplan–Meier median {label}, runs that never reached it "
                           "(diverged and collapsed ones too) censored at their last epoch; Δ compares "
                           "medians, p is a log-rank test"),
}


def rank_levels(table: pd.DataFrame, rank_by: Metric) -> tuple[pd.arrays.IntegerArray, np.ndarray, int | None,
                                                                np.ndarray]:
    """(rank per level, row order best first, the reference level or None, which levels are ranked).

    Only levels with MIN_RUNS runs are ranked, unless none has: then every level
    with a value is, as a note says. Ties share the better rank (1, 2, 2, 4).
    Rows: ranked levels, then the unranked with a value, then those without."""
    ranking = RANKINGS[rank_by.kind]
    keys = ranking.keys(table, rank_by)
    placed = np.isfinite(keys[0])
    enough = placed & (ranking.support(table, rank_by) >= MIN_RUNS)
    eligible = enough if enough.any() else placed
    finite = [np.where(np.isfinite(x), x, -np.inf) for x in keys]
    group = np.where(eligible, 0, np.where(placed, 1, 2))
    k = len(table)
    order = np.lexsort((np.arange(k), *[-x for x in reversed(finite)], group))  # last key sorts first
    ranked = order[: int(eligible.sum())]
    values = np.column_stack([x[ranked] for x in finite])
    starts = np.r_[True, (values[1:] != values[:-1]).any(axis=1)] if len(ranked) else np.ones(0, bool)
    rank = np.full(k, np.nan)
    rank[ranked] = np.maximum.accumulate(np.where(starts, np.arange(len(ranked)), 0)) + 1
    best = int(ranked[0]) if len(ranked) else None
    return pd.Series(rank).astype("Int64").array, order, best, eligible


def _welch_versus(d: dict, reference: int | None, eligible: np.ndarray) -> np.ndarray:
    """Welch's p of each level's difference from the reference level's mean."""
    k = len(eligible)
    if reference is None:
        return np.full(k, np.nan)
    _, _, p = stats.welch(d["mean"], d["var"], d["n"], d["mean"][reference], d["var"][reference], d["n"][reference])
    # The reference is not compared with itself; an unranked level (one run) is not tested.
    return np.where(eligible & (np.arange(k) != reference), p, np.nan)


def _paired_versus(runs: pd.DataFrame, codes: np.ndarray, values: np.ndarray, reference: int | None,
                   eligible: np.ndarray, pair_on: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(pairs, paired p) of each level against the reference: a run of the level
    and one of the reference are a pair when they agree on every `pair_on`
    column (the same seed in the same cell of the other factors). A level that
    shares fewer than two pairs with the reference gets no p."""
    k = len(eligible)
    pairs, p = np.zeros(k, dtype=int), np.full(k, np.nan)
    if reference is None or not pair_on:
        return pairs, p
    frame = runs[pair_on].astype(str).assign(_level=codes, _value=values).dropna(subset=["_value"])
    # Runs that repeat a pair key within a level (a sweep read from two folders is
    # deduplicated before this) are averaged: one number per key and level.
    by_level = {level: group.groupby(pair_on, sort=False)["_value"].mean()
                for level, group in frame.groupby("_level", sort=False)}
    baseline = by_level.get(reference)
    for level in np.flatnonzero(eligible):
        if level == reference or baseline is None or level not in by_level:
            continue
        joined = pd.concat([by_level[level], baseline], axis=1, join="inner", keys=["level", "reference"])
        pairs[level] = len(joined)
        p[level] = stats.paired(joined["level"] - joined["reference"])[2]
    return pairs, p


NOTE_LEVELS = 5  # levels named in a note before "and N more"


def thin_levels_note(table: pd.DataFrame, keys: list[str], rank_by: Metric) -> str | None:
    """'lr=1.0 has 1 completed run: no interval, not ranked', or None."""
    ranking = RANKINGS[rank_by.kind]
    support = ranking.support(table, rank_by)
    thin = support == 1
    count = int(thin.sum())
    if not count:
        return None
    shown = table.loc[thin, keys].head(NOTE_LEVELS).astype(str)
    names = [", ".join(f"{k}={v}" for k, v in zip(keys, row)) for row in shown.itertuples(index=False)]
    more = f" and {count - len(names)} more" if count > len(names) else ""
    has = f"has 1 {ranking.runs}" if count == 1 else f"have 1 {ranking.runs} each"
    what = "no interval, not ranked" if (support >= MIN_RUNS).any() else \
        "no interval or p-value; ranked by mean anyway, as no level has 2"
    return f"{'; '.join(names)}{more} {has}: {what}"


def pivot(table: pd.DataFrame, keys: list[str], column: str, runs: pd.DataFrame) -> pd.DataFrame:
    """`column` of a combination table as rows = all keys but the last,
    columns = the last key; levels in their natural order."""
    rows, col = keys[:-1], keys[-1]
    wide = table.set_index(keys)[column].unstack(col)
    wide = wide.reindex(columns=[c for c in level_order(runs[col]) if c in wide.columns])
    if len(rows) == 1:
        wide = wide.reindex([r for r in level_order(runs[rows[0]]) if r in wide.index])
    return wide
