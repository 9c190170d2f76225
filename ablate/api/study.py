"""`ablate.load`: one or more sweep folders as a study, in DataFrames.

`Study.runs` is runs.csv as the report reads it (checked against the run
folders), with factor columns typed: a key whose levels are all numbers
(`optim.lr`, `batch_size`, `data.n_train`) is numeric, a level that does not
apply to a run (`norm.groups` of a batch-norm run) is NaN. `Study.report()`
gives the tables `ablate report` prints, as DataFrames; `Study.plot()` its
figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class StudyReport:
    """What `ablate report` prints, as data."""

    metric: str  # the ranking metric's column
    tables: dict[str, pd.DataFrame]  # section title ('norm', 'norm × act') → its level table, numbers
    shown: dict[str, pd.DataFrame]  # the same tables as the terminal shows them (text cells)
    # effect, df, F, p, eta2, partial_eta2, low, high (its interval), omega2 (and eta2_low/eta2_high with
    # bootstrap), as numbers (shares as fractions: 0.82, not '82%'); None under two factors
    importance: pd.DataFrame | None
    notes: list[str] = field(default_factory=list)
    report: Any = None  # the underlying ablate.report.build.Report, for everything else


def typed(column: pd.Series) -> pd.Series:
    """Numbers as numbers when every level given is one (a level that does not apply,
    or another sweep's default, becomes NaN)."""
    from ablate.report.load import UNSET
    from ablate.store.tables import NOT_APPLICABLE

    values = column.replace({NOT_APPLICABLE: None, UNSET: None})
    converted = pd.to_numeric(values, errors="coerce")
    if not values.notna().any() or converted.notna().sum() != values.notna().sum():
        return column  # a word among the levels (or none at all): text, as typed
    written = values.dropna().astype(str)
    integers = not written.str.contains(r"[.eE]").any()  # `100` stays an int, `0.1` and `1e-3` are floats
    return converted.astype("Int64") if integers else converted


@dataclass
class Study:
    """Sweeps read as one study (`ablate.load`)."""

    paths: list[Path]

    @cached_property
    def _store(self):
        from ablate.report.load import load as load_store

        return load_store(self.paths)

    @property
    def factors(self) -> list[str]:
        """The keys that were swept (seed is replication, not a factor)."""
        return list(self._store.factors)

    @cached_property
    def runs(self) -> pd.DataFrame:
        """One row per run: run_id, sweep, status, the factor columns (typed), the metrics."""
        from ablate.report.load import FOLDER

        runs = self._store.runs.drop(columns=[FOLDER], errors="ignore").copy()
        for key in self._store.keys:
            runs[key] = typed(runs[key])
        return runs

    @cached_property
    def epochs(self) -> pd.DataFrame:
        """One row per run and epoch: run_id, sweep, epoch, then a column per metric (train/val/test loss, ...)."""
        long = self._store.epochs()
        wide = long.pivot_table(index=["sweep", "run_id", "epoch"], columns="metric", values="value").reset_index()
        wide.columns.name = None
        return wide

    @cached_property
    def diagnostics(self) -> pd.DataFrame:
        """Every finished run's diagnostics.csv: sweep, run_id, epoch, layer, depth, statistic, value."""
        frames = []
        from ablate.report.load import FOLDER

        for folder, sweep in enumerate(self._store.sweeps):
            # By folder, not sweep name: a run held by two folders is read from the one its row came from.
            for rid in self._store.runs.loc[self._store.runs[FOLDER] == folder, "run_id"]:
                path = sweep.path / "runs" / rid / "diagnostics.csv"
                if path.exists():
                    frames.append(pd.read_csv(path).assign(sweep=sweep.name, run_id=rid))
        columns = ["sweep", "run_id", "epoch", "layer", "depth", "statistic", "value"]
        return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)

    def report(self, by: str | Sequence[str] | None = None, where: Sequence[str] = (), metric: str | None = None,
               confidence: float = 0.95, interactions: int = 2, paired: bool = False,
               bootstrap: int = 0, versus: Sequence[str] = ()) -> StudyReport:
        """The report's tables: one per factor (or the `by` interaction), ranked by
        `metric` (default test_acc), with `confidence` intervals and Holm-corrected p
        (Welch's, or with `paired` the paired t-test over runs that share a seed);
        `bootstrap` > 0: percentile intervals of each effect's η² from that many resamples;
        `versus`: ['factor=level'], a factor's baseline for Δ and p instead of its best level."""
        from ablate.report.build import build_report
        from ablate.report.present import cells

        by = ",".join(by) if isinstance(by, (list, tuple)) else by
        built = build_report(self.paths, by=by, where=list(where), metric=metric, confidence=confidence,
                             interactions=interactions, paired=paired, bootstrap=bootstrap, versus=list(versus))
        # Numbers, not the rendered cells: a notebook sorts, plots and compares them.
        ranked = built.importance.table.reset_index(drop=True).copy() if built.importance is not None else None
        return StudyReport(metric=built.rank_by.column,
                           tables={s.title: s.table for s in built.sections},
                           shown={s.title: cells(built, s) for s in built.sections},
                           importance=ranked, notes=list(built.notes), report=built)

    def plot(self, kind: str = "intervals", **report_options: Any) -> list:
        """The report's figures of one kind (`curves`, `intervals`, `numeric`, `heatmap`,
        `interactions`, `gap`, `diagnostics`) as matplotlib Figures; `report_options`
        as for `report()` (`by="aug,data.n_train"` for one line per aug)."""
        import tempfile

        from ablate.report.plots import PLOTS

        draw = PLOTS[kind]  # an unknown kind: one line naming the choices
        built = self.report(**report_options).report
        with tempfile.TemporaryDirectory() as folder:
            return [p.figure for p in draw(built, Path(folder))]


def load(paths: str | Path | Sequence[str | Path]) -> Study:
    """One or more sweep folders (`results/<sweep>`, or `s3://bucket/prefix/<sweep>`: any fsspec URI,
    read from the bucket's summaries, never its checkpoints) as a `Study`; a ConfigError
    (one line) when a path is not a sweep."""
    from ablate.api.remote import localize

    listed = [paths] if isinstance(paths, (str, Path)) else list(paths)
    study = Study(localize(listed))
    study._store  # read now: a wrong path fails here, not at first use
    return study
