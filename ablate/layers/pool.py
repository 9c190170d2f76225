"""Pooling between conv stages (2×2, stride 2)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ablate.registry import Registry

POOLS: Registry[Callable[[], nn.Module]] = Registry("model.pool")
POOLS.add("max", lambda: nn.MaxPool2d(2), "2×2 max pooling")
POOLS.add("avg", lambda: nn.AvgPool2d(2), "2×2 average pooling")

# ResNets downsample with strided convs; their pool choice picks the global pool.
GLOBAL_POOLS: dict[str, Callable[[], nn.Module]] = {
    "max": lambda: nn.AdaptiveMaxPool2d(1),
    "avg": lambda: nn.AdaptiveAvgPool2d(1),
}
