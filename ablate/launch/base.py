"""What every launcher shares: `execute(spec)` (one run under its lock), the
writability probe, marking runs a cluster lost, and the one-line error for a
missing optional extra.

Everything here is imported on cluster workers too (the probe runs there), so
it imports neither submitit nor ray.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

from ablate.errors import ConfigError
from ablate.runner.run import run
from ablate.runner.spec import ProgressFactory, RunResult, RunSpec
from ablate.store.lock import run_lock
from ablate.store.rundir import RunDir, now
from ablate.store.status import FINISHED, UNFINISHED, Status

LOCKED = "locked"  # RunResult.status when another sweep holds the run: not a stored status


def execute(spec: RunSpec, progress: ProgressFactory | None = None) -> RunResult:
    """Run one spec under its lock; skip it when another process holds the lock."""
    with run_lock(spec.run_dir) as held:
        if not held:
            return RunResult(spec.run_dir.name, LOCKED, skipped=True, error="running in another process")
        return run(spec, progress)


def require_extra(module: str, extra: str) -> ModuleType:
    """Import an optional engine, or fail with the one line that fixes it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"--launcher {extra} needs {module}: pip install \"ablate[{extra}]\"") from None


def sweep_dir_of(specs: Sequence[RunSpec]) -> Path:
    """run_sweep puts every run at <sweep_dir>/runs/<run-id>."""
    return Path(specs[0].run_dir).parent.parent


def for_cluster(specs: Sequence[RunSpec], cpus: int) -> list[RunSpec]:
    """Specs as a task on another node needs them: an absolute run folder (a
    worker's working directory is not the sweep's: Ray's is its session folder)
    and the cores the task booked as torch threads (torch would otherwise start
    one thread per core of the whole node, and the thread count the local pool
    worked out is this machine's)."""
    return [dataclasses.replace(s, run_dir=Path(s.run_dir).absolute(), threads=max(1, int(cpus))) for s in specs]


def not_writable(sweep_dir: Path, why: str = "") -> ConfigError:
    detail = f" ({why})" if why else ""
    return ConfigError(f"results folder {sweep_dir} is not writable from the cluster's workers; "
                       f"put it on shared storage{detail}")


def mark_interrupted(specs: Iterable[RunSpec], message: str) -> None:
    """After a Ctrl-C: what was in flight and did not record its end is interrupted."""
    for spec in specs:
        rd = RunDir(spec.run_dir)
        if rd.read_status().get("status") in UNFINISHED:
            rd.write_status(Status.INTERRUPTED, ended=now(), error=message)
            rd.log(message)


def lost(spec: RunSpec, status: str, message: str) -> RunResult:
    """A run whose task ended without a result (cancelled, preempted, killed).

    The run did not record its own end, so its status.json still says running
    or queued; record `status` (interrupted: the next sweep resumes it from its
    checkpoint; failed: it needs --retry-failed) unless it finished after all.
    """
    rd = RunDir(spec.run_dir)
    current = rd.read_status().get("status")
    if current in UNFINISHED or current is None:
        rd.write_status(status, ended=now(), error=message)
        rd.log(message)
        current = status
    return RunResult(rd.run_id, current, rd.read_summary() if current in FINISHED else {},
                     error=None if current in FINISHED else message)
