"""Learning-rate schedules: shape, warmup, milestones."""

import math

import pytest
import torch

from ablate.schema.run import SchedConfig
from ablate.train.sched import make_scheduler


def lrs(cfg, steps=10, epochs=10, lr=1.0):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = make_scheduler(opt, cfg, steps, epochs)
    out = []
    for _ in range(steps * epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_cosine_from_lr_to_zero():
    out = lrs(SchedConfig(name="cosine"))
    assert out[0] == pytest.approx(1.0) and out[-1] < 1e-3
    assert out[50] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)), abs=1e-9)
    assert all(a >= b for a, b in zip(out, out[1:]))


def test_constant_and_warmup():
    out = lrs(SchedConfig(name="constant", warmup_epochs=2))
    assert out[0] < 0.1 and out[19] == pytest.approx(20 / 21)
    assert all(a <= b for a, b in zip(out[:20], out[1:21]))
    assert out[20:] == [1.0] * 80


def test_step_milestones():
    out = lrs(SchedConfig(name="step", milestones=(0.5, 0.75), gamma=0.1))
    assert out[49] == 1.0 and out[50] == pytest.approx(0.1) and out[75] == pytest.approx(0.01)


def test_onecycle_peaks_at_pct_start():
    out = lrs(SchedConfig(name="onecycle", pct_start=0.3))
    assert out[0] == pytest.approx(1 / 25) and max(out) == pytest.approx(1.0)
    assert out.index(max(out)) == 30
    assert out[-1] < 1 / 25 / 10
