"""What keeping per-image predictions costs an epoch, side by side.

A run keeps the predicted class of every test image at its scored epoch
(predictions.npz, for the report's McNemar test): `evaluate(..., keep=True)`
gathers the argmaxes on the device and copies them to the host once, and the
runner writes the file (compressed, atomically) when the scored epoch moves.
This times, in one process and in alternating rounds (load drift hits both
sides alike, best round kept):

1. one test-split evaluation with keep=False (what an epoch paid before) and
   keep=True, LeNet-5 on the dataset's test split;
2. one write of the file for that split (what an epoch pays at most, when it is
   the new best), beside one epoch of training, for scale.

Appends to bench/results/predictions.csv.

    python bench/bench_predictions.py [--data digits|mnist5k] [--rounds 20]
"""

from __future__ import annotations

import argparse
import csv
import platform
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ablate.config.compose import load_config
from ablate.data.device import load_data
from ablate.models import build_model
from ablate.schema.choices import NORM_LEVELS, ActConfig, InitConfig
from ablate.schema.run import DropoutConfig, ModelConfig
from ablate.store.predictions import Predictions, write
from ablate.train.loop import evaluate

RESULTS = Path(__file__).parent / "results" / "predictions.csv"


def best_of(rounds: int, *sides):
    """Per side, the best wall time (s) over `rounds` alternating rounds."""
    best = [float("inf")] * len(sides)
    for _ in range(rounds):
        for i, side in enumerate(sides):
            start = time.perf_counter()
            side()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)
    data = load_data(load_config([f"data={args.data}"]).data, torch.device("cpu"))  # the YAML's splits
    model = build_model(ModelConfig(), NORM_LEVELS.of("none"), ActConfig(), InitConfig(), DropoutConfig(), data.shape)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)

    def eval_plain():
        evaluate(model, data, "test", 512, nullcontext)

    def eval_kept():
        evaluate(model, data, "test", 512, nullcontext, keep=True)

    _, _, _, kept = evaluate(model, data, "test", 512, nullcontext, keep=True)
    labels = data.eval_split("test")[1].numpy().astype(np.uint8)
    folder = Path(tempfile.mkdtemp())

    def write_file():
        write(folder / "predictions.npz", Predictions(labels, {"test_acc": kept.plain.numpy().astype(np.uint8)},
                                                      {"test_acc": 1}))

    def train_epoch():
        model.train()
        for x, y in data.train_batches(64, generator=torch.Generator().manual_seed(0)):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(data.normalize(data.to_unit(x))), y).backward()
            optimizer.step()

    plain, with_keep, wrote, epoch = best_of(args.rounds, eval_plain, eval_kept, write_file, train_epoch)
    size = (folder / "predictions.npz").stat().st_size
    print(f"{args.data}, {len(labels)} test images, LeNet-5, CPU, best of {args.rounds} rounds")
    print(f"test evaluation  keep=False {plain * 1e3:8.2f} ms   keep=True {with_keep * 1e3:8.2f} ms   "
          f"ratio {with_keep / plain:.3f}")
    print(f"predictions.npz  write {wrote * 1e3:.2f} ms ({size} bytes)   one training epoch {epoch * 1e3:.1f} ms")
    extra = max(0.0, with_keep - plain) + wrote  # at most: every epoch a new best
    print(f"per epoch at most {extra * 1e3:.2f} ms more, {extra / epoch:.2%} of a training epoch")
    RESULTS.parent.mkdir(exist_ok=True)
    new = not RESULTS.exists()
    with open(RESULTS, "a", newline="") as f:
        out = csv.writer(f)
        if new:
            out.writerow(["host", "data", "eval_plain_ms", "eval_keep_ms", "write_ms", "epoch_ms", "bytes"])
        out.writerow([platform.node(), args.data, f"{plain * 1e3:.3f}", f"{with_keep * 1e3:.3f}",
                      f"{wrote * 1e3:.3f}", f"{epoch * 1e3:.1f}", size])


if __name__ == "__main__":
    main()
