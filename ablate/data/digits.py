"""scikit-learn's digits: 1,797 8×8 greyscale handwritten digits, 17 levels.

The UCI optdigits test set (Alpaydin & Kaynak 1998), shipped inside
scikit-learn, so it loads offline in milliseconds.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from ablate.schema.run import DataConfig
from ablate.errors import ConfigError
from ablate.data.registry import DATASETS, Dataset
from ablate.data.splits import Splits, assemble, val_fraction
from ablate.shapes import InputShape


def digits_file() -> Path:
    """scikit-learn's own copy of the data, found without importing scikit-learn
    (whose import costs ~2 s, longer than a whole LeNet run on this data)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("data=digits needs scikit-learn: pip install scikit-learn")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"


def load_digits(cfg: DataConfig) -> Splits:
    # 1,797 rows of 64 pixels then the label, as in sklearn.datasets.load_digits.
    table = np.loadtxt(digits_file(), delimiter=",", dtype=np.float32)
    # Pixel values are counts 0..16 of set bits in 4×4 blocks; map to 0..255.
    x = torch.from_numpy(table[:, :64]).mul(255.0 / 16.0).round().to(torch.uint8).view(-1, 1, 8, 8)
    y = torch.from_numpy(table[:, 64]).long()
    # No official splits: test, then val, carved stratified (60/20/20 by default).
    return assemble(x, y, 10, cfg.split_seed, {"test": cfg.test_fraction, "val": val_fraction(cfg)}, {})


DATASETS.add("digits", Dataset(load_digits, lambda cfg: InputShape(1, 8, 10), check=val_fraction),
             "scikit-learn's 8×8 handwritten digits, 1,797 images, embedded (offline)")
