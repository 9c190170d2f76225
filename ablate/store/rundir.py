"""One run's directory: the files the contract names, read and written atomically.

    config.yaml  status.json  history.csv  summary.json  checkpoint.pt  log.txt
    factors.json  the run's level of each swept key, as the grids that planned it wrote them
    predictions.npz  the predicted class of each test image at the scored epoch (store.predictions)
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import socket
import time
from pathlib import Path
from typing import Any

import yaml

from ablate.store import atomic, predictions
from ablate.store.identity import RESULTS_FORMAT

# libyaml's loader where PyYAML has it: ~10× faster for a report over thousands of runs.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
from ablate.store.status import Status

HISTORY_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_acc_tta", "test_loss", "test_acc",
                   "test_acc_tta", "lr", "seconds", "elapsed")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.config = self.path / "config.yaml"
        self.status_file = self.path / "status.json"
        self.history = self.path / "history.csv"
        self.summary = self.path / "summary.json"
        self.checkpoint = self.path / "checkpoint.pt"
        self.log_file = self.path / "log.txt"
        self.factors_file = self.path / "factors.json"
        self.predictions = self.path / predictions.FILE

    @property
    def run_id(self) -> str:
        return self.path.name

    # -- config
    def write_config(self, run_id: str, config: dict[str, Any]) -> None:
        """config.yaml: the run id and results format, then the resolved config as a plain mapping."""
        record = {"run_id": run_id, "results_format": RESULTS_FORMAT, **config}
        atomic.write_text(self.config, yaml.safe_dump(record, sort_keys=False))

    def read_config(self) -> dict[str, Any]:
        """config.yaml as a plain mapping; {} when missing or unreadable."""
        try:
            return yaml.load(self.config.read_text(encoding="utf-8"), Loader=_Loader) or {}
        except (OSError, yaml.YAMLError):
            return {}

    # -- factors
    def read_factors(self) -> dict[str, str]:
        try:
            return dict(atomic.read_json(self.factors_file))
        except (FileNotFoundError, ValueError, TypeError):
            return {}

    def add_factors(self, factors: dict[str, str]) -> None:
        """Record this run's level of each swept key; a key already recorded keeps its
        first label, so a later grid that writes `0.10` for `0.1` splits no level."""
        known = self.read_factors()
        merged = {**factors, **known}
        if merged != known:
            atomic.write_json(self.factors_file, merged)

    # -- status
    def read_status(self) -> dict[str, Any]:
        try:
            return atomic.read_json(self.status_file)
        except (FileNotFoundError, ValueError):
            return {}

    def write_status(self, status: str, **fields: Any) -> dict[str, Any]:
        status = Status(status)  # ValueError for a status outside the vocabulary
        record = {**self.read_status(), **fields, "status": status.value, "updated": now(),
                  "host": socket.gethostname(), "pid": os.getpid()}
        atomic.write_json(self.status_file, record)
        return record

    # -- history
    def write_history(self, rows: list[Any]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(dataclasses.asdict(row) if dataclasses.is_dataclass(row) else row)
        atomic.write_text(self.history, buffer.getvalue())

    def read_history(self) -> list[dict[str, float]]:
        """history.csv's rows; [] when it is missing or damaged (a reader never crashes on a run folder)."""
        try:
            with open(self.history, encoding="utf-8", newline="") as f:
                # An empty cell (val_acc_tta without TTA) reads back as None.
                rows = [{k: float(v) if v not in ("", None) else None for k, v in row.items()}
                        for row in csv.DictReader(f)]
        except (OSError, ValueError, TypeError, csv.Error, UnicodeDecodeError):
            return []
        return rows if all("epoch" in r and "val_acc" in r for r in rows) else []

    # -- summary
    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic.write_json(self.summary, summary)

    def read_summary(self) -> dict[str, Any]:
        try:
            summary = atomic.read_json(self.summary)
        except (OSError, ValueError, UnicodeDecodeError):
            return {}
        return summary if isinstance(summary, dict) else {}

    # -- log
    def log(self, line: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "a", encoding="utf-8") as f:
            f.write(f"{now()} {line}\n")
