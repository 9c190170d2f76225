"""Dropout variants, and where each acts in a network.

- inverted (Srivastava et al. 2014 as implemented everywhere): drop units with
  probability p and scale survivors by 1/(1-p) while training; identity at test.
- classic (Hinton et al. 2012, as first described): drop units while training
  with no rescaling; multiply activations by the keep probability 1-p at test.
  Same expected activation as inverted; the scale just moves to test time.
- dropconnect (Wan et al. 2013): drop *weights* of the fully connected layers,
  one mask per batch, rescaled by 1/(1-p) so the expected weight is unchanged.
- spatial (Tompson et al. 2015): drop whole channels of conv feature maps.

A model asks its `DropoutKind` for three things: a module after each conv stage
(`stage`), a module in front of each fully connected layer (`head`), and the
fully connected layer itself (`linear`). Each kind fills only its own slot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ablate.registry import Registry


def keep_mask(x: Tensor, p: float) -> Tensor:
    """Bernoulli(1-p) mask shaped like x; both unit dropouts draw it the same way,
    so with the same RNG state they drop the same units."""
    return torch.rand_like(x) >= p


class InvertedDropout(nn.Module):
    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * keep_mask(x, self.p) / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ClassicDropout(InvertedDropout):
    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0:
            return x
        if self.training:
            return x * keep_mask(x, self.p)
        return x * (1.0 - self.p)


class DropConnectLinear(nn.Linear):
    def __init__(self, in_features: int, out_features: int, p: float) -> None:
        super().__init__(in_features, out_features)
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return super().forward(x)
        keep = torch.rand_like(self.weight) >= self.p
        return F.linear(x, self.weight * keep / (1.0 - self.p), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", p={self.p}"


def _identity(p: float) -> nn.Module:
    return nn.Identity()


def _plain_linear(in_features: int, out_features: int, p: float) -> nn.Module:
    return nn.Linear(in_features, out_features)


def _inverted(p: float) -> nn.Module:
    return InvertedDropout(p) if p > 0 else nn.Identity()


def _spatial(p: float) -> nn.Module:
    return nn.Dropout2d(p) if p > 0 else nn.Identity()


@dataclass(frozen=True)
class DropoutKind:
    stage: Callable[[float], nn.Module]
    head: Callable[[float], nn.Module]
    linear: Callable[[int, int, float], nn.Module]


DROPOUTS: Registry[DropoutKind] = Registry("dropout")
DROPOUTS.add("inverted", DropoutKind(_identity, _inverted, _plain_linear),
             "drop units, scale by 1/(1-p) in training (the modern default); dropout.p")
DROPOUTS.add("classic", DropoutKind(_identity, ClassicDropout, _plain_linear),
             "drop units in training, scale by (1-p) at test time (Hinton et al. 2012)")
DROPOUTS.add("dropconnect", DropoutKind(_identity, _identity, DropConnectLinear),
             "drop weights of the fully connected layers (Wan et al. 2013)")
DROPOUTS.add("spatial", DropoutKind(_spatial, _identity, _plain_linear),
             "drop whole channels after each conv stage (Tompson et al. 2015)")
