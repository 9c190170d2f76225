"""A sweep's progress as plain lines, for notebooks and scripts: what `run_sweep`
prints by default, with no terminal library (core code imports no rich; the
CLI's live panel in cli/sweep_view.py is built on the same lines).

A notebook cell shows stdout as it is written, so one line per finished run is
the progress: `[3/12] 9f00a9cd0d30 norm=batch act=tanh: completed test_acc=0.9123`.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Mapping
from typing import TextIO

from ablate.runner.spec import RunResult
from ablate.store.status import Status


def label(factors: Mapping[str, str]) -> str:
    # An option of another level (empty) is not part of what tells this run apart.
    return " ".join(f"{k}={v}" for k, v in factors.items() if v != "") or "(single run)"


def begin_line(total: int, done: int, skipped_failed: int, elsewhere: int, to_run: int, where: str) -> str:
    note = f"{total} runs: {done} already done"
    if skipped_failed:
        note += f", {skipped_failed} failed before (--retry-failed re-runs them)"
    if elsewhere:
        note += f", {elsewhere} running in another process"
    return f"{note}; running {to_run} {where}"


def finished_line(result: RunResult, factors: Mapping[str, str], n: int, of: int) -> str:
    # A tuning run (ablate sweep --tune) is shown by the val score that selects, never by test.
    metric = "best_val_acc" if factors.get("role") == "tune" else "test_acc"
    acc = result.summary.get(metric) if result.summary else None
    text = f"[{n}/{of}] {result.run_id} {label(factors)}: {result.status}"
    if acc is not None:
        text += f" {metric}={acc:.4f}"
    if result.error:
        text += f" — {result.error}"
    return text


def end_line(counts: Counter) -> str:
    parts = [f"{counts[s]} {s}" for s in Status if counts.get(s)]
    return f"{sum(counts.values())} runs: " + ", ".join(parts)


class LineProgress:
    """The driver's display interface (begin, finished, end) as printed lines, with
    the elapsed time on each finished run's line."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream  # None: sys.stdout when written, so a notebook's capture is the one used

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout, flush=True)

    def begin(self, total: int, done: int, skipped_failed: int, elsewhere: int, to_run: int, workers: int,
              **_: object) -> None:  # specs and labels: for a display that watches running runs
        self.to_run, self.n, self.started = to_run, 0, time.monotonic()
        self._print(begin_line(total, done, skipped_failed, elsewhere, to_run, f"with {workers} worker(s)"))

    def finished(self, result: RunResult, factors: Mapping[str, str]) -> None:
        self.n += 1
        elapsed = int(time.monotonic() - self.started)
        self._print(f"{finished_line(result, factors, self.n, self.to_run)} ({elapsed // 60}:{elapsed % 60:02d})")

    def end(self, counts: Counter) -> None:
        self._print(end_line(counts))
