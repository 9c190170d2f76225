"""A run's CPU thread count follows from the run, so the same run id gives the
same numbers on the same machine however it was launched."""

import json
from pathlib import Path

import pandas as pd
import pytest

from ablate.config.compose import load_config
from ablate.errors import ConfigError
from ablate.launch.local import default_workers
from ablate.runner.identity import run_id
from ablate.train.threads import MAX_AUTO, SMALL_MFLOPS, cpu_threads, forward_mflops


def test_auto_gives_small_networks_one_thread_and_large_ones_the_cores():
    small = load_config([])  # LeNet-5 on 8×8 digits
    large = load_config(["model=resnet", "model.depth=20", "data=synthetic"])  # ~82 MFLOP an image
    assert forward_mflops(small) < SMALL_MFLOPS < forward_mflops(large)
    assert cpu_threads(small, cores=16) == 1
    assert cpu_threads(large, cores=2) == 2 and cpu_threads(large, cores=64) == MAX_AUTO


def test_an_explicit_count_wins_and_bad_ones_are_one_line():
    assert cpu_threads(load_config(["cpu_threads=3"]), cores=2) == 3
    for bad in ("0", "-1", "many", "1.5", "100000"):
        with pytest.raises(ConfigError, match="cpu_threads=.* must be auto or a whole number from 1 to 1024"):
            load_config([f"cpu_threads={bad}"])


def test_the_thread_count_is_not_part_of_the_run_id():
    assert run_id(load_config(["cpu_threads=4"])) == run_id(load_config([]))


def test_default_workers_are_the_cores_over_the_runs_threads(monkeypatch):
    monkeypatch.setattr("ablate.launch.local.usable_cores", lambda: 8)
    assert default_workers(runs=20, gpus=0, runs_per_gpu=1, threads=1) == 8
    assert default_workers(runs=20, gpus=0, runs_per_gpu=1, threads=2) == 4
    assert default_workers(runs=3, gpus=0, runs_per_gpu=1, threads=1) == 3
    assert default_workers(runs=20, gpus=0, runs_per_gpu=1, threads=16) == 1


def history(path: Path) -> pd.DataFrame:
    return pd.read_csv(path).drop(columns=["seconds", "elapsed"])  # wall time differs by design


@pytest.mark.slow
def test_train_and_sweeps_with_one_or_two_workers_give_identical_histories(cli):
    import os

    import torch

    common = ["epochs=5", "device=cpu", "diagnostics=off"]  # old code: epoch 5 differed by 1e-7 in loss
    # `ablate train` from a shell starts with torch's default, a thread per core
    # (conftest pins this process to one); the run must not inherit it.
    torch.set_num_threads(os.cpu_count() or 2)
    try:
        assert cli("train", "-q", *common, "seed=0", "--name", "t").exit_code == 0
    finally:
        torch.set_num_threads(1)
    for workers in ("1", "2"):
        result = cli("sweep", *common, "seed=0,1", "--workers", workers, "--name", f"w{workers}")
        assert result.exit_code == 0, result.output
    trained = next(Path("results/t/runs").iterdir())
    reference = history(trained / "history.csv")
    for folder in ("w1", "w2"):
        run = Path("results") / folder / "runs" / trained.name
        pd.testing.assert_frame_equal(history(run / "history.csv"), reference, check_exact=True)
        assert json.loads((run / "status.json").read_text())["threads"] == 1


@pytest.mark.slow
def test_a_run_resumed_under_another_worker_count_goes_on_exactly_as_it_would_have(cli, tmp_path, monkeypatch):
    import ablate.runner.run as runner
    from ablate.runner.spec import RunSpec

    common = ["epochs=5", "device=cpu", "diagnostics=off", "seed=0"]
    assert cli("train", "-q", *common, "--name", "whole").exit_code == 0
    whole = next(Path("results/whole/runs").iterdir())

    # The same run, stopped by Ctrl-C after its 3rd checkpoint, in this process...
    real_save = runner.checkpoint.save

    def stop_after_third(path, **state):
        real_save(path, **state)
        if state["epoch"] == 3:
            raise KeyboardInterrupt

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(runner.checkpoint, "save", stop_after_third)
        runner.run(RunSpec(load_config(common), Path("results/parts/runs") / whole.name))
    # ...then finished by a sweep with two spawned workers.
    result = cli("sweep", *common[:-1], "seed=0,1", "--workers", "2", "--name", "parts")
    assert result.exit_code == 0, result.output
    resumed = Path("results/parts/runs") / whole.name
    assert "resumed after epoch 3" in (resumed / "log.txt").read_text()
    pd.testing.assert_frame_equal(history(resumed / "history.csv"), history(whole / "history.csv"), check_exact=True)


def test_the_cores_are_those_this_process_may_use(monkeypatch):
    """Under SLURM (--cpus-per-task), taskset or a container's cpuset the
    affinity, not the machine's count, is what runs share."""
    import os

    from ablate.train.threads import usable_cores

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert usable_cores() == 3
    monkeypatch.setattr("ablate.launch.local.usable_cores", usable_cores)
    assert default_workers(runs=20, gpus=0, runs_per_gpu=1, threads=1) == 3


def test_more_threads_than_cores_is_a_note_in_the_run(cli, tmp_path):
    from ablate.train.threads import oversubscribed_note, usable_cores

    assert oversubscribed_note(2, cores=2) is None
    assert "cpu_threads=3 is more than the 2 cores" in oversubscribed_note(3, cores=2)
    threads = usable_cores() + 1
    # The CLI prints a run's warnings as notes (ablate.cli.app.main); in-process they are warnings.
    with pytest.warns(UserWarning, match=f"cpu_threads={threads} is more than the {usable_cores()} cores"):
        result = cli("train", "epochs=1", "device=cpu", "diagnostics=off", f"cpu_threads={threads}", "--name", "o")
    assert result.exit_code == 0, result.output
    log = next(Path(tmp_path).glob("results/o/runs/*/log.txt")).read_text()
    assert f"cpu_threads={threads} is more than" in log


@pytest.mark.parametrize("args, expected", [
    (["seed=0,1", "cpu_threads=2", "--workers", "2"], "--workers 2 × 2 threads a run = 4 threads on 2 cores"),
    (["seed=0,1,2,3", "--workers", "4"], "--workers 4 × 1 thread a run = 4 threads on 2 cores"),
    (["seed=0,1", "--workers", "2"], None),  # one thread each: they fit
    (["seed=0,1", "cpu_threads=2"], None),  # the default workers fit the cores
    (["seed=0", "--workers", "4"], None),  # one run: one worker works
])
def test_workers_whose_threads_outnumber_the_cores_get_a_note(cli, monkeypatch, args, expected):
    monkeypatch.setattr("ablate.train.threads.usable_cores", lambda: 2)
    result = cli("sweep", "device=cpu", *args, "--dry-run")
    assert result.exit_code == 0, result.output
    if expected is None:
        assert "threads on" not in result.output
    else:
        assert f"note: {expected}" in result.output and "its seconds count the waiting" in result.output
