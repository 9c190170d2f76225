"""A command line's grid, read with Hydra's own override parser.

Hydra expands the grid (comma lists, `range()`, `glob()`, `choice()`, quoted
list values such as `'aug=[],[flip,crop]'`), like its BasicSweeper does; a
preset's `hydra.sweeper.params` adds its grid, and command-line values win over
the preset's. What leaves this module is plain strings: the plan never sees a
Hydra object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra import compose as hydra_compose
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import OmegaConf

from ablate.config.compose import CONFIG_NAME, hydra_context, parse_overrides, search_path_override
from ablate.errors import ConfigError


@dataclass(frozen=True)
class Grid:
    fixed: list[str]  # the overrides every cell shares, as written
    axes: list[tuple[str, list[str]]]  # swept key → its values: the command line's, then the preset's


def _preset_params(overrides: Sequence[str], config_dir: Path | None) -> dict[str, str]:
    """`hydra.sweeper.params` of the chosen preset: {key: "a,b,c"}."""
    with hydra_context():
        try:
            cfg = hydra_compose(CONFIG_NAME, overrides=list(overrides) + search_path_override(config_dir),
                                return_hydra_config=True)
        except HydraException:
            return {}  # composing a cell reports the real problem
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


def read_grid(overrides: Sequence[str], config_dir: Path | None = None) -> Grid:
    """Split a command line into its fixed overrides and its swept axes."""
    parsed = parse_overrides(overrides)
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    swept = [o.input_line for o in parsed if o.is_sweep_override()]
    cli_keys = {o.get_key_element().lstrip("+~") for o in parsed}
    preset = _preset_params(fixed, config_dir)
    swept += [f"{k}={v}" for k, v in preset.items() if k.lstrip("+~") not in cli_keys]
    return Grid(fixed, _expand(swept) if swept else [])
