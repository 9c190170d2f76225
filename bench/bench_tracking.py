"""What live tracking costs: a digits run with tracker=none, tensorboard and mlflow.

Side by side in this process: the default LeNet-5 digits run under each
tracker at two lengths (interleaved rounds, best of each, warm imports), so
the difference of the two lengths is the cost of an epoch and what is left
is each run's fixed cost (opening and closing its tracker run, params,
artifacts). Separately, the one-time costs a fresh process pays: importing
each tracker's package, and for MLflow creating the SQLite store a sweep's
first run meets.

    python bench/bench_tracking.py [--rounds 3] [--short 10] [--long 40]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {"none": "tracker=none", "tensorboard": "tracker=tensorboard", "mlflow": "tracker=mlflow"}


def run_seconds(root: Path, override: str, epochs: int, i: int) -> float:
    from ablate.config.compose import load_config
    from ablate.runner.run import run
    from ablate.runner.spec import RunSpec

    # One MLflow store for every run, as a sweep's runs share theirs: creating it
    # is the one-time cost measured apart (store_seconds), not a run's.
    shared = [f"tracker.mlflow.uri=sqlite:///{root / 'mlflow.db'}"] if "mlflow" in override else []
    config = load_config([override, *shared, f"epochs={epochs}", "device=cpu"])
    start = time.perf_counter()
    result = run(RunSpec(config, root / f"{override}-{epochs}-{i}" / "runs" / "r", resume=False))
    elapsed = time.perf_counter() - start
    assert result.status == "completed", result
    return elapsed


def import_seconds(module: str) -> float:
    """A fresh interpreter importing `module` after torch, minus one importing torch alone."""
    def wall(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    base = min(wall("import torch") for _ in range(2))
    return min(wall(f"import torch, {module}") for _ in range(2)) - base


def store_seconds(root: Path) -> float:
    """Creating MLflow's default SQLite store (its schema migrations) and one run."""
    from ablate.track.mlflow import client_for, experiment_id

    start = time.perf_counter()
    sweep = root / "fresh-store"
    sweep.mkdir()
    uri = f"sqlite:///{sweep / 'mlflow.db'}"
    client = client_for(uri)
    client.create_run(experiment_id(client, "bench", sweep, uri))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--short", type=int, default=10, help="epochs of the short run")
    parser.add_argument("--long", type=int, default=40, help="epochs of the long run")
    args = parser.parse_args()
    import mlflow  # noqa: F401 — warm: the comparison must not include imports
    import torch.utils.tensorboard  # noqa: F401

    lengths = (args.short, args.long)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        best = {(name, e): float("inf") for name in CASES for e in lengths}
        for name, override in CASES.items():  # untimed: each tracker's first run creates its store
            run_seconds(root, override, 1, -1)
        for i in range(args.rounds):
            for name, override in CASES.items():
                for e in lengths:
                    best[name, e] = min(best[name, e], run_seconds(root, override, e, i))
        per_epoch = {n: (best[n, args.long] - best[n, args.short]) / (args.long - args.short) for n in CASES}
        fixed = {n: best[n, args.short] - args.short * per_epoch[n] for n in CASES}
        print(f"digits LeNet-5, {args.short} and {args.long} epochs, best of {args.rounds} interleaved rounds:")
        for name in CASES:
            print(f"  tracker={name:<12} {per_epoch[name] * 1000:6.1f} ms/epoch "
                  f"({per_epoch[name] / per_epoch['none']:.3f}× none)   fixed {fixed[name]:5.2f} s/run "
                  f"({fixed[name] - fixed['none']:+.2f} s)")
        print("one-time, per process:")
        for module in ("mlflow", "torch.utils.tensorboard"):
            print(f"  import {module:<24} {import_seconds(module):5.2f} s")
        print(f"  create the SQLite store + a run   {store_seconds(root):5.2f} s")


if __name__ == "__main__":
    main()
