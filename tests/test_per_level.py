"""An option of one level: `init=kaiming_normal,normal init.std=0.01` applies
`init.std` to the normal runs only, in the plan, the tables and the report."""

from pathlib import Path

import pandas as pd
import pytest
from helpers.report import Run, ramp, write_sweep

from ablate.config.compose import load_config
from ablate.errors import ConfigError
from ablate.report.build import build_report
from ablate.runner.identity import run_id
from ablate.store.tables import NOT_APPLICABLE
from ablate.sweep.plan import make_plan


def test_an_option_of_one_level_applies_to_that_level_only():
    plan = make_plan(["model=convnet", "init=kaiming_normal,normal", "init.std=0.05", "seed=0,1"])
    assert len(plan.runs) == 4
    assert plan.notes == ["init.std applies to init=normal only (not kaiming_normal)"]
    for p in plan.runs:
        if p.factors["init"] == "normal":
            assert p.config.init.std == 0.05 and "init.std=0.05" in p.overrides
        else:  # the run id it would have without the option
            assert "init.std=0.05" not in p.overrides
            assert p.run_id == run_id(load_config(["model=convnet", "init=kaiming_normal", f"seed={p.factors['seed']}"]))


def test_a_swept_option_of_one_level_merges_the_cells_of_the_others():
    plan = make_plan(["model=convnet", "norm=batch,group", "norm.groups=1,2", "seed=0,1"])
    assert len(plan.runs) == 6 and plan.duplicates == 2  # 3 runs per seed: batch once, group twice
    assert plan.notes == ["norm.groups applies to norm=group only (not batch)"]
    batch = [p for p in plan.runs if p.factors["norm"] == "batch"]
    assert [p.factors["norm.groups"] for p in batch] == [NOT_APPLICABLE, NOT_APPLICABLE]
    group = sorted((p.factors["norm.groups"], p.config.norm.groups) for p in plan.runs if p.factors["norm"] == "group")
    assert group == [("1", 1), ("1", 1), ("2", 2), ("2", 2)]


def test_an_option_no_level_has_is_still_an_error():
    with pytest.raises(ConfigError, match=r"unknown key 'init\.sdt'"):
        make_plan(["init=kaiming_normal,normal", "init.sdt=0.01"])


def test_an_option_every_level_has_is_not_per_level():
    plan = make_plan(["norm=batch,group", "norm.eps=0.001"])
    assert plan.notes == [] and all(p.config.norm.eps == 0.001 for p in plan.runs)


def test_a_bad_value_for_the_level_that_has_it_names_the_cell():
    with pytest.raises(ConfigError, match=r"norm\.groups=5 does not divide.*\(in grid cell norm=group\)"):
        make_plan(["model=convnet", "norm=batch,group", "norm.groups=5"])


@pytest.mark.parametrize("order", ["kaiming_normal,normal", "normal,kaiming_normal"])
def test_a_key_no_level_has_is_checked_against_every_level(order):
    """`init.sdt`: the first cell (kaiming_normal: name only) alone has nothing to
    suggest; `normal` has `std`, whichever level comes first."""
    with pytest.raises(ConfigError) as caught:
        make_plan([f"init={order}", "init.sdt=0.01"])
    message = str(caught.value)
    assert message.startswith("unknown key 'init.sdt': no level of init has it; did you mean 'std'?"), message
    assert "kaiming_normal: name" in message and "normal: name, std" in message


def test_ablate_train_still_refuses_an_option_of_another_level():
    with pytest.raises(ConfigError, match=r"unknown key 'init\.std' in init \(kaiming_normal\)"):
        load_config(["init=kaiming_normal", "init.std=0.01"])


def test_a_presets_grid_follows_the_same_rule(tmp_path):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text(
        "# @package _global_\nhydra:\n  sweeper:\n    params:\n"
        "      init: kaiming_normal,normal\n      init.std: 0.01,0.1\n")
    plan = make_plan(["experiment=mine"], config_dir=tmp_path)
    assert sorted((p.factors["init"], p.factors["init.std"]) for p in plan.runs) == [
        ("kaiming_normal", NOT_APPLICABLE), ("normal", "0.01"), ("normal", "0.1")]


def test_the_sweep_writes_an_empty_cell_and_the_cli_notes_it(cli):
    result = cli("sweep", "norm=batch,group", "norm.groups=1,2", "epochs=1", "device=cpu", "--workers", "1",
                 "--name", "g")
    assert result.exit_code == 0, result.output
    assert "norm.groups applies to norm=group only (not batch)" in result.output
    runs = pd.read_csv(Path("results/g/runs.csv"), dtype=str, keep_default_na=False)
    assert len(runs) == 3
    assert runs.loc[runs["norm"] == "batch", "norm.groups"].tolist() == [NOT_APPLICABLE]


def test_the_report_never_makes_not_applicable_a_level(tmp_path):
    runs = [Run({"norm": "batch", "norm.groups": NOT_APPLICABLE, "seed": str(s)}, ramp(0.95 + 0.01 * s))
            for s in range(3)]
    runs += [Run({"norm": "group", "norm.groups": g, "seed": str(s)}, ramp(0.90 + 0.01 * s + 0.02 * int(g)))
             for g in ("1", "2") for s in range(3)]
    report = build_report([write_sweep(tmp_path, "g", runs, keys=["norm", "norm.groups", "seed"])])
    groups = report.marginals["norm.groups"]
    assert groups["norm.groups"].tolist() == ["2", "1"] and groups["runs"].tolist() == [3, 3]
    assert report.marginals["norm"]["runs"].tolist() == [3, 6]
    assert any("norm.groups applies to norm=group only" in n and "3 runs of norm=batch" in n for n in report.notes)
    by = build_report([tmp_path / "g"], by="norm,norm.groups").sections[0].table
    assert set(zip(by["norm"], by["norm.groups"])) == {("group", "1"), ("group", "2")}


def test_each_norm_file_lists_every_option_its_constructor_takes():
    """Whether an option applies to a level is read off the level's file, so the
    file must hold every option the level uses (eps for layer, instance, group)."""
    import inspect

    import yaml

    from ablate.config.compose import package_conf_dir
    from ablate.layers.norm import NORMS

    for name in NORMS:
        keys = set(yaml.safe_load((package_conf_dir() / "norm" / f"{name}.yaml").read_text()))
        takes = set(inspect.signature(NORMS[name]).parameters) - {"channels"}
        assert keys == {"name", "placement"} | takes, name
