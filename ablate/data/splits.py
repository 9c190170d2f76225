"""Train, val and test: how a dataset's images are split, and training subsets.

Every dataset gets three disjoint splits. Train fits the weights, val picks
the epoch a run is scored at, test scores it: the maximum over epochs of a
noisy validation curve is optimistic (selection bias), so the number that
ranks configurations comes from images that chose nothing. Where a dataset
has no split of its own, it is carved from the training images, stratified by
class and fixed by `data.split_seed`, never by the run seed: every run of a
study sees the same val and test images, and seeds vary only training.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ablate.errors import ConfigError

if TYPE_CHECKING:
    from ablate.schema.run import DataConfig


SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class Splits:
    """Three disjoint splits: train fits, val selects (best epoch, early
    stopping), test scores. Scoring on the split that selected is optimistic."""

    train_x: Tensor  # uint8, (N, C, H, W), 0-255
    train_y: Tensor  # int64, (N,)
    val_x: Tensor
    val_y: Tensor
    test_x: Tensor
    test_y: Tensor
    classes: int


def carve(labels: Tensor, fractions: dict[str, float], seed: int) -> dict[str, Tensor]:
    """Sorted indices of each named hold-out and of what is left ("train"),
    every class split in the same proportions.

    Each class is shuffled once by `data.split_seed` (never the run seed, so
    every run of a study is scored on the same images) and the hold-outs are
    taken from the front in the order given: listing "test" first keeps the
    test images the same whatever `data.val_fraction` is."""
    gen = torch.Generator().manual_seed(seed)
    parts: dict[str, list[Tensor]] = {name: [] for name in (*fractions, "train")}
    for c in labels.unique(sorted=True):
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        start = 0
        for name, fraction in fractions.items():
            n = max(1, round(len(idx) * fraction))
            parts[name].append(idx[start:start + n])
            start += n
        parts["train"].append(idx[start:])
    return {name: torch.cat(chunks).sort().values for name, chunks in parts.items()}


def nested_order(labels: Tensor, seed: int) -> Tensor:
    """An order of the images whose every prefix is a stratified subset.

    One image of each class comes first, so a prefix of `classes` images has
    them all; then each class's images are spread evenly over the order
    (the r-th of a class of n sits at (r + ½) / n), so any prefix holds each
    class in proportion to within one image. Subsets of a study are prefixes
    of one order, hence nested: the 100 images are among the 300."""
    gen = torch.Generator().manual_seed(seed)
    shuffled = torch.randperm(len(labels), generator=gen)
    y = labels[shuffled]
    counts = torch.bincount(y)
    # Rank of each image within its class, in shuffled order.
    onehot = torch.nn.functional.one_hot(y, len(counts))
    rank = (onehot.cumsum(0) * onehot).sum(1) - 1
    position = (rank.double() + 0.5) / counts[y].double()
    position[rank == 0] = -1.0  # the first of each class leads
    return shuffled[torch.sort(position, stable=True).indices]


def subset_size(n_train: int | float, available: int) -> int:
    """data.n_train as a count: an int as given, a fraction of what is available."""
    return n_train if isinstance(n_train, int) else max(1, round(n_train * available))


def val_fraction(cfg: "DataConfig") -> float:
    """data.val_fraction for a dataset that carves its val split from training."""
    if cfg.val_fraction is None:
        raise ConfigError(f"data.val_fraction=null is out of range for data={cfg.name}: it has no val split "
                          f"of its own, so val is carved from training: a fraction in (0, 1), e.g. 0.1")
    return cfg.val_fraction


def assemble(x: Tensor, y: Tensor, classes: int, seed: int, carved: dict[str, float],
             given: dict[str, tuple[Tensor, Tensor]]) -> Splits:
    """Splits from a pool of training images: the hold-outs named in `carved`
    (in that order, see `carve`) are taken from the pool, the ones in `given`
    are the dataset's own."""
    parts = {name: (x[idx], y[idx]) for name, idx in carve(y, carved, seed).items()} if carved else {"train": (x, y)}
    parts |= given
    return Splits(*parts["train"], *parts["val"], *parts["test"], classes=classes)


def train_subset(splits: Splits, n_train: int | float | None, seed: int) -> Splits:
    """The first data.n_train images of the training split's `nested_order`:
    stratified, nested across sizes, the same for every run. Val and test stay."""
    if n_train is None:
        return splits
    keep = nested_order(splits.train_y, seed)[:subset_size(n_train, len(splits.train_y))].sort().values
    return replace(splits, train_x=splits.train_x[keep], train_y=splits.train_y[keep])


def check_subset(n_train: int | float | None, available: int, classes: int) -> None:
    """A subset needs an image of every class, and no more images than the split holds."""
    if n_train is None:
        return
    n = subset_size(n_train, available)
    if n < classes:
        raise ConfigError(f"data.n_train={n_train!r} is out of range: {n} images cannot hold one of each of the "
                          f"{classes} classes; must be between {classes} and {available} (or a larger fraction)")
    if n > available:
        raise ConfigError(f"data.n_train={n_train!r} is out of range: the training split holds {available} "
                          f"images; must be between {classes} and {available}, or a fraction in (0, 1]")
