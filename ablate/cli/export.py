"""`ablate export`: existing sweeps into TensorBoard or MLflow, from their run folders.

Only typer at module level: the trackers' packages load inside `export()`.
`ablate.cli.app` registers it with `app.command("export")(export)`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

TRACKER_NAMES = ("tensorboard", "mlflow")  # a test keeps this equal to ablate.track.TRACKERS

Paths = Annotated[list[Path], typer.Argument(help="Sweep folders (results/<sweep>).", show_default=False)]
To = Annotated[str, typer.Option("--to", help=f"The tracker: {', '.join(TRACKER_NAMES)}.", show_default=False)]
Uri = Annotated[Optional[str], typer.Option(
    "--uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///<sweep>/mlflow.db).")]


def export(paths: Paths, to: To, uri: Uri = None) -> None:
    """Write finished runs of existing sweeps into a tracker, as live tracking would.

    TensorBoard events go into each run folder's tb/ (`tensorboard --logdir
    results/<sweep>`); MLflow gets an experiment per sweep, a parent run and a
    child run per ablate run. Diagnostics go in as scalars (run folders keep
    no histograms). Runs the tracker already holds are skipped, so exporting
    twice writes nothing twice.

    Examples:

      ablate export results/norm-vs-act --to tensorboard

      ablate export results/a results/b --to mlflow --uri http://localhost:5000
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ablate.schema.run import MlflowConfig, TensorBoardConfig
    from ablate.console import err, fail, out
    from ablate.errors import ConfigError
    from ablate.track import TRACKERS, require_packages
    from ablate.track.export import export as export_sweeps

    sections = {"tensorboard": TensorBoardConfig(), "mlflow": MlflowConfig(uri=uri)}
    try:
        TRACKERS[to]  # unknown: one line with the choices
        if uri is not None and to != "mlflow":
            raise ConfigError(f"--uri is for --to mlflow, not --to {to}")
        missing = [p for p in paths if not (Path(p) / "runs").is_dir()]
        if missing:
            raise ConfigError(f"{missing[0]} is not a sweep folder (no runs/ inside); e.g. results/norm-vs-act")
        require_packages([to])
        if to == "mlflow" and (uri or os.environ.get("MLFLOW_TRACKING_URI")):  # a sweep's own SQLite file always works
            from ablate.track.mlflow import check_uri, tracking_uri

            check_uri(tracking_uri(uri, Path(paths[0])))
    except ConfigError as e:
        raise fail(str(e)) from None

    with Progress(TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
        def progress(runs, total):
            task = bar.add_task("runs", total=total)
            for run in runs:
                yield run
                bar.advance(task)

        done = export_sweeps([Path(p) for p in paths], to, sections[to], progress)
    out.print(f"exported {done.written} runs to {to} ({done.skipped} already there, {done.unfinished} not finished)")
