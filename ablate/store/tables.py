"""The tidy tables of a sweep, built from its run directories.

    runs.csv / runs.parquet   one row per planned run: factor columns + metrics
    epochs.csv                long: run_id, epoch, metric, value

Rebuilt from the run directories each time, so they are always consistent
with them, whoever ran which run where.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from ablate.store import atomic
from ablate.store.rundir import RunDir
from ablate.store.status import FINISHED, Status

METRICS = ("best_val_acc", "best_epoch", "final_val_acc", "best_val_acc_tta", "final_val_acc_tta", "final_val_loss", "final_train_acc", "final_train_loss",
           "auc_val_acc", "target_acc", "epochs_to_target", "seconds_to_target", "epochs_run", "seconds",
           "diverged_epoch", "params")
TAIL = ("device", "host", "error")
# A factor's cell for a run whose level does not have that option (`norm.groups`
# of a norm=batch run, in `norm=batch,group norm.groups=1,2`): empty, and never
# a level of its own in the report.
NOT_APPLICABLE = ""
EPOCH_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "val_acc_tta", "lr", "seconds", "elapsed")


def run_row(sweep: str, run_dir: Path, factors: Mapping[str, str]) -> dict:
    rd = RunDir(run_dir)
    status = rd.read_status()
    summary = rd.read_summary() if status.get("status") in FINISHED else {}
    row = {"run_id": rd.run_id, "sweep": sweep, "status": status.get("status", Status.QUEUED.value), **factors}
    row.update({m: summary.get(m) for m in METRICS})
    row.update({"device": status.get("device"), "host": status.get("host"), "error": status.get("error")})
    return row


def write_tables(sweep_dir: Path, runs: Sequence[tuple[str, Mapping[str, str]]], factors: Sequence[str]) -> None:
    """`runs`: (run_id, factor values) for every planned run."""
    import pandas as pd

    sweep = sweep_dir.name
    rows = [run_row(sweep, sweep_dir / "runs" / rid, values) for rid, values in runs]
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
