"""Numeric factors read as numbers: a curve of the metric against the value,
on a log axis when the levels span 10× or more, one line per level with --by."""

import pytest
from helpers.report import Run, ramp, write_sweep

import ablate.report.plots as plots
from ablate.report.build import build_report
from ablate.report.plots import write_plots
from ablate.report.tables import level_order

LRS = ["0.001", "0.01", "0.1", "1.0"]


@pytest.fixture
def lr_sweep(tmp_path):
    # Batch norm tolerates the large rates, the plain net does not: the paper's picture.
    peak = {"none": {"0.001": 0.80, "0.01": 0.93, "0.1": 0.90, "1.0": 0.10},
            "batch": {"0.001": 0.85, "0.01": 0.96, "0.1": 0.97, "1.0": 0.95}}
    runs = [Run({"norm": norm, "optim.lr": lr, "seed": str(s)}, ramp(peak[norm][lr] + 0.005 * s))
            for norm in peak for lr in reversed(LRS) for s in range(3)]
    return write_sweep(tmp_path, "bn", runs, keys=["norm", "optim.lr", "seed"])


@pytest.fixture
def figures(monkeypatch):
    saved = {}
    real = plots._save

    def keep(fig, out, name, title, group="plots"):
        saved[name] = fig
        return real(fig, out, name, title, group)

    monkeypatch.setattr(plots, "_save", keep)
    return saved


def test_levels_sort_as_numbers_not_as_text(lr_sweep):
    report = build_report([lr_sweep])
    assert level_order(report.runs["optim.lr"]) == LRS
    assert list(report.pivot(build_report([lr_sweep], by="norm,optim.lr").sections[0], "runs").columns) == LRS


def test_a_numeric_factor_gets_a_curve_on_a_log_axis(lr_sweep, tmp_path, figures):
    written = write_plots(build_report([lr_sweep]), tmp_path / "plots")
    assert (tmp_path / "plots" / "numeric-optim_lr.png").exists()
    assert "numeric-norm" not in figures  # norm's levels are words: no curve
    ax = figures["numeric-optim_lr"].axes[0]
    assert ax.get_xscale() == "log"  # 0.001 … 1.0 spans 1000×
    line = ax.get_lines()[0]
    assert list(line.get_xdata()) == [0.001, 0.01, 0.1, 1.0]
    assert any(p.name == "numeric-optim_lr" for p in written)


def test_by_a_group_and_a_number_draws_one_line_per_level(lr_sweep, tmp_path, figures):
    write_plots(build_report([lr_sweep], by="norm,optim.lr"), tmp_path / "out")
    ax = figures["numeric-norm-x-optim_lr"].axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["none", "batch"]
    means = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines() if not line.get_label().startswith("_")}
    assert means["batch"][-1] > 0.9 > means["none"][-1]  # at lr 1.0 only batch norm still trains


def test_a_narrow_numeric_range_stays_linear(tmp_path, figures):
    runs = [Run({"dropout.p": p, "seed": str(s)}, ramp(0.9 - float(p) / 10 + 0.01 * s))
            for p in ("0.1", "0.3", "0.5") for s in range(2)]
    write_plots(build_report([write_sweep(tmp_path, "d", runs, keys=["dropout.p", "seed"])]), tmp_path / "out")
    assert figures["numeric-dropout_p"].axes[0].get_xscale() == "linear"
