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
from typing import Any

from ablate.config.launch import LaunchOptions
from ablate.launch.base import require_extra
from ablate.registry import Registry

Factory = Callable[[LaunchOptions, int, int], Any]
LAUNCHERS: Registry[Factory] = Registry("launcher")


@LAUNCHERS.register("local", "this machine: in-process, or a process pool with --workers")
def _local(options: LaunchOptions, workers: int = 1, gpus: int = 0):
    from ablate.launch.local import LocalExecutor

    return LocalExecutor(workers, gpus)


@LAUNCHERS.register("slurm", "a SLURM array job per sweep via submitit (pip install \"ablate[slurm]\")")
def _slurm(options: LaunchOptions, workers: int = 1, gpus: int = 0):
    require_extra("submitit", "slurm")
    from ablate.launch.slurm import SlurmLauncher

    return SlurmLauncher(options, workers, gpus)


@LAUNCHERS.register("ray", "a Ray task per run, fractional GPUs (pip install \"ablate[ray]\")")
def _ray(options: LaunchOptions, workers: int = 1, gpus: int = 0):
    require_extra("ray", "ray")
    from ablate.launch.ray import RayLauncher

    return RayLauncher(options, workers, gpus)
