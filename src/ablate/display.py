"""Live progress for a single run on the terminal (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ablate.train.loop import EpochRecord


class TrainProgress:
    """A bar over all steps of the run, its text updated once per epoch.

    `step` is a counter increment (no device sync); rich redraws from its own
    thread at 10 Hz, so the bar costs the training loop next to nothing.
    """

    def __init__(self, enabled: bool, epochs: int, steps: int, start_epoch: int = 0,
                 console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console or Console(stderr=True)
        self.epochs = epochs
        self.steps = steps
        self.start_epoch = start_epoch
        self.progress: Progress | None = None

    def __enter__(self) -> "TrainProgress":
        if self.enabled:
            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task(self._text(self.start_epoch, None), total=self.epochs * self.steps,
                                               completed=self.start_epoch * self.steps)
        return self

    def _text(self, epoch: int, record: EpochRecord | None) -> str:
        acc = f" val_acc {record.val_acc:.4f}" if record else ""
        return f"epoch {epoch}/{self.epochs}{acc}"

    def step(self) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)

    def epoch(self, record: EpochRecord) -> None:
        if self.progress is not None:
            self.progress.update(self.task, description=self._text(record.epoch, record),
                                 completed=record.epoch * self.steps)

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()
