"""Run ids are user data: pinned, per-level, and stable across upgrades.

A run id hashes the settings that change the result (ablate.schema.identity).
These tests pin the ids of representative configs as main computed them before
each choice owned its options (results format 2), check that an option added to
one level moves no other id, and that a sweep folder made before this change
resumes without training anything again.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import shutil
from pathlib import Path

import pytest
import yaml
from torch import nn

from ablate.config.compose import load_config, package_conf_dir
from ablate.layers.act import ACTS
from ablate.layers.init import INITS
from ablate.layers.norm import NORMS
from ablate.runner.identity import run_id
from ablate.schema.choices import ACT_LEVELS, DROPOUT_LEVELS, INIT_LEVELS, NORM_LEVELS, BatchNormConfig, GroupNormConfig
from ablate.schema.identity import record_id
from ablate.schema.options import added_later
from ablate.store.migrate import migrate, stale_ids

FIXTURE = Path(__file__).parent / "fixtures" / "format2_sweep"

# Computed by main at 8548462, before per-level options: changing one is a new
# RESULTS_FORMAT with a migration note, never an accident.
GOLDEN = [
    ([], "8efe8595827b"),
    (["norm=batch"], "7973d86e4a8d"),
    (["norm=layer"], "ea1bc6d27f4e"),
    (["norm=instance"], "47de95047882"),
    (["norm=group"], "022848f63168"),
    (["norm=lrn"], "22d6c8f5d2b0"),
    (["norm=batch", "norm.momentum=0.01"], "016b33e12dd8"),
    (["norm=batch", "norm.placement=after_act"], "fc7696798e62"),
    (["act=leaky_relu", "act.slope=0.2"], "0c509f784eb8"),
    (["act=tanh"], "06150a9c8a81"),
    (["init=normal", "init.std=0.1"], "f433c2b3272d"),
    (["init=uniform"], "ef96d75fd006"),
    (["init=kaiming_normal"], "53264dce981d"),
    (["dropout=classic", "dropout.p=0.5"], "0e6eff12dade"),
    (["optim=adam", "optim.lr=0.001"], "95966e57dc1f"),
    (["optim.lr_scaling=linear", "batch_size=32"], "0d49b7d46459"),
    (["model=resnet", "model.depth=8", "model.residual=false"], "38c0b1976938"),
    (["data=synthetic", "data.mirror=true"], "97867bcc4961"),
    (["aug=[flip,crop]"], "33416838ae19"),
    (["experiment=bn_lr"], "0dc8af4e5403"),
    (["experiment=init_depth"], "52837a1f3b00"),
]


def ids() -> list[str]:
    return [run_id(load_config(overrides)) for overrides, _ in GOLDEN]


@pytest.mark.parametrize("overrides,expected", GOLDEN, ids=[" ".join(o) or "default" for o, _ in GOLDEN])
def test_golden_run_ids(overrides, expected):
    assert run_id(load_config(overrides)) == expected


def test_the_id_of_a_config_yaml_is_the_id_of_its_config():
    for overrides, expected in GOLDEN[:6]:
        assert record_id(load_config(overrides).to_dict()) == expected


@pytest.fixture
def affine_batch_norm(monkeypatch):
    """batch norm with one more option, as a release would add it."""

    @dataclasses.dataclass(frozen=True)
    class AffineBatchNorm(BatchNormConfig):
        affine: bool = added_later(True)

    def batch(channels: int, eps: float, momentum: float, affine: bool) -> nn.Module:
        return nn.BatchNorm2d(channels, eps=eps, momentum=momentum, affine=affine)

    monkeypatch.setitem(NORM_LEVELS.classes, "batch", AffineBatchNorm)
    monkeypatch.setitem(NORMS._entries, "batch", batch)
    return AffineBatchNorm


def test_an_option_added_later_moves_no_id(affine_batch_norm):
    config = load_config(["norm=batch"])
    assert type(config.norm) is affine_batch_norm and config.to_dict()["norm"]["affine"] is True
    assert ids() == [expected for _, expected in GOLDEN]


def test_an_option_set_away_from_its_default_moves_only_its_levels_runs(affine_batch_norm):
    off = load_config(["norm=batch"]).norm.__class__(affine=False)
    assert record_id({**load_config(["norm=batch"]).to_dict(), "norm": dataclasses.asdict(off)}) != "7973d86e4a8d"


def test_an_option_added_to_one_level_without_the_declaration_moves_that_level_only(monkeypatch):
    """The check can fail: a plain new field is in the id, but only its own level's."""

    @dataclasses.dataclass(frozen=True)
    class WiderGroupNorm(GroupNormConfig):
        affine: bool = True

    def group(channels: int, groups: int, eps: float, affine: bool) -> nn.Module:
        return nn.GroupNorm(groups, channels, eps=eps, affine=affine)

    monkeypatch.setitem(NORM_LEVELS.classes, "group", WiderGroupNorm)
    monkeypatch.setitem(NORMS._entries, "group", group)
    moved = [o for (o, expected), now in zip(GOLDEN, ids()) if now != expected]
    assert moved == [["norm=group"]]


@pytest.mark.parametrize("levels,registry,skip", [(NORM_LEVELS, NORMS, {"channels"}),
                                                  (ACT_LEVELS, {k: v.make for k, v in ACTS.items()}, set()),
                                                  (INIT_LEVELS, INITS, {"w", "gain"})])
def test_each_levels_options_are_its_constructors_arguments(levels, registry, skip):
    for name, make in registry.items():
        params = set(inspect.signature(make).parameters) - skip if make is not None else set()
        assert set(levels.of(name).options()) == params, name


@pytest.mark.parametrize("levels", [NORM_LEVELS, ACT_LEVELS, INIT_LEVELS, DROPOUT_LEVELS])
def test_each_levels_yaml_holds_its_own_options(levels):
    for path in sorted((package_conf_dir() / levels.group).glob("*.yaml")):
        keys = set(yaml.safe_load(path.read_text()) or {})
        fields = {f.name for f in dataclasses.fields(levels.cls(path.stem))}
        assert keys <= fields and fields - keys <= {"placement"}, path.name


def test_a_level_built_without_its_class_is_refused():
    from ablate.schema.choices import NormConfig

    with pytest.raises(TypeError, match="NORM_LEVELS.of"):
        NormConfig(name="batch")


def fixture_copy(tmp_path: Path) -> Path:
    sweep = tmp_path / "results" / "format2"
    shutil.copytree(FIXTURE, sweep)
    return sweep


def test_the_fixture_folders_are_named_by_the_ids_this_version_gives_them():
    assert stale_ids(FIXTURE / "runs") == {}


@pytest.mark.slow
def test_a_sweep_made_before_per_level_options_resumes_without_training(cli, tmp_path):
    sweep = fixture_copy(tmp_path)
    before = {p.name: (p / "summary.json").read_text() for p in (sweep / "runs").iterdir()}
    result = cli("sweep", "norm=batch,group", "act=relu,leaky_relu", "init=default,normal", "epochs=1",
                 "--results", str(tmp_path / "results"), "--name", "format2", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "8 runs: 8 already done" in result.output
    assert {p.name: (p / "summary.json").read_text() for p in (sweep / "runs").iterdir()} == before


def test_a_folder_whose_id_moved_is_moved_and_not_trained_again(cli, tmp_path):
    """norm_placement set norm.groups: 4 on norm=batch runs too, which changed nothing
    and was hashed into their ids; such a folder moves to the id of the same run."""
    sweep = fixture_copy(tmp_path)
    batch = next(p for p in (sweep / "runs").iterdir() if yaml.safe_load((p / "config.yaml").read_text())["norm"]["name"] == "batch")
    config = yaml.safe_load((batch / "config.yaml").read_text())
    config["norm"]["groups"] = 4
    stale = sweep / "runs" / "0123456789ab"
    batch.rename(stale)
    (stale / "config.yaml").write_text(yaml.safe_dump({**config, "run_id": stale.name}, sort_keys=False))
    assert stale_ids(sweep / "runs") == {stale.name: batch.name}

    dry = cli("sweep", "norm=batch,group", "act=relu,leaky_relu", "init=default,normal", "epochs=1",
              "--results", str(tmp_path / "results"), "--name", "format2", "--dry-run")
    assert dry.exit_code == 0 and "1 run folder of" in dry.output and stale.exists()  # a dry run moves nothing

    from ablate.report.build import build_report

    assert any("1 run folder of" in n and "next `ablate sweep`" in n for n in build_report([sweep]).notes)

    moved = migrate(sweep / "runs")
    assert [(m.old, m.new, m.done) for m in moved] == [(stale.name, batch.name, True)]
    record = yaml.safe_load((batch / "config.yaml").read_text())
    assert (record["run_id"], record["moved_from"]) == (batch.name, stale.name)
    assert json.loads((batch / "status.json").read_text())["status"] == "completed"
    assert stale_ids(sweep / "runs") == {} and not stale.exists()
    assert not any("next `ablate sweep`" in n for n in build_report([sweep]).notes)


def test_a_sweep_this_version_ran_is_not_read_again_for_moved_ids(tmp_path):
    from ablate.store.migrate import ID_KEY, ID_SCHEME, unchecked_note

    sweep = fixture_copy(tmp_path)
    batch = next(iter((sweep / "runs").iterdir()))
    batch.rename(sweep / "runs" / "0123456789ab")  # stale, but the record says the folder was checked
    assert unchecked_note(sweep, {ID_KEY: ID_SCHEME}) is None
    assert "hold the id an earlier version gave them" in unchecked_note(sweep, {})
