"""Splits on the training device, batched by index slices.

The whole split sits on the device as one uint8 tensor (4× smaller than
float32); a batch is `x[idx]` converted and normalised there. No DataLoader,
no per-sample Python, no host round trip per step (the airbench pattern).

When a split does not fit in the GPU's free memory, the images stay in
pinned host memory and each batch is gathered there and copied over
asynchronously: slower, but the run goes on, and the log says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ablate.schema.run import DataConfig
from ablate.data.registry import DATASETS, PREPROCESS, input_shape
from ablate.data.splits import SPLIT_NAMES, Splits, check_subset, train_subset
from ablate.shapes import InputShape


@dataclass
class DeviceData:
    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    test_x: Tensor
    test_y: Tensor
    mean: Tensor  # (1, C, 1, 1), in [0, 1] pixel units, from the training split
    std: Tensor
    shape: InputShape
    device: torch.device  # where batches are computed; the images live here unless streaming
    note: str | None = None  # why the data is streamed from the host, when it is

    @property
    def streaming(self) -> bool:
        """The images stay in host memory while batches are computed on an accelerator."""
        return self.train_x.device.type == "cpu" and self.device.type != "cpu"

    def to_device(self, t: Tensor) -> Tensor:
        if t.device.type != "cpu" or self.device.type == "cpu":  # already where it is computed
            return t
        # Pinned, so the copy is asynchronous and overlaps the previous step's compute.
        return t.pin_memory().to(self.device, non_blocking=True)

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
        order = torch.randperm(n, device=self.train_x.device, generator=generator)
        steps = max(1, n // batch_size)
        for i in range(steps):
            idx = order[i * batch_size:(i + 1) * batch_size]
            yield self.to_device(self.train_x[idx]), self.to_device(self.train_y[idx])

    def train_steps(self, batch_size: int) -> int:
        return max(1, len(self.train_y) // batch_size)

    def eval_split(self, split: str) -> tuple[Tensor, Tensor]:
        """The images and labels of "val" or "test"."""
        return getattr(self, f"{split}_x"), getattr(self, f"{split}_y")

    def eval_batches(self, split: str, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        """Normalised batches of the "val" or "test" split, in order."""
        images, labels = self.eval_split(split)
        for i in range(0, len(labels), batch_size):
            x, y = self.to_device(images[i:i + batch_size]), self.to_device(labels[i:i + batch_size])
            yield self.normalize(self.to_unit(x)), y


def _resize(x: Tensor, size: int) -> Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    out = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


# Share of the GPU's free memory the images may take; the rest is left for the
# model, activations and cuDNN workspaces.
DATA_SHARE_OF_FREE = 0.5


def fits_on_device(nbytes: int, device: torch.device, share: float = 1.0) -> tuple[bool, str | None]:
    """Whether the images may live on `device`: within DATA_SHARE_OF_FREE of
    the free memory, times `share` when runs packed on one GPU start together
    and each sees the same free memory."""
    if device.type != "cuda":
        return True, None
    free, _ = torch.cuda.mem_get_info(device)
    free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)  # cached by this process
    budget = DATA_SHARE_OF_FREE * share * free
    if nbytes <= budget:
        return True, None
    return False, (f"the dataset ({nbytes / 2**30:.1f} GiB) does not fit in this run's "
                   f"{budget / 2**30:.1f} GiB of GPU memory ({DATA_SHARE_OF_FREE:.0%} of "
                   f"{free / 2**30:.1f} GiB free{f', shared by {round(1 / share)} packed runs' if share < 1 else ''}); "
                   "keeping it in pinned host memory and streaming batches (slower)")


def load_data(cfg: DataConfig, device: torch.device, share: float = 1.0) -> DeviceData:
    dataset = DATASETS[cfg.name]
    splits: Splits = dataset.load(cfg)
    if not dataset.makes_n_train:
        check_subset(cfg.n_train, len(splits.train_y), splits.classes)
        splits = train_subset(splits, cfg.n_train, cfg.split_seed)
    shape = input_shape(cfg)
    xs = {name: _resize(getattr(splits, f"{name}_x"), shape.size) for name in SPLIT_NAMES}
    # Statistics of the training split only, in [0, 1] pixel units.
    pixels = xs["train"].float().div(255.0).transpose(0, 1).reshape(shape.channels, -1)
    mean, std = PREPROCESS[cfg.preprocess](pixels.mean(dim=1), pixels.std(dim=1).clamp_min(1e-3))
    view = (1, shape.channels, 1, 1)
    fits, note = fits_on_device(sum(x.nbytes for x in xs.values()), device, share)
    storage = device if fits else torch.device("cpu")
    placed = {}
    for name in SPLIT_NAMES:
        x = xs[name] if fits else xs[name].pin_memory()
        placed[f"{name}_x"], placed[f"{name}_y"] = x.to(storage), getattr(splits, f"{name}_y").to(storage)
    return DeviceData(**placed, mean=mean.view(view).to(device), std=std.view(view).to(device),
                      shape=shape, device=device, note=note)
