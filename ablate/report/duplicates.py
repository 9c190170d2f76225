"""A run read more than once: from a backup of its sweep, or from a second sweep
whose grid overlaps the first. A run id is one configuration run once
(store.identity), so every copy but one is dropped, with a note saying how
many; copies whose results disagree are all dropped, and said.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablate.store.status import ENDED, FINISHED

CHECKED = ("test_acc", "best_val_acc", "final_val_acc", "epochs_run")  # a row's numbers, compared with its folder's


def numbers_differ(listed: pd.Series, folder: dict) -> bool:
    """True when runs.csv's numbers for a run are not its folder's (to 1e-9: the
    CSV round trip is exact, a clock a little ahead on another host is not a change)."""
    for key in CHECKED:
        a, b = pd.to_numeric(listed.get(key), errors="coerce"), pd.to_numeric(folder.get(key), errors="coerce")
        if pd.isna(a) != pd.isna(b) or (not pd.isna(a) and abs(float(a) - float(b)) > 1e-9):
            return True
    return False


def drop_duplicate_runs(runs: pd.DataFrame, sweeps: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """One row per run id, whichever folders and sweeps hold it: a run id is one
    configuration run once (store.identity), so a backup of a sweep, or a second
    sweep whose grid overlaps the first (`progress` inside `norm-vs-act`), would
    otherwise count it twice and make intervals and p-values look surer than they
    are. A row with a result is kept over a failed one, a failed one over a pending
    one (a copy taken mid-sweep is stale); among equals, the first folder's. Two
    results that disagree (another machine, a --fresh rerun in one folder) are both
    left out: choosing one silently would hide that they differ. Returns the runs
    and a note per pair of sweeps affected."""
    duplicated = runs.duplicated("run_id", keep=False)
    if not duplicated.any():
        return runs, []
    status = runs["status"]
    rank = np.select([status.isin(FINISHED), status.isin(ENDED)], [0, 1], 2)
    # Stable: among rows equally finished, the first folder's (the order given) comes first.
    preferred = runs.iloc[np.argsort(rank, kind="stable")]
    kept = preferred[~preferred.duplicated("run_id")]
    conflicts = _disagreeing(runs[duplicated & status.isin(FINISHED).to_numpy()])
    dropped = runs.loc[runs.index.difference(kept.index), ["sweep", "run_id"]]
    dropped["kept"] = dropped["run_id"].map(kept.set_index("run_id")["sweep"])
    dropped = dropped[~dropped["run_id"].isin(conflicts["run_id"])].drop_duplicates()  # runs, not rows
    notes = []
    for (kept_in, also), group in dropped.groupby(["kept", "sweep"], sort=False):
        count = group["run_id"].nunique()
        notes.append(_duplicate_note(kept_in, count, sweeps.count(kept_in)) if kept_in == also else
                     f"sweeps '{kept_in}' and '{also}' share {count} runs (same run ids and numbers): "
                     f"{count} duplicates merged, each counted once (under '{kept_in}')")
    if not conflicts.empty:
        notes.append(_conflict_note(conflicts))
    kept = kept[~kept["run_id"].isin(conflicts["run_id"])]
    return kept.sort_index().reset_index(drop=True), notes


def _disagreeing(finished: pd.DataFrame) -> pd.DataFrame:
    """The finished rows whose run id has another finished row with other numbers
    or another status (completed in one folder, diverged in the other)."""
    if finished.empty:
        return finished
    differs = set()
    for rid, rows in finished.groupby("run_id", sort=False):
        first = rows.iloc[0]
        if any(row["status"] != first["status"] or numbers_differ(first, row) for _, row in rows.iloc[1:].iterrows()):
            differs.add(rid)
    return finished[finished["run_id"].isin(differs)]


def _conflict_note(rows: pd.DataFrame) -> str:
    ids = list(dict.fromkeys(rows["run_id"]))
    first = rows[rows["run_id"] == ids[0]]
    shown = ", ".join(f"{_shown(r.get('test_acc'))} in '{r['sweep']}'" for _, r in first.iterrows())
    some = "1 run has" if len(ids) == 1 else f"{len(ids)} runs have"
    return (f"{some} different results in different folders (run {ids[0]}: test_acc {shown}): "
            f"left out of every table; rerun {'it' if len(ids) == 1 else 'them'} with --fresh, "
            f"or report one folder")


def _shown(value) -> str:
    value = pd.to_numeric(value, errors="coerce")
    return "none" if pd.isna(value) else f"{float(value):.4f}"


def _duplicate_note(name: str, count: int, folders: int) -> str:
    if folders > 1:
        return f"{folders} folders hold the same sweep '{name}': {count} duplicate runs counted once"
    return f"sweep '{name}' lists {count} runs more than once: each counted once"
