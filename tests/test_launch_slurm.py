"""`--launcher slurm` against a real one-node SLURM cluster.

CI starts one with .ci/slurm-setup.sh (Debian's slurmctld, slurmd, munge).
Without SLURM these tests skip, saying so; with ABLATE_REQUIRE_ENGINES=1 (CI)
they fail instead, so a broken cluster setup cannot pass unnoticed.
"""

import _thread
import importlib.util
import math
import os
import re
import shutil
import subprocess
import threading

import pytest

from ablate.config.compose import load_config
from ablate.errors import ConfigError
from ablate.launch import LAUNCHERS, launch_options
from ablate.sweep.plan import make_plan
from ablate.runner.run import run
from ablate.runner.spec import RunSpec
from ablate.store.rundir import RunDir
from helpers.launch import assert_same_tables, immutable_folder, local_reference, mid_training, sweep_with

pytestmark = pytest.mark.slow


def _cluster_kill_wait() -> int:
    """The cluster's KillWait (s), or skip/fail when there is no cluster to test against."""
    problem = None
    if importlib.util.find_spec("submitit") is None:
        problem = 'submitit is not installed (pip install "ablate[slurm]")'
    elif shutil.which("sbatch") is None:
        problem = "SLURM is not installed (no sbatch on PATH); CI starts one with .ci/slurm-setup.sh"
    else:
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=60)
        if out.returncode != 0 or not re.search(r"idle|mix|alloc", out.stdout):
            problem = f"no SLURM node is up ({(out.stderr or out.stdout).strip()}); run .ci/slurm-setup.sh as root"
    if problem:
        if os.environ.get("ABLATE_REQUIRE_ENGINES"):
            pytest.fail(problem)
        pytest.skip(problem)
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=60).stdout
    match = re.search(r"KillWait\s*=\s*(\d+)", config)
    return int(match.group(1)) if match else 30


def _epoch_seconds(folder) -> float:
    """This machine's seconds per digits epoch on one thread, as the tasks run (median of 3)."""
    assert run(RunSpec(load_config(["epochs=3", "device=cpu"]), folder / "probe", threads=1)).status == "completed"
    return sorted(h["seconds"] for h in RunDir(folder / "probe").read_history())[1]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """(plan, local reference sweep, epochs of the long run): a 2-epoch run and a long one.

    scancel's SIGTERM does not stop a submitit task (it waits for the USR2 of a
    time-out); SIGKILL follows KillWait seconds later. The long run must outlive
    that by a wide margin (4×, timed on this machine: 0.04 s an epoch here
    after the CPU fast path, 0.1 s before it), or there is nothing to resume.
    """
    root = tmp_path_factory.mktemp("reference")
    long = max(60, math.ceil(4 * _cluster_kill_wait() / _epoch_seconds(root)))
    plan = make_plan([f"epochs=2,{long}", "device=cpu"])
    return plan, local_reference(root, plan, "grid"), long


def _launcher(**options):
    return LAUNCHERS["slurm"](launch_options("slurm", **options), 1, 0)


def _slurm_task(run: RunDir) -> str:
    """`run`'s SLURM task id, from its log, once it is mid-training."""
    return mid_training(run, r"slurm task (\S+)", poll=0.05)


def _in_background(fn):
    box = {}
    thread = threading.Thread(target=lambda: box.update(value=fn()), daemon=True)
    thread.start()
    return thread, box


def _active_tasks(job: str) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T", "-j", job], capture_output=True, text=True)
    return out.stdout.split("\n") if out.stdout.strip() else []


def _resumed_after(run: RunDir) -> int:
    found = re.findall(r"resumed after epoch (\d+)", run.log_file.read_text())
    assert len(found) == 1, run.log_file.read_text()
    return int(found[0])


def test_sweep_matches_local_and_a_scancelled_task_resumes_next_sweep(grid, tmp_path):
    plan, reference, long = grid
    victim = RunDir(tmp_path / "grid" / "runs" / next(p.run_id for p in plan.runs if p.config.epochs == long))
    other = RunDir(tmp_path / "grid" / "runs" / next(p.run_id for p in plan.runs if p.config.epochs == 2))
    launcher = _launcher()
    launcher.check_writable(tmp_path / "grid")

    def cancel_mid_run():
        task = _slurm_task(victim)
        subprocess.run(["scancel", task], check=True)
        return task

    thread, cancelled = _in_background(cancel_mid_run)
    first = sweep_with(launcher, plan, tmp_path / "grid")
    thread.join(5)
    assert first == {"completed": 1, "interrupted": 1}, first
    status = victim.read_status()
    # Interrupted, not failed: a failed run would need --retry-failed; this one resumes by itself.
    assert status["status"] == "interrupted" and f"slurm task {cancelled['value']}" in status["error"]
    assert "CANCELLED" in status["error"]
    assert 1 <= len(victim.read_history()) < long

    second = sweep_with(launcher, plan, tmp_path / "grid")
    assert second == {"completed": 2}, second
    assert 1 <= _resumed_after(victim) < long
    assert victim.log_file.read_text().count("; starting") == 1  # resumed, never restarted from scratch
    assert other.log_file.read_text().count("slurm task") == 1  # the finished run was not submitted again
    assert_same_tables(reference, tmp_path / "grid")


def test_a_preempted_task_is_requeued_and_resumes_in_the_same_sweep(grid, tmp_path):
    # USR2 is what SLURM sends before a time-out (and at preemption, with
    # send_user_signal): submitit checkpoints the call and requeues the task.
    _, reference, long = grid
    plan = make_plan([f"epochs={long}", "device=cpu"])
    run = RunDir(tmp_path / "p" / "runs" / plan.runs[0].run_id)

    def preempt():
        task = _slurm_task(run)
        subprocess.run(["scancel", "--signal=USR2", task], check=True)
        return task

    thread, _ = _in_background(preempt)
    counts = sweep_with(_launcher(), plan, tmp_path / "p")
    thread.join(5)
    assert counts == {"completed": 1}, counts
    assert run.log_file.read_text().count("slurm task") == 2  # the same task ran twice
    assert 1 <= _resumed_after(run) < long
    # The resumed history is the uninterrupted one: same run id, same numbers.
    ours = [{k: v for k, v in h.items() if k not in ("seconds", "elapsed")} for h in run.read_history()]
    theirs = [{k: v for k, v in h.items() if k not in ("seconds", "elapsed")}
              for h in RunDir(reference / "runs" / run.run_id).read_history()]
    assert ours == theirs


def test_ctrl_c_cancels_the_array_and_marks_runs_interrupted(grid, tmp_path):
    _, _, long = grid
    plan = make_plan([f"epochs={long}", "seed=0,1", "device=cpu"])
    running, waiting = (RunDir(tmp_path / "c" / "runs" / p.run_id) for p in plan.runs)

    def ctrl_c():
        task = _slurm_task(running)
        _thread.interrupt_main()  # what the terminal's Ctrl-C does to the sweep's process
        return task

    thread, box = _in_background(ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        sweep_with(_launcher(slurm_max_parallel=1), plan, tmp_path / "c")
    thread.join(5)
    job = box["value"].split("_")[0]
    assert _active_tasks(job) == [], "the array job is still on the cluster"
    # The running run got SIGINT and recorded its own interruption, as it does locally.
    assert running.read_status()["status"] == "interrupted"
    assert "interrupted (Ctrl-C)" in running.log_file.read_text()
    assert 1 <= len(running.read_history()) < long
    # The task that never started is marked too; it has nothing to resume from.
    assert waiting.read_status()["status"] == "interrupted" and not waiting.history.exists()


def test_no_new_task_starts_once_keep_going_is_false(tmp_path):
    _cluster_kill_wait()
    plan = make_plan(["epochs=2", "seed=0,1,2", "device=cpu"])
    sweep_dir = tmp_path / "k"
    from ablate.runner.spec import RunSpec
    from ablate.store.rundir import now

    specs = []
    for p in plan.runs:
        rd = RunDir(sweep_dir / "runs" / p.run_id)
        rd.write_status("queued", queued=now())
        specs.append(RunSpec(p.config, rd.path))
    results = []
    for result in _launcher(slurm_max_parallel=1).map(specs, keep_going=lambda: not results):
        results.append(result)
    # One task at a time: the first finished, the second may have started
    # before the stop was seen; the third was pending and must never run.
    assert 1 <= len(results) <= 2 and all(r.status == "completed" for r in results)
    assert RunDir(specs[2].run_dir).read_status()["status"] == "queued"
    assert not RunDir(specs[2].run_dir).history.exists()


def test_a_results_folder_the_nodes_cannot_write_fails_at_start(tmp_path, monkeypatch):
    _cluster_kill_wait()
    import ablate.launch.slurm as slurm

    with immutable_folder(tmp_path / "results") as sweep_dir:
        # The login node (this process) would pass its own check; the probe job must catch it.
        monkeypatch.setattr(slurm, "check_writable_here", lambda path: None)
        launcher = _launcher(slurm_folder=str(tmp_path / "logs"))
        with pytest.raises(ConfigError, match=r"results folder .*results is not writable from the cluster's "
                                              r"workers; put it on shared storage \(.*not permitted"):
            launcher.check_writable(sweep_dir)
