"""Read one or more sweep folders into one runs table (and, on demand, their epochs).

The report reads only the store (`results/<sweep>/sweep.yaml`, `runs.csv`,
`epochs.csv`), so it works on sweeps from any machine and on partial sweeps.
Several sweeps are concatenated; the `sweep` column tells them apart and the
factors are the union of theirs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ablate.errors import ConfigError
from ablate.report.duplicates import drop_duplicate_runs, numbers_differ
from ablate.store.identity import RESULTS_FORMAT, labels
from ablate.store.rundir import RunDir
from ablate.store.sweep_record import read_sweep_record, run_roles
from ablate.store.migrate import unchecked_note
from ablate.store.status import FINISHED, Status
from ablate.store.tables import METRICS, UNREADABLE, run_factors, run_row, sweep_runs

# The metric columns of runs.csv (the store's list); everything between `status`
# and the first of these is a swept key.
METRIC_COLUMNS = METRICS
REPETITION = "seed"  # seeds repeat a configuration; they are never a factor
UNSET = "(default)"  # a factor another sweep swept but this one left at its config default
FOLDER = "_folder"  # runs column: index in Store.sweeps of the folder a row was read from


class NotASweepError(ConfigError):
    """A path given to `ablate report` that holds no sweep tables."""


@dataclass(frozen=True)
class Sweep:
    name: str
    path: Path
    planned: int  # runs in the grid (sweep.yaml), at least the rows of runs.csv
    factors: tuple[str, ...]  # swept keys in command order, seed included if swept
    fixed: dict[str, str] = field(default_factory=dict)  # key=value overrides that were not swept
    # Runs of one grid (sweep.yaml says so) differ only in the swept keys; a folder
    # that several grids ran into, or one without a sweep.yaml (`ablate train`'s),
    # may differ in anything: its runs' configs are read to find out.
    one_grid: bool = True
    # Runs whose row was rebuilt from their folder (runs.csv behind it): epochs.csv,
    # written with runs.csv, is behind for them too, so their history.csv is read.
    stale: frozenset[str] = frozenset()
    # sweep.yaml's `tune` record of a tuned sweep (ablate.sweep.tune): settings tried and chosen per cell; {} if none.
    tune: dict = field(default_factory=dict, compare=False)
    # One line when a sweep last run by an older version holds folders whose id moved (store.migrate).
    moved: str | None = field(default=None, compare=False)


@dataclass
class Store:
    sweeps: list[Sweep]  # one per folder read; two folders may hold the same sweep (a backup)
    runs: pd.DataFrame  # one row per (sweep, run_id); factor columns are strings, metrics floats
    keys: list[str]  # every swept key of any sweep (seed included), in first-seen order
    notes: list[str] = field(default_factory=list)  # what loading changed (duplicates dropped)
    # Each sweep's run ids as its folders list them, before a run shared with another
    # sweep was merged into one row: a sweep's status line still counts its own runs.
    members: dict[str, frozenset[str]] = field(default_factory=dict)
    merged: bool = False  # some rows were dropped as duplicates: epochs must be filtered to the kept ones
    _epochs: pd.DataFrame | None = None

    @property
    def factors(self) -> list[str]:
        return [k for k in self.keys if k != REPETITION]

    @property
    def sweep_names(self) -> list[str]:
        """Each sweep once, in the order read, however many folders hold it."""
        return list(dict.fromkeys(s.name for s in self.sweeps))

    def planned(self, name: str) -> int:
        # Copies of one sweep plan the same grid; the largest count is the least stale.
        return max(s.planned for s in self.sweeps if s.name == name)

    def epochs(self) -> pd.DataFrame:
        """Long table sweep, run_id, epoch, metric, value; read on first use only,
        because the terminal tables with a fixed target never need it."""
        if self._epochs is None:
            frames = [self._kept_epochs(i, read_epochs(s)) for i, s in enumerate(self.sweeps)]
            self._epochs = pd.concat(frames, ignore_index=True)
        return self._epochs

    def _kept_epochs(self, folder: int, epochs: pd.DataFrame) -> pd.DataFrame:
        """Only the history of runs whose row came from this folder, so a run held
        by two folders is not counted twice in the curves or the target."""
        if not self.merged:
            return epochs  # no run read twice: nothing to choose (the common, fast case)
        mine = self.runs.loc[self.runs[FOLDER] == folder, "run_id"]
        return epochs[epochs["run_id"].isin(mine)]


def _sweep_hint(path: Path) -> str:
    """Name the sweeps inside `path` when the user gave their parent folder."""
    if not path.is_dir():
        return ""
    inside = sorted(p.name for p in path.iterdir() if (p / "runs.csv").exists() or (p / "runs.parquet").exists())
    if not inside:
        return ""
    shown = ", ".join(str(path / name) for name in inside[:5]) + (", ..." if len(inside) > 5 else "")
    return f"; it holds sweeps: {shown}"


SWEEP_MARKS = ("sweep.yaml", "runs.csv", "runs")  # what a sweep folder (or ablate train's) holds
SWEEP_RECORD = "sweep.yaml"  # written by `ablate sweep` only: the mark of a study, not a heap of one-off runs


def newest_sweep(root: Path) -> Path:
    """The sweep folder under `root` written to last (its sweep.yaml, runs.csv or
    runs/ folder): what `ablate report` reads when no folder is named. Only folders
    `ablate sweep` wrote count: `ablate train`'s (results/train) hold unrelated
    one-off runs whose mean and interval answer no question."""
    stamps, one_off = {}, []
    for folder in (p for p in Path(root).iterdir() if p.is_dir()) if Path(root).is_dir() else ():
        marks = [folder / m for m in SWEEP_MARKS if (folder / m).exists()]
        if marks and (folder / SWEEP_RECORD).exists():
            stamps[folder] = max(m.stat().st_mtime for m in marks)
        elif marks:
            one_off.append(folder)
    if not stamps:
        held = (f" ({', '.join(f'{p}/' for p in sorted(one_off))} holds only `ablate train` runs, not a sweep; "
                f"name it to report it anyway)") if one_off else ""
        raise NotASweepError(f"no sweep under {root}/ yet{held}: run `ablate sweep ...` first, or name a sweep folder")
    return max(stamps, key=stamps.get)


def _fixed_overrides(overrides: list[str]) -> dict[str, str]:
    """`act=relu` → {'act': 'relu'}; swept forms (`a=1,2`, `range(...)`) are skipped."""
    fixed = {}
    for item in overrides or []:
        key, sep, value = str(item).partition("=")
        if sep and "," not in value and "(" not in value:
            fixed[key.lstrip("+~")] = value
    return fixed


def read_sweep_yaml(path: Path) -> dict:
    try:
        return read_sweep_record(path)
    except ConfigError as e:  # the report's kind of mistake: a folder that is not (or no longer) a sweep
        raise NotASweepError(str(e)) from None


def read_runs_csv(file: Path) -> pd.DataFrame:
    # Everything as text first: level labels stay exactly as written ('0.10' is
    # not '0.1', 'None' is a norm and not a missing value); metrics converted below.
    try:
        runs = pd.read_csv(file, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise NotASweepError(f"{file} is not a readable table: {str(e).strip().splitlines()[0]}") from None
    return _typed(runs)


def _typed(runs: pd.DataFrame) -> pd.DataFrame:
    """Text everywhere but the metric columns, which become numbers ('' → NaN)."""
    for column in METRIC_COLUMNS:
        if column in runs:
            runs[column] = pd.to_numeric(runs[column].replace("", np.nan), errors="coerce")
    return runs


def infer_keys(columns: list[str]) -> list[str]:
    """The runs.csv columns between `status` and the first metric column."""
    start = columns.index("status") + 1 if "status" in columns else 0
    stop = next((i for i, c in enumerate(columns) if c in METRIC_COLUMNS), len(columns))
    return [c for c in columns[start:stop] if c not in ("run_id", "sweep")]


def read_sweep(path: Path) -> tuple[Sweep, pd.DataFrame, str | None]:
    """One sweep folder: its runs table, checked against its run folders (the
    truth) and rebuilt from them in memory where runs.csv is missing, damaged
    or behind; the third value says so, in one line, or is None."""
    path = Path(path)
    if not path.exists():
        raise NotASweepError(f"no such folder: {path}")
    file = path / "runs.csv"
    folders = sweep_runs(path)
    if not file.exists() and not folders:
        raise NotASweepError(f"{path} is not a sweep (no runs.csv; `ablate sweep` writes one){_sweep_hint(path)}")
    meta = read_sweep_yaml(path)
    runs, problem = _read_table(file)
    if runs is None and not folders:
        raise NotASweepError(problem)
    # A copy without its sweep.yaml is still the sweep its rows name, not a new one named after the folder.
    named = set(runs["sweep"]) - {""} if runs is not None and "sweep" in runs else set()
    name = str(meta.get("name") or (named.pop() if len(named) == 1 else path.name))
    if runs is not None and ("sweep" not in runs or (runs["sweep"] == "").all()):
        runs["sweep"] = name
    keys = list(meta.get("factors") or (infer_keys(list(runs.columns)) if runs is not None else []))
    note, stale = None, frozenset()
    if folders:
        runs, note, stale = reconcile(path, name, keys, runs, folders, problem)
    keys = [k for k in keys if k in runs]
    # A run's role in a tuned sweep is the plan's (sweep.yaml), whatever runs.csv was written with.
    roles = run_roles(meta)
    runs["role"] = runs["run_id"].map(roles).fillna("") if roles else runs.get("role", "")
    planned = max(int(meta.get("planned") or 0), len(runs))
    one_grid = bool(meta) and len(meta.get("grids") or [None]) == 1
    return (Sweep(name, path, planned, tuple(keys), _fixed_overrides(meta.get("overrides")), one_grid, stale,
                  meta.get("tune") or {}, unchecked_note(path, meta)), runs, note)


def _read_table(file: Path) -> tuple[pd.DataFrame | None, str | None]:
    """runs.csv, or (None, what is wrong with it)."""
    if not file.exists():
        return None, f"{file} is missing"
    try:
        runs = read_runs_csv(file)
    except NotASweepError as e:
        return None, str(e)
    if "status" not in runs or "run_id" not in runs:
        return None, f"{file} is not a sweep table (it needs run_id and status columns)"
    return runs, None


def reconcile(path: Path, name: str, keys: list[str], table: pd.DataFrame | None, folders: list[str],
              problem: str | None) -> tuple[pd.DataFrame, str | None, frozenset[str]]:
    """The runs table as the run folders have it. Rows runs.csv lacks, or whose
    status or result the folder contradicts (a sweep still running, a table cut
    short, a summary.json gone bad), are rebuilt from the folders; labels runs.csv
    gives are kept as typed. runs.csv itself is never written here: a running
    sweep owns it. Third: the ids of the rows rebuilt."""
    listed = {} if table is None else dict(zip(table["run_id"], table.index))
    if table is not None and "best_val_acc" not in table:  # a table cut inside its header
        table, listed, problem = None, {}, problem or f"{path / 'runs.csv'} is cut short"
    present = set(folders)
    gone = [rid for rid in listed if rid not in present]
    if gone:  # deleted to be redone, or a partial copy: not done, whatever runs.csv says
        table = table[~table["run_id"].isin(gone)].reset_index(drop=True)
        listed = dict(zip(table["run_id"], table.index))
        some = f"{len(gone)} run listed in runs.csv has" if len(gone) == 1 else \
            f"{len(gone)} runs listed in runs.csv have"
        problem = (f"{some} no run folder (deleted?): left out, and the next sweep runs "
                   f"{'it' if len(gone) == 1 else 'them'} again")
    # A summary written after runs.csv (a run retrained with --fresh, a table written
    # mid-sweep) may hold other numbers under the same status: its row is re-read.
    written = (path / "runs.csv").stat().st_mtime if table is not None else math.inf
    redo = []
    for rid in folders:
        rd = RunDir(path / "runs" / rid)
        status = rd.read_status().get("status")
        row = listed.get(rid)
        if row is None or table.at[row, "status"] != status or (status in FINISHED and (
                pd.isna(table.at[row, "best_val_acc"]) or _newer(rd.summary, written))):
            redo.append(rid)
    if not redo:
        return table, (problem if gone else None), frozenset()
    rows = []
    for rid in redo:
        labels = ({k: table.at[listed[rid], k] for k in keys if k in table} if rid in listed
                  else run_factors(RunDir(path / "runs" / rid), keys))
        rows.append(run_row(name, path / "runs" / rid, labels))
    changed = [r for r in rows if r["run_id"] not in listed or table.at[listed[r["run_id"]], "status"] != r["status"]
               or numbers_differ(table.loc[listed[r["run_id"]]], r)]
    if not changed:
        return table, (problem if gone else None), frozenset()
    rebuilt = _rows_as_read(rows).set_index("run_id")
    if table is None:
        merged = rebuilt.reset_index()
    else:  # runs.csv's order (the grid's), its rows replaced where the folders say otherwise
        order = list(dict.fromkeys([*table["run_id"], *rebuilt.index]))
        merged = pd.concat([table.set_index("run_id").drop(index=list(rebuilt.index), errors="ignore"), rebuilt])
        merged = merged.reindex(order).reset_index()
    why = problem or f"{path / 'runs.csv'} disagrees with {len(changed)} of the {len(folders)} run folders"
    return merged, f"{why}; rebuilt from the run folders in memory", frozenset(rebuilt.index)


def _newer(file: Path, than: float) -> bool:
    try:
        return file.stat().st_mtime > than
    except OSError:
        return False


def _rows_as_read(rows: list[dict]) -> pd.DataFrame:
    """Rows built from run folders, typed as runs.csv reads: as the CSV writer would
    write them (None and NaN as empty text), then `_typed`."""
    frame = pd.DataFrame(rows).map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    return _typed(frame)


def load(paths: list[Path]) -> Store:
    """Read and concatenate sweeps; factor columns a sweep lacks get its fixed
    override value, else UNSET, so its runs stay in the marginal tables."""
    if not paths:
        raise NotASweepError("give at least one sweep folder, e.g. results/norm-vs-act")
    # The same folder named twice (results/a and ./results/a/) is read once.
    unique: dict[Path, Path] = {}
    for path in map(Path, paths):
        unique.setdefault(path.resolve(), path)
    read = [read_sweep(p) for p in unique.values()]
    pairs = [(sweep, runs) for sweep, runs, _ in read]
    rebuilt = [note for _, _, note in read if note]
    keys: list[str] = list(dict.fromkeys(k for sweep, _ in pairs for k in sweep.factors))
    several = len({sweep.name for sweep, _ in pairs}) > 1
    configs = [config_labels(sweep, runs) if several or not sweep.one_grid else None for sweep, runs in pairs]
    if any(c is not None for c in configs):
        keys += differing_keys([c for c in configs if c is not None], keys)
    frames = []
    for folder, ((sweep, runs), config) in enumerate(zip(pairs, configs)):
        for key in keys:
            if key not in runs:
                fallback = sweep.fixed.get(key, UNSET)
                runs[key] = config[key].fillna(fallback).to_numpy() if config is not None and key in config else fallback
        runs[FOLDER] = folder
        frames.append(runs)
    runs = pd.concat(frames, ignore_index=True)
    if runs.empty:
        names = ", ".join(str(s.path) for s, _ in pairs)
        raise NotASweepError(f"{names}: runs.csv lists no runs yet")
    for key in keys:
        runs[key] = runs[key].astype(str)
    for column in METRIC_COLUMNS:
        if column not in runs:
            runs[column] = np.nan
    runs["status"] = runs["status"].str.strip().str.lower()
    sweeps = [s for s, _ in pairs]
    members = {name: frozenset(ids) for name, ids in runs.groupby("sweep", sort=False)["run_id"]}
    before = len(runs)
    runs, notes = drop_duplicate_runs(runs, [s.name for s in sweeps])
    merged = len(runs) < before
    runs, formats = newest_format(runs)
    moved = [s.moved for s in sweeps if s.moved]
    notes = rebuilt + moved + formats + unreadable_notes(runs) + notes
    # Overfitting: how much better the model does on what it trained on (accuracy points).
    runs["train_val_gap"] = runs["final_train_acc"] - runs["final_val_acc"]
    # A run with eval.tta=none predicts from one view: its accuracy "with TTA" is
    # its plain test_acc, so a sweep over eval.tta compares every level, none included.
    runs["test_acc_tta"] = runs["test_acc_tta"].fillna(runs["test_acc"])
    return Store(sweeps, runs, keys, notes, members, merged)


SCORED = (Status.COMPLETED, Status.DIVERGED, Status.COLLAPSED, Status.STALLED)  # the statuses whose runs carry metrics
OLD_FORMAT = ("results format {old}: written before ablate had a test split (their val accuracy on the torchvision "
              "sets is the official test split's, and they have no test_acc)")


def newest_format(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Finished runs of one results format (ablate.store.identity.RESULTS_FORMAT):
    the newest read. Older finished runs are left out, with a note, rather than
    mixed into tables whose numbers mean something else; alone, they are
    reported as what they are. Runs without results (failed, pending) count
    whatever their format: they carry no numbers to mix."""
    column = runs["results_format"] if "results_format" in runs else pd.Series("", index=runs.index)
    formats = pd.to_numeric(column.replace("", np.nan), errors="coerce").fillna(1).astype(int)
    scored = runs["status"].isin(list(SCORED))
    if not scored.any():
        return runs, []
    newest = int(formats[scored].max())
    old = scored & (formats < newest)
    if newest >= RESULTS_FORMAT and not old.any():
        return runs, []
    if not old.any():
        return runs, [f"these runs are in {OLD_FORMAT.format(old=newest)}; the report ranks them by best_val_acc; "
                      f"rerun the sweep with this ablate to score them on a test split"]
    versions = ", ".join(map(str, sorted(set(formats[old]))))
    note = (f"left out {int(old.sum())} runs in {OLD_FORMAT.format(old=versions)}; rerunning their sweep "
            f"with this ablate replaces them")
    return runs[~old].reset_index(drop=True), [note]


def config_labels(sweep: Sweep, runs: pd.DataFrame) -> pd.DataFrame | None:
    """Each run's level of every identity key, read off its config.yaml (one row per
    row of `runs`; a run whose folder is gone has NaN); None when no folder is there."""
    folder = sweep.path / "runs"
    if not folder.is_dir():
        return None
    rows = [labels(RunDir(folder / rid).read_config()) for rid in runs["run_id"]]
    table = pd.DataFrame(rows, index=runs.index, dtype=object)
    return table if len(table.columns) else None


def differing_keys(configs: list[pd.DataFrame], swept: list[str]) -> list[str]:
    """Keys whose values differ across the runs read though no sweep swept them:
    two sweeps that differ only in a fixed `init` compare inits. Seeds are
    replication. A group's option that moves only with the group's choice
    (`dropout.p` with `dropout`) is that choice's confound, not a factor."""
    table = pd.concat(configs, ignore_index=True)
    varying = [k for k in table.columns if table[k].nunique(dropna=True) > 1 and k != REPETITION]
    groups = set(varying) | set(swept)
    found = []
    for key in varying:
        group = key.partition(".")[0]
        if key in swept or (group != key and group in groups and _moves_with(table, key, group)):
            continue
        found.append(key)
    return found


def _moves_with(table: pd.DataFrame, key: str, group: str) -> bool:
    """True when `key` takes one value within each level of `group`."""
    return bool((table.groupby(group, dropna=False)[key].nunique(dropna=True) <= 1).all()) if group in table else False


def unreadable_notes(runs: pd.DataFrame) -> list[str]:
    lost = runs[runs["status"] == UNREADABLE]
    if lost.empty:
        return []
    first = f"{lost['sweep'].iloc[0]}/runs/{lost['run_id'].iloc[0]}"
    return [f"{len(lost)} finished runs are unreadable (neither summary.json nor history.csv reads, e.g. {first}): "
            "counted as unreadable, not completed; running the sweep again resumes them"]


def read_epochs(sweep: Sweep) -> pd.DataFrame:
    """epochs.csv of one sweep, with the runs it is behind on (`Sweep.stale`) read
    from their history.csv; every run's history.csv when epochs.csv is missing,
    empty or unreadable (a sweep killed while writing it): the folders are the truth."""
    file = sweep.path / "epochs.csv"
    epochs = None
    if file.exists():
        try:
            epochs = pd.read_csv(file, dtype={"run_id": str, "metric": str},
                                 usecols=["run_id", "epoch", "metric", "value"])
        except (ValueError, pd.errors.EmptyDataError):  # ParserError is a ValueError
            epochs = None
    try:
        if epochs is None or epochs.empty:
            epochs = _epochs_from_histories(sweep.path / "runs")
        elif sweep.stale:
            fresh = _epochs_from_histories(sweep.path / "runs", sweep.stale)
            epochs = pd.concat([epochs[~epochs["run_id"].isin(sweep.stale)], fresh], ignore_index=True)
    except (ValueError, pd.errors.EmptyDataError) as e:
        raise NotASweepError(f"{sweep.path}: unreadable per-epoch history: {str(e).strip().splitlines()[0]}") from None
    epochs["sweep"] = sweep.name
    epochs["value"] = pd.to_numeric(epochs["value"], errors="coerce")
    return epochs


def _epochs_from_histories(runs_dir: Path, only: frozenset[str] | None = None) -> pd.DataFrame:
    frames = []
    for history in sorted(runs_dir.glob("*/history.csv")) if runs_dir.is_dir() else []:
        if only is not None and history.parent.name not in only:
            continue
        wide = pd.read_csv(history)
        if "epoch" not in wide or wide.empty:
            continue
        long = wide.melt(id_vars="epoch", var_name="metric", value_name="value")
        long.insert(0, "run_id", history.parent.name)
        frames.append(long)
    if not frames:
        return pd.DataFrame({"run_id": pd.Series(dtype=str), "epoch": pd.Series(dtype=int),
                             "metric": pd.Series(dtype=str), "value": pd.Series(dtype=float)})
    return pd.concat(frames, ignore_index=True)

