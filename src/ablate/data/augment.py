"""Training augmentations: a composable set, batched on the training device.

`aug=[flip,crop]` selects several files of `conf/aug/`, each nested under its
own name (`aug: {flip: {p: 0.5}, crop: {padding: 4}}`). `parse_aug` turns that
mapping into frozen, range-checked parameter objects; `build_pipeline` turns
those into one callable that augments a float batch in [0, 1] (before mean/std
normalisation) with a fresh random draw per image and no per-image Python.

Order is fixed whatever order the user lists them in: the registry's order
below. Geometry first (stretch, rotate, crop, flip), then colour (jitter,
pca_lighting) on the final framing, then cutout, then the label-mixing ops
last so they mix fully augmented images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ablate.config.schema import from_mapping
from ablate.data import colour, geometry, mixing
from ablate.models.blocks import InputShape
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
AUGS.add("stretch", AugEntry(geometry.StretchParams, geometry.make_stretch),
         "random zoom and aspect ratio about the centre (aug.stretch.scale, .aspect)")
AUGS.add("rotate", AugEntry(geometry.RotateParams, geometry.make_rotate),
         "random rotation about the centre, uniform in ±aug.rotate.degrees")
AUGS.add("crop", AugEntry(geometry.CropParams, geometry.make_crop),
         "pad by aug.crop.padding, take a random window of the original size")
AUGS.add("flip", AugEntry(geometry.FlipParams, geometry.make_flip),
         "mirror left-right with probability aug.flip.p")
AUGS.add("jitter", AugEntry(colour.JitterParams, colour.make_jitter),
         "random brightness, contrast, saturation (saturation skipped on greyscale)")
AUGS.add("pca_lighting", AugEntry(colour.PCALightingParams, colour.make_pca_lighting),
         "AlexNet's lighting noise along the RGB eigenvectors (aug.pca_lighting.sigma)")
AUGS.add("cutout", AugEntry(mixing.CutoutParams, mixing.make_cutout),
         "mask a random aug.cutout.size square with the mean colour")
AUGS.add("mixup", AugEntry(mixing.MixupParams, mixing.make_mixup),
         "blend image pairs and their labels, λ ~ Beta(aug.mixup.alpha, same)")
AUGS.add("cutmix", AugEntry(mixing.CutmixParams, mixing.make_cutmix),
         "paste a box from another image, labels mixed by area, λ ~ Beta(alpha, alpha)")


def _order(params: Any) -> int:
    return list(AUGS).index(params.name)


def parse_aug(mapping: Mapping[str, Mapping[str, Any] | None] | None) -> tuple[Any, ...]:
    """`{flip: {p: 0.3}, crop: null}` → (CropParams(...), FlipParams(p=0.3)),
    in application order; unknown names, keys, types and ranges are ConfigErrors.
    None (what Hydra composes for `aug=[]`) is the empty set."""
    chosen = []
    for name, values in (mapping or {}).items():
        entry = AUGS[name]  # unknown name: "unknown aug 'flp'; did you mean 'flip'? choices: ..."
        chosen.append(from_mapping(entry.params, dict(values or {}), f"aug.{name}", hidden=("name",)))
    return tuple(sorted(chosen, key=_order))


def aug_to_dict(params: tuple[Any, ...]) -> dict[str, dict[str, Any]]:
    """The inverse of `parse_aug`: plain, YAML-ready values."""
    return {p.name: {k: v for k, v in dataclasses.asdict(p).items() if k != "name"} for p in params}


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
    ordered = sorted(params, key=_order)
    return Pipeline(tuple(AUGS[p.name].make(p, ctx) for p in ordered), tuple(p.name for p in ordered))
