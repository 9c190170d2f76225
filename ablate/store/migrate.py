"""Run folders whose id moved between versions of ablate, and moving them on purpose.

A run folder is named by its run id. Ids only move on purpose: the one move so
far is an option a preset set on a level that does not have it (`norm.groups: 4`
reached norm=batch runs of the norm_placement preset), which changed nothing
the run computed but was hashed into its id. Now each level owns its options
(ablate.schema.choices), so such a run has the id of the same run without it.

`ablate sweep` moves such folders to their id before it plans what to run, so
a finished run is not trained again; the report names them until then. The
folder keeps everything it holds; config.yaml records the id it had.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from ablate.store import atomic
from ablate.store.identity import RESULTS_FORMAT, record_id, results_format
from ablate.store.rundir import RunDir


# sweep.yaml's `run_ids`: the id scheme its folders were last checked against by
# `ablate sweep`. A sweep.yaml without it was last run before per-level options,
# so the report looks for folders whose id moved (reading every config.yaml
# costs ~1.4 ms a run: once per old sweep, never for a sweep this version ran).
ID_KEY, ID_SCHEME = "run_ids", "per_level_options"


@dataclass(frozen=True)
class Moved:
    old: str
    new: str
    done: bool  # False: a folder of the new id is there already, so this one was left where it is


def stale_ids(runs_dir: Path, skip: Iterable[str] = ()) -> dict[str, str]:
    """folder name → the id its config.yaml gives now, for each folder where they
    differ (`skip`: names known to be current, e.g. a plan's ids, which need no reading)."""
    if not runs_dir.is_dir():
        return {}
    skip = set(skip)
    out = {}
    for path in sorted(runs_dir.iterdir()):
        if path.name in skip or not path.is_dir():
            continue
        config = RunDir(path).read_config()
        # Only a config.yaml of this results format names a run this version can hash
        # again: older formats are other experiments, left out of reports (store.tables).
        if not config or results_format(config) != RESULTS_FORMAT or "run_id" not in config:
            continue
        current = record_id(config)
        if current != path.name:
            out[path.name] = current
    return out


def migrate(runs_dir: Path, skip: Iterable[str] = ()) -> list[Moved]:
    """Move each folder with a stale id to its current id (a rename: atomic on one filesystem)."""
    moved = []
    for old, new in stale_ids(runs_dir, skip).items():
        target = runs_dir / new
        if target.exists():
            moved.append(Moved(old, new, done=False))
            continue
        os.rename(runs_dir / old, target)
        run = RunDir(target)
        record = run.read_config()
        record = {"run_id": new, "moved_from": old, **{k: v for k, v in record.items() if k != "run_id"}}
        atomic.write_text(run.config, yaml.safe_dump(record, sort_keys=False))
        moved.append(Moved(old, new, done=True))
    return moved


def unchecked_note(sweep_dir: Path, record: dict) -> str | None:
    """The report's one line for a sweep last run by an older version whose folders' ids moved."""
    if record.get(ID_KEY) == ID_SCHEME:
        return None
    stale = stale_ids(sweep_dir / "runs")
    if not stale:
        return None
    return (f"{len(stale)} run folder{'s' if len(stale) != 1 else ''} of {sweep_dir} hold the id an earlier version gave "
            f"them ({', '.join(list(stale)[:3])}{', ...' if len(stale) > 3 else ''}); they are read as the runs they are, "
            "and the next `ablate sweep` of this grid moves them to their current id without training them again")


def moved_note(moved: list[Moved], where: str) -> str | None:
    """One line for the terminal and the report."""
    if not moved:
        return None
    done = [m for m in moved if m.done]
    kept = [m for m in moved if not m.done]
    parts = []
    if done:
        shown = ", ".join(f"{m.old} → {m.new}" for m in done[:3]) + (", ..." if len(done) > 3 else "")
        parts.append(f"{len(done)} run folder{'s' if len(done) != 1 else ''} of {where} moved to the id this version "
                     f"gives them ({shown}): an option set on a level without it no longer splits a run")
    if kept:
        parts.append(f"{len(kept)} folder{'s' if len(kept) != 1 else ''} left as they are: a run of their current id "
                     f"is there already ({', '.join(m.old for m in kept[:3])})")
    return "; ".join(parts)
