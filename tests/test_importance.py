"""Factor importance: a type II ANOVA (statsmodels) with η², partial η², ω² and
Steiger's noncentral-F intervals, checked against a published example."""


import numpy as np
import pandas as pd
import pytest
from helpers.report import Run, ramp, write_sweep
from scipy.stats import ncf

from ablate.errors import ConfigError
from ablate.report.build import build_report
from ablate.report.importance import importance, partial_eta2_interval
from ablate.report.render import to_json, to_markdown

# Montgomery, Design and Analysis of Experiments, Example 5.1: battery life (hours)
# by plate material (1-3) and temperature (15, 70, 125 °F), four batteries a cell.
BATTERY = {
    ("1", "15"): [130, 155, 74, 180], ("1", "70"): [34, 40, 80, 75], ("1", "125"): [20, 70, 82, 58],
    ("2", "15"): [150, 188, 159, 126], ("2", "70"): [136, 122, 106, 115], ("2", "125"): [25, 70, 58, 45],
    ("3", "15"): [138, 110, 168, 160], ("3", "70"): [174, 120, 150, 139], ("3", "125"): [96, 104, 82, 60],
}


def battery_runs() -> pd.DataFrame:
    rows = [{"material": m, "temperature": t, "status": "completed", "life": float(y)}
            for (m, t), lives in BATTERY.items() for y in lives]
    return pd.DataFrame(rows)


def test_the_published_two_way_anova_is_reproduced():
    imp = importance(battery_runs(), ["material", "temperature"], "life", "life")
    table = imp.table.set_index("effect")
    # Montgomery's Table 5.5: F = 7.91, 28.97, 3.56; SS 10,683.72, 39,118.72, 9,613.78; error 18,230.75 (27 df).
    assert table.loc["material", "F"] == pytest.approx(7.91, abs=0.005)
    assert table.loc["temperature", "F"] == pytest.approx(28.97, abs=0.005)
    assert table.loc["material × temperature", "F"] == pytest.approx(3.56, abs=0.005)
    assert table.loc["material × temperature", "p"] == pytest.approx(0.0186, abs=5e-4)
    assert table.loc["temperature", "sum_sq"] == pytest.approx(39118.72, abs=0.01)
    assert list(table["df"]) == [2, 2, 4]
    total = 77646.97
    assert table.loc["temperature", "eta2"] == pytest.approx(39118.72 / total, abs=1e-6)
    assert imp.residual_share == pytest.approx(18230.75 / total, abs=1e-6)
    ms_e = 18230.75 / 27
    assert table.loc["material", "omega2"] == pytest.approx((10683.72 - 2 * ms_e) / (total + ms_e), abs=1e-6)
    assert table.loc["material", "partial_eta2"] == pytest.approx(10683.72 / (10683.72 + 18230.75), abs=1e-6)
    assert imp.line().startswith("temperature explains 50% of the variance in life (η²); material 14%")


def test_the_interval_inverts_the_noncentral_f():
    f, df1, df2 = 7.91, 2, 27
    low, high = partial_eta2_interval(f, df1, df2)
    to_lambda = lambda eta: eta * (df1 + df2 + 1) / (1 - eta)  # noqa: E731
    assert ncf.cdf(f, df1, df2, to_lambda(low)) == pytest.approx(0.975, abs=1e-6)
    assert ncf.cdf(f, df1, df2, to_lambda(high)) == pytest.approx(0.025, abs=1e-6)
    assert 0 < low < 10683.72 / (10683.72 + 18230.75) < high < 1
    assert partial_eta2_interval(0.1, 2, 27)[0] == 0.0  # an F this small: the interval reaches zero


def test_an_unbalanced_design_uses_type_ii_sums_of_squares():
    runs = battery_runs().drop(index=[0, 1, 13, 30]).reset_index(drop=True)
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    reference = anova_lm(ols("life ~ C(material) * C(temperature)", data=runs).fit(), typ=2)
    table = importance(runs, ["material", "temperature"], "life", "life").table.set_index("effect")
    assert table.loc["material", "F"] == pytest.approx(reference.loc["C(material)", "F"])
    assert table.loc["material × temperature", "sum_sq"] == pytest.approx(
        reference.loc["C(material):C(temperature)", "sum_sq"])


def test_what_is_left_out_is_said():
    runs = battery_runs()
    runs["groups"] = np.where(runs["material"] == "1", "", "2")  # an option of one level
    runs.loc[0, "status"] = "diverged"
    imp = importance(runs, ["material", "temperature", "groups"], "life", "life")
    assert set(imp.table["effect"]) == {"material", "temperature", "material × temperature"}
    assert any("groups left out of the importance table" in n for n in imp.notes)
    assert any("conditional on not diverging" in n and "material: 1 8%" in n for n in imp.notes)
    assert importance(runs, ["material"], "life", "life") is None


def test_one_run_per_cell_estimates_main_effects_only():
    one = battery_runs().groupby(["material", "temperature"], as_index=False).first()
    imp = importance(one, ["material", "temperature"], "life", "life")
    assert set(imp.table["effect"]) == {"material", "temperature"}
    assert any("main effects only" in n for n in imp.notes)


def test_the_report_opens_with_it(tmp_path):
    peak = {("none", "relu"): 0.90, ("none", "tanh"): 0.85, ("batch", "relu"): 0.97, ("batch", "tanh"): 0.96}
    runs = [Run({"norm": n, "act": a, "seed": str(s)}, ramp(peak[(n, a)] + 0.004 * s))
            for (n, a) in peak for s in range(3)]
    report = build_report([write_sweep(tmp_path, "s", runs, keys=["norm", "act", "seed"])])
    assert report.importance is not None and report.importance.table["effect"][0] == "norm"
    assert "## Which factor matters most" in to_markdown(report)
    assert '"importance"' in to_json(report) and "norm explains" in to_json(report)
    one = build_report([tmp_path / "s"], where=["act=relu"])
    assert one.importance is None  # one factor left: nothing to rank


def test_the_assumptions_are_checked_and_said():
    from scipy import stats as sps
    from statsmodels.formula.api import ols

    runs = battery_runs()
    imp = importance(runs, ["material", "temperature"], "life", "life")
    residuals = ols("life ~ C(material) * C(temperature)", data=runs).fit().resid
    shapiro = sps.shapiro(residuals).pvalue
    levene = sps.levene(*[g["life"] for _, g in runs.groupby(["material", "temperature"])], center="median").pvalue
    assert shapiro > 0.05 and levene > 0.05  # Montgomery's data meet both
    assert f"assumptions hold: residuals normal (Shapiro-Wilk p = {shapiro:.2g}); " \
           f"variances equal across cells (Levene p = {levene:.2g})" in imp.notes


def test_failed_assumptions_bring_a_rank_based_check():
    from scipy import stats as sps

    rng = np.random.default_rng(0)
    rows = [{"a": a, "b": b, "status": "completed", "y": rng.normal(0.9 if a == "x" else 0.8, 0.001 if b == "p" else 0.1)}
            for a in ("x", "z") for b in ("p", "q") for _ in range(10)]
    runs = pd.DataFrame(rows)
    note = next(n for n in importance(runs, ["a", "b"], "y", "y").notes if n.startswith("assumptions fail"))
    assert "variances unequal across cells (Levene" in note
    expected = sps.kruskal(*[g["y"] for _, g in runs.groupby("a")])
    assert f"a H = {expected.statistic:.1f}, p = {expected.pvalue:.2g}" in note


def test_levene_is_not_run_on_cells_of_two_runs():
    """Two runs a cell give Levene no spread of spreads: p ≈ 0 whatever the data
    (scipy: 7.9e-61 on these four cells). The report says it did not check."""
    from scipy import stats as sps

    values = {("x", "p"): (0.1, 0.2), ("x", "q"): (0.5, 0.7), ("z", "p"): (0.3, 0.31), ("z", "q"): (0.9, 0.95)}
    assert sps.levene(*values.values(), center="median").pvalue < 1e-50  # the degenerate case itself
    runs = pd.DataFrame([{"a": a, "b": b, "status": "completed", "y": y}
                         for (a, b), ys in values.items() for y in ys])
    notes = importance(runs, ["a", "b"], "y", "y").notes
    assert not any("Levene p" in n for n in notes)
    assert any(n.startswith("equal variances across cells not checked") for n in notes)


def test_a_cell_with_no_spread_is_called_a_floor_or_ceiling():
    runs = battery_runs()
    runs.loc[(runs["material"] == "1") & (runs["temperature"] == "125"), "life"] = 0.0  # every battery dead
    notes = importance(runs, ["material", "temperature"], "life", "life").notes
    assert any(n.startswith("1 cells have no spread over their seeds (1 125)") for n in notes)


def test_an_interaction_the_anova_finds_gets_its_plot(tmp_path):
    from ablate.report.plots import write_plots

    # Batch norm rescues tanh, not relu: the lines cross.
    peak = {("none", "relu"): 0.60, ("none", "tanh"): 0.90, ("batch", "relu"): 0.95, ("batch", "tanh"): 0.94}
    runs = [Run({"norm": n, "act": a, "seed": str(s)}, ramp(peak[(n, a)] + 0.005 * s))
            for (n, a) in peak for s in range(3)]
    report = build_report([write_sweep(tmp_path, "s", runs, keys=["norm", "act", "seed"])])
    assert report.importance.table.set_index("effect").loc["norm × act", "p"] < 0.05
    written = {p.name for p in write_plots(report, tmp_path / "plots")}
    assert "interaction-norm-x-act" in written and (tmp_path / "plots" / "interaction-norm-x-act.png").exists()


def test_too_few_runs_or_a_perfect_fit_never_break_the_report():
    three = pd.DataFrame({"a": ["x", "y", "x"], "b": ["p", "p", "q"], "status": "completed", "y": [0.9, 0.8, 0.7]})
    assert importance(three, ["a", "b"], "y", "y") is None  # 3 runs, 3 parameters: nothing left to test against
    exact = pd.DataFrame({"a": ["x", "x", "y", "y"] * 2, "b": ["p", "q"] * 4, "status": "completed",
                          "y": [0.9, 0.8, 0.7, 0.6] * 2})
    exact.loc[0, "y"] += 1e-12  # all but exactly additive: F near infinity
    imp = importance(exact, ["a", "b"], "y", "y")
    assert imp is not None and set(imp.table["effect"]) >= {"a", "b"}
    assert partial_eta2_interval(1e30, 1, 4) != (0.0, 0.0)  # no exception, whatever scipy manages


# -- What the cells can separate: fractions, missing cells, higher-order interactions.

def two_level_runs(cells: list[tuple[str, ...]], seeds: int, names=("a", "b", "c", "d")) -> pd.DataFrame:
    """Runs of two-level factors ('-'/'+'), y = 0.8 + 0.05·a + 0.02·b + 0.03·a·b + noise, `seeds` a cell."""
    rng = np.random.default_rng(1)
    rows = []
    for cell in cells:
        x = {n: (1 if v == "+" else -1) for n, v in zip(names, cell)}
        for _ in range(seeds):
            y = 0.8 + 0.05 * x["a"] + 0.02 * x["b"] + 0.03 * x["a"] * x["b"] + rng.normal(0, 0.01)
            rows.append({**dict(zip(names, cell)), "status": "completed", "y": y})
    return pd.DataFrame(rows)


def test_a_half_fraction_estimates_main_effects_and_names_the_aliased_pairs():
    import itertools

    half = [c for c in itertools.product("-+", repeat=4) if c.count("-") % 2 == 0]  # I = ABCD
    runs = two_level_runs(half, seeds=3)
    imp = importance(runs, ["a", "b", "c", "d"], "y", "y")
    assert set(imp.table["effect"]) == {"a", "b", "c", "d"}
    assert set(imp.aliased) == {"a × b", "a × c", "a × d", "b × c", "b × d", "c × d"}
    note = next(n for n in imp.notes if n.startswith("aliased"))
    assert "a × b = c × d" in note and "a × c = b × d" in note and "a × d = b × c" in note
    # An orthogonal two-level design: SS of a main effect = N (ȳ+ − ȳ−)² / 4.
    table = imp.table.set_index("effect")
    for f in "abcd":
        diff = runs.loc[runs[f] == "+", "y"].mean() - runs.loc[runs[f] == "-", "y"].mean()
        assert table.loc[f, "sum_sq"] == pytest.approx(len(runs) * diff ** 2 / 4)
    assert table.loc["a", "eta2"] > 0.5  # a's effect, and c × d's aliased a × b left out, not credited to c × d


def test_three_way_interactions_when_asked():
    import itertools

    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    runs = two_level_runs(list(itertools.product("-+", repeat=3)), seeds=3, names=("a", "b", "c"))
    assert len(importance(runs, ["a", "b", "c"], "y", "y").table) == 6  # mains and pairs
    three = importance(runs, ["a", "b", "c"], "y", "y", order=3).table.set_index("effect")
    reference = anova_lm(ols("y ~ C(a) * C(b) * C(c)", data=runs).fit(), typ=2)
    assert len(three) == 7
    assert three.loc["a × b × c", "F"] == pytest.approx(reference.loc["C(a):C(b):C(c)", "F"])
    assert three.loc["a", "F"] == pytest.approx(reference.loc["C(a)", "F"])


def test_an_interaction_that_needs_a_cell_with_no_run_is_left_out_and_said():
    runs = battery_runs()
    runs = runs[~((runs["material"] == "1") & (runs["temperature"] == "15"))]  # that cell never completed
    imp = importance(runs, ["material", "temperature"], "life", "life")
    assert set(imp.table["effect"]) == {"material", "temperature"} and imp.aliased == ["material × temperature"]
    note = next(n for n in imp.notes if n.startswith("aliased"))
    assert "material × temperature (with several effects together, or it needs a missing cell)" in note
    assert "1 of the 9 cells have no completed run" in note


def test_the_report_says_how_the_sweep_chose_its_runs(tmp_path):
    import yaml

    runs = [Run({"norm": n, "act": a, "seed": str(s)}, ramp(0.9 + 0.01 * s))
            for n in ("none", "batch") for a in ("relu", "tanh") for s in range(2 if n == "none" else 4)]
    sweep = write_sweep(tmp_path, "s", runs, keys=["norm", "act", "seed"])
    meta = yaml.safe_load((sweep / "sweep.yaml").read_text())
    meta["design"] = {"fraction": 2, "kind": "regular", "cells": 8, "of": 16, "resolution": 4,
                      "defining_relation": "I = ABCD", "factors": {"A": "norm", "B": "act", "C": "init", "D": "pool"}}
    meta["seeds_until"] = {"width": 0.01, "metric": "best_val_acc", "max_seeds": 10, "seeds_per_cell": 4,
                           "widest": 0.008, "widest_level": "norm=none", "reached": True}
    (sweep / "sweep.yaml").write_text(yaml.safe_dump(meta))
    notes = build_report([sweep]).notes
    assert ("s ran 1/2 of its grid's cells (8 of 16): a resolution IV fractional factorial, "
            "I = ABCD with A=norm, B=act, C=init, D=pool") in notes
    assert ("s: seeds added until every level's 95% interval of best_val_acc was within ±0.01: "
            "reached with 4 seeds per cell") in notes
    assert "seeds per cell differ: 2 to 4; 2 in norm=none act=relu, norm=none act=tanh" in notes


def test_report_interactions_option(cli, tmp_path):
    import itertools

    runs = [Run({"a": a, "b": b, "c": c, "seed": str(s)}, ramp(0.8 + 0.05 * (a == "x") * (b == "p") * (c == "u")
                                                               + 0.003 * s))
            for a, b, c in itertools.product("xy", "pq", "uv") for s in range(3)]
    sweep = write_sweep(tmp_path, "s", runs, keys=["a", "b", "c", "seed"])
    three = cli("report", str(sweep), "--format", "md", "--interactions", "3")
    assert three.exit_code == 0, three.output
    assert "| a × b × c |" in three.output
    assert "| a × b × c |" not in cli("report", str(sweep), "--format", "md").output
    assert cli("report", str(sweep), "--interactions", "0").exit_code == 2


def test_bootstrap_intervals_are_resampled_within_cells_and_refit_by_statsmodels():
    """Each resample redraws the lives within each (material, temperature) cell;
    its η² must be statsmodels' own, fitted from scratch on that resample, and
    the interval their percentiles. The resamples are seeded: the same report
    gives the same interval."""
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    from ablate.report.importance import BOOTSTRAP_SEED

    runs, resamples = battery_runs(), 40
    imp = importance(runs, ["material", "temperature"], "life", "life", bootstrap=resamples)
    table = imp.table.set_index("effect")

    rng = np.random.default_rng(BOOTSTRAP_SEED)
    cells = list(runs.groupby(["material", "temperature"], sort=False).indices.values())
    life = runs["life"].to_numpy()
    names = {"C(material)": "material", "C(temperature)": "temperature",
             "C(material):C(temperature)": "material × temperature"}
    draws = {name: [] for name in names.values()}
    for _ in range(resamples):
        y = life.copy()
        for rows in cells:
            y[rows] = life[rng.choice(rows, size=len(rows))]
        frame = runs.assign(life=y)
        anova = anova_lm(ols("life ~ C(material) * C(temperature)", data=frame).fit(), typ=2)
        total = ((y - y.mean()) ** 2).sum()
        for term, name in names.items():
            draws[name].append(anova.loc[term, "sum_sq"] / total)
    for name, values in draws.items():
        assert table.loc[name, "eta2_low"] == pytest.approx(np.quantile(values, 0.025), rel=1e-9)
        assert table.loc[name, "eta2_high"] == pytest.approx(np.quantile(values, 0.975), rel=1e-9)
    assert table.loc["temperature", "eta2_low"] < table.loc["temperature", "eta2"] < table.loc["temperature", "eta2_high"]
    again = importance(runs, ["material", "temperature"], "life", "life", bootstrap=resamples).table
    assert again["eta2_low"].tolist() == imp.table["eta2_low"].tolist()
    assert any(n.startswith(f"η² intervals: percentile bootstrap, {resamples} resamples") for n in imp.notes)
    assert imp.line().startswith(f"temperature explains 50% [{table.loc['temperature', 'eta2_low']:.0%}, ")


def test_bootstrap_column_only_when_asked(tmp_path):
    from ablate.report.present import BOOTSTRAP_COLUMN

    path = write_sweep(tmp_path, "s", [Run({"a": a, "b": b, "seed": str(s)}, ramp(0.5 + 0.1 * (a == "x") + 0.01 * s))
                                       for a in ("x", "y") for b in ("p", "q") for s in range(3)],
                       keys=["a", "b", "seed"])
    assert BOOTSTRAP_COLUMN not in to_markdown(build_report([path]))
    assert BOOTSTRAP_COLUMN in to_markdown(build_report([path], bootstrap=100))
    with pytest.raises(ConfigError, match=r"--bootstrap 5: too few resamples .* at least 100"):
        build_report([path], bootstrap=5)


def test_no_bootstrap_interval_from_cells_of_one_run():
    """A one-run cell resamples to itself: 89 % [89 %, 89 %] would claim certainty."""
    runs = battery_runs().groupby(["material", "temperature"], as_index=False).head(1)
    imp = importance(runs.assign(status="completed"), ["material", "temperature"], "life", "life", order=1,
                     bootstrap=200)
    assert imp.bootstrap == 0 and "eta2_low" not in imp.table
    assert any(n.startswith("η² bootstrap intervals not computed: 9 cells have a single run") for n in imp.notes)
