"""Every bad input is one clear line, exit code 2, and nothing written."""

from pathlib import Path

import pytest

CASES = [
    (["norm=grop"], ["unknown norm 'grop'", "did you mean 'group'", "batch", "instance"]),
    (["act=rellu"], ["unknown act 'rellu'", "did you mean 'relu'"]),
    (["act=Relu"], ["unknown act 'Relu'", "did you mean 'relu'?"]),  # the same name in another case, not 'elu'
    (["act=ReLu"], ["unknown act 'ReLu'", "did you mean 'relu'?"]),
    (["lr=0.1"], ["unknown key 'lr'", "did you mean 'optim.lr'?"]),  # the key is there, one group down
    (["model.lr=0.1"], ["unknown key 'model.lr'", "did you mean 'optim.lr'?"]),
    (["model=resnt"], ["unknown model 'resnt'", "did you mean 'resnet'"]),
    (["foo=1"], ["unknown key 'foo'"]),
    (["model.depth=3"], ["unknown key 'model.depth'", "lenet5", "pool"]),
    (["optim.lrr=0.1"], ["unknown key 'optim.lrr'", "did you mean 'lr'"]),
    (["+optim.foo=1"], ["unknown key 'optim.foo'"]),
    (["epochs=abc"], ["epochs must be an integer", "'abc'"]),
    (["optim.lr=fast"], ["optim.lr must be a number"]),
    (["dropout.p=1.5"], ["dropout.p=1.5", "[0, 1)"]),
    (["optim.lr=-1"], ["optim.lr=-1", "> 0"]),
    (["epochs=0"], ["epochs=0", ">= 1"]),
    (["seed=99999999999999999999"], ["seed=99999999999999999999", "(2**32)"]),
    (["norm=group", "norm.groups=4"], ["norm.groups=4", "6 channels"]),
    (["model=resnet", "model.depth=10"], ["model.depth=10", "6n+2"]),
    (["norm.placement=middle"], ["unknown norm.placement 'middle'", "after_act", "before_act"]),
    (["model.pool=min"], ["unknown model.pool 'min'", "avg", "max"]),
    (["data.preprocess=whiten"], ["unknown data.preprocess 'whiten'", "standardize"]),
    (["device=tpu"], ["unknown device 'tpu'"]),
    (["precision=fp8"], ["unknown precision 'fp8'"]),
    (["norm=batch,group"], ["is a sweep", "ablate sweep"]),
    (["norm="], ["norm"]),
    (["experiment=nope"], ["unknown experiment 'nope'"]),
    (["memory_format=nhwc"], ["unknown memory_format 'nhwc'", "channels_last", "contiguous"]),
    (["results=out"], ["'results=out' is not a config key", "write --results out"]),
    (["norm=null"], ["'norm=null'", "norm needs a choice", "ablate list norm"]),
    (["~epochs"], ["'~epochs' deletes a key", "every key has a default"]),
    (["~norm"], ["'~norm' deletes a key"]),
    (["hydra.job.chdir=true"], ["'hydra.job.chdir=true' sets Hydra's own config"]),
    (["optim.lr=1e999"], ["optim.lr must be a finite number, got inf"]),
    (["target_acc=nan"], ["target_acc must be a finite number, got nan"]),
    (["cpu_threads=100000"], ["cpu_threads=100000", "from 1 to 1024"]),
    (["norm='batch"], ["cannot parse override 'norm='batch'", "unclosed quote"]),
    (["norm"], ["cannot parse override 'norm': expected key=value"]),
    (["+epochs=3"], ["'+epochs=3' adds a key (+), but epochs is already there", "without the +"]),
    (["epochs=${epochs}"], ["Recursive interpolation", "(in epochs=${epochs})"]),
    (["fresh=true"], ["write --fresh"]),
]


@pytest.mark.parametrize("args,expected", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_clear_line(cli, tmp_path, args, expected):
    result = cli("train", "-q", *args)
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert message.startswith("error:")
    assert "Traceback" not in message
    assert len(message.splitlines()) == 1, message
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert not (Path(tmp_path) / "results").exists(), "a rejected command must not write results"


USAGE_CASES = [
    (["train", "--results", ""], ["empty argument after --results", "unset shell variable"]),
    (["train", "--config-dir="], ["--config-dir is given an empty value"]),
    (["sweep", "--workers", "99999999999999999999", "seed=0,1"], ["--workers 99999999999999999999", "1024"]),
    (["sweep", "seed=range(0,3,0)"], ["cannot expand 'seed=range(0,3,0)'", "must not be zero"]),
    (["sweep", "aug=[],[flip"], ["cannot parse override 'aug=[],[flip'"]),
    (["sweep", "hydra.sweeper.params.norm=none,batch"], ["sets Hydra's own config", "key=a,b"]),
    (["sweep", "experiment=bn_lr,zero_init", "--dry-run"], ["preset bn_lr has a grid of its own",
                                                           "ablate sweep experiment=bn_lr"]),
    (["sweep", "seed=0,1", "--slurm-partition", "gpu"], ["--slurm-partition gpu is for --launcher slurm",
                                                        "runs with --launcher local"]),
    (["sweep", "seed=0,1", "--ray-address", "auto"], ["--ray-address auto is for --launcher ray"]),
    (["sweep", "seed=0,1", "--cpus-per-run", "2"], ["--cpus-per-run 2 is for --launcher slurm or ray"]),
    (["report", "--confidence", "1.5", "."], ["--confidence 1.5", "0.999", "(ablate report -h)"]),
    (["report", "--confidence=abc", "."], ["--confidence abc", "valid"]),
    (["sweep", "--workers", "0", "seed=0,1"], ["--workers 0:", "1", "(ablate sweep -h)"]),
    (["sweep", "--bogus"], ["no such option: --bogus", "(ablate sweep -h)"]),
    (["trian"], ["no such command 'trian'", "did you mean 'train'", "(ablate -h)"]),
    (["list", "norm", "act"], ["unexpected extra argument", "act"]),
    (["sweep", "--workers"], ["'--workers' requires an argument"]),
]


@pytest.mark.parametrize("args,expected", USAGE_CASES, ids=[" ".join(a) for a, _ in USAGE_CASES])
def test_a_command_line_mistake_is_one_line_naming_the_value(cli, tmp_path, args, expected):
    """Options Typer itself checks (ranges, types, names) get ablate's one
    `error:` line too, not a usage line, a hint and a box."""
    result = cli(*args)
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert message.startswith("error:") and len(message.splitlines()) == 1, message
    for fragment in expected:
        assert fragment.lower() in message.lower(), f"{fragment!r} not in {message!r}"
    assert not (Path(tmp_path) / "results").exists()


def test_the_installed_command_prints_the_same_one_line(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "ablate", "report", "--bootstrap", "-5", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --bootstrap -5: "), done.stderr
    assert lines[0].endswith("(python -m ablate report -h)"), done.stderr


@pytest.mark.parametrize("args, expected", [
    (["workers=2", "seed=0,1"], "write --workers 2"),
    (["dry_run=true"], "write --dry-run"),
    (["slurm_partition=gpu"], "write --slurm-partition gpu"),
])
def test_a_sweep_option_written_as_an_override_says_so(cli, tmp_path, args, expected):
    result = cli("sweep", *args)
    assert result.exit_code == 2 and expected in result.output, result.output
    assert not (Path(tmp_path) / "results").exists()


@pytest.mark.parametrize("command", [["train", "-q"], ["sweep", "norm=none,batch"]])
def test_cuda_without_a_gpu_is_a_clear_error(cli, tmp_path, command):
    """A local sweep checks the devices its runs ask for before any run, as
    train does (a cluster's nodes have their own: ablate.config.launch)."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = cli(*command, "device=cuda", "epochs=1")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert "device=cuda but this machine has no CUDA device" in result.output
    assert not (Path(tmp_path) / "results").exists()


def test_list_unknown_group(cli):
    result = cli("list", "nrom")
    assert result.exit_code == 2 and "did you mean 'norm'" in result.output


def test_help_and_version(cli):
    assert cli("-h").exit_code == 0
    assert "Train one model" in cli("train", "--help").output
    version = cli("--version")
    assert version.exit_code == 0 and "ablate" in version.output


def test_list_prints_every_choice_of_every_group(cli):
    from ablate.cli.list_view import choice_groups

    result = cli("list")
    assert result.exit_code == 0
    for group, (registry, _) in choice_groups().items():
        assert group in result.output
        for name in registry:
            assert name in result.output, f"{group}: {name} missing from `ablate list`"
    for name in ("diagnostics", "launcher", "experiment", "bn_lr", "slurm", "ray", "off", "tracker", "tensorboard",
                 "mlflow"):
        assert name in result.output
    tracker = cli("list", "tracker")
    assert tracker.exit_code == 0 and "none (default)" in tracker.output and "mlflow" in tracker.output
    one = cli("list", "norm")
    assert "group" in one.output and "relu" not in one.output and "(default)" in one.output
    # DESIGN's top-level choices are groups of their own too.
    device, precision = cli("list", "device"), cli("list", "precision")
    assert device.exit_code == 0 and "auto (default)" in device.output and "cuda:N" in device.output
    assert precision.exit_code == 0 and "auto (default)" in precision.output and "bf16" in precision.output


def test_an_appended_option_the_chosen_level_lacks_is_the_same_error_as_without_plus(cli):
    """`+norm.groups=2` with norm=batch would otherwise be stored (and hashed into
    the run id) while batch norm never reads it."""
    plain = cli("train", "norm=batch", "norm.groups=2", "epochs=1")
    added = cli("train", "norm=batch", "+norm.groups=2", "epochs=1")
    assert plain.exit_code == added.exit_code == 2
    assert "unknown key 'norm.groups' in norm (batch); keys there: eps, momentum, name, placement" in added.output
    assert not Path("results").exists()  # refused before any run folder
