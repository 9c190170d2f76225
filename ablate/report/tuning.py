"""The report of a tuned sweep (`ablate sweep --tune`): what each cell chose, and
expected validation performance against budget.

A tuned sweep's level tables compare the reruns only (each cell's chosen
setting on fresh seeds, scored on test); its tuning runs are what this module
summarises, per cell:

- the setting chosen (on val) and its validation score;
- **expected validation performance** (Dodge et al. 2019, "Show your work",
  EMNLP, eq. 1): with the cell's n scored tuning runs as an empirical
  distribution of val scores v₍₁₎ ≤ … ≤ v₍ₙ₎, the expected best of k settings
  drawn with replacement is  E[max_k] = Σᵢ v₍ᵢ₎ · ((i/n)ᵏ − ((i−1)/n)ᵏ), for
  k = 1..n. A level whose curve is still rising at k = n would gain from more
  budget; two levels whose curves cross trade places with the budget;
- a percentile bootstrap band of that curve (the n scores resampled);
- a note when the chosen value of a numeric tuned key is the smallest or the
  largest of its grid: the optimum may lie outside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ablate.store.status import Status
from ablate.store.tables import NOT_APPLICABLE

BOOTSTRAP = 1000  # resamples of the band: percentile bounds to about ±0.01 in probability
BAND_SEED = 0  # the band is the same on every read of the same runs
SCORE = "best_val_acc"  # what selection read: never a test number
# The tuning runs a budget curve counts: every one that left a val score. A diverged
# or collapsed run is never chosen (ablate.sweep.tune), but it was a setting tried and
# spent: its best val accuracy before the loss blew up (or it fell back) counts, or the curve would flatter a
# level whose rates often diverge. A failed run left no score.
SCORED = (Status.COMPLETED.value, Status.STALLED.value, Status.DIVERGED.value, Status.COLLAPSED.value)


def expected_max(scores, k_max: int | None = None) -> np.ndarray:
    """E[max of k draws with replacement] from the empirical distribution of `scores`, k = 1..k_max (default n)."""
    v = np.sort(np.asarray(scores, dtype=float))
    n = v.size
    if n == 0:
        return np.full(k_max or 0, np.nan)
    k = np.arange(1, (k_max or n) + 1)[:, None]
    i = np.arange(1, n + 1)[None, :]
    weights = (i / n) ** k - ((i - 1) / n) ** k  # P(the max of k draws is v₍ᵢ₎)
    return weights @ v


def expected_max_band(scores, k_max: int | None = None, confidence: float = 0.95, resamples: int = BOOTSTRAP,
                      seed: int = BAND_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap band of `expected_max`: the scores resampled with replacement."""
    v = np.asarray(scores, dtype=float)
    k_max = k_max or v.size
    if v.size < 2:
        return np.full(k_max, np.nan), np.full(k_max, np.nan)
    rng = np.random.default_rng(seed)
    curves = np.stack([expected_max(rng.choice(v, v.size, replace=True), k_max) for _ in range(resamples)])
    tail = (1 - confidence) / 2
    return np.quantile(curves, tail, axis=0), np.quantile(curves, 1 - tail, axis=0)


@dataclass
class TunedCell:
    label: dict[str, str]  # factor → level
    chosen: dict[str, str] | None
    score: float  # the chosen setting's val score
    tried: int
    statuses: dict[str, int]  # of its tuning runs
    curve: np.ndarray  # E[max_k], k = 1..scored runs
    low: np.ndarray
    high: np.ndarray
    space: int = 0  # settings in the cell's grid (the budget tried all of them when it is not larger)

    @property
    def name(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.label.items() if v != NOT_APPLICABLE) or "all runs"


@dataclass
class Tuning:
    sweep: str
    grid: dict[str, list[str]]
    budget: int
    rerun_seeds: list[int]
    cells: list[TunedCell]
    notes: list[str] = field(default_factory=list)

    def header(self) -> str:
        keys = ", ".join(f"{k} over {len(v)} values" for k, v in self.grid.items())
        return (f"{self.sweep} is tuned: levels are compared on the reruns only (each cell's best setting on "
                f"{len(self.rerun_seeds)} fresh seeds, {', '.join(map(str, self.rerun_seeds))}, scored on test); "
                f"the setting was chosen on {SCORE} among up to {self.budget} tuning runs per cell ({keys}); "
                "tuning runs are left out of the tables")

    def chosen_table(self) -> pd.DataFrame:
        """One row per cell: chosen setting, its val score, the tuning runs by status."""
        keys = list(self.grid)
        rows = []
        for c in self.cells:
            chosen = c.chosen or {}
            rows.append({"cell": c.name, **{k: chosen.get(k, "—" if c.chosen else "none chosen") for k in keys},
                         SCORE: c.score, "tried": c.tried, **c.statuses})
        return pd.DataFrame(rows)

    def curve_table(self) -> pd.DataFrame:
        """Long: cell, k, expected max, band low, band high."""
        rows = [{"cell": c.name, "k": k + 1, "expected_max": c.curve[k], "low": c.low[k], "high": c.high[k]}
                for c in self.cells for k in range(len(c.curve))]
        return pd.DataFrame(rows, columns=["cell", "k", "expected_max", "low", "high"])


def tuning_runs(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs to compare, tuning runs): a sweep's tuning runs leave its tables (its `role` column)."""
    if "role" not in runs:
        return runs, runs.iloc[:0]
    tune = runs["role"].eq("tune")
    runs = runs[~runs["role"].eq("superseded")]  # reruns of a setting no longer chosen: never compared
    tune = tune[runs.index]
    return runs[~tune].reset_index(drop=True), runs[tune].reset_index(drop=True)


def summarise_tuning(records: dict[str, dict], tuning: pd.DataFrame, confidence: float) -> list[Tuning]:
    """Per tuned sweep read (its sweep.yaml `tune` record and its tuning runs' rows)."""
    out = []
    for sweep, record in records.items():
        mine = tuning[tuning["sweep"] == sweep] if "sweep" in tuning else tuning
        by_id = mine.set_index("run_id") if len(mine) else None
        cells = []
        for entry in record.get("cells") or []:
            tried = list(entry.get("tried") or [])
            ids = list(dict.fromkeys(entry.get("runs") or []))  # cells that became one run share it
            rows = by_id.loc[[r for r in ids if r in by_id.index]] if by_id is not None else \
                pd.DataFrame(columns=["status", SCORE])
            scored = rows[rows["status"].isin(SCORED)][SCORE].to_numpy(dtype=float)
            scored = scored[np.isfinite(scored)]
            low, high = expected_max_band(scored, confidence=confidence)
            statuses = rows["status"].value_counts().to_dict() if len(rows) else {}
            chosen = entry.get("chosen")
            score = entry.get(SCORE)
            cells.append(TunedCell(dict(entry.get("cell") or {}), chosen, float("nan") if score is None else score,
                                   len(tried), {str(k): int(v) for k, v in statuses.items()},
                                   expected_max(scored), low, high, int(entry.get("space") or 0)))
        result = Tuning(sweep, {k: list(map(str, v)) for k, v in (record.get("grid") or {}).items()},
                        int(record.get("budget") or 0), list(record.get("rerun_seeds") or []), cells)
        result.notes = edge_notes(result) + rising_notes(result)
        out.append(result)
    return out


def edge_notes(tuning: Tuning) -> list[str]:
    """A chosen numeric value at the end of its grid: the best may lie beyond it."""
    notes = []
    for c in tuning.cells:
        if len(c.curve) and c.curve[0] == c.curve[-1]:
            continue  # every setting scored alike (a net at chance at every rate): the choice is a tie, not an edge
        for key, value in (c.chosen or {}).items():
            grid = pd.to_numeric(pd.Series(tuning.grid.get(key, [])), errors="coerce")
            if len(grid) < 3 or grid.isna().any():
                continue
            chosen = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
            edge = "largest" if chosen == grid.max() else "smallest" if chosen == grid.min() else None
            if edge:
                notes.append(f"{c.name}: the chosen {key}={value} is the {edge} of its grid "
                             f"({grid.min():g}..{grid.max():g}): the best may lie beyond it; widen the grid")
    return notes


def rising_notes(tuning: Tuning) -> list[str]:
    """Cells whose expected best is still climbing at their full budget, where the budget
    sampled the grid (a grid tried whole has no more settings to give)."""
    notes = []
    for c in tuning.cells:
        if c.space > c.tried and len(c.curve) >= 2 and c.curve[-1] - c.curve[-2] > 0.005:  # half an accuracy point per extra setting
            notes.append(f"{c.name}: expected best {SCORE} still rises at k={len(c.curve)} "
                         f"(+{c.curve[-1] - c.curve[-2]:.3f} from k={len(c.curve) - 1}): a larger budget may help it")
    return notes
