"""One probe pass with temporary hooks: per-layer statistics, training untouched.

`Recorder.record(epoch)` runs one forward and backward pass on a fixed probe
batch with temporary hooks and returns long-format rows
(epoch, layer, depth, statistic, value):

  per activation module   act_mean, act_std (its output), pre_mean, pre_std
                          (its input), dead_frac (relu only), saturated_frac
                          (sigmoid, tanh only)
  per parameter tensor    grad_norm (L2, of the probe loss), weight_norm (L2),
                          update_ratio (‖Δw‖/‖w‖ of the last optimizer step;
                          only when an optimizer is tracked and has stepped)

Choices, and why:
- Train mode: batch norm normalises with the probe's own statistics, as it
  does during training, and gradients flow as they do in training. Dropout
  runs too, from the CPU and probe-device generators seeded with `seed` and
  put back afterwards, so each recording draws the same masks and training's
  random stream is untouched. Running statistics (every buffer) are copied
  before and written back after; gradients come from `torch.autograd.grad`,
  so `.grad` is never touched; every module's own train/eval flag is
  restored. fp32 throughout (no autocast): statistics of the weights, not of
  a precision's rounding.
- Dead units are counted for relu only: a unit (a conv channel or a linear
  feature, dim 1 of the output) is dead when its output is ≤ 0 for every
  sample and position of the probe, so it passes no gradient to its weights.
  leaky_relu, prelu, elu, selu, gelu and silu have a non-zero slope (or a
  non-zero output) below 0 and never stop passing gradient; no row for them.
- Saturation is counted per output element for the bounded activations of
  `ablate.layers.act.SATURATING`: within 2% of the range of a bound
  (sigmoid < 0.02 or > 0.98; tanh |y| > 0.96), where the derivative is below
  0.02 (sigmoid: y(1-y) ≤ 0.0196) or 0.08 (tanh: 1-y² ≤ 0.078).
- `depth` counts conv and linear layers in the order the probe's forward pass
  runs them, from 0 at the input: a weight, bias or norm parameter and an
  activation carry the depth of the latest conv/linear layer run before them
  (-1: its module never ran on the probe). In a ResNet a projection
  shortcut's 1×1 conv counts as a layer.
- `layer` is the module path, with a `ConvBlock`'s children named by role
  (`features.0.conv.weight`, `features.0.norm.bias`, `features.0.act`) so the
  same layer keeps its name whether the norm sits before or after the
  activation.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ablate.schema.choices import ACT_LEVELS
from ablate.diagnostics.table import write_csv
from ablate.layers.act import ACTS, SATURATING

# ablate.models is imported where used: it imports the config schema, which
# holds DiagnosticsConfig.

DEAD_UNIT_ACTS = ("relu",)  # exactly 0 below 0: the only ones whose units can die
SATURATION_MARGIN = 0.02  # fraction of the activation's range, at each bound
WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear)  # the layers that define depth


def layer_names(model: nn.Module, act_type: type[nn.Module]) -> dict[nn.Module, str]:
    """Module → readable name: its path, with a ConvBlock's children as conv/norm/act."""
    from ablate.models.blocks import ConvBlock

    names: dict[nn.Module, str] = {model: ""}
    for path, module in model.named_modules():
        for child_name, child in module.named_children():
            if isinstance(module, ConvBlock):
                child_name = "conv" if child is module[0] else "act" if isinstance(child, act_type) else "norm"
            names.setdefault(child, f"{path}.{child_name}" if path else child_name)
    return names


class Recorder:
    """Records per-layer statistics of `model` on one fixed probe batch.

    `probe_x` is a normalised float batch on the model's device (e.g. the first
    256 validation images), `probe_y` its labels. Pass the *uncompiled* model:
    hooks run eagerly. Pass `optimizer` to get `update_ratio`: a step pre-hook
    then copies the weights before every step while armed (one fused copy, no
    host sync; ~30 µs a step for LeNet-5 on one CPU thread, under 1% of its
    step), and the last step's update is the difference at recording time. Create the
    Recorder after the model has moved to its device; call `close()` (or use
    `with`) to remove the hook.
    """

    def __init__(self, model: nn.Module, probe_x: Tensor, probe_y: Tensor, act_name: str,
                 *, optimizer: torch.optim.Optimizer | None = None, seed: int = 0) -> None:
        self.model = model
        self.probe_x, self.probe_y = probe_x, probe_y
        # The class this config's act builds (its options change its numbers, not its class).
        self.act_type = type(ACTS[act_name].make(**ACT_LEVELS.of(act_name).options()))
        self.bounds = SATURATING.get(act_name)
        self.counts_dead = act_name in DEAD_UNIT_ACTS
        self.seed = seed  # fixes the probe pass's dropout masks
        self.names = layer_names(model, self.act_type)
        self._modules = list(model.modules())  # the structure is fixed once built
        self._watched = [m for m in self._modules if isinstance(m, (self.act_type, *WEIGHTED))
                         or any(True for _ in m.parameters(recurse=False))]
        self.rows: list[dict] = []
        # With keep_tensors, `record` also keeps each activation's and gradient's
        # values (on the host) in `tensors`, for a tracker's histograms.
        self.keep_tensors = False
        self.tensors: dict[str, Tensor] = {}
        # (name, owning module, tensor) of every trainable parameter, in module order
        self._params = [(f"{self.names[m]}.{local}".lstrip("."), m, p)
                        for m in self._modules
                        for local, p in m.named_parameters(recurse=False) if p.requires_grad]
        self._snapshot: list[Tensor] | None = None
        self._stepped = False
        self._step_hook = None
        self.armed = True  # copy the weights before each step; see `arm`
        if optimizer is not None:
            self._snapshot = [torch.empty_like(p) for _, _, p in self._params]
            self._step_hook = optimizer.register_step_pre_hook(self._snap)

    def arm(self, on: bool) -> None:
        """Copy the weights before each optimizer step (on) or not (off).

        Only the last step before a `record` matters, so a caller that knows
        when it will record arms just those epochs and skips the copy (~1% of
        a step) elsewhere. A step taken disarmed makes update_ratio unknown
        until the next armed step, never stale."""
        self.armed = on

    @torch.no_grad()
    def _snap(self, optimizer, args, kwargs) -> None:
        if self.armed:
            torch._foreach_copy_(self._snapshot, [p for _, _, p in self._params])
        self._stepped = self.armed

    def close(self) -> None:
        """Remove the optimizer's step hook; `record` still works, without update_ratio."""
        if self._step_hook is not None:
            self._step_hook.remove()
            self._step_hook = None
            self._snapshot = None

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def record(self, epoch: int) -> list[dict]:
        """One probe pass; returns this epoch's rows and appends them to `rows`."""
        model = self.model
        modes = [(m, m.training) for m in self._modules]
        buffers = [(b, b.clone()) for b in model.buffers()]
        self.tensors = {}
        stats: list[tuple[str, nn.Module, str, Tensor]] = []  # (layer, module, statistic, 0-d value)
        depth_of: dict[nn.Module, int] = {}
        latest = [-1]  # index of the latest conv/linear layer run

        @torch.no_grad()
        def before_act(module: nn.Module, args) -> None:
            if module not in depth_of:  # first call only (a shared module runs twice)
                std, mean = _std_mean(args[0].detach().float())
                name = self.names[module]
                stats.extend([(name, module, "pre_mean", mean), (name, module, "pre_std", std)])

        @torch.no_grad()
        def after(module: nn.Module, args, out) -> None:
            if module in depth_of:
                return
            if isinstance(module, WEIGHTED):
                latest[0] += 1
            depth_of[module] = latest[0]
            if isinstance(module, self.act_type):
                name = self.names[module]
                stats.extend((name, module, s, v) for s, v in self._act_stats(out.detach().float()))
                if self.keep_tensors:
                    self.tensors[f"act/{name}"] = out.detach().float().flatten().cpu()

        handles = []
        try:
            for m in self._watched:
                if isinstance(m, self.act_type):
                    handles.append(m.register_forward_pre_hook(before_act))
                handles.append(m.register_forward_hook(after))
            model.train()
            with _seeded_rng(self.probe_x.device, self.seed), torch.enable_grad():
                logits = model(self.probe_x)
                loss = F.cross_entropy(logits.float(), self.probe_y)
                grads = torch.autograd.grad(loss, [p for _, _, p in self._params], allow_unused=True)
        finally:
            for h in handles:
                h.remove()
            for m, mode in modes:
                m.training = mode  # the flag alone: m.train() would recurse, once per module
            with torch.no_grad():
                for b, saved in buffers:
                    b.copy_(saved)
        stats += self._param_stats(grads)
        if self.keep_tensors:
            self.tensors.update({f"grad/{n}": g.detach().float().flatten().cpu()
                                 for (n, _, _), g in zip(self._params, grads) if g is not None})
        values = torch.stack([v.float() for *_, v in stats]).tolist() if stats else []  # one host sync
        rows = [{"epoch": epoch, "layer": layer, "depth": depth_of.get(module, -1),
                 "statistic": statistic, "value": value}
                for (layer, module, statistic, _), value in zip(stats, values)]
        self.rows += rows
        return rows

    def _act_stats(self, out: Tensor) -> list[tuple[str, Tensor]]:
        std, mean = _std_mean(out)
        result = [("act_mean", mean), ("act_std", std)]
        if self.counts_dead:
            # A unit is dim 1 (conv channel, linear feature); dead when its
            # maximum over every sample and position is ≤ 0 (NaN: not dead).
            others = [d for d in range(out.dim()) if d != 1]
            peak = out.amax(dim=others) if out.dim() > 1 else out
            result.append(("dead_frac", (peak <= 0).float().mean()))
        if self.bounds is not None:
            lo, hi = self.bounds  # |y - centre| ≥ half-range - margin: one compare, not two
            margin = SATURATION_MARGIN * (hi - lo)
            at_bound = torch.count_nonzero((out - (hi + lo) / 2).abs() >= (hi - lo) / 2 - margin)
            result.append(("saturated_frac", at_bound / out.numel()))
        return result

    @torch.no_grad()
    def _param_stats(self, grads) -> list[tuple[str, nn.Module, str, Tensor]]:
        weights = [p.detach() for _, _, p in self._params]
        w_norms = torch._foreach_norm(weights) if weights else []
        stats = [(n, m, "grad_norm", torch.linalg.vector_norm(g))
                 for (n, m, _), g in zip(self._params, grads) if g is not None]  # None: not on the loss's path
        stats += [(n, m, "weight_norm", w) for (n, m, _), w in zip(self._params, w_norms)]
        if self._snapshot is not None and self._stepped:
            deltas = torch._foreach_norm(torch._foreach_sub(weights, self._snapshot))
            stats += [(n, m, "update_ratio", d / w) for (n, m, _), d, w in zip(self._params, deltas, w_norms)]
        return stats

    def write_csv(self, path: Path) -> None:
        """Every row recorded so far, atomically (long format, `COLUMNS`)."""
        write_csv(path, self.rows)


def _std_mean(x: Tensor) -> tuple[Tensor, Tensor]:
    """Population std and mean, two-pass: torch.std_mean is ~10× slower on CPU
    (700 µs vs 60 µs for 256×6×8×8, torch 2.14, one thread), and E[x²]-E[x]²
    cancels when the mean dwarfs the std (sigmoid outputs near 0.5)."""
    mean = x.mean()
    return torch.linalg.vector_norm(x - mean) / math.sqrt(max(1, x.numel())), mean


@contextmanager
def _seeded_rng(device: torch.device, seed: int) -> Iterator[None]:
    """Seed the generators the probe's dropout draws from; give training's states back after.

    Only the CPU generator and the probe's own device's: `torch.manual_seed`
    would also seed every CUDA device (and costs ~0.3 ms queuing a lazy CUDA
    init where CUDA is unused).
    """
    if device.type not in ("cpu", "cuda"):  # mps, xpu: the generic path
        with torch.random.fork_rng(devices=[device], device_type=device.type):
            torch.manual_seed(seed)
            yield
        return
    generators = [torch.default_generator]
    if device.type == "cuda":
        generators.append(torch.cuda.default_generators[
            device.index if device.index is not None else torch.cuda.current_device()])
    states = [g.get_state() for g in generators]
    try:
        for g in generators:
            g.manual_seed(seed)
        yield
    finally:
        for g, state in zip(generators, states):
            g.set_state(state)
