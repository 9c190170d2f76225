"""predictions.npz: the predicted class of every test image at each scored epoch.

A run's test accuracy is a mean over one fixed test set; two levels scored on
the same images can be compared image by image (McNemar), which a mean over
seeds cannot do (`ablate.report.testset`). The file holds, as numpy arrays:

    labels             the true class of each test image, in the split's order (once)
    <metric>           the predicted class of each image at the epoch <metric> is read at:
                       test_acc (best val acc) and, with eval.tta, test_acc_tta (best val acc with TTA)
    <metric>_epoch     that epoch (1-based), so a reader can check it against the summary

Classes are stored in the smallest unsigned type that holds them (uint8 up to
256 classes): digits' 359 test images make a file of about 1 kB. It is
rewritten, atomically, whenever a later epoch becomes the scored one, before
that epoch's checkpoint, and the checkpoint carries the same arrays, so a run
resumed from it rewrites this file as an uninterrupted run left it.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ablate.store import atomic

FILE = "predictions.npz"
LABELS = "labels"
EPOCH = "_epoch"  # suffix of a metric's epoch entry


@dataclass(frozen=True)
class Predictions:
    labels: np.ndarray  # (n,) true classes
    predicted: dict[str, np.ndarray]  # metric → (n,) predicted classes at its scored epoch
    epochs: dict[str, int]  # metric → that epoch

    def correct(self, metric: str) -> np.ndarray | None:
        """(n,) bool: which test images `metric`'s epoch got right; None when the file has no such entry."""
        got = self.predicted.get(metric)
        return None if got is None else got == self.labels

    def accuracy(self, metric: str) -> float | None:
        correct = self.correct(metric)
        return None if correct is None else float(correct.mean())


def class_dtype(classes: int) -> np.dtype:
    """The smallest unsigned integer type that holds class indices 0..classes-1."""
    return np.min_scalar_type(max(classes - 1, 0))


def write(path: Path, p: Predictions) -> None:
    arrays = {LABELS: p.labels, **p.predicted, **{m + EPOCH: np.asarray(e) for m, e in p.epochs.items()}}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic.write_bytes(path, buffer.getvalue())


def read(path: Path) -> Predictions | None:
    """The file's arrays; None when it is missing, damaged or not one of ours (a reader never crashes)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError):
        return None
    labels = arrays.pop(LABELS, None)
    epochs = {k[:-len(EPOCH)]: int(arrays.pop(k)) for k in [k for k in arrays if k.endswith(EPOCH)]}
    if labels is None or labels.ndim != 1 or any(a.shape != labels.shape for a in arrays.values()):
        return None
    return Predictions(labels, arrays, epochs)
