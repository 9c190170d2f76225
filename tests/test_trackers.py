"""Live tracking into the real TensorBoard and MLflow, read back with their own readers."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ablate.config.compose import load_config
from ablate.errors import ConfigError
from ablate.runner.run import run
from ablate.runner.spec import RunSpec
from ablate.track.base import TRACKERS, TrackerKind, require_packages

FAST = ["epochs=2", "device=cpu"]
DIVERGES = ["optim.lr=1e6", "sched=constant", "optim.weight_decay=0"]


def history(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def mlflow_client(sweep_dir: Path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{(sweep_dir / 'mlflow.db').resolve()}")


# -- configuration


def test_tracker_choices_compose_and_are_not_part_of_the_run_id():
    from ablate.runner.identity import run_id

    none = load_config(FAST)
    both = load_config([*FAST, "tracker=[tensorboard,mlflow]", "tracker.mlflow.uri=sqlite:///x.db"])
    assert none.tracker.names == [] and both.tracker.names == ["tensorboard", "mlflow"]
    assert both.tracker.mlflow.uri == "sqlite:///x.db" and both.tracker.tensorboard.histograms
    assert load_config([*FAST, "tracker=tensorboard"]).tracker.names == ["tensorboard"]
    assert run_id(none) == run_id(both)


def test_trackers_send_every_loss_and_accuracy_column_of_the_history():
    """A new history column (test_acc_tta was one) must reach the trackers too."""
    from ablate.store.rundir import HISTORY_COLUMNS
    from ablate.track.base import EPOCH_SCALARS

    scored = {c for c in HISTORY_COLUMNS if "_loss" in c or "_acc" in c} | {"lr"}
    assert set(EPOCH_SCALARS) == scored
    assert len(set(EPOCH_SCALARS.values())) == len(EPOCH_SCALARS)  # one TensorBoard tag each


def test_tracker_run_names_carry_the_factor_levels(tmp_path):
    from ablate.track.base import RunInfo
    from ablate.track.tensorboard import TB_DIR, log_dir

    run_dir = tmp_path / "s" / "runs" / "abc123"
    info = RunInfo("abc123", run_dir, {}, {"norm": "batch", "init.std": "", "aug": "[flip,crop]", "seed": "0"})
    assert info.name == "norm=batch aug=[flip,crop] seed=0 (abc123)"  # init.std applies to another level
    assert log_dir(info) == run_dir / TB_DIR / "norm=batch,aug=[flip,crop],seed=0"
    lone = RunInfo("abc123", run_dir, {}, {})
    assert lone.name == "abc123" and log_dir(lone) == run_dir / TB_DIR
    # A resumed run keeps the folder it began in, though the sweep has since swept more keys.
    began = run_dir / TB_DIR / "norm=batch"
    began.mkdir(parents=True)
    (began / "events.out.tfevents.1.host").write_bytes(b"")
    assert log_dir(info) == began


def test_an_unknown_tracker_is_one_line_with_the_choices(cli):
    result = cli("train", "tracker=tensorbord")
    assert result.exit_code == 2
    assert "unknown tracker 'tensorbord'; did you mean 'tensorboard'?" in result.output


def test_a_missing_tracker_package_names_the_install_that_fixes_it(monkeypatch):
    monkeypatch.setitem(TRACKERS._entries, "absent", TrackerKind(lambda cfg, info: None, "ablate_no_such_package",
                                                                 "absent"))
    require_packages(["tensorboard", "mlflow"])  # installed by the dev extra
    with pytest.raises(ConfigError, match=r'tracker=absent needs the ablate_no_such_package package: '
                                          r'pip install "ablate\[absent\]"'):
        require_packages(["tensorboard", "absent"])


# -- TensorBoard


@pytest.mark.slow
def test_tensorboard_scalars_equal_history_with_histograms_and_hparams(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "s" / "runs" / "r"
    result = run(RunSpec(load_config([*FAST, "tracker=tensorboard"]), run_dir))
    assert result.status == "completed"
    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"histograms": 0, "scalars": 0}).Reload()
    rows = history(run_dir)
    for column, tag in (("val_acc", "acc/val"), ("train_loss", "loss/train"), ("test_acc", "acc/test"), ("lr", "lr")):
        got = [(e.step, e.value) for e in events.Scalars(tag)]
        assert got == [(int(r["epoch"]), pytest.approx(float(r[column]), rel=1e-6)) for r in rows], tag
    histograms = events.Tags()["histograms"]
    assert any(t.startswith("act/") for t in histograms) and any(t.startswith("grad/") for t in histograms)
    assert {e.step for e in events.Histograms(histograms[0])} == {0, 1, 2}  # the diagnostics epochs
    # The HParams plugin's summaries, in the run's own folder.
    assert events.PluginTagToContent("hparams")  # experiment, session start and end summaries
    assert events.Scalars("hparam/test_acc")[0].value == pytest.approx(result.summary["test_acc"])


# -- MLflow


@pytest.mark.slow
def test_mlflow_sweep_is_one_parent_with_a_child_per_run_and_statuses_mapped(cli, tmp_path):
    result = cli("sweep", "optim.lr=0.05,1e6", "sched=constant", "optim.weight_decay=0", *FAST,
                 "tracker=mlflow", "--name", "ml", "--workers", "1")
    assert result.exit_code == 0, result.output
    sweep = tmp_path / "results" / "ml"
    client = mlflow_client(sweep)
    experiment = client.get_experiment_by_name("ml")
    found = client.search_runs([experiment.experiment_id])
    parents = [r for r in found if "ablate.run_id" not in r.data.tags]
    children = [r for r in found if "ablate.run_id" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED" and len(children) == 2
    assert all(c.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for c in children)
    for child in children:
        run_dir = sweep / "runs" / child.data.tags["ablate.run_id"]
        status = json.loads((run_dir / "status.json").read_text())["status"]
        assert child.info.status == {"completed": "FINISHED", "diverged": "FAILED"}[status]
        assert child.data.tags["ablate.status"] == status
        assert child.data.tags["ablate.factor.optim.lr"] in ("0.05", "1e6", "1000000.0")
        lr = child.data.tags["ablate.factor.optim.lr"]
        assert child.info.run_name == f"optim.lr={lr} ({child.data.tags['ablate.run_id']})"  # levels, then the id
        logged = [(m.step, m.value) for m in client.get_metric_history(child.info.run_id, "val_acc")]
        expected = [(int(r["epoch"]), float(r["val_acc"])) for r in history(run_dir)]
        assert [s for s, _ in logged] == [s for s, _ in expected]
        assert all(a == pytest.approx(b) or (math.isnan(a) and math.isnan(b)) for (_, a), (_, b) in zip(logged, expected))
        assert child.data.params["optim.lr"] in ("0.05", "1000000.0")
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"summary.json", "history.csv", "log.txt"} <= artifacts
    assert {c.info.status for c in children} == {"FINISHED", "FAILED"}
    diverged = next(c for c in children if c.info.status == "FAILED")
    assert "loss not finite" in diverged.data.tags["ablate.reason"]


@pytest.mark.slow
def test_a_failing_tracker_never_fails_the_run(tmp_path):
    from ablate.errors import TrackerWarning

    (tmp_path / "a_file").write_text("a file where the store's folder would go")
    bad = f"tracker.mlflow.uri=sqlite:///{tmp_path / 'a_file' / 'x.db'}"
    run_dir = tmp_path / "s" / "runs" / "r"
    with pytest.warns(TrackerWarning, match="tracker mlflow stopped"):
        result = run(RunSpec(load_config([*FAST, "tracker=mlflow", bad]), run_dir))
    assert result.status == "completed" and len(history(run_dir)) == 2
    assert "tracker mlflow stopped" in (run_dir / "log.txt").read_text()


@pytest.mark.slow
def test_mlflow_resume_after_kill_9_logs_no_step_twice(tmp_path):
    args = [sys.executable, "-m", "ablate", "sweep", "--name", "k", "--results", str(tmp_path), "seed=0",
            "epochs=12", "device=cpu", "tracker=mlflow", "--workers", "1"]
    sweep = tmp_path / "k"
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    ready = lambda: [h for h in sweep.glob("runs/*/history.csv") if len(h.read_text().splitlines()) >= 4]  # noqa: E731
    while time.time() < deadline and not ready() and proc.poll() is None:
        time.sleep(0.05)
    assert ready(), "never caught the run mid-training"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    again = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    (run_dir,) = sweep.glob("runs/*")
    assert len(history(run_dir)) == 12
    client = mlflow_client(sweep)
    child = json.loads((run_dir / "mlflow.json").read_text())["run_id"]
    steps = [m.step for m in client.get_metric_history(child, "val_acc")]
    assert sorted(steps) == list(range(1, 13)), steps  # each epoch once, across the kill
    assert client.get_run(child).info.status == "FINISHED"


# -- ablate export


@pytest.mark.slow
def test_export_writes_each_run_once_in_either_tracker(cli, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from ablate.cli.export import TRACKER_NAMES

    assert set(TRACKER_NAMES) == set(TRACKERS)
    assert cli("sweep", "seed=0,1", *FAST, "--name", "ex", "--workers", "1").exit_code == 0
    sweep = tmp_path / "results" / "ex"
    for _ in range(2):
        result = cli("export", "results/ex", "--to", "mlflow")
        assert result.exit_code == 0, result.output
    assert "exported 0 runs to mlflow (2 already there, 0 not finished)" in result.output
    client = mlflow_client(sweep)
    found = client.search_runs([client.get_experiment_by_name("ex").experiment_id])
    children = [r for r in found if "ablate.run_id" in r.data.tags]
    assert len(found) == 3 and len(children) == 2  # one parent, a child per run, after two exports
    for child in children:
        run_dir = sweep / "runs" / child.data.tags["ablate.run_id"]
        logged = [(m.step, m.value) for m in client.get_metric_history(child.info.run_id, "test_acc")]
        assert logged == [(int(r["epoch"]), pytest.approx(float(r["test_acc"]))) for r in history(run_dir)]
        assert any(k.startswith("diag.act_std.") for k in child.data.metrics)  # diagnostics as scalars
        assert child.info.status == "FINISHED"

    assert cli("export", "results/ex", "--to", "tensorboard").exit_code == 0
    again = cli("export", "results/ex", "--to", "tensorboard")
    assert "exported 0 runs to tensorboard (2 already there" in again.output
    for run_dir in sweep.glob("runs/*"):
        (events_file,) = (run_dir / "tb").rglob("events.out.tfevents.*")
        # TensorBoard names a run by its folder: the run's levels, not only its hash.
        seed = json.loads((run_dir / "factors.json").read_text())["seed"]
        assert events_file.parent.name == f"seed={seed}"
        events = EventAccumulator(str(events_file.parent)).Reload()
        assert [e.step for e in events.Scalars("acc/val")] == [1, 2]
        assert any(t.startswith("diag/grad_norm/") for t in events.Tags()["scalars"])


def test_export_mistakes_are_one_line(cli, tmp_path):
    (tmp_path / "results/s/runs").mkdir(parents=True)
    for args, message in ((["results/none", "--to", "mlflow"], "is not a sweep folder"),
                          (["results/none", "--to", "wandb"], "unknown tracker 'wandb'; choices: mlflow, tensorboard"),
                          (["results/none", "--to", "tensorboard", "--uri", "x"], "--uri is for --to mlflow"),
                          (["results/s", "--to", "mlflow", "--uri", "bogus://x"],
                           "MLflow cannot use the tracking URI bogus://x: "),
                          (["results/s"], "missing option '--to'")):
        result = cli("export", *args)
        assert result.exit_code == 2 and message in result.output, result.output
        assert len([line for line in result.output.splitlines() if line.strip()]) == 1
