"""`ablate report`: the command-line entry of the report.

Only typer and the standard library are imported at module level; pandas,
scipy and matplotlib load inside `report()`, so `ablate --help`, `ablate train`
and `ablate list` do not pay their start-up time (about a second together).
`ablate.cli.app` registers it with `app.command("report")(report)`.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

# The choices as plain names, so the help text needs no heavy import; a test
# keeps them equal to the registries (render.OUTPUTS, tables.METRICS).
FORMAT_NAMES = ("terminal", "md", "csv", "json", "latex")
METRIC_NAMES = ("test_acc", "test_acc_tta", "best_val_acc", "final_test_acc", "final_val_acc", "auc_val_acc", "epochs_to_target", "seconds_to_target",
                "train_val_gap")

Paths = Annotated[Optional[list[Path]], typer.Argument(
    help="Sweep folders (results/<sweep>) or object-store URIs (s3://bucket/prefix/<sweep>); several are reported together. Default: the newest sweep in results/.",
    show_default=False)]
By = Annotated[Optional[str], typer.Option(
    "--by", help="Factors crossed into one interaction table, comma-separated: --by norm,act.")]
Where = Annotated[Optional[list[str]], typer.Option(
    "--where", metavar="KEY=VALUE", help="Keep runs with key=value (key=v1,v2 for any of); repeatable, all must hold.")]
Versus = Annotated[Optional[list[str]], typer.Option(
    "--versus", metavar="FACTOR=LEVEL", help="Compare a factor's levels with this one (its baseline, e.g. norm=none) instead of the best; "
                     "repeatable, one per factor.")]
Out = Annotated[Optional[Path], typer.Option(
    "--out", help="Also write index.html, plots/*.png and report.{md,csv,json,tex} to this folder.")]
Format = Annotated[str, typer.Option(
    "--format", "-f", help=f"What to print: {', '.join(FORMAT_NAMES)}.")]
Metric = Annotated[Optional[str], typer.Option(
    "--metric", help=f"Rank levels by: {', '.join(METRIC_NAMES)}. Default: test_acc, the test accuracy at the "
                     "epoch of best validation accuracy (best_val_acc for runs made before ablate had a test split).",
    show_default=False)]
Confidence = Annotated[float, typer.Option(
    "--confidence", min=0.5, max=0.999, help="Level of the Student t intervals.")]
Interactions = Annotated[int, typer.Option(
    "--interactions", min=1, max=6,
    help="Interactions of up to this many factors in the importance table (1: main effects only; 3: three-way).")]

Paired = Annotated[bool, typer.Option(
    "--paired", help="p from a paired t-test over runs that share a seed and the other factors' levels, not "
                     "Welch's test of independent groups: more power where a seed trains alike under every "
                     "level (eval.tta, or a factor that changes little).")]

Margin = Annotated[float, typer.Option(
    "--margin", min=1e-6, max=1.0, metavar="DELTA",
    help="Equivalence margin in the metric's units (0.01: one accuracy point): each level not significantly "
         "different from its reference is called equivalent (TOST within ±DELTA) or inconclusive, with the "
         "power the runs had and the runs per level 80% power needs.")]
Bootstrap = Annotated[int, typer.Option(
    "--bootstrap", min=0, max=100_000, metavar="B",
    help="Percentile intervals of each effect's η² in the importance table, from B resamples of the runs "
         "within each cell (1000 is usual; each refits the ANOVA: 1000 took 5 s for a 12-run study).")]


def write_folder(report, out: Path) -> list[Path]:
    """Plots, every file format and index.html under `out`; returns what was written."""
    from ablate.report.render import FORMATS
    from ablate.report.html import write_html
    from ablate.report.plots import write_plots
    from ablate.store import atomic

    out = Path(out)
    plots = write_plots(report, out / "plots")
    written = [p.path for p in plots]
    # plots/*.png is the report's own: a PNG an earlier report wrote there (a
    # factor since filtered out) would sit beside this report's as if it were one.
    for stale in set((out / "plots").glob("*.png")) - set(written):
        stale.unlink()
    for fmt in FORMATS.values():
        path = out / f"report.{fmt.extension}"
        atomic.write_text(path, fmt.write(report))
        written.append(path)
    written.append(write_html(report, plots, out))
    return written


def _local(paths: list[Path]) -> list[Path]:
    """An s3://... sweep (typer's Path reads it s3:/...) as a local copy of the bucket's light files."""
    from ablate.api.remote import localize

    return localize(paths)


def report(
    paths: Paths = None,
    by: By = None,
    where: Where = None,
    out: Out = None,
    output_format: Format = "terminal",
    metric: Metric = None,
    confidence: Confidence = 0.95,
    interactions: Interactions = 2,
    paired: Paired = False,
    bootstrap: Bootstrap = 0,
    versus: Versus = None,
    margin: Margin = 0.01,
) -> None:
    """Summarise one or more sweeps: which factor matters, by how much, how sure.

    Per factor (every swept key that varies; seeds are repetitions): each
    level's runs by status, mean and 95% interval of test accuracy at the best
    val epoch (the default ranking), best/final val accuracy, area under the
    curve, epochs and seconds to target, train − val gap; levels ranked, each
    compared with the best by Welch's t-test (--paired: the paired t-test over
    seeds), Holm-corrected. Where runs recorded diagnostics: activation std and
    gradient norm by layer depth, and the dead / saturated fraction, per level,
    first → last recorded epoch.

    Examples:

      ablate report                       # the newest sweep in results/

      ablate report results/norm-vs-act

      ablate report results/a results/b --by norm,act

      ablate report results/norm-vs-act --where norm=batch --out report/

      ablate report results/norm-vs-act --format md > report.md

      ablate report results/tta --metric test_acc_tta --paired
    """
    from ablate.console import console as stdout_console, fail
    from ablate.errors import ConfigError
    from ablate.report.build import build_report
    from ablate.report.render import OUTPUTS
    from ablate.store.atomic import check_writable_here

    try:
        emit = OUTPUTS[output_format]
        paths = _local(paths or [_newest()])
        built = build_report(paths, by=by, where=where, metric=metric, confidence=confidence, margin=margin,
                             interactions=interactions, paired=paired, bootstrap=bootstrap, versus=versus)
        # As typed, for the footer of index.html and report.tex: how to make this page again.
        built.command = "ablate report " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        if out is not None:  # before any table is printed; after every other check, so a mistake leaves no folder
            check_writable_here(out)
    except ConfigError as e:
        raise fail(str(e)) from None  # `fail` escapes markup: levels like [flip,crop] print as written
    console = stdout_console()  # made now, not at import: a pipe gets unwrapped tables and lines
    emit(console, built)
    if out is not None:
        _write_out(built, out)


def _newest() -> Path:
    """No folder named: the newest sweep in results/, said on stderr."""
    from ablate.console import note
    from ablate.report.load import newest_sweep

    path = newest_sweep(Path("results"))
    note(f"reporting {path}, the newest sweep in results/ (name folders to report others)")
    return path


def _write_out(built, out: Path) -> None:
    """`--out`: the folder, then one line on stderr saying where it is."""
    from rich.text import Text

    from ablate.console import err, fail
    from ablate.errors import ConfigError

    try:
        written = write_folder(built, out)
    except ConfigError as e:  # e.g. an unreadable epochs.csv, first read for the plots
        raise fail(str(e)) from None
    except OSError as e:
        raise fail(f"cannot write to {out}: {e.strerror or e}") from None
    # stderr, so `--format json --out dir > x.json` keeps stdout parseable.
    err.print(Text(f"wrote {len(written)} files to {out}; open {Path(out) / 'index.html'}", style="dim"))
