"""`run(spec)`: one run, start to finish, writing its own run directory.

Every executor (in-process, process pool, SLURM, Ray) calls this and nothing
else, so a run's records are the same wherever it ran. A run that raises is
recorded as `failed` with its traceback, a run whose loss stops being finite
as `diverged`; neither propagates, so a sweep goes on. Ctrl-C marks the run
`interrupted` and propagates.

The run reads as a recipe: prepare → restore → train → finish.
"""

from __future__ import annotations

import platform
import traceback
import warnings as python_warnings
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ablate.schema.run import RunConfig
from ablate.data.augment import AugContext, Pipeline, build_pipeline
from ablate.data.device import DeviceData, load_data
from ablate.data.tta import Views, make_views
from ablate.diagnostics.session import RunDiagnostics
from ablate.errors import TrackerWarning
from ablate.models import build_model, count_params
from ablate.runner import checkpoint
from ablate.runner.identity import run_id
from ablate.runner.spec import ProgressFactory, RunResult, RunSpec
from ablate.store import predictions
from ablate.store.summary import scored_epochs, summarize
from ablate.store.identity import RESULTS_FORMAT
from ablate.store.provenance import VERSION
from ablate.store.rundir import RunDir, now
from ablate.store.status import FINISHED, Status
from ablate.train.budget import Budget
from ablate.train.device import autocast_dtype, resolve_device, resolve_precision
from ablate.train.layout import apply_memory_format
from ablate.store.outcome import collapsed_epoch
from ablate.train.loop import STALL_BAND, EpochRecord, Predicted, diverged, stalled, train
from ablate.train.optim import make_optimizer
from ablate.train.sched import make_scheduler
from ablate.train.threads import cpu_threads, oversubscribed_note
from ablate.track import RunInfo, Trackers

STATS_SAMPLE = 10_000  # images a streamed split's augmentation statistics are taken from


def versions() -> dict[str, str]:
    return {"ablate": VERSION, "torch": torch.__version__, "python": platform.python_version()}


@dataclass
class Session:
    """A run in progress: what prepare built, and how far training has got."""

    rd: RunDir
    run_id: str
    cfg: RunConfig
    device: torch.device
    precision: str
    data: DeviceData
    model: nn.Module
    layout: str
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    steps: int  # optimiser steps per epoch
    budget: Budget  # epochs and optimiser steps in all (ablate.train.budget)
    history: list[dict[str, float]] = field(default_factory=list)
    start_epoch: int = 0
    elapsed: float = 0.0
    trackers: Trackers | None = None  # opened by train_session, closed by finish (or by an interruption)
    stall_epochs: int | None = None  # RunSpec.stall_epochs
    predictions: predictions.Predictions | None = None  # at each scored epoch so far (store.predictions)
    predicted: Predicted | None = None  # the epoch being recorded's, until on_epoch takes it

    def stalled(self) -> bool:
        return stalled([h["val_acc"] for h in self.history], self.data.shape.classes, self.stall_epochs)

    def states(self) -> dict[str, Any]:
        return {"model": self.model, "optimizer": self.optimizer, "scheduler": self.scheduler,
                "scaler": self.scaler, "device": self.device}


def run(spec: RunSpec, progress: ProgressFactory | None = None) -> RunResult:
    rd = RunDir(spec.run_dir)
    rid = run_id(spec.config)
    previous = rd.read_status().get("status")
    if spec.resume and previous in FINISHED and (summary := rd.read_summary()):
        return RunResult(rid, previous, summary, skipped=True)
    # A finished run whose summary cannot be read resumes: from its checkpoint
    # it has nothing left to train, and finish() writes the summary again.
    try:
        resume = spec.resume and rd.checkpoint.exists()
        session = prepare(spec, rd, rid, resume)
        if resume and not restore(session):
            # Resuming from it would fail the same way on every retry: start over instead.
            session = prepare(spec, rd, rid, resume=False)
        return finish(session, train_session(session, progress))
    except KeyboardInterrupt:
        rd.write_status(Status.INTERRUPTED, ended=now())
        rd.log("interrupted (Ctrl-C)")
        raise
    except Exception as e:  # noqa: BLE001 — any failure of a run is a result
        error = f"{type(e).__name__}: {e}".splitlines()[0]
        rd.log("failed\n" + traceback.format_exc())
        rd.write_status(Status.FAILED, ended=now(), error=error)
        return RunResult(rid, Status.FAILED, error=error)
    finally:
        if torch.cuda.is_initialized():
            # Hand the run's cached blocks back, so runs packed beside it and the
            # worker's next run see the memory as free when they place their data.
            torch.cuda.empty_cache()


def prepare(spec: RunSpec, rd: RunDir, rid: str, resume: bool) -> Session:
    """Record the start, then build data, model, optimiser and schedule from the seed."""
    cfg = spec.config
    device = resolve_device(cfg.device)
    # On CPU the count is the run's own (the same numbers however it was launched);
    # a GPU run's host side takes its worker's share of the cores.
    threads = cpu_threads(cfg) if device.type == "cpu" else spec.threads
    if threads:
        torch.set_num_threads(threads)
    precision = resolve_precision(cfg.precision, device)
    if not resume:
        for stale in (rd.history, rd.summary, rd.checkpoint, rd.predictions, rd.path / "diagnostics.csv"):
            stale.unlink(missing_ok=True)
    rd.write_config(rid, cfg.to_dict())
    started = rd.read_status().get("started") if resume else None  # a resume keeps the first start
    rd.write_status(Status.RUNNING, started=started or now(), device=str(device), precision=precision, error=None,
                    ended=None, resumed=resume, threads=torch.get_num_threads(),
                    results_format=RESULTS_FORMAT)
    rd.log(f"run {rid} on {device} ({precision}); {'resuming' if resume else 'starting'}")

    torch.manual_seed(cfg.seed)
    data = load_data(cfg.data, device, share=spec.gpu_share)
    crowded = oversubscribed_note(threads) if device.type == "cpu" and threads else None
    for note in filter(None, [data.note, _batch_note(cfg.batch_size, len(data.train_y)), crowded]):
        _warn(rd, note)
    model = build_model(cfg.model, cfg.norm, cfg.act, cfg.init, cfg.dropout, data.shape).to(device)
    layout = apply_memory_format(model, cfg.memory_format, device)
    rd.log(f"feature maps {layout} (memory_format={cfg.memory_format})")
    optimizer = make_optimizer(model, cfg.optim, cfg.batch_size)
    steps = data.train_steps(cfg.batch_size)
    budget = Budget.of(cfg, steps)
    return Session(rd, rid, cfg, device, precision, data, model, layout, optimizer,
                   scheduler=make_scheduler(optimizer, cfg.sched, steps, budget.epochs, budget.steps),
                   # fp16 needs loss scaling, its scale saved with the checkpoint.
                   scaler=torch.amp.GradScaler(device.type, enabled=precision == "fp16"), steps=steps, budget=budget,
                   stall_epochs=spec.stall_epochs)


def _batch_note(batch_size: int, images: int) -> str | None:
    if batch_size <= images:
        return None
    return (f"batch_size={batch_size} is larger than the {images} training images: each epoch is one step "
            f"over the whole split")


def restore(s: Session) -> bool:
    """Load checkpoint.pt into the session; False (and a log line) when it is unusable."""
    try:
        s.start_epoch, s.elapsed, s.history, kept = checkpoint.load(s.rd.checkpoint, **s.states())
        s.predictions = predictions.Predictions(**kept) if kept else None
    except Exception as e:  # noqa: BLE001 — truncated, or written by an incompatible version
        s.rd.log(f"checkpoint unusable ({type(e).__name__}: {str(e).splitlines()[0]}); starting from scratch")
        return False
    # history.csv and predictions.npz are written just before the checkpoint, so a kill
    # between them leaves one row, and maybe predictions, the checkpoint doesn't hold: undo them now.
    s.rd.write_history(s.history)
    if s.predictions is not None:
        predictions.write(s.rd.predictions, s.predictions)
    else:  # a checkpoint from before predictions were kept: a partial file would not be this run's
        s.rd.predictions.unlink(missing_ok=True)
    s.rd.log(f"resumed after epoch {s.start_epoch}")
    return True


def augmentation(s: Session) -> Pipeline | None:
    """The run's augmentation pipeline. Statistics for pca_lighting/cutout come
    from the whole split, or when streaming from the host from a random sample
    of it, which pins them down as well (random: folder datasets are sorted by class)."""
    if not s.cfg.aug:
        return None
    stats_x = s.data.train_x
    if s.data.streaming:
        sample = torch.randperm(len(stats_x), generator=torch.Generator().manual_seed(0))[:STATS_SAMPLE]
        stats_x = s.data.to_device(stats_x[sample])
    return build_pipeline(s.cfg.aug, AugContext(s.data.shape, s.data.shape.classes, stats_x))


def test_views(s: Session) -> Views | None:
    """eval.tta's views; a zero-padded crop view is black in pixels, as the training crop pads
    before normalising, so the fill is a black pixel normalised (ablate.data.tta)."""
    shape = s.data.shape
    black = s.data.normalize(torch.zeros(1, shape.channels, 1, 1, device=s.device))
    return make_views(s.cfg.eval.tta, s.cfg.eval.tta_pad, s.cfg.aug, shape.size, black)


def _warn(rd: RunDir, message: str, category: type[Warning] = UserWarning) -> None:
    rd.log(message)
    python_warnings.warn(message, category, stacklevel=1)


def open_trackers(s: Session) -> Trackers:
    info = RunInfo(s.run_id, s.rd.path, s.cfg.to_dict(), s.rd.read_factors(), s.start_epoch, list(s.history))
    return Trackers(s.cfg.tracker, info, lambda message: _warn(s.rd, message, TrackerWarning))


def train_session(s: Session, progress: ProgressFactory | None) -> list[str]:
    """Train the remaining epochs, recording history, checkpoint and status after
    each; returns the diagnostics' warnings. A run stopped by an exception or
    Ctrl-C ends its trackers' runs as failed or interrupted."""
    s.trackers = open_trackers(s)
    try:
        return _train_tracked(s, progress)
    except KeyboardInterrupt:
        s.trackers.finish(Status.INTERRUPTED, {}, "Ctrl-C")
        raise
    except Exception as e:
        s.trackers.finish(Status.FAILED, {}, f"{type(e).__name__}: {e}".splitlines()[0])
        raise


def _train_tracked(s: Session, progress: ProgressFactory | None) -> list[str]:
    cfg, rd = s.cfg, s.rd
    trackers = s.trackers
    epochs = s.budget.epochs
    diagnostics = RunDiagnostics(cfg.diagnostics, epochs=epochs, model=s.model, data=s.data, act=cfg.act.name,
                                 optimizer=s.optimizer, seed=cfg.seed, batch_size=cfg.batch_size,
                                 path=rd.path / "diagnostics.csv", start_epoch=s.start_epoch,
                                 on_tensors=trackers.histograms if trackers.wants_tensors else None)

    def on_epoch(record: EpochRecord) -> None:
        diagnostics.after_epoch(record.epoch, diverged(record))
        s.history.append(record.__dict__.copy())
        rd.write_history(s.history)
        keep_predictions(s, record.epoch)
        trackers.epoch(s.history[-1])
        checkpoint.save(rd.checkpoint, epoch=record.epoch, elapsed=record.elapsed, history=s.history,
                        predictions=s.predictions, **s.states())
        rd.write_status(Status.RUNNING, epoch=record.epoch)
        rd.log(f"epoch {record.epoch}/{epochs} train_loss {record.train_loss:.4f} "
               f"val_loss {record.val_loss:.4f} val_acc {record.val_acc:.4f} test_acc {record.test_acc:.4f} "
               f"({record.seconds:.2f}s)")

    # A run killed after its diverging epoch was checkpointed but before it was
    # recorded as diverged must not train on from NaN weights when resumed.
    done = bool(s.history) and (diverged(EpochRecord(**s.history[-1])) or s.stalled())
    with closing(diagnostics):
        if not done:
            bar = progress(epochs, s.steps, s.start_epoch) if progress else nullcontext(_Silent())
            with bar as shown:
                train(
                    torch.compile(s.model) if cfg.compile else s.model, s.data, s.optimizer, s.scheduler,
                    epochs=epochs, total_steps=s.budget.steps, batch_size=cfg.batch_size, eval_batch_size=cfg.eval.batch_size,
                    seed=cfg.seed, amp_dtype=autocast_dtype(s.precision), scaler=s.scaler,
                    augment=augmentation(s), tta=test_views(s), start_epoch=s.start_epoch, elapsed=s.elapsed,
                    on_step=shown.step, on_epoch=lambda r: (on_epoch(r), shown.epoch(r)),
                    on_predicted=lambda r, predicted: setattr(s, "predicted", predicted),
                    stop=lambda r: s.stalled(),
                )
    return diagnostics.warnings()


def keep_predictions(s: Session, epoch: int) -> None:
    """When `epoch` is now a test score's scored epoch (store.summary.scored_epochs), its
    predictions replace that score's in predictions.npz, written before the epoch's checkpoint."""
    predicted, s.predicted = s.predicted, None
    if predicted is None:
        return
    now_scored = [m for m, e in scored_epochs(s.history).items() if e == epoch]
    if not now_scored:
        return
    dtype = predictions.class_dtype(s.data.shape.classes)
    old = s.predictions or predictions.Predictions(s.data.eval_split("test")[1].cpu().numpy().astype(dtype), {}, {})
    guesses = {"test_acc": predicted.plain, "test_acc_tta": predicted.tta}
    new = {m: guesses[m].numpy().astype(dtype) for m in now_scored if guesses.get(m) is not None}
    if not new:
        return
    s.predictions = predictions.Predictions(old.labels, {**old.predicted, **new},
                                            {**old.epochs, **{m: epoch for m in new}})
    predictions.write(s.rd.predictions, s.predictions)


def finish(s: Session, warnings: list[str]) -> RunResult:
    """Summary and final status, from the last epoch whether trained now or before a resume."""
    last = EpochRecord(**s.history[-1])
    target, source = s.cfg.convergence_target
    # A tuning run stopped near chance (--stop-stalled): it never learnt, so never collapsed.
    stopped = stalled([h["val_acc"] for h in s.history], s.data.shape.classes, s.stall_epochs)
    fell = None if diverged(last) or stopped else collapsed_epoch(s.history, s.data.shape.classes)
    status = Status.DIVERGED if diverged(last) else Status.STALLED if stopped else \
        Status.COLLAPSED if fell else Status.COMPLETED
    summary = {
        "run_id": s.run_id, "status": status, **summarize(s.history, target),
        "target_from": source,
        "diverged_epoch": int(last.epoch) if status == Status.DIVERGED else None, "collapsed_epoch": fell,
        # What the run's length counted; epochs_to_target is in epochs of steps_per_epoch steps either way.
        "budget": s.cfg.budget_text, "steps_per_epoch": s.steps,
        "steps_run": min(s.budget.steps, int(last.epoch) * s.steps),
        "params": count_params(s.model), "classes": s.data.shape.classes,
        "device": str(s.device), "precision": s.precision,
        "memory_format": s.layout, "host": platform.node(), "finished": now(), "versions": versions(),
        "warnings": warnings,
    }
    reason = {Status.DIVERGED: f"loss not finite at epoch {last.epoch}",
              Status.COLLAPSED: f"back at chance from epoch {fell} to the end, after it had learnt",
              Status.STALLED: f"val accuracy within {STALL_BAND} of chance for {s.stall_epochs} epochs, "
                              f"stopped at epoch {last.epoch} (--stop-stalled)"}.get(status)
    s.rd.write_summary(summary)
    s.rd.write_status(status, ended=now(), error=reason)
    s.rd.log(f"{status}: best val_acc {summary.get('best_val_acc')}, test_acc there {summary.get('test_acc')}")
    if s.trackers is not None:
        s.trackers.finish(status, summary, reason)
    return RunResult(s.run_id, status, summary, error=reason)


class _Silent:
    """The progress of a run nobody watches."""

    def step(self) -> None:
        pass

    def epoch(self, record: EpochRecord) -> None:
        pass
