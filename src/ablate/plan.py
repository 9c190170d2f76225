"""From a command line to the list of runs: the grid, each cell validated.

Hydra's own override parser expands the grid (comma lists, `range()`,
`glob()`, `choice()`, quoted list values such as `'aug=[],[flip,crop]'`),
like its BasicSweeper does; a preset's `hydra.sweeper.params` adds its grid,
and command-line values win over the preset's. Every cell is composed and
validated before anything runs, so a bad value fails the command at once.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra import compose as hydra_compose
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import OmegaConf

from ablate.config.compose import CONFIG_NAME, _search_path_override, hydra_context, load_config, parse_overrides
from ablate.config.schema import RunConfig
from ablate.errors import ConfigError
from ablate.runid import run_id


@dataclass(frozen=True)
class PlannedRun:
    run_id: str
    config: RunConfig
    factors: dict[str, str]  # swept key → this run's value, as written on the command line
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    runs: list[PlannedRun]
    factors: list[str]  # swept keys, command-line order, preset's after
    grid: dict[str, list[str]]
    overrides: list[str]  # the fixed (non-swept) overrides
    duplicates: int  # cells that resolved to a run already in the plan


def _preset_params(overrides: Sequence[str], config_dir: Path | None) -> dict[str, str]:
    """`hydra.sweeper.params` of the chosen preset: {key: "a,b,c"}."""
    with hydra_context():
        try:
            cfg = hydra_compose(CONFIG_NAME, overrides=list(overrides) + _search_path_override(config_dir),
                                return_hydra_config=True)
        except HydraException:
            return {}  # load_config below reports the real problem
        params = OmegaConf.select(cfg, "hydra.sweeper.params")
        return {str(k): str(v) for k, v in (params or {}).items()}


def _expand(lines: Sequence[str]) -> list[tuple[str, list[str]]]:
    """[(key, [value, ...])] for sweep overrides, via Hydra's parser (glob needs its loader)."""
    with hydra_context():
        parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
        try:
            parsed = parser.parse_overrides(list(lines))
        except HydraException as e:
            raise ConfigError(f"cannot parse override: {str(e).strip().splitlines()[0]}") from None
        out = []
        for ov in parsed:
            try:
                values = list(ov.sweep_string_iterator())
            except HydraException as e:
                raise ConfigError(f"cannot expand '{ov.input_line}': {str(e).strip().splitlines()[0]}") from None
            if not values:
                raise ConfigError(f"'{ov.input_line}' expands to no values")
            out.append((ov.get_key_element(), values))
        return out


def default_name(factors: Sequence[str], overrides: Sequence[str]) -> str:
    """Deterministic, so the very same command finds (and resumes) the same folder."""
    digest = hashlib.sha256("\0".join(sorted(overrides)).encode()).hexdigest()[:6]
    presets = [o.split("=", 1)[1] for o in overrides if o.lstrip("+").startswith("experiment=")]
    stem = presets[0] if presets else "-".join(factors) or "sweep"
    stem = re.sub(r"[^A-Za-z0-9_.-]", "", stem)
    return f"{stem[:60]}-{digest}"


def make_plan(overrides: Sequence[str], config_dir: Path | None = None) -> Plan:
    parsed = parse_overrides(overrides)
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    swept = [o.input_line for o in parsed if o.is_sweep_override()]
    cli_keys = {o.get_key_element().lstrip("+~") for o in parsed}
    preset = _preset_params(fixed, config_dir)
    swept += [f"{k}={v}" for k, v in preset.items() if k.lstrip("+~") not in cli_keys]
    axes = _expand(swept) if swept else []
    grid = {key: values for key, values in axes}
    runs: list[PlannedRun] = []
    seen: set[str] = set()
    duplicates = 0
    for combo in itertools.product(*[[(k, v) for v in values] for k, values in axes]):
        cell = fixed + [f"{k}={v}" for k, v in combo]
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
        runs.append(PlannedRun(rid, config, {k.lstrip("+"): v for k, v in combo}, tuple(cell)))
    return Plan(runs, [k.lstrip("+") for k, _ in axes], grid, fixed, duplicates)


def confounds(plan: Plan) -> list[str]:
    """Settings that change together with a swept group choice without being
    swept themselves, e.g. `dropout=inverted,classic`, whose files default to
    p=0.0 and p=0.5: the report would credit the choice with the difference."""
    notes = []
    trees = [planned.config.to_dict() for planned in plan.runs]
    for factor in plan.factors:
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
    return notes
