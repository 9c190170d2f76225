"""`ablate sweep`: a plan, a results folder, an executor, and the tables.

Re-running the same command is how a sweep resumes: finished runs (completed
or diverged) are skipped, interrupted runs and runs left `running` by a dead
process continue from their checkpoint, failed runs re-run only with
`retry_failed`. Tables are rewritten when the sweep ends or is interrupted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ablate.launch.local import LocalExecutor, worker_threads
from ablate.sweep.plan import Plan
from ablate.sweep.tune import TUNE
from ablate.runner.spec import RunSpec
from ablate.store import atomic
from ablate.store.lock import is_locked, run_lock
from ablate.store.migrate import ID_KEY, ID_SCHEME
from ablate.store.rundir import RunDir, now
from ablate.store.provenance import VERSION, git_commit
from ablate.store.status import FINISHED, UNFINISHED, Status
from ablate.store.summary import finished_summary
from ablate.store.sweep_record import read_sweep_record
from ablate.store.tables import sweep_runs, write_tables
from ablate.track import sweep_tracking

GRID_KEYS = ("command", "overrides", "grid", "factors", "planned")


def write_sweep_yaml(sweep_dir: Path, plan: Plan, command: str) -> list[str]:
    """Record this grid beside the others run in the same folder; returns every
    factor of them all, in the order first swept (runs.csv's factor columns)."""
    path = sweep_dir / "sweep.yaml"
    previous = read_sweep_record(sweep_dir)
    # A sweep.yaml from before grids were recorded holds one grid at its top level.
    grids = previous.get("grids") or ([{k: previous.get(k) for k in GRID_KEYS}] if previous.get("command") else [])
    this = {"command": command, "overrides": list(plan.overrides), "grid": dict(plan.grid),
            "factors": list(plan.factors), "planned": len(plan.runs), **plan.record}
    # The same grid again (however it was typed) is recorded once, as last run.
    grids = [g for g in grids if _grid_key(g) != _grid_key(this)] + [this]
    factors = list(dict.fromkeys(f for g in grids for f in g.get("factors") or []))
    runs = sweep_runs(sweep_dir, [p.run_id for p in plan.runs])
    record = {
        "name": sweep_dir.name, "command": command, "overrides": plan.overrides, "grid": plan.grid,
        "factors": factors, "planned": len(runs), **plan.record, "ablate_version": VERSION,
        "git_commit": git_commit(), "started": previous.get("started", now()), "last_started": now(),
        ID_KEY: ID_SCHEME, "grids": grids,
    }
    _write_yaml(path, record)
    return factors


def _grid_key(grid: dict) -> tuple:
    """What makes two recorded grids the same: the fixed overrides and the grid; with
    --seeds-until, whose rounds add seeds to one grid, the grid without its seeds."""
    axes = dict(grid.get("grid") or {})
    if grid.get("seeds_until"):
        axes.pop("seed", None)
    return repr(grid.get("overrides")), repr(axes), repr((grid.get("design") or {}).get("fraction"))


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:  # a list the record holds twice is written twice, not as &id001
        return True


def _write_yaml(path: Path, record: dict) -> None:
    # Unicode as written: the design's effects read `norm × act`, not `norm \xD7 act`.
    atomic.write_text(path, yaml.dump(record, Dumper=_Dumper, sort_keys=False, allow_unicode=True))


def record_outcome(sweep_dir: Path, key: str, value: dict) -> None:
    """Add what a sweep learnt at its end (--seeds-until's stop) to sweep.yaml and to its last grid."""
    path = sweep_dir / "sweep.yaml"
    record = read_sweep_record(sweep_dir)
    record[key] = value
    if record.get("grids"):
        record["grids"][-1][key] = value
    _write_yaml(path, record)


def existing_status(run_dir: Path) -> str | None:
    return RunDir(run_dir).read_status().get("status")


@dataclass
class Triage:
    """What this invocation does with each planned run."""
    to_run: list = field(default_factory=list)  # PlannedRun
    done: list = field(default_factory=list)
    failed: list = field(default_factory=list)  # failed before, not retried
    elsewhere: list = field(default_factory=list)  # locked by another live process
    unstarted: set = field(default_factory=set)  # run ids of to_run with no status.json yet


def triage(plan: Plan, sweep_dir: Path, retry_failed: bool) -> Triage:
    t = Triage()
    for planned in plan.runs:
        run_dir = sweep_dir / "runs" / planned.run_id
        status = existing_status(run_dir)
        if status in FINISHED and finished_summary(RunDir(run_dir), write=True):
            t.done.append(planned)
        elif status == Status.FAILED and not retry_failed:
            t.failed.append(planned)
        elif status in UNFINISHED and is_locked(run_dir):
            t.elsewhere.append(planned)
        else:
            t.to_run.append(planned)
            if status is None:
                t.unstarted.add(planned.run_id)
    return t


def run_sweep(plan: Plan, sweep_dir: Path, *, command: str, workers: int = 1, gpus: int = 0,
              retry_failed: bool = False, max_failures: int | None = None, display=None, executor=None) -> Counter:
    """Run what is left of `plan` under `sweep_dir`; returns the count per status."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    factors = write_sweep_yaml(sweep_dir, plan, command)
    t = triage(plan, sweep_dir, retry_failed)
    for planned in plan.runs:
        RunDir(sweep_dir / "runs" / planned.run_id).add_factors(planned.factors)
    for planned in t.to_run:
        rd = RunDir(sweep_dir / "runs" / planned.run_id)
        if not rd.config.exists():
            rd.write_config(planned.run_id, planned.config.to_dict())
        if planned.run_id in t.unstarted:
            # Under the run's lock, and only if still unstarted: a sweep sharing
            # this folder may have started (or finished) it since triage.
            with run_lock(rd.path) as held:
                if held and existing_status(rd.path) is None:
                    rd.write_status(Status.QUEUED, queued=now())
    # GPU workers split the cores for their host work (pinned copies, kernel
    # launches need few threads; more oversubscribe). CPU runs use their own count.
    threads = worker_threads(workers) if workers > 1 else None
    share = min(1.0, gpus / workers) if gpus else 1.0  # `workers` runs packed over `gpus` devices
    # Only a tuning run may stop when stalled (ablate.sweep.tune): a measured run always trains to the end.
    specs = [RunSpec(p.config, sweep_dir / "runs" / p.run_id, resume=True, threads=threads, gpu_share=share,
                     stall_epochs=plan.stall_epochs if p.role == TUNE else None) for p in t.to_run]
    # A tuned sweep's runs show their role, and its tuning runs the val score that selects among them.
    labels = {p.run_id: {**p.factors, **({"role": p.role} if p.role else {})} for p in plan.runs}
    failures = 0
    if display is not None:
        display.begin(total=len(plan.runs), done=len(t.done), skipped_failed=len(t.failed),
                      elsewhere=len(t.elsewhere), to_run=len(specs), workers=workers, specs=specs, labels=labels)
    executor = executor or LocalExecutor(workers=workers, gpus=gpus)
    try:
        with sweep_tracking([s.config.tracker for s in specs], sweep_dir):  # MLflow's parent run
            for result in executor.map(specs, keep_going=lambda: max_failures is None or failures < max_failures):
                failures += result.status == Status.FAILED
                if display is not None:
                    display.finished(result, labels.get(result.run_id, {}))
    finally:
        write_tables(sweep_dir, factors, [p.run_id for p in plan.runs])
        counts = Counter(existing_status(sweep_dir / "runs" / p.run_id) or Status.QUEUED.value for p in plan.runs)
        if display is not None:
            display.end(counts)
    return counts

