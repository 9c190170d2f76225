"""Live progress for a single run on the terminal (rich)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ablate.console import err
from ablate.train.loop import EpochRecord


class TrainProgress:
    """A bar over all steps of the run, its text updated once per epoch.

    `step` bumps a plain counter (no device sync) and redraws, in this thread,
    at most every REDRAW_S. No background refresh thread: on a 2-core machine
    a thread that wakes to redraw takes the GIL and a core from training, which
    cost 5-9% of a digits run (bench/bench_display.py measures it).
    """

    REDRAW_S = 0.5  # seconds between redraws

    def __init__(self, enabled: bool, epochs: int, steps: int, start_epoch: int = 0,
                 console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console or err
        self.epochs = epochs
        self.steps = steps
        self.start_epoch = start_epoch
        self.progress: Progress | None = None
        self.done = start_epoch * steps
        self.handed = 0.0

    def __enter__(self) -> "TrainProgress":
        if self.enabled:
            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=False,
                auto_refresh=False,
            )
            self.progress.start()
            self.task = self.progress.add_task(self._text(self.start_epoch, None), total=self.epochs * self.steps,
                                               completed=self.start_epoch * self.steps)
        return self

    def _text(self, epoch: int, record: EpochRecord | None) -> str:
        acc = f" val_acc {record.val_acc:.4f}" if record else ""
        return f"epoch {epoch}/{self.epochs}{acc}"

    def step(self) -> None:
        if self.progress is None:
            return
        self.done += 1
        now = time.monotonic()
        if now - self.handed >= self.REDRAW_S:
            self.handed = now
            self.progress.update(self.task, completed=self.done, refresh=True)

    def epoch(self, record: EpochRecord) -> None:
        if self.progress is not None:
            self.done = record.epoch * self.steps
            self.progress.update(self.task, description=self._text(record.epoch, record), completed=self.done,
                                 refresh=True)

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()


def train_progress(epochs: int, steps: int, start_epoch: int, console: Console | None = None) -> TrainProgress:
    """The runner's progress callback (`ablate.runner.spec.ProgressFactory`): a bar on `console`."""
    return TrainProgress(True, epochs, steps, start_epoch, console)
