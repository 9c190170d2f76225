"""`--launcher slurm`: one SLURM array job per sweep through submitit.

Each array task calls `execute(spec)` on a node and writes its run directory
there (so the results folder must be on storage every node sees). Tasks are
submitit `Checkpointable`: on time-out (SLURM's USR2, `signal_delay_s` before
the limit) or preemption, submitit pickles the same call and requeues the
task, which resumes the run from its checkpoint.pt. A task that ends without
a result (scancel, node failure) leaves its run `interrupted`, and the next
`ablate sweep` resumes it.

Progress is watched with `squeue` and submitit's result files, not with
`sacct`: many small clusters (and CI's) run without an accounting database.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import submitit

from ablate.errors import ConfigError
from ablate.launch.base import execute, lost
from ablate.launch.base import for_cluster, mark_interrupted, not_writable, sweep_dir_of
from ablate.launch.options import SlurmOptions
from ablate.runner.spec import RunResult, RunSpec
from ablate.store.atomic import check_writable_here, write_probe
from ablate.store.rundir import RunDir
from ablate.store.status import Status

# squeue states of a task that may still produce a result (requeued and
# preempted tasks come back).
ACTIVE = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
          "RESIZING", "SUSPENDED", "PREEMPTED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD",
          "SPECIAL_EXIT"}
# A finished task's result file can lag on network filesystems (NFS attribute
# caches hold ~30 s); submitit itself waits 15 s before calling a job lost.
RESULT_GRACE_S = 30.0
POLL_MAX_S = 10.0  # squeue at most this far apart once nothing changes
RESULT_POLL_S = 0.5  # result files are looked for this often (a stat per task in flight)
SETTLE_S = 60.0  # after Ctrl-C: how long to wait for cancelled tasks to leave (SLURM's KillWait is 30 s)


class SlurmRun(submitit.helpers.Checkpointable):
    """One array task. Checkpointable's `checkpoint` resubmits the same call, so a
    requeued task runs `execute(spec)` again and resumes from the checkpoint."""

    def __call__(self, spec: RunSpec) -> RunResult:
        env = submitit.JobEnvironment()
        # Which SLURM task ran (or is running) a run, for `scancel` and its logs.
        RunDir(spec.run_dir).log(f"slurm task {env.job_id} on {env.hostname}")
        return execute(spec)


def submit_or_explain(submit):
    """sbatch's refusal (bad partition, account, limits) as one line, not a traceback."""
    try:
        return submit()
    except submitit.core.utils.FailedJobError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        reason = next((line for line in lines if "error" in line.lower()), lines[-1] if lines else str(e))
        raise ConfigError(f"sbatch refused the job: {reason.removeprefix('sbatch: error: ')}") from None


def squeue(job_ids: Sequence[str]) -> dict[str, str] | None:
    """Task id → state for the jobs' tasks SLURM still knows (finished ones for
    MinJobAge, 5 min by default); None when squeue could not answer."""
    mains = sorted({j.split("_")[0] for j in job_ids})
    try:
        out = subprocess.run(["squeue", "-h", "-r", "--states=all", "-o", "%i|%T", "-j", ",".join(mains)],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        # Every id forgotten (past MinJobAge) is an error, not an empty list.
        return {} if "Invalid job id" in out.stderr else None
    states = {}
    for line in out.stdout.splitlines():
        task, _, state = line.strip().partition("|")
        states[task] = state.split()[0] if state else "UNKNOWN"
    return states


def task_error(error: Exception) -> str:
    """The last line of the traceback submitit wraps in FailedJobError (between two dashed rules)."""
    parts = str(error).split("-" * 22)
    trace = parts[1] if len(parts) >= 3 else str(error)
    lines = [line.strip() for line in trace.splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def scancel(*args: str) -> None:
    try:
        subprocess.run(["scancel", *args], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        pass  # best effort: the caller is already stopping


class _Watch:
    """Finished-or-not for submitit jobs, from result files first and squeue second."""

    def __init__(self) -> None:
        self.gone_since: dict[str, float] = {}

    def finished(self, job: submitit.Job, states: dict[str, str] | None) -> str | None:
        """None while the task may still produce a result; else 'result' or its final state."""
        if job.paths.result_pickle.exists():
            return "result"
        if states is None:
            return None
        state = states.get(job.job_id, "GONE")
        if state in ACTIVE:
            self.gone_since.pop(job.job_id, None)
            return None
        if state in ("COMPLETED", "FAILED", "GONE"):
            # Those may have written a result that the filesystem does not show yet.
            first = self.gone_since.setdefault(job.job_id, time.monotonic())
            if time.monotonic() - first < RESULT_GRACE_S:
                return None
        return state


class SlurmLauncher:
    def __init__(self, options: SlurmOptions, workers: int = 1, gpus: int = 0) -> None:
        # `workers` and `gpus` describe this machine; under SLURM the options say what each task gets.
        if shutil.which("sbatch") is None or shutil.which("squeue") is None:
            raise ConfigError("--launcher slurm needs SLURM's commands (sbatch, squeue, scancel) on this "
                              "machine's PATH; run the sweep from a login node of the cluster")
        self.options = options
        self.checked: set[Path] = set()  # sweep folders a node has written to

    def _executor(self, sweep_dir: Path, tasks: int, name: str, minutes: int) -> submitit.SlurmExecutor:
        o = self.options
        folder = Path(o.slurm_folder) if o.slurm_folder else sweep_dir / "slurm"
        folder.mkdir(parents=True, exist_ok=True)
        extra = {**({"mem": o.slurm_mem} if o.slurm_mem else {}), **o.sbatch_extra()}
        params = {
            "job_name": name[:100], "time": minutes, "cpus_per_task": o.cpus_per_run,
            "gpus_per_node": int(o.gpus_per_run) or None, "partition": o.slurm_partition,
            "account": o.slurm_account, "array_parallelism": o.slurm_max_parallel or max(1, tasks),
            # USR2 this long before the time limit: submitit checkpoints and requeues (90 s is its default).
            "signal_delay_s": min(90, minutes * 30), "additional_parameters": extra or None,
        }
        executor = submitit.SlurmExecutor(folder=folder)
        executor.update_parameters(**{k: v for k, v in params.items() if v is not None})
        return executor

    def check_writable(self, sweep_dir: Path) -> None:
        """A one-task job writes and deletes a file in the sweep folder, from a node."""
        sweep_dir = Path(sweep_dir).absolute()
        if sweep_dir in self.checked:
            return
        check_writable_here(sweep_dir)
        executor = self._executor(sweep_dir, 1, f"ablate-probe-{sweep_dir.name}", min(5, self.options.slurm_time))
        job = submit_or_explain(lambda: executor.submit(write_probe, str(sweep_dir)))
        watch, poll = _Watch(), 0.5
        try:
            while (end := watch.finished(job, squeue([job.job_id]))) is None:
                time.sleep(poll)
                poll = min(2.0, poll * 1.5)  # one small job: squeue every 2 s is cheap
        except BaseException:
            scancel(job.job_id)
            raise
        if end != "result":
            raise not_writable(sweep_dir, f"probe job {job.job_id} ended {end} without a result; "
                                          f"see {job.paths.stderr}")
        try:
            job.result()
        except Exception as e:  # noqa: BLE001 — the worker's error, shown in one line
            raise not_writable(sweep_dir, task_error(e)) from None
        self.checked.add(sweep_dir)

    def map(self, specs: Sequence[RunSpec], keep_going: Callable[[], bool] = lambda: True) -> Iterator[RunResult]:
        """Submit every run as one array job; yield results as tasks finish."""
        if not specs or not keep_going():
            return
        specs = for_cluster(specs, self.options.cpus_per_run)
        sweep_dir = sweep_dir_of(specs)
        self.check_writable(sweep_dir)  # once per folder: a no-op when the CLI checked it first
        executor = self._executor(sweep_dir, len(specs), f"ablate-{sweep_dir.name}", self.options.slurm_time)
        jobs = submit_or_explain(lambda: executor.map_array(SlurmRun(), specs))
        pending = {job.job_id: (job, spec) for job, spec in zip(jobs, specs)}
        array_id = jobs[0].job_id.split("_")[0]
        watch, dropped, next_squeue, squeue_every = _Watch(), False, 0.0, 1.0
        try:
            while pending:
                if not dropped and not keep_going():
                    # --max-failures reached: the tasks that have not started never will.
                    scancel("--state=PENDING", array_id)
                    dropped = True
                # Result files show finished tasks (checked every poll, cheap); squeue,
                # the lost ones (asked less often as nothing changes).
                states = squeue(list(pending)) if time.monotonic() >= next_squeue else None
                if states is not None:
                    next_squeue = time.monotonic() + squeue_every
                    squeue_every = min(POLL_MAX_S, squeue_every * 1.5)
                if dropped and states is not None:
                    # Cancelled before they started: SLURM forgets those at once, and
                    # their runs stay queued for the next sweep.
                    for job_id in [j for j, (job, spec) in pending.items() if states.get(j) not in ACTIVE
                                   and not job.paths.result_pickle.exists()
                                   and RunDir(spec.run_dir).read_status().get("status") == Status.QUEUED]:
                        del pending[job_id]
                done = [(job_id, end) for job_id, (job, _) in pending.items()
                        if (end := watch.finished(job, states)) is not None]
                for job_id, end in done:
                    job, spec = pending.pop(job_id)
                    yield self._result(job, spec) if end == "result" else self._lost(job, spec, end)
                if done:
                    squeue_every = 1.0
                if pending:
                    time.sleep(RESULT_POLL_S)
        except BaseException:
            # Ctrl-C (or the consumer went away). Tasks not started yet go first:
            # a run that stops on SIGINT frees its slot, and SLURM would start the
            # next pending task in it before the array is cancelled. Then SIGINT
            # lets each running run record `interrupted` itself, as it would
            # locally; scancel removes the rest (submitit ignores its SIGTERM).
            scancel("--state=PENDING", array_id)
            scancel("--signal=INT", array_id)
            scancel(array_id)
            self._settle(list(pending))
            mark_interrupted([spec for _, spec in pending.values()], f"interrupted: slurm job {array_id} cancelled")
            raise

    @staticmethod
    def _result(job: submitit.Job, spec: RunSpec) -> RunResult:
        try:
            return job.result()
        except Exception as e:  # noqa: BLE001 — the task failed outside run(): unpickling, imports, ...
            return lost(spec, Status.FAILED,
                        f"slurm task {job.job_id} failed: {task_error(e)}; log: {job.paths.stderr}")

    @staticmethod
    def _lost(job: submitit.Job, spec: RunSpec, state: str) -> RunResult:
        # Out of memory would only happen again; anything else (cancelled,
        # node failure, time-out after the last requeue) resumes next sweep.
        status = Status.FAILED if state == "OUT_OF_MEMORY" else Status.INTERRUPTED
        hint = "; raise --slurm-mem" if state == "OUT_OF_MEMORY" else ""
        return lost(spec, status, f"slurm task {job.job_id} ended without a result ({state}){hint}; "
                                  f"log: {job.paths.stderr}")

    @staticmethod
    def _settle(job_ids: list[str]) -> None:
        """Wait (bounded) for cancelled tasks to stop, so their status files are final."""
        deadline = time.monotonic() + SETTLE_S
        try:
            while job_ids and time.monotonic() < deadline:
                states = squeue(job_ids)
                if states is not None and not any(states.get(j) in ACTIVE - {"PENDING"} for j in job_ids):
                    return
                time.sleep(1)
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: stop waiting
