"""`ablate export`: sweeps already run, written into a tracker from their run folders.

The same structure as live tracking (`tracker=...`): the same tracker classes
get each epoch of history.csv and the run's end, from status.json and
summary.json. Histograms are not kept in run folders, so diagnostics.csv's
summary statistics go in as scalars instead (`diag/<statistic>/<layer>`).
Idempotent: a run the tracker already holds (its MLflow run, matched on the
`ablate.run_id` tag; its TensorBoard folder) is skipped, so exporting twice
writes nothing twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablate.schema.run import TrackerConfig
from ablate.store.rundir import RunDir
from ablate.store.status import ENDED, Status
from ablate.store.summary import finished_summary
from ablate.store.tables import sweep_runs
from ablate.track.base import TRACKERS, RunInfo, sweep_tracking


@dataclass(frozen=True)
class Exported:
    written: int  # runs written into the tracker now
    skipped: int  # runs it already held
    unfinished: int  # runs with nothing to export yet (queued, running)


def diagnostic_scalars(rows: list[dict]) -> dict[int, dict[str, float]]:
    """diagnostics.csv as scalars per epoch: `diag/act_std/features.0.act` → value."""
    per_epoch: dict[int, dict[str, float]] = defaultdict(dict)
    for row in rows:
        per_epoch[int(row["epoch"])][f"diag/{row['statistic']}/{row['layer']}"] = float(row["value"])
    return per_epoch


def export_run(name: str, section: Any, rd: RunDir) -> bool | None:
    """Write one run folder into tracker `name`; False when it already holds the run,
    None when the run has nothing to export yet."""
    from ablate.diagnostics.table import read_csv

    record = rd.read_status()
    status, history = record.get("status"), rd.read_history()
    if not history or (status not in ENDED and status != Status.INTERRUPTED):
        return None
    info = RunInfo(rd.run_id, rd.path, rd.read_config(), rd.read_factors())
    kind = TRACKERS[name]
    if kind.holds is not None and kind.holds(section, info):
        return False
    tracker = kind.make(section, info)
    for row in history:
        tracker.epoch(row)
    path = rd.path / "diagnostics.csv"
    for epoch, values in sorted(diagnostic_scalars(read_csv(path) if path.exists() else []).items()):
        tracker.scalars(epoch, values)
    summary = finished_summary(rd) if status in ENDED else {}
    tracker.finish(status, summary, record.get("error"))
    return True


def export(sweep_dirs: list[Path], name: str, section: Any,
           progress: Callable[[Iterator[Path], int], Iterator[Path]] = lambda runs, total: runs) -> Exported:
    """Every run folder of every sweep into tracker `name` (`section`: its TrackerConfig part)."""
    written = skipped = unfinished = 0
    for sweep_dir in sweep_dirs:
        runs = [Path(sweep_dir) / "runs" / rid for rid in sweep_runs(Path(sweep_dir))]
        with sweep_tracking([TrackerConfig(**{name: section})], Path(sweep_dir)):
            for path in progress(iter(runs), len(runs)):
                done = export_run(name, section, RunDir(path))
                written += done is True
                skipped += done is False
                unfinished += done is None
    return Exported(written, skipped, unfinished)
