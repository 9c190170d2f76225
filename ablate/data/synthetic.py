"""Procedural images for tests and benchmarks: learnable, any shape, no files.

Each class is a fixed smooth random pattern (4×4 Gaussian noise upsampled
bilinearly); a sample is its class pattern plus independent pixel noise.
`data.noise` sets how hard it is: at 0 it is trivially separable, at ~2 hard.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ablate.config.schema import DataConfig
from ablate.data.registry import DATASETS, Dataset, Splits
from ablate.shapes import InputShape


def _shape(cfg: DataConfig) -> InputShape:
    return InputShape(cfg.channels, cfg.size or 32, cfg.classes)


def load_synthetic(cfg: DataConfig) -> Splits:
    shape = _shape(cfg)
    gen = torch.Generator().manual_seed(cfg.split_seed)
    coarse = torch.randn(shape.classes, shape.channels, 4, 4, generator=gen)
    patterns = F.interpolate(coarse, size=(shape.size, shape.size), mode="bilinear", align_corners=False)
    patterns = patterns / patterns.std(dim=(1, 2, 3), keepdim=True)

    def sample(n: int, stream: int) -> tuple[torch.Tensor, torch.Tensor]:
        # Each split draws from its own stream, so the validation images stay
        # the same when a sweep varies data.n_train.
        g = torch.Generator().manual_seed(cfg.split_seed * 1_000_003 + stream)
        y = torch.randint(shape.classes, (n,), generator=g)
        x = patterns[y] + cfg.noise * torch.randn(n, shape.channels, shape.size, shape.size, generator=g)
        # ±4 std maps onto 0..255, as a camera would clip.
        return (x * 32.0 + 128.0).round().clamp(0, 255).to(torch.uint8), y

    train_x, train_y = sample(cfg.n_train, stream=1)
    val_x, val_y = sample(cfg.n_val, stream=2)
    return Splits(train_x, train_y, val_x, val_y, classes=shape.classes)


DATASETS.add("synthetic", Dataset(load_synthetic, _shape),
             "procedural class patterns + noise; data.size, data.channels, data.classes")
