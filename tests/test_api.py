"""The Python API: ablate.load, ablate.run_train, ablate.run_sweep (what the CLI is built on)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

import ablate
from ablate.errors import ConfigError
from helpers.report import norm_act_runs, write_sweep

FAST = ["epochs=2", "device=cpu"]


@pytest.fixture()
def sweep(tmp_path):
    return write_sweep(tmp_path, "norm-vs-act", norm_act_runs(), keys=["norm", "act", "seed"], run_dirs=True)


def test_load_matches_runs_csv(sweep):
    study = ablate.load(sweep)
    table = pd.read_csv(sweep / "runs.csv", dtype={"run_id": str})
    assert list(study.runs["run_id"]) == list(table["run_id"])
    assert list(study.runs["status"]) == list(table["status"])
    finished = study.runs["status"] == "completed"
    assert study.runs.loc[finished, "test_acc"].tolist() == pytest.approx(table.loc[finished, "test_acc"].tolist())
    assert study.factors == ["norm", "act"]
    assert study.runs["seed"].dtype.kind in "iu" or str(study.runs["seed"].dtype) == "Int64"  # numbers as numbers
    assert not pd.api.types.is_numeric_dtype(study.runs["norm"])


def test_factor_columns_are_typed_as_numbers_only_when_every_level_is_one():
    from ablate.api.study import typed

    lr = typed(pd.Series(["0.1", "0.01", "", "0.1"]))
    assert lr.dtype.kind == "f" and lr.isna().tolist() == [False, False, True, False] and lr[1] == 0.01
    assert typed(pd.Series(["100", "300", "(default)"])).tolist()[:2] == [100, 300]
    assert typed(pd.Series(["relu", "0.1"])).tolist() == ["relu", "0.1"]  # a word among numbers: all text
    assert typed(pd.Series(["true", "false"])).tolist() == ["true", "false"]


def test_report_gives_the_printed_tables_as_dataframes(sweep):
    report = ablate.load(sweep).report()
    assert report.metric == "test_acc" and set(report.tables) == {"norm", "act"}
    norm = report.tables["norm"]
    assert list(norm["norm"])[0] == "batch"  # ranked, best first
    assert report.importance is not None and set(report.importance["effect"]) >= {"norm", "act"}
    assert "test acc" in report.shown["norm"].columns
    by = ablate.load(sweep).report(by=["norm", "act"], metric="best_val_acc")
    assert set(by.tables) == {"norm × act"} and by.metric == "best_val_acc"


def test_epochs_and_plots(sweep):
    study = ablate.load(sweep)
    epochs = study.epochs
    assert {"sweep", "run_id", "epoch", "val_acc", "test_acc"} <= set(epochs.columns)
    assert len(epochs) == epochs.groupby(["run_id", "epoch"]).ngroups
    figures = study.plot("intervals")
    assert figures and all(hasattr(f, "savefig") for f in figures)
    with pytest.raises(ConfigError, match="unknown plot 'bars'"):
        study.plot("bars")


def test_load_of_a_wrong_path_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="no such folder"):
        ablate.load(tmp_path / "nope")


def test_dir_and_help_show_the_api():
    import pydoc

    assert {"load", "run_train", "run_sweep", "Study"} <= set(dir(ablate)) <= set(dir(ablate)) | set(ablate.__all__)
    assert {"load", "run_train", "run_sweep"} <= set(ablate.__all__)
    shown = pydoc.render_doc(ablate, renderer=pydoc.plaintext)
    for name in ("load", "run_train", "run_sweep"):
        assert f"{name}(" in shown, name  # listed with its signature, not just named in the docstring
    assert "ablate.load(" in ablate.__doc__


def test_report_importance_is_numbers_formatted_only_when_shown(sweep):
    from ablate.report.present import importance_rows

    report = ablate.load(sweep).report()
    imp = report.importance
    for column in ("df", "F", "p", "eta2", "partial_eta2", "low", "high", "omega2"):
        assert pd.api.types.is_float_dtype(imp[column]) or pd.api.types.is_integer_dtype(imp[column]), column
    assert imp["p"].between(0, 1).all() and imp["eta2"].between(0, 1).all()
    assert imp["eta2"].is_monotonic_decreasing  # largest share first, compared as numbers
    # The terminal's cells are these numbers, formatted at render time: '85%' is eta2 0.85 shown.
    rows = importance_rows(report.report.importance)
    assert [row[0] for row in rows] == list(imp["effect"])
    assert any(f"{imp['eta2'].iloc[0]:.0%}" in cell for cell in rows[0])


def test_importing_ablate_stays_light():
    code = "import sys, ablate; print(sorted(m for m in ('pandas', 'torch', 'ablate.api') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
def test_run_train_and_run_sweep_return_results_the_study_reads(tmp_path, capsys):
    result = ablate.run_train(FAST, results=tmp_path)
    assert result.status == "completed" and 0 <= result.summary["test_acc"] <= 1
    assert (tmp_path / "train" / "runs" / result.run_id / "summary.json").exists()
    done = ablate.run_sweep(["norm=none,batch", *FAST], results=tmp_path, name="api", workers=1)
    assert done.counts["completed"] == 2 and done.sweep_dir == tmp_path / "api"
    # A notebook sees the sweep move: a line per finished run on stdout, then the count.
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "2 runs: 0 already done; running 2 with 1 worker(s)"
    for n, level in ((1, "none"), (2, "batch")):
        assert any(line.startswith(f"[{n}/2] ") and f"norm={level}: completed test_acc=" in line for line in printed)
    assert printed[-1] == "2 runs: 2 completed"
    ablate.run_sweep(["norm=none,batch", *FAST], results=tmp_path, name="api", workers=1, progress=False)
    assert capsys.readouterr().out == ""  # progress=False: silent (both already done)
    study = done.study()
    assert len(study.runs) == 2 and study.factors == ["norm"]
    assert study.diagnostics["run_id"].nunique() == 2  # diagnostics are on by default
    with pytest.raises(ConfigError, match="unknown norm 'grop'"):
        ablate.run_sweep(["norm=grop", *FAST], results=tmp_path)
