"""Optimisers by name. Weight decay is the L2 coefficient for sgd and adam
(added to the gradient) and decoupled for adamw (Loshchilov & Hutter 2019).
The learning rate is `optim.lr`, carried from `optim.reference_batch_size` to
the run's batch size by `optim.lr_scaling`."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch
from torch import nn

from ablate.schema.run import OptimConfig
from ablate.registry import Registry

OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optim")

# Devices with fused optimizer kernels: one kernel updates every parameter
# instead of a Python loop over them. Same update rule; a step measured on CPU
# (bench/bench_fast_path.py) is 1.4-4.3x faster for SGD with momentum and
# 3.3-6.8x for AdamW over LeNet-5's and convnet's parameters.
FUSED_DEVICES = ("cpu", "cuda")

OPTIMIZERS.add(
    "sgd",
    lambda params, c, **fast: torch.optim.SGD(params, lr=c.lr, momentum=c.momentum,
                                              nesterov=c.nesterov and c.momentum > 0,
                                              weight_decay=c.weight_decay, **fast),
    "SGD with momentum (optim.momentum 0.9, optim.nesterov)",
)
OPTIMIZERS.add(
    "adam",
    lambda params, c, **fast: torch.optim.Adam(params, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay, **fast),
    "Adam (Kingma & Ba 2015), L2 weight decay",
)
OPTIMIZERS.add(
    "adamw",
    lambda params, c, **fast: torch.optim.AdamW(params, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay, **fast),
    "AdamW: Adam with decoupled weight decay",
)


# batch_size / reference_batch_size → the factor optim.lr is multiplied by.
LR_SCALINGS: Registry[Callable[[float], float]] = Registry("optim.lr_scaling")
LR_SCALINGS.add("none", lambda ratio: 1.0, "optim.lr as given, whatever the batch size")
LR_SCALINGS.add("linear", lambda ratio: ratio, "lr × batch_size / reference_batch_size (Goyal et al. 2017)")
LR_SCALINGS.add("sqrt", math.sqrt, "lr × √(batch_size / reference_batch_size) (Krizhevsky 2014)")


def scaled_lr(cfg: OptimConfig, batch_size: int | None = None) -> float:
    """The learning rate per step at `batch_size` (None: at the reference batch size)."""
    ratio = (batch_size or cfg.reference_batch_size) / cfg.reference_batch_size
    return cfg.lr * LR_SCALINGS[cfg.lr_scaling](ratio)


def make_optimizer(model: nn.Module, cfg: OptimConfig, batch_size: int | None = None) -> torch.optim.Optimizer:
    params = list(model.parameters())
    fused = bool(params) and all(p.device.type in FUSED_DEVICES and p.is_floating_point() for p in params)
    at_batch = dataclasses.replace(cfg, lr=scaled_lr(cfg, batch_size))  # the registry builds from optim.lr
    return OPTIMIZERS[cfg.name](params, at_batch, **({"fused": True} if fused else {}))
