"""Each file-backed dataset read from small files written in its real format.

No downloads: MNIST-style IDX files (plain and gzipped) under torchvision's
`<root>/<Class>/raw/`, CIFAR pickled batches with their meta files, SVHN
MATLAB files, and PNG folders for imagefolder.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import yaml

from ablate.schema.run import DataConfig
from ablate.schema.checks import from_mapping
from ablate.data import cache, torchvision_sets
from ablate.data.device import load_data
from ablate.data.registry import DATASETS, input_shape
from ablate.errors import ConfigError
from ablate.shapes import InputShape

CONF = Path(__file__).resolve().parents[1] / "conf" / "data"
FILE_SETS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn", "imagefolder")


# ------------------------------------------------------------------ writers


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> None:
    """IDX: 0, 0, type 0x08 (uint8), rank; big-endian uint32 sizes; the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        Path(f"{path}.gz").write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def labels_for(n: int, classes: int, seed: int) -> np.ndarray:
    # Every class present, shuffled, so stratified splits have something to split.
    return np.random.default_rng(seed).permutation(np.arange(n) % classes).astype(np.uint8)


def write_mnist(root: Path, folder: str, n_train=40, n_test=20, gz=False) -> dict:
    rng = np.random.default_rng(0)
    raw = root / folder / "raw"
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = labels_for(n, 10, n)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", x, gz)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", y, gz)
        out[split] = (x, y)
    return out


def write_cifar(root: Path, hundred: bool, per_batch=20, n_test=20, meta_classes=None) -> dict:
    rng = np.random.default_rng(1)
    classes = 100 if hundred else 10
    folder = root / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    folder.mkdir(parents=True)
    names = ["train"] if hundred else [f"data_batch_{i}" for i in range(1, 6)]
    label_key = "fine_labels" if hundred else "labels"
    xs, ys = [], []
    for i, name in enumerate(names + ["test" if hundred else "test_batch"]):
        n = n_test if i == len(names) else (per_batch * (5 if hundred else 1))
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = labels_for(n, classes, i).astype(int).tolist()
        batch = {"batch_label": f"batch {i}", label_key: labels, "data": data,
                 "filenames": [f"img_{j}.png" for j in range(n)]}
        if hundred:
            batch["coarse_labels"] = [l // 5 for l in labels]
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
        xs.append(data)
        ys.append(labels)
    meta_n = meta_classes or classes
    meta = ({"fine_label_names": [f"c{i}" for i in range(meta_n)], "coarse_label_names": [f"s{i}" for i in range(20)]}
            if hundred else {"label_names": [f"c{i}" for i in range(meta_n)], "num_cases_per_batch": per_batch,
                             "num_vis": 3072})
    with open(folder / ("meta" if hundred else "batches.meta"), "wb") as f:
        pickle.dump(meta, f, protocol=2)
    return {"train": (np.concatenate(xs[:-1]), sum(ys[:-1], [])), "test": (xs[-1], ys[-1])}


def write_svhn(root: Path, n_train=30, n_test=12) -> dict:
    rng = np.random.default_rng(2)
    out = {}
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        X = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)  # MATLAB order: H, W, C, N
        digits = labels_for(n, 10, n).astype(np.uint8)
        y = np.where(digits == 0, 10, digits).reshape(n, 1)  # SVHN writes the digit 0 as label 10
        scipy.io.savemat(root / f"{split}_32x32.mat", {"X": X, "y": y})
        out[split] = (X, digits)
    return out


def write_png_folder(root: Path, classes=("cat", "dog", "emu"), per_class=4, val=True) -> None:
    from PIL import Image

    for split in ("train", "val") if val else ("train",):
        for k, name in enumerate(classes):
            d = root / split / name
            d.mkdir(parents=True)
            for i in range(per_class):
                # A flat colour per class, different sizes and aspect ratios per image.
                colour = (40 * k + 10, 200 - 50 * k, 30 + i)
                Image.new("RGB", (30 + 7 * i, 20 + 5 * i), colour).save(d / f"{i}.png")
            (d / "notes.txt").write_text("not an image")  # ignored by extension


def cfg(name: str, root: Path, **kw) -> DataConfig:
    return DataConfig(name=name, root=str(root), **kw)


def rows(x) -> list[bytes]:
    """Images as a sorted list of their bytes: compares splits as multisets."""
    x = x.numpy() if isinstance(x, torch.Tensor) else x
    return sorted(bytes(r) for r in np.ascontiguousarray(x).reshape(len(x), -1))


# --------------------------------------------------------- torchvision sets


@pytest.mark.parametrize("name, folder, gz", [("mnist", "MNIST", False), ("fashion_mnist", "FashionMNIST", True)])
def test_mnist_idx_files_load_exactly(tmp_path, name, folder, gz):
    written = write_mnist(tmp_path, folder, gz=gz)
    s = DATASETS[name].load(cfg(name, tmp_path, val_fraction=0.25))
    assert s.train_x.dtype == torch.uint8 and s.train_x.shape == (30, 1, 28, 28) and s.val_x.shape == (10, 1, 28, 28)
    # Train and val are the training file's images, split; in file order within each.
    assert rows(torch.cat([s.train_x, s.val_x])[:, 0]) == rows(written["train"][0])
    keep = [i for i, r in enumerate(written["train"][0]) if bytes(r.tobytes()) in set(rows(s.train_x[:, 0]))]
    assert torch.equal(s.train_x[:, 0], torch.from_numpy(written["train"][0][keep]))
    assert torch.equal(s.train_y, torch.from_numpy(written["train"][1][keep].astype(np.int64)))
    assert s.train_y.dtype == torch.int64
    # The official test split is the test set, whole and in order.
    assert torch.equal(s.test_x[:, 0], torch.from_numpy(written["test"][0]))
    assert torch.equal(s.test_y, torch.from_numpy(written["test"][1].astype(np.int64)))
    assert s.classes == 10


@pytest.mark.parametrize("hundred", [False, True])
def test_cifar_pickles_decode_to_nchw(tmp_path, hundred):
    name = "cifar100" if hundred else "cifar10"
    written = write_cifar(tmp_path, hundred)
    s = DATASETS[name].load(cfg(name, tmp_path, val_fraction=0.1))
    x, y = written["train"]
    assert len(s.train_y) + len(s.val_y) == 100 and s.train_x.shape[1:] == (3, 32, 32)
    # Each row is 1024 red, then 1024 green, then 1024 blue values, row-major.
    assert rows(torch.cat([s.train_x, s.val_x])) == rows(x.reshape(100, 3, 32, 32))
    assert torch.equal(s.test_x[7, 1], torch.from_numpy(written["test"][0][7, 1024:2048].reshape(32, 32)))
    assert s.test_y.tolist() == written["test"][1]
    assert s.classes == (100 if hundred else 10)


def test_cifar_meta_with_wrong_class_count_is_rejected(tmp_path):
    write_cifar(tmp_path, hundred=False, meta_classes=7)
    with pytest.raises(ConfigError, match="lists 7 classes"):
        DATASETS["cifar10"].load(cfg("cifar10", tmp_path))


def test_svhn_mat_files_relabel_zero_and_transpose(tmp_path):
    written = write_svhn(tmp_path)
    s = DATASETS["svhn"].load(cfg("svhn", tmp_path))
    X, digits = written["test"]  # the official test split, whole and in order
    assert s.test_x.shape == (12, 3, 32, 32)
    # (H, W, C, N) on disk → (N, C, H, W): pixel (row 5, col 9) of channel 2 of image 3.
    assert s.test_x[3, 2, 5, 9] == X[5, 9, 2, 3]
    assert torch.equal(s.test_x.permute(2, 3, 1, 0), torch.from_numpy(X))
    assert s.test_y.tolist() == digits.tolist()  # 10 → 0
    assert 0 in s.train_y.tolist() and s.train_y.max() <= 9 and len(s.train_y) + len(s.val_y) == 30


def test_val_fraction_carves_a_stratified_holdout_of_the_training_file(tmp_path):
    written = write_mnist(tmp_path, "MNIST", n_train=100)
    s = DATASETS["mnist"].load(cfg("mnist", tmp_path, val_fraction=0.2, split_seed=3))
    assert len(s.val_y) == 20 and len(s.train_y) == 80
    assert torch.bincount(s.val_y, minlength=10).tolist() == [2] * 10
    # Held-out images are training images, none of them kept for training.
    images = {bytes(r) for r in written["train"][0].reshape(100, -1)}
    held = {bytes(r) for r in s.val_x.reshape(20, -1).numpy()}
    kept = {bytes(r) for r in s.train_x.reshape(80, -1).numpy()}
    assert held <= images and not held & kept
    again = DATASETS["mnist"].load(cfg("mnist", tmp_path, val_fraction=0.2, split_seed=3))
    assert torch.equal(again.val_x, s.val_x)
    assert rows(s.test_x[:, 0]) == rows(written["test"][0]) and not set(rows(s.test_x)) & held


def test_the_test_file_is_required_and_null_val_fraction_is_refused(tmp_path):
    write_mnist(tmp_path, "MNIST")
    (tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(ConfigError, match="missing t10k-images-idx3-ubyte"):
        DATASETS["mnist"].check(cfg("mnist", tmp_path))
    with pytest.raises(ConfigError, match=r"data.val_fraction=null .* data=mnist.*a fraction in \(0, 1\)"):
        DATASETS["mnist"].check(cfg("mnist", tmp_path, val_fraction=None))


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "cifar100", "svhn"])
def test_missing_dataset_is_one_line_naming_path_files_and_flag(tmp_path, name):
    with pytest.raises(ConfigError) as err:
        DATASETS[name].load(cfg(name, tmp_path / "nowhere"))
    msg = str(err.value)
    assert "\n" not in msg
    assert str(tmp_path / "nowhere") in msg
    assert "data.download=true" in msg
    first = torchvision_sets.SOURCES[name].files["train"][0]
    assert first in msg


def test_download_flag_fetches_through_torchvision(tmp_path, monkeypatch):
    import torchvision.datasets

    calls = []

    def fake_download(self):  # what MNIST.download leaves behind, minus the network
        calls.append(self.raw_folder)
        write_mnist(Path(self.root), "MNIST")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", fake_download)
    s = DATASETS["mnist"].load(cfg("mnist", tmp_path, download=True))
    assert calls == [str(tmp_path / "MNIST" / "raw")]
    assert len(s.train_x) + len(s.val_x) == 40 and len(s.test_x) == 20


def test_failed_download_is_a_config_error(tmp_path, monkeypatch):
    import urllib.error

    import torchvision.datasets

    def offline(self):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(torchvision.datasets.CIFAR10, "download", offline)
    with pytest.raises(ConfigError, match="downloading CIFAR-10 into .* failed .*no route to host"):
        DATASETS["cifar10"].load(cfg("cifar10", tmp_path, download=True))


def test_native_shapes_need_no_files(tmp_path):
    expected = {"mnist": (1, 28, 10), "fashion_mnist": (1, 28, 10), "cifar10": (3, 32, 10),
                "cifar100": (3, 32, 100), "svhn": (3, 32, 10)}
    for name, shape in expected.items():
        c = cfg(name, tmp_path / "absent")
        assert DATASETS[name].native(c) == InputShape(*shape)
    assert input_shape(cfg("mnist", tmp_path, size=32)) == InputShape(1, 32, 10)


def test_root_tilde_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    write_mnist(tmp_path / "data", "MNIST")
    s = DATASETS["mnist"].load(DataConfig(name="mnist", root="~/data"))
    assert len(s.train_y) + len(s.val_y) == 40


# -------------------------------------------------------------------- cache


def test_decoded_split_is_cached_and_reused(tmp_path, monkeypatch):
    write_cifar(tmp_path, hundred=False)
    first = DATASETS["cifar10"].load(cfg("cifar10", tmp_path))
    for split in ("train", "test"):
        assert (tmp_path / ".ablate-cache" / f"cifar10-{split}.pt").is_file()

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again despite a valid cache")

    monkeypatch.setattr(torchvision_sets, "decode_cifar", no_decoding)
    second = DATASETS["cifar10"].load(cfg("cifar10", tmp_path))
    assert torch.equal(first.train_x, second.train_x) and torch.equal(first.test_y, second.test_y)


def test_changed_source_file_invalidates_the_cache(tmp_path):
    write_mnist(tmp_path, "MNIST")
    before = DATASETS["mnist"].load(cfg("mnist", tmp_path))
    image_file = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    write_idx(image_file, np.zeros((40, 28, 28), np.uint8))
    os.utime(image_file, ns=(1, 1))  # a different mtime even on coarse-clock filesystems
    after = DATASETS["mnist"].load(cfg("mnist", tmp_path))
    assert before.train_x.any() and not after.train_x.any()


def test_unwritable_cache_warns_and_still_loads(tmp_path, monkeypatch):
    write_mnist(tmp_path, "MNIST")

    def refuse(path, obj):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(cache, "torch_save", refuse)
    with pytest.warns(UserWarning, match="could not write the decoded-data cache"):
        s = DATASETS["mnist"].load(cfg("mnist", tmp_path))
    assert len(s.train_y) + len(s.val_y) == 40


# -------------------------------------------------------------- imagefolder


def test_imagefolder_reads_class_folders_resized_to_size(tmp_path):
    write_png_folder(tmp_path)
    c = cfg("imagefolder", tmp_path, size=16, val_fraction=None, test_fraction=0.25)
    assert DATASETS["imagefolder"].native(c) == InputShape(3, 16, 3)
    s = DATASETS["imagefolder"].load(c)
    # val/ validates; without test/, one image of each class of train/ is carved as the test set.
    assert s.train_x.shape == (9, 3, 16, 16) and s.val_x.shape == (12, 3, 16, 16) and s.test_x.shape == (3, 3, 16, 16)
    assert s.classes == 3 and sorted(set(s.train_y.tolist())) == [0, 1, 2]
    # Flat colours survive the resize, in RGB order, under their sorted class index (emu = 2).
    emu = s.train_x[s.train_y == 2]
    assert emu[:, 0].eq(90).all() and emu[:, 1].eq(100).all()
    assert (tmp_path / ".ablate-cache" / "imagefolder-train-16px.pt").is_file()


def test_a_class_added_to_train_relabels_the_cached_val_split(tmp_path):
    """val/ is unchanged, so its cache still matches; its labels must not."""
    from PIL import Image

    write_png_folder(tmp_path)
    c = cfg("imagefolder", tmp_path, size=8, val_fraction=None)
    before = DATASETS["imagefolder"].load(c)
    (tmp_path / "train" / "aardvark").mkdir()  # sorts first: every other class moves up by one
    Image.new("RGB", (8, 8)).save(tmp_path / "train" / "aardvark" / "0.png")
    after = DATASETS["imagefolder"].load(c)
    assert torch.equal(after.val_x, before.val_x)
    assert torch.equal(after.val_y, before.val_y + 1)


def test_imagefolder_val_classes_must_exist_in_train(tmp_path):
    write_png_folder(tmp_path)
    (tmp_path / "val" / "yak").mkdir()
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "val" / "yak" / "0.png")
    with pytest.raises(ConfigError, match="classes not in train/: yak"):
        DATASETS["imagefolder"].load(cfg("imagefolder", tmp_path, size=8, val_fraction=None))


def test_imagefolder_val_fraction_needs_no_val_folder(tmp_path):
    write_png_folder(tmp_path, per_class=10, val=False)
    s = DATASETS["imagefolder"].load(cfg("imagefolder", tmp_path, size=8, val_fraction=0.2, test_fraction=0.1))
    assert len(s.val_y) == 6 and len(s.test_y) == 3 and len(s.train_y) == 21
    every = rows(torch.cat([s.train_x, s.val_x, s.test_x]))
    assert len(set(every)) == 30  # the three splits are disjoint: each of the 30 images once


def test_imagefolder_test_folder_is_the_test_set(tmp_path):
    from PIL import Image

    write_png_folder(tmp_path)
    for k, name in enumerate(("cat", "emu")):  # test/ may hold a subset of the classes
        (tmp_path / "test" / name).mkdir(parents=True)
        Image.new("RGB", (9, 9), (k, k, k)).save(tmp_path / "test" / name / "0.png")
    s = DATASETS["imagefolder"].load(cfg("imagefolder", tmp_path, size=8, val_fraction=None))
    assert len(s.train_y) == 12 and len(s.val_y) == 12 and s.test_y.tolist() == [0, 2]
    (tmp_path / "test" / "yak").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "test" / "yak" / "0.png")
    with pytest.raises(ConfigError, match="test has classes not in train/: yak"):
        DATASETS["imagefolder"].load(cfg("imagefolder", tmp_path, size=8, val_fraction=None))


def test_imagefolder_missing_root_is_one_line(tmp_path):
    c = cfg("imagefolder", tmp_path / "my_images")
    for fn in (DATASETS["imagefolder"].native, DATASETS["imagefolder"].load):
        with pytest.raises(ConfigError) as err:
            fn(c)
        msg = str(err.value)
        assert "\n" not in msg and str(tmp_path / "my_images" / "train") in msg and "<class>" in msg


# --------------------------------------------------------- config and device


def test_yaml_files_cover_the_file_backed_sets_and_validate(tmp_path):
    for name in FILE_SETS:
        values = yaml.safe_load((CONF / f"{name}.yaml").read_text())
        # imagefolder validates on val/; the torchvision sets carve val from train (their test split scores).
        assert values["name"] == name and values["download"] is False
        assert values["val_fraction"] == (None if name == "imagefolder" else 0.1) and values["n_train"] is None
        from_mapping(DataConfig, values, "data")
    assert set(FILE_SETS) <= {p.stem for p in CONF.glob("*.yaml")} == set(DATASETS)


def test_device_loader_takes_a_file_backed_set_to_data_size(tmp_path):
    write_mnist(tmp_path, "MNIST")
    data = load_data(cfg("mnist", tmp_path, size=32, val_fraction=0.25), torch.device("cpu"))
    assert data.train_x.shape == (30, 1, 32, 32) and data.val_x.shape == (10, 1, 32, 32)
    assert data.test_x.shape == (20, 1, 32, 32)
    assert data.shape == InputShape(1, 32, 10) and data.train_x.dtype == torch.uint8
