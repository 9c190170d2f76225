"""Launch options and launchers without a cluster: config files, flags, errors,
the sbatch script submitit would submit."""

import dataclasses
import shutil
import sys
from pathlib import Path

import pytest
from helpers.launch import sweep_with

from ablate.config.compose import package_conf_dir
from ablate.config.launch import load_launch_options, split_overrides, with_flags
from ablate.errors import ConfigError
from ablate.launch import LAUNCHERS, launch_options

# ------------------------------------------------------------ config files and overrides

def test_launcher_files_registry_and_engines_agree():
    files = {p.stem for p in (package_conf_dir() / "launcher").glob("*.yaml")}
    assert files == set(LAUNCHERS) == {"local", "slurm", "ray"}
    for name in files:  # every shipped file loads and names its own engine
        assert load_launch_options(name).launcher == name


def test_launcher_is_not_part_of_the_run_config():
    # Where a run executes must never change its id, so no launcher key may reach RunConfig.
    from ablate.config.compose import load_config

    assert "launcher" not in load_config([]).to_dict()


def test_file_values_then_overrides():
    opts = load_launch_options("slurm", ["launcher.slurm_partition=gpu", "launcher.gpus_per_run=2",
                                         "launcher.slurm_extra=[--qos=high,--exclusive]",
                                         "launcher.slurm_account=1234", "launcher.slurm_mem=8G"])
    assert (opts.launcher, opts.slurm_partition, opts.gpus_per_run, opts.slurm_time) == ("slurm", "gpu", 2.0, 60)
    assert opts.slurm_account == "1234"  # an account that looks like a number is still a name
    assert opts.slurm_extra == ("--qos=high", "--exclusive")
    assert opts.sbatch_extra() == {"qos": "high", "exclusive": True}
    assert load_launch_options("ray", ["launcher.gpus_per_run=0.25"]).gpus_per_run == 0.25


def test_a_cluster_file_in_the_users_config_dir(tmp_path):
    (tmp_path / "launcher").mkdir()
    (tmp_path / "launcher" / "mycluster.yaml").write_text(
        "launcher: slurm\nslurm_partition: a100\nslurm_time: 240\nslurm_extra: ['--qos=long']\n")
    opts = load_launch_options("mycluster", ["launcher.slurm_time=30"], config_dir=tmp_path)
    assert (opts.launcher, opts.slurm_partition, opts.slurm_time, opts.slurm_extra) == \
        ("slurm", "a100", 30, ("--qos=long",))


def test_flags_override_the_file_and_none_keeps_it():
    opts = load_launch_options("slurm", ["launcher.slurm_partition=gpu"])
    got = with_flags(opts, slurm_partition=None, slurm_time=15, slurm_extra=["--qos=high"])
    assert (got.slurm_partition, got.slurm_time, got.slurm_extra) == ("gpu", 15, ("--qos=high",))
    with pytest.raises(ConfigError, match="fractions of a GPU need --launcher ray"):
        with_flags(opts, gpus_per_run=0.5)  # the flags are validated like the file


def test_split_overrides_keeps_launcher_values_out_of_the_grid():
    launch, rest = split_overrides(["norm=none,batch", "launcher.slurm_time=5", "seed=0,1"])
    assert launch == ["launcher.slurm_time=5"] and rest == ["norm=none,batch", "seed=0,1"]


@pytest.mark.parametrize("name, overrides, message", [
    ("slurn", [], "unknown launcher 'slurn'; did you mean 'slurm'?"),
    ("slurm", ["launcher.slurm_partiton=gpu"], "unknown key 'launcher.slurm_partiton'; did you mean 'slurm_partition'"),
    ("slurm", ["launcher.gpus_per_run=0.5"], "fractions of a GPU need --launcher ray"),
    ("ray", ["launcher.gpus_per_run=-1"], r"gpus_per_run=-1.0 is out of range"),
    ("slurm", ["launcher.slurm_mem=8 GB"], "a size such as 8G"),
    ("slurm", ["launcher.slurm_extra=[qos=high]"], "sbatch flags written '--key=value'"),
    ("slurm", ["launcher.slurm_time=0"], ">= 1 minute"),
    ("slurm", ["launcher.slurm_max_parallel=0"], "slurm_max_parallel=0 is out of range"),
    ("slurm", ["launcher.cpus_per_run=two"], "cpus_per_run must be"),
    ("slurm", ["slurm_time=5"], "must be written launcher.KEY=VALUE"),
])
def test_bad_values_fail_in_one_line(name, overrides, message):
    with pytest.raises(ConfigError, match=message) as e:
        load_launch_options(name, overrides)
    assert "\n" not in str(e.value)


def test_a_missing_extra_names_the_pip_command(monkeypatch):
    for module, extra in (("submitit", "slurm"), ("ray", "ray")):
        monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
        with pytest.raises(ConfigError, match=rf'pip install "ablate\[{extra}\]"'):
            LAUNCHERS[extra](launch_options(extra), 1, 0)


def test_a_launcher_is_its_module_its_yaml_and_its_options_class(tmp_path, monkeypatch):
    """Registering one entry is all: its YAML is read into its class, launcher.KEY=V
    sets its options, and another launcher's flag names the launchers that have it."""
    from ablate.launch import Launcher
    from ablate.launch.options import ClusterOptions

    @dataclasses.dataclass(frozen=True)
    class QueueOptions(ClusterOptions):
        launcher: str = "queue"
        queue_name: str = "default"

    monkeypatch.setitem(LAUNCHERS._entries, "queue", Launcher(QueueOptions, lambda o, w, g: ("queue", o)))
    (tmp_path / "launcher").mkdir()
    (tmp_path / "launcher" / "queue.yaml").write_text("launcher: queue\nqueue_name: fast\ncpus_per_run: 2\n")
    opts = load_launch_options("queue", ["launcher.queue_name=slow"], config_dir=tmp_path)
    assert (type(opts), opts.queue_name, opts.cpus_per_run) == (QueueOptions, "slow", 2)
    assert LAUNCHERS["queue"](opts, 1, 0) == ("queue", opts)
    assert with_flags(opts, gpus_per_run=1).gpus_per_run == 1  # a flag of every cluster launcher
    with pytest.raises(ConfigError, match=r"--slurm-time 5 is for --launcher slurm, but this sweep runs with "
                                          r"--launcher queue"):
        with_flags(opts, slurm_time=5)
    with pytest.raises(ConfigError, match=r"unknown key 'launcher.slurm_time'.*queue_name"):
        load_launch_options("queue", ["launcher.slurm_time=5"], config_dir=tmp_path)


# ------------------------------------------------------------ local launcher

def test_local_launcher_refuses_an_unwritable_results_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the results folder should go")
    with pytest.raises(ConfigError, match="is not writable"):
        LAUNCHERS["local"](launch_options("local"), 1, 0).check_writable(blocker / "sweep")


def test_local_launcher_runs_specs_and_leaves_no_probe_behind(tmp_path):
    from ablate.sweep.plan import make_plan

    launcher = LAUNCHERS["local"](launch_options("local"), 1, 0)
    sweep_dir = tmp_path / "s"
    launcher.check_writable(sweep_dir)
    assert list(sweep_dir.iterdir()) == []
    counts = sweep_with(launcher, make_plan(["epochs=1", "device=cpu"]), sweep_dir)
    assert counts == {"completed": 1}
    assert (sweep_dir / "runs.csv").exists()


# ------------------------------------------------------------ what SLURM would be asked for

def test_sbatch_script_carries_every_resource(tmp_path, monkeypatch):
    pytest.importorskip("submitit", reason='submitit is not installed (pip install "ablate[slurm]")')
    from submitit.slurm.slurm import _make_sbatch_string

    # No cluster needed: fake the commands submitit and the launcher look for.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("sbatch", "squeue", "scancel", "srun"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 1\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(shutil.which('sh')).parent}")
    opts = launch_options("slurm", slurm_partition="gpu", slurm_account="proj", slurm_time=90,
                         slurm_mem="8G", cpus_per_run=4, gpus_per_run=1, slurm_max_parallel=2,
                         slurm_extra=("--qos=high", "--exclusive"))
    launcher = LAUNCHERS["slurm"](opts, 1, 0)
    executor = launcher._executor(tmp_path / "sweep", 3, "ablate-test", opts.slurm_time)
    script = _make_sbatch_string(command="run", folder=executor.folder, map_count=3, **executor.parameters)
    for line in ("--partition=gpu", "--account=proj", "--time=90", "--mem=8G", "--cpus-per-task=4",
                 "--gpus-per-node=1", "--array=0-2%2", "--qos=high", "#SBATCH --exclusive", "--signal=USR2@90"):
        assert line in script, f"{line} missing from\n{script}"
    assert Path(executor.folder) == tmp_path / "sweep" / "slurm"  # submitit's files default to the sweep's folder


def test_slurm_launcher_without_slurm_commands_says_so(monkeypatch):
    pytest.importorskip("submitit", reason='submitit is not installed (pip install "ablate[slurm]")')
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match="needs SLURM's commands"):
        LAUNCHERS["slurm"](launch_options("slurm"), 1, 0)


def test_options_are_frozen_and_hashable():
    opts = launch_options("slurm", slurm_extra=["--qos=high"])
    assert opts.slurm_extra == ("--qos=high",) and hash(opts)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.slurm_time = 5


def test_workers_refuse_a_main_script_they_cannot_import(monkeypatch):
    """Code piped to `python -` has main '<stdin>': spawned workers would die before
    every run. One clear line instead, before any run; one worker runs in-process."""
    from ablate.launch.local import LocalExecutor

    monkeypatch.setattr(sys.modules["__main__"], "__file__", "<stdin>", raising=False)
    with pytest.raises(ConfigError, match=r"cannot import the main script '<stdin>'.*workers=1"):
        LocalExecutor(workers=2)
    assert LocalExecutor(workers=1).workers == 1
