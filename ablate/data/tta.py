"""Test-time augmentation: average the softmax over several views of each image.

Multi-crop testing as in Krizhevsky et al. 2012 (§4.1: the four corner and
the centre patches and their mirrors, "ten patches"). Their crops were smaller
than the image; here every view keeps the input's size so any model takes it:
the image is padded by `size // 8` pixels (4 px at 32 px, the crop aug's
default padding) and the corner windows are the extreme translations, the
centre window the image itself. The padding reflects the border, as
airbench's translate TTA does, so no fill colour (black in pixel space, the
mean after normalisation) has to be guessed for a tensor that may be either.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ablate.registry import Registry


def tta_padding(size: int) -> int:
    return max(1, size // 8)


def five_crop(x: Tensor) -> list[Tensor]:
    """Centre, then top-left, top-right, bottom-left, bottom-right; each (N, C, H, W)."""
    h, w = x.shape[-2:]
    p = tta_padding(min(h, w))
    padded = F.pad(x, (p, p, p, p), mode="reflect")
    offsets = [(p, p), (0, 0), (0, 2 * p), (2 * p, 0), (2 * p, 2 * p)]  # (top, left) in the padded image
    return [padded[..., top:top + h, left:left + w] for top, left in offsets]


def ten_crop(x: Tensor) -> list[Tensor]:
    views = five_crop(x)
    return views + [v.flip(-1) for v in views]


TTAS: Registry[Callable[[Tensor], list[Tensor]]] = Registry("eval.tta")
TTAS.add("none", lambda x: [x], "the image as it is")
TTAS.add("flip", lambda x: [x, x.flip(-1)], "the image and its mirror")
TTAS.add("five_crop", five_crop, "four corner translations and the centre (pad size//8, reflect)")
TTAS.add("ten_crop", ten_crop, "five_crop and the mirrors of those five")


@torch.no_grad()
def predict_tta(model: nn.Module, x: Tensor, name: str) -> Tensor:
    """(N, classes) mean softmax over the views. One forward per view, so peak
    memory is one batch's, not ten."""
    views = TTAS[name](x)
    total = model(views[0]).float().softmax(dim=-1)
    for v in views[1:]:
        total += model(v).float().softmax(dim=-1)
    return total / len(views)
