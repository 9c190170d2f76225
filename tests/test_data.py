"""Digits and synthetic data, splits, preprocessing, device batches."""

import numpy as np
import pytest
import torch

from ablate.schema.run import DataConfig
from ablate.data.device import load_data
from ablate.data.digits import load_digits
from ablate.data.registry import input_shape
from ablate.data.synthetic import load_synthetic

DIGITS = DataConfig(name="digits", val_fraction=0.2)


def test_digits_are_sklearns_digits():
    from sklearn.datasets import load_digits as sk_load

    bunch = sk_load()
    s = load_digits(DIGITS)
    x = torch.cat([s.train_x, s.val_x, s.test_x]).flatten(1).double()
    y = torch.cat([s.train_y, s.val_y, s.test_y])
    ref = (torch.from_numpy(bunch.data).double() * 255 / 16).round()
    assert x.shape == (1797, 64) and s.train_x.dtype == torch.uint8
    # Same multiset of (image, label) rows: sort both lexicographically and compare.
    ours = np.sort(np.rec.fromarrays(np.column_stack([x.numpy(), y.numpy()]).T))
    theirs = np.sort(np.rec.fromarrays(np.column_stack([ref.numpy(), bunch.target]).T))
    assert (ours == theirs).all()


def test_standardize_uses_training_statistics_only():
    data = load_data(DIGITS, torch.device("cpu"))
    train = data.to_unit(data.train_x)
    assert data.mean.flatten().item() == pytest.approx(train.mean().item(), abs=1e-5)
    assert data.std.flatten().item() == pytest.approx(train.std().item(), rel=1e-4)
    z = data.normalize(train)
    assert z.mean().item() == pytest.approx(0, abs=1e-4) and z.std().item() == pytest.approx(1, rel=1e-3)
    val = data.to_unit(data.val_x)
    assert data.mean.flatten().item() != pytest.approx(val.mean().item(), abs=1e-6)


@pytest.mark.parametrize("mode,centered,scaled", [("center", True, False), ("none", False, False)])
def test_other_preprocessing(mode, centered, scaled):
    data = load_data(DataConfig(name="digits", val_fraction=0.2, preprocess=mode), torch.device("cpu"))
    z = data.normalize(data.to_unit(data.train_x))
    assert (abs(z.mean().item()) < 1e-4) == centered
    assert z.max().item() <= 1.0 + 1e-6 and z.std().item() < 0.5


def test_synthetic_validation_images_do_not_depend_on_the_training_size():
    """A sweep over data.n_train must be scored on one validation set."""
    small = load_synthetic(DataConfig(name="synthetic", size=8, n_train=100, n_val=40))
    large = load_synthetic(DataConfig(name="synthetic", size=8, n_train=300, n_val=40))
    assert torch.equal(small.val_x, large.val_x) and torch.equal(small.val_y, large.val_y)


def test_synthetic_shapes_and_determinism():
    cfg = DataConfig(name="synthetic", channels=3, size=16, classes=5, n_train=100, n_val=40)
    a, b = load_synthetic(cfg), load_synthetic(cfg)
    assert a.train_x.shape == (100, 3, 16, 16) and a.val_x.shape == (40, 3, 16, 16)
    assert a.train_x.dtype == torch.uint8 and int(a.train_y.max()) < 5
    assert torch.equal(a.train_x, b.train_x)
    assert input_shape(cfg).channels == 3 and input_shape(cfg).classes == 5


def test_synthetic_is_learnable_by_nearest_class_mean():
    s = load_synthetic(DataConfig(name="synthetic", size=16, n_train=1000, n_val=300))
    x, v = s.train_x.float().flatten(1), s.val_x.float().flatten(1)
    means = torch.stack([x[s.train_y == c].mean(0) for c in range(10)])
    acc = (torch.cdist(v, means).argmin(1) == s.val_y).float().mean().item()
    assert acc > 0.9


def test_data_size_resizes():
    data = load_data(DataConfig(name="digits", val_fraction=0.2, size=16), torch.device("cpu"))
    assert data.train_x.shape[-2:] == (16, 16) and data.shape.size == 16


def test_train_batches_cover_the_split_without_repeats():
    data = load_data(DIGITS, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    seen = torch.cat([y for _, y in data.train_batches(64, gen)])
    assert len(seen) == (len(data.train_y) // 64) * 64
    batches = list(data.train_batches(64, torch.Generator().manual_seed(0)))
    assert batches[0][0].dtype == torch.uint8 and batches[0][0].shape == (64, 1, 8, 8)


def test_data_that_does_not_fit_streams_from_the_host(monkeypatch):
    """The fallback decision: images stay on the host and batches are the same.
    (On a CPU-only machine host and device coincide, so the per-step copy
    itself is not exercised here; tests/test_gpu_paths.py checks `streaming`.)"""
    import ablate.data.device as device_mod

    monkeypatch.setattr(device_mod, "fits_on_device", lambda nbytes, device, share: (False, f"{nbytes} bytes too big"))
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: self)  # pinning needs a GPU
    data = load_data(DIGITS, torch.device("cpu"))
    assert data.note and "too big" in data.note
    whole = load_data(DIGITS, torch.device("cpu"))
    gen_a, gen_b = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for (xa, ya), (xb, yb) in zip(data.train_batches(64, gen_a), whole.train_batches(64, gen_b)):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_fits_on_device_is_true_off_cuda():
    from ablate.data.device import fits_on_device

    assert fits_on_device(10**12, torch.device("cpu")) == (True, None)
