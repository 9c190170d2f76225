"""What an executor hands a run, and what it gets back.

Both are plain, picklable values: the SLURM and Ray launchers ship them to
other machines.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ablate.schema.run import RunConfig


@dataclass(frozen=True)
class RunSpec:
    config: RunConfig
    run_dir: Path
    resume: bool = True  # continue from checkpoint.pt; skip if already finished
    threads: int | None = None  # host threads of a GPU run (its worker's share); CPU runs use their own count
    gpu_share: float = 1.0  # share of its GPU's memory the run may plan on: 1/K with K runs packed on it
    # --stop-stalled E, for a tuning run only: stop once val accuracy has sat near chance for E epochs
    # (recorded `stalled`). Not part of the run id: the plan decides it, as it decides the run's role.
    stall_epochs: int | None = None


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: str
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    skipped: bool = False  # already finished before this call


class Progress(Protocol):
    """What a run reports while it trains: `step()` after every optimiser step
    (no device sync), `epoch(record)` after every epoch."""

    def step(self) -> None: ...

    def epoch(self, record: Any) -> None: ...


# (epochs, steps per epoch, first epoch) → a context manager yielding a Progress.
# The terminal's bar comes in this way, so the runner imports no view.
ProgressFactory = Callable[[int, int, int], AbstractContextManager[Progress]]
