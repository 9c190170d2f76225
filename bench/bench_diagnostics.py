"""Cost of per-layer diagnostics: LeNet-5 on digits, epochs with and without recording.

Both sides run `ablate.train.loop.train` on the same data, model and seed
(LeNet-5, relu, default init, SGD lr 0.05 momentum 0.9, cosine, batch 64:
22 steps over 1438 training images, then 359 validation images). The
recording side passes `Recorder(..., optimizer=...)` (its step pre-hook copies
the weights before every step, for update_ratio) and records after every
epoch, the worst case (`diagnostics.every=1`); the default cadence records 3
times per run. The probe is the first 256 validation images.

Printed: epoch wall time of each side (on_epoch included; the best of the
rounds, the one least disturbed by other processes on a shared machine), the
overhead in percent, the cost of one `record()` on its own (its best call) as
a share of a plain epoch, and what the default cadence (3 recordings) costs
over a 30-epoch run. Rounds alternate plain and recording so drift in the
machine's load hits both sides alike.

Run: .venv/bin/python bench/bench_diagnostics.py [--epochs 10] [--rounds 7] [--probe 256] [--threads 1]

Measured (2 CPU cores shared with other jobs, no GPU, torch 2.14.1, 1 thread):
plain epoch 90 ms; recording every epoch 103 ms (+14%, of which ~1% is the
per-step weight copy and the rest noise); one record() 9.8 ms = 11% of an
epoch, about 2.4 training steps; default cadence 1.1% of a 30-epoch run. With
--probe 64: one record() 5.2 ms = 5.6% of an epoch. Digits has only 22 steps
an epoch, so a 256-image probe (18% of the training split) is large here; at
MNIST/CIFAR scale (~780-940 steps of 64) the same record() is well under 1%.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ablate.schema.choices import ActConfig, InitConfig, NormConfig
from ablate.schema.run import (DataConfig, DropoutConfig, ModelConfig, OptimConfig,
                                  SchedConfig)
from ablate.data.device import DeviceData, load_data
from ablate.diagnostics import Recorder
from ablate.models import build_model
from ablate.train.loop import train
from ablate.train.optim import make_optimizer
from ablate.train.sched import make_scheduler

BATCH = 64  # the default batch_size


def one_run(data: DeviceData, epochs: int, diagnose: bool, probe: int = 256) -> tuple[float, list[float]]:
    """(seconds per epoch, on_epoch included; seconds of each record() call)."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(), NormConfig(), ActConfig(), InitConfig(), DropoutConfig(), data.shape)
    optimizer = make_optimizer(model, OptimConfig())
    scheduler = make_scheduler(optimizer, SchedConfig(), data.train_steps(BATCH), epochs)
    probe_x = data.normalize(data.to_unit(data.val_x[:probe]))
    recorder = Recorder(model, probe_x, data.val_y[:probe], "relu", optimizer=optimizer) if diagnose else None
    costs: list[float] = []

    def on_epoch(record) -> None:
        if recorder is not None:
            started = time.perf_counter()
            recorder.record(record.epoch)
            costs.append(time.perf_counter() - started)

    started = time.perf_counter()
    train(model, data, optimizer, scheduler, epochs=epochs, batch_size=BATCH, eval_batch_size=1024,
          seed=0, amp_dtype=None, on_epoch=on_epoch)
    seconds = (time.perf_counter() - started) / epochs
    if recorder is not None:
        recorder.close()
    return seconds, costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--probe", type=int, default=None,
                        help="probe images, the first of the validation split (default: what a run uses)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the machine is shared)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_data(DataConfig(name="digits", val_fraction=0.2), torch.device("cpu"))
    if args.probe is None:
        from ablate.diagnostics.session import probe_size

        args.probe = probe_size(BATCH, len(data.train_y), len(data.val_y))
    one_run(data, 2, True)  # warm-up: allocator, lazy init, first-call dispatch

    plain, watched, costs = [], [], []
    for _ in range(args.rounds):
        plain.append(one_run(data, args.epochs, False)[0])
        seconds, record_costs = one_run(data, args.epochs, True, args.probe)
        watched.append(seconds)
        costs += record_costs
    t_plain, t_watched, t_record = min(plain), min(watched), min(costs)
    spread = statistics.median(plain) / t_plain - 1  # how much the machine's load moved the timings
    print(f"LeNet-5 on digits, CPU, {args.threads} thread(s), {args.rounds} rounds × {args.epochs} epochs, "
          f"{data.train_steps(BATCH)} steps of {BATCH} per epoch, probe {args.probe} images")
    print(f"epoch without recording  {t_plain * 1e3:8.2f} ms (best of {args.rounds}; median is {spread:.0%} slower)")
    print(f"epoch recording each one {t_watched * 1e3:8.2f} ms (best of {args.rounds})")
    print(f"overhead, every=1        {100 * (t_watched - t_plain) / t_plain:8.2f} %")
    steps = data.train_steps(BATCH)
    print(f"one record() alone       {t_record * 1e3:8.2f} ms = {100 * t_record / t_plain:.2f} % of an epoch "
          f"= {t_record * steps / t_plain:.1f} steps' worth (epoch time / {steps} steps, evaluation included)")
    print(f"default cadence (3 records in 30 epochs) {100 * 3 * t_record / (30 * t_plain):.2f} % of the run")


if __name__ == "__main__":
    main()
