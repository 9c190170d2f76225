"""Sweep throughput: a 12-run digits grid at --workers 1 and --workers 2.

Runs `ablate sweep` as a user would (a fresh process each, so process start,
imports and planning are counted), side by side in one script, and prints
runs/minute for both and their ratio. Appends a row to
bench/results/sweep.csv with the machine and versions.

    python bench/bench_sweep.py [--epochs 10] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRID = ["norm=none,batch", "act=relu,tanh", "seed=0,1,2"]  # 2 × 2 × 3 = 12 runs


def sweep_seconds(workers: int, epochs: int, root: Path) -> float:
    cmd = [sys.executable, "-m", "ablate", "sweep", *GRID, f"epochs={epochs}", "device=cpu",
           "--workers", str(workers), "--results", str(root), "--name", f"w{workers}",
           "--strict"]  # a failed run would otherwise count as a fast one
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            seconds = sweep_seconds(workers, args.epochs, Path(tmp))
            rows.append((workers, seconds, 12 / seconds * 60))
            print(f"--workers {workers}: 12 runs in {seconds:6.1f} s = {12 / seconds * 60:5.1f} runs/min")
    base = rows[0][2]
    for workers, _, rate in rows[1:]:
        print(f"ratio --workers {workers} / --workers {rows[0][0]}: {rate / base:.2f}x")
    out = Path(__file__).parent / "results" / "sweep.csv"
    new = not out.exists()
    with open(out, "a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(["date", "machine", "cpus", "torch", "epochs", "workers", "seconds", "runs_per_min"])
        for workers, seconds, rate in rows:
            writer.writerow([time.strftime("%Y-%m-%d"), platform.machine(), os.cpu_count(), torch.__version__,
                             args.epochs, workers, f"{seconds:.1f}", f"{rate:.1f}"])


if __name__ == "__main__":
    main()
