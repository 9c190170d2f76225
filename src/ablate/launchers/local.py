"""`--launcher local`: this machine, through the existing LocalExecutor."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ablate.executor import LocalExecutor
from ablate.launchers.base import check_writable_here
from ablate.launchers.options import LaunchOptions
from ablate.runner import RunResult, RunSpec


class LocalLauncher:
    """LocalExecutor behind the launcher interface; it handles Ctrl-C itself
    (each run records `interrupted` before its worker exits)."""

    def __init__(self, options: LaunchOptions, workers: int = 1, gpus: int = 0) -> None:
        self.options = options
        self.executor = LocalExecutor(workers=workers, gpus=gpus)

    def check_writable(self, sweep_dir: Path) -> None:
        check_writable_here(sweep_dir)

    def map(self, specs: Sequence[RunSpec], keep_going: Callable[[], bool] = lambda: True) -> Iterator[RunResult]:
        return self.executor.map(specs, keep_going)
