"""Learning-rate schedules as multipliers of `optim.lr`, stepped every batch.

Each schedule is `f(t, cfg) → multiplier` with t the fraction of the
post-warmup training done, in [0, 1]. A linear warmup of
`sched.warmup_epochs` ramps the multiplier from ~0 to f(0) first.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ablate.schema.run import SchedConfig
from ablate.registry import Registry

Schedule = Callable[[float, SchedConfig], float]
SCHEDULES: Registry[Schedule] = Registry("sched")


def _cos(start: float, end: float, t: float) -> float:
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * t))


SCHEDULES.add("cosine", lambda t, c: _cos(1.0, 0.0, t), "cosine decay to 0 (Loshchilov & Hutter 2017)")
SCHEDULES.add("constant", lambda t, c: 1.0, "constant optim.lr")
SCHEDULES.add("step", lambda t, c: c.gamma ** sum(t >= m for m in c.milestones),
              "×sched.gamma at each of sched.milestones (fractions of training)")


def _onecycle(t: float, c: SchedConfig) -> float:
    # PyTorch's OneCycleLR with cosine annealing: lr/div_factor → lr → lr/(div·final_div).
    low, final = 1.0 / c.div_factor, 1.0 / (c.div_factor * c.final_div_factor)
    if t < c.pct_start:
        return _cos(low, 1.0, t / c.pct_start)
    return _cos(1.0, final, (t - c.pct_start) / (1.0 - c.pct_start))


SCHEDULES.add("onecycle", _onecycle, "rise to optim.lr over sched.pct_start, then anneal (Smith 2018)")


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: SchedConfig, steps_per_epoch: int,
                   epochs: int, total_steps: int | None = None) -> torch.optim.lr_scheduler.LambdaLR:
    """`total_steps`: the schedule's horizon in optimiser steps (budget=steps);
    None: `epochs` whole passes. Warmup stays in epochs of this split."""
    total = steps_per_epoch * epochs if total_steps is None else total_steps
    warmup = min(round(cfg.warmup_epochs * steps_per_epoch), total - 1)
    schedule = SCHEDULES[cfg.name]

    def multiplier(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1) * schedule(0.0, cfg)
        return schedule(min(1.0, (step - warmup) / max(1, total - warmup)), cfg)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
