"""Results in object storage against a real S3 server on loopback (moto's ThreadedMotoServer on 127.0.0.1):
leases, workers on separate scratch folders, kill -9 and resume, a lost upload, reading from the bucket,
and the one-line errors of a bucket that cannot be used."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from helpers.s3 import free_port, new_bucket, start_server

GRID = ["data=synthetic", "data.size=12", "data.n_train=512", "device=cpu", "diagnostics=off"]
TIMING = {"seconds", "elapsed"}  # history.csv's wall-clock columns: everything else must match bit for bit


@pytest.fixture(scope="module")
def server():
    server = start_server()
    yield server
    server.stop()


@pytest.fixture
def s3(server, monkeypatch):
    return new_bucket(server, monkeypatch)


def queue(uri: str, overrides: list[str], staging: Path) -> list[str]:
    """Put a grid's runs in the bucket as `ablate sweep` does, without training any; their run ids."""
    from ablate.api.runs import prepare_sweep
    from ablate.store.remote import Remote
    from ablate.sweep.remote import enqueue

    results, name = uri.rsplit("/", 1)
    setup = prepare_sweep(overrides, results=results, name=name)
    enqueue(setup.plan, Remote(setup.remote), staging / name, "test")
    return [p.run_id for p in setup.plan.runs]


def worker(uri: str, scratch: Path, env: dict, *extra: str, code: str | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-c", code, "worker", uri, "--scratch", str(scratch), *extra] if code else \
        [sys.executable, "-m", "ablate", "worker", uri, "--scratch", str(scratch), *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def history(s3, sweep: str, rid: str) -> pd.DataFrame:
    body = s3.client().get_object(Bucket=s3.bucket, Key=f"{sweep}/runs/{rid}/history.csv")["Body"].read()
    frame = pd.read_csv(io.BytesIO(body))
    return frame[[c for c in frame.columns if c not in TIMING]]


def text(s3, key: str) -> str:
    return s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read().decode()


# -- leases


def test_a_lease_is_exclusive_and_an_expired_one_is_taken_over(s3):
    from ablate.store.lease import claim
    from ablate.store.remote import Remote

    remote = Remote(s3.uri("sw"))
    first = claim(remote, "r1", "a", seconds=600)
    assert first is not None and first.generation == 1
    assert claim(remote, "r1", "b", seconds=600) is None  # live: nobody else gets it
    # A holder whose lease lapsed (seconds=0: expired as written) loses the run to the next claim...
    remote.put("leases/r1/00000001.json", first.__class__(remote, "r1", 1, "a", 0.0).record())
    second = claim(remote, "r1", "b", seconds=600)
    assert second is not None and second.generation == 2
    # ...and finds out at its next heartbeat, without touching the new lease.
    assert first.heartbeat() is False and first.lost
    assert json.loads(remote.get("leases/r1/00000002.json"))["holder"] == "b"
    second.release()
    third = claim(remote, "r1", "c", seconds=600)  # released: free at once, under a new generation
    assert third is not None and third.generation == 3


def test_of_many_workers_claiming_one_run_at_once_exactly_one_wins(s3):
    from ablate.store.lease import claim
    from ablate.store.remote import Remote

    won, barrier = [], threading.Barrier(8)

    def contend(i: int) -> None:
        remote = Remote(s3.uri("sw"))
        barrier.wait()
        if claim(remote, "r1", f"w{i}", seconds=600) is not None:
            won.append(i)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(won) == 1, won
    assert s3.keys("sw/leases/") == ["sw/leases/r1/00000001.json"]


# -- bad input: one line, exit 2, nothing written


def _one_line_exit_2(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


def test_an_unreachable_store_is_one_line_before_any_run(cli, s3, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    line = _one_line_exit_2(cli("sweep", "seed=0,1", *GRID, "--results", s3.uri("p"), "--name", "u"))
    assert "cannot reach s3://" in line and "/p/u" in line
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.endpoint)
    assert s3.keys() == []


def test_missing_credentials_are_one_line_before_any_run(cli, s3, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    line = _one_line_exit_2(cli("worker", s3.uri("p", "u")))
    assert "no credentials" in line and "AWS_ACCESS_KEY_ID" in line
    line = _one_line_exit_2(cli("sweep", "seed=0,1", *GRID, "--results", s3.uri("p"), "--name", "u"))
    assert "no credentials" in line
    assert s3.keys() == []


def test_a_missing_bucket_is_one_line(cli, s3):
    line = _one_line_exit_2(cli("sweep", "seed=0", *GRID, "--results", "s3://no-such-bucket-here/p"))
    assert "no such bucket" in line and "s3://no-such-bucket-here/p/" in line


def test_a_store_without_conditional_writes_is_one_line_before_any_run(cli, tmp_path):
    """A filesystem that takes create-if-absent as a plain overwrite cannot hold leases."""
    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem

    class Overwrites(MemoryFileSystem):
        protocol = "overwrites"

        def pipe_file(self, path, value, mode="overwrite", **kwargs):
            return super().pipe_file(path, value, mode="overwrite", **kwargs)

    fsspec.register_implementation("overwrites", Overwrites, clobber=True)
    line = _one_line_exit_2(cli("sweep", "seed=0", *GRID, "--results", "overwrites://b/p", "--name", "n"))
    assert "does not honour conditional writes" in line and "overwrites://b/p/n" in line
    assert not Overwrites().find("/b")


def test_a_launcher_that_cannot_train_from_a_bucket_is_one_line_before_any_run(cli, s3):
    line = _one_line_exit_2(cli("sweep", "seed=0", *GRID, "--results", s3.uri("p"), "--launcher", "slurm"))
    assert "--launcher slurm with object-storage --results is not supported: use local or ray" in line
    assert s3.keys() == []


def _ray_workers():
    """ablate.launch.ray_workers, or a skip saying why (a failure with ABLATE_REQUIRE_ENGINES=1, as in CI)."""
    import importlib.util
    import os

    if importlib.util.find_spec("ray") is None:
        if os.environ.get("ABLATE_REQUIRE_ENGINES"):
            raise RuntimeError('ray is not installed (pip install "ablate[ray]")')
        pytest.skip('ray is not installed (pip install "ablate[ray]")')
    import ablate.launch.ray_workers as ray_workers

    return ray_workers


def test_ray_asks_the_autoscaler_for_a_task_per_run_left_and_withdraws_it(s3, tmp_path, monkeypatch):
    """No Ray is started: the request and the task count are what is checked."""
    from collections import Counter

    from ray.autoscaler import sdk

    from ablate.launch.options import RayOptions
    from ablate.store.remote import Remote

    ray_workers = _ray_workers()
    uri = s3.uri("auto", "g")
    ids = queue(uri, ["seed=0,1,2", *GRID], tmp_path)
    s3.client().put_object(Bucket=s3.bucket, Key=f"auto/g/runs/{ids[0]}/status.json", Body=b'{"status": "completed"}')
    requests, started = [], []
    monkeypatch.setattr(sdk, "request_resources", lambda **kwargs: requests.append(kwargs))
    monkeypatch.setattr(ray_workers.RayWorkers, "run", lambda self, uri, n, *rest: started.append(n) or Counter())
    pool = ray_workers.RayWorkers(RayOptions(cpus_per_run=2, gpus_per_run=0.5, ray_address="auto"))
    bundle = {"CPU": 2.0, "GPU": 0.5}
    for workers, tasks in ((None, 2), (1, 1), (5, 2)):  # two runs left: never more tasks than runs
        requests.clear()
        pool.trainer(Remote(uri), workers)(None)
        assert requests == [{"bundles": [bundle] * tasks}, {"bundles": []}], (workers, requests)
        assert started[-1] == tasks
    assert ray_workers.task_resources(RayOptions()) == {"CPU": 1.0}  # no GPU asked for: none in the bundle


def test_ray_tasks_get_the_variables_that_reach_the_store():
    env = {"AWS_ENDPOINT_URL_S3": "http://10.0.0.5:9000", "AWS_ACCESS_KEY_ID": "k", "FSSPEC_S3_ANON": "false",
           "GOOGLE_APPLICATION_CREDENTIALS": "/k.json", "AZURE_STORAGE_ACCOUNT_NAME": "a", "HOME": "/root",
           "PATH": "/bin", "CUDA_VISIBLE_DEVICES": "0"}
    assert set(_ray_workers().forwarded_env(env)) == {"AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "FSSPEC_S3_ANON",
                                                      "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_STORAGE_ACCOUNT_NAME"}


def test_a_worker_on_a_uri_that_is_not_a_sweep_says_so(cli, s3):
    line = _one_line_exit_2(cli("worker", s3.uri("p", "nothing")))
    assert "is not a sweep" in line


# -- end to end


@pytest.mark.slow
def test_two_workers_on_separate_scratch_folders_finish_a_12_run_grid_each_run_once(s3, tmp_path):
    uri = s3.uri("grid", "g")
    ids = queue(uri, ["act=relu,tanh,sigmoid", "seed=0,1,2,3", "epochs=2", *GRID], tmp_path)
    assert len(set(ids)) == 12
    procs = [worker(uri, tmp_path / f"scratch-{i}", s3.env) for i in (0, 1)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    from ablate.store.status import FINISHED, Status

    ended = "|".join(Status)  # a worker's line per run: `<run-id> <status>`, whichever status it ended in
    trained = [set(re.findall(rf"^([0-9a-f]{{12}}) (?:{ended})\b", err, re.M)) for _, err in outputs]
    assert trained[0] | trained[1] == set(ids) and not trained[0] & trained[1], trained
    for rid in ids:
        status = json.loads(text(s3, f"grid/g/runs/{rid}/status.json"))
        log = text(s3, f"grid/g/runs/{rid}/log.txt")
        assert status["status"] in FINISHED, status
        assert log.count("; starting") == 1 and "resuming" not in log, f"{rid} trained more than once"
    runs = pd.read_csv(io.BytesIO(text(s3, "grid/g/runs.csv").encode()), dtype={"run_id": str})
    assert sorted(runs.run_id) == sorted(ids) and set(runs.status) <= FINISHED
    # The run folders in the bucket are a local sweep's: no lease inside them.
    names = {k.rsplit("/", 1)[-1] for k in s3.keys("grid/g/runs/")}
    assert names == {"config.yaml", "status.json", "history.csv", "summary.json", "checkpoint.pt", "log.txt",
                     "factors.json", "predictions.npz"}


# Worker A dies by SIGKILL right after its 3rd checkpoint upload: the bucket then holds
# epoch 3's checkpoint, with history and status still at epoch 2.
KILL_AFTER_THIRD_CHECKPOINT = r"""
import os, signal, sys
from ablate.store.remote import Remote
real_put, sent = Remote.put, []
def put(self, rel, data):
    real_put(self, rel, data)
    if rel.endswith("/checkpoint.pt"):
        sent.append(rel)
        if len(sent) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
Remote.put = put
from ablate.cli.app import main
sys.argv = ["ablate"] + sys.argv[1:]
main()
"""


@pytest.mark.slow
def test_kill_9_of_a_worker_and_another_resumes_from_the_uploaded_checkpoint_bit_identical(s3, tmp_path):
    grid = ["seed=3", "epochs=6", *GRID]
    killed_uri, whole_uri = s3.uri("k", "killed"), s3.uri("k", "whole")
    [rid] = queue(killed_uri, grid, tmp_path)
    assert queue(whole_uri, grid, tmp_path) == [rid]  # the same config is the same run id, wherever it is stored

    victim = worker(killed_uri, tmp_path / "a", s3.env, "--lease-seconds", "3", code=KILL_AFTER_THIRD_CHECKPOINT)
    victim.communicate(timeout=600)
    assert victim.returncode == -signal.SIGKILL
    assert json.loads(text(s3, f"k/killed/runs/{rid}/status.json"))["status"] == "running"
    assert "summary.json" not in {k.rsplit("/", 1)[-1] for k in s3.keys(f"k/killed/runs/{rid}/")}

    # B waits out A's lease (3 s without a heartbeat), takes it over and resumes.
    rescuer = worker(killed_uri, tmp_path / "b", s3.env)
    whole = worker(whole_uri, tmp_path / "c", s3.env)
    for proc in (rescuer, whole):
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    log = text(s3, f"k/killed/runs/{rid}/log.txt")
    assert log.count("; starting") == 1 and log.count("resuming") == 1 and "resumed after epoch 3" in log, log
    assert s3.keys(f"k/killed/leases/{rid}/") == [f"k/killed/leases/{rid}/0000000{g}.json" for g in (1, 2)]
    resumed, straight = history(s3, "k/killed", rid), history(s3, "k/whole", rid)
    assert resumed.epoch.tolist() == list(range(1, 7))
    pd.testing.assert_frame_equal(resumed, straight, check_exact=True)


@pytest.mark.slow
def test_a_lost_upload_is_retried_and_reported_never_recorded_as_done(tmp_path, monkeypatch):
    """The server stops while the second run trains: each upload is retried, the run is reported
    as not recorded, the bucket never says completed, and the next worker trains it."""
    import ablate.launch.worker as worker_module
    from ablate.launch.worker import NOT_UPLOADED, work
    from ablate.store.remote import Remote

    server = start_server()
    s3 = new_bucket(server, monkeypatch)
    uri = s3.uri("lost", "l")
    ids = queue(uri, ["seed=0,1", "epochs=2", *GRID], tmp_path)
    real_run, calls, notes, results = worker_module.run, [], [], []

    def run_then_lose_the_server(spec, progress=None):
        calls.append(spec.run_dir.name)
        if len(calls) == 2:
            server.stop()  # after the claim and the download: the uploads are what fail
        return real_run(spec, progress)

    monkeypatch.setattr(worker_module, "run", run_then_lose_the_server)
    remote = Remote(uri, on_retry=notes.append, delays=(0.05, 0.05))
    # A short lease: its release cannot reach the stopped server, so the next worker waits it out.
    work(remote, tmp_path / "scratch", lease_seconds=2, on_note=notes.append, on_result=results.append)
    assert [r.status for r in results] == ["completed", NOT_UPLOADED]
    lost = results[1].run_id
    assert any("try 2 of 3" in n for n in notes) and any(f"run {lost}: trained, but not recorded as done" in n
                                                          for n in notes), notes

    server = start_server(s3.port)  # moto keeps its buckets in the process: the same bucket, as left
    try:
        assert json.loads(text(s3, f"lost/l/runs/{lost}/status.json"))["status"] != "completed"
        assert not any(k.endswith(f"{lost}/summary.json") for k in s3.keys("lost/l/"))
        monkeypatch.setattr(worker_module, "run", real_run)
        again = []
        work(Remote(uri), tmp_path / "scratch2", on_result=again.append)
        assert [(r.run_id, r.status) for r in again] == [(lost, "completed")]
        assert sorted(ids) == sorted({r.run_id for r in results})
    finally:
        server.stop()


@pytest.mark.slow
def test_report_load_and_pull_read_the_bucket(cli, s3, tmp_path):
    import ablate

    result = cli("sweep", "act=relu,tanh", "epochs=1", *GRID, "--results", s3.uri("rp"), "--name", "r")
    assert result.exit_code == 0, result.output
    study = ablate.load(s3.uri("rp", "r"))
    assert sorted(study.runs.act) == ["relu", "tanh"] and set(study.runs.status) == {"completed"}
    read = {p.name for p in Path(study.paths[0]).rglob("*") if p.is_file()}
    assert "checkpoint.pt" not in read and "log.txt" not in read  # summaries, never checkpoints

    remote_report = cli("report", s3.uri("rp", "r"), "--format", "csv")
    assert remote_report.exit_code == 0, remote_report.output
    pulled = cli("pull", s3.uri("rp", "r"), str(tmp_path / "copy" / "r"))
    assert pulled.exit_code == 0, pulled.output
    local = {str(p.relative_to(tmp_path / "copy" / "r")) for p in (tmp_path / "copy" / "r").rglob("*") if p.is_file()}
    assert local == {k.removeprefix("rp/r/") for k in s3.keys("rp/r/") if not k.startswith("rp/r/leases/")}
    local_report = cli("report", str(tmp_path / "copy" / "r"), "--format", "csv")
    assert local_report.exit_code == 0 and local_report.output == remote_report.output


def test_train_with_a_uri_says_to_sweep_and_a_dry_run_writes_nothing(cli, s3):
    line = _one_line_exit_2(cli("train", *GRID, "--results", s3.uri("p")))
    assert "ablate worker" in line and "s3://" in line
    dry = cli("sweep", "seed=0,1", *GRID, "--results", s3.uri("p"), "--name", "d", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert s3.keys() == []
