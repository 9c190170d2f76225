"""checkpoint.pt: everything a resumed run needs to go on exactly where it stopped.

Written atomically after every epoch; read back on resume. The RNG states are
part of it, so a resumed run draws the same batches and augmentations as one
that never stopped.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ablate.store import atomic


def save(path: Path, *, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
         scaler: torch.amp.GradScaler, epoch: int, elapsed: float, history: list[dict],
         device: torch.device, predictions: Any = None) -> None:
    """`predictions`: the run's store.predictions.Predictions so far (None: none kept), stored as
    a plain dict of numpy arrays, so a checkpoint does not name the class."""
    atomic.torch_save(path, {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
        "epoch": epoch, "elapsed": elapsed, "history": history, "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "predictions": None if predictions is None else dataclasses.asdict(predictions),
    })


def load(path: Path, *, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
         scaler: torch.amp.GradScaler, device: torch.device) -> tuple[int, float, list[dict], Any]:
    """Load the states in place; returns (epochs done, seconds trained, history, predictions as a
    dict of store.predictions.Predictions' fields, or None: a checkpoint written before ablate kept them has none).

    Raises whatever a truncated file or one from an incompatible version raises."""
    state = torch.load(path, map_location=device, weights_only=False)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if state.get("scaler"):
        # fp16's loss scale: without it a resumed run restarts at 2^16 and skips steps finding it again.
        scaler.load_state_dict(state["scaler"])
    # RNG states are CPU byte tensors whatever the device; map_location moved them.
    torch.set_rng_state(state["rng_cpu"].cpu())
    if device.type == "cuda" and state.get("rng_cuda") is not None:
        torch.cuda.set_rng_state(state["rng_cuda"].cpu(), device)
    return state["epoch"], state["elapsed"], state["history"], state.get("predictions")
