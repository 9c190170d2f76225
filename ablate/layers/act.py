"""Activations, each with the gain that variance-preserving inits use for it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ablate.registry import Registry


@dataclass(frozen=True)
class Activation:
    # make(**options) → the module; options are the level's own (act.slope of
    # leaky_relu; ablate.schema.choices), none for most.
    make: Callable[..., nn.Module]
    # gain(**options) → the std multiplier that keeps activation variance constant
    # through a layer followed by this nonlinearity (He et al. 2015; values as
    # in torch.nn.init.calculate_gain where it defines them).
    gain: Callable[..., float]


def _leaky_gain(slope: float) -> float:
    return math.sqrt(2.0 / (1.0 + slope**2))


ACTS: Registry[Activation] = Registry("act")
ACTS.add("relu", Activation(lambda: nn.ReLU(), lambda: math.sqrt(2.0)), "max(0, x)")
ACTS.add("sigmoid", Activation(lambda: nn.Sigmoid(), lambda: 1.0), "logistic 1/(1+e^-x); saturates at 0 and 1")
ACTS.add("tanh", Activation(lambda: nn.Tanh(), lambda: 5.0 / 3.0), "tanh; saturates at ±1")
ACTS.add("leaky_relu", Activation(lambda slope: nn.LeakyReLU(slope), _leaky_gain), "max(slope·x, x), act.slope (default 0.01)")
# PReLU learns its slope; its gain uses the initial slope 0.25 (He et al. 2015).
ACTS.add("prelu", Activation(lambda: nn.PReLU(init=0.25), lambda: _leaky_gain(0.25)), "leaky ReLU with a learned slope (init 0.25)")
# ELU/GELU/SiLU have no closed-form gain; the ReLU gain is the usual choice.
ACTS.add("elu", Activation(lambda: nn.ELU(), lambda: math.sqrt(2.0)), "exponential linear unit (Clevert et al. 2015)")
ACTS.add("selu", Activation(lambda: nn.SELU(), lambda: 0.75), "self-normalising ELU (Klambauer et al. 2017); pair with lecun_normal")
ACTS.add("gelu", Activation(lambda: nn.GELU(), lambda: math.sqrt(2.0)), "x·Φ(x) (Hendrycks & Gimpel 2016)")
ACTS.add("silu", Activation(lambda: nn.SiLU(), lambda: math.sqrt(2.0)), "x·sigmoid(x), a.k.a. swish")

# Bounds (low, high) of the saturating activations; diagnostics use them.
SATURATING = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}
