"""diagnostics.csv: one row per (epoch, layer, statistic), long format."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ablate.store import atomic

COLUMNS = ("epoch", "layer", "depth", "statistic", "value")


def write_csv(path: Path, rows: list[dict]) -> None:
    """Atomically (temporary file, then rename); values to 7 significant digits."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([r["epoch"], r["layer"], r["depth"], r["statistic"], f"{r['value']:.7g}"])
    atomic.write_text(path, buffer.getvalue())


def read_csv(path: Path) -> list[dict]:
    """Rows of a diagnostics.csv, typed (e.g. to continue a resumed run's file)."""
    with open(path, encoding="utf-8", newline="") as f:
        return [{"epoch": int(r["epoch"]), "layer": r["layer"], "depth": int(r["depth"]),
                 "statistic": r["statistic"], "value": float(r["value"])} for r in csv.DictReader(f)]
