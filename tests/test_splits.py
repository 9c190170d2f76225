"""Train / val / test splits and training subsets (data.n_train), as issue #12 §5-6 states them."""

from __future__ import annotations

import json
import math

import pytest
import torch

from ablate.schema.checks import from_mapping
from ablate.schema.run import DataConfig, RunConfig
from ablate.data.device import load_data
from ablate.data.registry import check_dataset
from ablate.data.splits import carve, check_subset, nested_order, train_subset
from ablate.data.synthetic import load_synthetic
from ablate.errors import ConfigError
from ablate.store.summary import summarize

CPU = torch.device("cpu")
DIGITS = DataConfig(name="digits", val_fraction=0.2, test_fraction=0.2)


def as_set(idx: torch.Tensor) -> set[int]:
    return set(idx.tolist())


def image_rows(x: torch.Tensor) -> set[bytes]:
    return {bytes(r) for r in x.flatten(1).numpy()}


# -- carving hold-outs


def test_carve_is_stratified_disjoint_and_fixed_by_the_split_seed():
    labels = torch.arange(10).repeat_interleave(100)
    parts = carve(labels, {"test": 0.2, "val": 0.1}, seed=0)
    assert sorted(parts) == ["test", "train", "val"]
    assert as_set(parts["test"]).isdisjoint(as_set(parts["val"])) and as_set(parts["train"]).isdisjoint(
        as_set(parts["test"]) | as_set(parts["val"]))
    assert sum(len(p) for p in parts.values()) == 1000
    assert labels[parts["test"]].bincount().tolist() == [20] * 10
    assert labels[parts["val"]].bincount().tolist() == [10] * 10
    again, other = carve(labels, {"test": 0.2, "val": 0.1}, seed=0), carve(labels, {"test": 0.2, "val": 0.1}, seed=1)
    assert torch.equal(again["val"], parts["val"]) and not torch.equal(other["val"], parts["val"])


def test_the_test_images_do_not_move_when_val_fraction_changes():
    labels = torch.arange(5).repeat_interleave(40)
    small = carve(labels, {"test": 0.2, "val": 0.1}, seed=3)
    large = carve(labels, {"test": 0.2, "val": 0.3}, seed=3)
    assert torch.equal(small["test"], large["test"])
    assert as_set(small["val"]) < as_set(large["val"])


def test_digits_is_sixty_twenty_twenty_and_every_split_has_every_class():
    s = load_data(DIGITS, CPU)
    n = len(s.train_y) + len(s.val_y) + len(s.test_y)
    assert n == 1797
    assert [round(len(y) / n, 2) for y in (s.train_y, s.val_y, s.test_y)] == [0.6, 0.2, 0.2]
    for y in (s.train_y, s.val_y, s.test_y):
        assert y.unique().tolist() == list(range(10))
    # Disjoint as images too (digits holds a few duplicate images, so compare counts of rows).
    assert len(image_rows(s.train_x) & image_rows(s.test_x)) <= 5


def test_synthetic_test_set_is_drawn_like_val_of_its_size_and_independent_of_n_train():
    small = load_synthetic(DataConfig(name="synthetic", size=8, n_train=100, n_val=40))
    large = load_synthetic(DataConfig(name="synthetic", size=8, n_train=300, n_val=40))
    assert small.test_x.shape == small.val_x.shape == (40, 3, 8, 8)
    assert not torch.equal(small.test_x, small.val_x)
    assert torch.equal(small.test_x, large.test_x) and torch.equal(small.test_y, large.test_y)


# -- training subsets


def test_nested_order_prefixes_are_stratified_and_hold_every_class():
    # Imbalanced: class 0 has 500 images, class 9 has 5.
    counts = [500, 300, 200, 100, 80, 60, 40, 20, 10, 5]
    labels = torch.cat([torch.full((c,), k) for k, c in enumerate(counts)])
    order = nested_order(labels, seed=0)
    assert sorted(order.tolist()) == list(range(len(labels)))  # a permutation
    total = len(labels)
    shares = torch.tensor(counts, dtype=torch.float64) / total
    for n in range(10, total + 1):
        held = labels[order[:n]].bincount(minlength=10)
        assert (held >= 1).all(), n  # one of each class, even the rarest
        # Proportional to within one image, plus what the leading image of every
        # class displaces: at most half the classes' worth of each class's share.
        slack = 1 + 0.5 * 10 * shares
        assert ((held - shares * n).abs() <= slack).all(), (n, held.tolist())


def test_subsets_are_nested_fixed_by_split_seed_and_leave_val_and_test_alone():
    loaded = {n: load_data(DataConfig(name="digits", val_fraction=0.2, test_fraction=0.2, n_train=n), CPU)
              for n in (100, 300, None)}
    rows = {n: image_rows(d.train_x) for n, d in loaded.items()}
    assert len(loaded[100].train_y) == 100 and len(loaded[300].train_y) == 300
    assert rows[100] <= rows[300] <= rows[None]  # nested: the 100 images are among the 300
    assert loaded[100].train_y.unique().tolist() == list(range(10))
    for d in (loaded[100], loaded[300]):
        assert torch.equal(d.val_x, loaded[None].val_x) and torch.equal(d.test_y, loaded[None].test_y)
    other = load_data(DataConfig(name="digits", val_fraction=0.2, test_fraction=0.2, n_train=100, split_seed=1), CPU)
    assert image_rows(other.train_x) != rows[100]


def test_a_fraction_is_of_the_training_split():
    whole = len(load_data(DIGITS, CPU).train_y)
    half = load_data(DataConfig(name="digits", val_fraction=0.2, test_fraction=0.2, n_train=0.5), CPU)
    assert len(half.train_y) == round(0.5 * whole)


@pytest.mark.parametrize("value, accepted", [
    (None, None), (100, 100), (0.25, 0.25), (1.0, None), (1, 1),
    (0, ConfigError), (-3, ConfigError), (1.5, ConfigError), (0.0, ConfigError), (True, ConfigError),
    ("many", ConfigError),
])
def test_n_train_values(value, accepted):
    if accepted is ConfigError:
        with pytest.raises(ConfigError, match=r"data.n_train=.* is out of range"):
            from_mapping(DataConfig, {"n_train": value}, "data")
    else:
        assert from_mapping(DataConfig, {"n_train": value}, "data").n_train == accepted


def test_subset_size_is_checked_against_the_split_before_any_run():
    check_dataset(DataConfig(name="digits", val_fraction=0.2, test_fraction=0.2, n_train=1000))
    with pytest.raises(ConfigError, match="holds 1079 images; must be between 10 and 1079"):
        check_dataset(DataConfig(name="digits", val_fraction=0.2, test_fraction=0.2, n_train=1080))
    with pytest.raises(ConfigError, match="cannot hold one of each of the 10 classes"):
        check_dataset(DataConfig(name="digits", val_fraction=0.2, test_fraction=0.2, n_train=9))
    with pytest.raises(ConfigError, match="cannot hold one of each"):
        check_subset(0.001, 1079, 10)
    with pytest.raises(ConfigError, match="data=synthetic: it is how many training images to generate"):
        check_dataset(DataConfig(name="synthetic", n_train=0.5))


def test_train_subset_without_n_train_is_the_split_itself():
    s = load_synthetic(DataConfig(name="synthetic", size=8, n_train=50, n_val=10))
    assert train_subset(s, None, 0) is s


# -- scores without selection bias


def history(val: list[float], test: list[float]) -> list[dict]:
    return [{"epoch": e, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": v, "test_acc": t,
             "elapsed": float(e)} for e, (v, t) in enumerate(zip(val, test), start=1)]


def test_test_acc_is_read_at_the_best_val_epoch_not_its_own_maximum():
    s = summarize(history(val=[0.5, 0.9, 0.8], test=[0.6, 0.85, 0.95]), None)
    assert s["best_val_acc"] == 0.9 and s["best_epoch"] == 2
    assert s["test_acc"] == 0.85  # not 0.95: the test split chooses nothing
    assert s["final_test_acc"] == 0.95 and s["final_val_acc"] == 0.8


def test_a_nan_val_epoch_is_never_the_best_one():
    s = summarize(history(val=[0.4, math.nan, 0.7], test=[0.3, 0.99, 0.6]), None)
    assert s["best_epoch"] == 3 and s["test_acc"] == 0.6


@pytest.mark.slow
def test_a_run_records_test_every_epoch_and_its_format(cli, tmp_path):
    result = cli("train", "epochs=3", "device=cpu", "-q")
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "results" / "train" / "runs").iterdir()
    header = (run / "history.csv").read_text().splitlines()[0].split(",")
    assert {"val_acc", "test_loss", "test_acc"} <= set(header)
    summary = json.loads((run / "summary.json").read_text())
    assert 0 <= summary["test_acc"] <= 1 and 0 <= summary["final_test_acc"] <= 1
    assert json.loads((run / "status.json").read_text())["results_format"] == 2
    assert "results_format: 2" in (run / "config.yaml").read_text()


def test_the_results_format_is_part_of_the_run_id(monkeypatch):
    from ablate.runner import identity
    from ablate.schema import identity as tree

    config = RunConfig()
    before = identity.run_id(config)
    monkeypatch.setattr(tree, "RESULTS_FORMAT", 99)
    assert identity.run_id(config) != before


def test_a_sweep_over_n_train_notes_the_steps_each_size_takes():
    from ablate.sweep.plan import confounds, make_plan

    plan = make_plan(["data.n_train=100,1000", "epochs=3", "batch_size=50"])
    (note,) = [n for n in confounds(plan) if n.startswith("data.n_train")]
    assert "100 images: 6 steps, 1000 images: 60 steps" in note  # 100 // 50 × 3, 1000 // 50 × 3
    assert not [n for n in confounds(make_plan(["seed=0,1"])) if "data.n_train" in n]


def test_a_subset_too_large_for_digits_fails_the_command_before_any_run(cli, tmp_path):
    result = cli("sweep", "data.n_train=100,5000", "epochs=1", "--name", "big")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "data.n_train=5000 is out of range: the training split holds 1079" in lines[0]
    assert not (tmp_path / "results" / "big" / "runs").exists()


def test_test_acc_with_tta_is_read_at_the_best_val_with_tta_epoch():
    rows = history(val=[0.5, 0.9, 0.8], test=[0.6, 0.85, 0.95])
    for row, (v, t) in zip(rows, [(0.55, 0.5), (0.7, 0.65), (0.92, 0.9)]):
        row["val_acc_tta"], row["test_acc_tta"] = v, t
    s = summarize(rows, None)
    assert s["best_val_acc_tta"] == 0.92 and s["test_acc_tta"] == 0.9
    assert summarize(history(val=[0.5], test=[0.6]), None)["test_acc_tta"] is None
