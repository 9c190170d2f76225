"""Normalisation layers and where they sit relative to the activation.

Every norm is built the same way, `make(channels)`, with its options bound by
`functools.partial` when the config is resolved (timm's `create_norm` pattern),
so blocks never see a name or a config.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

from ablate.errors import ConfigError
from ablate.registry import Registry

NormFactory = Callable[[int], nn.Module]

NORMS: Registry[Callable[..., nn.Module]] = Registry("norm")
PLACEMENTS: Registry[bool] = Registry("norm.placement")
# Value: True when the norm comes first (conv → norm → act, Ioffe & Szegedy 2015);
# False puts it after the activation (conv → act → norm), the other common recipe.
PLACEMENTS.add("before_act", True, "conv → norm → act (the batch-norm paper's order)")
PLACEMENTS.add("after_act", False, "conv → act → norm")


@NORMS.register("none", "no normalisation")
def _none(channels: int) -> nn.Module:
    return nn.Identity()


@NORMS.register("batch", "batch norm: per-channel statistics over the batch (Ioffe & Szegedy 2015)")
def _batch(channels: int, eps: float = 1e-5, momentum: float = 0.1) -> nn.Module:
    return nn.BatchNorm2d(channels, eps=eps, momentum=momentum)


@NORMS.register("layer", "layer norm: per-sample statistics over C×H×W (Ba et al. 2016)")
def _layer(channels: int, eps: float = 1e-5) -> nn.Module:
    # GroupNorm with one group normalises over (C, H, W) per sample, which is
    # layer norm for conv maps, with a per-channel affine like the other norms.
    return nn.GroupNorm(1, channels, eps=eps)


@NORMS.register("instance", "instance norm: per-sample, per-channel statistics (Ulyanov et al. 2016)")
def _instance(channels: int, eps: float = 1e-5) -> nn.Module:
    # GroupNorm with one group per channel is instance norm with an affine, and
    # unlike nn.InstanceNorm2d it keeps no running stats to diverge between modes.
    return nn.GroupNorm(channels, channels, eps=eps)


@NORMS.register("group", "group norm: per-sample statistics over channel groups (Wu & He 2018)")
def _group(channels: int, groups: int = 2, eps: float = 1e-5) -> nn.Module:
    if channels % groups:
        raise ConfigError(
            f"norm.groups={groups} does not divide a layer with {channels} channels; "
            f"choose a divisor of every layer's channel count"
        )
    return nn.GroupNorm(groups, channels, eps=eps)


@NORMS.register("lrn", "local response norm across channels (AlexNet, Krizhevsky et al. 2012)")
def _lrn(channels: int, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> nn.Module:
    # Defaults are AlexNet's (section 3.3): n=5, alpha=1e-4, beta=0.75, k=2, in
    # the paper's formula b = a / (k + alpha * sum of a^2 over n channels)^beta.
    # PyTorch (like Caffe) divides alpha by n, so pass alpha * n to get the paper's.
    return nn.LocalResponseNorm(size, alpha=alpha * size, beta=beta, k=k)


def make_norm(name: str, **options) -> NormFactory:
    """Resolve a norm name and its options once, into `factory(channels)`."""
    return partial(NORMS[name], **options)
