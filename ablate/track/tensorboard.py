"""TensorBoard: each run's events under its own folder, `runs/<id>/tb/`.

So `tensorboard --logdir results/<sweep>` shows every run of the sweep, named
by its factor levels and run id: TensorBoard names a run by its folder, so a
sweep's run writes into `runs/<id>/tb/norm=batch,act=relu/` (a lone run into
`tb/` itself), and a resumed run into the folder it began in. Per epoch the losses and accuracies of train, val and test and
the learning rate; at each diagnostics epoch histograms of every layer's
activations and every parameter's gradient on the probe batch; at the end the
run's factor levels and summary numbers through the HParams plugin, so its
table and parallel-coordinates view compare the sweep's runs. A resumed run
writes into the same folder with `purge_step`, so TensorBoard drops any
events the killed process wrote past the checkpoint: no step appears twice.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from ablate.track.base import EPOCH_SCALARS, SENT_AT_END, TRACKERS, RunInfo, TrackerKind, flatten

TB_DIR = "tb"
EVENTS = "events.out.tfevents.*"
FLUSH_EVERY = 2.0  # seconds between writes to disk; TensorBoard's live view lags by at most this


def hparam_value(label: Any) -> Any:
    """Numbers as numbers (a continuous axis in the HParams view), the rest as text."""
    if isinstance(label, bool) or label is None:
        return str(label).lower()
    if isinstance(label, (int, float)):
        return label
    try:
        return float(label)
    except (TypeError, ValueError):
        return str(label)


class TensorBoardTracker:
    def __init__(self, cfg: Any, info: RunInfo) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.info = info
        self.wants_tensors = cfg.histograms
        resumed = info.start_epoch > 0
        self.writer = SummaryWriter(log_dir=str(log_dir(info)),
                                    purge_step=info.start_epoch + 1 if resumed else None)
        self.flushed = time.monotonic()

    def epoch(self, record: Mapping[str, Any]) -> None:
        step = int(record["epoch"])
        for column, tag in EPOCH_SCALARS.items():
            value = record.get(column)
            if value is not None:
                self.writer.add_scalar(tag, float(value), step)
        # To disk at most every FLUSH_EVERY s (a flush per epoch cost ~1 ms of a 33 ms
        # digits epoch); the events of an epoch its checkpoint covers are on disk
        # by the time the next run process reads them: close() flushes the rest.
        if time.monotonic() - self.flushed >= FLUSH_EVERY:
            self.writer.flush()
            self.flushed = time.monotonic()

    def histograms(self, epoch: int, tensors: Mapping[str, Tensor]) -> None:
        for tag, values in tensors.items():
            finite = values[values.isfinite()]
            if finite.numel():
                self.writer.add_histogram(tag, finite, epoch)
        self.writer.flush()

    def scalars(self, epoch: int, values: Mapping[str, float]) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, epoch)
        self.writer.flush()

    def finish(self, status: str, summary: Mapping[str, Any], reason: str | None) -> None:
        from torch.utils.tensorboard.summary import hparams

        levels = dict(self.info.factors) or flatten(self.info.config)
        params = {key: hparam_value(value) for key, value in levels.items() if key != "run_id"}
        params["status"] = status
        metrics = {f"hparam/{m}": float(summary[m]) for m in SENT_AT_END
                   if isinstance(summary.get(m), (int, float)) and math.isfinite(summary[m])}
        # The plugin's three summaries, in this run's own folder (add_hparams would
        # open a second writer in a timestamped subfolder).
        for proto in hparams(params, metrics):
            self.writer.file_writer.add_summary(proto)
        for tag, value in metrics.items():
            self.writer.add_scalar(tag, value, int(summary.get("epochs_run") or 0))
        self.writer.close()


def log_dir(info: RunInfo) -> Path:
    """Where the run's events go: the folder they already are in (a resume keeps its
    name even if the sweep since swept more keys), else one named by the levels."""
    written = sorted((info.run_dir / TB_DIR).rglob(EVENTS))
    if written:
        return written[0].parent
    levels = info.levels(",").replace("/", "_").replace(os.sep, "_")
    return info.run_dir / TB_DIR / levels[:MAX_NAME] if levels else info.run_dir / TB_DIR


MAX_NAME = 200  # characters of a folder name: most file systems allow 255


def holds(cfg: Any, info: RunInfo) -> bool:
    """The run folder already has events (tracked live, or exported before)."""
    return any((info.run_dir / TB_DIR).rglob(EVENTS))


TRACKERS.add("tensorboard", TrackerKind(TensorBoardTracker, "tensorboard", "tensorboard", holds=holds),
             "TensorBoard events in each run folder's tb/: scalars, histograms, hparams")
