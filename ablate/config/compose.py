"""The composition step: Hydra's compose API, then the typed, checked config.

No `@hydra.main`: the CLI owns the process (typer), and Hydra only composes.
The package's `conf/` tree (shipped as `ablate.conf`) is the primary config;
`--config-dir` adds a folder of the user's own groups and presets to the
search path. Hydra's errors become one clear line each. This step also checks
every name against its registry and builds the model on the meta device: it
may import the registries, which the schema never does.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

import torch
import yaml

from ablate.schema.checks import from_mapping, require_choice
from ablate.schema.run import CROP_TTAS, DataConfig, RunConfig
from ablate.data.augment import AUGS, AugContext, build_pipeline
from ablate.data.registry import DATASETS, PREPROCESS, check_dataset, input_shape
from ablate.track import require_packages
from ablate.data.tta import TTA_PADS, TTAS, make_views
from ablate.errors import ConfigError, closest, did_you_mean, unknown_choice
from ablate.layers.act import ACTS
from ablate.layers.dropout import DROPOUTS
from ablate.layers.init import INITS
from ablate.layers.norm import NORMS, PLACEMENTS
from ablate.layers.pool import POOLS
from ablate.models import MODELS, build_model
from ablate.train.budget import BUDGET_CHOICES
from ablate.train.device import PRECISION_CHOICES
from ablate.train.layout import MEMORY_FORMATS
from ablate.train.optim import LR_SCALINGS, OPTIMIZERS
from ablate.train.sched import SCHEDULES

CONFIG_NAME = "config"
# Every choice a config names: its key (how errors and `ablate list` call it)
# → (the registry of valid names, where the name sits in the config).
CHOICES: dict[str, tuple[Mapping[str, Any], str]] = {
    "data": (DATASETS, "data.name"),
    "data.preprocess": (PREPROCESS, "data.preprocess"),
    "model": (MODELS, "model.name"),
    "model.pool": (POOLS, "model.pool"),
    "norm": (NORMS, "norm.name"),
    "norm.placement": (PLACEMENTS, "norm.placement"),
    "act": (ACTS, "act.name"),
    "init": (INITS, "init.name"),
    "dropout": (DROPOUTS, "dropout.name"),
    "aug": (AUGS, "aug"),
    "eval.tta": (TTAS, "eval.tta"),
    "eval.tta_pad": (TTA_PADS, "eval.tta_pad"),
    "optim": (OPTIMIZERS, "optim.name"),
    "optim.lr_scaling": (LR_SCALINGS, "optim.lr_scaling"),
    "sched": (SCHEDULES, "sched.name"),
    "memory_format": (MEMORY_FORMATS, "memory_format"),
    "precision": (PRECISION_CHOICES, "precision"),
    "budget": (BUDGET_CHOICES, "budget"),
}
GROUPS = ("data", "model", "norm", "act", "init", "dropout", "aug", "optim", "sched", "diagnostics", "tracker",
          "experiment")


def package_conf_dir() -> Path:
    """The shipped config tree: the `ablate.conf` package of an install (wheel or
    editable), else `conf/` beside the `ablate/` folder of a bare checkout."""
    try:
        return Path(str(resources.files("ablate.conf")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "conf"


@lru_cache(maxsize=1)
def _parser() -> OverridesParser:
    # Creating one registers Hydra's grammar functions anew (~0.4 ms): once is enough.
    return OverridesParser.create()


# `key=<integer>`: a grid's long axes are seeds and counts, 10,000 distinct lines of one shape.
_INT_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)=(-?[1-9][0-9]{0,17}|0)")


@lru_cache(maxsize=65536)
def _parse_line(line: str) -> Override:
    """Hydra's parse of one override (its ANTLR parser, ~0.3 ms a line): each line
    once, as a grid's fixed overrides recur in every cell; a `key=<integer>` line
    is Hydra's own parse of `key=0` with the integer put in (Override is a dataclass)."""
    match = _INT_LINE.fullmatch(line)
    if match:
        return dataclasses.replace(_int_template(match.group(1)), _value=int(match.group(2)), input_line=line)
    return _parser().parse_overrides([line])[0]


@lru_cache(maxsize=1024)
def _int_template(key: str) -> Override:
    return _parser().parse_overrides([f"{key}=0"])[0]


# Hydra's parse messages that read better said plainly.
_PARSE_PLAINLY = {"LexerNoViableAltException": "an unclosed quote or a character the override grammar does not allow",
                  "missing EQUAL": "expected key=value"}


def parse_error(line: str, e: Exception) -> ConfigError:
    """Hydra's parse error as one line that names the override (its ANTLR
    messages, "mismatched input '<EOF>'", do not), without its link and caret."""
    lines = [part.strip() for part in str(e).strip().splitlines()]
    detail = "; ".join(part for part in lines if part and set(part) != {"^"}
                       and not part.startswith(("Error parsing override", "See https://")))
    detail = next((plain for start, plain in _PARSE_PLAINLY.items() if detail.startswith(start)), detail)
    hint = ""
    if "=~" in line:
        quoted = line.replace("=", '="', 1) + '"'
        hint = f"; a path with ~ needs quotes ('{quoted}') or $HOME"
    return ConfigError(f"cannot parse override '{line}': {detail}{hint}")


def parse_overrides(overrides: Sequence[str]) -> list[Override]:
    parsed = []
    for line in overrides:
        try:
            parsed.append(_parse_line(line))
        except HydraException as e:
            raise parse_error(line, e) from None
    seen: dict[str, str] = {}
    for ov in parsed:
        _check_supported(ov)
        # `epochs=1 epochs=2` would silently take the last: say it instead, as Hydra does for a group.
        key = ov.get_key_element().lstrip("+~")
        if key in seen:
            raise ConfigError(f"'{key}' is given twice ({seen[key]} and {ov.input_line}); give it once")
        seen[key] = ov.input_line
    return parsed


def _check_supported(ov: Override) -> None:
    """Overrides Hydra parses that mean nothing to ablate: each one line, not a
    default silently kept or a traceback from deep in Hydra."""
    key = ov.key_or_group
    if ov.is_delete():
        raise ConfigError(f"'{ov.input_line}' deletes a key, which ablate does not do: every key has a default; "
                          f"set it (key=value) or leave it out")
    if key == "hydra" or key.startswith("hydra."):
        raise ConfigError(f"'{ov.input_line}' sets Hydra's own config, which ablate does not use; "
                          "write a grid as key=a,b and launcher settings as sweep options (ablate sweep -h)")
    if key in GROUPS and not ov.is_sweep_override() and ov.value() is None:
        raise ConfigError(f"'{ov.input_line}': {key} needs a choice; `ablate list {key}` shows them")


def yaml_error(e: yaml.YAMLError) -> ConfigError:
    """A broken YAML file (a preset or group of --config-dir) as one line: file, line, column, problem."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}" if mark else "a config file"
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    return ConfigError(f"invalid YAML in {where}: {problem}")


def search_path_override(config_dir: Path | None) -> list[str]:
    if config_dir is None:
        return []
    path = Path(config_dir).expanduser().resolve()
    if not path.is_dir():
        raise ConfigError(f"--config-dir '{config_dir}' is not a folder")
    check_yaml_files(path)
    return [f"hydra.searchpath=[file://{path}]"]


@lru_cache(maxsize=16)
def check_yaml_files(folder: Path) -> None:
    """Every YAML file of --config-dir parses, chosen or not: Hydra reads only
    the ones a command chooses, and `ablate list` would quietly leave a broken
    one out, so its choice seems not to exist."""
    for path in sorted(folder.rglob("*.yaml")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue  # .git, .github: not config groups, and not Hydra's to read
        try:
            with open(path, encoding="utf-8") as f:  # a stream, so the error names the file
                for _ in yaml.safe_load_all(f):  # a file of several documents is still YAML
                    pass
        except yaml.YAMLError as e:
            raise yaml_error(e) from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read {path}: {e}") from None


@contextmanager
def hydra_context() -> Iterator[None]:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(package_conf_dir()), version_base=None):
        yield


def group_options(group: str, config_dir: Path | None = None) -> list[str]:
    """The choices of a config group, from the package's and the user's folders."""
    with hydra_context():
        return _group_options(group, config_dir)


@lru_cache(maxsize=256)
def _group_options(group: str, config_dir: Path | None) -> list[str]:
    # Cached: listing a group costs Hydra ~70 ms, and a grid asks once per cell.
    loader = GlobalHydra.instance().config_loader()
    return sorted(loader.get_group_options(group, config_name=CONFIG_NAME,
                                           overrides=search_path_override(config_dir)))


@lru_cache(maxsize=256)
def _cached_options(group: str, config_dir: Path | None) -> list[str]:
    # Hydra is set up only on a miss: initialising it costs more than checking a whole cell.
    return group_options(group, config_dir)


def _check_group_choices(parsed: list[Override], config_dir: Path | None) -> None:
    for ov in parsed:
        group = ov.key_or_group
        if group not in GROUPS or ov.is_delete():
            continue
        options = _cached_options(group, config_dir)
        values = list(ov.sweep_iterator()) if ov.is_sweep_override() else [ov.value()]
        for value in values:
            names = value if isinstance(value, list) else [value]
            for name in names:
                if name is not None and str(name) not in options:
                    raise unknown_choice(group, name, options)


def _unknown_key_error(key: str, tree: tuple[str, ...], config_dir: Path | None) -> ConfigError:
    """`unknown key 'model.depth'; keys there: name, pool` from the config as chosen."""
    try:
        cfg = compose_tree(tree, config_dir)
    except HydraException:
        return ConfigError(f"unknown key '{key}'")
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    keys = sorted(node.keys()) if isinstance(node, DictConfig) else []
    hint = did_you_mean(leaf, keys) or _elsewhere(leaf, cfg)
    where = f" in {parent} ({node.get('name')})" if parent and isinstance(node, DictConfig) and "name" in node else ""
    return ConfigError(
        f"unknown key '{key}'{where};{hint} keys there: {', '.join(map(str, keys)) or 'none'}"
    )


def _elsewhere(leaf: str, cfg: DictConfig) -> str:
    """` did you mean 'optim.lr'?` for `lr=0.1`: the key exists one group down.
    The same leaf name (in any case) first, then the closest; '' when none is close."""
    tree = OmegaConf.to_container(cfg, resolve=False)
    by_leaf = {p.rpartition(".")[2]: p for p in reversed(list(_key_paths(tree)))}  # the first path of a leaf wins
    match = closest(leaf, by_leaf)
    return f" did you mean '{by_leaf[match]}'?" if match is not None else ""


def _key_paths(tree: dict, prefix: str = ""):
    """Every dotted key below the top level (`optim.lr`, `aug.crop.padding`), shallowest first."""
    nested = [(child, f"{prefix}{key}.") for key, child in tree.items() if isinstance(child, dict)]
    if prefix:
        yield from (f"{prefix}{key}" for key, child in tree.items() if not isinstance(child, dict))
    for child, path in nested:
        yield from _key_paths(child, path)


@lru_cache(maxsize=64)
def config_groups(config_dir: Path | None) -> set[str]:
    """Config groups: the package's folders, the user's, and Hydra's own node."""
    folders = [package_conf_dir()] + ([Path(config_dir).expanduser()] if config_dir else [])
    found = {p.name for folder in folders if folder.is_dir() for p in folder.iterdir() if p.is_dir()}
    return found | set(GROUPS) | {"hydra"}


@lru_cache(maxsize=128)
def compose_tree(group_overrides: tuple[str, ...], config_dir: Path | None) -> DictConfig:
    with hydra_context():
        try:
            return hydra_compose(CONFIG_NAME, overrides=list(group_overrides) + search_path_override(config_dir))
        except yaml.YAMLError as e:
            raise yaml_error(e) from None


def split_tree(parsed: list[Override], config_dir: Path | None) -> tuple[tuple[str, ...], list[Override]]:
    """(overrides that shape the defaults tree, value overrides applied on top).

    A group choice (`norm=batch`, `aug=[flip]`) or Hydra's own settings shape
    the tree; everything else (`norm.groups=4`) is a value on top of it.
    """
    groups = config_groups(config_dir)
    in_tree = [o.key_or_group in groups or o.key_or_group.startswith("hydra.") or o.package is not None
               for o in parsed]
    return (tuple(o.input_line for o, t in zip(parsed, in_tree) if t),
            [o for o, t in zip(parsed, in_tree) if not t])


def _compose(tree: tuple[str, ...], values: list[Override], config_dir: Path | None) -> DictConfig:
    """Hydra's public compose of the whole line, for what a plain assignment cannot
    do (an interpolation to resolve after the values, `+key`, `group@package`)."""
    with hydra_context():
        return hydra_compose(CONFIG_NAME, overrides=[*tree, *(o.input_line for o in values)]
                             + search_path_override(config_dir))


@lru_cache(maxsize=128)
def _plain_tree(tree: tuple[str, ...], config_dir: Path | None) -> dict[str, Any] | None:
    """The composed tree as a plain dict, or None when it holds an interpolation
    (`${...}`), which must be resolved after the values are set, by OmegaConf."""
    cfg = compose_tree(tree, config_dir)
    if "${" in OmegaConf.to_yaml(cfg):
        return None
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def _copy(node: Any) -> Any:
    """A copy of a plain YAML tree (dicts, lists, scalars): 3× faster than deepcopy."""
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


def _plain_value(ov: Override) -> bool:
    """A `key=value` Hydra would apply as a plain assignment to an existing key."""
    value = ov.value()
    return (ov.package is None and not (ov.is_add() or ov.is_force_add() or ov.is_delete())
            and not (isinstance(value, str) and "${" in value))


def _assign(tree_dict: dict[str, Any], values: list[Override], tree: tuple[str, ...],
            config_dir: Path | None) -> dict[str, Any]:
    """Set each value on the plain tree: the one way ablate applies a value
    override (Hydra's compose does the rest, `_compose`). Hydra would copy and
    recompose an OmegaConf tree per cell (74 ms); a grid of 10,000 seeds composes
    its one tree once and assigns 10,000 times (bench/bench_plan.py)."""
    for ov in values:
        key = ov.key_or_group
        *path, leaf = key.split(".")
        node: Any = tree_dict
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise _unknown_key_error(key, tree, config_dir)
        node[leaf] = _copy(ov.value())
    return tree_dict


_ABSENT = object()


def _check_added_options(tree: tuple[str, ...], values: list[Override], config_dir: Path | None) -> None:
    """`+norm.groups=2` with norm=batch adds an option the chosen level does not
    have: the same error as `norm.groups=2`, not a setting that changes nothing
    and yet the run id. A `+` inside a group's section may only restate a key."""
    groups = config_groups(config_dir) - {"hydra"}
    for ov in values:
        if ov.is_add() and ov.key_or_group.partition(".")[0] in groups:
            if OmegaConf.select(compose_tree(tree, config_dir), ov.key_or_group, default=_ABSENT) is _ABSENT:
                raise _unknown_key_error(ov.key_or_group, tree, config_dir)


def compose_dict(overrides: Sequence[str], config_dir: Path | None = None) -> dict[str, Any]:
    """Compose the config for `overrides` (no sweeps) into a plain dict."""
    parsed = parse_overrides(overrides)
    for ov in parsed:
        if ov.is_sweep_override():
            raise ConfigError(
                f"'{ov.input_line}' is a sweep; run a grid with `ablate sweep`, "
                "or quote a literal list as key='[a,b]'"
            )
    _check_group_choices(parsed, config_dir)
    tree, values = split_tree(parsed, config_dir)
    _check_added_options(tree, values, config_dir)
    plain = _plain_tree(tree, config_dir)
    if plain is not None and all(_plain_value(o) for o in values):
        return _assign(_copy(plain), values, tree, config_dir)
    try:
        cfg = _compose(tree, values, config_dir)
    except MissingConfigException as e:
        raise ConfigError(str(e).strip().splitlines()[0]) from None
    except HydraException as e:
        message = str(e).strip()
        match = re.search(r"Could not override '([^']+)'", message)
        if match:
            raise _unknown_key_error(match.group(1), tree, config_dir) from None
        match = re.search(r"An item is already at '([^']+)'", message)
        if match:
            line = next((o.input_line for o in values if o.key_or_group == match.group(1)), match.group(1))
            raise ConfigError(f"'{line}' adds a key (+), but {match.group(1)} is already there; "
                              f"write it without the +") from None
        raise ConfigError(message.splitlines()[0]) from None
    except OmegaConfBaseException as e:
        raise ConfigError(str(e).strip().splitlines()[0]) from None
    try:
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except OmegaConfBaseException as e:
        # Resolving ${...}: the message rarely names the override that holds it.
        lines = [o.input_line for o in values if "${" in o.input_line]
        where = f" (in {', '.join(lines)})" if lines else ""
        raise ConfigError(str(e).strip().splitlines()[0] + where) from None


def load_config(overrides: Sequence[str] = (), config_dir: Path | None = None) -> RunConfig:
    """Compose, validate and type the config: the single door from YAML to code."""
    config = from_mapping(RunConfig, compose_dict(overrides, config_dir))
    check_choices(config)
    check_buildable(config)
    check_data(config.data)
    require_packages(config.tracker.names)  # a missing tracker package fails the command, not each run
    return config


# Crop TTA shifts its views by size // 8 pixels (ablate.data.tta): below this
# many pixels a side the views are one pixel apart and average to little.
TTA_MIN_SIZE = 16


def advisories(config: RunConfig) -> list[str]:
    """Settings that are allowed but buy nothing here, or not what they say: a
    note, not an error. Reads eval, data, aug, sched and epochs (api.runs.plan_notes)."""
    notes = []
    size = input_shape(config.data).size
    views = make_views(config.eval.tta, config.eval.tta_pad, config.aug, size)
    if views is not None and views.name in CROP_TTAS:
        if size < TTA_MIN_SIZE:
            notes.append(f"eval.tta={views.name} on {size}×{size} images shifts its views by "
                         f"{views.padding} pixel: little to average (eval.tta=flip still mirrors)")
        if not any(a.name == "crop" for a in config.aug):
            notes.append(f"eval.tta={views.name} without aug crop: its corner views are shifts by {views.padding} "
                         f"px ({views.mode}) the net never trained on, so it measures robustness to shifts")
    if config.epochs is not None and config.sched.warmup_epochs >= config.epochs:
        notes.append(f"sched.warmup_epochs={config.sched.warmup_epochs:g} is not shorter than epochs={config.epochs}: "
                     "the learning rate does not reach optim.lr before training ends")
    return notes


@lru_cache(maxsize=64)
def check_data(data: DataConfig) -> None:
    """The dataset's files are there and data.n_train fits its training split: once
    per distinct data config, so a grid of 1,000 cells on one dataset looks once,
    and a missing one fails before any run."""
    check_dataset(data)


def check_choices(config: RunConfig) -> None:
    """Every name in the config is one of its registry's choices: what a
    `norm.name=grop` or `eval.tta=flips` override would otherwise slip past."""
    for kind, (registry, path) in CHOICES.items():
        if kind != "aug":  # a set of names, each checked as it is parsed (ablate.schema.augs)
            value: Any = config
            for attribute in path.split("."):
                value = getattr(value, attribute)
            require_choice(kind, value, registry)


def lookup(tree: dict, dotted: str) -> Any:
    for key in dotted.split("."):
        tree = (tree or {}).get(key)
    return tree


def check_buildable(config: RunConfig) -> None:
    """Catch choices that only clash once a network or an image exists
    (norm.groups vs channels, aug sizes vs the image) by building the model on
    the meta device and the augmentations on two blank images: once for each
    distinct structure, however many seeds and learning rates share it."""
    _check_buildable(config.model, config.norm, config.act, config.init, config.dropout, config.data, config.aug)


@lru_cache(maxsize=1024)
def _check_buildable(model, norm, act, init, dropout, data, aug) -> None:
    config = RunConfig(model=model, norm=norm, act=act, init=init, dropout=dropout, data=data, aug=aug)
    shape = input_shape(config.data)
    with torch.device("meta"):
        build_model(config.model, config.norm, config.act, config.init, config.dropout, shape)
    if config.aug:  # options that clash with the image size (crop padding, cutout size)
        images = torch.zeros(2, shape.channels, shape.size, shape.size, dtype=torch.uint8)  # stand-in statistics
        build_pipeline(config.aug, AugContext(shape, shape.classes, images))
