"""The tidy tables of a sweep, built from its run directories.

    runs.csv / runs.parquet   one row per run folder: factor columns + metrics
    epochs.csv                long: run_id, epoch, metric, value

Rebuilt from the run directories each time, so they are always consistent
with them, whoever ran which run where. Every run in the folder is listed,
whichever grid planned it: a smaller grid run later in the same folder hides
none. A run's level of a factor is the label its grid wrote (factors.json), or
read off its config.yaml for a factor another grid swept.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from ablate.schema.run import budget_text
from ablate.store import atomic
from ablate.store.identity import labels, results_format
from ablate.store.rundir import HISTORY_COLUMNS, RunDir
from ablate.store.status import FINISHED, Reading, Status
from ablate.store.summary import SUMMARY_METRICS, finished_summary
from ablate.store.sweep_record import read_sweep_record, run_roles

METRICS = SUMMARY_METRICS  # runs.csv's metric columns: every number of summary.json
# `role`: a run's part in a tuned sweep (tune | rerun; ablate.sweep.tune), from sweep.yaml: the plan's, not the run's.
# `target_from`: which key set target_acc (target_acc, or data.target: the dataset's default), from summary.json.
# `budget`: what the run's length counted, in words ("30 epochs", "2000 optimiser steps").
TAIL = ("device", "precision", "host", "error", "results_format", "target_from", "budget", "role")
# A factor's cell for a run whose level does not have that option (`norm.groups`
# of a norm=batch run, in `norm=batch,group norm.groups=1,2`): empty, and never
# a level of its own in the report.
NOT_APPLICABLE = ""
# Every history.csv column but the epoch: the long table's metrics.
EPOCH_METRICS = tuple(c for c in HISTORY_COLUMNS if c != "epoch")


UNREADABLE = Reading.UNREADABLE  # a finished run whose numbers cannot be read (store.status)


def run_row(sweep: str, run_dir: Path, factors: Mapping[str, str]) -> dict:
    rd = RunDir(run_dir)
    status = rd.read_status()
    summary = finished_summary(rd) if status.get("status") in FINISHED else {}
    state = status.get("status", Status.QUEUED.value)
    if state in FINISHED and not summary:
        state = UNREADABLE
    row = {"run_id": rd.run_id, "sweep": sweep, "status": state, **factors}
    row.update({m: summary.get(m) for m in METRICS})
    row.update({"device": status.get("device"), "precision": status.get("precision"), "host": status.get("host"),
                "error": status.get("error"), "results_format": results_format(status),
                "target_from": summary.get("target_from"),
                "budget": summary.get("budget") or config_budget(rd.read_config() or {})})
    return row


def config_budget(config: Mapping) -> str | None:
    """The budget in words from a config.yaml: for a run whose summary does not
    say (one from before budgets, unfinished, or unreadable); None without one."""
    if not config.get("epochs") and config.get("budget") != "steps":
        return None
    return budget_text(config.get("budget", "epochs"), config.get("epochs"), config.get("steps"))


def sweep_runs(sweep_dir: Path, first: Sequence[str] = ()) -> list[str]:
    """The run ids of every run folder of a sweep: `first` (the current plan's, in
    its order), then any others, by name."""
    runs_dir = sweep_dir / "runs"
    found = {p.name for p in runs_dir.iterdir() if (p / "config.yaml").exists()} if runs_dir.is_dir() else set()
    return list(dict.fromkeys([*first, *sorted(found)]))


def run_factors(rd: RunDir, factors: Sequence[str]) -> dict[str, str]:
    """The run's level of each factor: as its grid wrote it, else as its config holds it."""
    recorded = rd.read_factors()
    derived = labels(rd.read_config()) if any(f not in recorded for f in factors) else {}
    return {f: recorded[f] if f in recorded else derived.get(f, NOT_APPLICABLE) for f in factors}


def write_tables(sweep_dir: Path, factors: Sequence[str], first: Sequence[str] = ()) -> None:
    """runs.csv, runs.parquet and epochs.csv of every run folder under `sweep_dir`."""
    import pandas as pd

    runs = [(rid, run_factors(RunDir(sweep_dir / "runs" / rid), factors)) for rid in sweep_runs(sweep_dir, first)]
    sweep = sweep_dir.name
    roles = run_roles(read_sweep_record(sweep_dir))
    rows = [run_row(sweep, sweep_dir / "runs" / rid, values) | {"role": roles.get(rid, "")} for rid, values in runs]
    columns = ["run_id", "sweep", "status", *factors, *METRICS, *TAIL]
    table = pd.DataFrame(rows, columns=columns)
    atomic.write_text(sweep_dir / "runs.csv", table.to_csv(index=False))
    buffer = io.BytesIO()
    # Factor values stay strings, as typed on the command line ('0.1', '[flip,crop]').
    table.astype({f: "string" for f in factors}).to_parquet(buffer, index=False)
    atomic.write_bytes(sweep_dir / "runs.parquet", buffer.getvalue())

    long = []
    for rid, _ in runs:
        for h in RunDir(sweep_dir / "runs" / rid).read_history():
            long += [(rid, int(h["epoch"]), m, h[m]) for m in EPOCH_METRICS if h.get(m) is not None]
    epochs = pd.DataFrame(long, columns=["run_id", "epoch", "metric", "value"])
    atomic.write_text(sweep_dir / "epochs.csv", epochs.to_csv(index=False))
