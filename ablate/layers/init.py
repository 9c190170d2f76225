"""Weight initialisation schemes.

Fans are computed for conv kernels as channels × kernel area
(fan_in = C_in·kH·kW, fan_out = C_out·kH·kW), as Glorot & Bengio (2010) and
He et al. (2015) define them. Where a scheme is derived for a nonlinearity
(Kaiming, orthogonal) the gain comes from the activation; the output layer,
which feeds the softmax and no nonlinearity, always gets gain 1. Xavier uses
gain 1 as published (its derivation assumes the linear regime); LeCun normal is
gain-free by definition (LeCun et al. 1998; the SELU paper's init).
Biases start at zero for every scheme but `default`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ablate.registry import Registry

# fn(weight, gain, **options) fills `weight` in place; options are the level's
# own (init.std of normal, init.a of uniform; ablate.schema.choices).
InitFn = Callable[..., None]

INITS: Registry[InitFn | None] = Registry("init")


def fans(weight: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a Linear (out, in) or Conv (out, in, kh, kw) weight."""
    receptive = math.prod(weight.shape[2:]) if weight.dim() > 2 else 1
    return weight.shape[1] * receptive, weight.shape[0] * receptive


@torch.no_grad()
def _zeros(w: Tensor, gain: float) -> None:
    w.zero_()


@torch.no_grad()
def _constant(w: Tensor, gain: float, value: float = 1.0) -> None:
    # value / fan_in: a unit's output is value × the mean of its inputs (ablate.schema.choices.ConstantInitConfig).
    w.fill_(value / fans(w)[0])


@torch.no_grad()
def _normal(w: Tensor, gain: float, std: float = 0.01) -> None:
    w.normal_(0.0, std)


@torch.no_grad()
def _uniform(w: Tensor, gain: float, a: float = 0.05) -> None:
    w.uniform_(-a, a)


@torch.no_grad()
def _xavier_uniform(w: Tensor, gain: float) -> None:
    fan_in, fan_out = fans(w)
    bound = math.sqrt(6.0 / (fan_in + fan_out))  # Var = 2/(fan_in+fan_out)
    w.uniform_(-bound, bound)


@torch.no_grad()
def _xavier_normal(w: Tensor, gain: float) -> None:
    fan_in, fan_out = fans(w)
    w.normal_(0.0, math.sqrt(2.0 / (fan_in + fan_out)))


@torch.no_grad()
def _kaiming_uniform(w: Tensor, gain: float) -> None:
    fan_in, _ = fans(w)
    bound = gain * math.sqrt(3.0 / fan_in)  # Var = gain²/fan_in
    w.uniform_(-bound, bound)


@torch.no_grad()
def _kaiming_normal(w: Tensor, gain: float) -> None:
    fan_in, _ = fans(w)
    w.normal_(0.0, gain / math.sqrt(fan_in))


@torch.no_grad()
def _lecun_normal(w: Tensor, gain: float) -> None:
    fan_in, _ = fans(w)
    w.normal_(0.0, 1.0 / math.sqrt(fan_in))


@torch.no_grad()
def _orthogonal(w: Tensor, gain: float) -> None:
    # Saxe et al. (2014): rows (or columns) of the (out, in·k·k) matrix orthonormal.
    nn.init.orthogonal_(w, gain=gain)


INITS.add("default", None, "the framework's own (PyTorch: kaiming_uniform with a=√5)")
INITS.add("zeros", _zeros, "all weights 0: units stay identical, the textbook failure")
INITS.add("constant", _constant, "every weight init.value / fan_in (default 1): signal, but units identical")
INITS.add("normal", _normal, "N(0, init.std²), init.std default 0.01 (small random)")
INITS.add("uniform", _uniform, "U(-init.a, init.a), init.a default 0.05")
INITS.add("xavier_uniform", _xavier_uniform, "Glorot: U(±√(6/(fan_in+fan_out)))")
INITS.add("xavier_normal", _xavier_normal, "Glorot: N(0, 2/(fan_in+fan_out))")
INITS.add("kaiming_uniform", _kaiming_uniform, "He: U(±gain·√(3/fan_in)), gain from act")
INITS.add("kaiming_normal", _kaiming_normal, "He: N(0, gain²/fan_in), gain from act")
INITS.add("lecun_normal", _lecun_normal, "LeCun: N(0, 1/fan_in); pair with selu")
INITS.add("orthogonal", _orthogonal, "Saxe: orthogonal matrix × gain from act")

OUTPUT_LAYER_ATTR = "ablate_output_layer"


def mark_output(layer: nn.Module) -> nn.Module:
    """Tag the classifier's last layer so it gets gain 1 (no nonlinearity after it)."""
    setattr(layer, OUTPUT_LAYER_ATTR, True)
    return layer


def apply_init(model: nn.Module, scheme: str, gain: float, **options: float) -> None:
    """Initialise every conv and linear weight of `model` by `scheme`, with its own options."""
    fn = INITS[scheme]
    if fn is None:
        return
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if not isinstance(module, (nn.Conv2d, nn.Linear)) or weight is None:
            continue
        layer_gain = 1.0 if getattr(module, OUTPUT_LAYER_ATTR, False) else gain
        fn(weight, layer_gain, **options)
        if module.bias is not None:
            with torch.no_grad():
                module.bias.zero_()
