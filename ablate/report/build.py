"""Assemble a report: load → filter → target → one table per factor (or the
`--by` combination). Everything the renderers, plots and HTML page show comes
from the `Report` built here; they compute nothing of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from ablate.errors import ConfigError
from ablate.report import stats
from ablate.report.convergence import Target, apply_target, target_notes
from ablate.report.diagnostics import Diagnostics, summarise
from ablate.report.hardware import budget_line, hardware_note
from ablate.report.importance import MIN_BOOTSTRAP, Importance, importance
from ablate.report.design_notes import design_notes, seed_notes
from ablate.report.equivalence import MARGIN, Comparison, comparisons
from ablate.report.family import family_note, other_slices, widen
from ablate.report.load import REPETITION, Store, load
from ablate.report.select import apply_where, parse_by, parse_versus
from ablate.report.testset import TestSet, testset
from ablate.report.tuning import Tuning, summarise_tuning, tuning_runs
from ablate.report.tables import (METRICS, RANKINGS, Metric, all_runs_label, all_runs_note, applicable, applicable_note,
                                  level_table, pivot, thin_levels_note, unscored_note, varying)
from ablate.store.status import Status


@dataclass(frozen=True)
class SweepStatus:
    name: str
    planned: int
    completed: int
    diverged: int
    failed: int
    collapsed: int = 0

    @property
    def done(self) -> int:
        return self.completed + self.diverged + self.collapsed + self.failed

    @property
    def partial(self) -> bool:
        return self.done < self.planned

    def describe(self) -> str:
        state = "partial" if self.partial else "complete"
        return (f"{self.name}: {self.done} of {self.planned} planned runs done ({state}); "
                f"{self.completed} completed, {self.diverged} diverged, "
                + (f"{self.collapsed} collapsed, " if self.collapsed else "") + f"{self.failed} failed")


@dataclass
class Section:
    title: str  # 'norm', or 'norm × act' for an interaction
    keys: list[str]
    table: pd.DataFrame  # `tables.level_table`, best level first

    @property
    def interaction(self) -> bool:
        return len(self.keys) > 1

    @property
    def slug(self) -> str:
        return "-x-".join(k.replace(".", "_") for k in self.keys)


@dataclass
class Report:
    store: Store
    runs: pd.DataFrame  # after --where, with the target's convergence columns
    sweeps: list[SweepStatus]
    factors: list[str]  # keys that vary among `runs`, seed excluded
    fixed: dict[str, str]  # swept keys with one value among `runs` (pinned by --where, or a one-value grid)
    rank_by: Metric
    target: Target
    sections: list[Section]
    marginals: dict[str, pd.DataFrame]  # factor → its marginal table, for the per-factor plots
    where: list[str] = field(default_factory=list)
    confidence: float = stats.CONFIDENCE
    notes: list[str] = field(default_factory=list)
    importance: Importance | None = None  # which factor matters most, with two or more factors
    paired: bool = False  # p by the paired t-test over runs that share a seed and the other factors' levels
    versus: dict[str, str] = field(default_factory=dict)  # factor → the baseline level its table compares with
    command: str | None = None  # the command line that made it, for a shared page's footer (the CLI sets it)
    # Each compared level: differs, equivalent within a margin, or inconclusive with its power (report.equivalence).
    comparisons: list[Comparison] = field(default_factory=list)
    # Per tuned sweep read (ablate sweep --tune): chosen settings and expected max against budget.
    tuning: list[Tuning] = field(default_factory=list)
    # Per-image tests and the test set's own interval (report.testset); its lines are among the notes.
    testset: TestSet = field(default_factory=TestSet)
    budget: str | None = None  # "budget: 30 epochs per run" (report.hardware.budget_line); None: not recorded

    @cached_property
    def diagnostics(self) -> Diagnostics | None:
        """Per-layer diagnostics per level of each factor; None when no finished
        run has a diagnostics.csv. Read on first use: CSV output never needs it."""
        # A sweep in two folders (a backup): the first given, as duplicate rows tie-break to it.
        paths = {s.name: s.path for s in reversed(self.store.sweeps)}
        return summarise(self.runs, paths, list(self.marginals))

    def pivot(self, section: Section, column: str) -> pd.DataFrame:
        return pivot(section.table, section.keys, column, self.runs)

    def header(self) -> list[str]:
        """The lines every output starts with: what was read, what was counted, how."""
        lines = [s.describe() for s in self.sweeps] + ([self.budget] if self.budget else [])
        if self.where:
            lines.append("where " + " and ".join(self.where))
        rule = RANKINGS[self.rank_by.kind].rule.format(label=self.rank_by.label)
        against = "the best level" if not self.versus else \
            f"{' and '.join(f'{k}={v}' for k, v in self.versus.items())} (--versus), else the best level"
        test = (f"paired t-test against {against}, over runs matched on {', '.join(PAIRED_BY)} and the "
                "other factors' levels (csv/json: pairs)" if self.paired else f"Welch t-test against {against}")
        intervals = f"{self.confidence:.0%} Student t intervals over runs"
        if self.rank_by.center == "median":
            test, intervals = f"log-rank test against {against}", \
                f"{self.confidence:.0%} intervals of the median (Brookmeyer–Crowley)"
        lines.append(f"{rule}; {intervals}; p: {test}, Holm-corrected per table")
        if (label := all_runs_label(self.runs, self.rank_by)) is not None:
            lines.append(f"'{label}': every finished run of a level, the diverged, collapsed, "
                         f"stalled and failed ones scored at chance (1/classes); the ranking uses completed runs only")
        lines.append(f"P(>ref): the probability that a run of the level beats a run of the reference "
                     f"(Bouthillier et al. 2021), with a {self.confidence:.0%} bootstrap interval")
        lines.append(self.target.describe())
        tuned = [t.header() for t in self.tuning]
        return lines + tuned + self.notes


def _sweep_status(store: Store, runs: pd.DataFrame, filtered: bool) -> list[SweepStatus]:
    """One line per sweep, however many folders hold it (a backup copy is not a second sweep);
    a run two sweeps share counts in both lines (each ran it), once in the tables."""
    result = []
    for name in store.sweep_names:
        members = store.members.get(name)
        mine = runs[runs["run_id"].isin(members) if members is not None else runs["sweep"] == name]["status"]
        rows = len(mine)
        # Planned runs that runs.csv does not list yet are pending too (unless a
        # filter is on: we cannot tell which of them the filter would keep).
        planned = rows if filtered else max(store.planned(name), rows)
        result.append(SweepStatus(name, planned, int((mine == Status.COMPLETED).sum()),
                                  int((mine == Status.DIVERGED).sum()), int((mine == Status.FAILED).sum()),
                                  int((mine == Status.COLLAPSED).sum())))
    return result


def _table_notes(sections: list[Section], rank_by: Metric) -> list[str]:
    """Per shown table: which levels have too few runs to be ranked."""
    notes = [note for s in sections for note in (thin_levels_note(s.table, s.keys, rank_by),
                                                 all_runs_note(s.table, s.keys, rank_by))]
    return [note for note in notes if note]


DEFAULT_METRIC = "test_acc"  # chosen on val, scored on test: no selection bias (README, "Scores")
FALLBACK_METRIC = "best_val_acc"  # for runs written before ablate had a test split


def default_metric(runs: pd.DataFrame) -> str:
    return DEFAULT_METRIC if runs[DEFAULT_METRIC].notna().any() or runs[FALLBACK_METRIC].isna().all() \
        else FALLBACK_METRIC


PAIRED_BY = (REPETITION,)  # what makes two runs of different levels a pair, besides the other factors


def pair_columns(runs: pd.DataFrame, factors: list[str], keys: list[str]) -> list[str]:
    """The columns a paired comparison of `keys`' levels matches runs on: the
    seed, and every other varying factor (so a pair differs in `keys` only)."""
    return [c for c in (*PAIRED_BY, *factors) if c in runs and c not in keys]


def _widen_families(store: Store, where: list[str], factors: list[str], sections: list[Section],
                    marginals: dict[str, pd.DataFrame], tabulate) -> list[str]:
    """Holm over every slice of --where (report.family): each table's p_holm, and the note saying so."""
    compared, _ = tuning_runs(store.runs)  # a tuned sweep's tuning runs are in no slice's family
    others = [apply_target(store, rows)[0] for rows in other_slices(compared, where)]
    if not others:
        return []
    sizes = {}
    tables = [(s.keys, s.table) for s in sections] + [([f], t) for f, t in marginals.items() if f in factors]
    for keys, table in tables:
        sizes[" × ".join(keys)] = widen(table, others, lambda rows, keys=keys: tabulate(keys, applicable(rows, keys)))
    return [family_note(where, len(others) + 1, sizes)]


def build_report(paths: list[Path], by: str | None = None, where: list[str] | None = None,
                 metric: str | None = None, confidence: float = stats.CONFIDENCE, interactions: int = 2,
                 paired: bool = False, bootstrap: int = 0, versus: list[str] | None = None,
                 margin: float = MARGIN) -> Report:
    """`metric` None: test_acc, or best_val_acc for runs that have no test split (an older results format).
    `paired`: p from paired t-tests over runs that share a seed (README, "Paired seeds").
    `versus`: ['factor=level', ...], each factor's baseline for Δ and p instead of its best level."""
    if 0 < bootstrap < MIN_BOOTSTRAP:
        raise ConfigError(f"--bootstrap {bootstrap}: too few resamples for a percentile interval; "
                          f"use 0 (none) or at least {MIN_BOOTSTRAP} (1000 is usual)")
    store = load(paths)
    rank_by = METRICS[metric or default_metric(store.runs)]
    where = list(where or [])
    runs = apply_where(store.runs, where, store.keys) if where else store.runs
    every = runs
    runs, tuned_runs = tuning_runs(runs)  # a tuned sweep's tables compare its reruns only
    tuning = summarise_tuning({s.name: s.tune for s in store.sweeps if s.tune}, tuned_runs, confidence)
    keys = parse_by(by, store.factors)
    factors = varying(runs, store.factors)
    fixed = {k: str(runs[k].iloc[0]) for k in store.factors if k not in factors}
    baselines = parse_versus(list(versus or []), runs, factors)
    runs, target = apply_target(store, runs)
    notes = [*store.notes, *target_notes(runs), *filter(None, [unscored_note(runs)]), *design_notes(store),
             *seed_notes(runs, store.factors)]
    notes += [note for t in tuning for note in t.notes]
    notes += [note for note in [hardware_note(runs, factors)] if note]

    def tabulate(keys: list[str], rows: pd.DataFrame) -> pd.DataFrame:
        return level_table(rows, keys, rank_by, confidence, pair_columns(rows, factors, keys) if paired else None,
                           baselines.get(keys[0]) if len(keys) == 1 else None)

    marginals = {f: tabulate([f], applicable(runs, [f])) for f in factors}
    notes += [note for f in dict.fromkeys([*factors, *(keys or [])]) if (note := applicable_note(runs, f))]
    if not factors:
        # Nothing varies but the seed: one row per sweep still gives mean and interval.
        notes.append("no factor varies among these runs; one row per sweep")
        marginals = {"sweep": tabulate(["sweep"], runs)}
    if keys:
        sections = [Section(" × ".join(keys), keys, tabulate(keys, applicable(runs, keys)))]
    else:
        sections = [Section(f, [f], table) for f, table in marginals.items()]
    if where:
        notes += _widen_families(store, where, factors, sections, marginals, tabulate)
    notes += _table_notes(sections, rank_by)
    pair_on = {f: pair_columns(runs, factors, [f]) for f in factors} if paired else None
    compared = comparisons({f: marginals[f] for f in factors if f in marginals}, runs, rank_by.column, margin,
                           pair_on) if rank_by.kind == "accuracy" else []
    notes += [c.describe() for c in compared]
    tested = testset({f: marginals[f] for f in factors if f in marginals}, runs, [s.path for s in store.sweeps],
                     rank_by.column, rank_by.same_as, confidence)
    notes += tested.lines()
    ranked = None
    if len(factors) >= 2:
        try:
            ranked = importance(runs, factors, rank_by.column, rank_by.label, confidence, interactions, bootstrap)
        except (ValueError, np.linalg.LinAlgError) as e:  # a design statsmodels cannot fit: the tables still stand
            notes.append(f"factor importance not computed: {str(e).splitlines()[0]}")
    return Report(store, runs, _sweep_status(store, every, bool(where)), factors, fixed, rank_by,
                  target, sections, marginals, where, confidence, notes, ranked, paired, baselines, comparisons=compared,
                  tuning=tuning, testset=tested, budget=budget_line(runs))
