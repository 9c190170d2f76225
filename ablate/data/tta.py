"""Test-time augmentation: average the softmax over several views of each image.

Multi-crop testing as in Krizhevsky et al. 2012 (§4.1: the four corner and
the centre patches and their mirrors, "ten patches"). AlexNet trained on
random 224-px crops of 256-px images and tested on five of those same crops,
so every test view was an image the net could have seen in training. Here
every view keeps the input's size so any model takes it, and by default
(`eval.tta_pad=train`) the views are the training crop's own geometry: the
image padded as aug.crop pads it (its padding and fill), the four corner
windows its four extreme translations and the centre window the image itself.
A run without a crop aug pads by `size // 8` pixels of black (4 px at 32 px,
the crop aug's default padding there, and its default fill): those shifted
views are ones the net never trained on, so crop TTA then measures robustness
to shifts (a note says so). `eval.tta_pad=reflect` keeps the earlier views:
`size // 8` pixels of reflected border whatever the training did (airbench's
translate TTA).

Views are made from normalised images; black there is a black pixel
normalised (`Views.fill`), so a zero-padded view equals the one training's
crop would have made, value for value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ablate.registry import Registry
from ablate.schema.augs import PAD_MODES, CropParams
from ablate.schema.run import CROP_TTAS  # noqa: F401  (the levels eval.tta_pad applies to, named once there)


def tta_padding(size: int) -> int:
    """The padding without a training crop to copy: 1/8 of the image (CIFAR's 4 of 32 px)."""
    return max(1, size // 8)


@dataclass(frozen=True)
class Views:
    """How a run's test-time views are made: eval.tta's views, padded by
    `padding` pixels of `mode` (an aug.crop mode: zeros, reflect, replicate)."""

    name: str
    padding: int
    mode: str
    fill: Tensor | None = None  # zeros: a black pixel in the images' space, (1, C, 1, 1); None: 0

    def __call__(self, x: Tensor) -> list[Tensor]:
        return TTAS[self.name](x, self)

    def pad(self, x: Tensor) -> Tensor:
        p = self.padding
        if self.mode != "zeros" or self.fill is None:
            return F.pad(x, (p,) * 4, mode=PAD_MODES[self.mode])
        n, c, h, w = x.shape
        out = self.fill.to(device=x.device, dtype=x.dtype).expand(n, c, h + 2 * p, w + 2 * p).clone()
        out[..., p:p + h, p:p + w] = x
        return out


def five_crop(x: Tensor, views: Views) -> list[Tensor]:
    """Centre, then top-left, top-right, bottom-left, bottom-right; each (N, C, H, W)."""
    h, w = x.shape[-2:]
    p = views.padding
    padded = views.pad(x)
    offsets = [(p, p), (0, 0), (0, 2 * p), (2 * p, 0), (2 * p, 2 * p)]  # (top, left) in the padded image
    return [padded[..., top:top + h, left:left + w] for top, left in offsets]


def ten_crop(x: Tensor, views: Views) -> list[Tensor]:
    five = five_crop(x, views)
    return five + [v.flip(-1) for v in five]


TTAS: Registry[Callable[[Tensor, Views], list[Tensor]]] = Registry("eval.tta")
TTAS.add("none", lambda x, v: [x], "the image as it is")
TTAS.add("flip", lambda x, v: [x, x.flip(-1)], "the image and its mirror")
TTAS.add("five_crop", five_crop, "the centre and the four corner translations, padded as eval.tta_pad says")
TTAS.add("ten_crop", ten_crop, "five_crop and the mirrors of those five")


def _as_trained(aug: tuple, size: int) -> tuple[int, str]:
    crop = next((a for a in aug if isinstance(a, CropParams)), None)
    return (crop.padding, crop.mode) if crop is not None else (tta_padding(size), "zeros")


# eval.tta_pad → (aug set, image size) → (padding, mode) of the crop views.
TTA_PADS: Registry[Callable[[tuple, int], tuple[int, str]]] = Registry("eval.tta_pad")
TTA_PADS.add("train", _as_trained, "as aug.crop pads (padding, fill); without it size // 8 px of black")
TTA_PADS.add("reflect", lambda aug, size: (tta_padding(size), "reflect"),
             "size // 8 px of reflected border, whatever training did (the views before eval.tta_pad existed)")


def make_views(name: str, pad: str, aug: tuple, size: int, fill: Tensor | None = None) -> Views | None:
    """The views of `eval.tta=name` for a run with augmentations `aug` on `size`-px
    images; None for eval.tta=none (no TTA evaluation at all)."""
    TTAS[name]  # an unknown name fails here, with the choices
    if name == "none":
        return None
    padding, mode = TTA_PADS[pad](aug, size)
    return Views(name, padding, mode, fill)


@torch.no_grad()
def predict_tta(model: nn.Module, views: list[Tensor]) -> Tensor:
    """(N, classes) mean softmax over the views of one batch. One forward per
    view, so peak memory is one batch's, not ten."""
    total = model(views[0]).float().softmax(dim=-1)
    for v in views[1:]:
        total += model(v).float().softmax(dim=-1)
    return total / len(views)
