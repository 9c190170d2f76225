"""The typed configuration: frozen dataclasses, checked once at the edge.

Types live here, values in `conf/*.yaml` (Hydra's structured-config split).
`ablate.schema.checks.from_mapping` turns a plain mapping into these objects;
each checks its own types and ranges on construction. Whether a name is one of
a registry's choices (`norm=grop`) is checked by the composition step
(`ablate.config.compose`), which may import the registries: this module
imports none, so every other module can import it. Past config/, code gets
these objects, never a DictConfig.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ablate.schema.augs import AUG_PARAMS, aug_to_dict, parse_aug
from ablate.schema.checks import from_mapping, require
from ablate.schema.choices import (ACT_LEVELS, DROPOUT_LEVELS, INIT_LEVELS, NORM_LEVELS, ActConfig, DropoutConfig,
                                   InitConfig, NormConfig)
from ablate.schema.options import ENTRIES, added_later, not_identity
from ablate.errors import ConfigError


def parse_n_train(value: Any) -> int | float | None:
    """`data.n_train`: null (the whole training split), a count of images >= 1,
    or a fraction in (0, 1]; 1.0 is the whole split, so it is null."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    if isinstance(value, float) and 0 < value <= 1:
        return None if value == 1 else value
    raise ConfigError(f"data.n_train={value!r} is out of range: must be a count of training images >= 1, "
                      f"a fraction in (0, 1], or null for the whole training split")


@dataclass(frozen=True)
class DataConfig:
    name: str = "digits"
    preprocess: str = "standardize"  # standardize | center | none, stats from the train split
    root: str | None = None  # torchvision datasets and imagefolder read from here
    download: bool = False
    # Validation images carved from the training split, stratified and fixed by
    # split_seed; imagefolder with null reads val/ instead.
    val_fraction: float | None = 0.1
    # Test images carved from the training split where a dataset has no test
    # split of its own (digits; imagefolder without test/). Carved before val,
    # so changing val_fraction never changes the test images.
    test_fraction: float = 0.1
    split_seed: int = 0  # fixed across runs so every config is scored on the same images
    # Train on a stratified, nested subset of the training split (a count or a
    # fraction; ablate.data.registry.nested_order); val and test stay as they are.
    # For synthetic: how many training images to generate (default 2048 there).
    n_train: int | float | None = field(default=None, metadata={"parse": parse_n_train})
    size: int | None = None  # pixels; None: the dataset's native size
    channels: int = 3  # synthetic only
    classes: int = 10  # synthetic only
    n_val: int = 512  # synthetic only: the val set's size, and the test set's
    noise: float = 0.6  # synthetic only: noise std relative to the class pattern's
    # synthetic only: mirror each image left-right with probability 1/2, so every
    # class looks the same mirrored, as photographed objects do; flips are then
    # label-preserving (aug=[flip], eval.tta=flip), as they are not for digits.
    mirror: bool = added_later(False)
    # Val accuracy that counts as "converged" when the run sets no target_acc: each
    # dataset's YAML states one (0.9 × its usual ceiling), so epochs-to-target means
    # the same in every sweep of that dataset and never moves when an arm is added.
    # Not in the run id: it changes what the summary derives, not what is trained.
    target: float | None = not_identity(None)

    def __post_init__(self) -> None:
        if self.target is not None:
            require(0 < self.target <= 1, "data.target", self.target, "in (0, 1]")
        if self.val_fraction is not None:
            require(0 < self.val_fraction < 1, "data.val_fraction", self.val_fraction, "in (0, 1)")
        require(0 < self.test_fraction < 1, "data.test_fraction", self.test_fraction, "in (0, 1)")
        require((self.val_fraction or 0) + self.test_fraction < 1, "data.val_fraction + data.test_fraction",
                round((self.val_fraction or 0) + self.test_fraction, 6), "< 1, leaving images to train on")
        if self.size is not None:
            require(self.size >= 4, "data.size", self.size, ">= 4 pixels")
        require(self.channels in (1, 3), "data.channels", self.channels, "1 or 3")
        require(self.classes >= 2, "data.classes", self.classes, ">= 2")
        require(self.n_val >= 1, "data.n_val", self.n_val, ">= 1")
        require(self.noise >= 0, "data.noise", self.noise, ">= 0")
        require(not self.mirror or self.name == "synthetic", "data.mirror", self.mirror,
                "false except for data=synthetic")


@dataclass(frozen=True)
class ModelConfig:
    name: str = "lenet5"
    pool: str = "max"
    depth: int = 2
    width: int = 6
    # resnet only: false drops every shortcut, leaving the same layers as a plain
    # stack (He et al. 2016's "plain" baselines, Fig. 4 left).
    residual: bool = added_later(True)

    def __post_init__(self) -> None:
        require(1 <= self.depth <= 200, "model.depth", self.depth, "between 1 and 200")
        require(self.residual or self.name == "resnet", "model.residual", self.residual,
                "true except for model=resnet (the only model with shortcuts)")
        require(1 <= self.width <= 4096, "model.width", self.width, "between 1 and 4096")
        if self.name == "resnet":
            require((self.depth - 2) % 6 == 0 and self.depth >= 8, "model.depth", self.depth,
                    "6n+2 for resnet (8, 14, 20, 32, 44, 56, 110)")


@dataclass(frozen=True)
class OptimConfig:
    name: str = "sgd"
    lr: float = 0.05
    weight_decay: float = 0.0  # L2 penalty coefficient (decoupled for adamw)
    momentum: float = 0.9  # sgd
    nesterov: bool = False  # sgd
    betas: tuple[float, float] = (0.9, 0.999)  # adam, adamw
    # optim.lr is per step at this batch size; lr_scaling carries it to another
    # batch size: linear (Goyal et al. 2017, "Accurate, large minibatch SGD")
    # or sqrt (Krizhevsky 2014, "One weird trick"); none keeps optim.lr as is.
    lr_scaling: str = "none"
    reference_batch_size: int = 64

    def __post_init__(self) -> None:
        require(self.lr > 0, "optim.lr", self.lr, "> 0")
        require(self.weight_decay >= 0, "optim.weight_decay", self.weight_decay, ">= 0")
        require(self.reference_batch_size >= 1, "optim.reference_batch_size", self.reference_batch_size, ">= 1")
        require(0 <= self.momentum < 1, "optim.momentum", self.momentum, "in [0, 1)")
        require(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
                "optim.betas", list(self.betas), "two numbers in [0, 1)")


@dataclass(frozen=True)
class SchedConfig:
    name: str = "cosine"
    warmup_epochs: float = 0.0  # linear ramp from 0 to optim.lr, epochs (fractions allowed)
    milestones: tuple[float, ...] = (0.5, 0.75)  # step: fractions of training
    gamma: float = 0.1  # step: lr factor at each milestone
    pct_start: float = 0.3  # onecycle: fraction of training spent rising (Smith 2018)
    div_factor: float = 25.0  # onecycle: start lr = lr / div_factor (PyTorch's default)
    final_div_factor: float = 1e4  # onecycle: final lr = start lr / final_div_factor

    def __post_init__(self) -> None:
        require(self.warmup_epochs >= 0, "sched.warmup_epochs", self.warmup_epochs, ">= 0")
        require(all(0 < m < 1 for m in self.milestones), "sched.milestones",
                list(self.milestones), "fractions of training in (0, 1)")
        require(0 < self.gamma <= 1, "sched.gamma", self.gamma, "in (0, 1]")
        require(0 < self.pct_start < 1, "sched.pct_start", self.pct_start, "in (0, 1)")
        require(self.div_factor >= 1, "sched.div_factor", self.div_factor, ">= 1")
        require(self.final_div_factor >= 1, "sched.final_div_factor", self.final_div_factor, ">= 1")


@dataclass(frozen=True)
class EvalConfig:
    tta: str = "none"  # test-time augmentation; history records val acc with and without it
    # How five_crop/ten_crop pad (ablate.data.tta.TTA_PADS): train (as aug.crop
    # does) or reflect (the views of runs before this option, which keep their ids).
    # Not in the id of eval.tta=none or flip, which have no crops (ablate.schema.identity).
    tta_pad: str = added_later("train", was="reflect")
    batch_size: int = not_identity(1024)  # evaluation only; no gradients, so much larger than training's

    def __post_init__(self) -> None:
        require(self.batch_size >= 1, "eval.batch_size", self.batch_size, ">= 1")


@dataclass(frozen=True)
class DiagnosticsConfig:
    """When diagnostics are recorded (`ablate.diagnostics.cadence.record_epochs`)."""

    every: int = 0  # 0: epoch 0 (before training), the middle and the end; N: every N epochs
    enabled: bool = True

    def __post_init__(self) -> None:
        require(self.every >= 0, "diagnostics.every", self.every,
                ">= 0 epochs (0: before training, the middle and the end)")


@dataclass(frozen=True)
class TensorBoardConfig:
    """`tracker=tensorboard`: events under each run folder's tb/ (ablate.track.tensorboard)."""

    histograms: bool = True  # activations and gradients per layer at each diagnostics epoch


@dataclass(frozen=True)
class MlflowConfig:
    """`tracker=mlflow` (ablate.track.mlflow)."""

    uri: str | None = None  # else MLFLOW_TRACKING_URI, else sqlite:///<sweep>/mlflow.db
    experiment: str | None = None  # else the sweep's name


@dataclass(frozen=True)
class TrackerConfig:
    """Where a run is also reported live: none, one tracker or several
    (`tracker=[tensorboard,mlflow]`), each nested under its name as `aug` is.
    Not part of the run id: it changes where numbers go, not what they are."""

    tensorboard: TensorBoardConfig | None = None
    mlflow: MlflowConfig | None = None

    @property
    def names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]


def parse_tracker(value: Any) -> TrackerConfig:
    """Hydra composes `tracker=none` (and `tracker=[]`) as None or {}; a chosen
    tracker as `{tensorboard: {...}}`; `{mlflow: null}` is mlflow at its defaults."""
    if value is None:
        return TrackerConfig()
    if isinstance(value, TrackerConfig):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"tracker must be none, a tracker name or a list of them, got {value!r}")
    return from_mapping(TrackerConfig, {k: {} if v is None else v for k, v in value.items()}, "tracker")


# More threads than any CPU has cores; far above it OpenMP runs out of memory
# creating them and the process dies without a word (100,000 did here).
MAX_THREADS = 1024


def parse_threads(value: Any) -> int | str:
    """`auto` or a whole number of threads from 1 to MAX_THREADS."""
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_THREADS):
        return value
    raise ConfigError(f"cpu_threads={value!r} is out of range: must be auto or a whole number from 1 to {MAX_THREADS}")


DEVICE_PREFIXES = ("auto", "cpu", "cuda", "mps")
CROP_TTAS = ("five_crop", "ten_crop")  # eval.tta levels with crop views (ablate.data.tta): eval.tta_pad applies
BUDGETS = ("epochs", "steps")  # what `budget` counts: full passes, or optimiser steps
DEFAULT_EPOCHS = 30  # RunConfig.epochs' default and conf/config.yaml's
SEED_LIMIT = 2**32


def budget_text(budget: str, epochs: Any, steps: Any) -> str:
    """A budget in words: "30 epochs", "2000 optimiser steps"."""
    return f"{steps} optimiser steps" if budget == "steps" else f"{epochs} epochs"


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    # One class per level, each with its own options (ablate.schema.choices).
    norm: NormConfig = NORM_LEVELS.field()
    act: ActConfig = ACT_LEVELS.field()
    init: InitConfig = INIT_LEVELS.field()
    dropout: DropoutConfig = DROPOUT_LEVELS.field()
    # The augmentation set: frozen parameter objects in application order
    # (ablate.schema.augs); `{flip: {p: 0.5}, crop: {...}}` in YAML.
    aug: tuple = field(default=(), metadata={"parse": parse_aug, ENTRIES: AUG_PARAMS})
    optim: OptimConfig = field(default_factory=OptimConfig)
    sched: SchedConfig = field(default_factory=SchedConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    # What a run records on the side, and where it reports live: never what it computes.
    diagnostics: DiagnosticsConfig = not_identity(default_factory=DiagnosticsConfig)
    tracker: TrackerConfig = not_identity(default_factory=TrackerConfig, parse=parse_tracker)
    seed: int = 0
    # The training budget: `epochs` full passes over the training split, or,
    # with budget=steps, `steps` optimiser steps whatever the split's size, so
    # factors that change the data or batch size compare at equal steps (issue
    # #26). Under a steps budget `epochs` is not used and is recorded as null:
    # the run's epoch count follows from the split (ablate.train.budget).
    epochs: int | None = DEFAULT_EPOCHS
    budget: str = added_later("epochs")
    steps: int | None = added_later(None)
    batch_size: int = 64
    device: str = not_identity("auto")  # where it runs; precision stays in the id (bf16 moves accuracies)
    precision: str = "auto"
    target_acc: float | None = None  # val accuracy that counts as "converged"
    compile: bool = not_identity(False)  # torch.compile the model (pays off on long GPU runs)
    memory_format: str = not_identity("auto")  # auto | channels_last | contiguous (ablate.train.layout)
    # CPU threads: reductions add in another order with another count, so the
    # count follows from the run (ablate.train.threads), never from how it was launched.
    cpu_threads: int | str = not_identity("auto", parse=parse_threads)

    def __post_init__(self) -> None:
        # Each epoch's data order is seeded with seed × 1,000,003 + epoch (ablate.train.loop), which
        # torch's generators take only within 64 bits: seeds of up to 32 bits keep it there.
        require(abs(self.seed) < SEED_LIMIT, "seed", self.seed, f"between -{SEED_LIMIT} and {SEED_LIMIT} (2**32)")
        self._check_budget()
        require(self.batch_size >= 1, "batch_size", self.batch_size, ">= 1")
        if self.target_acc is not None:
            require(0 < self.target_acc <= 1, "target_acc", self.target_acc, "in (0, 1]")
        base, _, index = self.device.partition(":")
        if base not in DEVICE_PREFIXES or (index and not (base == "cuda" and index.isdigit())):
            raise ConfigError(
                f"unknown device '{self.device}'; choices: auto, cpu, cuda, cuda:N, mps"
            )

    @property
    def convergence_target(self) -> tuple[float | None, str | None]:
        """(the val accuracy epochs-to-target counts to, the key it came from)."""
        if self.target_acc is not None:
            return self.target_acc, "target_acc"
        return (self.data.target, "data.target") if self.data.target is not None else (None, None)

    def _check_budget(self) -> None:
        """Exactly one of epochs and steps is the budget; `budget` says which."""
        if self.budget not in BUDGETS:
            raise ConfigError(f"unknown budget '{self.budget}'; choices: {', '.join(BUDGETS)}")
        if self.budget == "epochs":
            if self.steps is not None:
                raise ConfigError(f"steps={self.steps} is set but budget=epochs: set budget=steps to train for "
                                  f"{self.steps} optimiser steps, or leave steps unset")
            require(self.epochs is not None and self.epochs >= 1, "epochs", self.epochs, ">= 1 (budget=epochs)")
            return
        require(self.steps is not None and self.steps >= 1, "steps", self.steps,
                ">= 1 optimiser steps (budget=steps)")
        if self.epochs not in (None, DEFAULT_EPOCHS):
            raise ConfigError(f"epochs={self.epochs} with budget=steps: the run trains for steps={self.steps} "
                              f"optimiser steps, not epochs; leave epochs out or set budget=epochs")
        object.__setattr__(self, "epochs", None)  # not the budget: recorded as null, never hashed as 30

    @property
    def budget_text(self) -> str:
        """The budget in words, as the report and the progress lines name it."""
        return budget_text(self.budget, self.epochs, self.steps)

    def to_dict(self) -> dict[str, Any]:
        # The chosen trackers only, as `tracker=[...]` composes them (a None section is one not chosen).
        tracker = {name: _plain(getattr(self.tracker, name)) for name in self.tracker.names}
        return {**_plain(self), "aug": aug_to_dict(self.aug), "tracker": tracker}


def _plain(value: Any) -> Any:
    """`dataclasses.asdict` without its deep copy of every leaf: the config's
    leaves are immutable, and a grid converts each cell twice (~3× faster)."""
    if dataclasses.is_dataclass(value):
        return {name: _plain(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@lru_cache(maxsize=None)
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))
