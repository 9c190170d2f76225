"""Dropout variants, and where each acts in a network.

- inverted (Srivastava et al. 2014 as implemented everywhere): drop units with
  probability p and scale survivors by 1/(1-p) while training; identity at test.
- classic (Hinton et al. 2012, as first described): drop units while training
  with no rescaling; multiply activations by the keep probability 1-p at test.
  Same expected activation as inverted; the scale just moves to test time.
- dropconnect (Wan et al. 2013): drop *weights* of the hidden fully connected
  layers, a mask per example (their eq. 2: r = a((M ∗ W) v) for each v), rescaled
  by 1/(1-p) so the expected weight is unchanged; the output layer is not
  masked. At test the layer uses the expected weights: mean-field inference (the
  paper samples a Gaussian moment match of the activations instead).
  `dropout.mask=batch`: one mask per batch on every fully connected layer, the
  output layer included, as ablate drew it before.
- spatial (Tompson et al. 2015): drop whole channels of conv feature maps.

A model asks its `DropoutKind` for four things: a module after each conv stage
(`stage`), a module in front of each fully connected layer (`head`), the hidden
fully connected layers (`linear`) and the output layer (`output`). Each kind
fills only its own slots; a kind's options (dropconnect's `mask`) reach its
constructors as keyword arguments.
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
    def __init__(self, in_features: int, out_features: int, p: float, mask: str = "example") -> None:
        super().__init__(in_features, out_features)
        self.p, self.per_example = p, mask == "example"

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return super().forward(x)
        if not self.per_example:
            keep = torch.rand_like(self.weight) >= self.p
            return F.linear(x, self.weight * keep / (1.0 - self.p), self.bias)
        # (batch, out, in) masks: batch × out × in values a step (LeNet-5's first
        # FC on 28-px input at batch 64: 64 × 120 × 256, 7.9 MB in fp32).
        keep = torch.rand((x.shape[0], *self.weight.shape), device=x.device) >= self.p
        weights = self.weight * keep.to(self.weight.dtype) / (1.0 - self.p)
        return torch.einsum("boi,bi->bo", weights, x) + self.bias

    def extra_repr(self) -> str:
        return super().extra_repr() + f", p={self.p}, mask={'example' if self.per_example else 'batch'}"


def _identity(p: float) -> nn.Module:
    return nn.Identity()


def _plain_linear(in_features: int, out_features: int, p: float, **options: str) -> nn.Module:
    return nn.Linear(in_features, out_features)


def _dropconnect_output(in_features: int, out_features: int, p: float, mask: str) -> nn.Module:
    # Wan et al. mask the layer under the softmax, not the softmax layer; the
    # per-batch variant masked every fully connected layer, as its runs did.
    return DropConnectLinear(in_features, out_features, p, mask) if mask == "batch" else nn.Linear(in_features, out_features)


def _inverted(p: float) -> nn.Module:
    return InvertedDropout(p) if p > 0 else nn.Identity()


def _classic(p: float) -> nn.Module:
    return ClassicDropout(p)


def _spatial(p: float) -> nn.Module:
    return nn.Dropout2d(p) if p > 0 else nn.Identity()


@dataclass(frozen=True)
class DropoutKind:
    stage: Callable[..., nn.Module]  # (p, **options)
    head: Callable[..., nn.Module]  # (p, **options)
    linear: Callable[..., nn.Module]  # (in_features, out_features, p, **options): the hidden layers
    output: Callable[..., nn.Module] = _plain_linear  # the same, for the output layer


DROPOUTS: Registry[DropoutKind] = Registry("dropout")
DROPOUTS.add("inverted", DropoutKind(_identity, _inverted, _plain_linear),
             "drop units, scale by 1/(1-p) in training (the modern default); dropout.p")
DROPOUTS.add("classic", DropoutKind(_identity, _classic, _plain_linear),
             "drop units in training, scale by (1-p) at test time (Hinton et al. 2012)")
DROPOUTS.add("dropconnect", DropoutKind(_identity, _identity, DropConnectLinear, _dropconnect_output),
             "drop weights of the hidden fully connected layers, a mask per example (Wan et al. 2013); "
             "dropout.mask=batch: one per batch")
DROPOUTS.add("spatial", DropoutKind(_spatial, _identity, _plain_linear),
             "drop whole channels after each conv stage (Tompson et al. 2015)")
