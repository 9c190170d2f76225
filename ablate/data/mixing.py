"""Region and mixing augmentations: cutout, mixup, cutmix.

mixup and cutmix pair each image with another of the batch (a random
permutation) and return soft targets, (N, classes) probabilities that
`F.cross_entropy` takes as they are. The papers draw one λ per batch; here each
image draws its own (same Beta(α, α) marginal, timm's "elem" mode), in keeping
with every other op's per-image randomness. When both are set, cutmix runs on
mixup's output and mixes its soft targets the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from ablate.schema.checks import require
from ablate.schema.augs import CutoutParams, MixupParams, CutmixParams
from ablate.data.colour import pixel_moments

if TYPE_CHECKING:
    from ablate.data.augment import AugContext, AugOp


def soft(y: Tensor, classes: int) -> Tensor:
    """Class probabilities: labels become one-hot, soft targets pass through."""
    return y if y.is_floating_point() else F.one_hot(y, classes).float()


def beta(alpha: float, n: int, gen: torch.Generator, device: torch.device) -> Tensor:
    """n draws of Beta(α, α) as G1 / (G1 + G2), G ~ Gamma(α, 1).

    torch.distributions.Beta cannot take a generator, so seeded determinism
    goes through the (private, long-stable) `torch._standard_gamma` it uses.
    float64, because Gamma(α) draws underflow float32 for small α."""
    g = torch._standard_gamma(torch.full((2, n), alpha, dtype=torch.float64, device=device), generator=gen)
    total = g.sum(dim=0)
    lam = torch.where(total > 0, g[0] / total.clamp_min(1e-300), 0.5)
    return lam.float()


def box_mask(cy: Tensor, cx: Tensor, h: Tensor, w: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Per-image rectangles of size (h, w) centred on (cy, cx), clipped at the
    border: the (N, 1, H, W) bool mask and each box's area in pixels."""
    top, left = cy - h // 2, cx - w // 2
    r = torch.arange(height, device=cy.device).view(1, -1)
    c = torch.arange(width, device=cy.device).view(1, -1)
    rows = (r >= top.view(-1, 1)) & (r < (top + h).view(-1, 1))  # (N, H)
    cols = (c >= left.view(-1, 1)) & (c < (left + w).view(-1, 1))  # (N, W)
    return rows[:, None, :, None] & cols[:, None, None, :], rows.sum(1) * cols.sum(1)


def _centres(x: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    n, _, h, w = x.shape
    return (torch.randint(h, (n,), generator=gen, device=x.device),
            torch.randint(w, (n,), generator=gen, device=x.device))


# -------------------------------------------------------------------- cutout


def make_cutout(params: CutoutParams, ctx: AugContext) -> AugOp:
    # Centre uniform over the image, square clipped at the border (the paper
    # lets it hang off). Filled with the training mean: the paper masks after
    # normalisation, where zero is the mean. A square as large as the image
    # would blank all of it wherever its centre falls (16 px on 8×8 digits).
    require(params.size < ctx.shape.size, "aug.cutout.size", params.size,
            f"smaller than the image ({ctx.shape.size} pixels)")
    mean, _ = pixel_moments(ctx.train_x)
    fill = mean.float().view(1, -1, 1, 1)

    def cutout(x: Tensor, y: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        cy, cx = _centres(x, gen)
        side = torch.full_like(cy, params.size)
        mask, _ = box_mask(cy, cx, side, side, x.shape[2], x.shape[3])
        return torch.where(mask, fill.to(x.device, x.dtype), x), y

    return cutout


# --------------------------------------------------------------------- mixup


def make_mixup(params: MixupParams, ctx: AugContext) -> AugOp:
    def mixup(x: Tensor, y: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        n = x.shape[0]
        lam = beta(params.alpha, n, gen, x.device)
        partner = torch.randperm(n, generator=gen, device=x.device)
        t = soft(y, ctx.classes)
        lx, ly = lam.view(-1, 1, 1, 1).to(x.dtype), lam.view(-1, 1)
        return lx * x + (1 - lx) * x[partner], ly * t + (1 - ly) * t[partner]

    return mixup


# -------------------------------------------------------------------- cutmix


def make_cutmix(params: CutmixParams, ctx: AugContext) -> AugOp:
    def cutmix(x: Tensor, y: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        n, _, h, w = x.shape
        lam = beta(params.alpha, n, gen, x.device)
        # The paper's box: sides H·√(1-λ), W·√(1-λ) (floored), centre uniform,
        # clipped at the border, then λ recomputed from the pasted area so the
        # label weights match the pixels exactly.
        cut = (1 - lam).sqrt()
        bh, bw = (cut * h).long(), (cut * w).long()
        cy, cx = _centres(x, gen)
        mask, area = box_mask(cy, cx, bh, bw, h, w)
        partner = torch.randperm(n, generator=gen, device=x.device)
        lam = (1 - area.float() / (h * w)).view(-1, 1)
        t = soft(y, ctx.classes)
        return torch.where(mask, x[partner], x), lam * t + (1 - lam) * t[partner]

    return cutmix
