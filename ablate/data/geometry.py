"""Geometric augmentations: stretch, rotate, crop, flip.

Each is one batched op with its own random draw per image, on the device of
the batch. Pixels are floats in [0, 1]; areas uncovered by a warp are black
(0), the same fill as zero-padded crops.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from ablate.schema.checks import require
from ablate.schema.augs import PAD_MODES, FlipParams, CropParams, RotateParams, StretchParams

if TYPE_CHECKING:
    from ablate.data.augment import AugContext, AugOp


def uniform(n: int, low: float, high: float, gen: torch.Generator, device: torch.device) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=gen, device=device)


# ---------------------------------------------------------------------- flip


def make_flip(params: FlipParams, ctx: AugContext) -> AugOp:
    # Horizontal mirroring (Krizhevsky et al. 2012, §4.1); one torch.where, as airbench's batch_flip_lr.
    def flip(x: Tensor, y: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        mirror = torch.rand(x.shape[0], 1, 1, 1, generator=gen, device=x.device) < params.p
        return torch.where(mirror, x.flip(-1), x), y

    return flip


# ---------------------------------------------------------------------- crop



def translate(x: Tensor, dy: Tensor, dx: Tensor, padding: int, mode: str) -> Tensor:
    """Window (dy, dx) ∈ [0, 2·padding]² of the padded images, one per image:
    the content moves by (padding - dy, padding - dx) pixels. All windows are
    one zero-copy strided view of the padded batch, (N, C, 2p+1, 2p+1, H, W);
    a single advanced index picks each image's window, no loop over images
    or shifts (1.5× faster than two gathers on CPU)."""
    n, c, h, w = x.shape
    span = 2 * padding + 1
    padded = F.pad(x, (padding,) * 4, mode=PAD_MODES[mode]).contiguous()
    sn, sc, sh, sw = padded.stride()
    windows = padded.as_strided((n, c, span, span, h, w), (sn, sc, sh, sw, sh, sw))
    return windows[torch.arange(n, device=x.device), :, dy, dx]


def make_crop(params: CropParams, ctx: AugContext) -> AugOp:
    # Pad, then a random window of the original size: a translation by up to
    # ±padding pixels in each direction, uniform over the 2·padding+1 offsets.
    require(params.padding < ctx.shape.size, "aug.crop.padding", params.padding,
            f"smaller than the image ({ctx.shape.size} pixels)")

    def crop(x: Tensor, y: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        span = 2 * params.padding + 1
        dy = torch.randint(span, (x.shape[0],), generator=gen, device=x.device)
        dx = torch.randint(span, (x.shape[0],), generator=gen, device=x.device)
        return translate(x, dy, dx, params.padding, params.mode), y

    return crop


# ---------------------------------------------------------- rotate / stretch


def warp(x: Tensor, theta: Tensor) -> Tensor:
    """Sample each image through its own 2×3 affine map (output → input, in
    coordinates normalised to [-1, 1] about the centre), bilinear, black outside.
    The centre maps to itself because the maps have no translation part."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def make_rotate(params: RotateParams, ctx: AugContext) -> AugOp:
    def rotate(x: Tensor, y: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        n, _, h, w = x.shape
        a = uniform(n, -math.radians(params.degrees), math.radians(params.degrees), gen, x.device)
        cos, sin = a.cos(), a.sin()
        zero = torch.zeros_like(a)
        # Rotation in pixel units, rewritten for [-1, 1] coordinates (h/w: non-square images).
        theta = torch.stack([torch.stack([cos, -sin * h / w, zero], 1),
                             torch.stack([sin * w / h, cos, zero], 1)], 1)
        return warp(x, theta), y

    return rotate


def make_stretch(params: StretchParams, ctx: AugContext) -> AugOp:
    log_s, log_r = math.log1p(params.scale), math.log1p(params.aspect)

    def stretch(x: Tensor, y: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        n = x.shape[0]
        s = uniform(n, -log_s, log_s, gen, x.device).exp()
        r = uniform(n, -log_r, log_r, gen, x.device).exp()
        sx, sy = s * r.sqrt(), s / r.sqrt()
        zero = torch.zeros_like(s)
        # Output point p samples the input at p / (sx, sy): content grows by sx, sy.
        theta = torch.stack([torch.stack([1 / sx, zero, zero], 1),
                             torch.stack([zero, 1 / sy, zero], 1)], 1)
        return warp(x, theta), y

    return stretch
