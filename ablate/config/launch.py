"""Where a sweep's runs execute, and with what resources: `LaunchOptions`.

These settings never enter a run's config, so they never change a run id: the
same grid is the same runs whether it ran on a laptop, under SLURM or on Ray.
That is why `conf/launcher/*.yaml` is not a Hydra group of `config.yaml`;
`load_launch_options` reads those files directly, and the command line's
flags (`--launcher`, `--slurm-partition`, ...) override what they hold.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from ablate.schema.checks import from_mapping, require, require_choice
from ablate.config.compose import package_conf_dir
from ablate.errors import ConfigError, unknown_choice

ENGINES = ("local", "slurm", "ray")  # the keys of ablate.launch.LAUNCHERS
_MEM = re.compile(r"^\d+[KMGT]?$")  # sbatch --mem: a number, megabytes unless suffixed


@dataclass(frozen=True)
class LaunchOptions:
    launcher: str = "local"  # local | slurm | ray
    # SLURM: one array job per sweep, one task per run, each with these resources.
    slurm_partition: str | None = None
    slurm_account: str | None = None
    slurm_time: int = 60  # minutes per task; submitit requeues a task that reaches it
    slurm_mem: str | None = None  # per task, sbatch syntax: "8G", "500M", "16000" (MB)
    slurm_max_parallel: int | None = None  # array tasks running at once (sbatch --array=...%K)
    slurm_extra: tuple[str, ...] = ()  # more sbatch flags, "--key=value" or "--flag"
    slurm_folder: str | None = None  # submitit's pickles and logs; default <sweep_dir>/slurm
    # Both engines.
    cpus_per_run: int = 1  # also the run's torch threads: a task never uses more cores than it booked
    gpus_per_run: float = 0  # whole GPUs under SLURM; fractions on Ray pack several runs on one GPU
    # Ray: "auto" joins the cluster this node belongs to, "ray://host:10001" a remote one,
    # None starts a private instance on this machine for the length of the sweep.
    ray_address: str | None = None
    ray_max_retries: int = 3  # re-runs of a task whose worker died; each resumes from checkpoint.pt

    def __post_init__(self) -> None:
        require_choice("launcher", self.launcher, ENGINES)
        require(self.slurm_time >= 1, "slurm_time", self.slurm_time, ">= 1 minute")
        if self.slurm_mem is not None:
            require(bool(_MEM.match(self.slurm_mem)), "slurm_mem", self.slurm_mem,
                    "a size such as 8G, 500M or 16000 (MB)")
        if self.slurm_max_parallel is not None:
            require(self.slurm_max_parallel >= 1, "slurm_max_parallel", self.slurm_max_parallel, ">= 1")
        # YAML gives lists; a frozen dataclass wants the hashable tuple.
        object.__setattr__(self, "slurm_extra", tuple(self.slurm_extra))
        for flag in self.slurm_extra:
            require(isinstance(flag, str) and flag.startswith("--") and len(flag) > 2, "slurm_extra", flag,
                    "sbatch flags written '--key=value' or '--flag'")
        require(self.cpus_per_run >= 1, "cpus_per_run", self.cpus_per_run, ">= 1")
        require(self.gpus_per_run >= 0, "gpus_per_run", self.gpus_per_run, ">= 0")
        if self.launcher == "slurm":
            require(float(self.gpus_per_run).is_integer(), "gpus_per_run", self.gpus_per_run,
                    "a whole number under SLURM (fractions of a GPU need --launcher ray)")
        require(self.ray_max_retries >= 0, "ray_max_retries", self.ray_max_retries, ">= 0")

    def sbatch_extra(self) -> dict[str, Any]:
        """`slurm_extra` as submitit's `additional_parameters`: {"qos": "high", "exclusive": True}."""
        out: dict[str, Any] = {}
        for flag in self.slurm_extra:
            key, sep, value = flag[2:].partition("=")
            out[key] = value if sep else True
        return out


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
    hints = typing.get_type_hints(LaunchOptions)
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
    return from_mapping(LaunchOptions, values, prefix="launcher")


# The engines a command-line flag configures, by its prefix; the others (cpus_per_run, gpus_per_run) both.
_FLAG_ENGINES = {"slurm": ("slurm",), "ray": ("ray",)}


def with_flags(options: LaunchOptions, **flags: Any) -> LaunchOptions:
    """`options` with the command line's flags applied; None means "not given", so the file's value stays."""
    given = {k: v for k, v in flags.items() if v is not None}
    unknown = set(given) - {f.name for f in dataclasses.fields(LaunchOptions)}
    if unknown:
        raise TypeError(f"not launch options: {sorted(unknown)}")
    if "slurm_extra" in given:
        given["slurm_extra"] = tuple(given["slurm_extra"])
    options = dataclasses.replace(options, **given)
    for flag, value in given.items():
        engines = _FLAG_ENGINES.get(flag.partition("_")[0], ("slurm", "ray"))
        if options.launcher not in engines:
            shown = " ".join(value) if isinstance(value, tuple) else value
            raise ConfigError(f"--{flag.replace('_', '-')} {shown} is for --launcher {' or '.join(engines)}, but this "
                              f"sweep runs with --launcher {options.launcher}; add --launcher {engines[0]}, or leave it out")
    return options


def gpu_request_note(options: LaunchOptions, devices: set[str]) -> str | None:
    """Cluster tasks get only the GPUs they book (Ray empties CUDA_VISIBLE_DEVICES
    for a task with no GPU; SLURM's cgroups hide unbooked ones). A run that
    needs CUDA without booking one is an error before anything is submitted;
    `device=auto` without one trains on CPU, which deserves a note."""
    if options.launcher == "local" or options.gpus_per_run > 0:
        return None
    cuda = sorted(d for d in devices if d.startswith("cuda"))
    if cuda:
        raise ConfigError(f"device={cuda[0]} but --gpus-per-run is 0, so {options.launcher} tasks get no GPU; "
                          f"pass --gpus-per-run 1{' (or 0.25 to pack 4 runs per GPU)' if options.launcher == 'ray' else ''}")
    if "auto" in devices:
        return (f"--gpus-per-run is 0: {options.launcher} tasks get no GPU, so device=auto trains on CPU "
                "(pass --gpus-per-run 1 for a GPU per run)")
    return None
