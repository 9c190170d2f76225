"""Splits on the training device, batched by index slices.

The whole split sits on the device as one uint8 tensor (4× smaller than
float32); a batch is `x[idx]` converted and normalised there. No DataLoader,
no per-sample Python, no host round trip per step (the airbench pattern).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ablate.config.schema import DataConfig
from ablate.data.registry import DATASETS, PREPROCESS, Splits, input_shape
from ablate.models.blocks import InputShape


@dataclass
class DeviceData:
    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    mean: Tensor  # (1, C, 1, 1), in [0, 1] pixel units, from the training split
    std: Tensor
    shape: InputShape

    def normalize(self, x: Tensor) -> Tensor:
        """Float pixels in [0, 1] → the preprocessing's zero-mean/unit-std space."""
        return (x - self.mean) / self.std

    @staticmethod
    def to_unit(x: Tensor) -> Tensor:
        """uint8 0-255 → float [0, 1], where augmentations operate."""
        return x.float().div_(255.0)

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
        """A reshuffled epoch of raw uint8 batches; the last partial batch is
        dropped (unless it is the only one) so batch norm never sees a batch of one."""
        n = len(self.train_y)
        order = torch.randperm(n, device=self.train_y.device, generator=generator)
        steps = max(1, n // batch_size)
        for i in range(steps):
            idx = order[i * batch_size:(i + 1) * batch_size]
            yield self.train_x[idx], self.train_y[idx]

    def train_steps(self, batch_size: int) -> int:
        return max(1, len(self.train_y) // batch_size)

    def val_batches(self, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        for i in range(0, len(self.val_y), batch_size):
            yield self.normalize(self.to_unit(self.val_x[i:i + batch_size])), self.val_y[i:i + batch_size]


def _resize(x: Tensor, size: int) -> Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    out = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def load_data(cfg: DataConfig, device: torch.device) -> DeviceData:
    splits: Splits = DATASETS[cfg.name].load(cfg)
    shape = input_shape(cfg)
    train_x, val_x = _resize(splits.train_x, shape.size), _resize(splits.val_x, shape.size)
    # Statistics of the training split only, in [0, 1] pixel units.
    pixels = train_x.float().div(255.0).transpose(0, 1).reshape(shape.channels, -1)
    mean, std = PREPROCESS[cfg.preprocess](pixels.mean(dim=1), pixels.std(dim=1).clamp_min(1e-3))
    view = (1, shape.channels, 1, 1)
    return DeviceData(
        train_x=train_x.to(device), train_y=splits.train_y.to(device),
        val_x=val_x.to(device), val_y=splits.val_y.to(device),
        mean=mean.view(view).to(device), std=std.view(view).to(device),
        shape=shape,
    )
