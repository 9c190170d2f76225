"""Memory layout of a model's feature maps: NCHW (contiguous) or channels-last (NHWC).

Neither layout is faster everywhere, so `memory_format=auto` follows
measurements (`bench/bench_fast_path.py`, 2-core AVX2 CPU, torch 2.14, batch 64):

- On CPU channels-last made a training step of LeNet-5 on 28×28 inputs 1.30×
  faster without a norm, and convnet/resnet on 32×32 1.1–1.5× faster with
  none, batch or group norm: oneDNN's convolution backward and max
  pooling vectorise over channels.
- The exceptions are the layers whose channels-last kernels are slower:
  batch norm on fewer than 16 channels (fwd+bwd 6.7× slower at 6 channels,
  2.7× at 8, 1.2× faster at 16), group norm with one channel per group
  (instance norm: the whole step 0.74–0.86×), and local response norm
  (0.89–1.03×). A model holding any of them stays NCHW.
- On CUDA `auto` keeps NCHW until the GPU benchmark has been run
  (`bench_train.py --cases gpu` and `bench_fast_path.py --device cuda` time both).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ablate.registry import Registry

# Layer type → "is this layer slower in channels-last on a CPU?" (measured above).
_CPU_SLOW_IN_CHANNELS_LAST: dict[type[nn.Module], Callable[[nn.Module], bool]] = {
    nn.BatchNorm2d: lambda m: m.num_features < 16,
    nn.GroupNorm: lambda m: m.num_groups == m.num_channels,
    nn.LocalResponseNorm: lambda m: True,
}


def _cpu_prefers_channels_last(model: nn.Module) -> bool:
    return not any(_CPU_SLOW_IN_CHANNELS_LAST.get(type(m), lambda m: False)(m) for m in model.modules())


def _auto(model: nn.Module, device: torch.device) -> torch.memory_format:
    if device.type == "cpu" and _cpu_prefers_channels_last(model):
        return torch.channels_last
    return torch.contiguous_format


MEMORY_FORMATS: Registry[Callable[[nn.Module, torch.device], torch.memory_format]] = Registry("memory_format")
MEMORY_FORMATS.add("auto", _auto, "channels_last where measured faster for this model and device, else contiguous")
MEMORY_FORMATS.add("channels_last", lambda model, device: torch.channels_last, "NHWC feature maps")
MEMORY_FORMATS.add("contiguous", lambda model, device: torch.contiguous_format, "NCHW feature maps")


def apply_memory_format(model: nn.Module, name: str, device: torch.device) -> str:
    """Convert the model's 4-D weights to the chosen layout, in place; returns
    the layout's name. Convolutions then produce feature maps in the layout of
    their weights, so the input batches need no conversion."""
    fmt = MEMORY_FORMATS[name](model, device)
    model.to(memory_format=fmt)
    return "channels_last" if fmt == torch.channels_last else "contiguous"
