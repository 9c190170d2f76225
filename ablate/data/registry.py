"""Dataset and preprocessing registries.

A dataset entry knows its input shape without loading anything (config
validation builds the model on the meta device from it) and how to load its
train/val/test splits as uint8 NCHW tensors (ablate.data.splits).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ablate.data.splits import Splits, check_subset
from ablate.registry import Registry
from ablate.shapes import InputShape

if TYPE_CHECKING:
    from ablate.schema.run import DataConfig


def _nothing_to_check(cfg: "DataConfig") -> None:
    return None


@dataclass(frozen=True)
class Dataset:
    load: Callable[["DataConfig"], Splits]
    native: Callable[["DataConfig"], InputShape]  # shape before any data.size resize
    # Raises ConfigError when the files are not there (fetching them first with
    # data.download=true): run once per dataset before any run starts, so a
    # missing dataset fails the command, not every run of a sweep.
    check: Callable[["DataConfig"], object] = _nothing_to_check
    # Whether data.n_train is how many images `load` makes (synthetic) rather
    # than a subset to take of the training split (ablate.data.splits.train_subset).
    makes_n_train: bool = False


DATASETS: Registry[Dataset] = Registry("data")

# Per-channel statistics a preprocessing choice subtracts and divides by, from
# the training split's pixels scaled to [0, 1].
PREPROCESS: Registry[Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]] = Registry("data.preprocess")
PREPROCESS.add("standardize", lambda mean, std: (mean, std), "subtract the per-channel mean, divide by the std")
PREPROCESS.add("center", lambda mean, std: (mean, torch.ones_like(std)), "subtract the per-channel mean")
PREPROCESS.add("none", lambda mean, std: (torch.zeros_like(mean), torch.ones_like(std)), "pixels scaled to [0, 1] only")


def input_shape(data: "DataConfig") -> InputShape:
    shape = DATASETS[data.name].native(data)
    if data.size is not None:
        return InputShape(shape.channels, data.size, shape.classes)
    return shape


def check_dataset(cfg: "DataConfig") -> None:
    """Before any run starts: the dataset's files are there, and data.n_train
    is a subset its training split can give (one image of each class, no more
    images than it holds), so a bad size fails the command, not every run."""
    dataset = DATASETS[cfg.name]
    dataset.check(cfg)
    if cfg.n_train is not None and not dataset.makes_n_train:
        check_subset(cfg.n_train, *_train_split_size(replace(cfg, n_train=None)))


@lru_cache(maxsize=16)
def _train_split_size(cfg: "DataConfig") -> tuple[int, int]:
    """(images, classes) of the training split: loaded once per data config
    (from the decoded cache for the torchvision sets), whatever the n_train."""
    splits = DATASETS[cfg.name].load(cfg)
    return len(splits.train_y), splits.classes
