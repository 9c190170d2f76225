"""The run folders are the truth: runs.csv is their summary, and the report
rebuilds it in memory (never on disk) when it is missing, cut short or behind;
a finished run whose files cannot be read is `unreadable`, never completed."""

from pathlib import Path

import pandas as pd
import pytest

from ablate.report.build import build_report

pytestmark = pytest.mark.slow  # a real 4-run sweep on digits

SWEEP = ["sweep", "norm=none,batch", "seed=0,1", "epochs=2", "device=cpu", "diagnostics=off", "--workers", "1",
         "--name", "s"]


@pytest.fixture
def sweep(cli):
    result = cli(*SWEEP)
    assert result.exit_code == 0, result.output
    return Path("results/s")


def status_line(report) -> str:
    return report.sweeps[0].describe()


def test_a_truncated_runs_csv_is_rebuilt_from_the_folders(sweep):
    table = (sweep / "runs.csv").read_bytes()
    (sweep / "runs.csv").write_bytes(table[:300])
    report = build_report([sweep])
    assert status_line(report).startswith("s: 4 of 4 planned runs done (complete); 4 completed")
    assert any("rebuilt from the run folders" in n for n in report.notes)
    assert report.marginals["norm"]["runs"].tolist() == [2, 2]
    assert (sweep / "runs.csv").read_bytes() == table[:300]  # the report never writes runs.csv


def test_a_missing_runs_csv_after_a_kill_is_rebuilt(sweep):
    (sweep / "runs.csv").unlink()
    report = build_report([sweep])
    assert status_line(report).startswith("s: 4 of 4 planned runs done (complete)")
    assert any("runs.csv is missing; rebuilt from the run folders" in n for n in report.notes)
    assert set(report.runs["norm"]) == {"none", "batch"}  # labels from each run's factors.json
    assert not (sweep / "runs.csv").exists()


def test_a_runs_csv_behind_its_folders_is_corrected(sweep):
    runs = pd.read_csv(sweep / "runs.csv", dtype=str, keep_default_na=False)
    runs.loc[0, "status"] = "running"  # as a table written mid-sweep would say
    runs.to_csv(sweep / "runs.csv", index=False)
    report = build_report([sweep])
    assert status_line(report).startswith("s: 4 of 4 planned runs done (complete)")
    assert any("disagrees with 1 of the 4 run folders" in n for n in report.notes)


def test_a_run_that_finished_after_the_tables_counts_its_epochs(sweep):
    """runs.csv and epochs.csv were written mid-sweep: a run then `running` with no
    epochs; its folder now has all of them, and the target is judged on those."""
    runs = pd.read_csv(sweep / "runs.csv", dtype=str, keep_default_na=False)
    late = runs.loc[0, "run_id"]
    runs.loc[0, "status"] = "running"
    runs.to_csv(sweep / "runs.csv", index=False)
    epochs = pd.read_csv(sweep / "epochs.csv", dtype=str)
    epochs[epochs["run_id"] != late].to_csv(sweep / "epochs.csv", index=False)
    report = build_report([sweep])
    truth = build_report([sweep])  # the same, read twice: nothing cached on disk
    mine = report.runs.set_index("run_id").loc[late]
    history = pd.read_csv(sweep / "runs" / late / "history.csv")
    target = report.target.value
    hit = history.loc[history["val_acc"] >= target, "epoch"]
    if hit.empty:
        assert pd.isna(mine["epochs_to_target"]) and bool(mine["target_known"])
    else:
        assert mine["epochs_to_target"] == hit.iloc[0]
    assert truth.runs["epochs_to_target"].equals(report.runs["epochs_to_target"])
    assert report.runs["target_known"].all()  # every run's history was read: none unknown


def test_an_unreadable_epochs_csv_falls_back_to_the_histories(sweep):
    reference = build_report([sweep]).runs.set_index("run_id")["epochs_to_target"]
    (sweep / "epochs.csv").write_text("run_id,epo")  # cut inside its header
    again = build_report([sweep]).runs.set_index("run_id")["epochs_to_target"]
    pd.testing.assert_series_equal(again, reference)


def test_a_deleted_run_folder_is_not_reported_as_done(sweep):
    """Deleting a bad run to redo it: runs.csv still lists it, the folders do not."""
    import shutil

    gone = pd.read_csv(sweep / "runs.csv", dtype=str)["run_id"].iloc[0]
    shutil.rmtree(sweep / "runs" / gone)
    report = build_report([sweep])
    assert gone not in set(report.runs["run_id"])
    assert status_line(report).startswith("s: 3 of 4 planned runs done (partial)")
    assert any("1 run listed in runs.csv has no run folder" in n for n in report.notes)


def test_a_copied_folder_without_sweep_yaml_keeps_its_sweep_name(sweep):
    import shutil

    copy = Path("results/copy")
    shutil.copytree(sweep, copy)
    (copy / "sweep.yaml").unlink()
    report = build_report([copy])
    assert status_line(report).startswith("s: 4 of 4 planned runs done (complete); 4 completed")
    assert report.runs["target_known"].all()


def test_a_run_retrained_after_the_tables_shows_its_new_numbers(sweep):
    """Same status, new numbers (retrained with --fresh, runs.csv not rewritten):
    the folder's summary, newer than runs.csv, wins; a summary only touched does not
    count as a change (a clock a little ahead on another host)."""
    import json
    import os
    import time

    run = sorted((sweep / "runs").iterdir())[0]
    later = time.time() + 5
    os.utime(run / "summary.json", (later, later))
    assert not any("disagrees" in n for n in build_report([sweep]).notes)
    summary = json.loads((run / "summary.json").read_text())
    summary["test_acc"] = 0.123
    (run / "summary.json").write_text(json.dumps(summary))
    os.utime(run / "summary.json", (later, later))
    report = build_report([sweep])
    assert report.runs.set_index("run_id").loc[run.name, "test_acc"] == 0.123
    assert any("disagrees with 1 of the 4 run folders" in n for n in report.notes)


def test_a_garbage_summary_is_recomputed_from_the_history(cli, sweep):
    run = next((sweep / "runs").iterdir())
    expected = pd.read_csv(sweep / "runs.csv").set_index("run_id").loc[run.name, "best_val_acc"]
    (run / "summary.json").write_text("{not json")
    assert cli(*SWEEP).exit_code == 0  # nothing to train: the sweep rewrites the summary and the tables
    runs = pd.read_csv(sweep / "runs.csv").set_index("run_id")
    assert runs.loc[run.name, "status"] == "completed"
    assert runs.loc[run.name, "best_val_acc"] == pytest.approx(expected)
    assert "best_val_acc" in (run / "summary.json").read_text()


def test_a_run_that_cannot_be_read_is_unreadable_and_the_sweep_resumes_it(cli, sweep):
    run = next((sweep / "runs").iterdir())
    (run / "summary.json").write_text("{not json")
    (run / "history.csv").write_text("garbage\x00\n")
    runs = pd.read_csv(sweep / "runs.csv", dtype=str, keep_default_na=False)
    runs.loc[runs["run_id"] == run.name, "best_val_acc"] = ""  # as a table written after the damage
    runs.to_csv(sweep / "runs.csv", index=False)
    report = build_report([sweep])
    assert status_line(report).startswith("s: 3 of 4 planned runs done (partial); 3 completed")
    assert any("1 finished runs are unreadable" in n for n in report.notes)
    again = cli(*SWEEP)
    assert again.exit_code == 0, again.output
    assert "1 already done" not in again.output  # the unreadable run ran again (from its checkpoint)
    assert build_report([sweep]).sweeps[0].describe().startswith("s: 4 of 4 planned runs done (complete)")
    assert "best_val_acc" in (run / "summary.json").read_text()
