"""`ablate report` through typer's CliRunner: exit codes, errors, every format."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import typer
from scipy import stats as sps
from typer.testing import CliRunner

from ablate.cli.report import FORMAT_NAMES, METRIC_NAMES, report
from helpers.report import norm_act_runs, write_sweep

app = typer.Typer()
app.command("report")(report)
app.command("noop")(lambda: None)  # a second command keeps `report` a subcommand, as in ablate.cli


def invoke(*args):
    return CliRunner().invoke(app, ["report", *map(str, args)])


@pytest.fixture()
def runs():
    return norm_act_runs()


@pytest.fixture()
def sweep(tmp_path, runs):
    return write_sweep(tmp_path / "results", "norm-vs-act", runs, keys=["norm", "act", "seed"], target=0.85)


def best_means(runs, key):
    """Mean best val acc of the completed runs per level, computed from the fixture."""
    levels = {}
    for r in runs:
        if r.status == "completed":
            levels.setdefault(r.levels[key], []).append(max(r.curve))
    return {k: float(np.mean(v)) for k, v in levels.items()}


def test_terminal_tables(sweep, runs):
    result = invoke(sweep)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "norm-vs-act: 23 of 24 planned runs done (partial)" in out
    assert "target accuracy 0.8500 (target_acc of the sweep)" in out
    for level, mean in best_means(runs, "norm").items():
        assert re.search(rf"│ +\d │ {level} .*{mean:.4f} ±", out), level
    assert "seed —" not in out and "norm — test acc" in out and "act — convergence" in out


def test_by_prints_the_grid(sweep):
    result = invoke(sweep, "--by", "norm,act")
    assert result.exit_code == 0, result.output
    assert "norm in rows, act in columns" in result.stdout
    assert "norm — test acc" not in result.stdout  # the interaction replaces the marginals


@pytest.mark.parametrize("args, message", [
    (["--where", "nrom=batch"], "error: unknown --where key 'nrom'; did you mean 'norm'? choices: act, norm, seed,"),
    (["--by", "norm,seed"], "error: --by seed: seeds are the repetitions, not a factor"),
    (["--metric", "best_val_ac"], "error: unknown metric 'best_val_ac'; did you mean 'best_val_acc'?"),
    (["--format", "mdd"], "error: unknown format 'mdd'; did you mean 'md'?"),
])
def test_user_mistakes_are_one_red_line(sweep, args, message):
    result = invoke(sweep, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_a_path_that_is_not_a_sweep(tmp_path, sweep):
    (tmp_path / "empty").mkdir()
    result = invoke(tmp_path / "empty")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "is not a sweep (no runs.csv" in result.stderr
    parent = invoke(sweep.parent)  # results/ instead of results/<sweep>/
    assert parent.exit_code == 2 and f"it holds sweeps: {sweep}" in parent.stderr
    missing = invoke(tmp_path / "nope")
    assert missing.exit_code == 2 and "no such folder" in missing.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "runs.csv").write_text("just,a\n", encoding="utf-8")
    bad = invoke(tmp_path / "bad")
    assert bad.exit_code == 2 and "needs run_id and status columns" in bad.stderr


def read_markdown_table(text: str, heading: str) -> pd.DataFrame:
    block = text.split(f"## {heading}\n\n", 1)[1].split("\n\n", 1)[0].strip().splitlines()
    header = [c.strip() for c in block[0].strip("|").split(" | ")]
    rows = [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in block[2:]]
    return pd.DataFrame(rows, columns=header)


def read_latex_table(text: str, caption: str) -> pd.DataFrame:
    block = text.split(f"\\caption{{{caption}}}", 1)[1]
    body = block.split("\\midrule\n", 1)[1].split("\\bottomrule", 1)[0]
    header = block.split("\\toprule\n", 1)[1].split(" \\\\", 1)[0].split(" & ")
    rows = [line.rstrip(" \\").split(" & ") for line in body.strip().splitlines()]
    return pd.DataFrame(rows, columns=header)


def check_norm_rows(levels: list[str], means: list[str], runs) -> None:
    """Printed cells 'mean ± half' agree with the fixture to the printed digits."""
    ref = best_means(runs, "norm")
    assert levels == sorted(ref, key=lambda k: -ref[k])
    for level, cell in zip(levels, means):
        mean = re.split(r" (?:±|\\ensuremath\{\\pm\}) ", cell)[0]  # plain text or LaTeX
        assert float(mean) == pytest.approx(ref[level], abs=5e-5)


def test_every_format_prints_and_rereads(sweep, runs):
    printed = {name: invoke(sweep, "--format", name) for name in FORMAT_NAMES}
    assert all(r.exit_code == 0 for r in printed.values()), {k: r.output for k, r in printed.items()}

    doc = json.loads(printed["json"].stdout)
    norm = next(t for t in doc["tables"] if t["title"] == "norm")
    check_norm_rows([r["norm"] for r in norm["rows"]], [str(r["best_val_acc_mean"]) for r in norm["rows"]], runs)
    assert doc["target"]["value"] == 0.85 and doc["sweeps"][0]["partial"] is True
    assert norm["rows"][0]["p"] is None  # the best level: NaN written as null

    tidy = pd.read_csv(io.StringIO(printed["csv"].stdout))
    rows = tidy[tidy["table"] == "norm"]
    check_norm_rows(rows["norm"].tolist(), rows["best_val_acc_mean"].astype(str).tolist(), runs)
    ref = best_means(runs, "act")
    assert tidy.loc[tidy["table"] == "act", "best_val_acc_mean"].tolist() == pytest.approx(
        sorted(ref.values(), reverse=True), rel=1e-12)

    md = read_markdown_table(printed["md"].stdout, "norm")
    check_norm_rows(md["norm"].tolist(), md["best val acc"].tolist(), runs)

    tex = read_latex_table(printed["latex"].stdout, "norm: runs by status and other accuracies")
    check_norm_rows(tex["norm"].tolist(), tex["best val acc"].tolist(), runs)
    assert "\\begin{tabular}" in printed["latex"].stdout and "\\ensuremath{\\pm}" in printed["latex"].stdout


def test_out_writes_every_file_and_they_reread(tmp_path, sweep, runs):
    out = tmp_path / "report"
    result = invoke(sweep, "--by", "norm,act", "--out", out, "--format", "json")
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)  # stdout stays pure JSON; the "wrote" line goes to stderr
    assert "wrote" in result.stderr
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"index.html", "report.md", "report.csv", "report.json", "report.tex", "plots/curves.png",
            "plots/intervals.png", "plots/gap.png", "plots/heatmap-norm-x-act.png"} <= names
    for png in out.glob("plots/*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tidy = pd.read_csv(out / "report.csv", dtype={"norm": str, "act": str})
    assert len(tidy) == 6 and set(tidy["table"]) == {"norm × act"}
    completed = [r for r in runs if r.status == "completed" and r.levels["norm"] == "batch"
                 and r.levels["act"] == "tanh"]
    x = [max(r.curve) for r in completed]
    row = tidy[(tidy["norm"] == "batch") & (tidy["act"] == "tanh")].iloc[0]
    low, high = sps.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=sps.sem(x))
    assert (row["best_val_acc_low"], row["best_val_acc_high"]) == (pytest.approx(low), pytest.approx(high))
    assert json.loads((out / "report.json").read_text())["tables"][0]["keys"] == ["norm", "act"]
    md = read_markdown_table((out / "report.md").read_text(), "norm × act")
    assert len(md) == 6 and md.columns[:3].tolist() == ["rank", "norm", "act"]
    tex = read_latex_table((out / "report.tex").read_text(), "norm \\ensuremath{\\times} act")
    assert len(tex) == 6


def test_registries_and_help_agree():
    from ablate.report.tables import METRICS
    from ablate.report.render import OUTPUTS

    assert tuple(OUTPUTS) == FORMAT_NAMES
    assert tuple(METRICS) == METRIC_NAMES
    assert all(name == metric.column for name, metric in METRICS.items())


def test_help_is_the_docstring():
    result = invoke("--help")
    assert result.exit_code == 0 and "Summarise one or more sweeps" in result.stdout
    assert "--where" in result.stdout and "--by" in result.stdout


def test_importing_the_command_stays_light():
    code = ("import sys, ablate.cli.report; "
            "print(sorted(m for m in ('pandas', 'matplotlib', 'scipy', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_levels_that_look_like_markup_are_printed_as_written(tmp_path):
    from helpers.report import Run, ramp

    runs = [Run({"aug": aug, "seed": str(s)}, ramp(0.8 + 0.05 * i + 0.01 * s))
            for i, aug in enumerate(["[]", "[flip,crop]", "[bold]"]) for s in range(2)]
    path = write_sweep(tmp_path, "aug", runs, keys=["aug", "seed"], target=0.5)
    result = invoke(path, "--where", "aug=[flip,crop],[bold],[]")
    assert result.exit_code == 0, result.output
    for level in ("[]", "[flip,crop]", "[bold]"):
        assert f"│ {level} " in result.stdout, level
    wrong = invoke(path, "--where", "aug=[flip]")
    assert wrong.exit_code == 2
    assert "choices: [], [bold], [flip,crop]" in wrong.stderr  # shown literally, not as markup


def test_no_folder_reports_the_newest_sweep_in_results(tmp_path, monkeypatch, runs):
    import os

    monkeypatch.chdir(tmp_path)
    empty = invoke()
    assert empty.exit_code == 2 and "no sweep under results/ yet" in empty.output
    old = write_sweep(tmp_path / "results", "old-sweep", runs, keys=["norm", "act", "seed"])
    new = write_sweep(tmp_path / "results", "new-sweep", runs[:12], keys=["norm", "act", "seed"])
    for path, stamp in ((old, 2_000_000_000), (new, 1_000_000_000)):  # old-sweep written last
        for mark in ("sweep.yaml", "runs.csv"):
            os.utime(path / mark, (stamp, stamp))
    result = invoke("--format", "md")
    assert result.exit_code == 0, result.output
    assert "reporting results/old-sweep, the newest sweep" in result.output
    assert "- old-sweep: " in result.output and "new-sweep" not in result.output


def test_no_folder_never_picks_the_one_off_train_runs(tmp_path, monkeypatch, runs):
    """results/train (`ablate train`'s folder: runs and tables, no sweep.yaml) written
    after the sweep is still not the newest sweep."""
    import os

    monkeypatch.chdir(tmp_path)
    train = write_sweep(tmp_path / "results", "train", runs[:3], keys=["norm", "act", "seed"], sweep_yaml=False,
                        run_dirs=True)
    alone = invoke()
    assert alone.exit_code == 2, alone.output
    assert alone.output.startswith("error: no sweep under results/ yet (results/train/ holds only `ablate train` runs")
    sweep = write_sweep(tmp_path / "results", "norm-vs-act", runs, keys=["norm", "act", "seed"])
    for mark in ("sweep.yaml", "runs.csv"):
        os.utime(sweep / mark, (1_000_000_000, 1_000_000_000))  # the train run came later
    result = invoke("--format", "md")
    assert result.exit_code == 0, result.output
    assert "reporting results/norm-vs-act, the newest sweep" in result.output
    assert "- norm-vs-act: " in result.output and "- train: " not in result.output
    assert invoke(str(train), "--format", "md").exit_code == 0  # named, it is still reported


@pytest.mark.parametrize("mistake", [["--format", "bogus"], ["--metric", "bogus"], ["--where", "bogus=1"]])
def test_a_mistake_beside_out_leaves_no_empty_folder(sweep, tmp_path, mistake):
    out = tmp_path / "new" / "report"
    result = invoke(str(sweep), "--out", str(out), *mistake)
    assert result.exit_code == 2 and result.output.startswith("error:"), result.output
    assert not (tmp_path / "new").exists()


def test_a_second_report_into_the_same_out_leaves_no_plot_of_the_first(tmp_path, sweep):
    out = tmp_path / "report"
    assert invoke(sweep, "--by", "norm,act", "--out", out).exit_code == 0
    assert (out / "plots/heatmap-norm-x-act.png").exists()
    assert invoke(sweep, "--out", out).exit_code == 0  # no --by: no heat map this time
    html = (out / "index.html").read_text()
    pngs = {p.name for p in out.glob("plots/*.png")}
    assert "heatmap-norm-x-act.png" not in pngs and pngs, pngs
    assert (out / "report.md").exists() and "heatmap" not in html
