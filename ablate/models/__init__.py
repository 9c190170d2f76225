"""Model registry and the one place where choices become a network."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

from torch import nn

from ablate.schema.choices import ActConfig, DropoutConfig, InitConfig, NormConfig
from ablate.schema.run import ModelConfig
from ablate.layers.act import ACTS
from ablate.layers.dropout import DROPOUTS
from ablate.layers.init import apply_init
from ablate.layers.norm import NORMS, PLACEMENTS, make_norm
from ablate.layers.pool import GLOBAL_POOLS, POOLS
from ablate.models.alexnet import AlexNet
from ablate.models.blocks import LayerKit
from ablate.models.convnet import ConvNet
from ablate.models.lenet import LeNet5
from ablate.models.resnet import ResNet
from ablate.registry import Registry
from ablate.shapes import InputShape

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")
MODELS.add("lenet5", LeNet5, "LeNet-5: 2 convs (6, 16 ch) + FC 120, 84 (LeCun et al. 1998)")
MODELS.add("convnet", ConvNet, "VGG-style: model.depth conv blocks, model.width channels, 3 stages")
MODELS.add("alexnet", AlexNet, "AlexNet, small-input: 5 convs, 2 hidden FC (Krizhevsky et al. 2012)")
MODELS.add("resnet", ResNet, "CIFAR ResNet, model.depth = 6n+2 (He et al. 2016)")


def model_options(model: ModelConfig) -> dict[str, Any]:
    """The fields the chosen model's constructor takes (read off its signature):
    depth and width for all, residual for resnet only."""
    params = inspect.signature(MODELS[model.name]).parameters
    return {k: getattr(model, k) for k in params if k not in ("shape", "kit")}


def make_kit(norm: NormConfig, act: ActConfig, dropout: DropoutConfig, pool: str) -> LayerKit:
    activation = ACTS[act.name]
    return LayerKit(
        norm=make_norm(norm.name, **norm.options()),
        norm_first=PLACEMENTS[norm.placement],
        act=partial(activation.make, **act.options()),
        pool=POOLS[pool],
        global_pool=GLOBAL_POOLS[pool],
        dropout=DROPOUTS[dropout.name],
        p=dropout.p,
        dropout_options=dropout.options(),
    )


def build_model(
    model: ModelConfig,
    norm: NormConfig,
    act: ActConfig,
    init: InitConfig,
    dropout: DropoutConfig,
    shape: InputShape,
) -> nn.Module:
    kit = make_kit(norm, act, dropout, model.pool)
    net = MODELS[model.name](shape, kit, **model_options(model))
    apply_init(net, init.name, ACTS[act.name].gain(**act.options()), **init.options())
    return net


def count_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
