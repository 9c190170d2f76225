"""Sweeps in object storage, from Python: the sweep, the worker, pull, and local copies to read.

`prepare_sweep(results="s3://bucket/prefix")` lands here; so do `ablate worker`,
`ablate pull` and `ablate.load("s3://...")`. Every URI is checked before
anything runs (store.remote.check): reachable, credentials accepted,
conditional writes honoured. A ConfigError of one line otherwise.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ablate.errors import ConfigError
from ablate.registry import Registry
from ablate.runner.spec import RunResult


def _cache(uri: str, kind: str) -> Path:
    """A per-URI folder under the system's temp dir, ending in the sweep's name (tables name the sweep by it)."""
    digest = hashlib.sha256(uri.encode()).hexdigest()[:12]
    # "ablate-cache", not "ablate": a folder named like the package in /tmp would shadow it for scripts run there.
    return Path(tempfile.gettempdir()) / "ablate-cache" / kind / digest / uri.rstrip("/").rsplit("/", 1)[-1]


def sweep_uri(results: str, name: str) -> str:
    from ablate.store.remote import uri_of

    return f"{(uri_of(results) or results).rstrip('/')}/{name}"


def _here(setup, remote, *, workers: int | None, retry_failed: bool, command: str, display: Any,
          on_note: Callable[[str], None] | None) -> Counter:
    """--launcher local: this process trains as one worker, in a temporary scratch folder."""
    from ablate.sweep.remote import run_remote_sweep, trainer_here

    if workers and workers > 1 and on_note is not None:
        on_note(f"--workers {workers}: a sweep in object storage trains here as one worker; start more with "
                f"`ablate worker {setup.remote}` (in other shells or on other machines), or use --launcher ray")
    with tempfile.TemporaryDirectory(prefix="ablate-scratch-") as scratch:
        train = trainer_here(remote, Path(scratch), retry_failed=retry_failed, on_note=on_note)
        return run_remote_sweep(setup.plan, remote, setup.sweep_dir, train, command=command,
                                retry_failed=retry_failed, display=display, on_note=on_note)


def _on_ray(setup, remote, *, workers: int | None, retry_failed: bool, command: str, display: Any,
            on_note: Callable[[str], None] | None) -> Counter:
    """--launcher ray: --workers Ray tasks (default one per run left), each `ablate worker` in its own scratch."""
    from ablate.launch.base import require_extra

    require_extra("ray", "ray")
    from ablate.launch.ray_workers import RayWorkers
    from ablate.sweep.remote import run_remote_sweep

    pool = RayWorkers(setup.options)
    pool.connect()  # before anything is queued: a Ray that cannot start is one line, the bucket untouched
    train = pool.trainer(remote, workers, retry_failed=retry_failed, on_note=on_note)
    return run_remote_sweep(setup.plan, remote, setup.sweep_dir, train, command=command,
                            retry_failed=retry_failed, display=display, on_note=on_note)


# Launchers that can train a sweep in object storage: name → (setup, Remote, ...) → count per status.
REMOTE_LAUNCHERS: Registry[Callable[..., Counter]] = Registry("launcher for object-storage --results")
REMOTE_LAUNCHERS.add("local", _here, "this process as one worker; more with `ablate worker` elsewhere")
REMOTE_LAUNCHERS.add("ray", _on_ray, "Ray tasks, each a worker with its own scratch; asks the autoscaler for them")


def remote_sweep(results: str, name: str, rounds, options) -> tuple[str, Path]:
    """For prepare_sweep: the sweep's URI, checked, and its local staging folder."""
    from ablate.store.remote import check

    if rounds is not None:
        raise ConfigError("--seeds-until needs a local --results folder for now; object storage takes a plain grid")
    if options.launcher not in REMOTE_LAUNCHERS:
        raise ConfigError(f"--launcher {options.launcher} with object-storage --results is not supported: use "
                          f"{' or '.join(REMOTE_LAUNCHERS)}, or start `ablate worker URI/SWEEP` on each machine")
    uri = sweep_uri(results, name)
    check(uri)
    return uri, _cache(uri, "staging")


def execute_remote_sweep(setup, *, workers: int | None = None, retry_failed: bool = False,
                         command: str = "ablate sweep", display: Any = None,
                         on_start: Callable[[Any], None] | None = None,
                         on_note: Callable[[str], None] | None = None) -> Counter:
    """execute_sweep for a sweep in object storage: queue the plan, train it with the sweep's launcher
    (REMOTE_LAUNCHERS); the count per status as the bucket has it."""
    from ablate.store.remote import Remote

    remote = Remote(setup.remote, on_retry=on_note)
    if on_start is not None:
        on_start(setup.remote)
    return REMOTE_LAUNCHERS[setup.options.launcher](setup, remote, workers=workers, retry_failed=retry_failed,
                                                    command=command, display=display, on_note=on_note)


def run_worker(uri: str, *, scratch: Path | None = None, retry_failed: bool = False,
               lease_seconds: float | None = None, on_note: Callable[[str], None] | None = None,
               on_result: Callable[[RunResult], None] | None = None,
               on_claim: Callable[[str], None] | None = None) -> Counter:
    """`ablate worker URI/SWEEP`: train the sweep's queued runs until none are left; the count per status
    of the runs this worker trained. `scratch`: where runs train (default: a temporary folder)."""
    from ablate.launch.worker import work
    from ablate.store.lease import LEASE_SECONDS
    from ablate.store.remote import Remote, check
    from ablate.sweep.remote import publish_tables

    check(uri)
    remote = Remote(uri, on_retry=on_note)
    if remote.get("sweep.yaml") is None:
        raise ConfigError(f"{uri} is not a sweep (no sweep.yaml): start it with `ablate sweep --results ...`")
    with tempfile.TemporaryDirectory(prefix="ablate-scratch-") as tmp:
        counts = work(remote, Path(scratch or tmp), retry_failed=retry_failed,
                      lease_seconds=lease_seconds or LEASE_SECONDS, on_note=on_note, on_result=on_result,
                      on_claim=on_claim)
    publish_tables(remote, _cache(uri, "staging"))
    return counts


def pull(uri: str, folder: Path, light: bool = False) -> int:
    """`ablate pull URI/SWEEP DIR`: copy the sweep (every run folder as the bucket has it, no leases)
    into DIR, which then reads as the sweep folder; returns the number of files copied."""
    from ablate.store.remote import Remote, check

    check(uri, write=False)
    remote = Remote(uri)
    if remote.get("sweep.yaml") is None:
        raise ConfigError(f"{uri} is not a sweep (no sweep.yaml)")
    return remote.pull(Path(folder), light=light)


def local_copy(uri: str) -> Path:
    """The sweep's light files (no checkpoints, no logs) in a cache folder, freshly listed: what
    `ablate report URI` and `ablate.load(URI)` read."""
    import shutil

    from ablate.store.remote import Remote, check

    check(uri, write=False)
    remote = Remote(uri)
    folder = _cache(uri, "read")
    shutil.rmtree(folder, ignore_errors=True)  # a run deleted from the bucket must not linger here
    if remote.pull(folder, light=True) == 0 or not (folder / "sweep.yaml").exists():
        raise ConfigError(f"{uri} is not a sweep (no sweep.yaml)")
    return folder


def localize(paths) -> list[Path]:
    """Sweep paths as folders to read: each object-store URI as its light local copy, other paths as they are."""
    from ablate.store.remote import uri_of

    return [local_copy(uri) if (uri := uri_of(p)) is not None else Path(p) for p in paths]
