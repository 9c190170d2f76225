"""End-to-end `ablate train` runs, as a user types them."""

import json
from pathlib import Path

import pytest


def _summary(tmp_path: Path) -> dict:
    (summary,) = list((tmp_path / "results" / "train" / "runs").glob("*/summary.json"))
    return json.loads(summary.read_text())


@pytest.mark.slow
def test_default_train_reaches_095_on_digits(cli, tmp_path):
    result = cli("train", "-q")
    assert result.exit_code == 0, result.output
    assert "completed" in result.output and "test acc" in result.output and "best val acc" in result.output
    summary = _summary(tmp_path)
    assert summary["best_val_acc"] >= 0.95 and summary["final_val_acc"] >= 0.95 and summary["test_acc"] >= 0.95
    assert summary["epochs_run"] == 30


@pytest.mark.slow
def test_zero_init_without_norm_stays_near_chance(cli, tmp_path):
    """The textbook result: identical units never break symmetry (10 classes → 0.1)."""
    result = cli("train", "-q", "init=zeros", "epochs=10")
    assert result.exit_code == 0, result.output
    assert _summary(tmp_path)["best_val_acc"] < 0.25


@pytest.mark.slow
def test_the_issues_kitchen_sink_command_trains(cli, tmp_path):
    result = cli("train", "-q", "model=convnet", "model.depth=6", "norm=group", "norm.groups=4",
                 "norm.placement=after_act", "act=selu", "init=lecun_normal", "dropout=classic", "dropout.p=0.3",
                 "model.pool=avg", "optim=adamw", "sched=onecycle", "epochs=2")
    assert result.exit_code == 0, result.output
    summary = _summary(tmp_path)
    assert summary["epochs_run"] == 2 and summary["best_val_acc"] > 0.2


@pytest.mark.slow
@pytest.mark.parametrize("model", ["alexnet", "resnet"])
def test_other_models_learn_digits(cli, tmp_path, model):
    result = cli("train", "-q", f"model={model}", "norm=batch", "epochs=3", "model.width=8")
    assert result.exit_code == 0, result.output
    assert _summary(tmp_path)["best_val_acc"] > 0.5


@pytest.mark.slow
def test_synthetic_data_trains(cli, tmp_path):
    result = cli("train", "-q", "data=synthetic", "data.size=16", "data.n_train=1024", "data.n_val=128", "epochs=3")
    assert result.exit_code == 0, result.output
    assert _summary(tmp_path)["best_val_acc"] > 0.5


@pytest.mark.gpu
def test_cuda_bf16_run(cli, tmp_path):
    result = cli("train", "-q", "device=cuda", "epochs=3")
    assert result.exit_code == 0, result.output
    summary = _summary(tmp_path)
    assert summary["precision"] == "bf16" and summary["device"].startswith("cuda")
    assert summary["best_val_acc"] > 0.9


@pytest.mark.slow
def test_augmentation_and_tta_from_the_command_line(cli, tmp_path):
    result = cli("train", "-q", "data=synthetic", "data.size=16", "data.n_train=512", "data.n_val=128",
                 "aug=[flip,crop,mixup]", "aug.crop.padding=2", "eval.tta=ten_crop", "epochs=2")
    assert result.exit_code == 0, result.output
    (history,) = list((tmp_path / "results" / "train" / "runs").glob("*/history.csv"))
    header, *rows = history.read_text().splitlines()
    assert "val_acc_tta" in header.split(",")
    tta = [float(r.split(",")[header.split(",").index("val_acc_tta")]) for r in rows]
    assert len(tta) == 2 and all(0 <= t <= 1 for t in tta)
    assert _summary(tmp_path)["best_val_acc_tta"] == max(tta)
