"""The short result `ablate train` prints when a run ends."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ablate.runner.spec import RunResult
from ablate.store.status import Status

STATUS_STYLE = {Status.COMPLETED: "green", Status.DIVERGED: "yellow", Status.STALLED: "yellow", Status.FAILED: "red",
                Status.INTERRUPTED: "yellow"}


def _fmt(value, spec: str = "") -> str:
    return "—" if value is None else format(value, spec)


def print_run_result(console: Console, result: RunResult, run_dir: Path) -> None:
    s = result.summary
    style = STATUS_STYLE.get(result.status, "white")
    note = " (already finished; --fresh trains again)" if result.skipped else ""
    console.print(f"run [bold]{result.run_id}[/] [{style}]{result.status}[/]{note}")
    if result.error:
        console.print(f"[red]{result.error}[/]", highlight=False)
    if s:
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="dim")
        table.add_column()
        table.add_row("test acc", f"{_fmt(s.get('test_acc'), '.4f')} (at the best val epoch, "
                                  f"{_fmt(s.get('best_epoch'))})")
        table.add_row("best val acc", _fmt(s.get("best_val_acc"), ".4f"))
        table.add_row("final val / test acc", f"{_fmt(s.get('final_val_acc'), '.4f')} / "
                                              f"{_fmt(s.get('final_test_acc'), '.4f')}")
        if s.get("target_acc") is not None:
            table.add_row(f"to {s['target_acc']:.3f}",
                          f"{_fmt(s.get('epochs_to_target'))} epochs, {_fmt(s.get('seconds_to_target'), '.1f')} s")
        if s.get("diverged_epoch"):
            table.add_row("diverged at", f"epoch {s['diverged_epoch']}")
        if s.get("collapsed_epoch"):
            table.add_row("collapsed at", f"epoch {s['collapsed_epoch']} (back at chance to the end)")
        table.add_row("epochs", f"{s.get('epochs_run')} in {_fmt(s.get('seconds'), '.1f')} s on {s.get('device')}"
                                f" ({s.get('precision')})")
        table.add_row("parameters", f"{s.get('params', 0):,}")
        console.print(table)
        for warning in s.get("warnings") or []:
            console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    console.print(f"[dim]{run_dir}[/]")
