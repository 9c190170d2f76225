"""Hand-built sweep stores for the report tests (and the benchmark).

A run is described by its validation-accuracy curve (its test accuracy is
the same curve: test_acc at the best-val epoch then equals best_val_acc, so a
reference computed on either holds for the default ranking); every number the store
holds about it (best, final, AUC, epochs- and seconds-to-target) is derived
here with plain Python loops, independently of `ablate.report`, and written in
the store's contract layout:

    <root>/<name>/sweep.yaml, runs.csv, epochs.csv, runs/<run_id>/history.csv
"""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

METRICS = ("test_acc", "best_val_acc", "best_epoch", "final_test_acc", "final_val_acc", "test_acc_tta", "final_val_loss",
           "final_train_acc", "final_train_loss", "auc_val_acc", "target_acc", "epochs_to_target", "seconds_to_target",
           "epochs_run", "seconds", "diverged_epoch", "params", "classes", "device", "precision", "host", "error",
           "results_format", "target_from")
RESULTS_FORMAT = 2  # the store's current format (ablate.store.identity), written by hand here
SECONDS_PER_EPOCH = 2.5  # wall time of one fake epoch, so seconds-to-target = 2.5 × epochs


@dataclass
class Run:
    levels: dict[str, str]  # swept key → level, seed included
    curve: list[float]  # validation accuracy per epoch (epoch 1 first)
    status: str = "completed"
    train_gap: float = 0.02  # train accuracy = val accuracy + this, every epoch
    run_id: str = ""
    extra: dict = field(default_factory=dict)  # any runs.csv cell to force


def history(run: Run) -> list[dict]:
    rows, elapsed = [], 0.0
    for epoch, acc in enumerate(run.curve, start=1):
        elapsed += SECONDS_PER_EPOCH
        rows.append({"epoch": epoch, "train_loss": 1 - acc, "train_acc": acc + run.train_gap, "val_loss": 1.1 - acc,
                     "val_acc": acc, "test_loss": 1.1 - acc, "test_acc": acc, "lr": 0.1, "seconds": SECONDS_PER_EPOCH,
                     "elapsed": elapsed})
    return rows


def summary_row(run: Run, target: float | None) -> dict:
    """The runs.csv metrics of one run; empty cells for runs that did not finish."""
    if run.status not in ("completed", "diverged") or not run.curve:
        return {}
    rows = history(run)
    best = max(rows, key=lambda r: r["val_acc"])
    hit = None
    if target is not None:
        for r in rows:
            if r["val_acc"] >= target:
                hit = r
                break
    last = rows[-1]
    return {
        "test_acc": best["test_acc"], "best_val_acc": best["val_acc"], "best_epoch": best["epoch"],
        "final_test_acc": last["test_acc"], "final_val_acc": last["val_acc"],
        "final_val_loss": last["val_loss"], "final_train_acc": last["train_acc"],
        "final_train_loss": last["train_loss"], "auc_val_acc": sum(run.curve) / len(run.curve),
        "target_acc": "" if target is None else target,
        "epochs_to_target": hit["epoch"] if hit else "", "seconds_to_target": hit["elapsed"] if hit else "",
        "epochs_run": last["epoch"], "seconds": last["elapsed"],
        "diverged_epoch": last["epoch"] if run.status == "diverged" else "",
        "params": 1234, "device": "cpu", "precision": "fp32", "host": "test", "results_format": RESULTS_FORMAT,
    }


def write_sweep(root: Path, name: str, runs: list[Run], *, keys: list[str], target: float | None = None,
                planned: int | None = None, write_factors: bool = True, overrides: list[str] = (),
                sweep_yaml: bool = True, run_dirs: bool = False, epochs_csv: bool = True) -> Path:
    """Write one sweep folder; returns its path."""
    path = Path(root) / name
    path.mkdir(parents=True, exist_ok=True)
    for i, run in enumerate(runs):
        run.run_id = run.run_id or f"{name[:3]}{i:05d}"
    if sweep_yaml:
        grid = {k: list(dict.fromkeys(r.levels[k] for r in runs)) for k in keys}
        meta = {"name": name, "command": "ablate sweep", "overrides": list(overrides), "grid": grid,
                "planned": planned if planned is not None else len(runs), "ablate_version": "0.1.0",
                "git_commit": "abc", "started": "2024-01-01T00:00:00"}
        if write_factors:
            meta["factors"] = keys
        (path / "sweep.yaml").write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")
    with open(path / "runs.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["run_id", "sweep", "status", *keys, *METRICS])
        writer.writeheader()
        for run in runs:
            writer.writerow({"run_id": run.run_id, "sweep": name, "status": run.status, **run.levels,
                             **summary_row(run, target), **run.extra})
    if epochs_csv:
        with open(path / "epochs.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["run_id", "epoch", "metric", "value"])
            for run in runs:
                for row in history(run):
                    for metric, value in row.items():
                        if metric != "epoch":
                            writer.writerow([run.run_id, row["epoch"], metric, value])
    if run_dirs:
        for run in runs:
            rd = path / "runs" / run.run_id
            rd.mkdir(parents=True, exist_ok=True)
            (rd / "status.json").write_text(json.dumps({"status": run.status, "results_format": RESULTS_FORMAT}),
                                            encoding="utf-8")
            with open(rd / "history.csv", "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=["epoch", "train_loss", "train_acc", "val_loss", "val_acc",
                                                       "test_loss", "test_acc", "lr", "seconds", "elapsed"])
                writer.writeheader()
                writer.writerows(history(run))
    return path


def grid_runs(levels: dict[str, list[str]], seeds: int, curve, status=None) -> list[Run]:
    """Every combination of `levels` × seeds; `curve(combo, seed)` gives the
    accuracy curve and `status(combo, seed)` the status (completed by default)."""
    keys = list(levels)
    runs = []
    for values in itertools.product(*levels.values()):
        combo = dict(zip(keys, values))
        for seed in range(seeds):
            runs.append(Run({**combo, "seed": str(seed)}, curve(combo, seed),
                            status(combo, seed) if status else "completed"))
    return runs


def ramp(final: float, epochs: int = 6, start: float = 0.3) -> list[float]:
    """A curve rising linearly from `start` to `final` over `epochs` epochs."""
    return [start + (final - start) * e / (epochs - 1) for e in range(epochs)]


def holm_reference(p: list[float]) -> list[float]:
    """Holm (1979) step by step, as a textbook states it: sorted ascending,
    p_(i) × (m - i + 1), a running maximum, capped at 1."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        adjusted[i] = min(1.0, running)
    return adjusted


NORM_BASE = {"none": 0.80, "batch": 0.90, "group": 0.885}  # the final accuracy each norm aims at
ACT_SHIFT = {"relu": 0.0, "tanh": -0.03}


def norm_act_runs(seeds: int = 4, noise_seed: int = 0) -> list[Run]:
    """norm × act × seed with known statuses: in `none`, seed 2 diverges (with a
    suspiciously *high* curve, so counting its accuracy would be visible);
    group/tanh seed 1 fails; the last run is still queued."""
    import random

    rng = random.Random(noise_seed)

    def curve(combo, seed):
        if combo["norm"] == "none" and seed == 2:
            return ramp(0.99)
        return ramp(NORM_BASE[combo["norm"]] + ACT_SHIFT[combo["act"]] + rng.gauss(0, 0.012))

    def status(combo, seed):
        if combo["norm"] == "none" and seed == 2:
            return "diverged"
        if combo == {"norm": "group", "act": "tanh"} and seed == 1:
            return "failed"
        return "completed"

    runs = grid_runs({"norm": list(NORM_BASE), "act": list(ACT_SHIFT)}, seeds, curve, status)
    runs[-1].status = "queued"
    return runs


# -- diagnostics.csv in run folders (the layout of `ablate.diagnostics.table`).

DIAGNOSTICS_HEADER = ("epoch", "layer", "depth", "statistic", "value")


@dataclass
class Layer:
    """One conv/linear layer at `depth` of a fake net and what the probe saw at one epoch."""
    depth: int
    grad_weight: float
    grad_bias: float
    act_std: float | None = None  # None: no activation after it (the last linear layer)
    dead: float | None = None  # relu only
    saturated: float | None = None  # sigmoid, tanh only


def diagnostics_rows(epochs: dict[int, list[Layer]]) -> list[tuple]:
    """Rows as the recorder writes them, noise statistics included (act_mean,
    pre_*, weight_norm, update_ratio) that the report must ignore."""
    rows = []
    for epoch, layers in epochs.items():
        for layer in layers:
            name = f"features.{layer.depth}"
            if layer.act_std is not None:
                rows += [(epoch, f"{name}.act", layer.depth, "act_mean", 0.5),
                         (epoch, f"{name}.act", layer.depth, "act_std", layer.act_std),
                         (epoch, f"{name}.act", layer.depth, "pre_mean", 0.0),
                         (epoch, f"{name}.act", layer.depth, "pre_std", 9.0)]
                if layer.dead is not None:
                    rows.append((epoch, f"{name}.act", layer.depth, "dead_frac", layer.dead))
                if layer.saturated is not None:
                    rows.append((epoch, f"{name}.act", layer.depth, "saturated_frac", layer.saturated))
            rows += [(epoch, f"{name}.conv.weight", layer.depth, "grad_norm", layer.grad_weight),
                     (epoch, f"{name}.conv.bias", layer.depth, "grad_norm", layer.grad_bias),
                     (epoch, f"{name}.conv.weight", layer.depth, "weight_norm", 123.0),
                     (epoch, f"{name}.conv.weight", layer.depth, "update_ratio", 7.0)]
    return rows


def write_diagnostics(sweep: Path, run: Run, rows: list[tuple]) -> Path:
    path = Path(sweep) / "runs" / run.run_id / "diagnostics.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(DIAGNOSTICS_HEADER)
        writer.writerows([e, layer, d, s, f"{v:.7g}"] for e, layer, d, s, v in rows)
    return path
