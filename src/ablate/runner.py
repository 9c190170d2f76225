"""`ablate.run(spec)`: one run, start to finish, writing its own run directory.

Every executor (in-process, process pool, SLURM, Ray) calls this and nothing
else, so a run's records are the same wherever it ran. A run that raises is
recorded as `failed` with its traceback, a run whose loss stops being finite
as `diverged`; neither propagates, so a sweep goes on. Ctrl-C marks the run
`interrupted` and propagates.
"""

from __future__ import annotations

import platform
import traceback
import warnings
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

import ablate
from ablate.config.schema import RunConfig
from ablate.data.device import load_data
from ablate.diagnostics.session import RunDiagnostics
from ablate.models import build_model, count_params
from ablate.runid import run_id
from ablate.store import atomic
from ablate.store.rundir import RunDir, now
from ablate.summary import summarize
from ablate.train.device import autocast_dtype, resolve_device, resolve_precision
from ablate.train.layout import apply_memory_format
from ablate.train.loop import EpochRecord, diverged, train
from ablate.train.optim import make_optimizer
from ablate.train.sched import make_scheduler

FINISHED = ("completed", "diverged")


@dataclass(frozen=True)
class RunSpec:
    config: RunConfig
    run_dir: Path
    resume: bool = True  # continue from checkpoint.pt; skip if already finished
    progress: bool = False  # a live progress bar on the terminal
    threads: int | None = None  # CPU threads for this run (a worker's share of the cores)
    gpu_share: float = 1.0  # share of its GPU's memory the run may plan on: 1/K with K runs packed on it


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: str
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    skipped: bool = False  # already finished before this call


def versions() -> dict[str, str]:
    return {"ablate": ablate.__version__, "torch": torch.__version__, "python": platform.python_version()}


def run(spec: RunSpec) -> RunResult:
    rd = RunDir(spec.run_dir)
    rid = run_id(spec.config)
    previous = rd.read_status().get("status")
    if spec.resume and previous in FINISHED and rd.summary.exists():
        return RunResult(rid, previous, rd.read_summary(), skipped=True)
    try:
        return _run(spec, rd, rid)
    except KeyboardInterrupt:
        rd.write_status("interrupted", ended=now())
        rd.log("interrupted (Ctrl-C)")
        raise
    except Exception as e:  # noqa: BLE001 — any failure of a run is a result
        error = f"{type(e).__name__}: {e}".splitlines()[0]
        rd.log("failed\n" + traceback.format_exc())
        rd.write_status("failed", ended=now(), error=error)
        return RunResult(rid, "failed", error=error)
    finally:
        if torch.cuda.is_initialized():
            # Hand the run's cached blocks back, so runs packed beside it and the
            # worker's next run see the memory as free when they place their data.
            torch.cuda.empty_cache()


def _run(spec: RunSpec, rd: RunDir, rid: str) -> RunResult:
    cfg = spec.config
    if spec.threads:
        torch.set_num_threads(spec.threads)
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    resume_from = rd.checkpoint if spec.resume and rd.checkpoint.exists() else None
    if resume_from is None:
        for stale in (rd.history, rd.summary, rd.checkpoint, rd.path / "diagnostics.csv"):
            stale.unlink(missing_ok=True)
    rd.write_config(rid, cfg.to_dict())
    started = rd.read_status().get("started") if resume_from else None  # a resume keeps the first start
    rd.write_status("running", started=started or now(), device=str(device), precision=precision, error=None,
                    ended=None, resumed=resume_from is not None)
    rd.log(f"run {rid} on {device} ({precision}); {'resuming' if resume_from else 'starting'}")

    torch.manual_seed(cfg.seed)
    data = load_data(cfg.data, device, share=spec.gpu_share)
    if data.note:
        rd.log(data.note)
        warnings.warn(data.note, stacklevel=1)
    model = build_model(cfg.model, cfg.norm, cfg.act, cfg.init, cfg.dropout, data.shape).to(device)
    layout = apply_memory_format(model, cfg.memory_format, device)
    rd.log(f"feature maps {layout} (memory_format={cfg.memory_format})")
    optimizer = make_optimizer(model, cfg.optim)
    steps = data.train_steps(cfg.batch_size)
    scheduler = make_scheduler(optimizer, cfg.sched, steps, cfg.epochs)
    # fp16 needs loss scaling; its scale is part of the checkpoint, so a resumed
    # run doesn't restart at 2^16 and skip steps finding it again.
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    history: list[dict[str, float]] = []
    start_epoch, elapsed = 0, 0.0
    if resume_from is not None:
        try:
            state = torch.load(resume_from, map_location=device, weights_only=False)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            if state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            # RNG states are CPU byte tensors whatever the device; map_location moved them.
            torch.set_rng_state(state["rng_cpu"].cpu())
            if device.type == "cuda" and state.get("rng_cuda") is not None:
                torch.cuda.set_rng_state(state["rng_cuda"].cpu(), device)
        except Exception as e:  # noqa: BLE001 — truncated, or written by an incompatible version
            # Resuming from it would fail the same way on every retry: start over instead.
            rd.log(f"checkpoint unusable ({type(e).__name__}: {str(e).splitlines()[0]}); starting from scratch")
            return _run(replace(spec, resume=False), rd, rid)
        start_epoch, elapsed, history = state["epoch"], state["elapsed"], state["history"]
        # history.csv is written just before the checkpoint, so a kill between
        # the two leaves one row the checkpoint doesn't hold: drop it now.
        rd.write_history(history)
        rd.log(f"resumed after epoch {start_epoch}")
    train_model = torch.compile(model) if cfg.compile else model
    augment = None
    if cfg.aug:
        from ablate.data.augment import AugContext, build_pipeline

        # Statistics for pca_lighting/cutout: the whole split, or when streaming
        # from the host a random 10k-image sample of it, which pins them down as
        # well (random: folder datasets are sorted by class).
        stats_x = data.train_x
        if data.streaming:
            sample = torch.randperm(len(data.train_x), generator=torch.Generator().manual_seed(0))[:10_000]
            stats_x = data.to_device(data.train_x[sample])
        augment = build_pipeline(cfg.aug, AugContext(data.shape, data.shape.classes, stats_x))

    diagnostics = RunDiagnostics(cfg.diagnostics, epochs=cfg.epochs, model=model, data=data, act=cfg.act.name,
                                 optimizer=optimizer, seed=cfg.seed, batch_size=cfg.batch_size,
                                 path=rd.path / "diagnostics.csv", start_epoch=start_epoch)

    def on_epoch(record: EpochRecord) -> None:
        diagnostics.after_epoch(record.epoch, diverged(record))
        history.append(record.__dict__.copy())
        rd.write_history(history)
        atomic.torch_save(rd.checkpoint, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
            "epoch": record.epoch, "elapsed": record.elapsed,
            "history": history, "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        })
        rd.write_status("running", epoch=record.epoch)
        rd.log(f"epoch {record.epoch}/{cfg.epochs} train_loss {record.train_loss:.4f} "
               f"val_loss {record.val_loss:.4f} val_acc {record.val_acc:.4f} ({record.seconds:.2f}s)")

    from ablate.display import TrainProgress

    # A run killed after its diverging epoch was checkpointed but before it was
    # recorded as diverged must not train on from NaN weights when resumed.
    already_diverged = bool(history) and diverged(EpochRecord(**history[-1]))
    with TrainProgress(enabled=spec.progress and not already_diverged, epochs=cfg.epochs, steps=steps,
                       start_epoch=start_epoch) as bar, closing(diagnostics):
        if not already_diverged:
            train(
                train_model, data, optimizer, scheduler,
                epochs=cfg.epochs, batch_size=cfg.batch_size, eval_batch_size=cfg.eval.batch_size,
                seed=cfg.seed, amp_dtype=autocast_dtype(precision), scaler=scaler, augment=augment, tta=cfg.eval.tta,
                start_epoch=start_epoch, elapsed=elapsed,
                on_step=bar.step, on_epoch=lambda r: (on_epoch(r), bar.epoch(r)),
            )
    last = EpochRecord(**history[-1])  # the run's final epoch, whether trained now or before a resume
    status = "diverged" if diverged(last) else "completed"
    summary = {
        "run_id": rid, "status": status, **summarize(history, cfg.target_acc),
        "diverged_epoch": int(last.epoch) if status == "diverged" else None,
        "params": count_params(model), "device": str(device), "precision": precision,
        "memory_format": layout, "host": platform.node(), "finished": now(), "versions": versions(),
        "warnings": diagnostics.warnings(),
    }
    reason = f"loss not finite at epoch {last.epoch}" if status == "diverged" else None
    rd.write_summary(summary)
    rd.write_status(status, ended=now(), error=reason)
    rd.log(f"{status}: best val_acc {summary.get('best_val_acc')}")
    return RunResult(rid, status, summary, error=reason)
