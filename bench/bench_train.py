"""Training throughput: ablate's pipeline against the usual PyTorch recipe.

Both sides train the same model with the same optimiser, batch size and
epochs on the same data, in this one script:

- ablate: the split as one uint8 tensor on the device, index-slice batches,
  batched on-device augmentation, metrics accumulated on the device,
  channels-last where `memory_format=auto` picks it (`ablate.train.loop.train`
  and `ablate.train.layout`, exactly what `ablate train` runs).
- baseline: a torchvision-style `Dataset` with per-sample `transforms.v2`,
  a `DataLoader` (num_workers tuned: the fastest of 0, 1, 2, … on this machine),
  and a plain loop calling `.item()` every step.

Prints images/second for both (best of --repeats interleaved rounds) and the
ratio; appends to bench/results/train.csv.

    python bench/bench_train.py                 # CPU cases
    python bench/bench_train.py --cases gpu     # GPU cases (skipped without CUDA)
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from ablate.schema.choices import NORM_LEVELS, ActConfig, InitConfig, NormConfig
from ablate.schema.run import (DataConfig, DropoutConfig, ModelConfig, OptimConfig,
                                  SchedConfig)
from ablate.data.device import load_data
from ablate.models import build_model
from ablate.train.layout import apply_memory_format
from ablate.train.loop import train
from ablate.train.optim import make_optimizer
from ablate.train.sched import make_scheduler


@dataclass(frozen=True)
class Case:
    name: str
    data: DataConfig
    model: ModelConfig
    aug: tuple[str, ...] = ()
    epochs: int = 1
    batch_size: int = 64
    precision: str = "fp32"
    device: str = "cpu"
    memory_format: str = "auto"  # ablate's side only; the baseline trains as a user would, NCHW
    norm: NormConfig = field(default_factory=NormConfig)


def synthetic(n: int, channels: int, size: int) -> DataConfig:
    return DataConfig(name="synthetic", n_train=n, n_val=512, channels=channels, size=size)


CASES = {
    "cpu": [
        Case("lenet5 digits", DataConfig(name="digits", val_fraction=0.2), ModelConfig("lenet5"), epochs=5),
        Case("lenet5 mnist-sized (60k 1x28x28)", synthetic(60_000, 1, 28), ModelConfig("lenet5")),
        Case("convnet cifar-sized (10k 3x32x32) flip+crop", synthetic(10_000, 3, 32),
             ModelConfig("convnet", depth=4, width=16), aug=("flip", "crop")),
    ],
    "gpu": [
        Case("resnet20 cifar-sized (50k) flip+crop bf16", synthetic(50_000, 3, 32), ModelConfig("resnet", "avg", 20, 16),
             aug=("flip", "crop"), epochs=2, batch_size=512, precision="bf16", device="cuda",
             norm=NORM_LEVELS.of("batch")),
        Case("convnet cifar-sized (50k) flip+crop bf16", synthetic(50_000, 3, 32), ModelConfig("convnet", "max", 4, 32),
             aug=("flip", "crop"), epochs=2, batch_size=512, precision="bf16", device="cuda",
             norm=NORM_LEVELS.of("batch")),
    ],
}
# On CUDA memory_format=auto keeps NCHW until measured: time channels-last beside it.
CASES["gpu"] += [replace(case, name=case.name + " channels_last", memory_format="channels_last")
                 for case in CASES["gpu"]]


def make_model(case: Case, shape, device):
    torch.manual_seed(0)
    return build_model(case.model, case.norm, ActConfig(), InitConfig(), DropoutConfig(), shape).to(device)


def run_ablate(case: Case) -> float:
    from ablate.schema.augs import parse_aug
    from ablate.data.augment import AugContext, build_pipeline

    device = torch.device(case.device)
    data = load_data(case.data, device)
    model = make_model(case, data.shape, device)
    apply_memory_format(model, case.memory_format, device)
    optimizer = make_optimizer(model, OptimConfig(lr=0.02))
    scheduler = make_scheduler(optimizer, SchedConfig(name="constant"), data.train_steps(case.batch_size), case.epochs)
    augment = None
    if case.aug:
        ctx = AugContext(data.shape, data.shape.classes, data.train_x)
        augment = build_pipeline(parse_aug({name: {} for name in case.aug}), ctx)
    dtype = {"fp32": None, "bf16": torch.bfloat16}[case.precision]
    # One warm-up epoch on a slice would change the schedule; the timing
    # includes everything a run pays per epoch, evaluation included.
    started = time.perf_counter()
    train(model, data, optimizer, scheduler, epochs=case.epochs, batch_size=case.batch_size, eval_batch_size=1024,
          seed=0, amp_dtype=dtype, augment=augment)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return data.train_steps(case.batch_size) * case.batch_size * case.epochs / seconds


class UInt8Images(Dataset):
    """What a user writes: index → (transformed image, label), one sample at a time."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform) -> None:
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.transform(self.x[i]), int(self.y[i])


def baseline_loader(case: Case, data, workers: int) -> DataLoader:
    from torchvision.transforms import v2

    mean = data.mean.flatten().tolist()
    std = data.std.flatten().tolist()
    size = data.shape.size
    ops = []
    if "flip" in case.aug:
        ops.append(v2.RandomHorizontalFlip())
    if "crop" in case.aug:
        ops.append(v2.RandomCrop(size, padding=4))
    ops += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    dataset = UInt8Images(data.train_x.cpu(), data.train_y.cpu(), v2.Compose(ops))
    return DataLoader(dataset, batch_size=case.batch_size, shuffle=True, drop_last=True, num_workers=workers,
                      pin_memory=case.device == "cuda", persistent_workers=workers > 0)


def tune_workers(case: Case, data) -> int:
    """The num_workers that trains fastest here: each candidate times up to 30
    full steps (loading, augmenting and the model's step), because on a small
    machine loader workers compete with the model for the same cores."""
    device = torch.device(case.device)
    best, best_rate = 0, 0.0
    for workers in range(0, min(8, os.cpu_count() or 1) + 1):
        loader = baseline_loader(case, data, workers)
        model = make_model(case, data.shape, device)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
        batches = min(30, len(loader) - 1)
        it = iter(loader)
        next(it)  # worker start-up is paid once per run, not per batch
        started = time.perf_counter()
        for _ in range(batches):
            x, y = next(it)
            loss = F.cross_entropy(model(x.to(device)), y.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()
        rate = batches / (time.perf_counter() - started)
        del it, loader
        if rate > best_rate * 1.05:
            best, best_rate = workers, rate
    return best


def run_baseline(case: Case, workers: int) -> float:
    device = torch.device(case.device)
    data = load_data(case.data, torch.device("cpu"))
    loader = baseline_loader(case, data, workers)
    model = make_model(case, data.shape, device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=0.0)
    val_x = data.normalize(data.to_unit(data.val_x)).to(device)
    val_y = data.val_y.to(device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=case.precision == "bf16")
    started = time.perf_counter()
    seen = 0
    for _ in range(case.epochs):
        model.train()
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast:
                loss = F.cross_entropy(model(x).float(), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            running = loss.item()  # the usual per-step logging sync
            seen += len(y)
        model.eval()
        with torch.no_grad(), autocast:
            correct = sum((model(val_x[i:i + 1024]).argmax(1) == val_y[i:i + 1024]).sum().item()
                          for i in range(0, len(val_y), 1024))
    del running, correct
    seconds = time.perf_counter() - started
    return seen / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", choices=sorted(CASES), nargs="+", default=["cpu"])
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved rounds; the best of each side is reported (shared machines are noisy)")
    args = parser.parse_args()
    out = Path(__file__).parent / "results" / "train.csv"
    out.parent.mkdir(exist_ok=True)
    new = not out.exists()
    with open(out, "a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(["date", "case", "device", "cpus", "torch", "ablate_img_s", "baseline_img_s",
                             "baseline_workers", "ratio"])
        for group in args.cases:
            for case in CASES[group]:
                if case.device == "cuda" and not torch.cuda.is_available():
                    print(f"skip {case.name}: no CUDA device")
                    continue
                workers = tune_workers(case, load_data(case.data, torch.device("cpu")))
                ours, theirs = 0.0, 0.0
                for _ in range(args.repeats):  # interleaved, so drift in machine load hits both sides
                    ours = max(ours, run_ablate(case))
                    theirs = max(theirs, run_baseline(case, workers))
                device = torch.cuda.get_device_name() if case.device == "cuda" else platform.processor() or "cpu"
                print(f"{case.name:48s} ablate {ours:9.0f} img/s   baseline {theirs:9.0f} img/s "
                      f"(num_workers={workers})   ratio {ours / theirs:5.2f}x")
                writer.writerow([time.strftime("%Y-%m-%d"), case.name, device, os.cpu_count(), torch.__version__,
                                 f"{ours:.0f}", f"{theirs:.0f}", workers, f"{ours / theirs:.2f}"])


if __name__ == "__main__":
    main()
