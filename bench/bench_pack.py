"""Run packing on one GPU: 16 small LeNet-5 runs with --runs-per-gpu 1, 2, 4, 8.

Small CNNs leave most of a GPU idle, so several runs share it. Each setting
runs the same 16-run digits sweep through `ablate sweep` in a fresh process
(start-up and planning included), side by side in this one script; prints
runs/hour per setting and the ratio against --runs-per-gpu 1. Skips cleanly
without CUDA. Appends to bench/results/pack.csv.

    python bench/bench_pack.py [--epochs 20] [--packing 1 2 4 8]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRID = ["norm=none,batch", "act=relu,tanh", "seed=0,1,2,3"]  # 16 runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--packing", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("skip: no CUDA device (run packing is a GPU feature)")
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in args.packing:
            cmd = [sys.executable, "-m", "ablate", "sweep", *GRID, f"epochs={args.epochs}", "device=cuda",
                   "--runs-per-gpu", str(k), "--results", tmp, "--name", f"pack{k}",
                   "--strict"]  # a failed run would otherwise count as a fast one
            started = time.perf_counter()
            done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if done.returncode:
                raise SystemExit(f"--runs-per-gpu {k}: the sweep failed\n{done.stderr[-2000:]}")
            seconds = time.perf_counter() - started
            rows.append((k, seconds, 16 / seconds * 3600))
            print(f"--runs-per-gpu {k}: 16 runs in {seconds:6.1f} s = {16 / seconds * 3600:7.0f} runs/hour "
                  f"({rows[-1][2] / rows[0][2]:.2f}x)")
    out = Path(__file__).parent / "results" / "pack.csv"
    new = not out.exists()
    with open(out, "a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(["date", "gpu", "torch", "epochs", "runs_per_gpu", "seconds", "runs_per_hour"])
        for k, seconds, rate in rows:
            writer.writerow([time.strftime("%Y-%m-%d"), torch.cuda.get_device_name(), torch.__version__,
                             args.epochs, k, f"{seconds:.1f}", f"{rate:.0f}"])


if __name__ == "__main__":
    main()
