"""A command line's grid, read with Hydra's own override parser.

Hydra expands the grid (comma lists, `range()`, `glob()`, `choice()`, quoted
list values such as `'aug=[],[flip,crop]'`), like its BasicSweeper does; a
preset's `hydra.sweeper.params` adds its grid, and command-line values win over
the preset's. What leaves this module is plain strings: the plan never sees a
Hydra object.

An option of one level: with `init=kaiming_normal,normal init.std=0.01`,
`init.std` exists in `conf/init/normal.yaml` only. Such a key applies to the
levels of the swept group that have it, and the plan leaves it out of the
others (`Grid.per_level`). A key no level has is still an error, with
did-you-mean, when the cell is composed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hydra import compose as hydra_compose
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
import yaml
from omegaconf import DictConfig, OmegaConf

from ablate.config.compose import (CONFIG_NAME, compose_tree, config_groups, hydra_context, parse_error,
                                   parse_overrides, search_path_override, split_tree, yaml_error)
from ablate.errors import ConfigError, did_you_mean


@dataclass(frozen=True)
class Grid:
    fixed: list[str]  # the overrides every cell shares, as written
    axes: list[tuple[str, list[str]]]  # swept key → its values: the command line's, then the preset's
    # Override key → (swept group, the group's levels that have it), for each key
    # that some levels of a swept group have and others lack: `init.std` → ("init", ["normal"]).
    per_level: dict[str, tuple[str, list[str]]] = field(default_factory=dict)

    def applies(self, key: str, combo: dict[str, str]) -> bool:
        """Whether override `key` belongs in the cell whose swept values are `combo`."""
        if key not in self.per_level:
            return True
        group, levels = self.per_level[key]
        return combo.get(group) in levels


def _preset_params(overrides: Sequence[str], config_dir: Path | None) -> dict[str, str]:
    """`hydra.sweeper.params` of the chosen preset: {key: "a,b,c"}."""
    with hydra_context():
        try:
            cfg = hydra_compose(CONFIG_NAME, overrides=list(overrides) + search_path_override(config_dir),
                                return_hydra_config=True)
        except yaml.YAMLError as e:
            raise yaml_error(e) from None
        except HydraException:
            return {}  # composing a cell reports the real problem
        params = OmegaConf.select(cfg, "hydra.sweeper.params")
        return {str(k): str(v) for k, v in (params or {}).items()}


# A preset's tuning (`ablate sweep --tune`) sits in its grid under this prefix:
# `tune.optim.lr: 0.01,0.1` (a key to tune and its grid), `tune.budget: 5`,
# `tune.rerun_seeds: 3`. Hydra's sweeper config takes no keys of ours, and
# `tune` is no config key, so the prefix cannot shadow one.
TUNE_PREFIX = "tune."


def preset_tuning(overrides: Sequence[str], config_dir: Path | None = None) -> dict[str, str]:
    """The chosen preset's `tune.*` entries, prefix removed: {"optim.lr": "0.01,0.1", "budget": "5"}."""
    parsed = parse_overrides(overrides)
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    return {k[len(TUNE_PREFIX):]: v for k, v in _preset_params(fixed, config_dir).items() if k.startswith(TUNE_PREFIX)}


def expand(lines: Sequence[str]) -> list[tuple[str, list[str]]]:
    """[(key, [value, ...])] of override lines, swept or not, as the grid expands them."""
    return _expand(lines)


def _expand(lines: Sequence[str]) -> list[tuple[str, list[str]]]:
    """[(key, [value, ...])] for sweep overrides, via Hydra's parser (glob needs its loader)."""
    with hydra_context():
        parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
        parsed = []
        for line in lines:
            try:
                parsed += parser.parse_overrides([line])
            except HydraException as e:
                raise parse_error(line, e) from None
        out = []
        for ov in parsed:
            try:
                values = list(ov.sweep_string_iterator())
            except (HydraException, ValueError) as e:  # ValueError: Python's own, for range(0,3,0)
                raise ConfigError(f"cannot expand '{ov.input_line}': {str(e).strip().splitlines()[0]}") from None
            if not values:
                raise ConfigError(f"'{ov.input_line}' expands to no values")
            out.append((ov.get_key_element(), values))
        return out


def _level_keys(group: str, level: str, tree: tuple[str, ...], config_dir: Path | None) -> set[str]:
    """The keys of `group`'s node with `group=level` chosen beside the command's other group choices."""
    try:
        node = compose_tree((*tree, f"{group}={level}"), config_dir).get(group)
    except HydraException:
        return set()  # composing the cell reports what is wrong with this level
    return {str(k) for k in node.keys()} if isinstance(node, DictConfig) else set()


def _per_level(fixed: list[str], axes: list[tuple[str, list[str]]],
               config_dir: Path | None) -> dict[str, tuple[str, list[str]]]:
    """Keys that only some levels of a swept group have (see the module docstring)."""
    groups = config_groups(config_dir) - {"hydra", "experiment"}
    swept = {key: levels for key, levels in axes if key in groups}
    if not swept:
        return {}
    tree = tuple(line for line in split_tree(parse_overrides(fixed), config_dir)[0]
                 if line.split("=", 1)[0].lstrip("+~") not in swept)
    keys = [line.split("=", 1)[0] for line in fixed] + [key for key, _ in axes]
    found = {}
    for key in keys:
        group, _, rest = key.partition(".")
        if group not in swept or not rest:  # `+group.key` adds the key to every level: not per level
            continue
        level_keys = {lvl: _level_keys(group, lvl, tree, config_dir) for lvl in swept[group]}
        levels = [lvl for lvl in swept[group] if rest.split(".")[0] in level_keys[lvl]]
        if not levels:
            raise _no_level_has(key, group, level_keys)
        if len(levels) < len(swept[group]):
            found[key] = (group, levels)
    return found


def _no_level_has(key: str, group: str, level_keys: dict[str, set[str]]) -> ConfigError:
    """A key no swept level has, checked against them all: the first cell's level
    alone (`init=kaiming_normal`, keys: name) would hide that `normal` has `std`."""
    leaf = key.partition(".")[2].split(".")[0]
    hint = did_you_mean(leaf, sorted(set().union(*level_keys.values())))
    shown = "; ".join(f"{level}: {', '.join(sorted(keys)) or 'none'}" for level, keys in level_keys.items())
    return ConfigError(f"unknown key '{key}': no level of {group} has it;{hint} keys there: {shown}")


def read_grid(overrides: Sequence[str], config_dir: Path | None = None) -> Grid:
    """Split a command line into its fixed overrides and its swept axes."""
    parsed = parse_overrides(overrides)
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    swept = [o.input_line for o in parsed if o.is_sweep_override()]
    cli_keys = {o.get_key_element().lstrip("+~") for o in parsed}
    preset = _preset_params(fixed, config_dir)
    # A preset's one-value entry (`aug.crop.padding: 1`) is a fixed setting, not an axis.
    entries = [f"{k}={v}" for k, v in preset.items() if k.lstrip("+~") not in cli_keys and not k.startswith(TUNE_PREFIX)]
    for o in parse_overrides(entries):
        (swept if o.is_sweep_override() else fixed).append(o.input_line)
    axes = _expand(swept) if swept else []
    _check_swept_presets(fixed, axes, config_dir)
    return Grid(fixed, axes, _per_level(fixed, axes, config_dir))


def _check_swept_presets(fixed: list[str], axes: list[tuple[str, list[str]]], config_dir: Path | None) -> None:
    """`experiment=bn_lr,zero_init`: a cell takes a preset's fixed settings but
    not its grid (the grid is read once, from the command line), so a swept
    preset that has one would quietly run a single cell of it."""
    for key, levels in axes:
        if key.lstrip("+") != "experiment":
            continue
        for level in levels:
            if any(value for value in _preset_params([*fixed, f"{key}={level}"], config_dir).values()):
                raise ConfigError(f"{key}={','.join(levels)}: preset {level} has a grid of its own, which a sweep "
                                  f"over presets does not expand; run each preset as its own sweep "
                                  f"(ablate sweep experiment={level})")
