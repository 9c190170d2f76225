"""Where a sweep's runs execute: this machine, a SLURM cluster, a Ray cluster.

`LAUNCHERS[name](options, workers, gpus)` builds an executor with

    check_writable(sweep_dir)   a worker writes and deletes a file in the sweep
                                folder, or ConfigError says to use shared storage
    map(specs, keep_going)      yields RunResults as runs finish; launches no
                                more once keep_going() is False; on Ctrl-C
                                cancels what is in flight, marks it
                                `interrupted`, and re-raises

Each calls `ablate.launch.base.execute(spec)` wherever the run lands, so the run
directories, tables and resume behaviour are the same as a local sweep's.
SLURM (submitit) and Ray are optional extras, imported only when chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ablate.launch.base import require_extra
from ablate.launch.options import LaunchOptions, RayOptions, SlurmOptions
from ablate.registry import Registry


@dataclass(frozen=True)
class Launcher:
    """A registry entry: the options class its YAML is read into, and the executor's factory."""

    options: type[LaunchOptions]
    make: Callable[[Any, int, int], Any]

    def __call__(self, options: LaunchOptions, workers: int = 1, gpus: int = 0) -> Any:
        return self.make(options, workers, gpus)


LAUNCHERS: Registry[Launcher] = Registry("launcher")


def _local(options: LaunchOptions, workers: int = 1, gpus: int = 0):
    from ablate.launch.local import LocalExecutor

    return LocalExecutor(workers, gpus)


def _slurm(options: SlurmOptions, workers: int = 1, gpus: int = 0):
    require_extra("submitit", "slurm")
    from ablate.launch.slurm import SlurmLauncher

    return SlurmLauncher(options, workers, gpus)


def _ray(options: RayOptions, workers: int = 1, gpus: int = 0):
    require_extra("ray", "ray")
    from ablate.launch.ray import RayLauncher

    return RayLauncher(options, workers, gpus)


LAUNCHERS.add("local", Launcher(LaunchOptions, _local), "this machine: in-process, or a process pool with --workers")
LAUNCHERS.add("slurm", Launcher(SlurmOptions, _slurm),
              "a SLURM array job per sweep via submitit (pip install \"ablate[slurm]\")")
LAUNCHERS.add("ray", Launcher(RayOptions, _ray), "a Ray task per run, fractional GPUs (pip install \"ablate[ray]\")")


def launch_options(name: str, **options: Any) -> LaunchOptions:
    """Launcher `name`'s options class with `options`: `launch_options("slurm", slurm_time=30)`."""
    return LAUNCHERS[name].options(launcher=name, **options)
