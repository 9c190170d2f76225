"""Dataset and preprocessing registries.

A dataset entry knows its input shape without loading anything (config
validation builds the model on the meta device from it) and how to load its
train/val splits as uint8 NCHW tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ablate.shapes import InputShape
from ablate.registry import Registry

if TYPE_CHECKING:
    from ablate.config.schema import DataConfig


@dataclass(frozen=True)
class Splits:
    train_x: Tensor  # uint8, (N, C, H, W), 0-255
    train_y: Tensor  # int64, (N,)
    val_x: Tensor
    val_y: Tensor
    classes: int


def _nothing_to_check(cfg: "DataConfig") -> None:
    return None


@dataclass(frozen=True)
class Dataset:
    load: Callable[["DataConfig"], Splits]
    native: Callable[["DataConfig"], InputShape]  # shape before any data.size resize
    # Raises ConfigError when the files are not there (fetching them first with
    # data.download=true): run once per dataset before any run starts, so a
    # missing dataset fails the command, not every run of a sweep.
    check: Callable[["DataConfig"], None] = _nothing_to_check


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


def stratified_split(labels: Tensor, val_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Train and val indices with each class split in the same proportion.

    Seeded by `data.split_seed`, not the run seed, so every run of a study is
    scored on the same validation images and seeds vary only training.
    """
    gen = torch.Generator().manual_seed(seed)
    train, val = [], []
    for c in labels.unique(sorted=True):
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n_val = max(1, round(len(idx) * val_fraction))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values
