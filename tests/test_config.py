"""Config groups, YAML ↔ registry parity, and the typed config."""


import pytest
import yaml

from ablate.config.compose import compose_dict, group_options, load_config, package_conf_dir
from ablate.schema.run import RunConfig
from ablate.schema.checks import from_mapping
from ablate.cli.list_view import choice_groups
from ablate.runner.identity import run_id

YAML_GROUPS = ["data", "model", "norm", "act", "init", "dropout", "optim", "sched"]


def test_aug_yaml_files_and_registry_are_the_same_set():
    from ablate.data.augment import AUGS

    assert {p.stem for p in (package_conf_dir() / "aug").glob("*.yaml")} == set(AUGS)
    c = load_config(["aug=[flip,crop]", "aug.flip.p=0.25"])
    assert [a.name for a in c.aug] == ["crop", "flip"] and c.aug[1].p == 0.25
    assert load_config([]).aug == ()


@pytest.mark.parametrize("group", YAML_GROUPS)
def test_yaml_files_and_registry_are_the_same_set(group):
    registry, _ = choice_groups()[group]
    files = {p.stem for p in (package_conf_dir() / group).glob("*.yaml")}
    assert files == set(registry)


@pytest.mark.parametrize("group", YAML_GROUPS)
def test_each_yaml_names_itself_and_composes(group):
    for name in group_options(group):
        content = yaml.safe_load((package_conf_dir() / group / f"{name}.yaml").read_text())
        assert content["name"] == name
        # Typed, but not built: datasets that need files on disk are tested elsewhere.
        config = from_mapping(RunConfig, compose_dict([f"{group}={name}"]))
        assert getattr(config, group).name == name


def test_every_experiment_preset_composes():
    for name in group_options("experiment"):
        assert isinstance(load_config([f"experiment={name}"]), RunConfig)


def test_defaults_are_the_contracts():
    c = load_config([])
    assert (c.data.name, c.model.name, c.norm.name, c.norm.placement, c.act.name, c.init.name) == (
        "digits", "lenet5", "none", "before_act", "relu", "default")
    assert (c.dropout.name, c.dropout.p, c.optim.name, c.sched.name, c.eval.tta) == (
        "inverted", 0.0, "sgd", "cosine", "none")
    assert (c.device, c.precision, c.data.preprocess, c.model.pool) == ("auto", "auto", "standardize", "max")


def test_overrides_become_typed_values():
    c = load_config(["optim=adamw", "optim.lr=0.01", "epochs=3", "norm=group", "norm.groups=4",
                     "model=convnet", "act=leaky_relu", "act.slope=0.2"])
    assert c.optim.lr == 0.01 and isinstance(c.optim.lr, float)
    assert c.epochs == 3 and c.norm.groups == 4 and c.act.slope == 0.2
    assert c.optim.betas == (0.9, 0.999)
    with pytest.raises(Exception):
        c.epochs = 4  # frozen


def test_user_config_dir_adds_presets(tmp_path):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text("# @package _global_\nepochs: 7\ndefaults:\n  - override /act: tanh\n")
    c = load_config(["experiment=mine"], config_dir=tmp_path)
    assert c.epochs == 7 and c.act.name == "tanh"


def test_run_id_ignores_device_but_not_results():
    base = load_config([])
    assert run_id(base) == run_id(load_config(["device=cpu", "eval.batch_size=7"]))
    assert run_id(base) != run_id(load_config(["seed=1"]))
    assert run_id(base) != run_id(load_config(["optim.lr=0.01"]))
    assert len(run_id(base)) == 12


def test_config_round_trips_through_a_dict():
    from ablate.schema.checks import from_mapping

    c = load_config(["optim=adam", "sched=step"])
    assert from_mapping(RunConfig, c.to_dict()) == c
    assert compose_dict([])["data"]["name"] == "digits"
