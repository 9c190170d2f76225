"""The fast path's two CPU choices, each against what it replaces, side by side.

1. Layout: a full training step (forward, loss, backward, SGD step) of the
   same model on the same batch with NCHW weights and with channels-last
   weights, for each norm. `memory_format=auto` (ablate.train.layout) picks
   channels-last only where this says it is faster.
2. Optimiser: one step of SGD (momentum) and AdamW over a model's parameters
   with the per-parameter loop (PyTorch's CPU default) and the fused kernel
   (what ablate.train.optim uses on CPU and CUDA).

Rounds alternate the two sides so drift in machine load hits both alike; the
best round of each is reported. Appends to bench/results/fast_path.csv.

    python bench/bench_fast_path.py [--rounds 3] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ablate.schema.choices import NORM_LEVELS, ActConfig, InitConfig, NormConfig
from ablate.schema.run import DropoutConfig, ModelConfig
from ablate.models import build_model
from ablate.shapes import InputShape

# (label, model, input shape): LeNet-5 on MNIST-sized images, convnet and a
# small resnet on CIFAR-sized ones, all with batch 64 as `ablate train` defaults.
MODELS = [
    ("lenet5 1x28x28", ModelConfig("lenet5"), InputShape(1, 28, 10)),
    ("convnet d4 w16 3x32x32", ModelConfig("convnet", "max", 4, 16), InputShape(3, 32, 10)),
    ("resnet8 w16 3x32x32", ModelConfig("resnet", "avg", 8, 16), InputShape(3, 32, 10)),
]
NORMS = [NORM_LEVELS.of(name) for name in ("none", "batch", "group", "layer", "instance", "lrn")]


def best_ms(fn, steps: int) -> float:
    fn()  # warm-up: oneDNN picks and caches its kernels on the first call
    started = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - started) / steps * 1e3


def make(model: ModelConfig, norm: NormConfig, shape: InputShape, device, fmt):
    torch.manual_seed(0)
    return build_model(model, norm, ActConfig(), InitConfig(), DropoutConfig(), shape).to(device, memory_format=fmt)


def layout_step(model, device, shape: InputShape):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(64, shape.channels, shape.size, shape.size, device=device)
    y = torch.randint(0, shape.classes, (64,), device=device)

    def step():
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    return step


def optimizer_step(model, cls, fused: bool, **options):
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    optimizer = cls(model.parameters(), lr=0.01, fused=fused or None, **options)
    return optimizer.step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="training steps timed per round")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    machine = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu"
    rows = []
    print(f"training step, ms (batch 64, {device}, {torch.get_num_threads()} threads)")
    for label, model_cfg, shape in MODELS:
        for norm in NORMS:
            steps = {fmt: layout_step(make(model_cfg, norm, shape, device, fmt), device, shape)
                     for fmt in (torch.contiguous_format, torch.channels_last)}
            best = {fmt: min(best_ms(step, args.steps) for _ in range(args.rounds)) for fmt, step in steps.items()}
            nchw, nhwc = best[torch.contiguous_format], best[torch.channels_last]
            print(f"  {label:24s} {norm.name:9s} nchw {nchw:7.2f}  channels_last {nhwc:7.2f}  "
                  f"ratio {nchw / nhwc:5.2f}x")
            rows.append(["layout", f"{label} norm={norm.name}", f"{nchw:.3f}", f"{nhwc:.3f}", f"{nchw / nhwc:.2f}"])
    print("optimiser step, µs")
    for label, model_cfg, shape in MODELS[:2]:
        model = make(model_cfg, NormConfig(), shape, device, torch.contiguous_format)
        for cls, options in ((torch.optim.SGD, {"momentum": 0.9}), (torch.optim.AdamW, {"weight_decay": 0.05})):
            sides = {fused: optimizer_step(model, cls, fused, **options) for fused in (False, True)}
            best = {fused: min(best_ms(step, 200) for _ in range(args.rounds)) * 1e3 for fused, step in sides.items()}
            print(f"  {label:24s} {cls.__name__:6s} loop {best[False]:7.0f}  fused {best[True]:7.0f}  "
                  f"ratio {best[False] / best[True]:5.2f}x")
            rows.append(["optimizer", f"{label} {cls.__name__}", f"{best[False]:.1f}", f"{best[True]:.1f}",
                         f"{best[False] / best[True]:.2f}"])
    out = Path(__file__).parent / "results" / "fast_path.csv"
    new = not out.exists()
    with open(out, "a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(["date", "kind", "case", "device", "cpus", "torch", "baseline", "ablate", "ratio"])
        for kind, case, base, ours, ratio in rows:
            writer.writerow([time.strftime("%Y-%m-%d"), kind, case, machine, os.cpu_count(), torch.__version__,
                             base, ours, ratio])


if __name__ == "__main__":
    main()
