"""What the launcher tests share (test_launch_options.py, test_launch_slurm.py,
test_launch_ray.py): folders nobody can write, waiting for a run to be mid-
training, and comparing a cluster sweep's tables with a local one's."""

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

TIMING_COLUMNS = ["seconds", "seconds_to_target", "host", "device"]  # differ by machine and load, by design


@contextmanager
def immutable_folder(path: Path) -> Iterator[Path]:
    """A folder not even root can create a file in (chattr +i), as on a node where
    the results folder is read-only or another filesystem; skips where unsupported."""
    path.mkdir()
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported here; cannot make a folder unwritable for root")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def mid_training(run, pattern: str, poll: float, timeout: float = 300) -> str:
    """Wait until `run` is mid-training (a checkpoint exists) and its log has
    `pattern`; the last match's first group (the worker pid, the SLURM task)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if run.checkpoint.exists() and run.log_file.exists():
            found = re.findall(pattern, run.log_file.read_text())
            if found:
                return found[-1]
        time.sleep(poll)
    raise AssertionError(f"run {run.run_id} never reached its first checkpoint")


def sweep_with(executor, plan, sweep_dir: Path, **kwargs):
    """A sweep through `executor`, as the CLI runs one."""
    from ablate.sweep.driver import run_sweep

    return run_sweep(plan, sweep_dir, command="test", executor=executor, **kwargs)


def local_reference(root: Path, plan, name: str) -> Path:
    """The same grid through the local executor, in-process (one thread, as conftest sets)."""
    from ablate.sweep.driver import run_sweep

    sweep_dir = root / "local" / name
    counts = run_sweep(plan, sweep_dir, command="test")
    assert counts == {"completed": len(plan.runs)}, counts
    return sweep_dir


def comparable_tables(sweep_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = pd.read_csv(sweep_dir / "runs.csv").drop(columns=TIMING_COLUMNS)
    runs = runs.sort_values("run_id").reset_index(drop=True)
    epochs = pd.read_csv(sweep_dir / "epochs.csv")
    epochs = epochs[~epochs.metric.isin(["seconds", "elapsed"])]
    return runs, epochs.sort_values(["run_id", "epoch", "metric"]).reset_index(drop=True)


def assert_same_tables(a: Path, b: Path) -> None:
    """Exactly equal, timing aside: a run is the same computation wherever it ran."""
    for left, right in zip(comparable_tables(a), comparable_tables(b)):
        pd.testing.assert_frame_equal(left, right, check_exact=True)
