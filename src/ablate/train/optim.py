"""Optimisers by name. Weight decay is the L2 coefficient for sgd and adam
(added to the gradient) and decoupled for adamw (Loshchilov & Hutter 2019)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from ablate.config.schema import OptimConfig
from ablate.registry import Registry

OPTIMIZERS: Registry[Callable[[Iterable[nn.Parameter], OptimConfig], torch.optim.Optimizer]] = Registry("optim")

OPTIMIZERS.add(
    "sgd",
    lambda params, c: torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov and c.momentum > 0,
                                      weight_decay=c.weight_decay),
    "SGD with momentum (optim.momentum 0.9, optim.nesterov)",
)
OPTIMIZERS.add(
    "adam",
    lambda params, c: torch.optim.Adam(params, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay),
    "Adam (Kingma & Ba 2015), L2 weight decay",
)
OPTIMIZERS.add(
    "adamw",
    lambda params, c: torch.optim.AdamW(params, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay),
    "AdamW: Adam with decoupled weight decay",
)


def make_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    return OPTIMIZERS[cfg.name](model.parameters(), cfg)
