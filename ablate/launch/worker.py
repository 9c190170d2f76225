"""`ablate worker URI/SWEEP`: claim a sweep's queued runs from object storage until none are left.

Any machine can run it (a VM, a spot node, a Ray task); running it again is
the resume. Each run is claimed with a lease (store.lease), trained in local
scratch by the one run entry point, `runner.run.run`, and uploaded as it
goes: after every epoch its checkpoint, history and log, then status.json;
at the end summary.json, then status.json last, the commit marker. A run
whose upload fails after every retry is reported and left as the bucket has it
(never `completed`), so the next worker trains it again from its last uploaded
checkpoint.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ablate.runner.identity import run_id as run_id_of
from ablate.runner.run import run
from ablate.runner.spec import RunResult, RunSpec
from ablate.schema.checks import from_mapping
from ablate.schema.run import RunConfig
from ablate.store.lease import LEASE_SECONDS, Lease, claim, default_holder, expires_in
from ablate.store.remote import Remote, UploadError
from ablate.store.rundir import RunDir
from ablate.store.status import ENDED, PENDING, Status

# RunResult.status of runs this worker did not record (not stored statuses).
NOT_UPLOADED = "not uploaded"  # trained here, but the store never got its end
LOST_LEASE = "lost lease"  # another worker took the run over; this one's results are dropped

# Per epoch: the checkpoint first (a resume needs it), status.json last (what readers go by).
# predictions.npz changes only at a new best epoch; the checkpoint holds its arrays too.
EPOCH_FILES = ("checkpoint.pt", "history.csv", "predictions.npz", "diagnostics.csv", "log.txt", "config.yaml",
               "status.json")
FINAL_FILES = ("checkpoint.pt", "history.csv", "predictions.npz", "diagnostics.csv", "log.txt", "config.yaml",
               "summary.json", "status.json")
# While every run left is another worker's: seconds between looks at their leases. Each look is
# two requests per held run (a listing and a GET of its newest lease): at most a handful of runs,
# at a sweep's tail, when each idle worker holds nothing else.
POLL_SECONDS = 2.0
CONFIG_ONLY = ("run_id", "results_format")  # config.yaml's record keys that are not RunConfig fields


class LeaseLost(RuntimeError):
    """Raised inside the run's epoch callback: stop training, another worker has the run."""


@dataclass
class Uploader:
    """The run's progress as the store sees it: uploads what changed after each epoch. It is
    handed to `run` as its ProgressFactory, whose `epoch()` is called once the epoch's
    checkpoint and status are written."""

    remote: Remote
    local: Path
    rel: str
    lease: Lease
    on_note: Callable[[str], None]
    behind: bool = False  # an epoch's upload failed: the bucket's checkpoint is older than ours
    _sent: dict[str, tuple[int, int]] = field(default_factory=dict)

    def sync(self, names: tuple[str, ...]) -> None:
        """Upload each of `names` whose file changed since it was last sent (UploadError when one cannot be)."""
        for name in names:
            path = self.local / name
            if not path.is_file():
                continue
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if self._sent.get(name) != stamp or name == "status.json":
                self.remote.put(f"{self.rel}/{name}", path.read_bytes())
                self._sent[name] = stamp

    def _epoch_sync(self) -> None:
        if self.lease.lost:
            raise LeaseLost(f"run {self.local.name}: another worker took its lease over")
        try:
            self.sync(EPOCH_FILES)
        except UploadError as e:
            # Training goes on: the final upload tries again, and until then the
            # bucket holds the last checkpoint that did arrive.
            self.behind = True
            self.on_note(f"run {self.local.name}: {e}; training on, the end of the run tries again")

    # -- the Progress protocol
    @contextmanager
    def __call__(self, epochs: int, steps: int, start_epoch: int) -> Iterator[Uploader]:
        self._epoch_sync()  # status `running`, config and log: the bucket shows who trains it from now
        yield self

    def step(self) -> None:
        pass

    def epoch(self, record: Any) -> None:
        self._epoch_sync()


def remote_statuses(remote: Remote) -> dict[str, str | None]:
    """Each run folder's status, from one listing and one read of each status.json."""
    keys = remote.find("runs")
    runs = sorted({k.split("/")[1] for k in keys if k.count("/") == 2 and k.endswith("/config.yaml")})
    present = set(keys)
    return {rid: read_json(remote, f"runs/{rid}/status.json").get("status")
            if f"runs/{rid}/status.json" in present else None for rid in runs}


def read_json(remote: Remote, rel: str) -> dict[str, Any]:
    data = remote.get(rel)
    try:
        record = json.loads(data) if data else {}
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def claimable(status: str | None, retry_failed: bool) -> bool:
    return status is None or status in PENDING or (retry_failed and status == Status.FAILED)


def load_run_config(remote: Remote, rid: str) -> RunConfig:
    import yaml

    record = yaml.safe_load(remote.get(f"runs/{rid}/config.yaml") or b"") or {}
    config = from_mapping(RunConfig, {k: v for k, v in record.items() if k not in CONFIG_ONLY})
    if run_id_of(config) != rid:
        raise ValueError(f"runs/{rid}/config.yaml hashes to run id {run_id_of(config)}, not {rid}")
    return config


def train_claimed(remote: Remote, scratch: Path, rid: str, lease: Lease, retry_failed: bool,
                  on_note: Callable[[str], None], threads: int | None = None) -> RunResult | None:
    """Train a claimed run in scratch from what the bucket holds; None when it had ended meanwhile.
    `threads`: a GPU run's host threads (a Ray task's booked CPUs); CPU runs use their own count."""
    status = read_json(remote, f"runs/{rid}/status.json").get("status")
    if status in ENDED and not (retry_failed and status == Status.FAILED):
        return None  # another worker finished it between our listing and our claim
    local = Path(scratch) / "runs" / rid
    shutil.rmtree(local, ignore_errors=True)  # the bucket is the truth, not an older scratch copy
    remote.download(remote.find(f"runs/{rid}"), scratch)
    if status == Status.FAILED:
        (local / "checkpoint.pt").unlink(missing_ok=True)  # --retry-failed starts over, as a local sweep does
    # Which worker trained it, and where: the run's log in the bucket answers it after the scratch is gone.
    RunDir(local).log(f"claimed by worker {lease.holder} (lease {lease.generation}), "
                      f"scratch {Path(scratch).absolute()}")
    uploader = Uploader(remote, local, f"runs/{rid}", lease, on_note)
    try:
        result = run(RunSpec(load_run_config(remote, rid), local, resume=True, threads=threads), progress=uploader)
    except KeyboardInterrupt:
        if not lease.lost:
            uploader.sync(FINAL_FILES)  # `interrupted`: the next worker resumes it from this checkpoint
        raise
    if lease.lost:
        on_note(f"run {rid}: another worker took its lease over; this worker's results are dropped")
        return RunResult(rid, LOST_LEASE, error="lease lost")
    try:
        uploader.sync(FINAL_FILES)
    except UploadError as e:
        on_note(f"run {rid}: trained, but not recorded as done: {e}; run `ablate worker` again to redo it")
        return RunResult(rid, NOT_UPLOADED, error=str(e))
    return result


def wait_for_a_lease(remote: Remote, held: list[str], lease_seconds: float) -> None:
    """Sleep until one of the `held` runs' leases is free: released (its run ended, or its worker
    stopped) or lapsed; at most one lease's length, then the caller lists the runs again. Looked at
    every POLL_SECONDS, so a sweep ends soon after another worker's last run, not up to a lease later."""
    deadline = time.monotonic() + lease_seconds
    while held and time.monotonic() < deadline:
        soonest = min(expires_in(remote, rid) for rid in held)
        if soonest <= 0:
            return
        time.sleep(max(0.2, min(soonest, POLL_SECONDS, deadline - time.monotonic())))


def work(remote: Remote, scratch: Path, *, holder: str | None = None, lease_seconds: float = LEASE_SECONDS,
         retry_failed: bool = False, on_note: Callable[[str], None] | None = None,
         on_result: Callable[[RunResult], None] | None = None, on_claim: Callable[[str], None] | None = None,
         threads: int | None = None) -> Counter:
    """Claim and train runs until every run of the sweep has ended (waiting out other
    workers' live leases); returns the count per status of the runs this worker trained.
    Stops at the first run it could not upload: the store is not answering."""
    holder = holder or default_holder()
    note = on_note or (lambda line: None)
    counts: Counter = Counter()
    tried: set[str] = set()  # a run is trained once per invocation, whatever its outcome
    while True:
        todo = [rid for rid, st in remote_statuses(remote).items() if claimable(st, retry_failed) and rid not in tried]
        if not todo:
            return counts
        held: list[str] = []  # runs other workers hold right now
        progressed = False
        for rid in todo:
            lease = claim(remote, rid, holder, lease_seconds)
            if lease is None:
                held.append(rid)
                continue
            progressed = True
            tried.add(rid)
            if on_claim is not None:
                on_claim(rid)
            try:
                result = train_claimed(remote, Path(scratch), rid, lease.keep_alive(), retry_failed, note,
                                       threads)
            finally:
                lease.release()
            if result is None:
                continue
            counts[result.status] += 1
            if on_result is not None:
                on_result(result)
            if result.status == NOT_UPLOADED:
                return counts
        if not progressed:
            wait_for_a_lease(remote, held, lease_seconds)
