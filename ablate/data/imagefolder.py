"""Your own images: `<root>/train/<class>/*`, `<root>/val/<class>/*`, `<root>/test/<class>/*`.

Class names are the folder names under `train/`, sorted, as torchvision's
`ImageFolder` indexes them (its `find_classes`/`make_dataset` do the listing,
so the same extensions count: jpg, png, bmp, tif, webp, …). Every image is
converted to RGB, its shorter side resized to `data.size` (antialiased), then
centre-cropped to a square: aspect ratio kept, as in the usual "resize,
centre crop" evaluation transform. Decoding happens once; the resized uint8
tensor is cached per size under `<root>/.ablate-cache/`.

`val/` and `test/` may hold a subset of the classes. With `data.val_fraction`
set, the val split is carved from `train/` and `val/` is not needed; without
`test/`, the test split is carved from `train/` (`data.test_fraction`),
disjoint from val (ablate.data.splits.carve).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ablate.schema.run import DataConfig
from ablate.data.cache import Decoded, cached_split
from ablate.data.registry import DATASETS, Dataset, Splits
from ablate.data.torchvision_sets import data_root, to_splits
from ablate.errors import ConfigError
from ablate.shapes import InputShape

DEFAULT_SIZE = 64  # pixels, when data.size is null
LAYOUT = "<root>/train/<class>/*.png|jpg|…, <root>/val/<class>/* and optionally <root>/test/<class>/*"


def _size(cfg: DataConfig) -> int:
    return cfg.size or DEFAULT_SIZE


def _classes(cfg: DataConfig, split: str) -> list[str]:
    from torchvision.datasets.folder import find_classes

    folder = data_root(cfg) / split
    if not folder.is_dir():
        raise ConfigError(f"data=imagefolder: no folder {folder} (expected {LAYOUT}); "
                          f"set data.root to the folder that holds train/ and val/")
    try:
        return find_classes(str(folder))[0]
    except FileNotFoundError:
        raise ConfigError(f"data=imagefolder: {folder} has no class folders (expected {LAYOUT})") from None


def _samples(cfg: DataConfig, split: str, class_to_idx: dict[str, int]) -> list[tuple[Path, int]]:
    from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

    folder = data_root(cfg) / split
    try:
        found = make_dataset(str(folder), class_to_idx, extensions=IMG_EXTENSIONS)
    except FileNotFoundError as err:  # a class folder with no images in it
        raise ConfigError(f"data=imagefolder: {err} (expected {LAYOUT})") from None
    return [(Path(p), label) for p, label in found]


def _decode(samples: list[tuple[Path, int]], size: int) -> Decoded:
    from PIL import Image
    from torchvision.transforms.v2 import functional as TF

    # One Python step per image is fine here: it runs once, then the cache serves.
    x = torch.empty(len(samples), 3, size, size, dtype=torch.uint8)
    for i, (path, _) in enumerate(samples):
        with Image.open(path) as im:
            img = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)
        img = TF.resize(img, size, antialias=True)  # shorter side → size
        x[i] = TF.center_crop(img, [size, size])
    return Decoded(x, torch.tensor([label for _, label in samples], dtype=torch.int64))


def _split(cfg: DataConfig, split: str, class_to_idx: dict[str, int]):
    def load() -> Decoded:
        samples = _samples(cfg, split, class_to_idx)
        root = data_root(cfg)
        cached = cached_split(root, f"imagefolder-{split}-{_size(cfg)}px", [p for p, _ in samples],
                              lambda: _decode(samples, _size(cfg)))
        # Labels come from today's listing, not the cache: the fingerprint covers
        # this split's files, but a class added to train/ renumbers val/'s labels.
        return Decoded(cached.x, torch.tensor([label for _, label in samples], dtype=torch.int64))

    return load


def _labels_of(cfg: DataConfig, split: str, class_to_idx: dict[str, int]) -> dict[str, int]:
    """`split`'s class → label map, numbered as in train/; a class train/ lacks cannot be learned."""
    extra = sorted(set(_classes(cfg, split)) - set(class_to_idx))
    if extra:
        raise ConfigError(f"data=imagefolder: {data_root(cfg) / split} has classes not in train/: {', '.join(extra)}")
    return {c: class_to_idx[c] for c in _classes(cfg, split)}


def load_imagefolder(cfg: DataConfig) -> Splits:
    classes = _classes(cfg, "train")
    class_to_idx = {c: i for i, c in enumerate(classes)}
    carved, given = {}, {}
    if (data_root(cfg) / "test").is_dir():
        given["test"] = _split(cfg, "test", _labels_of(cfg, "test", class_to_idx))
    else:
        carved["test"] = cfg.test_fraction
    if cfg.val_fraction is None:
        given["val"] = _split(cfg, "val", _labels_of(cfg, "val", class_to_idx))
    else:
        carved["val"] = cfg.val_fraction
    return to_splits(cfg, len(classes), _split(cfg, "train", class_to_idx), carved, given)


def native_imagefolder(cfg: DataConfig) -> InputShape:
    # Reads the directory listing only (class count); images are always RGB.
    return InputShape(3, _size(cfg), len(_classes(cfg, "train")))


DATASETS.add("imagefolder", Dataset(load_imagefolder, native_imagefolder),
             "your images: data.root/{train,val,test}/<class>/*, resized to data.size (default 64)")
