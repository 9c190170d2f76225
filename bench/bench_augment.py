"""Augmentation and training throughput: ablate's on-device pipeline vs torchvision's.

Both sides apply the same augmentation, horizontal flip (p = 0.5) and a
random 32×32 crop of the 4-pixel zero-padded image, to CIFAR-sized synthetic
data (uint8, N×3×32×32) and feed the same small CNN (SGD step, batch 512):

  ablate       uint8 tensor on the device → index a batch → /255 → build_pipeline
               ((flip, crop)) with a per-image draw → normalise → step
  torchvision  Dataset of uint8 CHW tensors → per-sample transforms.v2
               (RandomHorizontalFlip, RandomCrop(32, padding=4), ToDtype,
               Normalize) → DataLoader(shuffle, workers) → .to(device) → step

The torchvision side is given its best case: tensors instead of PIL images
(no decode), persistent workers, pinned memory on CUDA, and a warm-up pass.
Each side is timed twice: augmentation alone (batches produced, no model),
then augmentation + a training step. Images per second over whole epochs.

Run: .venv/bin/python bench/bench_augment.py [--n 10000] [--device auto] [--workers 2]

Measured on 2 shared CPU cores (load average ~3.5 from other jobs), no GPU,
torch 2.14, --n 10000 --workers 2, best of 3 interleaved repeats:

  pipeline                       augment img/s   augment+train img/s
  ablate (on-device, batched)           64,902                   927
  torchvision (DataLoader + v2)          1,896                   935
  ratio                                  34.2×                  1.0×

On CPU the CNN step (~1 ms per image) dominates, and the DataLoader workers
augment in other processes while the model trains, so end to end the two
tie; the batched pipeline frees those cores. On a GPU the step costs
microseconds per image and the per-sample pipeline becomes the bottleneck;
run this there to measure that case (not measured yet). Single runs on the
shared machine varied 5-10× in the augment column, hence best-of-repeats.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ablate.schema.augs import parse_aug
from ablate.data.augment import AugContext, build_pipeline
from ablate.shapes import InputShape

MEAN = (0.4914, 0.4822, 0.4465)  # CIFAR-10's channel means in [0, 1]; any fixed values would do here
STD = (0.2470, 0.2435, 0.2616)


def small_cnn(classes: int = 10) -> nn.Module:
    """Three conv-BN-ReLU stages (16, 32, 64 channels), 2×2 max pools, global average, linear."""
    layers: list[nn.Module] = []
    cin = 3
    for cout in (16, 32, 64):
        layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]
        cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))


def synthetic_cifar(n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=gen), torch.randint(0, 10, (n,), generator=gen)


# ----------------------------------------------------------------- pipelines


def ablate_batches(x: Tensor, y: Tensor, batch: int, device: torch.device) -> Callable[[], Iterator[tuple[Tensor, Tensor]]]:
    x, y = x.to(device), y.to(device)
    pipe = build_pipeline(parse_aug({"flip": {"p": 0.5}, "crop": {"padding": 4}}),
                          AugContext(InputShape(3, 32, 10), 10, x))
    gen = torch.Generator(device).manual_seed(0)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)

    def epoch() -> Iterator[tuple[Tensor, Tensor]]:
        order = torch.randperm(len(y), device=device, generator=gen)
        for i in range(len(y) // batch):
            idx = order[i * batch:(i + 1) * batch]
            xb, yb = pipe(x[idx].float().div_(255.0), y[idx], gen)
            yield (xb - mean) / std, yb

    return epoch


class TensorImages(torch.utils.data.Dataset):
    def __init__(self, x: Tensor, y: Tensor, transform) -> None:
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        from torchvision import tv_tensors

        return self.transform(tv_tensors.Image(self.x[i])), int(self.y[i])


def torchvision_batches(x: Tensor, y: Tensor, batch: int, device: torch.device,
                        workers: int) -> Callable[[], Iterator[tuple[Tensor, Tensor]]]:
    from torchvision.transforms import v2

    transform = v2.Compose([
        v2.RandomHorizontalFlip(p=0.5),
        v2.RandomCrop(32, padding=4),  # zero fill, as ablate's crop mode=zeros
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(MEAN, STD),
    ])
    loader = torch.utils.data.DataLoader(
        TensorImages(x, y, transform), batch_size=batch, shuffle=True, drop_last=True,
        num_workers=workers, persistent_workers=workers > 0, pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(0),
    )

    def epoch() -> Iterator[tuple[Tensor, Tensor]]:
        for xb, yb in loader:
            yield xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)

    return epoch


# -------------------------------------------------------------------- timing


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(epoch: Callable[[], Iterator[tuple[Tensor, Tensor]]], device: torch.device,
                      step: Callable[[Tensor, Tensor], None] | None, epochs: int) -> float:
    for i, (xb, yb) in enumerate(epoch()):  # warm-up: workers started, kernels compiled, caches hot
        if step:
            step(xb, yb)
        if i == 2:
            break
    sync(device)
    seen, start = 0, time.perf_counter()
    for _ in range(epochs):
        for xb, yb in epoch():
            if step:
                step(xb, yb)
            else:
                xb.sum()  # touch the batch so lazy work (and the copy) really happens
            seen += len(yb)
    sync(device)
    return seen / (time.perf_counter() - start)


def make_step(device: torch.device) -> Callable[[Tensor, Tensor], None]:
    torch.manual_seed(0)
    model = small_cnn().to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)

    def step(xb: Tensor, yb: Tensor) -> None:
        loss = F.cross_entropy(model(xb.contiguous(memory_format=torch.channels_last)), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="synthetic training images")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per side; the best counts")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="DataLoader workers")
    args = parser.parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    x, y = synthetic_cifar(args.n)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} torch threads"
    print(f"{args.n} images 3×32×32, batch {args.batch}, flip + crop(4), {name}, "
          f"torchvision DataLoader workers={args.workers}")

    sides = {"ablate (on-device, batched)": ablate_batches(x, y, args.batch, device),
             "torchvision (DataLoader + v2)": torchvision_batches(x, y, args.batch, device, args.workers)}
    # Best of --repeats, the two sides interleaved, so a burst of load from
    # other processes on a shared machine does not decide the comparison.
    results = {label: [0.0, 0.0] for label in sides}
    for _ in range(args.repeats):
        for label, epoch in sides.items():
            best = results[label]
            best[0] = max(best[0], images_per_second(epoch, device, None, args.epochs))
            best[1] = max(best[1], images_per_second(epoch, device, make_step(device), args.epochs))

    print(f"{'pipeline':<32}{'augment img/s':>16}{'augment+train img/s':>22}")
    for label, (aug, train) in results.items():
        print(f"{label:<32}{aug:>16,.0f}{train:>22,.0f}")
    (a_aug, a_train), (t_aug, t_train) = results.values()
    print(f"{'ratio ablate / torchvision':<32}{a_aug / t_aug:>15.1f}×{a_train / t_train:>21.1f}×")


if __name__ == "__main__":
    main()
