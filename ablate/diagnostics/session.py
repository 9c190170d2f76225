"""Diagnostics over one run: when to record, the probe batch, the CSV kept current.

The probe is the first validation images, the same every time so epochs
compare like with like: a training batch's worth (at most 256), but never more
than 1/32 of the training split, so that one recording (a forward and backward
of the probe plus the hooks' statistics, ~1.3 steps' worth per batch of
probe) stays under 5% of an epoch even on tiny data like digits (22 steps an
epoch; bench/bench_diagnostics.py measures it); at least 32 images, so "dead
for every sample" means something.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import Tensor, nn

from ablate.data.device import DeviceData
from ablate.diagnostics.alerts import warnings
from ablate.schema.run import DiagnosticsConfig
from ablate.diagnostics.cadence import record_epochs
from ablate.diagnostics.recorder import Recorder
from ablate.diagnostics.table import read_csv

PROBE_MAX = 256  # images
PROBE_MIN = 32  # images
TRAIN_SHARE = 32  # the probe is at most 1/32 of the training split


def probe_size(batch_size: int, n_train: int, n_val: int) -> int:
    """Images in the probe batch (see the module docstring for why)."""
    return min(max(PROBE_MIN, min(batch_size, PROBE_MAX, n_train // TRAIN_SHARE)), n_val)


class RunDiagnostics:
    def __init__(self, cfg: DiagnosticsConfig, *, epochs: int, model: nn.Module, data: DeviceData, act: str,
                 optimizer, seed: int, batch_size: int, path: Path, start_epoch: int = 0,
                 on_tensors: Callable[[int, dict[str, Tensor]], None] | None = None) -> None:
        self.when = record_epochs(cfg, epochs)
        self.path = path
        self.on_tensors = on_tensors  # gets each recording's raw values (a tracker's histograms)
        self.recorder: Recorder | None = None
        if not self.when:
            return
        n = probe_size(batch_size, len(data.train_y), len(data.val_y))
        probe_x = data.normalize(data.to_unit(data.to_device(data.val_x[:n])))
        probe_y = data.to_device(data.val_y[:n])
        self.recorder = Recorder(model, probe_x, probe_y, act, optimizer=optimizer, seed=seed)
        self.recorder.keep_tensors = on_tensors is not None
        if start_epoch > 0 and path.exists():  # resumed: keep what was recorded up to the checkpoint
            self.recorder.rows = [r for r in read_csv(path) if int(r["epoch"]) <= start_epoch]
            self.recorder.write_csv(path)  # drop rows of an epoch the checkpoint doesn't hold
        elif start_epoch == 0 and 0 in self.when:
            self._record(0)
        self._arm_for(start_epoch + 1)

    def _arm_for(self, epoch: int) -> None:
        # update_ratio needs the weights from before the last step of a
        # recorded epoch: copy them only in epochs that will be recorded.
        self.recorder.arm(epoch in self.when)

    def _record(self, epoch: int) -> None:
        self.recorder.record(epoch)
        self.recorder.write_csv(self.path)
        if self.on_tensors is not None:
            self.on_tensors(epoch, self.recorder.tensors)

    def after_epoch(self, epoch: int, diverged: bool) -> None:
        # A diverging run stops early; record its last epoch so the picture of
        # how it blew up is in the file.
        if self.recorder is None:
            return
        if epoch in self.when or diverged:
            self._record(epoch)
        self._arm_for(epoch + 1)

    def warnings(self) -> list[str]:
        return warnings(self.recorder.rows) if self.recorder is not None and self.recorder.rows else []

    def close(self) -> None:
        if self.recorder is not None:
            self.recorder.close()
