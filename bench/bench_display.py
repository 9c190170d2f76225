"""Cost of the live progress bar: the same LeNet-5 digits training with the
rich bar drawing to a (virtual) terminal and with no bar, side by side,
interleaved in alternating order, --repeats rounds. Prints both and the
overhead in percent, best-of and median (a shared machine is noisy).

    python bench/bench_display.py [--epochs 10] [--repeats 5]
"""

from __future__ import annotations

import argparse
import io
import time

import torch
from rich.console import Console

from ablate.config.compose import load_config
from ablate.data.device import load_data
from ablate.cli.train_view import TrainProgress
from ablate.models import build_model
from ablate.train.loop import train
from ablate.train.optim import make_optimizer
from ablate.train.sched import make_scheduler


def seconds(cfg, data, bar: bool) -> float:
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.norm, cfg.act, cfg.init, cfg.dropout, data.shape)
    optimizer = make_optimizer(model, cfg.optim)
    steps = data.train_steps(cfg.batch_size)
    scheduler = make_scheduler(optimizer, cfg.sched, steps, cfg.epochs)
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    started = time.perf_counter()
    with TrainProgress(enabled=bar, epochs=cfg.epochs, steps=steps, console=console) as progress:
        train(model, data, optimizer, scheduler, epochs=cfg.epochs, batch_size=cfg.batch_size,
              eval_batch_size=1024, seed=0, amp_dtype=None, on_step=progress.step, on_epoch=progress.epoch)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cfg = load_config([f"epochs={args.epochs}", "device=cpu"])
    data = load_data(cfg.data, torch.device("cpu"))
    times: dict[bool, list[float]] = {False: [], True: []}
    for r in range(args.repeats):
        # Alternate which goes first: on a shared machine, order effects are as big as the bar.
        for bar in ((False, True) if r % 2 == 0 else (True, False)):
            times[bar].append(seconds(cfg, data, bar=bar))
    best = {k: min(v) for k, v in times.items()}
    median = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    print(f"lenet5 digits, {args.epochs} epochs, {args.repeats} rounds: no bar {best[False]:.3f} s, "
          f"live bar {best[True]:.3f} s (best); overhead {100 * (best[True] / best[False] - 1):+.1f}% best-of, "
          f"{100 * (median[True] / median[False] - 1):+.1f}% median")


if __name__ == "__main__":
    main()
