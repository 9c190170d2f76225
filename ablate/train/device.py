"""Which device and numeric precision a run uses."""

from __future__ import annotations

import torch

from ablate.errors import ConfigError
from ablate.registry import Registry


def resolve_device(name: str) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; explicit names must exist here.

    Accelerators come back with an index (`cuda:0`, never bare `cuda`):
    tensors report theirs, and `torch.device("cuda") != torch.device("cuda:0")`,
    so an unindexed device would make every "is it already there?" check fail.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if torch.backends.mps.is_available():
            return torch.device("mps", 0)
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device={name} but this machine has no CUDA device; use device=auto or device=cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device={name} but only {torch.cuda.device_count()} CUDA device(s) exist")
        return device if device.index is not None else torch.device("cuda", torch.cuda.current_device())
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"device={name} but MPS is not available here; use device=auto or device=cpu")
        return torch.device("mps", device.index or 0)
    return device


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
# The `precision` choices, as configs name them and `ablate list` shows them.
PRECISION_CHOICES: Registry[None] = Registry("precision")
PRECISION_CHOICES.add("auto", None, "bf16 on CUDA cards with bf16 tensor cores, fp16 on older ones, fp32 elsewhere")
PRECISION_CHOICES.add("fp32", None, "full precision")
PRECISION_CHOICES.add("bf16", None, "bfloat16 autocast: fp32's range, 8 bits of mantissa")
PRECISION_CHOICES.add("fp16", None, "float16 autocast with a gradient scaler")

# The `device` choices, for `ablate list`. Checked by pattern, not by this list
# (`cuda:3` is any index), in ablate.schema.run; resolved by `resolve_device`.
DEVICES: Registry[None] = Registry("device")
DEVICES.add("auto", None, "cuda, else mps, else cpu")
DEVICES.add("cpu", None, "the CPU; each run's threads follow cpu_threads")
DEVICES.add("cuda", None, "the current CUDA device; runs spread over the visible GPUs")
DEVICES.add("cuda:N", None, "CUDA device N")
DEVICES.add("mps", None, "Apple silicon")


def resolve_precision(name: str, device: torch.device) -> str:
    """`auto` is bf16 autocast on CUDA cards with bf16 tensor cores (Ampere and
    later: same range as fp32, no loss scaling), fp16 with a gradient scaler on
    older cards (where bf16 is only emulated, and slow), fp32 elsewhere."""
    if name == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16"
    return name


def autocast_dtype(precision: str) -> torch.dtype | None:
    return PRECISIONS[precision]
