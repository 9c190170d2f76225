"""The `ablate` command line: train · sweep · report · list · export.

Overrides are Hydra's grammar; everything else is a typer option defined once
here. User mistakes end in one red line on stderr and exit code 2.
"""

from __future__ import annotations

import re
import warnings
from functools import partial
from pathlib import Path
from typing import Annotated, Optional

import typer

from ablate.cli.export import export
from ablate.cli.report import report
from ablate.console import err, fail, note, out, warning
from ablate.errors import ConfigError, TrackerWarning
from ablate.store.provenance import VERSION
from ablate.store.status import Status

app = typer.Typer(
    name="ablate",
    help="Ablation studies of CNNs: compose design choices, sweep grids, report what matters.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Overrides = Annotated[Optional[list[str]], typer.Argument(
    help="Hydra overrides: key=value, group=choice (see `ablate list`).", show_default=False)]
ConfigDir = Annotated[Optional[Path], typer.Option(
    "--config-dir", help="A folder of your own config groups/presets, searched after the built-in ones.")]
ResultsRoot = Annotated[Path, typer.Option("--results", help="Root folder for outputs.")]


# A folder name under --results: one path segment of safe characters, short
# enough for every file system (255 bytes a name) once run ids go below it.
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.,=+-]{0,119}")


def check_name(name: str) -> None:
    if not NAME.fullmatch(name) or name in (".", ".."):
        raise ConfigError(f"--name '{name}' must be one folder name: letters, digits and _ . , = + -, "
                          f"at most 120 characters, not starting with . or -")


def config_fail(e: ConfigError, ctx: typer.Context, overrides: list[str]) -> typer.Exit:
    """The config error, unless an override is really one of this command's
    options written as key=value (`results=out` for `--results out`): then say that."""
    options = {opt: param for param in ctx.command.params for opt in param.opts if opt.startswith("--")}
    for override in overrides:
        key, eq, value = override.partition("=")
        flag = "--" + key.replace("_", "-")
        if eq and flag in options:
            usage = flag if getattr(options[flag], "is_flag", False) else f"{flag} {value}"
            return fail(f"'{override}' is not a config key but this command's option: write {usage}")
    return fail(str(e))


def _version(value: bool) -> None:
    if value:
        out.print(f"ablate {VERSION}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Ablation studies of CNNs: compose design choices, sweep grids, report what matters."""


@app.command()
def train(
    ctx: typer.Context,
    overrides: Overrides = None,
    config_dir: ConfigDir = None,
    results: ResultsRoot = Path("results"),
    name: Annotated[str, typer.Option("--name", help="Folder under --results for this run.")] = "train",
    fresh: Annotated[bool, typer.Option("--fresh", help="Train again even if this exact run already finished.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train one model, in this process, and write its run directory.

    Example: ablate train norm=batch act=tanh init=xavier_normal epochs=20
    """
    from ablate.config.compose import advisories, load_config
    from ablate.runner.identity import run_id
    from ablate.launch.base import LOCKED, execute
    from ablate.store.atomic import check_writable_here
    from ablate.runner.spec import RunSpec
    from ablate.store.rundir import RunDir
    from ablate.cli.result_view import print_run_result
    from ablate.cli.train_view import train_progress
    from ablate.train.device import resolve_device

    try:
        config = load_config(overrides or [], config_dir)
        resolve_device(config.device)
        check_name(name)
        check_writable_here(results / name)  # before training, not after
    except ConfigError as e:
        raise config_fail(e, ctx, overrides or []) from None
    for line in advisories(config):
        note(line)
    run_dir = results / name / "runs" / run_id(config)
    # Under the run's lock, as in a sweep: two commands never train one run at once.
    bar = None if quiet or not err.is_terminal else partial(train_progress, console=err)
    try:
        result = execute(RunSpec(config, run_dir, resume=not fresh), progress=bar)
    except KeyboardInterrupt:
        done = len(RunDir(run_dir).read_history())
        err.print(f"interrupted after epoch {done} of {config.epochs} ({run_dir}); "
                  "run the same command again to resume", highlight=False, markup=False)
        raise typer.Exit(130) from None
    if result.status == LOCKED:
        raise fail(f"run {result.run_id} is being trained by another process right now ({run_dir})", code=1)
    print_run_result(out, result, run_dir)
    if result.status == Status.FAILED:
        raise typer.Exit(1)


@app.command()
def sweep(
    ctx: typer.Context,
    overrides: Overrides = None,
    config_dir: ConfigDir = None,
    results: ResultsRoot = Path("results"),
    name: Annotated[Optional[str], typer.Option(
        "--name", help="Folder under --results. Default: derived from the command, so re-running it resumes.")] = None,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", "-w", min=1,
        help="Runs in parallel. Default: one per core on CPU (at most 8); GPUs × --runs-per-gpu on CUDA.")] = None,
    runs_per_gpu: Annotated[int, typer.Option("--runs-per-gpu", min=1, help="Runs packed on each GPU.")] = 1,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan and what is already done; run nothing.")] = False,
    max_cells: Annotated[int, typer.Option(
        "--max-cells", min=1, help="Refuse a grid of more cells than this (a typo in range() can ask for millions).")
    ] = 100_000,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Run failed runs again.")] = False,
    max_failures: Annotated[Optional[int], typer.Option(
        "--max-failures", min=1, help="Stop launching runs after this many failures.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit non-zero if any run failed.")] = False,
    launcher: Annotated[str, typer.Option(
        "--launcher", help="local | slurm | ray, or a launcher/NAME.yaml of your --config-dir.")] = "local",
    slurm_partition: Annotated[Optional[str], typer.Option("--slurm-partition", help="SLURM partition.")] = None,
    slurm_account: Annotated[Optional[str], typer.Option("--slurm-account", help="SLURM account.")] = None,
    slurm_time: Annotated[Optional[int], typer.Option("--slurm-time", min=1, help="Minutes per task.")] = None,
    slurm_mem: Annotated[Optional[str], typer.Option("--slurm-mem", help="Memory per task, e.g. 8G.")] = None,
    cpus_per_run: Annotated[Optional[int], typer.Option("--cpus-per-run", min=1, help="CPUs per run (cluster).")] = None,
    gpus_per_run: Annotated[Optional[float], typer.Option(
        "--gpus-per-run", min=0, help="GPUs per run: whole for SLURM, fractional for Ray (0.25 packs 4 per GPU).")] = None,
    slurm_max_parallel: Annotated[Optional[int], typer.Option(
        "--slurm-max-parallel", min=1, help="Cap on array tasks running at once.")] = None,
    slurm_extra: Annotated[Optional[list[str]], typer.Option(
        "--slurm-extra", help="Extra sbatch flag, repeatable: --slurm-extra '--qos=high'.")] = None,
    ray_address: Annotated[Optional[str], typer.Option(
        "--ray-address", help="Ray cluster to join ('auto'); default: start a local instance.")] = None,
    fraction: Annotated[Optional[int], typer.Option(
        "--fraction", help="Run a balanced 1/K of the grid's cells (a fractional factorial design), every seed of each.")
    ] = None,
    seeds_until: Annotated[Optional[float], typer.Option(
        "--seeds-until", help="Add seeds, one per cell per round, until every level's 95% interval is ±W or narrower.")
    ] = None,
    max_seeds: Annotated[Optional[int], typer.Option(
        "--max-seeds", min=2, help="With --seeds-until: at most this many seeds per cell (default 10).")] = None,
    metric: Annotated[Optional[str], typer.Option(
        "--metric", help="With --seeds-until: the metric whose intervals decide (default: the report's).")] = None,
) -> None:
    """Train every combination of a grid; re-run the same command to resume.

    Example: ablate sweep norm=none,batch,group act=relu,tanh seed=0,1,2 epochs=10 --workers 2

    Fewer runs: --fraction 2 runs a balanced half of the cells.

    Enough seeds: --seeds-until 0.01 adds seeds until every level's 95% interval is ±0.01 or narrower.
    """
    import shlex
    import sys

    from ablate.launch import LAUNCHERS
    from ablate.config.launch import load_launch_options, split_overrides, with_flags
    from ablate.config.launch import gpu_request_note
    from ablate.sweep.driver import run_sweep
    from ablate.cli.sweep_options import plan_sweep, run_seed_rounds
    from ablate.cli.sweep_view import SweepDisplay

    # launcher.* overrides configure where runs go; they never reach the plan or the sweep's name.
    launch_overrides, overrides = split_overrides(overrides or [])
    try:
        if name is not None:
            check_name(name)
        plan, rounds, default = plan_sweep(overrides, config_dir, max_cells, fraction, seeds_until, max_seeds, metric)
        opts = with_flags(load_launch_options(launcher, launch_overrides, config_dir),
                          slurm_partition=slurm_partition, slurm_account=slurm_account, slurm_time=slurm_time,
                          slurm_mem=slurm_mem, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run,
                          slurm_max_parallel=slurm_max_parallel, slurm_extra=slurm_extra, ray_address=ray_address)
        gpu_note = gpu_request_note(opts, {p.config.device for p in plan.runs})
    except ConfigError as e:
        raise config_fail(e, ctx, overrides) from None
    sweep_dir = results / (name or default)
    for line in plan_notes(plan):
        note(line)
    if dry_run:
        from ablate.cli.plan_view import print_plan

        print_plan(out, plan, sweep_dir, rounds)
        return
    workers, gpus = _workers(plan, workers, runs_per_gpu)
    try:
        executor = LAUNCHERS[opts.launcher](opts, workers, gpus)
        executor.check_writable(sweep_dir)
    except ConfigError as e:
        raise fail(str(e)) from None
    if gpu_note:
        note(gpu_note)
    command = "ablate sweep " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    display = SweepDisplay(err, launcher=opts.launcher)
    err.print(f"sweep [bold]{sweep_dir}[/]", highlight=False)
    run = partial(run_sweep, sweep_dir=sweep_dir, command=command, workers=workers, gpus=gpus,
                  retry_failed=retry_failed, max_failures=max_failures, display=display, executor=executor)
    try:
        counts = run(plan) if rounds is None else run_seed_rounds(err, plan, rounds, sweep_dir, run, max_failures)
    except KeyboardInterrupt:
        err.print("interrupted; run the same command again to resume", highlight=False)
        raise typer.Exit(130) from None
    if strict and counts.get(Status.FAILED):
        raise typer.Exit(1)


def plan_notes(plan) -> list[str]:
    """What the plan did that the command did not say, confounds, and settings that buy nothing here."""
    from ablate.config.compose import advisories
    from ablate.sweep.plan import confounds

    distinct = {(p.config.eval, p.config.data): p.config for p in plan.runs}  # what the advice depends on
    advice = dict.fromkeys(line for config in distinct.values() for line in advisories(config))
    return [*plan.notes, *confounds(plan), *advice]


def _workers(plan, workers: int | None, runs_per_gpu: int) -> tuple[int, int]:
    """(workers, GPUs): the --workers given, or one per core ÷ a run's threads, or GPUs × --runs-per-gpu."""
    from ablate.launch.local import default_workers
    from ablate.train.threads import cpu_threads

    gpus = _visible_gpus(plan)
    threads = 1 if gpus else max(cpu_threads(p.config) for p in plan.runs)
    return workers or default_workers(len(plan.runs), gpus, runs_per_gpu, threads), gpus


def _visible_gpus(plan) -> int:
    """CUDA devices a local sweep spreads runs over (0 when runs are on CPU)."""
    import torch

    if not torch.cuda.is_available():
        return 0
    devices = {p.config.device for p in plan.runs}
    return torch.cuda.device_count() if devices <= {"auto", "cuda"} else 0


@app.command("list")
def list_choices(
    group: Annotated[Optional[str], typer.Argument(help="One group, e.g. norm or norm.placement.")] = None,
    config_dir: ConfigDir = None,
) -> None:
    """List the choices of each config group (default first)."""
    from ablate.cli.list_view import print_choices

    try:
        print_choices(out, group, config_dir)
    except ConfigError as e:
        raise fail(str(e)) from None


app.command("report")(report)
app.command("export")(export)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # A run's caveats (a data note, a batch larger than the split) are notes to the user, not source locations.
    (warning if issubclass(category, TrackerWarning) else note)(str(message))


def main() -> None:
    warnings.showwarning = _show_warning
    app()


if __name__ == "__main__":
    main()
