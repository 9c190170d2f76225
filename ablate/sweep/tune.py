"""`ablate sweep --tune KEY=GRID --budget K --rerun-seeds N`: an equal tuning budget per cell.

Comparing levels at one shared setting (one learning rate for every norm) is
the unfair ablation Melis et al. 2017 and Lucic et al. 2018 warn of: a choice
that needs another learning rate loses for that reason alone. Here every cell
of the grid (the swept factors, seeds aside) gets the same budget:

1. **tune**: K settings of the tuned keys (the whole grid when it has K points
   or fewer, else K drawn at random, seeded: every cell with the same grid gets
   the same K), each one run at the tuning seed;
2. **select**: the setting with the best `best_val_acc`, read from the
   validation split only (never test: the scores the report ranks on must come
   from images that chose nothing);
3. **rerun**: that setting on N fresh seeds, scored on test.

Every run is an ordinary run of the store: its id hashes its config as any
run's does, so resume, failures, launchers and trackers work unchanged. Its
role (`tune`, `rerun`) is the plan's, recorded in sweep.yaml and runs.csv.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ablate.config.compose import load_config, parse_overrides
from ablate.config.grid import expand, preset_tuning, read_grid
from ablate.errors import ConfigError
from ablate.runner.identity import run_id
from ablate.store.rundir import RunDir
from ablate.store.status import Status
from ablate.store.summary import finished_summary
from ablate.store.sweep_record import read_sweep_record, run_roles
from ablate.store.tables import NOT_APPLICABLE
from ablate.sweep.plan import Plan, PlannedRun

TUNE, RERUN = "tune", "rerun"  # the roles
# A rerun of a setting no longer chosen (a tuning run retried with --retry-failed now
# scores best): kept in the folder, never compared.
SUPERSEDED = "superseded"
SELECT_ON = "best_val_acc"  # validation accuracy at the run's best epoch: the only number selection reads
# Statuses whose runs are scored in selection. A stalled run (--stop-stalled) is a
# setting that did not learn: scored at the val accuracy it reached. A diverged or
# failed one has no score and is never chosen.
SCORED = (Status.COMPLETED, Status.STALLED)
REPETITION = "seed"


@dataclass(frozen=True)
class TuneRequest:
    """What the command line (or the preset's `tune.*` entries) asked for."""
    lines: tuple[str, ...] = ()  # KEY=GRID, as written
    budget: int | None = None
    rerun_seeds: int | None = None
    stall_epochs: int | None = None  # --stop-stalled E

    @property
    def asked(self) -> bool:
        return bool(self.lines)


@dataclass(frozen=True)
class Cell:
    label: dict[str, str]  # factor → this cell's level (NOT_APPLICABLE where an option is not its level's)
    lines: tuple[str, ...]  # the cell's overrides: fixed and swept, no seed, no tuned key
    points: list[dict[str, str]]  # the settings tried: tuned key → value (the keys that apply to the cell)
    space: int  # how many settings the cell's tuning grid has
    run_ids: list[str] = field(default_factory=list)  # the tuning run of each point


@dataclass(frozen=True)
class Tuning:
    grid: dict[str, list[str]]  # tuned key → every value of its grid
    budget: int
    seed: int  # tuning runs' seed
    rerun_seeds: tuple[int, ...]
    factors: list[str]  # the cells' keys
    cells: list[Cell] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    config_dir: Path | None = None  # where the reruns are composed from, as the tuning runs were

    @property
    def runs(self) -> int:
        """Every run the tuned sweep may make: K (or fewer) per cell, then N reruns per cell."""
        return sum(len(c.points) for c in self.cells) + len(self.cells) * len(self.rerun_seeds)


@dataclass(frozen=True)
class Choice:
    cell: Cell
    point: dict[str, str] | None  # None: no tuning run of the cell has a score yet
    run_id: str | None  # the tuning run chosen
    score: float  # its best_val_acc
    unscored: int  # tuning runs of the cell without a score (failed, diverged, not run)


def request_from(flags: TuneRequest, overrides: Sequence[str], config_dir: Path | None) -> TuneRequest:
    """The command line's request, completed by the preset's `tune.*` entries (the command line wins)."""
    preset = preset_tuning(overrides, config_dir)
    budget, reruns = _int(preset.pop("budget", None), "tune.budget"), _int(preset.pop("rerun_seeds", None),
                                                                           "tune.rerun_seeds")
    budget = flags.budget if flags.budget is not None else budget
    reruns = flags.rerun_seeds if flags.rerun_seeds is not None else reruns
    given = {line.split("=", 1)[0].lstrip("+") for line in flags.lines}
    lines = (*flags.lines, *[f"{k}={v}" for k, v in preset.items() if k not in given])
    return TuneRequest(lines, budget, reruns, flags.stall_epochs)


def _int(value: str | None, key: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{key}={value} in the preset is not a whole number") from None


def check_request(req: TuneRequest) -> None:
    """One line per mistake, before anything is composed."""
    if not req.asked:
        given = [flag for flag, v in (("--budget", req.budget), ("--rerun-seeds", req.rerun_seeds),
                                      ("--stop-stalled", req.stall_epochs)) if v is not None]
        if given:
            raise ConfigError(f"{' and '.join(given)} go{'es' if len(given) == 1 else ''} with --tune KEY=GRID; "
                              "add it, or leave them out")
        return
    if req.budget is None or req.budget < 1:
        raise ConfigError(f"--budget {req.budget if req.budget is not None else '(missing)'}: the settings to try "
                          "per cell must be a whole number >= 1, e.g. --budget 5")
    if req.rerun_seeds is None or req.rerun_seeds < 1:
        raise ConfigError(f"--rerun-seeds {req.rerun_seeds if req.rerun_seeds is not None else '(missing)'}: the "
                          "fresh seeds the best setting is rerun on must be a whole number >= 1, e.g. --rerun-seeds 3")
    if req.stall_epochs is not None and req.stall_epochs < 1:
        raise ConfigError(f"--stop-stalled {req.stall_epochs}: the epochs near chance before a tuning run stops "
                          "must be a whole number >= 1")


def tuned_plan(overrides: Sequence[str], config_dir: Path | None, max_cells: int | None,
               req: TuneRequest) -> tuple[Plan, Tuning]:
    """The tuning stage's plan (every tuning run composed and checked) and the tuning it belongs to."""
    check_request(req)
    tune_axes = _tune_axes(req.lines)
    swept = {k.lstrip("+"): v for k, v in read_grid(list(overrides), config_dir).axes}
    notes = _check_tuned_keys(tune_axes, overrides, swept)
    tuned = {k.lstrip("+") for k, _ in tune_axes}
    lines = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in tuned]
    grid = read_grid([*lines, *[f"{k}={','.join(v)}" for k, v in tune_axes]], config_dir)
    seeds = swept.get(REPETITION)
    fixed_seed = [line.split("=", 1)[1] for line in grid.fixed if line.split("=", 1)[0].lstrip("+") == REPETITION]
    seed = int(seeds[0]) if seeds else int(fixed_seed[-1]) if fixed_seed else load_config([], config_dir).seed
    if seeds:
        notes.append(f"--tune: the grid's seed={','.join(seeds)} is not used; tuning runs use seed={seed}, "
                     f"reruns seeds {seed + 1}..{seed + req.rerun_seeds}")
    cell_axes = [(k, v) for k, v in grid.axes if k.lstrip("+") not in tuned and k.lstrip("+") != REPETITION]
    cells_n = math.prod(len(v) for _, v in cell_axes)
    if max_cells is not None and cells_n * req.budget > max_cells:
        raise ConfigError(f"the tuned grid has {cells_n:,} cells × {req.budget} settings, more than --max-cells "
                          f"{max_cells:,}; narrow it, or raise --max-cells if you mean it")
    tuning = Tuning({k.lstrip("+"): v for k, v in grid.axes if k.lstrip("+") in tuned}, req.budget, seed,
                    tuple(range(seed + 1, seed + 1 + req.rerun_seeds)), [k.lstrip("+") for k, _ in cell_axes],
                    notes=notes, config_dir=config_dir)
    runs = _tuning_runs(grid, cell_axes, [k for k, _ in grid.axes if k.lstrip("+") in tuned], tuning)
    plan = Plan(runs, [*tuning.factors, REPETITION], dict(cell_axes), grid.fixed, 0,
                record={"tune": describe(tuning)}, stall_epochs=req.stall_epochs)
    return plan, tuning


def _check_tuned_keys(tune_axes: list[tuple[str, list[str]]], overrides: Sequence[str],
                      swept: dict[str, list[str]]) -> list[str]:
    """A tuned key the command line also sweeps is an error; one the preset sweeps is replaced (a note)."""
    cli = {o.get_key_element().lstrip("+~") for o in parse_overrides(overrides) if o.is_sweep_override()}
    notes = []
    for key, _ in tune_axes:
        bare = key.lstrip("+")
        if bare == REPETITION:
            raise ConfigError("--tune seed=...: seeds are not a setting to tune; --rerun-seeds N gives the reruns theirs")
        if bare in cli:
            raise ConfigError(f"--tune {key}: {bare} is also swept ({bare}={','.join(swept[bare])}); "
                              f"a key is either a factor (swept) or a setting tuned per cell, not both")
        if bare in swept:
            notes.append(f"--tune {bare} replaces the preset's grid of it ({','.join(swept[bare])}): "
                         "it is tuned per cell instead")
    return notes


def _tuning_runs(grid, cell_axes: list[tuple[str, list[str]]], tune_keys: list[str],
                 tuning: Tuning) -> list[PlannedRun]:
    """Per cell of the grid, its settings (all, or a seeded sample of `budget`), each composed at the tuning seed."""
    axes = dict(grid.axes)
    runs, seen = [], set()
    for combo in itertools.product(*[[(k, v) for v in values] for k, values in cell_axes]):
        chosen = dict(combo)
        cell_lines = [line for line in grid.fixed if grid.applies(line.split("=", 1)[0], chosen)
                      and line.split("=", 1)[0].lstrip("+") != REPETITION]
        cell_lines += [f"{k}={v}" for k, v in combo if grid.applies(k, chosen)]
        keys = [k for k in tune_keys if grid.applies(k, chosen)]
        space = [dict(zip(keys, values)) for values in itertools.product(*[axes[k] for k in keys])]
        # Sampled with the tuning seed: every cell whose grid is the same tries the same K settings.
        picked = sorted(np.random.default_rng(tuning.seed).choice(len(space), tuning.budget, replace=False)) \
            if len(space) > tuning.budget else range(len(space))
        label = {k.lstrip("+"): v if grid.applies(k, chosen) else NOT_APPLICABLE for k, v in combo}
        cell = Cell(label, tuple(cell_lines), [space[i] for i in picked], len(space))
        tuning.cells.append(cell)
        for point in cell.points:
            planned = compose(cell, point, tuning.seed, TUNE, tuning.config_dir)
            cell.run_ids.append(planned.run_id)
            if planned.run_id not in seen:
                seen.add(planned.run_id)
                runs.append(planned)
    return runs


def _tune_axes(lines: Sequence[str]) -> list[tuple[str, list[str]]]:
    axes = []
    for line in lines:
        key, eq, value = line.partition("=")
        if not eq or not key or not value:
            raise ConfigError(f"--tune {line}: write KEY=GRID, e.g. --tune optim.lr=0.01,0.03,0.1")
        if not parse_overrides([line])[0].is_sweep_override():
            raise ConfigError(f"--tune {line}: a grid of one value tunes nothing; give several, e.g. "
                              f"--tune {key}={value},... or range(...)")
        axes += expand([line])
    keys = [k.lstrip("+") for k, _ in axes]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ConfigError(f"--tune {twice[0]} is given twice; give it once, with its whole grid")
    return axes


def compose(cell: Cell, point: dict[str, str], seed: int, role: str, config_dir: Path | None) -> PlannedRun:
    lines = [*cell.lines, *[f"{k}={v}" for k, v in point.items()], f"{REPETITION}={seed}"]
    try:
        config = load_config(lines, config_dir)
    except ConfigError as e:
        where = " ".join(f"{k}={v}" for k, v in {**cell.label, **point}.items() if v != NOT_APPLICABLE)
        raise ConfigError(f"{e}{f' (in tuned cell {where})' if where else ''}") from None
    return PlannedRun(run_id(config), config, {**cell.label, REPETITION: str(seed)}, tuple(lines), role)


def select(tuning: Tuning, sweep_dir: Path) -> list[Choice]:
    """Per cell, the tried setting with the highest validation score; ties go to the one tried first.
    Reads `best_val_acc` of each tuning run's summary and nothing else: test never chooses."""
    by_id = {}
    for cell in tuning.cells:
        best, score, unscored = None, -math.inf, 0
        for point, rid in zip(cell.points, cell.run_ids):
            value = val_score(sweep_dir / "runs" / rid)
            if value is None:
                unscored += 1
            elif value > score:
                best, score = (point, rid), value
        by_id[id(cell)] = Choice(cell, best[0] if best else None, best[1] if best else None, score, unscored)
    return [by_id[id(c)] for c in tuning.cells]


def val_score(run_dir: Path) -> float | None:
    rd = RunDir(run_dir)
    if rd.read_status().get("status") not in SCORED:
        return None
    value = (finished_summary(rd) or {}).get(SELECT_ON)
    return float(value) if value is not None and math.isfinite(float(value)) else None


def rerun_plan(plan: Plan, tuning: Tuning, choices: list[Choice], before: dict[str, str] | None = None) -> Plan:
    """The tuning runs and, per cell with a chosen setting, that setting on the rerun seeds.
    `before`: the roles sweep.yaml held; a rerun of theirs this plan no longer has is superseded."""
    runs = list(plan.runs)
    seen = {p.run_id for p in runs}
    for choice in choices:
        if choice.point is None:
            continue
        for seed in tuning.rerun_seeds:
            planned = compose(choice.cell, choice.point, seed, RERUN, tuning.config_dir)
            if planned.run_id not in seen:
                seen.add(planned.run_id)
                runs.append(planned)
    record = describe(tuning, choices, runs)
    record["roles"] |= {rid: SUPERSEDED for rid, role in (before or {}).items()
                        if role in (RERUN, SUPERSEDED) and rid not in record["roles"]}
    return dataclasses.replace(plan, runs=runs, record={"tune": record})


def describe(tuning: Tuning, choices: list[Choice] | None = None, runs: Sequence[PlannedRun] = ()) -> dict:
    """sweep.yaml's `tune` record: the request, each cell's settings tried and chosen, each run's role."""
    chosen = {id(c.cell): c for c in choices or []}
    cells = []
    for cell in tuning.cells:
        entry = {"cell": dict(cell.label), "space": cell.space, "tried": [dict(p) for p in cell.points],
                 "runs": list(cell.run_ids)}
        choice = chosen.get(id(cell))
        if choice is not None:
            entry |= {"chosen": dict(choice.point) if choice.point else None, "chosen_run": choice.run_id,
                      SELECT_ON: None if choice.point is None else round(choice.score, 6),
                      "unscored": choice.unscored}
        cells.append(entry)
    return {"grid": {k: list(v) for k, v in tuning.grid.items()}, "budget": tuning.budget, "seed": tuning.seed,
            "rerun_seeds": list(tuning.rerun_seeds), "select_on": SELECT_ON, "cells": cells,
            "roles": {p.run_id: p.role for p in runs if p.role}}


def run_tuned(plan: Plan, tuning: Tuning, run: Callable[[Plan], Counter], sweep_dir: Path, stop: Callable[[Counter], bool] = lambda counts: False,
              on_selected: Callable[[list[Choice]], None] = lambda choices: None) -> Counter:
    """Tune, select, rerun; a rerun of the command skips what is done at each stage. `stop`
    (after tuning: --max-failures reached) ends it before the reruns."""
    first = dataclasses.replace(plan, record={"tune": describe(tuning, None, plan.runs)})
    # Until the reruns are planned again, the earlier reruns keep their role.
    first.record["tune"]["roles"] = {**run_roles(read_sweep_record(sweep_dir)), **first.record["tune"]["roles"]}
    counts = run(first)
    if stop(counts):
        return counts
    choices = select(tuning, sweep_dir)
    on_selected(choices)
    return run(rerun_plan(plan, tuning, choices, run_roles(read_sweep_record(sweep_dir))))


def selection_notes(choices: list[Choice]) -> list[str]:
    """Cells that get no reruns: no tuning run of theirs has a validation score."""
    notes = []
    for c in choices:
        if c.point is None:
            where = ", ".join(f"{k}={v}" for k, v in c.cell.label.items() if v != NOT_APPLICABLE) or "the grid"
            notes.append(f"{where}: none of its {len(c.cell.points)} tuning runs has a validation score "
                         f"(failed, diverged or not run): no reruns")
    return notes
