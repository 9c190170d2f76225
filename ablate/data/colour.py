"""Colour augmentations: jitter (brightness, contrast, saturation) and PCA lighting.

Greyscale data has no colour to change: jitter's saturation and all of
pca_lighting are skipped there with a warning, so one sweep can cover MNIST
and CIFAR with the same `aug` set.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ablate.schema.augs import JitterParams, PCALightingParams

if TYPE_CHECKING:
    from ablate.data.augment import AugContext, AugOp

# ITU-R BT.601 luma weights, as torchvision's rgb_to_grayscale.
LUMA = (0.299, 0.587, 0.114)


def grey(x: Tensor) -> Tensor:
    """(N, 1, H, W) luma of RGB images; greyscale images are their own luma."""
    if x.shape[1] == 1:
        return x
    return (x * x.new_tensor(LUMA).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)


def pixel_moments(train_x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean (C,) and channel covariance (C, C) of the training
    pixels in [0, 1] units, accumulated in float64 over chunks so CIFAR's 51 M
    pixels per channel never need a float copy of the whole split."""
    n, c, h, w = train_x.shape
    chunk = max(1, (1 << 22) // (h * w))  # ~4 M pixels per channel at a time
    total = torch.zeros(c, dtype=torch.float64, device=train_x.device)
    outer = torch.zeros(c, c, dtype=torch.float64, device=train_x.device)
    for i in range(0, n, chunk):
        p = train_x[i:i + chunk].to(torch.float64).div_(255.0).transpose(0, 1).reshape(c, -1)
        total += p.sum(dim=1)
        outer += p @ p.T
    count = n * h * w
    mean = total / count
    return mean, outer / count - torch.outer(mean, mean)


def identity(x: Tensor, y: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    return x, y


# -------------------------------------------------------------------- jitter


def _factor(x: Tensor, amount: float, gen: torch.Generator) -> Tensor:
    low, high = max(0.0, 1.0 - amount), 1.0 + amount
    return low + (high - low) * torch.rand(x.shape[0], 1, 1, 1, generator=gen, device=x.device)


def _brightness(x: Tensor, f: Tensor) -> Tensor:
    return x * f


def _contrast(x: Tensor, f: Tensor) -> Tensor:
    return f * x + (1 - f) * grey(x).mean(dim=(1, 2, 3), keepdim=True)


def _saturation(x: Tensor, f: Tensor) -> Tensor:
    return f * x + (1 - f) * grey(x)


def make_jitter(params: JitterParams, ctx: AugContext) -> AugOp:
    # A fixed order (brightness, contrast, saturation), unlike torchvision's
    # per-call shuffle, so a run is reproducible from its seed alone.
    steps = [(params.brightness, _brightness), (params.contrast, _contrast)]
    if ctx.shape.channels == 1:
        if params.saturation > 0:
            warnings.warn("aug.jitter.saturation skipped: greyscale data has no colour", stacklevel=2)
    else:
        steps.append((params.saturation, _saturation))
    steps = [(amount, fn) for amount, fn in steps if amount > 0]

    def jitter(x: Tensor, y: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        for amount, fn in steps:
            x = fn(x, _factor(x, amount, gen)).clamp(0.0, 1.0)
        return x, y

    return jitter


# -------------------------------------------------------------- pca_lighting


def make_pca_lighting(params: PCALightingParams, ctx: AugContext) -> AugOp:
    """Krizhevsky et al. 2012 ("ImageNet classification with deep CNNs", §4.1):
    add [p1 p2 p3]·[α1λ1 α2λ2 α3λ3]ᵀ to every pixel of an image, p_i and λ_i
    the eigenvectors and eigenvalues of the 3×3 covariance of the training
    set's RGB values, one α per image and eigenvector. Not clamped, as in the
    paper, which added it to mean-subtracted pixels."""
    if ctx.shape.channels == 1:
        warnings.warn("aug.pca_lighting skipped: greyscale data has no colour", stacklevel=2)
        return identity
    _, cov = pixel_moments(ctx.train_x)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)  # columns are the p_i; [0, 1]² units
    eigenvalues = eigenvalues.clamp_min(0).float()
    eigenvectors = eigenvectors.float()

    def pca_lighting(x: Tensor, y: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        alpha = params.sigma * torch.randn(x.shape[0], 3, generator=gen, device=x.device)
        shift = (alpha * eigenvalues.to(x.device)) @ eigenvectors.to(x.device).T  # (N, 3): Σ_i α_i λ_i p_i
        return x + shift.view(-1, 3, 1, 1), y

    return pca_lighting
