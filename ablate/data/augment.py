"""Training augmentations: a composable set, batched on the training device.

`build_pipeline` turns the parsed parameter objects (`ablate.schema.augs`)
into one callable that augments a float batch in [0, 1] (before mean/std
normalisation) with a fresh random draw per image and no per-image Python.
The registry's order below is the order of application, the same as
`ablate.schema.augs.AUG_PARAMS` (a test keeps them equal).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ablate.schema.augs import AUG_PARAMS, aug_order
from ablate.data import colour, geometry, mixing
from ablate.shapes import InputShape
from ablate.registry import Registry

# (x, y, generator) → (x, y). x: float (N, C, H, W); y: int64 (N,) labels or
# float (N, classes) probabilities once a mixing op has run.
AugOp = Callable[[Tensor, Tensor, torch.Generator], tuple[Tensor, Tensor]]


@dataclass(frozen=True, eq=False)
class AugContext:
    """What an op may need beyond its parameters, known once per run."""

    shape: InputShape
    classes: int
    train_x: Tensor  # uint8 (N, C, H, W) on the training device; pca_lighting/cutout take statistics once


@dataclass(frozen=True)
class AugEntry:
    params: type  # frozen dataclass: `name` plus the YAML's keys, range-checked on construction
    make: Callable[[Any, AugContext], AugOp]


AUGS: Registry[AugEntry] = Registry("aug")
AUGS.add("stretch", AugEntry(AUG_PARAMS["stretch"], geometry.make_stretch),
         "random zoom and aspect ratio about the centre (aug.stretch.scale, .aspect)")
AUGS.add("rotate", AugEntry(AUG_PARAMS["rotate"], geometry.make_rotate),
         "random rotation about the centre, uniform in ±aug.rotate.degrees")
AUGS.add("crop", AugEntry(AUG_PARAMS["crop"], geometry.make_crop),
         "pad by aug.crop.padding, take a random window of the original size")
AUGS.add("flip", AugEntry(AUG_PARAMS["flip"], geometry.make_flip),
         "mirror left-right with probability aug.flip.p")
AUGS.add("jitter", AugEntry(AUG_PARAMS["jitter"], colour.make_jitter),
         "random brightness, contrast, saturation (saturation skipped on greyscale)")
AUGS.add("pca_lighting", AugEntry(AUG_PARAMS["pca_lighting"], colour.make_pca_lighting),
         "AlexNet's lighting noise along the RGB eigenvectors (aug.pca_lighting.sigma)")
AUGS.add("cutout", AugEntry(AUG_PARAMS["cutout"], mixing.make_cutout),
         "mask a random aug.cutout.size square with the mean colour")
AUGS.add("mixup", AugEntry(AUG_PARAMS["mixup"], mixing.make_mixup),
         "blend image pairs and their labels, λ ~ Beta(aug.mixup.alpha, same)")
AUGS.add("cutmix", AugEntry(AUG_PARAMS["cutmix"], mixing.make_cutmix),
         "paste a box from another image, labels mixed by area, λ ~ Beta(alpha, alpha)")


@dataclass(frozen=True)
class Pipeline:
    ops: tuple[AugOp, ...] = ()
    names: tuple[str, ...] = ()  # in application order, for logs

    def __call__(self, x: Tensor, y: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        for op in self.ops:
            x, y = op(x, y, generator)
        return x, y


def build_pipeline(params: tuple[Any, ...], ctx: AugContext) -> Pipeline:
    """Resolve every op once (statistics of train_x included); the returned
    pipeline only does tensor work. An empty tuple is the identity."""
    ordered = sorted(params, key=aug_order)
    return Pipeline(tuple(AUGS[p.name].make(p, ctx) for p in ordered), tuple(p.name for p in ordered))
