"""What a sweep shows while it runs: one live rich panel on a terminal, plain
log lines otherwise (CI logs, `nohup`, SLURM output files).

The panel is redrawn on a timer (rich's Live calls `_render` 4 times a second),
not only when a run finishes: the elapsed time moves, and each running run shows
its epoch and val acc, read from its folder (status.json, history.csv: the run
writes both per epoch, atomically, from whichever process trains it). Every
finished run leaves one line above the panel, so the scrollback keeps them all.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.text import Text

from ablate.api.progress import begin_line, end_line, finished_line, label
from ablate.runner.spec import RunResult, RunSpec
from ablate.store.rundir import RunDir
from ablate.store.status import Status

POLL_SECONDS = 1.0  # how often the running runs' folders are read (the panel itself redraws 4× a second)
SCAN_EXTRA = 8  # unfinished runs looked at beyond 2 × workers: a pool starts runs in plan order

STYLE = {Status.COMPLETED: "green", Status.DIVERGED: "yellow", Status.COLLAPSED: "yellow", Status.STALLED: "yellow",
         Status.FAILED: "red", Status.INTERRUPTED: "yellow", "locked": "dim"}


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
        self.watched: dict[str, tuple[Path, int]] = {}  # run id → (folder, epochs), runs not finished yet
        self.labels: dict[str, str] = {}
        self.running: list[tuple[str, int, int, float | None]] = []  # (run id, epoch, epochs, val acc)
        self.polled = -POLL_SECONDS

    # -- events
    def begin(self, total: int, done: int, skipped_failed: int, elsewhere: int, to_run: int, workers: int,
              specs: Sequence[RunSpec] = (), labels: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.total, self.to_run, self.workers = total, to_run, workers
        # Under budget=steps the epoch count follows from the split: shown as '?'.
        self.watched = {spec.run_dir.name: (spec.run_dir, spec.config.epochs or "?") for spec in specs}
        self.labels = {rid: label(levels) for rid, levels in (labels or {}).items()}
        self.finished_here = 0
        self.already = done + skipped_failed + elsewhere
        self.started = time.monotonic()
        where = f"with {workers} worker(s)" if self.launcher == "local" else f"on {self.launcher}"
        self.console.print(begin_line(total, done, skipped_failed, elsewhere, to_run, where), highlight=False)
        if self.live_mode:
            self.progress = Progress(TextColumn("runs"), BarColumn(), MofNCompleteColumn(), console=self.console)
            self.task = self.progress.add_task("runs", total=total, completed=self.already)
            # get_renderable: each timed refresh draws anew (a fixed renderable would freeze the clock).
            self.live = Live(console=self.console, refresh_per_second=4, transient=False, get_renderable=self._render)
            self.live.start()

    def finished(self, result: RunResult, factors: Mapping[str, str]) -> None:
        self.counts[result.status] += 1
        self.finished_here += 1
        self.watched.pop(result.run_id, None)
        self.polled = -POLL_SECONDS  # the next redraw reads the runs again: this one has left them
        acc = result.summary.get("test_acc") if result.summary else None
        # A tuning run (ablate sweep --tune) is judged on val, never on test: not a "best so far".
        if result.status == Status.COMPLETED and acc is not None and factors.get("role") != "tune" and (
                self.best is None or acc > self.best[0]):
            self.best = (acc, label(factors))
        text = finished_line(result, factors, self.finished_here, self.to_run)
        if self.live is not None:
            self.progress.advance(self.task)
            # Above the live panel, one line per run, coloured by status: the scrollback keeps them.
            self.live.console.print(Text(text, style=STYLE.get(result.status, "")))
            self.live.refresh()
        else:
            self.console.print(text, highlight=False, soft_wrap=True, markup=False)

    def end(self, counts: Counter) -> None:
        if self.live is not None:
            self.watched.clear()
            self.live.refresh()
            self.live.stop()
        self.console.print(end_line(counts), highlight=False)

    # -- the live panel
    def _render(self) -> Group:
        elapsed = time.monotonic() - self.started
        left = self.to_run - self.finished_here
        eta = elapsed / self.finished_here * left if self.finished_here else None
        running = f"running {min(self.workers, left)} · " if self.launcher == "local" else ""
        shown = (Status.COMPLETED, Status.DIVERGED, Status.COLLAPSED, Status.FAILED)
        counts = " · ".join(f"{s} {self.counts[s]}" for s in shown)
        line = (f"{running}{counts} · elapsed {fmt_seconds(elapsed)}"
                f" · ETA {fmt_seconds(eta) if eta is not None else '—'}")
        best = f"best so far: test_acc {self.best[0]:.4f}  {self.best[1]}" if self.best else "best so far: —"
        return Group(self.progress, Text(line), *self._running_lines(), Text(best, style="bold"))

    def _running_lines(self) -> list[Text]:
        """`  9f00a9cd0d30 norm=batch act=tanh  epoch 4/10  val acc 0.8123`, per running run."""
        if time.monotonic() - self.polled >= POLL_SECONDS:
            self.polled = time.monotonic()
            self.running = self._poll()
        lines = []
        for rid, epoch, epochs, acc in self.running:
            shown = f"val acc {acc:.4f}" if acc is not None else "val acc —"
            lines.append(Text(f"  {rid} {self.labels.get(rid, '')}  epoch {epoch}/{epochs}  {shown}", style="dim"))
        return lines

    def _poll(self) -> list[tuple[str, int, int, float | None]]:
        """The runs whose status.json says running, with their last epoch in history.csv.
        Only the first unfinished runs in plan order are read (a pool starts them in that
        order), so a sweep of thousands reads a few folders a second, not thousands."""
        found = []
        for rid, (folder, epochs) in list(self.watched.items())[:2 * self.workers + SCAN_EXTRA]:
            rd = RunDir(folder)
            if rd.read_status().get("status") != Status.RUNNING:
                continue
            history = rd.read_history()
            last = history[-1] if history else {}
            acc = last.get("val_acc")
            found.append((rid, int(last.get("epoch") or 0), epochs,
                          float(acc) if isinstance(acc, (int, float)) and acc == acc else None))
            if len(found) == self.workers:
                break
        return found


# -- --seeds-until: a line per round, and one at the end saying why it stopped

def round_line(console: Console, rounds, n: int, width) -> None:
    """A round that another follows: `round of 3 seeds per cell (0, 1, 2): ... wider than ±0.01: one seed more`."""
    seeds = ", ".join(map(str, rounds.seeds[:n]))
    console.print(f"round of {n} seeds per cell ({seeds}): {rounds.metric} {rounds.goal.state(width)}, short of "
                  f"{rounds.goal.aim()}: one seed more per cell", highlight=False, markup=False, soft_wrap=True)


def rounds_end_line(console: Console, rounds, outcome) -> None:
    """Why the rounds stopped: the goal was reached, --max-seeds was, or --max-failures."""
    head = f"seeds until {rounds.goal.aim()}:"
    if outcome.widest is None:
        text = f"{head} stopped by --max-failures at {outcome.seeds} seeds per cell"
    elif outcome.reached:
        text = (f"{head} reached with {outcome.seeds} seeds per cell: {rounds.metric} "
                f"{rounds.goal.state(outcome.widest)}")
    else:
        text = (f"{head} not reached; stopped at --max-seeds {rounds.max_seeds} seeds per cell: "
                f"{rounds.metric} {rounds.goal.state(outcome.widest)}")
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def selected_lines(console: Console, choices) -> None:
    """After the tuning stage: each cell's chosen setting and its validation score, before its reruns."""
    from ablate.sweep.tune import SELECT_ON, selection_notes

    for c in choices:
        if c.point is None:
            continue
        where = ", ".join(f"{k}={v}" for k, v in c.cell.label.items() if v) or "the grid"
        setting = ", ".join(f"{k}={v}" for k, v in c.point.items()) or "(nothing to tune here)"
        console.print(f"tuned {where}: {setting} ({SELECT_ON} {c.score:.4f}, best of {len(c.cell.points)})",
                      highlight=False, markup=False, soft_wrap=True)
    for line in selection_notes(choices):
        console.print(line, style="yellow", highlight=False, markup=False, soft_wrap=True)
