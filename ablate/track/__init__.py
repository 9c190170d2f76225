"""Live tracking: a run's numbers also sent where users already look.

    base.py         the Tracker protocol, RunInfo, TRACKERS and `Trackers`, which
                    keeps a failing tracker from ever failing a run
    tensorboard.py  events under runs/<id>/tb/: scalars, histograms, hparams
    mlflow.py       an experiment per sweep, a parent run per sweep, a child per run
    export.py       `ablate export`: existing run folders into either tracker

The run folders stay the record; a tracker is a view of them (`tracker` is
not part of the run id).
"""

from ablate.track import mlflow as _mlflow  # noqa: E402,F401 — registers "mlflow"
from ablate.track import tensorboard as _tensorboard  # noqa: E402,F401 — registers "tensorboard"
from ablate.track.base import TRACKERS, RunInfo, Trackers, require_packages, sweep_tracking  # noqa: E402

__all__ = ["TRACKERS", "RunInfo", "Trackers", "require_packages", "sweep_tracking"]
