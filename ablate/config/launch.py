"""Where a sweep's runs execute, and with what resources: `LaunchOptions`.

These settings never enter a run's config, so they never change a run id: the
same grid is the same runs whether it ran on a laptop, under SLURM or on Ray.
That is why `conf/launcher/*.yaml` is not a Hydra group of `config.yaml`;
`load_launch_options` reads those files directly, and the command line's
flags (`--launcher`, `--slurm-partition`, ...) override what they hold.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from ablate.config.compose import package_conf_dir
from ablate.errors import ConfigError, unknown_choice
from ablate.launch import LAUNCHERS
from ablate.launch.options import LaunchOptions
from ablate.schema.checks import from_mapping

def launcher_files(config_dir: Path | None = None) -> dict[str, Path]:
    """name → conf/launcher/<name>.yaml; the user's --config-dir wins over the package's."""
    files = {p.stem: p for p in sorted((package_conf_dir() / "launcher").glob("*.yaml"))}
    if config_dir is not None:
        files.update({p.stem: p for p in sorted((Path(config_dir) / "launcher").glob("*.yaml"))})
    return files


def split_overrides(overrides: Sequence[str]) -> tuple[list[str], list[str]]:
    """(launcher.KEY=V overrides, the rest): the first never reach the run configs."""
    launch = [o for o in overrides if o.startswith("launcher.")]
    return launch, [o for o in overrides if not o.startswith("launcher.")]


def load_launch_options(name: str = "local", overrides: Sequence[str] = (),
                        config_dir: Path | None = None) -> LaunchOptions:
    """`conf/launcher/<name>.yaml`, then `launcher.KEY=VALUE` overrides on top.

    A file may be named after a cluster (`conf/launcher/mycluster.yaml`) and say
    which engine it uses with `launcher: slurm`; otherwise its name is the engine.
    """
    files = launcher_files(config_dir)
    if name not in files:
        raise unknown_choice("launcher", name, files)
    try:
        values = OmegaConf.to_container(OmegaConf.load(files[name]), resolve=True) or {}
    except Exception as e:  # noqa: BLE001 — a broken YAML file is the user's to fix, in one line
        raise ConfigError(f"cannot read {files[name]}: {str(e).splitlines()[0]}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{files[name]} must hold launcher settings (key: value), got {values!r}")
    engine = values.get("launcher", name)
    hints = typing.get_type_hints(LAUNCHERS[engine].options) if engine in LAUNCHERS else {}
    for line in overrides:
        key, sep, raw = line.partition("=")
        if not key.startswith("launcher.") or not sep:
            raise ConfigError(f"launcher override '{line}' must be written launcher.KEY=VALUE")
        key = key[len("launcher."):]
        value = yaml.safe_load(raw) if raw else None
        if hints.get(key) in (str, str | None) and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = raw  # an account or partition that looks like a number is still a name
        values[key] = value
    values.setdefault("launcher", name)
    engine = values["launcher"]
    if engine not in LAUNCHERS:
        raise unknown_choice("launcher", engine, LAUNCHERS)
    return from_mapping(LAUNCHERS[engine].options, values, prefix="launcher")


def with_flags(options: LaunchOptions, **flags: Any) -> LaunchOptions:
    """`options` with the command line's flags applied; None means "not given", so the file's value stays.
    A flag is for the launchers whose options class has its field (ablate.launch.options)."""
    given = {k: v for k, v in flags.items() if v is not None}
    owners: dict[str, list[str]] = {}  # option → the launchers whose class has it
    for name, entry in LAUNCHERS.items():
        for f in dataclasses.fields(entry.options):
            owners.setdefault(f.name, []).append(name)
    if set(given) - set(owners):
        raise TypeError(f"not launch options: {sorted(set(given) - set(owners))}")
    if "slurm_extra" in given:
        given["slurm_extra"] = tuple(given["slurm_extra"])
    for flag, value in given.items():
        if options.launcher not in owners[flag]:
            engines = owners[flag]
            shown = " ".join(value) if isinstance(value, tuple) else value
            raise ConfigError(f"--{flag.replace('_', '-')} {shown} is for --launcher {' or '.join(engines)}, but this "
                              f"sweep runs with --launcher {options.launcher}; add --launcher {engines[0]}, or leave it out")
    return dataclasses.replace(options, **given)


def gpu_request_note(options: LaunchOptions, devices: set[str]) -> str | None:
    """Cluster tasks get only the GPUs they book (Ray empties CUDA_VISIBLE_DEVICES
    for a task with no GPU; SLURM's cgroups hide unbooked ones). A run that
    needs CUDA without booking one is an error before anything is submitted;
    `device=auto` without one trains on CPU, which deserves a note."""
    if getattr(options, "gpus_per_run", None) is None or options.gpus_per_run > 0:
        return None  # the local launcher books nothing: runs see this machine's GPUs
    cuda = sorted(d for d in devices if d.startswith("cuda"))
    if cuda:
        raise ConfigError(f"device={cuda[0]} but --gpus-per-run is 0, so {options.launcher} tasks get no GPU; "
                          f"pass --gpus-per-run 1{' (or 0.25 to pack 4 runs per GPU)' if options.launcher == 'ray' else ''}")
    if "auto" in devices:
        return (f"--gpus-per-run is 0: {options.launcher} tasks get no GPU, so device=auto trains on CPU "
                "(pass --gpus-per-run 1 for a GPU per run)")
    return None
