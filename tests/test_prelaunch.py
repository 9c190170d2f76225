"""Checked before launching, not after: missing data, huge grids, unwritable
places, bad folder names, broken YAML, repeated keys. Each is one line, exit 2,
and nothing written; and what a user sees while runs go is printed as written."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ablate.store.lock import current_status, run_lock
from ablate.store.rundir import RunDir


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert message.startswith("error:") and len(message.splitlines()) == 1, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


@pytest.mark.parametrize("command", [
    ["train", "-q", "data=cifar10", "data.root=nowhere"],
    ["sweep", "data=cifar10", "data.root=nowhere", "seed=0,1,2"],
])
def test_missing_data_fails_the_command_before_any_run(cli, tmp_path, command):
    one_line_error(cli(*command), "CIFAR-10 not found in nowhere/cifar-10-batches-py", "data.download=true")
    assert not (tmp_path / "results").exists()


def test_a_huge_grid_is_refused_from_its_size_alone(cli, tmp_path):
    started = time.perf_counter()
    one_line_error(cli("sweep", "seed=range(0,1000000)", "--dry-run"), "1,000,000 cells", "--max-cells 100,000")
    assert time.perf_counter() - started < 30  # counted, never expanded cell by cell
    assert cli("sweep", "seed=0,1,2", "--max-cells", "2", "--dry-run").exit_code == 2
    assert cli("sweep", "seed=0,1", "--max-cells", "2", "--dry-run").exit_code == 0


@pytest.mark.parametrize("name", ["../../escape", "/abs/path", "", ".", "..", "a/b", "x" * 121, "-dash", ".hidden"])
@pytest.mark.parametrize("command", ["train", "sweep"])
def test_a_name_is_one_safe_folder_name(cli, tmp_path, command, name):
    # An empty one is usually an unset shell variable, and said so.
    one_line_error(cli(command, "epochs=1", "--name", name), "--name", "one folder name" if name else "empty argument")
    assert not (tmp_path / "results").exists() and not (tmp_path.parent / "escape").exists()


def test_good_names_still_work(cli):
    assert cli("sweep", "seed=0,1", "--name", "lr=0.1,bs-64_v2.a", "--dry-run").exit_code == 0


@pytest.mark.parametrize("where", ["/proc/ablate-test", "a_file/below"])
def test_train_into_an_unwritable_place_is_one_line(cli, tmp_path, where):
    (tmp_path / "a_file").write_text("a file, not a folder")
    one_line_error(cli("train", "-q", "epochs=1", "--results", where), "is not writable")


def test_report_out_onto_an_unwritable_place_fails_before_printing(cli, tmp_path):
    assert cli("sweep", "seed=0,1", "epochs=1", "device=cpu", "--workers", "1", "--name", "s").exit_code == 0
    (tmp_path / "a_file").write_text("a file, not a folder")
    result = cli("report", "results/s", "--out", "a_file/report")
    one_line_error(result, "is not writable")
    assert "test acc" not in result.output


def test_broken_yaml_in_a_config_dir_names_file_line_and_column(cli, tmp_path):
    (tmp_path / "mine" / "experiment").mkdir(parents=True)
    broken = tmp_path / "mine" / "experiment" / "broken.yaml"
    broken.write_text("# @package _global_\nepochs: [1,\n")
    for command in ("train", "sweep"):
        one_line_error(cli(command, "--config-dir", "mine", "experiment=broken"),
                       f"invalid YAML in {broken}, line 3, column 1")
    # Not chosen, it is still found: `ablate list` would otherwise leave the choice out without a word.
    for command in (["train", "epochs=1"], ["sweep", "seed=0,1"], ["list"], ["list", "experiment"]):
        one_line_error(cli(*command, "--config-dir", "mine"), f"invalid YAML in {broken}, line 3, column 1")
    # What is not a config group is not checked: hidden folders, and files of several documents parse.
    broken.unlink()
    (tmp_path / "mine" / ".github").mkdir()
    (tmp_path / "mine" / ".github" / "ci.yaml").write_text("on: [push\n")
    (tmp_path / "mine" / "notes.yaml").write_text("a: 1\n---\nb: 2\n")
    assert cli("list", "norm", "--config-dir", "mine").exit_code == 0


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_a_key_given_twice_is_refused(cli, command):
    one_line_error(cli(command, "epochs=1", "epochs=2"), "'epochs' is given twice (epochs=1 and epochs=2)")


def test_list_levels_print_as_written_in_the_plan_and_the_log(cli):
    plan = cli("sweep", "aug=[],[flip]", "epochs=1", "--dry-run")
    assert plan.exit_code == 0 and "[flip]" in plan.output and "[]" in plan.output
    ran = cli("sweep", "aug=[],[flip]", "epochs=1", "device=cpu", "--workers", "1")
    assert ran.exit_code == 0 and "aug=[flip]: completed" in ran.output


def test_a_run_whose_process_died_shows_as_interrupted(tmp_path):
    run = RunDir(tmp_path / "r")
    run.write_status("running")
    assert current_status(run.path) == "interrupted"  # nobody holds its lock
    with run_lock(run.path):
        assert current_status(run.path) == "running"  # a live process holds it
    run.write_status("running")
    record = run.read_status()
    record["host"] = "another-node"  # SLURM or Ray: the pid lives on that node
    run.status_file.write_text(__import__("json").dumps(record))
    assert socket.gethostname() != "another-node" and current_status(run.path) == "running"


@pytest.mark.slow
def test_ctrl_c_on_train_says_where_it_stopped_and_how_to_resume(tmp_path):
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "ablate", "train", "-q", "epochs=400", "device=cpu",
                             "diagnostics=off"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    deadline = time.time() + 120
    while not list(tmp_path.glob("results/train/runs/*/checkpoint.pt")) and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted after epoch" in stderr and "run the same command again to resume" in stderr
    assert "Traceback" not in stderr
    run = next(Path(tmp_path).glob("results/train/runs/*"))
    assert RunDir(run).read_status()["status"] == "interrupted"


@pytest.mark.slow
def test_sigterm_on_a_sweep_stops_it_as_ctrl_c_does(tmp_path):
    """`kill`, `timeout` and `docker stop` send SIGTERM to the sweep's process alone:
    its workers are stopped, every run records `interrupted` and the tables are written."""
    import csv

    proc = subprocess.Popen([sys.executable, "-m", "ablate", "sweep", "norm=none,batch", "epochs=400", "device=cpu",
                             "diagnostics=off", "--workers", "2", "--name", "t"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Both runs mid-training (a worker still starting has no run to record: it stays queued).
    deadline = time.time() + 120
    while len(list(tmp_path.glob("results/t/runs/*/checkpoint.pt"))) < 2 and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted; run the same command again to resume" in stderr and "Traceback" not in stderr
    runs = list(tmp_path.glob("results/t/runs/*"))
    assert len(runs) == 2 and {RunDir(r).read_status()["status"] for r in runs} == {"interrupted"}
    with open(tmp_path / "results/t/runs.csv") as f:
        assert {row["status"] for row in csv.DictReader(f)} == {"interrupted"}


def test_a_home_path_says_how_to_write_it(cli):
    one_line_error(cli("train", "-q", "data=cifar10", "data.root=~/data"),
                   "cannot parse override", """needs quotes ('data.root="~/data"') or $HOME""")


def test_allowed_but_pointless_settings_get_a_note(cli):
    result = cli("train", "-q", "eval.tta=ten_crop", "epochs=1", "device=cpu", "diagnostics=off")
    assert result.exit_code == 0
    assert "note: eval.tta=ten_crop on 8×8 images shifts its views by 1 pixel" in result.output
    planned = cli("sweep", "sched.warmup_epochs=5", "epochs=1,10", "--dry-run")
    assert planned.exit_code == 0 and planned.output.count("note: sched.warmup_epochs=5") == 1, planned.output
    assert "is not shorter than epochs=1: the learning rate does not reach optim.lr" in planned.output


def test_a_batch_larger_than_the_split_is_noted_in_the_log(tmp_path):
    import warnings

    from ablate.config.compose import load_config
    from ablate.runner.run import run
    from ablate.runner.spec import RunSpec

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(RunSpec(load_config(["batch_size=4096", "epochs=1", "device=cpu", "diagnostics=off"]),
                             tmp_path / "r"))
    assert result.status == "completed"
    message = "batch_size=4096 is larger than the 1079 training images"
    assert any(message in str(w.message) for w in caught)
    assert message in (tmp_path / "r" / "log.txt").read_text()


def test_an_offline_download_says_why_and_where_the_files_go(cli, monkeypatch):
    import torchvision.datasets

    def offline(self):  # torchvision's own message: a first line, then one block per mirror tried
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://mirror/, got:\n"
                           "<urlopen error [Errno -2] Name or service not known>\n")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    one_line_error(cli("train", "-q", "data=mnist", "data.download=true", "data.root=d"),
                   "downloading MNIST into d failed", "Name or service not known",
                   "put train-images-idx3-ubyte", "into d/MNIST/raw by hand")
