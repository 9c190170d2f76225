"""What a sweep shows while it runs: one live rich panel on a terminal, plain
log lines otherwise (CI logs, `nohup`, SLURM output files)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.text import Text

from ablate.api.progress import begin_line, end_line, finished_line, label
from ablate.runner.spec import RunResult
from ablate.store.status import Status

STYLE = {Status.COMPLETED: "green", Status.DIVERGED: "yellow", Status.FAILED: "red", Status.INTERRUPTED: "yellow",
         "locked": "dim"}


def fmt_seconds(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class SweepDisplay:
    def __init__(self, console: Console, live: bool | None = None, launcher: str = "local") -> None:
        self.console = console
        self.launcher = launcher
        self.live_mode = console.is_terminal if live is None else live
        self.counts: Counter = Counter()
        self.best: tuple[float, str] | None = None
        self.live: Live | None = None

    # -- events
    def begin(self, total: int, done: int, skipped_failed: int, elsewhere: int, to_run: int, workers: int) -> None:
        self.total, self.to_run, self.workers = total, to_run, workers
        self.finished_here = 0
        self.already = done + skipped_failed + elsewhere
        self.started = time.monotonic()
        where = f"with {workers} worker(s)" if self.launcher == "local" else f"on {self.launcher}"
        self.console.print(begin_line(total, done, skipped_failed, elsewhere, to_run, where), highlight=False)
        if self.live_mode:
            self.progress = Progress(TextColumn("runs"), BarColumn(), MofNCompleteColumn(), console=self.console)
            self.task = self.progress.add_task("runs", total=total, completed=self.already)
            self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
            self.live.start()

    def finished(self, result: RunResult, factors: Mapping[str, str]) -> None:
        self.counts[result.status] += 1
        self.finished_here += 1
        acc = result.summary.get("test_acc") if result.summary else None
        if result.status == Status.COMPLETED and acc is not None and (self.best is None or acc > self.best[0]):
            self.best = (acc, label(factors))
        text = finished_line(result, factors, self.finished_here, self.to_run)
        if self.live is not None:
            self.progress.advance(self.task)
            if result.status != Status.COMPLETED:
                # Failures and divergences show as they happen, above the live panel.
                self.live.console.print(Text(text, style=STYLE.get(result.status, "")))
            self.live.update(self._render())
        else:
            self.console.print(text, highlight=False, soft_wrap=True, markup=False)

    def end(self, counts: Counter) -> None:
        if self.live is not None:
            self.live.update(self._render())
            self.live.stop()
        self.console.print(end_line(counts), highlight=False)

    # -- the live panel
    def _render(self) -> Group:
        elapsed = time.monotonic() - self.started
        left = self.to_run - self.finished_here
        eta = elapsed / self.finished_here * left if self.finished_here else None
        running = f"running {min(self.workers, left)} · " if self.launcher == "local" else ""
        counts = " · ".join(f"{s} {self.counts[s]}" for s in (Status.COMPLETED, Status.DIVERGED, Status.FAILED))
        line = (f"{running}{counts} · elapsed {fmt_seconds(elapsed)}"
                f" · ETA {fmt_seconds(eta) if eta is not None else '—'}")
        best = f"best so far: test_acc {self.best[0]:.4f}  {self.best[1]}" if self.best else "best so far: —"
        return Group(self.progress, Text(line), Text(best, style="bold"))


# -- --seeds-until: a line per round, and one at the end saying why it stopped

def _width_text(width) -> str:
    if width.halfwidth != width.halfwidth:  # NaN
        return f"{width.level} has fewer than two completed runs: no interval yet"
    return f"widest 95% interval ±{width.halfwidth:.4f} ({width.level})"


def round_line(console: Console, rounds, n: int, width) -> None:
    """A round that another follows: `round of 3 seeds per cell (0, 1, 2): ... wider than ±0.01: one seed more`."""
    seeds = ", ".join(map(str, rounds.seeds[:n]))
    console.print(f"round of {n} seeds per cell ({seeds}): {rounds.metric} {_width_text(width)}, wider than "
                  f"±{rounds.width:g}: one seed more per cell", highlight=False, markup=False, soft_wrap=True)


def rounds_end_line(console: Console, rounds, outcome) -> None:
    """Why the rounds stopped: the width was reached, --max-seeds was, or --max-failures."""
    head = f"seeds until ±{rounds.width:g}:"
    if outcome.widest is None:
        text = f"{head} stopped by --max-failures at {outcome.seeds} seeds per cell"
    elif outcome.reached:
        text = (f"{head} reached with {outcome.seeds} seeds per cell: every level's 95% interval of {rounds.metric} "
                f"is within ±{rounds.width:g} (widest ±{outcome.widest.halfwidth:.4f}, {outcome.widest.level})")
    else:
        text = (f"{head} not reached; stopped at --max-seeds {rounds.max_seeds} seeds per cell: "
                f"{rounds.metric} {_width_text(outcome.widest)}")
    console.print(text, highlight=False, markup=False, soft_wrap=True)
