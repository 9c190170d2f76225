"""Optimisers by name. Weight decay is the L2 coefficient for sgd and adam
(added to the gradient) and decoupled for adamw (Loshchilov & Hutter 2019)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ablate.config.schema import OptimConfig
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


def make_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    params = list(model.parameters())
    fused = bool(params) and all(p.device.type in FUSED_DEVICES and p.is_floating_point() for p in params)
    return OPTIMIZERS[cfg.name](params, cfg, **({"fused": True} if fused else {}))
