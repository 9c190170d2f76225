"""How many CPU threads a run should use: one training step, 1 thread against all cores.

The CPU thread count changes a run's numbers (reductions add in another
order), so ablate fixes it from the run's own settings (`cpu_threads=auto`,
ablate.train.threads), never from how the run was launched. This bench is
where that rule comes from: for each case it times a full training step
(forward, backward, SGD) at batch 64 with 1 thread and with every core, side by
side in this process (interleaved rounds, best of each), and prints the
forward cost per image beside the speed-up.

    python bench/bench_threads.py [--rounds 3] [--steps 30]
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ablate.config.compose import load_config
from ablate.data.registry import input_shape
from ablate.models import build_model
from ablate.train.threads import forward_mflops

CASES = {
    "lenet5 digits 8px": [],
    "convnet digits 8px": ["model=convnet"],
    "convnet d8 w32 digits": ["model=convnet", "model.depth=8", "model.width=32"],
    "lenet5 32px rgb": ["data=synthetic"],
    "convnet 32px rgb": ["model=convnet", "data=synthetic"],
    "resnet20 32px rgb": ["model=resnet", "model.depth=20", "data=synthetic"],
    "alexnet 32px rgb": ["model=alexnet", "data=synthetic"],
}


def step_seconds(overrides: list[str], threads: int, steps: int) -> float:
    torch.set_num_threads(threads)
    cfg = load_config(overrides)
    shape = input_shape(cfg.data)
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.norm, cfg.act, cfg.init, cfg.dropout, shape)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(64, shape.channels, shape.size, shape.size)
    y = torch.randint(shape.classes, (64,))
    for i in range(steps + 3):  # 3 warm-up steps
        if i == 3:
            start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    rows = [["case", "MFLOP/img", "ms/step 1 thread", f"ms/step {cores} threads", "speed-up"]]
    print(f"{cores} cores, torch {torch.__version__}")
    for name, overrides in CASES.items():
        best = {1: float("inf"), cores: float("inf")}
        for _ in range(args.rounds):
            for threads in best:
                best[threads] = min(best[threads], step_seconds(overrides, threads, args.steps))
        mflops = forward_mflops(load_config(overrides))
        row = [name, f"{mflops:.2f}", f"{1e3 * best[1]:.2f}", f"{1e3 * best[cores]:.2f}",
               f"{best[1] / best[cores]:.2f}"]
        rows.append(row)
        print("  ".join(row))
    out = Path(__file__).parent / "results" / "threads.csv"
    out.parent.mkdir(exist_ok=True)
    with open(out, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
