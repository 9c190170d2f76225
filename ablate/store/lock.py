"""One lock per run, so two sweeps sharing a results folder never run the
same run twice. `flock` locks die with their process, so a run whose sweep
was killed (kill -9, reboot) is free to be resumed by the next one."""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ablate.store.rundir import RunDir
from ablate.store.status import Status


@contextmanager
def run_lock(run_dir: Path) -> Iterator[bool]:
    """Yields True when this process holds the run's lock, False when another does."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / ".lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def is_locked(run_dir: Path) -> bool:
    if not (run_dir / ".lock").exists():
        return False
    with run_lock(run_dir) as held:
        return not held


def current_status(run_dir: Path) -> str | None:
    """The run's status as it stands: a `running` run of this host whose lock is
    free has lost its process (kill -9, a crash) and is `interrupted`, which the
    next sweep resumes. A run of another host (SLURM, Ray) is taken at its word:
    its lock and pid live on that node."""
    record = RunDir(run_dir).read_status()
    status = record.get("status")
    if status == Status.RUNNING and record.get("host") == socket.gethostname() and not is_locked(Path(run_dir)):
        return Status.INTERRUPTED.value
    return status
