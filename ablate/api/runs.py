"""`run_train` and `run_sweep`: what `ablate train` and `ablate sweep` do, as functions.

Each comes in two steps, which the CLI calls one at a time: `prepare_*`
composes and checks everything (any mistake is a ConfigError of one line,
before anything runs) and says where results go; running it then trains.
`run_train` / `run_sweep` do both. Notes the command line prints (confounds,
settings that buy nothing) are Python warnings here.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ablate.api.grid import plan_sweep, run_seed_rounds, run_tuning
from ablate.errors import ConfigError
from ablate.store.remote import is_uri, uri_of
from ablate.schema.run import RunConfig
from ablate.runner.spec import ProgressFactory, RunResult
from ablate.sweep.plan import Plan
from ablate.sweep.rounds import SeedRounds


# -- one run


@dataclass(frozen=True)
class TrainSetup:
    config: RunConfig
    run_dir: Path  # <results>/<name>/runs/<run-id>
    notes: list[str] = field(default_factory=list)  # settings that buy nothing on this data or device


def prepare_train(overrides: Sequence[str] = (), *, config_dir: Path | None = None, results: Path | str = "results",
                  name: str = "train") -> TrainSetup:
    """Compose and check one run's config; where its folder will be."""
    from ablate.config.compose import advisories, load_config
    from ablate.runner.identity import run_id
    from ablate.store.atomic import check_writable_here
    from ablate.store.names import check_name
    from ablate.train.device import resolve_device

    config = load_config(list(overrides), config_dir)
    resolve_device(config.device)
    check_name(name)
    if is_uri(results):
        raise ConfigError(f"--results {uri_of(results)}: ablate train writes a local folder; object storage takes "
                          "`ablate sweep --results URI` (one run is a grid of one) and `ablate worker`")
    check_writable_here(Path(results) / name)  # before training, not after
    return TrainSetup(config, Path(results) / name / "runs" / run_id(config), list(advisories(config)))


def execute_train(setup: TrainSetup, *, fresh: bool = False, progress: ProgressFactory | None = None) -> RunResult:
    """Train it in this process, under its run's lock (status `locked` when another
    process is training it right now). `fresh`: train again even if it finished."""
    from ablate.launch.base import execute
    from ablate.runner.spec import RunSpec

    return execute(RunSpec(setup.config, setup.run_dir, resume=not fresh), progress=progress)


def run_train(overrides: Sequence[str] = (), *, config_dir: Path | None = None, results: Path | str = "results",
              name: str = "train", fresh: bool = False, progress: ProgressFactory | None = None) -> RunResult:
    """`ablate train OVERRIDE...`: one run, start to finish (or resumed); its RunResult
    (run_id, status, summary with test_acc and the rest, error)."""
    setup = prepare_train(overrides, config_dir=config_dir, results=results, name=name)
    for line in setup.notes:
        warnings.warn(line, stacklevel=2)
    return execute_train(setup, fresh=fresh, progress=progress)


# -- a grid


@dataclass(frozen=True)
class SweepSetup:
    plan: Plan  # every run of the grid (a fraction's, the first round's seeds and the rest)
    rounds: SeedRounds | None  # --seeds-until: the rounds to run; None for a plain grid
    sweep_dir: Path
    options: Any  # ablate.config.launch.LaunchOptions: where runs go
    notes: list[str] = field(default_factory=list)  # confounds, per-level options, GPU requests
    remote: str | None = None  # the sweep's URI when --results is object storage (sweep_dir: its staging copy)
    tuning: Any = None  # ablate.sweep.tune.Tuning with --tune (plan: its tuning stage); None for a plain grid


@dataclass(frozen=True)
class SweepResult:
    sweep_dir: Path
    counts: Counter  # runs per status
    plan: Plan

    def study(self):
        """The sweep's results, read as `ablate.load(sweep_dir)` reads them."""
        from ablate.api.study import load

        return load(self.sweep_dir)


def prepare_sweep(overrides: Sequence[str] = (), *, config_dir: Path | None = None, results: Path | str = "results",
                  name: str | None = None, fraction: int | None = None, seeds_until: str | float | None = None,
                  max_seeds: int | None = None, metric: str | None = None, max_cells: int = 100_000,
                  launcher: str = "local", launch_flags: Mapping[str, Any] | None = None,
                  tune: Sequence[str] = (), budget: int | None = None, rerun_seeds: int | None = None,
                  stop_stalled: int | None = None) -> SweepSetup:
    """Plan and check a grid (every cell composed and validated) and where it goes.
    `tune` (KEY=GRID lines), `budget`, `rerun_seeds`, `stop_stalled`: a tuned sweep (ablate.sweep.tune)."""
    from ablate.sweep.tune import TuneRequest
    from ablate.config.launch import gpu_request_note, load_launch_options, split_overrides, with_flags
    from ablate.store.names import check_name

    # launcher.* overrides configure where runs go; they never reach the plan or the sweep's name.
    launch_overrides, overrides = split_overrides(list(overrides))
    if name is not None:
        check_name(name)
    request = TuneRequest(tuple(tune), budget, rerun_seeds, stop_stalled)
    plan, rounds, default, tuning = plan_sweep(overrides, config_dir, max_cells, fraction, seeds_until, max_seeds,
                                               metric, request)
    options = with_flags(load_launch_options(launcher, launch_overrides, config_dir), **dict(launch_flags or {}))
    devices = {p.config.device for p in plan.runs}
    # Runs train here, so a device this machine lacks would fail them all (a cluster's nodes have their own).
    if options.launcher == "local":
        from ablate.train.device import resolve_device

        for device in sorted(devices):
            resolve_device(device)
    gpu_note = gpu_request_note(options, devices)
    notes = [*(tuning.notes if tuning else []), *plan_notes(plan), *([gpu_note] if gpu_note else [])]
    if is_uri(results):  # object storage: checked now (reachable, credentials, conditional writes), before any run
        from ablate.api.remote import remote_sweep

        uri, staging = remote_sweep(str(results), name or default, rounds, options)
        return SweepSetup(plan, rounds, staging, options, notes, remote=uri, tuning=tuning)
    return SweepSetup(plan, rounds, Path(results) / (name or default), options, notes, tuning=tuning)


def execute_sweep(setup: SweepSetup, *, workers: int | None = None, runs_per_gpu: int = 1, retry_failed: bool = False,
                  max_failures: int | None = None, command: str = "ablate sweep", display: Any = None,
                  on_start: Callable[[Path], None] | None = None,
                  on_note: Callable[[str], None] | None = None,
                  on_round: Callable[[SeedRounds, int, Any], None] | None = None,
                  on_rounds_end: Callable[[SeedRounds, Any], None] | None = None,
                  on_selected: Callable[[list], None] | None = None) -> SweepResult:
    """Run what is left of the plan (a rerun resumes); `display` gets each result as
    it finishes (ablate.cli.sweep_view.SweepDisplay's interface), `on_start` the
    sweep folder once the launcher and the folder are known to work, `on_note` a
    line about run folders moved to the id this version gives them (store.migrate)."""
    from functools import partial

    from ablate.launch import LAUNCHERS
    from ablate.store.migrate import migrate, moved_note
    from ablate.sweep.driver import run_sweep as drive

    if setup.remote is not None:
        from ablate.api.remote import execute_remote_sweep

        counts = execute_remote_sweep(setup, workers=workers, retry_failed=retry_failed, command=command,
                                      display=display, on_start=on_start, on_note=on_note)
        return SweepResult(setup.sweep_dir, counts, setup.plan)
    workers, gpus = sweep_workers(setup.plan, workers, runs_per_gpu)
    executor = LAUNCHERS[setup.options.launcher](setup.options, workers, gpus)
    executor.check_writable(setup.sweep_dir)
    if on_start is not None:
        on_start(setup.sweep_dir)
    # Before triage, so a finished run whose id moved is found finished, not trained again.
    moved = moved_note(migrate(setup.sweep_dir / "runs", skip=[p.run_id for p in setup.plan.runs]),
                       str(setup.sweep_dir))
    if moved:
        (on_note or (lambda line: warnings.warn(line, stacklevel=3)))(moved)
    run = partial(drive, sweep_dir=setup.sweep_dir, command=command, workers=workers, gpus=gpus,
                  retry_failed=retry_failed, max_failures=max_failures, display=display, executor=executor)
    if setup.tuning is not None:
        counts = run_tuning(setup, run, max_failures, on_selected)
    elif setup.rounds is None:
        counts = run(setup.plan)
    else:
        counts = run_seed_rounds(setup, run, max_failures, on_round or (lambda r, n, w: None),
                                 on_rounds_end or (lambda r, o: None))
    return SweepResult(setup.sweep_dir, counts, setup.plan)


def run_sweep(overrides: Sequence[str] = (), *, workers: int | None = None, runs_per_gpu: int = 1,
              retry_failed: bool = False, max_failures: int | None = None, progress: bool = True,
              display: Any = None, **prepare: Any) -> SweepResult:
    """`ablate sweep OVERRIDE...`: every cell of the grid (resuming a previous run of it);
    `prepare` takes prepare_sweep's options (results, name, fraction, seeds_until, launcher, ...).
    `progress`: a line on stdout per finished run (a notebook shows them as they come);
    `display`: your own object with begin/finished/end (ablate.api.progress.LineProgress's), instead."""
    from ablate.api.progress import LineProgress

    setup = prepare_sweep(overrides, **prepare)
    for line in [*setup.notes, *crowding_notes(setup, workers)]:
        warnings.warn(line, stacklevel=2)
    display = display if display is not None else LineProgress() if progress else None
    return execute_sweep(setup, workers=workers, runs_per_gpu=runs_per_gpu, retry_failed=retry_failed,
                         max_failures=max_failures, display=display)


def plan_notes(plan: Plan) -> list[str]:
    """What the plan did that the command did not say, confounds, and settings that buy nothing here."""
    from ablate.config.compose import advisories
    from ablate.sweep.plan import confounds

    distinct = {(p.config.eval, p.config.data, p.config.aug, p.config.sched, p.config.epochs): p.config  # what the advice reads
                for p in plan.runs}
    advice = dict.fromkeys(line for config in distinct.values() for line in advisories(config))
    return [*plan.notes, *confounds(plan), *advice]


def sweep_workers(plan: Plan, workers: int | None, runs_per_gpu: int) -> tuple[int, int]:
    """(workers, GPUs): `workers` as given, or one per core ÷ a run's threads, or GPUs × runs_per_gpu."""
    from ablate.launch.local import default_workers
    from ablate.train.threads import cpu_threads

    gpus = visible_gpus(plan)
    threads = 1 if gpus else max(cpu_threads(p.config) for p in plan.runs)
    return workers or default_workers(len(plan.runs), gpus, runs_per_gpu, threads), gpus


def crowding_notes(setup: SweepSetup, workers: int | None) -> list[str]:
    """`--workers N` whose runs' threads add up to more than the cores: each run
    waits on the others' threads (2 workers × 2 threads on 2 cores trained each
    run of the default net 7× slower than 2 × 1). The default never does this."""
    from ablate.train.threads import cpu_threads, usable_cores

    if workers is None or setup.options.launcher != "local" or not setup.plan.runs:
        return []
    workers, gpus = sweep_workers(setup.plan, workers, 1)
    if gpus:
        return []
    threads = max(cpu_threads(p.config) for p in setup.plan.runs)
    total, cores = min(workers, len(setup.plan.runs)) * threads, usable_cores()
    if total <= cores:
        return []
    fix = "without --workers they fit" + (", as they do with cpu_threads=1" if threads > 1 and workers <= cores else "")
    return [f"--workers {workers} × {threads} thread{'s' if threads > 1 else ''} a run = {total} threads on {cores} "
            f"cores: the runs take turns, so each trains slower and its seconds count the waiting ({fix})"]


def visible_gpus(plan: Plan) -> int:
    """CUDA devices a local sweep spreads runs over (0 when runs are on CPU)."""
    import torch

    if not torch.cuda.is_available():
        return 0
    devices = {p.config.device for p in plan.runs}
    return torch.cuda.device_count() if devices <= {"auto", "cuda"} else 0
