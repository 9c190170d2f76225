"""`ablate sweep --launcher ray --results s3://...`: `ablate worker`'s loop as Ray tasks.

Once the sweep has queued its plan in the bucket, it starts N tasks (N =
--workers, or the runs left to train if fewer; by default all of them), each
running launch.worker.work in a temporary scratch folder on whatever node it
lands on. Nothing is shared between them but the bucket: each claims runs by
lease, trains and uploads as `ablate worker` does. Before submitting, the sweep
asks Ray's autoscaler for N tasks' resources (request_resources), so a cluster
that autoscales grows to the grid rather than queueing it on the nodes it has
now; the request is withdrawn when the sweep ends.

Credentials and the endpoint reach the tasks as environment variables (the
AWS_* ones and the other fsspec back-ends', see FORWARDED), set on each task
through Ray's runtime_env. Results come back as they end through a Ray queue,
so the sweep's display is live (notes as `<holder>: <line>`); the final tally is
read from the bucket.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import ray
from ray.autoscaler import sdk
from ray.util.queue import Queue

from ablate.launch.options import RayOptions
from ablate.launch.ray import WAIT_S, RayLauncher
from ablate.launch.worker import claimable, remote_statuses, work
from ablate.runner.spec import RunResult
from ablate.store.lease import LEASE_SECONDS, default_holder
from ablate.store.remote import Remote

# Environment variables a task gets from the sweep's process: what botocore/s3fs (AWS_*:
# keys, profile, region, AWS_ENDPOINT_URL_S3), fsspec's own config (FSSPEC_<PROTOCOL>_<OPTION>),
# gcsfs (GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_CLOUD_PROJECT) and adlfs (AZURE_STORAGE_*) read.
FORWARDED = ("AWS_", "FSSPEC_", "GOOGLE_", "AZURE_")


def forwarded_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of `environ` (default: this process's) that a task on another node needs to reach the store."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if k.startswith(FORWARDED)}


def task_resources(options: RayOptions) -> dict[str, float]:
    """What one worker task books: --cpus-per-run CPUs, and --gpus-per-run GPUs when it asks for any."""
    bundle = {"CPU": float(options.cpus_per_run)}
    if options.gpus_per_run:
        bundle["GPU"] = float(options.gpus_per_run)
    return bundle


def worker_count(to_train: int, workers: int | None) -> int:
    """Tasks to start: --workers, or one per run left to train, never more tasks than runs."""
    return min(workers or to_train, to_train)


@dataclass(frozen=True)
class WorkerReport:
    """What one task did: who it was (the lease holder), where it trained, and the count per status."""

    holder: str
    host: str
    scratch: str
    counts: dict[str, int] = field(default_factory=dict)


def _worker_task(uri: str, retry_failed: bool, lease_seconds: float, threads: int, queue: Queue) -> WorkerReport:
    """One Ray task: `ablate worker URI` in a scratch folder of this node; each result and note goes to `queue`."""
    holder = default_holder()

    def note(line: str) -> None:
        queue.put(f"{holder}: {line}")

    remote = Remote(uri, on_retry=note)
    with tempfile.TemporaryDirectory(prefix="ablate-scratch-") as scratch:
        counts = work(remote, Path(scratch), holder=holder, lease_seconds=lease_seconds, retry_failed=retry_failed,
                      on_note=note, on_result=queue.put, threads=threads)
    return WorkerReport(holder, socket.gethostname(), scratch, dict(counts))


class RayWorkers:
    """Worker tasks on a Ray cluster (or a private instance) for one sweep in object storage."""

    def __init__(self, options: RayOptions) -> None:
        self.options = options
        self.launcher = RayLauncher(options)

    def connect(self) -> None:
        """Join or start Ray; ConfigError (one line) when it cannot. A private instance cannot grow,
        so there a run that no node can hold is an error now; a cluster's autoscaler may add the node."""
        self.launcher.connect()
        if self.options.ray_address is None:
            self.launcher.nodes_that_fit()

    def trainer(self, remote: Remote, workers: int | None, *, retry_failed: bool = False,
                lease_seconds: float = LEASE_SECONDS, on_note: Callable[[str], None] | None = None):
        """sweep.remote's Trainer: start the tasks, hand on results as they come, return the counts."""
        def train(on_result: Callable[[RunResult], None] | None) -> Counter:
            left = sum(claimable(st, retry_failed) for st in remote_statuses(remote).values())
            n = worker_count(left, workers)
            if not n:
                return Counter()
            # A hint, persistent until the next call: withdrawn below once the tasks end. On a cluster
            # without an autoscaler (a private instance) it is a key written to Ray's GCS that
            # nothing reads: no error, nothing to catch (checked with Ray 2.60).
            sdk.request_resources(bundles=[task_resources(self.options)] * n)
            try:
                return self.run(remote.uri, n, retry_failed, lease_seconds, on_result, on_note)
            finally:
                sdk.request_resources(bundles=[])
        return train

    def run(self, uri: str, n: int, retry_failed: bool, lease_seconds: float,
            on_result: Callable[[RunResult], None] | None, on_note: Callable[[str], None] | None) -> Counter:
        """Start `n` worker tasks and wait for them all; Ctrl-C cancels them (each interrupted run
        uploads its checkpoint and frees its lease, so the next sweep resumes it at once)."""
        o = self.options
        queue = Queue(actor_options={"num_cpus": 0})  # never holds a CPU a run could use
        task = ray.remote(_worker_task).options(
            num_cpus=o.cpus_per_run, num_gpus=o.gpus_per_run, max_retries=o.ray_max_retries, retry_exceptions=False,
            runtime_env={"env_vars": forwarded_env()})
        pending = [task.remote(uri, retry_failed, lease_seconds, max(1, int(o.cpus_per_run)), queue) for _ in range(n)]
        counts: Counter = Counter()
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=len(pending), timeout=WAIT_S)
                _drain(queue, on_result, on_note)
                for ref in done:
                    counts.update(self._report(ref, on_note))
            _drain(queue, on_result, on_note)
        except BaseException:
            RayLauncher._cancel(pending)
            raise
        finally:
            queue.shutdown(force=True)
        return counts

    def _report(self, ref: ray.ObjectRef, on_note: Callable[[str], None] | None) -> Counter:
        """A task's counts; a task that died after its retries is a note (its runs stay for the next sweep)."""
        try:
            return Counter(ray.get(ref).counts)
        except ray.exceptions.RayError as e:
            cause = getattr(e, "cause", None)
            reason = f"{type(cause).__name__}: {cause}" if cause is not None else str(e).strip()
            if on_note is not None:
                on_note(f"a ray worker task ended early ({reason.splitlines()[0]}); "
                        "its runs are left for the next sweep or `ablate worker`")
            return Counter()


def _drain(queue: Queue, on_result: Callable[[RunResult], None] | None,
           on_note: Callable[[str], None] | None) -> None:
    """Hand on what the tasks reported since the last look: RunResults and notes (str)."""
    size = queue.qsize()
    for item in queue.get_nowait_batch(size) if size else ():
        handler = on_result if isinstance(item, RunResult) else on_note
        if handler is not None:
            handler(item)
