"""Sweeps: grid expansion, identity, failure isolation, resume, tables."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from ablate.sweep.plan import default_name, make_plan
from ablate.store.lock import run_lock
from ablate.store.tables import METRICS

FAST = ["epochs=2", "device=cpu"]


def _grid(*overrides):
    plan = make_plan(list(overrides))
    return [tuple(p.factors.values()) for p in plan.runs], plan


# ------------------------------------------------------------------ grid grammar

def test_comma_lists_multiply():
    cells, plan = _grid("norm=none,batch", "act=relu,tanh,gelu", *FAST)
    assert len(cells) == 6 and plan.factors == ["norm", "act"]
    assert cells[0] == ("none", "relu") and cells[-1] == ("batch", "gelu")
    assert {p.config.norm.name for p in plan.runs} == {"none", "batch"}


def test_range_and_choice():
    cells, plan = _grid("seed=range(0,3)", "act=choice(relu,tanh)", *FAST)
    assert [c[0] for c in cells[::2]] == ["0", "1", "2"]
    assert sorted(p.config.seed for p in plan.runs) == [0, 0, 1, 1, 2, 2]


def test_glob_over_a_group():
    cells, plan = _grid("norm=glob(*)", *FAST)
    assert {c[0] for c in cells} == {"none", "batch", "layer", "instance", "group", "lrn"}
    cells, _ = _grid("init=glob(kaiming_*)", *FAST)
    assert {c[0] for c in cells} == {"kaiming_normal", "kaiming_uniform"}


def test_quoted_list_values_are_one_value_each():
    cells, plan = _grid("optim=adam", "optim.betas=[0.9,0.99],[0.8,0.999]", *FAST)
    assert cells == [("[0.9,0.99]",), ("[0.8,0.999]",)]
    assert [p.config.optim.betas for p in plan.runs] == [(0.9, 0.99), (0.8, 0.999)]


def test_preset_grid_and_command_line_wins():
    _, plan = _grid("experiment=zero_init")
    assert plan.factors == ["init", "norm", "seed"] and len(plan.runs) == 24  # 4 inits × 2 norms × 3 seeds
    assert {p.config.epochs for p in plan.runs} == {10}
    cells, plan = _grid("experiment=zero_init", "seed=7", "norm=batch,layer")
    assert len(plan.runs) == 8 and {p.config.seed for p in plan.runs} == {7}
    assert {p.config.norm.name for p in plan.runs} == {"batch", "layer"}


def test_a_bad_cell_fails_the_whole_plan_at_once():
    from ablate.errors import ConfigError

    with pytest.raises(ConfigError, match=r"dropout.p=1.5.*in grid cell dropout.p=1.5"):
        make_plan(["dropout.p=0.1,0.5,1.5", *FAST])
    with pytest.raises(ConfigError, match="unknown norm 'btach'"):
        make_plan(["norm=none,btach", *FAST])


def test_run_ids_are_stable_and_shared_between_sweeps():
    a = {p.factors["norm"]: p.run_id for p in make_plan(["norm=none,batch", *FAST]).runs}
    b = {p.factors["norm"]: p.run_id for p in make_plan(["norm=batch,group", "device=cpu", "epochs=2"]).runs}
    assert a["batch"] == b["batch"] and a["none"] != a["batch"]
    from ablate.config.compose import load_config
    from ablate.runner.identity import run_id

    assert a["batch"] == run_id(load_config(["norm=batch", "epochs=2", "device=auto"]))


def test_duplicate_cells_collapse_and_names_are_deterministic():
    plan = make_plan(["seed=0,0,1", *FAST])
    assert len(plan.runs) == 2 and plan.duplicates == 1
    assert default_name(["norm"], ["norm=a,b", "x=1"]) == default_name(["norm"], ["x=1", "norm=a,b"])
    assert default_name(["seed"], ["experiment=bn_lr"]).startswith("bn_lr-")


# ------------------------------------------------------------------ running

def _sweep(cli, *args):
    result = cli("sweep", "--name", "s", *args)
    return result, Path("results/s")


def test_sweep_writes_tables_with_documented_columns(cli):
    result, sweep = _sweep(cli, "norm=none,batch", "seed=0,1", *FAST)
    assert result.exit_code == 0, result.output
    assert "4 runs: 4 completed" in result.output
    runs = pd.read_csv(sweep / "runs.csv")
    assert list(runs.columns[:5]) == ["run_id", "sweep", "status", "norm", "seed"]
    assert set(METRICS) | {"device", "precision", "host", "error"} <= set(runs.columns)
    assert (runs.status == "completed").all() and runs.best_val_acc.between(0, 1).all()
    assert runs.test_acc.between(0, 1).all() and (runs.results_format == 2).all()
    assert (runs.device == "cpu").all() and (runs.precision == "fp32").all()  # precision=auto, resolved on CPU
    assert pd.read_parquet(sweep / "runs.parquet").shape == runs.shape
    epochs = pd.read_csv(sweep / "epochs.csv")
    assert list(epochs.columns) == ["run_id", "epoch", "metric", "value"]
    assert len(epochs) == 4 * 2 * 9  # runs × epochs × metrics (train, val and test; no TTA, so no TTA columns)
    meta = yaml.safe_load((sweep / "sweep.yaml").read_text())
    assert meta["factors"] == ["norm", "seed"] and meta["planned"] == 4
    assert meta["grid"] == {"norm": ["none", "batch"], "seed": ["0", "1"]}
    assert {"command", "ablate_version", "git_commit", "started"} <= set(meta)


def test_a_run_that_raises_is_failed_and_the_others_complete(cli, monkeypatch):
    import ablate.runner.run

    real = ablate.runner.run.build_model

    def flaky(model, norm, *args):
        if norm.name == "layer":
            raise RuntimeError("layer norm exploded")
        return real(model, norm, *args)

    monkeypatch.setattr(ablate.runner.run, "build_model", flaky)  # in this process: --workers 1
    result, sweep = _sweep(cli, "--workers", "1", "norm=none,layer,batch", *FAST)
    assert result.exit_code == 0, result.output
    assert "layer norm exploded" in result.output
    assert "3 runs: 2 completed, 1 failed" in result.output
    runs = pd.read_csv(sweep / "runs.csv").set_index("norm")
    assert runs.loc["layer", "status"] == "failed" and "exploded" in runs.loc["layer", "error"]
    assert cli("sweep", "--name", "s", "-w", "1", "--strict", "norm=none,layer,batch", *FAST).exit_code == 1
    monkeypatch.setattr(ablate.runner.run, "build_model", real)
    again = cli("sweep", "--name", "s", "norm=none,layer,batch", *FAST)
    assert "1 failed before" in again.output and "3 runs: 2 completed, 1 failed" in again.output
    retried = cli("sweep", "--name", "s", "--retry-failed", "norm=none,layer,batch", *FAST)
    assert "3 runs: 3 completed" in retried.output


def test_max_failures_stops_launching(cli, monkeypatch):
    import ablate.runner.run

    monkeypatch.setattr(ablate.runner.run, "make_optimizer", lambda *a: 1 / 0)
    result, sweep = _sweep(cli, "-w", "1", "seed=0,1,2,3", "--max-failures", "2", *FAST)  # patched here
    assert "2 failed" in result.output and "2 queued" in result.output
    assert (pd.read_csv(sweep / "runs.csv").status == "queued").sum() == 2


def test_diverged_is_a_result_not_a_failure(cli):
    result, sweep = _sweep(cli, "optim.lr=0.05,1e6", "sched=constant", "optim.weight_decay=0", *FAST)
    assert result.exit_code == 0 and "1 completed, 1 diverged" in result.output
    runs = pd.read_csv(sweep / "runs.csv")
    assert runs.diverged_epoch.notna().sum() == 1


def test_a_run_locked_by_another_sweep_is_not_run_twice(cli):
    plan = make_plan(["seed=0,1", *FAST])
    locked = Path("results/s/runs") / plan.runs[0].run_id
    (locked).mkdir(parents=True)
    (locked / "status.json").write_text(json.dumps({"status": "running"}))
    with run_lock(locked):
        result, sweep = _sweep(cli, "seed=0,1", *FAST)
    assert "1 running in another process" in result.output
    assert not (locked / "history.csv").exists()
    assert (sweep / "runs" / plan.runs[1].run_id / "summary.json").exists()


def test_dry_run_runs_nothing_and_counts_what_is_done(cli):
    _sweep(cli, "seed=0", *FAST)
    result, sweep = _sweep(cli, "seed=0,1,2", "--dry-run", *FAST)
    assert result.exit_code == 0 and "3 runs planned" in result.output and "1 already done" in result.output
    assert len(list((sweep / "runs").iterdir())) == 1


@pytest.mark.slow
def test_two_workers_give_the_same_metrics_as_one(cli):
    one, _ = _sweep(cli, "norm=none,batch", "act=relu,tanh", "epochs=3", "device=cpu", "--workers", "1")
    two = cli("sweep", "--name", "t", "norm=none,batch", "act=relu,tanh", "epochs=3", "device=cpu", "--workers", "2")
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    a = pd.read_csv("results/s/runs.csv").set_index("run_id").sort_index()
    b = pd.read_csv("results/t/runs.csv").set_index("run_id").sort_index()
    assert list(a.index) == list(b.index)
    pd.testing.assert_series_equal(a.final_val_loss, b.final_val_loss, rtol=1e-5)
    pd.testing.assert_series_equal(a.best_val_acc, b.best_val_acc)


@pytest.mark.slow
def test_sigkill_mid_sweep_then_rerun_completes_each_run_exactly_once(tmp_path):
    args = [sys.executable, "-m", "ablate", "sweep", "--name", "k", "--results", str(tmp_path), "seed=0,1,2",
            "epochs=5", "data=synthetic", "data.size=16", "data.n_train=2048", "device=cpu", "--workers", "1"]
    runs_dir = tmp_path / "k" / "runs"
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    victim, before = None, None
    deadline = time.time() + 120
    while time.time() < deadline and victim is None:
        time.sleep(0.05)
        for run in runs_dir.glob("*") if runs_dir.exists() else []:
            status = json.loads((run / "status.json").read_text()) if (run / "status.json").exists() else {}
            history = (run / "history.csv").read_text().splitlines() if (run / "history.csv").exists() else []
            if status.get("status") == "running" and len(history) >= 3 and (run / "checkpoint.pt").exists():
                victim, before = run, history
                break
    assert victim is not None, "never caught a run mid-training"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # The last finished epoch is the checkpoint's: history.csv is written just
    # before it, so a kill between the two leaves history one row ahead.
    killed_at = torch.load(victim / "checkpoint.pt", weights_only=False)["epoch"]
    finished_before = {r.name for r in runs_dir.glob("*") if (r / "summary.json").exists()}

    again = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "3 runs: 3 completed" in again.stderr + again.stdout
    for run in runs_dir.glob("*"):
        log = (run / "log.txt").read_text()
        epochs = [line.split(",")[0] for line in (run / "history.csv").read_text().splitlines()[1:]]
        assert epochs == [str(e) for e in range(1, 6)], f"{run.name}: epochs {epochs}"
        assert log.count("; starting") == 1, f"{run.name} started more than once"
        if run.name in finished_before:
            assert "resuming" not in log
    log = (victim / "log.txt").read_text()
    assert log.count("resuming") == 1 and f"resumed after epoch {killed_at}" in log
    # The epochs finished before the kill are kept as they were, not recomputed.
    after = (victim / "history.csv").read_text().splitlines()
    kept = min(len(before), killed_at + 1)  # header + the checkpointed epochs
    assert killed_at >= 1 and after[:kept] == before[:kept]


def test_augmentation_sets_sweep_as_one_factor():
    cells, plan = _grid("aug=[],[flip],[flip,crop]", *FAST)
    assert cells == [("[]",), ("[flip]",), ("[flip,crop]",)]
    assert [tuple(a.name for a in p.config.aug) for p in plan.runs] == [(), ("flip",), ("crop", "flip")]
    assert len({p.run_id for p in plan.runs}) == 3


def test_gpu_workers_keep_the_parents_visible_devices():
    from ablate.launch.local import gpu_ids

    assert gpu_ids(2, None) == ["0", "1"]
    assert gpu_ids(2, "2,3") == ["2", "3"]  # index 0 in the parent is GPU 2, so worker slot 0 must be "2"
    assert gpu_ids(1, "GPU-8f3a, GPU-77c1") == ["GPU-8f3a"]


@pytest.mark.slow
def test_a_dead_gpu_worker_is_replaced_and_the_sweep_finishes(tmp_path):
    """With GPU slots, the pool that replaces a dead one must hand out slots
    again; if not, its workers wait forever for one."""
    import multiprocessing
    import threading

    from ablate.launch.local import LocalExecutor
    from ablate.runner.spec import RunSpec

    plan = make_plan(["seed=0,1,2,3", "epochs=30", "device=cpu"])
    specs = [RunSpec(p.config, tmp_path / p.run_id) for p in plan.runs]
    killed = []

    def kill_a_worker():
        # The victim is the worker of a run that has written a checkpoint (its
        # pid is in that run's status.json): any pool process could still be
        # starting up, and killing one before its run begins fails no run.
        deadline = time.time() + 120
        mid_run = []
        while time.time() < deadline and not mid_run:
            mid_run = [s for s in specs if (s.run_dir / "checkpoint.pt").exists()]
            time.sleep(0.05)
        workers = {p.pid for p in multiprocessing.active_children()}
        victim = json.loads((mid_run[0].run_dir / "status.json").read_text())["pid"]
        assert victim in workers, (victim, workers)
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)

    results = []
    sweep = threading.Thread(target=lambda: results.extend(LocalExecutor(workers=2, gpus=1).map(specs)), daemon=True)
    killer = threading.Thread(target=kill_a_worker, daemon=True)
    sweep.start()
    killer.start()
    sweep.join(240)
    assert killed, "never caught a worker mid-run"
    assert not sweep.is_alive(), "the replacement pool never ran the remaining runs"
    statuses = sorted(r.status for r in results)
    assert statuses.count("failed") == 1 and statuses.count("completed") >= 3, statuses


@pytest.mark.slow
def test_kill_9_of_a_multi_worker_sweep_stops_its_workers_and_the_rerun_finishes(tmp_path):
    """Workers die with the sweep's process (PR_SET_PDEATHSIG): no orphan keeps
    training and holding a lock, so the same command right after completes all."""
    args = [sys.executable, "-m", "ablate", "sweep", "--name", "k", "--results", str(tmp_path), "seed=0,1,2,3",
            "epochs=30", "device=cpu", "--workers", "2"]
    runs_dir = tmp_path / "k" / "runs"
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(runs_dir.glob("*/checkpoint.pt")):
        time.sleep(0.05)
    assert list(runs_dir.glob("*/checkpoint.pt")), "never caught a run mid-training"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 30  # the orphans get SIGTERM and record their runs as interrupted
    while time.time() < deadline and any(json.loads((r / "status.json").read_text()).get("status") == "running"
                                         for r in runs_dir.glob("*") if (r / "status.json").exists()):
        time.sleep(0.1)
    statuses = {r.name: json.loads((r / "status.json").read_text())["status"] for r in runs_dir.glob("*")}
    assert "running" not in statuses.values(), statuses
    assert "interrupted" in statuses.values(), statuses
    again = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "4 runs: 4 completed" in again.stderr + again.stdout
    for run in runs_dir.glob("*"):
        epochs = [line.split(",")[0] for line in (run / "history.csv").read_text().splitlines()[1:]]
        assert epochs == [str(e) for e in range(1, 31)], f"{run.name}: epochs {epochs}"


def test_a_group_choice_that_drags_other_settings_along_is_named():
    from ablate.sweep.plan import confounds

    notes = confounds(make_plan(["dropout=inverted,classic", *FAST]))
    assert len(notes) == 1 and "dropout.p (inverted: 0.0, classic: 0.5)" in notes[0]
    assert confounds(make_plan(["dropout=inverted,classic", "dropout.p=0.3", *FAST])) == []
    assert confounds(make_plan(["dropout=inverted,classic", "dropout.p=0.1,0.3", *FAST])) == []
    assert confounds(make_plan(["norm=none,batch", "act=relu,tanh", *FAST])) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_worker_whose_parent_is_gone_leaves_and_one_whose_parent_lives_stays():
    # Judged by the sweep's own pid, not "parent is pid 1": in a container the
    # sweep itself may be pid 1.
    code = "import os, sys; from ablate.launch.local import _stop_with_parent; _stop_with_parent({}); print('alive')"
    stays = subprocess.run([sys.executable, "-c", code.format("os.getppid()")], capture_output=True, text=True)
    assert stays.returncode == 0 and "alive" in stays.stdout, stays.stderr
    leaves = subprocess.run([sys.executable, "-c", code.format("os.getppid() + 1")], capture_output=True, text=True)
    assert leaves.returncode == 143 and "alive" not in leaves.stdout


@pytest.mark.parametrize("handler", ["ablate.launch.local:_on_sigterm", "ablate.launch.signals:interrupt_once"])
def test_a_second_sigterm_does_not_cut_short_the_recording_of_the_first(handler):
    """A worker gets SIGTERM more than once when its sweep dies (once per thread of
    the dying parent it is handed to, and scancel's beside the sweep's); the first
    interrupts the run, and a repeat arriving while the run records `interrupted`
    is ignored. The CI flake of the kill -9 test: runs left `running`."""
    module, name = handler.split(":")
    script = f"""
import os, signal, sys, time
import {module} as m
signal.signal(signal.SIGTERM, m.{name})
if hasattr(m, "_active"):
    m._active = True  # a worker inside a run
try:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)
    sys.exit("the first SIGTERM did not interrupt")
except KeyboardInterrupt:
    os.kill(os.getpid(), signal.SIGTERM)  # the repeat, while the run records itself
    time.sleep(0.2)
    print("recorded interrupted")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "recorded interrupted", done.stderr
