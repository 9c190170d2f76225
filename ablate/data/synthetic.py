"""Procedural images for tests and benchmarks: learnable, any shape, no files.

Each class is a fixed smooth random pattern (4×4 Gaussian noise upsampled
bilinearly); a sample is its class pattern plus independent pixel noise.
`data.noise` sets how hard it is: at 0 it is trivially separable, at ~2 hard.
`data.mirror` shows each image mirrored half the time: flip-invariant classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ablate.schema.run import DataConfig
from ablate.data.registry import DATASETS, Dataset
from ablate.data.splits import Splits
from ablate.errors import ConfigError
from ablate.shapes import InputShape


DEFAULT_N_TRAIN = 2048  # conf/data/synthetic.yaml's, for a DataConfig built in code


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
        if cfg.mirror:  # drawn after the noise, so mirror=false images are the same as before
            flip = torch.rand(n, generator=g) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        # ±4 std maps onto 0..255, as a camera would clip.
        return (x * 32.0 + 128.0).round().clamp(0, 255).to(torch.uint8), y

    # The test set is drawn like the val set, from a stream of its own.
    return Splits(*sample(_n_train(cfg), stream=1), *sample(cfg.n_val, stream=2), *sample(cfg.n_val, stream=3),
                  classes=shape.classes)


def _n_train(cfg: DataConfig) -> int:
    """How many training images to generate: a count here, never a fraction (there is no split to take it of)."""
    n = DEFAULT_N_TRAIN if cfg.n_train is None else cfg.n_train
    if not isinstance(n, int) or n < cfg.classes:
        raise ConfigError(f"data.n_train={cfg.n_train!r} is out of range for data=synthetic: it is how many "
                          f"training images to generate, a whole number >= data.classes ({cfg.classes})")
    return n


DATASETS.add("synthetic", Dataset(load_synthetic, _shape, check=_n_train, makes_n_train=True),
             "procedural class patterns + noise; data.size, data.channels, data.classes")
