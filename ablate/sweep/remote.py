"""`ablate sweep --results s3://bucket/prefix`: a sweep whose folder is in object storage.

The sweep puts its plan in the bucket (sweep.yaml, and each new run's
config.yaml, factors.json and a `queued` status.json), then trains: as one
worker (launch.worker) beside any others started with `ablate worker`, or, with
--launcher ray, as Ray tasks each running that worker (launch.ray_workers). The
files are written by the same code as a local sweep's, in a staging copy of
the sweep's light files, and uploaded from there, so the bucket holds the
local format exactly. A run's queued status.json is created only if absent
(a conditional write), so a sweep started again never overwrites what a
worker wrote meanwhile.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ablate.launch.worker import NOT_UPLOADED, remote_statuses, work
from ablate.runner.spec import RunResult
from ablate.store.rundir import RunDir, now
from ablate.store.remote import Remote, UploadError
from ablate.store.status import FINISHED, Status
from ablate.store.sweep_record import read_sweep_record
from ablate.store.tables import write_tables
from ablate.sweep.driver import write_sweep_yaml
from ablate.sweep.plan import Plan

TABLES = ("runs.csv", "runs.parquet", "epochs.csv")


def enqueue(plan: Plan, remote: Remote, staging: Path, command: str) -> list[str]:
    """Record the grid and queue its new runs in the bucket; returns every factor of the sweep."""
    remote.pull(staging, light=True)
    factors = write_sweep_yaml(staging, plan, command)
    remote.put("sweep.yaml", (staging / "sweep.yaml").read_bytes())
    for planned in plan.runs:
        rel = f"runs/{planned.run_id}"
        rd = RunDir(staging / "runs" / planned.run_id)
        known = rd.read_factors()
        rd.add_factors(planned.factors)
        if rd.read_factors() != known:
            remote.put(f"{rel}/factors.json", rd.factors_file.read_bytes())
        if not rd.config.exists():
            rd.write_config(planned.run_id, planned.config.to_dict())
            remote.create(f"{rel}/config.yaml", rd.config.read_bytes())
        if not rd.status_file.exists():
            rd.write_status(Status.QUEUED, queued=now())
            remote.create(f"{rel}/status.json", rd.status_file.read_bytes())
    return factors


def publish_tables(remote: Remote, staging: Path) -> None:
    """Rebuild runs.csv, runs.parquet and epochs.csv from the bucket's run folders, and upload them."""
    remote.pull(staging, light=True)
    factors = list(read_sweep_record(staging).get("factors") or [])
    write_tables(staging, factors)
    for name in TABLES:
        remote.put(name, (staging / name).read_bytes())


# Trains the queued runs, handing each RunResult to its callback as it ends; the count per
# status of the runs it trained. One worker here (launch.worker.work), or Ray tasks running it.
Trainer = Callable[[Callable[[RunResult], None] | None], Counter]


def trainer_here(remote: Remote, scratch: Path, *, retry_failed: bool = False,
                 on_note: Callable[[str], None] | None = None, lease_seconds: float | None = None) -> Trainer:
    """This process as one worker, training in `scratch`."""
    options = {} if lease_seconds is None else {"lease_seconds": lease_seconds}
    return lambda on_result: work(remote, scratch, retry_failed=retry_failed, on_note=on_note, on_result=on_result,
                                  **options)


def run_remote_sweep(plan: Plan, remote: Remote, staging: Path, train: Trainer, *, command: str,
                     retry_failed: bool = False, display=None,
                     on_note: Callable[[str], None] | None = None) -> Counter:
    """Queue the plan, train (`train`) until no run is left, publish the tables; the count per status
    as the bucket has it."""
    enqueue(plan, remote, staging, command)
    statuses = remote_statuses(remote)
    ids = [p.run_id for p in plan.runs]
    labels = {p.run_id: p.factors for p in plan.runs}
    if display is not None:
        done = sum(statuses.get(rid) in FINISHED for rid in ids)
        failed = 0 if retry_failed else sum(statuses.get(rid) == Status.FAILED for rid in ids)
        display.begin(total=len(ids), done=done, skipped_failed=failed, elsewhere=0,
                      to_run=len(ids) - done - failed, workers=1)
    try:
        trained = train((lambda r: display.finished(r, labels.get(r.run_id, {}))) if display else None)
    finally:
        counts = final_counts(remote, staging, ids, on_note)
        if display is not None:
            display.end(counts)
    if trained.get(NOT_UPLOADED):
        raise UploadError(f"{remote.uri}: a run trained here could not be uploaded and is not recorded as done")
    return counts


def final_counts(remote: Remote, staging: Path, ids: list[str], on_note: Callable[[str], None] | None) -> Counter:
    """The count per status of the plan's runs as the bucket has them, after the tables are rebuilt; when the
    store stopped answering, each run counts as this sweep last saw it (queued) and a note says why."""
    try:
        statuses = remote_statuses(remote)
        publish_tables(remote, staging)
    except OSError as e:
        if on_note is not None:
            on_note(f"{remote.uri}: statuses and tables not read back: {e}")
        statuses = {}
    return Counter(statuses.get(rid) or Status.QUEUED.value for rid in ids)
