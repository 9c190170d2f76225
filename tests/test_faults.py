"""Fault injection: kill -9 at random and at chosen moments, a full disk, a lost
rename, a dead worker. After each fault the same command runs again, and what
the tool says must still be true: every run exactly once, no epoch before the
last checkpoint trained twice, the tables equal to the run folders, no run lost.

Each case adds rows to one table, printed at the end of the module
(`pytest -s tests/test_faults.py` shows it; the README quotes it).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
pytestmark = pytest.mark.slow

EPOCHS = 6
GRID = ["seed=0,1,2,3", f"epochs={EPOCHS}", "data=synthetic", "data.size=12", "data.n_train=1024", "device=cpu",
        "diagnostics=off"]
TABLE: list[tuple[str, int, int]] = []  # (fault, times injected, runs lost)

# A sweep run in a fresh interpreter with one write of the store replaced:
# ABLATE_FAULT=<what>:<file name>:<nth write of it>, see `inject` below.
WRAPPER = r"""
import os, sys, errno, signal
import ablate.store.atomic as atomic
faults = [f.split(":") for f in os.environ["ABLATE_FAULT"].split(",")]
writes = {}
real_replace = os.replace

def replace(src, dst):
    name = os.path.basename(str(dst))
    writes[name] = writes.get(name, 0) + 1
    for what, target, nth in faults:
        if name != target or writes[name] != int(nth):
            continue
        if what == "kill_before_rename":
            os.kill(os.getpid(), signal.SIGKILL)
        if what == "lose_rename":  # the file system never makes the new file visible
            os.unlink(src)
            return None
        if what == "enospc":
            os.unlink(src)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
    return real_replace(src, dst)

atomic.os.replace = replace
from ablate.cli.app import main
sys.argv = ["ablate"] + sys.argv[1:]
main()
"""


def sweep_args(root: Path, workers: int = 2) -> list[str]:
    return ["sweep", *GRID, "--name", "f", "--results", str(root), "--workers", str(workers)]


def run_sweep(root: Path, workers: int = 2, fault: str | None = None, extra: tuple[str, ...] = ()):
    env = {**os.environ, "COLUMNS": "200"}
    if fault:
        env["ABLATE_FAULT"] = fault
        cmd = [sys.executable, "-c", WRAPPER, *sweep_args(root, workers), *extra]
    else:
        cmd = [sys.executable, "-m", "ablate", *sweep_args(root, workers), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def check_store(root: Path) -> int:
    """Every invariant after the last re-run; returns the number of runs lost."""
    sweep = root / "f"
    runs = pd.read_csv(sweep / "runs.csv", dtype={"run_id": str})
    folders = {p.name: p for p in (sweep / "runs").iterdir() if (p / "config.yaml").exists()}
    lost = 4 - int((runs["status"] == "completed").sum())
    assert set(runs["run_id"]) == set(folders), "runs.csv and the run folders list different runs"
    for _, row in runs.iterrows():
        folder = folders[row["run_id"]]
        status = json.loads((folder / "status.json").read_text())["status"]
        summary = json.loads((folder / "summary.json").read_text())
        assert row["status"] == status == "completed", f"{folder.name}: table {row['status']}, folder {status}"
        assert row["best_val_acc"] == pytest.approx(summary["best_val_acc"])
        epochs = pd.read_csv(folder / "history.csv")["epoch"].tolist()
        assert epochs == list(range(1, EPOCHS + 1)), f"{folder.name}: history epochs {epochs}"
        assert_no_epoch_trained_twice_before_a_checkpoint(folder)
    return lost


def assert_no_epoch_trained_twice_before_a_checkpoint(folder: Path) -> None:
    """Reading log.txt in order: an epoch trained again must come after the last
    checkpoint the run resumed from (the epoch a kill interrupted), never before."""
    trained: set[int] = set()
    for line in (folder / "log.txt").read_text().splitlines():
        if m := re.search(r"resumed after epoch (\d+)", line):
            kept = int(m.group(1))
            trained = {e for e in trained if e <= kept}  # later ones were lost with the kill: they may run again
        elif "; starting" in line:
            trained = set()  # a fresh start (no usable checkpoint): everything runs again
        elif m := re.search(r" epoch (\d+)/\d+ train_loss", line):
            epoch = int(m.group(1))
            assert epoch not in trained, f"{folder.name}: epoch {epoch} trained twice (log:\n{line})"
            trained.add(epoch)


def finish(root: Path) -> None:
    """Re-run the same command until it ends cleanly (at most 3 times: resume must converge)."""
    for _ in range(3):
        result = run_sweep(root)
        if result.returncode == 0 and "4 runs: 4 completed" in result.stderr:
            return
    raise AssertionError(f"the sweep never completed:\n{result.stderr[-2000:]}")


def retry_and_record(root: Path, fault: str) -> int:
    """The failed run again with --retry-failed, then the checks; the runs lost."""
    again = run_sweep(root, extra=("--retry-failed",))
    assert again.returncode == 0 and "4 runs: 4 completed" in again.stderr, again.stderr[-2000:]
    lost = check_store(root)
    TABLE.append((fault, 1, lost))
    return lost


def test_twenty_kill_9_at_random_moments(tmp_path):
    """Run start, mid-epoch, checkpoint and table writes, the end of the sweep:
    moments drawn uniformly over a sweep's life hit all of them."""
    rng = random.Random(0)
    env = {**os.environ, "COLUMNS": "200"}
    kills = 0
    for _ in range(20):
        proc = subprocess.Popen([sys.executable, "-m", "ablate", *sweep_args(tmp_path)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(0.5, 6.0))  # a full sweep takes ~5-8 s here: start-up to tables
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, as the OOM killer or a reboot would
            kills += 1
        proc.wait()
    finish(tmp_path)
    lost = check_store(tmp_path)
    TABLE.append((f"kill -9 at random moments ({kills} landed mid-sweep)", kills, lost))
    assert lost == 0 and kills >= 10


@pytest.mark.parametrize("name, nth, moment", [
    ("checkpoint.pt", 3, "while writing a checkpoint"),
    ("history.csv", 5, "while writing history.csv"),
    ("status.json", 4, "while writing status.json"),
    ("runs.csv", 1, "while writing the tables"),
    ("summary.json", 2, "while writing a summary"),
])
def test_kill_9_at_a_chosen_write(tmp_path, name, nth, moment):
    first = run_sweep(tmp_path, workers=1, fault=f"kill_before_rename:{name}:{nth}")
    assert first.returncode == -signal.SIGKILL, first.stderr[-1000:]
    finish(tmp_path)
    lost = check_store(tmp_path)
    TABLE.append((f"kill -9 {moment}", 1, lost))
    assert lost == 0


def test_a_full_disk_fails_one_run_and_a_retry_completes_it(tmp_path):
    first = run_sweep(tmp_path, workers=1, fault="enospc:checkpoint.pt:2")
    assert first.returncode == 0, first.stderr[-1000:]  # a failed run is a result, not the end of the sweep
    assert "1 failed" in first.stderr and "No space left on device" in first.stderr
    assert retry_and_record(tmp_path, "disk full (ENOSPC) writing a checkpoint") == 0


def test_a_lost_rename_of_the_last_checkpoint_resumes_from_the_one_before(tmp_path):
    # The file system drops the rename of the 3rd checkpoint, and the sweep dies
    # at the next history write: history.csv holds epoch 3, checkpoint.pt epoch 2.
    first = run_sweep(tmp_path, workers=1, fault="lose_rename:checkpoint.pt:3,kill_before_rename:history.csv:4")
    assert first.returncode == -signal.SIGKILL, first.stderr[-1000:]
    finish(tmp_path)
    lost = check_store(tmp_path)
    logs = [p.read_text() for p in (tmp_path / "f" / "runs").glob("*/log.txt")]
    assert any("resumed after epoch 2" in log for log in logs)
    TABLE.append(("a checkpoint rename lost by the file system, then kill -9", 1, lost))
    assert lost == 0


def test_a_worker_killed_by_the_oom_killer(tmp_path):
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "ablate", *sweep_args(tmp_path)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pid = None
    deadline = time.time() + 120
    while pid is None and time.time() < deadline:
        for status in (tmp_path / "f" / "runs").glob("*/status.json"):
            try:
                record = json.loads(status.read_text())
            except ValueError:
                continue
            if record.get("status") == "running" and record.get("pid") != proc.pid and record.get("epoch"):
                pid = record["pid"]
        time.sleep(0.05)
    assert pid is not None, "never caught a worker mid-run"
    os.kill(pid, signal.SIGKILL)  # what the OOM killer sends
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "worker process died" in stderr, stderr[-2000:]
    assert retry_and_record(tmp_path, "a worker OOM-killed (SIGKILL) mid-run") == 0


def test_zz_print_the_table(capsys):
    """The summary the README's reliability section quotes."""
    if not TABLE:
        pytest.skip("no fault case ran in this session")
    with capsys.disabled():
        print("\n\n| fault | injected | runs lost |\n| --- | ---: | ---: |")
        for fault, times, lost in TABLE:
            print(f"| {fault} | {times} | {lost} |")
    assert sum(lost for _, _, lost in TABLE) == 0
