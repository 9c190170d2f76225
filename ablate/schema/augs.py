"""The parameters of each augmentation: frozen, range-checked config types.

`aug=[flip,crop]` selects several files of `conf/aug/`, each nested under its
own name (`aug: {flip: {p: 0.5}, crop: {padding: 4}}`). `parse_aug` turns that
mapping into these objects, in application order; the ops that use them are
`ablate.data.augment.AUGS`, whose keys and order a test keeps equal to
`AUG_PARAMS`'s. Checks that need the image (crop padding and cutout size
against the image size) run where the ops are built.

Order is fixed whatever order the user lists them in: geometry first
(stretch, rotate, crop, flip), then colour (jitter, pca_lighting) on the final
framing, then cutout, then the label-mixing ops last so they mix fully
augmented images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ablate.schema.checks import from_mapping, require
from ablate.errors import unknown_choice

PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate"}  # → F.pad's names


@dataclass(frozen=True)
class StretchParams:
    name: str = "stretch"
    # Zoom s log-uniform in [1/(1+scale), 1+scale]: zooming in by 15% is as
    # likely as out by 15% (scaling ±15%, Cireşan et al. 2010).
    scale: float = 0.15
    # Aspect ratio r log-uniform in [1/(1+aspect), 1+aspect]; width × s·√r,
    # height × s/√r (the scale-and-aspect jitter of Szegedy et al. 2015,
    # "Going deeper with convolutions", about the centre instead of a crop).
    aspect: float = 0.15

    def __post_init__(self) -> None:
        require(0 <= self.scale <= 3, "aug.stretch.scale", self.scale, "in [0, 3] (zoom up to 4×)")
        require(0 <= self.aspect <= 3, "aug.stretch.aspect", self.aspect, "in [0, 3]")


@dataclass(frozen=True)
class RotateParams:
    name: str = "rotate"
    # Angle uniform in ±degrees about the image centre. ±15° as in Cireşan et
    # al. 2010 ("Deep, big, simple neural nets for handwritten digit recognition").
    degrees: float = 15.0

    def __post_init__(self) -> None:
        require(0 <= self.degrees <= 180, "aug.rotate.degrees", self.degrees, "in [0, 180]")


@dataclass(frozen=True)
class CropParams:
    name: str = "crop"
    padding: int = 4  # pixels added on each side; 4 on 32-px CIFAR (He et al. 2016, §4.2)
    mode: str = "zeros"  # fill of the padding: zeros (He et al.), reflect (airbench), replicate

    def __post_init__(self) -> None:
        require(self.padding >= 0, "aug.crop.padding", self.padding, ">= 0 pixels")
        require(self.mode in PAD_MODES, "aug.crop.mode", self.mode, f"one of {', '.join(PAD_MODES)}")


@dataclass(frozen=True)
class FlipParams:
    name: str = "flip"
    p: float = 0.5  # probability that an image is mirrored left-right

    def __post_init__(self) -> None:
        require(0 <= self.p <= 1, "aug.flip.p", self.p, "in [0, 1]")


@dataclass(frozen=True)
class JitterParams:
    name: str = "jitter"
    # Each factor is uniform in [max(0, 1 - v), 1 + v] per image, torchvision
    # ColorJitter's convention; 0.4 each as in its ImageNet reference recipes.
    # Brightness, contrast and colour jitter: Howard 2013, "Some improvements
    # on deep convolutional neural network based image classification".
    brightness: float = 0.4  # scales the pixel values
    contrast: float = 0.4  # blends with the image's mean luma
    saturation: float = 0.4  # blends with each pixel's luma (colour images only)

    def __post_init__(self) -> None:
        for key in ("brightness", "contrast", "saturation"):
            value = getattr(self, key)
            require(0 <= value <= 1, f"aug.jitter.{key}", value, "in [0, 1]")


@dataclass(frozen=True)
class PCALightingParams:
    name: str = "pca_lighting"
    # Std of the per-image coefficients α_i ~ N(0, sigma) (AlexNet: 0.1).
    sigma: float = 0.1

    def __post_init__(self) -> None:
        require(0 <= self.sigma <= 10, "aug.pca_lighting.sigma", self.sigma, "in [0, 10]")


@dataclass(frozen=True)
class CutoutParams:
    name: str = "cutout"
    # Side of the square, pixels. DeVries & Taylor 2017 ("Improved
    # regularization of CNNs with cutout"): 16 on CIFAR-10, 8 on CIFAR-100.
    size: int = 16

    def __post_init__(self) -> None:
        require(self.size >= 1, "aug.cutout.size", self.size, ">= 1 pixel")


@dataclass(frozen=True)
class MixupParams:
    name: str = "mixup"
    # λ ~ Beta(α, α). Zhang et al. 2018 ("mixup: beyond empirical risk
    # minimization"): α = 1 on CIFAR-10, 0.1–0.4 on ImageNet.
    alpha: float = 1.0

    def __post_init__(self) -> None:
        require(self.alpha > 0, "aug.mixup.alpha", self.alpha, "> 0")


@dataclass(frozen=True)
class CutmixParams:
    name: str = "cutmix"
    # λ ~ Beta(α, α); Yun et al. 2019 ("CutMix: regularization strategy to
    # train strong classifiers with localizable features") use α = 1, i.e.
    # λ uniform on (0, 1).
    alpha: float = 1.0

    def __post_init__(self) -> None:
        require(self.alpha > 0, "aug.cutmix.alpha", self.alpha, "> 0")


# name → parameter type, in application order.
AUG_PARAMS: dict[str, type] = {cls.name: cls for cls in (
    StretchParams, RotateParams, CropParams, FlipParams, JitterParams, PCALightingParams,
    CutoutParams, MixupParams, CutmixParams)}


def parse_aug(mapping: Mapping[str, Mapping[str, Any] | None] | None) -> tuple[Any, ...]:
    """`{flip: {p: 0.3}, crop: null}` → (CropParams(...), FlipParams(p=0.3)),
    in application order; unknown names, keys, types and ranges are ConfigErrors.
    None (what Hydra composes for `aug=[]`) is the empty set."""
    chosen = []
    for name, values in (mapping or {}).items():
        if name not in AUG_PARAMS:  # "unknown aug 'flp'; did you mean 'flip'? choices: ..."
            raise unknown_choice("aug", name, AUG_PARAMS)
        chosen.append(from_mapping(AUG_PARAMS[name], dict(values or {}), f"aug.{name}", hidden=("name",)))
    return tuple(sorted(chosen, key=aug_order))


def aug_order(params: Any) -> int:
    return list(AUG_PARAMS).index(params.name)


def aug_to_dict(params: tuple[Any, ...]) -> dict[str, dict[str, Any]]:
    """The inverse of `parse_aug`: plain, YAML-ready values."""
    return {p.name: {k: v for k, v in dataclasses.asdict(p).items() if k != "name"} for p in params}
