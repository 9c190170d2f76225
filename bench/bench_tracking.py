"""What live tracking costs: a digits run with tracker=none, tensorboard and mlflow.

Side by side in this process: the default LeNet-5 digits run under each
tracker at two lengths (interleaved rounds, best of each, warm imports), so
the difference of the two lengths is the cost of an epoch and what is left
is each run's fixed cost (opening and closing its tracker run, params,
artifacts). Separately, the one-time costs a fresh process pays: importing
each tracker's package, and for MLflow creating the SQLite store a sweep's
first run meets.

    python bench/bench_tracking.py [--rounds 3] [--short 10] [--long 40] [--cpu-time]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {"none": "tracker=none", "tensorboard": "tracker=tensorboard", "mlflow": "tracker=mlflow"}
# --cpu-time: CPU seconds of this process, every thread included (the trackers'
# writer threads too), instead of wall time: steadier on a machine other jobs share.
CPU_TIME = False


def run_seconds(root: Path, override: str, epochs: int, i: int) -> float:
    from ablate.config.compose import load_config
    from ablate.runner.run import run
    from ablate.runner.spec import RunSpec

    # One MLflow store for every run, as a sweep's runs share theirs: creating it
    # is the one-time cost measured apart (store_seconds), not a run's.
    shared = [f"tracker.mlflow.uri=sqlite:///{root / 'mlflow.db'}"] if "mlflow" in override else []
    config = load_config([override, *shared, f"epochs={epochs}", "device=cpu"])
    start = time.process_time() if CPU_TIME else time.perf_counter()
    result = run(RunSpec(config, root / f"{override}-{epochs}-{i}" / "runs" / "r", resume=False))
    elapsed = (time.process_time() if CPU_TIME else time.perf_counter()) - start
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


RECORD = {"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5, "val_acc_tta": None,
          "test_loss": 1.0, "test_acc": 0.5, "test_acc_tta": None, "lr": 0.1}


def epoch_call_ms(root: Path, name: str, epochs: int = 500) -> float:
    """CPU ms (all threads) of one `epoch()` call of a tracker: what the training
    thread pays per epoch, without a run's noise around it."""
    from ablate.schema.run import MlflowConfig, TensorBoardConfig
    from ablate.track import TRACKERS, RunInfo

    section = {"tensorboard": TensorBoardConfig(),
               "mlflow": MlflowConfig(uri=f"sqlite:///{root / 'mlflow.db'}")}[name]
    tracker = TRACKERS[name].make(section, RunInfo("direct", root / f"direct-{name}" / "runs" / "direct", {}))
    start = time.process_time()
    for epoch in range(1, epochs + 1):
        tracker.epoch({**RECORD, "epoch": epoch})
    return (time.process_time() - start) / epochs * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--short", type=int, default=10, help="epochs of the short run")
    parser.add_argument("--long", type=int, default=40, help="epochs of the long run")
    parser.add_argument("--cpu-time", action="store_true", help="CPU time of every thread instead of wall time")
    args = parser.parse_args()
    global CPU_TIME
    CPU_TIME = args.cpu_time
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
        clock = "CPU time, all threads" if CPU_TIME else "wall time"
        print(f"digits LeNet-5, {args.short} and {args.long} epochs, best of {args.rounds} interleaved rounds ({clock}):")
        for name in CASES:
            print(f"  tracker={name:<12} {per_epoch[name] * 1000:6.1f} ms/epoch "
                  f"({per_epoch[name] / per_epoch['none']:.3f}× none)   fixed {fixed[name]:5.2f} s/run "
                  f"({fixed[name] - fixed['none']:+.2f} s)")
        print("one epoch() call alone, CPU time of every thread (500 epochs):")
        for name in ("tensorboard", "mlflow"):
            print(f"  {name:<12} {epoch_call_ms(root, name):.3f} ms/epoch")
        print("one-time, per process:")
        for module in ("mlflow", "torch.utils.tensorboard"):
            print(f"  import {module:<24} {import_seconds(module):5.2f} s")
        print(f"  create the SQLite store + a run   {store_seconds(root):5.2f} s")


if __name__ == "__main__":
    main()
