"""`--launcher ray` against a real Ray instance on this machine.

Without Ray installed these tests skip, saying so; with ABLATE_REQUIRE_ENGINES=1
(CI) they fail instead.
"""

import _thread
import importlib.util
import os
import re
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest

from ablate.errors import ConfigError
from ablate.launch import LAUNCHERS, launch_options
from ablate.sweep.plan import make_plan
from ablate.store.rundir import RunDir
from helpers.launch import assert_same_tables, immutable_folder, local_reference, mid_training, sweep_with

pytestmark = pytest.mark.slow

if importlib.util.find_spec("ray") is None:
    _problem = 'ray is not installed (pip install "ablate[ray]")'
    if os.environ.get("ABLATE_REQUIRE_ENGINES"):
        raise RuntimeError(_problem)
    pytest.skip(_problem, allow_module_level=True)

import ray  # noqa: E402


def _launcher(**options):
    return LAUNCHERS["ray"](launch_options("ray", **options), 1, 0)


@pytest.fixture(scope="module")
def local_ray():
    """A private Ray instance, started the way `--launcher ray` without --ray-address starts one."""
    ray.shutdown()
    _launcher().connect()
    yield
    ray.shutdown()


def _worker_pid(run: RunDir) -> int:
    """The pid of the Ray worker running `run`, once it is mid-training."""
    return int(mid_training(run, r"worker pid (\d+)", poll=0.02))


def test_sweep_survives_a_killed_worker_and_matches_local(local_ray, tmp_path):
    long = 30  # epochs (~0.1 s each): the kill lands after the first, with the rest to resume
    plan = make_plan([f"epochs=2,{long}", "device=cpu"])
    reference = local_reference(tmp_path, plan, "grid")
    sweep_dir = tmp_path / "ray" / "grid"
    victim = RunDir(sweep_dir / "runs" / next(p.run_id for p in plan.runs if p.config.epochs == long))
    launcher = _launcher()
    launcher.check_writable(sweep_dir)

    killed = {}

    def kill_worker():
        pid = _worker_pid(victim)
        os.kill(pid, signal.SIGKILL)  # as the kernel's OOM killer or a lost node would
        killed["pid"] = pid

    thread = threading.Thread(target=kill_worker, daemon=True)
    thread.start()
    counts = sweep_with(launcher, plan, sweep_dir)
    thread.join(5)
    assert killed, "never caught the long run mid-training"
    assert counts == {"completed": 2}, counts
    log = victim.log_file.read_text()
    pids = [int(p) for p in re.findall(r"worker pid (\d+)", log)]
    assert len(pids) == 2 and pids[0] == killed["pid"] != pids[1]  # Ray retried it in a new worker
    resumed = re.findall(r"resumed after epoch (\d+)", log)
    assert len(resumed) == 1 and 1 <= int(resumed[0]) < long, log
    assert_same_tables(reference, sweep_dir)


def test_ctrl_c_cancels_the_tasks_and_marks_runs_interrupted(local_ray, tmp_path):
    long = 200  # epochs: far more than the moments the test needs to interrupt it
    plan = make_plan([f"epochs={long}", "seed=0,1,2", "device=cpu"])
    runs = [RunDir(tmp_path / "c" / "runs" / p.run_id) for p in plan.runs]
    launcher = _launcher()
    launcher.check_writable(tmp_path / "c")

    def ctrl_c():
        _worker_pid(runs[0])
        _thread.interrupt_main()  # what the terminal's Ctrl-C does to the sweep's process

    thread = threading.Thread(target=ctrl_c, daemon=True)
    thread.start()
    with pytest.raises(KeyboardInterrupt):
        sweep_with(launcher, plan, tmp_path / "c")
    thread.join(5)
    # Two CPUs, one per run: two were in flight. ray.cancel raised KeyboardInterrupt
    # in them, and each recorded its own interruption, as a local run does.
    statuses = [r.read_status()["status"] for r in runs]
    assert statuses[:2] == ["interrupted", "interrupted"], statuses
    assert "interrupted (Ctrl-C)" in runs[0].log_file.read_text()
    assert 1 <= len(runs[0].read_history()) < long
    # The third was never submitted: nothing of it started, it stays queued for the next sweep.
    assert statuses[2] == "queued" and not runs[2].history.exists()
    deadline = time.time() + 30  # Ray frees a cancelled task's CPU once its worker has stopped
    while ray.available_resources().get("CPU") != ray.cluster_resources().get("CPU") and time.time() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU") == ray.cluster_resources().get("CPU"), "a task still holds a CPU"


def test_a_run_no_node_can_hold_fails_at_start(local_ray, tmp_path):
    # This machine has no GPU Ray knows of: the sweep must say so instead of waiting forever.
    with pytest.raises(ConfigError, match=r"no node of the Ray cluster has 1 CPU\(s\) and 1 GPU\(s\)"):
        _launcher(gpus_per_run=1).check_writable(tmp_path / "s")


def test_a_results_folder_the_workers_cannot_write_fails_at_start(local_ray, tmp_path, monkeypatch):
    import ablate.launch.ray as ray_launcher

    with immutable_folder(tmp_path / "results") as sweep_dir:
        # This process would pass its own check; the probe task on the node must catch it.
        monkeypatch.setattr(ray_launcher, "check_writable_here", lambda path: None)
        with pytest.raises(ConfigError, match=r"results folder .*results is not writable from the cluster's "
                                              r"workers; put it on shared storage \(node .*PermissionError"):
            _launcher().check_writable(sweep_dir)


@pytest.fixture
def s3(monkeypatch):
    """A bucket on a real S3 server on loopback; this process's AWS_* point at it. Set after the
    module's Ray instance started, so its workers reach the server only through what the sweep forwards."""
    from helpers.s3 import new_bucket, start_server

    server = start_server()
    yield new_bucket(server, monkeypatch)
    server.stop()


def test_object_store_sweep_on_ray_trains_each_run_once_in_two_scratch_folders(local_ray, s3):
    import json

    import ablate

    result = ablate.run_sweep(["seed=0,1,2,3", "epochs=2", "data=digits", "device=cpu"], results=s3.uri("ray"),
                              name="grid", launcher="ray", workers=2, progress=False)
    assert result.counts == {"completed": 4}, result.counts
    ids = [p.run_id for p in result.plan.runs]
    claims = {}
    for rid in ids:
        status = json.loads(s3.client().get_object(Bucket=s3.bucket, Key=f"ray/grid/runs/{rid}/status.json")["Body"]
                            .read())
        log = s3.client().get_object(Bucket=s3.bucket, Key=f"ray/grid/runs/{rid}/log.txt")["Body"].read().decode()
        assert status["status"] == "completed", status
        assert log.count("; starting") == 1 and "resum" not in log, f"{rid} trained more than once:\n{log}"
        (claims[rid],) = re.findall(r"claimed by worker (\S+) \(lease \d+\), scratch (\S+)", log)
    holders = {holder for holder, _ in claims.values()}
    scratches = {scratch for _, scratch in claims.values()}
    # Two tasks, two Ray worker processes (the holder is host:pid:token), each with its own scratch folder.
    assert len(holders) == 2 and len({h.split(":")[1] for h in holders}) == 2, claims
    assert len(scratches) == 2 and {str(Path(s).parent) for s in scratches} <= {tempfile.gettempdir()}, claims
    assert all(not Path(s).exists() for s in scratches)  # each task removed its scratch at the end
    names = {k.rsplit("/", 1)[-1] for k in s3.keys("ray/grid/")}
    assert {"runs.csv", "runs.parquet", "epochs.csv", "sweep.yaml"} <= names


def test_fractional_gpus_share_one_gpu(tmp_path):
    # Ray schedules by declared resources: one declared GPU (runs stay on
    # device=cpu) is enough to see two 0.5-GPU runs placed on it together.
    ray.shutdown()
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    try:
        # Long enough (~5 s a run) that the second worker's start-up (~2 s of
        # imports) cannot push it past the first run's end.
        plan = make_plan(["epochs=40", "seed=0,1", "device=cpu"])
        launcher = _launcher(gpus_per_run=0.5)
        launcher.check_writable(tmp_path / "f")
        assert sweep_with(launcher, plan, tmp_path / "f") == {"completed": 2}
    finally:
        ray.shutdown()
    spans = []
    for p in plan.runs:
        log = RunDir(tmp_path / "f" / "runs" / p.run_id).log_file.read_text()
        assert ", gpu 0\n" in log, log  # both on GPU 0
        status = RunDir(tmp_path / "f" / "runs" / p.run_id).read_status()
        spans.append((status["started"], status["ended"]))  # ISO times, 1 s resolution
    (a0, a1), (b0, b1) = spans
    assert a0 < b1 and b0 < a1, f"the two runs did not train at the same time: {spans}"
