"""Norm, activation and init: one class per level, each holding its own options.

`norm=group` has `groups`, `norm=batch` has `momentum`, `norm=none` has only
what every norm has (its placement). A run's config.yaml and its identity hold
the chosen level's options only, so an option added to one level never touches
another level's runs, and `added_later` (ablate.schema.options) keeps the
chosen level's earlier runs where they were.

The names are the registries' (ablate.layers); the fields are the constructors'
keyword arguments, and tests/test_identity.py keeps the two equal. A level
without options of its own (relu, kaiming_normal) is the base class.
"""

from __future__ import annotations

from dataclasses import dataclass
from ablate.schema.checks import require
from ablate.schema.options import Choice, Levels, added_later


@dataclass(frozen=True)
class NormConfig(Choice):
    name: str = "none"
    placement: str = "before_act"  # before_act | after_act (ablate.layers.norm.PLACEMENTS)


@dataclass(frozen=True)
class BatchNormConfig(NormConfig):
    name: str = "batch"
    eps: float = 1e-5  # added to the variance, torch's default
    momentum: float = 0.1  # running-stat update rate

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.eps > 0, "norm.eps", self.eps, "> 0")
        require(0 <= self.momentum <= 1, "norm.momentum", self.momentum, "in [0, 1]")


@dataclass(frozen=True)
class EpsNormConfig(NormConfig):
    """Layer and instance norm: per-sample statistics, eps their only option."""

    name: str = "layer"
    eps: float = 1e-5

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.eps > 0, "norm.eps", self.eps, "> 0")


@dataclass(frozen=True)
class GroupNormConfig(NormConfig):
    name: str = "group"
    groups: int = 2  # must divide every conv layer's channels (LeNet-5: 6, 16)
    eps: float = 1e-5

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.groups >= 1, "norm.groups", self.groups, ">= 1")
        require(self.eps > 0, "norm.eps", self.eps, "> 0")


@dataclass(frozen=True)
class LRNConfig(NormConfig):
    # AlexNet's n, alpha, beta, k (Krizhevsky et al. 2012, section 3.3).
    name: str = "lrn"
    placement: str = "after_act"  # AlexNet normalises the ReLU's output
    size: int = 5  # neighbourhood, channels
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.size >= 1, "norm.size", self.size, ">= 1")


NORM_LEVELS = Levels("norm", NormConfig, {"batch": BatchNormConfig, "layer": EpsNormConfig,
                                         "instance": EpsNormConfig, "group": GroupNormConfig, "lrn": LRNConfig})


@dataclass(frozen=True)
class ActConfig(Choice):
    name: str = "relu"


@dataclass(frozen=True)
class LeakyReluConfig(ActConfig):
    name: str = "leaky_relu"
    slope: float = 0.01  # negative slope, PyTorch's default

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0 <= self.slope < 1, "act.slope", self.slope, "in [0, 1)")


ACT_LEVELS = Levels("act", ActConfig, {"leaky_relu": LeakyReluConfig})


@dataclass(frozen=True)
class InitConfig(Choice):
    name: str = "default"


@dataclass(frozen=True)
class NormalInitConfig(InitConfig):
    name: str = "normal"
    std: float = 0.01  # "small random" (AlexNet used 0.01)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.std >= 0, "init.std", self.std, ">= 0")


@dataclass(frozen=True)
class UniformInitConfig(InitConfig):
    name: str = "uniform"
    a: float = 0.05  # half-width: U(-a, a)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.a >= 0, "init.a", self.a, ">= 0")


@dataclass(frozen=True)
class ConstantInitConfig(InitConfig):
    name: str = "constant"
    # Every weight of a layer is value / fan_in, so each unit outputs `value` times
    # the mean of its inputs: the signal keeps its size at any depth and only the
    # symmetry (every unit of a layer alike) is wrong, unlike zeros, which has no signal.
    value: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.value != 0, "init.value", self.value, "nonzero (init=zeros is the all-zero init)")


INIT_LEVELS = Levels("init", InitConfig, {"normal": NormalInitConfig, "uniform": UniformInitConfig,
                                          "constant": ConstantInitConfig})


@dataclass(frozen=True)
class DropoutConfig(Choice):
    name: str = "inverted"
    p: float = 0.0  # drop probability (of units; of weights for dropconnect)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0 <= self.p < 1, "dropout.p", self.p, "in [0, 1)")


MASKS = ("example", "batch")


@dataclass(frozen=True)
class DropConnectConfig(DropoutConfig):
    name: str = "dropconnect"
    p: float = 0.5  # Wan et al. 2013
    # example: a weight mask per example, as Wan et al. 2013 define it (their eq. 2),
    # on the hidden fully connected layers; the output layer is not masked.
    # batch: one mask per batch on every fully connected layer, the output layer
    # included: what ablate did before (those runs keep their ids).
    mask: str = added_later("example", was="batch")

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.mask in MASKS, "dropout.mask", self.mask, " or ".join(MASKS))


DROPOUT_LEVELS = Levels("dropout", DropoutConfig, {"dropconnect": DropConnectConfig})
