"""What a tracker is told, and the guard that keeps it from failing a run.

A tracker gets each epoch's record, the diagnostics' tensors at a recorded
epoch (for histograms), and the run's end. `Trackers` calls every chosen one
and turns an exception (an MLflow server down, a full disk) into one warning
line in the run's log and on the console; the tracker is then dropped and the
run goes on.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from torch import Tensor

from ablate.errors import ConfigError
from ablate.registry import Registry


@dataclass(frozen=True)
class RunInfo:
    """A run as a tracker names it."""

    run_id: str
    run_dir: Path  # <sweep_dir>/runs/<run_id>
    config: Mapping[str, Any]  # the resolved config, plain (config.yaml's)
    factors: Mapping[str, str] = field(default_factory=dict)  # the run's level of each swept key
    start_epoch: int = 0  # epochs already done (and tracked) before this process: a resume
    history: Sequence[Mapping[str, Any]] = ()  # those epochs' records, for a tracker that lost some of them

    @property
    def sweep_dir(self) -> Path:
        return self.run_dir.parent.parent

    def levels(self, sep: str = " ") -> str:
        """`norm=batch act=relu seed=0`: what tells this run apart in its sweep ('' for a
        lone run). An option of another level (empty) is left out, as in the sweep's lines."""
        return sep.join(f"{k}={v}" for k, v in self.factors.items() if str(v) != "")

    @property
    def name(self) -> str:
        """A tracker's run name: the levels first (what a list of runs is read by), then the id."""
        levels = self.levels()
        return f"{levels} ({self.run_id})" if levels else self.run_id

    @property
    def sweep(self) -> str:
        return self.sweep_dir.name


class Tracker(Protocol):
    def epoch(self, record: Mapping[str, Any]) -> None: ...

    def histograms(self, epoch: int, tensors: Mapping[str, Tensor]) -> None: ...

    def scalars(self, epoch: int, values: Mapping[str, float]) -> None: ...  # exported diagnostics

    def finish(self, status: str, summary: Mapping[str, Any], reason: str | None) -> None: ...


@dataclass(frozen=True)
class TrackerKind:
    make: Callable[[Any, RunInfo], Tracker]  # (its TrackerConfig section, the run) → a tracker
    package: str  # the module it needs
    extra: str  # the pip extra that installs it
    # Around a whole sweep, in the sweep's process: (its section, the sweep folder)
    # → a context manager (MLflow's parent run). None: nothing at sweep level.
    sweep: Callable[[Any, Path], AbstractContextManager] | None = None
    # Whether the tracker already holds this run (`ablate export` skips it). None: never.
    holds: Callable[[Any, RunInfo], bool] | None = None


TRACKERS: Registry[TrackerKind] = Registry("tracker")


def require_packages(names: list[str]) -> None:
    """Before any run starts: each chosen tracker's package is installed, else
    the one line that fixes it."""
    for name in names:
        kind = TRACKERS[name]
        if importlib.util.find_spec(kind.package) is None:
            raise ConfigError(f"tracker={name} needs the {kind.package} package: pip install \"ablate[{kind.extra}]\"")


class Trackers:
    """Every tracker a run chose; a call that raises drops that tracker, with a warning."""

    def __init__(self, cfg: Any, info: RunInfo, warn: Callable[[str], None]) -> None:
        self.warn = warn
        self.active: dict[str, Tracker] = {}
        for name in cfg.names:
            self._guard(name, lambda n=name: self.active.__setitem__(n, TRACKERS[n].make(getattr(cfg, n), info)))

    def _guard(self, name: str, call: Callable[[], Any]) -> None:
        try:
            call()
        except Exception as e:  # noqa: BLE001 — a tracker never fails the run
            self.active.pop(name, None)
            self.warn(f"tracker {name} stopped ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                      f"the run goes on, its folder keeps every number")

    def _each(self, method: str, *args: Any) -> None:
        for name, tracker in list(self.active.items()):
            self._guard(name, lambda t=tracker: getattr(t, method)(*args))

    def epoch(self, record: Mapping[str, Any]) -> None:
        self._each("epoch", record)

    def histograms(self, epoch: int, tensors: Mapping[str, Tensor]) -> None:
        self._each("histograms", epoch, tensors)

    def finish(self, status: str, summary: Mapping[str, Any], reason: str | None = None) -> None:
        self._each("finish", status, summary, reason)
        self.active.clear()

    @property
    def wants_tensors(self) -> bool:
        return any(getattr(t, "wants_tensors", False) for t in self.active.values())


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{optim: {lr: 0.05}}` → `{"optim.lr": 0.05}`: the config as trackers' params."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


# history.csv columns sent per epoch (MLflow keeps the column names), and the
# names TensorBoard shows them under.
EPOCH_SCALARS = {"train_loss": "loss/train", "val_loss": "loss/val", "test_loss": "loss/test",
                 "train_acc": "acc/train", "val_acc": "acc/val", "test_acc": "acc/test",
                 "val_acc_tta": "acc/val_tta", "test_acc_tta": "acc/test_tta", "lr": "lr"}
# summary.json numbers sent at the end (the HParams dashboard's metrics, MLflow's final metrics):
# a selection of store.summary.SUMMARY_METRICS, the scores and the time, not the bookkeeping.
SENT_AT_END = ("test_acc", "best_val_acc", "final_test_acc", "final_val_acc", "auc_val_acc", "epochs_to_target", "seconds")


@contextmanager
def sweep_tracking(sections: Sequence[Any], sweep_dir: Path) -> Iterator[None]:
    """Around a sweep: each chosen tracker's sweep-level context (MLflow's parent
    run), opened once in the sweep's process before any run starts.
    `sections`: the TrackerConfig of each run to launch."""
    chosen: dict[str, Any] = {}
    for cfg in sections:
        for name in cfg.names:
            chosen.setdefault(name, getattr(cfg, name))
    with ExitStack() as stack:
        for name, section in chosen.items():
            if TRACKERS[name].sweep is not None:
                stack.enter_context(TRACKERS[name].sweep(section, sweep_dir))
        yield
