"""From a command line to the list of runs: the grid, each cell validated.

`ablate.config.grid` reads the grid (Hydra's parser, a preset's
`hydra.sweeper.params`); here every cell is composed and validated before
anything runs, so a bad value fails the command at once, and cells that
resolve to the same run id become one run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ablate.config.compose import load_config
from ablate.config.grid import read_grid
from ablate.schema.run import RunConfig
from ablate.errors import ConfigError
from ablate.runner.identity import run_id
from ablate.store.tables import NOT_APPLICABLE


@dataclass(frozen=True)
class PlannedRun:
    run_id: str
    config: RunConfig
    factors: dict[str, str]  # swept key → this run's value, as written on the command line
    overrides: tuple[str, ...]
    # `tune` or `rerun` in a tuned sweep (ablate.sweep.tune), "" otherwise: a property of
    # the plan, recorded in sweep.yaml and runs.csv, never part of the run id.
    role: str = ""


@dataclass(frozen=True)
class Plan:
    runs: list[PlannedRun]
    factors: list[str]  # swept keys, command-line order, preset's after
    grid: dict[str, list[str]]
    overrides: list[str]  # the fixed (non-swept) overrides
    duplicates: int  # cells that resolved to a run already in the plan
    notes: list[str] = field(default_factory=list)  # what the plan did that the command did not say
    per_level: dict[str, str] = field(default_factory=dict)  # an option of one level → its swept group
    # What sweep.yaml records beside the grid: `design` (--fraction), `seeds_until` (--seeds-until).
    record: dict = field(default_factory=dict)
    # --stop-stalled E: runs of role `tune` may stop once val accuracy has sat near chance for E epochs.
    stall_epochs: int | None = None


def default_name(factors: Sequence[str], overrides: Sequence[str]) -> str:
    """Deterministic, so the very same command finds (and resumes) the same folder."""
    digest = hashlib.sha256("\0".join(sorted(overrides)).encode()).hexdigest()[:6]
    presets = [o.split("=", 1)[1] for o in overrides if o.lstrip("+").startswith("experiment=")]
    stem = presets[0] if presets else "-".join(factors) or "sweep"
    stem = re.sub(r"[^A-Za-z0-9_.-]", "", stem)
    return f"{stem[:60]}-{digest}"


def make_plan(overrides: Sequence[str], config_dir: Path | None = None, max_cells: int | None = None) -> Plan:
    grid = read_grid(overrides, config_dir)
    cells = math.prod(len(values) for _, values in grid.axes)
    if max_cells is not None and cells > max_cells:
        raise ConfigError(f"the grid has {cells:,} cells, more than --max-cells {max_cells:,}; "
                          "narrow it, or raise --max-cells if you mean it")
    runs: list[PlannedRun] = []
    seen: set[str] = set()
    duplicates = 0
    for combo in itertools.product(*[[(k, v) for v in values] for k, values in grid.axes]):
        chosen = dict(combo)
        cell = [line for line in grid.fixed if grid.applies(line.split("=", 1)[0], chosen)]
        cell += [f"{k}={v}" for k, v in combo if grid.applies(k, chosen)]
        try:
            config = load_config(cell, config_dir)
        except ConfigError as e:
            where = " ".join(f"{k}={v}" for k, v in combo)
            raise ConfigError(f"{e}{f' (in grid cell {where})' if where else ''}") from None
        rid = run_id(config)
        if rid in seen:
            duplicates += 1
            continue
        seen.add(rid)
        factors = {k.lstrip("+"): v if grid.applies(k, chosen) else NOT_APPLICABLE for k, v in combo}
        runs.append(PlannedRun(rid, config, factors, tuple(cell)))
    axes = dict(grid.axes)
    notes = [applies_note(key, group, levels, axes[group]) for key, (group, levels) in grid.per_level.items()]
    per_level = {key.lstrip("+"): group.lstrip("+") for key, (group, _) in grid.per_level.items()}
    return Plan(runs, [k.lstrip("+") for k, _ in grid.axes], axes, grid.fixed, duplicates, notes, per_level)


def applies_note(key: str, group: str, levels: list[str], all_levels: list[str]) -> str:
    """`init.std applies to init=normal only (not kaiming_normal)`."""
    others = [level for level in all_levels if level not in levels]
    return f"{key} applies to {group}={','.join(levels)} only (not {', '.join(others)})"


def confounds(plan: Plan) -> list[str]:
    """Settings that change together with a swept group choice without being
    swept themselves, e.g. `dropout=inverted,classic`, whose files default to
    p=0.0 and p=0.5: the report would credit the choice with the difference."""
    notes = []
    groups = [f for f in plan.factors if "." not in f and plan.runs
              and dataclasses.is_dataclass(getattr(plan.runs[0].config, f, None))]
    trees = [planned.config.to_dict() for planned in plan.runs] if groups else []  # a seed axis needs none
    for factor in groups:
        levels: dict[str, dict] = {}
        for tree in trees:
            group = tree.get(factor)
            if isinstance(group, dict) and "name" in group:  # a config group, such as dropout or norm
                levels.setdefault(str(group["name"]), group)
        if len(levels) < 2:
            continue
        shared = set.intersection(*(set(g) for g in levels.values())) - {"name"}
        for key in sorted(shared):
            values = {level: g[key] for level, g in levels.items()}
            if f"{factor}.{key}" not in plan.factors and len(set(map(repr, values.values()))) > 1:
                spread = ", ".join(f"{level}: {value}" for level, value in values.items())
                notes.append(f"{factor} levels also differ in {factor}.{key} ({spread}); the report credits "
                             f"{factor} with that too; fix it with {factor}.{key}=... to compare at one value")
    if "batch_size" in plan.factors and any(p.config.optim.lr_scaling == "none" for p in plan.runs):
        notes.append("batch_size varies at one optim.lr per step (optim.lr_scaling=none), so the report credits "
                     "batch_size with the change in step size too; optim.lr_scaling=linear or sqrt scales the "
                     "learning rate with the batch")
    if "data.n_train" in plan.factors and any(p.config.budget == "epochs" for p in plan.runs):
        notes.append(subset_steps_note(plan))
    return notes


def subset_steps_note(plan: Plan) -> str:
    """At a fixed epoch count a smaller training subset also gets fewer optimiser
    steps: `data.n_train=100,1000` compares less data *and* less training."""
    steps = {}
    for planned in plan.runs:
        cfg = planned.config
        # A fraction's size is known once the data is loaded; budget=steps runs take the same steps at any size.
        if isinstance(cfg.data.n_train, int) and cfg.budget == "epochs":
            steps.setdefault(cfg.data.n_train, max(1, cfg.data.n_train // cfg.batch_size) * cfg.epochs)
    shown = ", ".join(f"{n} images: {s} steps" for n, s in sorted(steps.items()))
    return (f"data.n_train varies at a fixed number of epochs, so smaller subsets also take fewer optimiser steps"
            f"{f' ({shown})' if shown else ''}; the report credits data.n_train with less training too; "
            f"budget=steps steps=N compares the sizes at N optimiser steps each")
