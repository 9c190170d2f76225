"""The `ablate` command line: train · sweep · report · list · export.

Overrides are Hydra's grammar; everything else is a typer option defined once
here. User mistakes end in one red line on stderr and exit code 2.
"""

from __future__ import annotations

import signal
import warnings
from functools import partial
from pathlib import Path
from typing import Annotated, Optional

import typer

from ablate.cli.export import export
from ablate.cli.report import report
from ablate.cli.worker import pull, worker
from ablate.cli.usage import OneLineErrors
from ablate.console import err, fail, note, out, warning
from ablate.errors import ConfigError, TrackerWarning
from ablate.launch.signals import interrupt_once
from ablate.store.provenance import VERSION
from ablate.store.remote import UploadError
from ablate.store.status import Status

# Bounds that keep a typo from reaching the OS or memory as a crash: more
# processes than any machine runs, more seeds than any study needs.
MAX_WORKERS = 1024
MAX_SEEDS = 10_000

app = typer.Typer(
    name="ablate",
    cls=OneLineErrors,
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
ResultsRoot = Annotated[Path, typer.Option(
    "--results", help="Root folder for outputs, or an object-store URI (s3://bucket/prefix; any fsspec URI).")]


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
    from ablate.api.runs import execute_train, prepare_train
    from ablate.cli.result_view import print_run_result
    from ablate.cli.train_view import train_progress
    from ablate.launch.base import LOCKED
    from ablate.store.rundir import RunDir

    try:
        setup = prepare_train(overrides or [], config_dir=config_dir, results=results, name=name)
    except ConfigError as e:
        raise config_fail(e, ctx, overrides or []) from None
    for line in setup.notes:
        note(line)
    bar = None if quiet or not err.is_terminal else partial(train_progress, console=err)
    try:
        result = execute_train(setup, fresh=fresh, progress=bar)
    except KeyboardInterrupt:
        done = len(RunDir(setup.run_dir).read_history())
        of = f"of {setup.config.epochs}" if setup.config.epochs else f"({setup.config.budget_text} in all)"
        err.print(f"interrupted after epoch {done} {of} ({setup.run_dir}); "
                  "run the same command again to resume", highlight=False, markup=False)
        raise typer.Exit(130) from None
    if result.status == LOCKED:
        raise fail(f"run {result.run_id} is being trained by another process right now ({setup.run_dir})", code=1)
    print_run_result(out, result, setup.run_dir)
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
        "--workers", "-w", min=1, max=MAX_WORKERS,
        help="Runs in parallel. Default: the cores ÷ each run's threads on CPU (at most 8, never more than "
             "the runs); GPUs × --runs-per-gpu on CUDA. With --launcher ray and an object-store --results: the Ray "
             "worker tasks (default one per run left).")] = None,
    runs_per_gpu: Annotated[int, typer.Option(
        "--runs-per-gpu", min=1, max=MAX_WORKERS, help="Runs packed on each GPU.")] = 1,
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
        "--fraction", min=2,
        help="Run a balanced 1/K of the grid's cells (a fractional factorial design), every seed of each.")
    ] = None,
    seeds_until: Annotated[Optional[str], typer.Option(
        "--seeds-until", metavar="W|power=P[,margin=D]",
        help="Add seeds, one per cell per round, until every level's 95% interval is ±W or narrower, or "
             "(power=P) until each level compared with its factor's best has power P to see ±D (default 0.01).")
    ] = None,
    max_seeds: Annotated[Optional[int], typer.Option(
        "--max-seeds", min=2, max=MAX_SEEDS,
        help="With --seeds-until: at most this many seeds per cell (default 10).")] = None,
    metric: Annotated[Optional[str], typer.Option(
        "--metric", help="With --seeds-until: the metric whose intervals decide (default: the report's).")] = None,
    tune: Annotated[Optional[list[str]], typer.Option(
        "--tune", metavar="KEY=GRID",
        help="Tune KEY per cell of the grid (repeatable): try --budget settings, keep the best on val, rerun it "
             "on --rerun-seeds fresh seeds scored on test.")] = None,
    budget: Annotated[Optional[int], typer.Option(
        "--budget", metavar="K", help="With --tune: settings tried per cell (all when the grid has K or fewer, "
                                      "else a seeded random K).")] = None,
    rerun_seeds: Annotated[Optional[int], typer.Option(
        "--rerun-seeds", metavar="N", help="With --tune: fresh seeds the best setting of each cell is rerun on.")
    ] = None,
    stop_stalled: Annotated[Optional[int], typer.Option(
        "--stop-stalled", metavar="EPOCHS",
        help="With --tune: stop a tuning run (never a rerun) whose val accuracy has stayed near chance for "
             "EPOCHS epochs; recorded as stalled.")] = None,
) -> None:
    """Train every combination of a grid; re-run the same command to resume.

    Example: ablate sweep norm=none,batch,group act=relu,tanh seed=0,1,2 epochs=10 --workers 2

    Fewer runs: --fraction 2 runs a balanced half of the cells.

    Enough seeds: --seeds-until 0.01 adds seeds until every level's 95% interval is ±0.01 or narrower;
    --seeds-until power=0.8 until every comparison with a factor's best has 80% power to see ±0.01.

    Fair comparisons: --tune optim.lr=0.01,0.03,0.1,0.3,1 --budget 5 --rerun-seeds 3 tunes the learning rate
    of every cell with the same budget, on val, and compares the cells' reruns on test.
    """
    import shlex
    import sys

    from ablate.api.runs import crowding_notes, execute_sweep, prepare_sweep
    from ablate.cli.sweep_view import SweepDisplay, round_line, rounds_end_line, selected_lines

    flags = dict(slurm_partition=slurm_partition, slurm_account=slurm_account, slurm_time=slurm_time,
                 slurm_mem=slurm_mem, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run,
                 slurm_max_parallel=slurm_max_parallel, slurm_extra=slurm_extra, ray_address=ray_address)
    try:
        setup = prepare_sweep(overrides or [], config_dir=config_dir, results=results, name=name, fraction=fraction,
                              seeds_until=seeds_until, max_seeds=max_seeds, metric=metric, max_cells=max_cells,
                              launcher=launcher, launch_flags=flags, tune=tune or [], budget=budget,
                              rerun_seeds=rerun_seeds, stop_stalled=stop_stalled)
    except ConfigError as e:
        raise config_fail(e, ctx, overrides or []) from None
    for line in [*setup.notes, *crowding_notes(setup, workers)]:
        note(line)
    if dry_run:
        from ablate.cli.plan_view import print_plan

        from ablate.store.migrate import stale_ids

        stale = stale_ids(setup.sweep_dir / "runs", skip=[p.run_id for p in setup.plan.runs])
        if stale:
            note(f"{len(stale)} run folder{'s' if len(stale) != 1 else ''} of {setup.sweep_dir} hold the id an earlier "
                 "version gave them; the sweep moves them to their current id before it runs anything")
        print_plan(out, setup.plan, setup.sweep_dir, setup.rounds, setup.tuning)
        return
    command = "ablate sweep " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    display = SweepDisplay(err, launcher=setup.options.launcher)
    try:
        result = execute_sweep(setup, workers=workers, runs_per_gpu=runs_per_gpu, retry_failed=retry_failed,
                               max_failures=max_failures, command=command, display=display,
                               on_start=lambda folder: err.print(f"sweep [bold]{folder}[/]", highlight=False),
                               on_note=note,
                               on_round=partial(round_line, err), on_rounds_end=partial(rounds_end_line, err),
                               on_selected=partial(selected_lines, err))
    except ConfigError as e:  # the launcher cannot start, or the folder is not writable
        raise fail(str(e)) from None
    except UploadError as e:  # object storage stopped answering mid-sweep, after its retries
        raise fail(f"{e}; run the same command again to resume", code=1) from None
    except KeyboardInterrupt:
        err.print("interrupted; run the same command again to resume", highlight=False)
        raise typer.Exit(130) from None
    if strict and result.counts.get(Status.FAILED):
        raise typer.Exit(1)


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
app.command("worker")(worker)
app.command("pull")(pull)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # A run's caveats (a data note, a batch larger than the split) are notes to the user, not source locations.
    (warning if issubclass(category, TrackerWarning) else note)(str(message))


def main() -> None:
    warnings.showwarning = _show_warning
    # `kill`, `timeout`, `docker stop` and a scheduler's end of job send SIGTERM: stop
    # as Ctrl-C stops (each run records `interrupted`, the sweep writes its tables and
    # stops its workers), not as kill -9 would.
    signal.signal(signal.SIGTERM, interrupt_once)
    app()


if __name__ == "__main__":
    main()
