"""The diagnostics section of `ablate report`: per level and depth, from the runs' diagnostics.csv.

Expected numbers are computed here with plain Python loops from the numbers
written into the fixture's run folders, independently of `ablate.report`.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from ablate.report.build import build_report
from ablate.cli.report import report
from helpers.report import Layer, diagnostics_rows, norm_act_runs, write_diagnostics, write_sweep

app = typer.Typer()
app.command("report")(report)
app.command("noop")(lambda: None)

SCALE = {"none": 1.0, "batch": 2.0, "group": 3.0}  # activation std at depth 0, before training
GRAD = {"none": 1e-5, "batch": 1e-3, "group": 1e-2}  # gradient norm of the first layer
SKIPPED = {("batch", "relu", "3"), ("none", "tanh", "0")}  # finished runs written without diagnostics
DEPTHS = 4  # conv/linear layers; the last (depth 3) has no activation after it


def invoke(*args):
    return CliRunner().invoke(app, ["report", *map(str, args)])


def layers(levels: dict, epoch: int) -> list[Layer]:
    """A net whose activation std falls 0.4× a layer and whose gradients grow ten-fold
    toward the output; every number depends on norm, act, seed and epoch."""
    scale = SCALE[levels["norm"]] * (1 + 0.1 * int(levels["seed"])) * (1 + epoch)
    grad = GRAD[levels["norm"]] * (1 + epoch)
    relu = levels["act"] == "relu"
    out = []
    for d in range(DEPTHS):
        last = d == DEPTHS - 1
        out.append(Layer(d, grad_weight=grad * 10 ** d, grad_bias=0.5 * grad * 10 ** d,
                         act_std=None if last else scale * 0.4 ** d,
                         dead=None if last or not relu else 0.04 * (d + 1) * (1 + epoch),
                         saturated=None if last or relu else 0.02 * (d + 1) * (1 + epoch)))
    return out


def epochs_of(run) -> list[int]:
    return [0, 2] if run.status == "diverged" else [0, 3, 6]  # a diverged run stops early


@pytest.fixture()
def store(tmp_path):
    runs = norm_act_runs()
    sweep = write_sweep(tmp_path / "results", "norm-vs-act", runs, keys=["norm", "act", "seed"], target=0.85)
    for run in runs:
        key = (run.levels["norm"], run.levels["act"], run.levels["seed"])
        if run.status == "failed":  # recorded before failing: must not count
            write_diagnostics(sweep, run, diagnostics_rows({0: layers(run.levels, 50)}))
        elif run.status in ("completed", "diverged") and key not in SKIPPED:
            write_diagnostics(sweep, run, diagnostics_rows({e: layers(run.levels, e) for e in epochs_of(run)}))
        else:
            (sweep / "runs" / run.run_id).mkdir(parents=True, exist_ok=True)  # a run folder without the file
    return sweep, runs


def expected(runs, factor: str) -> dict:
    """level → {(quantity, depth): (first, last, n)}, the mean over runs with diagnostics."""
    per_level: dict[str, dict] = {}
    for run in runs:
        key = (run.levels["norm"], run.levels["act"], run.levels["seed"])
        if run.status not in ("completed", "diverged") or key in SKIPPED:
            continue
        ends = epochs_of(run)[0], epochs_of(run)[-1]
        values = {}
        for which, epoch in enumerate(ends):
            for layer in layers(run.levels, epoch):
                values.setdefault(("grad_norm", layer.depth), [None, None])[which] = math.hypot(
                    layer.grad_weight, layer.grad_bias)
                if layer.act_std is not None:
                    values.setdefault(("act_std", layer.depth), [None, None])[which] = layer.act_std
            for name, attr in (("dead_frac", "dead"), ("saturated_frac", "saturated")):
                fractions = [getattr(x, attr) for x in layers(run.levels, epoch) if getattr(x, attr) is not None]
                if fractions:
                    values.setdefault((name, -1), [None, None])[which] = sum(fractions) / len(fractions)
        level = per_level.setdefault(run.levels[factor], {})
        for cell, pair in values.items():
            level.setdefault(cell, []).append(pair)
    return {lv: {cell: (sum(p[0] for p in pairs) / len(pairs), sum(p[1] for p in pairs) / len(pairs), len(pairs))
                 for cell, pairs in cells.items()} for lv, cells in per_level.items()}


def test_means_per_level_and_depth(store):
    sweep, runs = store
    diag = build_report([sweep]).diagnostics
    assert [f.factor for f in diag.factors] == ["norm", "act"]
    for f in diag.factors:
        want = expected(runs, f.factor)
        assert f.levels == list(want)
        assert f.depths() == [0, 1, 2, 3]
        for level, cells in want.items():
            for (quantity, depth), (first, last, n) in cells.items():
                got = f.value(level, quantity, depth)
                assert got is not None, (level, quantity, depth)
                assert got[0] == pytest.approx(first, rel=1e-6) and got[1] == pytest.approx(last, rel=1e-6)
                assert got[2] == n
            # nothing more than the fixture holds: no act std at the last layer, no dead units for tanh
            assert len(f.table[f.table["level"] == level]) == len(cells)
    act = diag.factors[1]
    assert act.value("relu", "saturated_frac") is None and act.value("tanh", "dead_frac") is None
    # relu runs per level: batch 3 (seed 3 skipped), none 4, group 4
    assert act.runs == {"relu": 11, "tanh": 9}


def test_gradient_norm_of_a_layer_is_over_its_parameters_and_grows_toward_the_output(store):
    sweep, _ = store
    norm = build_report([sweep]).diagnostics.factors[0]
    # none: 4 runs at epoch 0 (grad 1e-5) ... weight 1e-5·10^d and bias half that.
    assert norm.value("none", "grad_norm", 0)[0] == pytest.approx(math.hypot(1e-5, 0.5e-5), rel=1e-6)
    lasts = [norm.value("none", "grad_norm", d)[1] for d in range(DEPTHS)]
    assert lasts == sorted(lasts) and lasts[-1] / lasts[0] == pytest.approx(1000, rel=1e-6)


def test_diverged_runs_count_at_their_own_last_epoch(store):
    sweep, runs = store
    only = build_report([sweep], where=["norm=none", "seed=2"]).diagnostics  # the two diverged runs
    assert only.finished == only.read == 2
    act = only.factors[0]
    assert act.factor == "act"
    # last recorded epoch of a diverged run is 2: scale 1 × 1.2 × 3, not × 7 (epoch 6)
    assert act.value("relu", "act_std", 0)[1] == pytest.approx(1.2 * 3)


def test_skip_counts_are_stated(store):
    sweep, _ = store
    diag = build_report([sweep]).diagnostics
    # 24 planned: 1 failed and 1 queued are not finished; 2 finished runs have no file
    assert (diag.finished, diag.read, diag.skipped, diag.unreadable) == (22, 20, 2, 0)
    result = invoke(sweep)
    assert result.exit_code == 0, result.output
    assert "diagnostics: 20 of 22 finished runs (completed or diverged) have diagnostics.csv; " \
           "2 without it skipped" in result.stdout


def test_terminal_table_per_factor(store):
    sweep, _ = store
    out = invoke(sweep).stdout
    assert "norm — activation std and gradient norm by depth" in out
    assert "act — activation std and gradient norm by depth" in out
    # batch: 7 runs (relu seeds 0-2, tanh seeds 0-3): depth 0 act std 2·mean(1+0.1·seed) = 2.257 at
    # epoch 0, ×7 at epoch 6 = 15.8; printed to 2 significant digits.
    batch = next(line for line in out.splitlines() if re.match(r"│ batch\s+│", line))
    cells = [c.strip() for c in batch.split("│")[1:-1]]
    assert cells[:4] == ["batch", "7", "act std", "2.3→16"]
    assert cells[4:7] == ["0.9→6.3", "0.36→2.5", "—"]  # 0.4× a layer; no activation at depth 3
    # dead units in the norm table come from the relu runs only, so carry their own n
    assert cells[7] == "0.08→0.56 (n=3)"  # mean over layers of 0.04·(d+1)·(1+epoch)
    grad = out.splitlines()[out.splitlines().index(batch) + 1]
    assert [c.strip() for c in grad.split("│")[1:-1]][2:4] == ["grad norm", "0.0011→0.0078"]


def test_a_narrow_terminal_gets_the_last_epoch_then_fewer_depths(store):
    from ablate.report.render import print_diagnostics

    sweep, _ = store
    diag = build_report([sweep]).diagnostics
    for width, arrows in ((200, True), (80, False)):
        buffer = io.StringIO()
        print_diagnostics(Console(file=buffer, width=width, color_system=None), diag)
        text = buffer.getvalue()
        assert ("→" in text) is arrows, width
        assert "…" not in text  # nothing cut short
        assert max(len(line) for line in text.splitlines() if "│" in line) <= width
    # at 80 columns the norm table (its dead/saturated cells carry n) drops depth 1, evenly spaced
    assert "depths 0, 2, 3 of 0–3" in text and "│ batch │ 7 │ act std   │     16 │    2.5 │" in text


def test_a_store_without_diagnostics_prints_no_section(tmp_path):
    sweep = write_sweep(tmp_path / "results", "plain", norm_act_runs(), keys=["norm", "act", "seed"],
                        target=0.85, run_dirs=True)
    assert build_report([sweep]).diagnostics is None
    result = invoke(sweep)
    assert result.exit_code == 0, result.output
    assert "diagnostics" not in result.stdout.lower() and "grad norm" not in result.stdout
    assert json.loads(invoke(sweep, "--format", "json").stdout)["diagnostics"] is None
    assert "Diagnostics" not in invoke(sweep, "--format", "md").stdout
    out = tmp_path / "report"
    assert invoke(sweep, "--out", out).exit_code == 0
    assert not list(out.glob("plots/diagnostics*")) and "Diagnostics" not in (out / "index.html").read_text()


def test_unreadable_files_are_skipped_and_counted(store):
    sweep, runs = store
    ids = [r.run_id for r in runs if r.status == "completed"]
    (sweep / "runs" / ids[0] / "diagnostics.csv").write_text("not,a,diagnostics,table\n1,2,3,4\n")
    # the right header, a broken body (a value that is not a number): spoils the joint parse
    (sweep / "runs" / ids[1] / "diagnostics.csv").write_text(
        "epoch,layer,depth,statistic,value\n0,a,0,act_std,1.0\n3,a,0,act_std,oops\n")
    diag = build_report([sweep]).diagnostics
    assert (diag.read, diag.skipped, diag.unreadable) == (18, 4, 2)
    assert "2 of them unreadable" in diag.describe()
    assert sum(diag.factors[0].runs.values()) == 18


def test_out_embeds_the_diagnostics_plots_in_index_html(store, tmp_path):
    sweep, _ = store
    out = tmp_path / "report"
    result = invoke(sweep, "--out", out)
    assert result.exit_code == 0, result.output
    pngs = {p.name: p.read_bytes() for p in out.glob("plots/diagnostics-*.png")}
    assert set(pngs) == {"diagnostics-norm.png", "diagnostics-act.png"}
    html = (out / "index.html").read_text(encoding="utf-8")
    section = html[html.index('<h2 id="diagnostics">'):]
    embedded = [base64.b64decode(s) for s in re.findall(r'src="data:image/png;base64,([^"]+)"', section)]
    assert sorted(embedded) == sorted(pngs.values())
    assert "Plots" not in section and "2.3→16" in section  # after the other plots, with its tables
    # the other formats carry it too
    document = json.loads((out / "report.json").read_text())
    rows = document["diagnostics"]["factors"][0]["rows"]
    cell = next(r for r in rows if r["level"] == "batch" and r["quantity"] == "act_std" and r["depth"] == 0)
    assert cell["last"] == pytest.approx(14 * 7.9 / 7, rel=1e-6) and cell["n"] == 7
    assert document["diagnostics"]["skipped"] == 2
    assert "## Diagnostics" in (out / "report.md").read_text() and "| batch | 7 | act std | 2.3→16 |" in (
        out / "report.md").read_text()
    assert r"2.3\ensuremath{\to}16" in (out / "report.tex").read_text()


def test_where_restricts_the_runs_read(store):
    sweep, _ = store
    diag = build_report([sweep], where=["act=tanh"]).diagnostics
    assert [f.factor for f in diag.factors] == ["norm"]  # act no longer varies
    assert (diag.finished, diag.read) == (10, 9)  # group/tanh: 1 failed, 1 queued; none/tanh/0 skipped
    assert diag.factors[0].value("none", "dead_frac") is None


def test_reads_what_the_recorder_writes(tmp_path):
    """The column and statistic names agree with `ablate.diagnostics`."""
    import torch
    from torch import nn

    from ablate.diagnostics import COLUMNS, Recorder
    from ablate.report.diagnostics import COLUMNS as REPORT_COLUMNS
    from helpers.report import Run, ramp

    assert REPORT_COLUMNS == COLUMNS
    runs = [Run({"act": "relu", "seed": "0"}, ramp(0.9)), Run({"act": "tanh", "seed": "0"}, ramp(0.8))]
    sweep = write_sweep(tmp_path, "real", runs, keys=["act", "seed"], target=0.5)
    torch.manual_seed(0)
    x, y = torch.randn(32, 3, 8, 8), torch.randint(0, 4, (32,))
    recorded = {}
    for run, act in zip(runs, (nn.ReLU, nn.Tanh)):
        net = nn.Sequential(nn.Conv2d(3, 4, 3), act(), nn.Conv2d(4, 4, 3), act(), nn.Flatten(), nn.Linear(64, 4))
        recorder = Recorder(net, x, y, run.levels["act"])
        recorded[run.levels["act"]] = recorder.record(0) + recorder.record(5)
        recorder.write_csv(sweep / "runs" / run.run_id / "diagnostics.csv")
    diag = build_report([sweep]).diagnostics
    f = diag.factors[0]
    assert f.depths() == [0, 1, 2]
    for act, rows in recorded.items():
        std = next(r["value"] for r in rows if r["statistic"] == "act_std" and r["depth"] == 1 and r["epoch"] == 5)
        assert f.value(act, "act_std", 1)[1] == pytest.approx(std, rel=1e-5)
        grads = [r["value"] for r in rows if r["statistic"] == "grad_norm" and r["depth"] == 2 and r["epoch"] == 0]
        assert len(grads) == 2  # the linear layer's weight and bias
        assert f.value(act, "grad_norm", 2)[0] == pytest.approx(math.hypot(*grads), rel=1e-5)
    assert f.value("relu", "dead_frac") is not None and f.value("tanh", "saturated_frac") is not None


def test_a_blown_up_run_shows_inf_and_its_nan_is_left_out(tmp_path):
    from helpers.report import Run, ramp

    runs = [Run({"act": "relu", "seed": str(s)}, ramp(0.8), status="diverged" if s == 1 else "completed")
            for s in range(3)] + [Run({"act": "tanh", "seed": "0"}, ramp(0.7))]
    sweep = write_sweep(tmp_path, "blowup", runs, keys=["act", "seed"], target=0.5)
    for run in runs:
        blown = run.status == "diverged"
        write_diagnostics(sweep, run, diagnostics_rows({
            0: [Layer(0, 1.0, 0.0, act_std=1.0)],
            4: [Layer(0, math.inf if blown else 2.0, 0.0, act_std=math.nan if blown else 4.0)]}))
    write_diagnostics(sweep, runs[3], [])  # a header alone: no diagnostics
    diag = build_report([sweep]).diagnostics
    assert (diag.read, diag.skipped) == (3, 1) and diag.factors[0].levels == ["relu"]
    relu = diag.factors[0]
    assert relu.value("relu", "act_std", 0) == (1.0, 4.0, 2)  # the NaN left out of mean and n
    assert relu.value("relu", "grad_norm", 0)[1:] == (math.inf, 3)
    lines = invoke(sweep).stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("│ relu │"))
    assert [[c.strip() for c in line.split("│")[1:-1]] for line in lines[at:at + 2]] == [
        ["relu", "3", "act std", "1→4"], ["", "", "grad norm", "1→inf"]]
