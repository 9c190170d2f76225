"""How many CPU threads a run uses: a function of the run itself.

CPU reductions add in another order with another thread count, and
deterministic kernels do not change that: the same run with 1 and with 2
threads differs by ~1e-6 in validation loss after one epoch, and the gap grows
with training (train accuracy 0.7827 against 0.7848 after 5 epochs on digits).
So the count follows from the run's own settings, never from how it was
launched (`ablate train`, `sweep --workers 1` or `2`, SLURM, Ray), and the
same run gives the same numbers on the same machine however it ran.

`cpu_threads=auto`: one thread for a network whose forward pass costs less
than SMALL_MFLOPS per image; all the cores it may use (usable_cores), up to
MAX_AUTO, above. Measured with
bench/bench_threads.py (a training step at batch 64, 2 cores, torch 2.14):

    MFLOP/img  case                      2 threads vs 1
       0.13    lenet5, 8 px digits       1.10×
       2.5     convnet, 8 px digits      1.54×
       7.2     convnet d8 w32, digits    1.62×
       2.4     lenet5, 32 px RGB         1.31×
      41       convnet, 32 px RGB        1.86×
      82       resnet20, 32 px RGB       1.71×
     115       alexnet, 32 px RGB        1.90×

Below ~20 MFLOP a second thread adds at most 62 % (efficiency ≤ 0.81), so a
sweep runs more per hour with one single-thread worker per core; above it a
step uses the cores at 86-95 % efficiency, and a run gets them all. A single
`ablate train` of a small net that wants the cores anyway can say cpu_threads=2.
"""

from __future__ import annotations

import os
from functools import lru_cache

import torch
from torch.utils.flop_counter import FlopCounterMode

from ablate.schema.run import RunConfig
from ablate.data.registry import input_shape
from ablate.models import build_model

SMALL_MFLOPS = 20.0  # forward MFLOP per image; see bench/bench_threads.py for the measurement behind it
MAX_AUTO = 8  # threads: beyond this a small CNN's step gains nothing measurable


def forward_mflops(config: RunConfig) -> float:
    """Forward cost of one image, counted on the meta device (no memory, no time)."""
    return _mflops(config.model, config.norm, config.act, config.init, config.dropout, config.data)


@lru_cache(maxsize=256)
def _mflops(model, norm, act, init, dropout, data) -> float:
    shape = input_shape(data)
    with torch.device("meta"):
        net = build_model(model, norm, act, init, dropout, shape)
        with FlopCounterMode(display=False) as counter:
            net(torch.empty(1, shape.channels, shape.size, shape.size))
    return counter.get_total_flops() / 1e6


def cpu_threads(config: RunConfig, cores: int | None = None) -> int:
    """The run's CPU thread count: `cpu_threads`, or auto's rule on this machine's cores."""
    if config.cpu_threads != "auto":
        return int(config.cpu_threads)
    if forward_mflops(config) < SMALL_MFLOPS:
        return 1
    return max(1, min(cores or usable_cores(), MAX_AUTO))


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (what SLURM, taskset
    or a container allot), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def oversubscribed_note(threads: int, cores: int | None = None) -> str | None:
    """More threads than cores: each step waits on threads the cores take turns
    with (on 2 cores, 3 epochs of digits took 29 s with 64 threads and 0.1 s with 1)."""
    cores = cores or usable_cores()
    if threads <= cores:
        return None
    return (f"cpu_threads={threads} is more than the {cores} cores this run may use: its threads take turns on "
            f"them and every step waits (cpu_threads=auto chooses for the net and the cores)")

