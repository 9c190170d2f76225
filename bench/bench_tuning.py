"""Cost of a tuned study (`ablate sweep --tune`) against its untuned twin: runs and wall time.

Reads finished sweep folders, nothing is trained here:

  python bench/bench_tuning.py results/saturation-tuned [results/saturation]

For each folder: runs by role (tune, rerun, or the plain grid's), the training seconds
summed over its runs (summary.json `seconds`, each run's own wall time: the same
whatever the number of workers) and the sweep's span (first run started to last
run ended, from status.json: what a user waits for with the workers it had).

Measured on the shared 2-core development VM (2 workers, other jobs beside it, so spans
are upper bounds), 2026-12-02: the table in docs/studies.md §15 ("Cost: tuned against
untuned"), e.g. saturation-tuned 112 runs (70 tune + 42 rerun), 1,844 training s, span
1,025 s, against its untuned twin's 42 runs (est. 716 training s): 2.6×.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import yaml


def _time(text: str | None) -> datetime | None:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z") if text else None


def cost(folder: Path) -> dict:
    record = yaml.safe_load((folder / "sweep.yaml").read_text()) or {}
    roles = ((record.get("tune") or {}).get("roles")) or {}
    counts, seconds, starts, ends = Counter(), 0.0, [], []
    for run in sorted((folder / "runs").iterdir()):
        status = json.loads((run / "status.json").read_text())
        counts[roles.get(run.name, "grid")] += 1
        summary = run / "summary.json"
        if summary.exists():
            seconds += float(json.loads(summary.read_text()).get("seconds") or 0.0)
        starts.append(_time(status.get("started")))
        ends.append(_time(status.get("ended")))
    starts, ends = [t for t in starts if t], [t for t in ends if t]
    span = (max(ends) - min(starts)).total_seconds() if starts and ends else float("nan")
    return {"folder": folder.name, "runs": sum(counts.values()), "by_role": dict(counts),
            "train_seconds": round(seconds, 1), "span_seconds": round(span, 1)}


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print(json.dumps(cost(Path(path))))
