"""Factor and interaction tables on hand-built stores, checked against scipy.

The expected numbers are computed here from the fixture's own run list
(`Run.curve`), with scipy and plain Python, never by calling the report code.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from ablate.errors import ConfigError
from ablate.report.build import build_report
from ablate.report.convergence import DEFAULT_FRACTION
from ablate.report.present import cells
from ablate.report.tables import METRICS, level_table
from helpers.report import Run, holm_reference, norm_act_runs, ramp, write_sweep

KEYS = ["norm", "act", "seed"]


def reference(runs: list[Run], keys: list[str], value=lambda r: max(r.curve)) -> dict[tuple, np.ndarray]:
    """Level → values of the completed runs (diverged, failed, queued left out)."""
    out: dict[tuple, list[float]] = {}
    for r in runs:
        level = tuple(r.levels[k] for k in keys)
        out.setdefault(level, [])
        if r.status == "completed" and value(r) is not None:
            out[level].append(value(r))
    return {k: np.array(v, dtype=float) for k, v in out.items()}


def raw_pvalues(ref: dict[tuple, np.ndarray]) -> list[float]:
    """Welch p of each level against the best, best first as the table ranks them."""
    ranked = sorted(ref, key=lambda k: -ref[k].mean())
    return [sps.ttest_ind(ref[k], ref[ranked[0]], equal_var=False).pvalue for k in ranked[1:]]


def check_section(table: pd.DataFrame, keys: list[str], ref: dict[tuple, np.ndarray], metric: str = "best_val_acc",
                  family: list[float] = ()):
    """Means, intervals, ranking, differences, Welch p and Holm p of one table;
    `family`: the raw p values of the other slices a --where chose among."""
    means = {k: v.mean() for k, v in ref.items()}
    ranked = sorted(means, key=lambda k: -means[k])
    got_levels = [tuple(row[k] for k in keys) for _, row in table.iterrows()]
    assert got_levels == ranked
    best = ranked[0]
    raw_p = [sps.ttest_ind(ref[k], ref[best], equal_var=False).pvalue for k in ranked[1:]]
    holm = dict(zip(ranked[1:], holm_reference([*raw_p, *family])))
    for (_, row), level in zip(table.iterrows(), got_levels):
        x = ref[level]
        low, high = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
        assert row[f"{metric}_n"] == len(x)
        assert row[f"{metric}_mean"] == pytest.approx(x.mean(), rel=1e-12)
        assert row[f"{metric}_low"] == pytest.approx(low, rel=1e-10)
        assert row[f"{metric}_high"] == pytest.approx(high, rel=1e-10)
        assert row["rank"] == ranked.index(level) + 1
        assert row["diff"] == pytest.approx(x.mean() - ref[best].mean(), abs=1e-12)
        if level == best:
            assert pd.isna(row["p"]) and pd.isna(row["p_holm"])
        else:
            p = sps.ttest_ind(x, ref[best], equal_var=False).pvalue
            assert row["p"] == pytest.approx(p, rel=1e-9)
            assert row["p_holm"] == pytest.approx(holm[level], rel=1e-9)


@pytest.fixture()
def runs() -> list[Run]:
    return norm_act_runs()


@pytest.fixture()
def sweep(tmp_path, runs):
    return write_sweep(tmp_path, "norm-vs-act", runs, keys=KEYS, target=0.85)


def test_marginal_tables_match_scipy(sweep, runs):
    report = build_report([sweep])
    assert [s.title for s in report.sections] == ["norm", "act"]  # seed is the repetition
    tables = {s.title: s.table for s in report.sections}
    check_section(tables["norm"], ["norm"], reference(runs, ["norm"]))
    check_section(tables["act"], ["act"], reference(runs, ["act"]))
    check_section(tables["norm"], ["norm"], reference(runs, ["norm"], lambda r: r.curve[-1]), "final_val_acc")
    auc = reference(runs, ["norm"], lambda r: sum(r.curve) / len(r.curve))
    for _, row in tables["norm"].iterrows():
        assert row["auc_val_acc_mean"] == pytest.approx(auc[(row["norm"],)].mean(), rel=1e-12)


def test_status_is_counted_never_dropped(sweep, runs):
    report = build_report([sweep])
    norm = report.sections[0].table.set_index("norm")
    # none: 8 runs, seed 2 diverged under both activations; its 0.99 curve stays out of the mean.
    assert norm.loc["none", ["runs", "completed", "diverged", "failed", "pending"]].tolist() == [8, 6, 2, 0, 0]
    assert norm.loc["none", "divergence_rate"] == pytest.approx(2 / 8)
    assert norm.loc["none", "best_val_acc_mean"] < 0.85
    # group: one failed (tanh, seed 1), one queued (the last run of the grid).
    assert norm.loc["group", ["runs", "completed", "diverged", "failed", "pending"]].tolist() == [8, 6, 0, 1, 1]
    assert norm.loc["group", "divergence_rate"] == 0
    [status] = report.sweeps
    assert (status.planned, status.done, status.completed, status.diverged, status.failed) == (24, 23, 20, 2, 1)
    assert status.partial and "23 of 24" in status.describe()


def test_partial_sweep_counts_planned_runs_not_yet_listed(tmp_path, runs):
    path = write_sweep(tmp_path, "half", runs[:10], keys=KEYS, planned=24)
    [status] = build_report([path]).sweeps
    assert (status.planned, status.done) == (24, 10)
    assert "10 of 24 planned runs done (partial)" in status.describe()


def test_by_gives_the_interaction_and_its_pivot(sweep, runs):
    report = build_report([sweep], by="norm,act")
    [section] = report.sections
    assert section.keys == ["norm", "act"] and section.interaction
    ref = reference(runs, ["norm", "act"])
    check_section(section.table, ["norm", "act"], ref)
    grid = report.pivot(section, "best_val_acc_mean")
    assert list(grid.index) == ["none", "batch", "group"]  # grid order, as typed
    assert list(grid.columns) == ["relu", "tanh"]
    for (norm, act), x in ref.items():
        assert grid.loc[norm, act] == pytest.approx(x.mean(), rel=1e-12)
    assert set(report.marginals) == {"norm", "act"}  # still there, for the per-factor plots


def test_where_filters_and_pins_a_factor(sweep, runs):
    report = build_report([sweep], where=["norm=batch"])
    assert report.factors == ["act"] and report.fixed == {"norm": "batch"}
    subset = [r for r in runs if r.levels["norm"] == "batch"]
    # Holm over the family of every norm slice, not of norm=batch alone (report.family).
    others = [p for norm in ("none", "group")
              for p in raw_pvalues(reference([r for r in runs if r.levels["norm"] == norm], ["act"]))]
    check_section(report.sections[0].table, ["act"], reference(subset, ["act"]), family=others)
    two = build_report([sweep], where=["norm=batch,group", "act=relu"])
    assert sorted(two.runs["norm"].unique()) == ["batch", "group"] and set(two.runs["act"]) == {"relu"}
    assert two.factors == ["norm"]


@pytest.mark.parametrize("where, message", [
    (["nrom=batch"], "unknown --where key 'nrom'; did you mean 'norm'? choices: act, norm, seed, status, sweep"),
    (["norm=btach"], "did you mean 'batch'?"),
    (["norm"], "--where needs key=value"),
])
def test_where_mistakes_are_one_clear_line(sweep, where, message):
    with pytest.raises(ConfigError) as e:
        build_report([sweep], where=where)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_by_mistakes(sweep):
    with pytest.raises(ConfigError, match="unknown --by factor 'atc'; did you mean 'act'"):
        build_report([sweep], by="norm,atc")
    with pytest.raises(ConfigError, match="seeds are the repetitions"):
        build_report([sweep], by="seed")


def km_median(times: list[float], events: list[bool]) -> float:
    """The product-limit median (Kaplan & Meier 1958) by hand: the first time the
    survival estimate falls below 1/2; NaN when it never does."""
    s = 1.0
    for t in sorted(set(times)):
        at_risk = sum(x >= t for x in times)
        s *= 1 - sum(x == t and e for x, e in zip(times, events)) / at_risk
        if s < 0.5:
            return t
    return math.nan


def timed(runs: list[Run], keys: list[str], target: float) -> dict[tuple, tuple[list[float], list[bool]]]:
    """Level → (epochs, reached) of every run that ran to an end (completed or diverged):
    the first epoch at the target, else its last epoch, censored."""
    out: dict[tuple, tuple[list, list]] = {}
    for r in runs:
        times, events = out.setdefault(tuple(r.levels[k] for k in keys), ([], []))
        if r.status in ("completed", "diverged") and r.curve:
            hit = next((e for e, a in enumerate(r.curve, start=1) if a >= target), None)
            times.append(hit if hit is not None else len(r.curve))
            events.append(hit is not None)
    return out


def check_censored(table: pd.DataFrame, ref: dict[tuple, tuple[list, list]]) -> None:
    """Reached counts, Kaplan–Meier medians (epochs, and seconds at 2.5 s an epoch),
    and the log-rank p against the best level, from scipy."""
    for (level,), (times, events) in ref.items():
        assert table.loc[level, "epochs_to_target_n"] == sum(events)  # reached, of the runs with a time
        assert table.loc[level, "target_known"] == len(times)
        median = km_median(times, events)
        assert table.loc[level, "epochs_to_target_median"] == pytest.approx(median, nan_ok=True)
        assert table.loc[level, "seconds_to_target_median"] == pytest.approx(2.5 * median, nan_ok=True)


def logrank_reference(ref, a, b) -> float:
    def data(level):
        times, events = ref[(level,)]
        return sps.CensoredData.right_censored(times, [not e for e in events])
    return sps.logrank(data(a), data(b)).pvalue


def test_convergence_with_the_sweeps_target(sweep, runs):
    report = build_report([sweep])
    assert report.target.value == 0.85 and not report.target.rescored and "target_acc" in report.target.source
    ref = timed(runs, ["norm"], 0.85)
    table = report.sections[0].table.set_index("norm")
    check_censored(table, ref)
    # norm=none's 6 completed runs never get there; its 2 diverged runs did before they blew up:
    # all 8 are timed, 2 reached, so its median is not reached, only bounded: never averaged.
    assert table.loc["none", "completed"] == 6 and table.loc["none", "target_known"] == 8
    assert table.loc["none", "epochs_to_target_n"] == 2 and math.isnan(table.loc["none", "epochs_to_target_median"])
    assert table.loc["none", "epochs_to_target_bound"] == max(ref[("none",)][0])
    assert table.loc["group", "target_known"] == 6  # its failed and queued runs have no time


@pytest.mark.parametrize("source", ["epochs_csv", "history_files"])
def test_default_target_rescored_from_history(tmp_path, runs, source):
    from_files = source == "history_files"
    path = write_sweep(tmp_path, "no-target", runs, keys=KEYS, target=None,
                       epochs_csv=not from_files, run_dirs=from_files)
    report = build_report([path])
    best = max(max(r.curve) for r in runs if r.status == "completed")
    target = DEFAULT_FRACTION * best
    assert report.target.value == pytest.approx(target) and report.target.rescored
    assert "95%" in report.target.describe()
    table = report.sections[1].table.set_index("act")
    check_censored(table, timed(runs, ["act"], target))
    assert 0 < table["epochs_to_target_n"].sum() < table["target_known"].sum()  # some never get there


def test_censored_runs_slow_a_level_down(tmp_path):
    """Survivorship: of fast's 4 runs 2 never get there; slow's all do, later. A mean
    over the runs that got there calls fast faster (2.0 vs 5.0 epochs); the censored
    median does not: only half of fast's runs got there, so its median is not
    reached in the 8 epochs (> 8), and slow, median 5, ranks first."""
    curves = {"fast": [ramp(0.9, epochs=2, start=0.5)] * 2 + [ramp(0.6, epochs=8, start=0.3)] * 2,
              "slow": [ramp(0.9, epochs=5, start=0.3)] * 4}
    runs = [Run({"arm": arm, "seed": str(i)}, list(curve)) for arm, cs in curves.items() for i, curve in enumerate(cs)]
    for r in runs:
        r.curve += [r.curve[-1]] * (8 - len(r.curve))  # every run followed for 8 epochs
    path = write_sweep(tmp_path, "censored", runs, keys=["arm", "seed"], target=0.85)
    report = build_report([path], metric="epochs_to_target")
    table = report.sections[0].table.set_index("arm")
    ref = timed(runs, ["arm"], 0.85)
    check_censored(table, ref)
    assert table["rank"].to_dict() == {"slow": 1, "fast": 2}
    assert table.loc["fast", "p"] == pytest.approx(logrank_reference(ref, "fast", "slow"))
    assert "log-rank" in " ".join(report.header()) and "Kaplan–Meier" in " ".join(report.header())
    shown = cells(report, report.sections[0]).set_index("arm")
    assert shown.loc["slow", "epochs to target (median)"].startswith("5.0")
    assert shown.loc["fast", "epochs to target (median)"] == "> 8.0"
    assert shown.loc["fast", "reached target"] == "2/4"


def test_lower_is_better_metric_ranks_ascending(tmp_path):
    runs = [Run({"lr": lr, "seed": str(s)}, ramp(0.9, epochs=n)) for lr, n in [("0.1", 4), ("0.01", 9)]
            for s in range(3)]
    path = write_sweep(tmp_path, "lr", runs, keys=["lr", "seed"], target=0.5)
    table = build_report([path], metric="epochs_to_target").sections[0].table
    assert table["lr"].tolist() == ["0.1", "0.01"] and table["diff"].iloc[1] > 0


def test_several_sweeps_concatenate_with_the_union_of_factors(tmp_path):
    a = [Run({"norm": n, "seed": str(s)}, ramp(0.9 if n == "batch" else 0.8)) for n in ("none", "batch")
         for s in range(2)]
    b = [Run({"act": x, "seed": str(s)}, ramp(0.85 if x == "relu" else 0.75)) for x in ("relu", "tanh")
         for s in range(3)]
    pa = write_sweep(tmp_path, "a", a, keys=["norm", "seed"], overrides=["act=relu", "epochs=6"])
    pb = write_sweep(tmp_path, "b", b, keys=["act", "seed"])
    report = build_report([pa, pb, pa])  # the same sweep twice is read once
    assert report.factors == ["norm", "act"] and len(report.runs) == 10
    act = report.sections[1].table.set_index("act")
    assert act.loc["relu", "runs"] == 4 + 3  # sweep a ran with act=relu (its override)
    assert set(act.index) == {"relu", "tanh"}
    norm = report.sections[0].table.set_index("norm")
    assert norm.loc["(default)", "runs"] == 6  # sweep b never set norm
    assert [s.name for s in report.sweeps] == ["a", "b"]


def test_factors_inferred_without_sweep_yaml_and_labels_kept(tmp_path):
    runs = [Run({"norm": n, "optim.lr": lr, "seed": str(s)}, ramp(0.8 + 0.01 * s))
            for n in ("None", "batch") for lr in ("0.10", "0.01") for s in range(2)]
    path = write_sweep(tmp_path, "bare", runs, keys=["norm", "optim.lr", "seed"], sweep_yaml=False)
    report = build_report([path])
    assert report.factors == ["norm", "optim.lr"]
    assert set(report.sections[0].table["norm"]) == {"None", "batch"}  # not read as a missing value
    assert set(report.sections[1].table["optim.lr"]) == {"0.10", "0.01"}  # written as typed
    assert build_report([path], where=["optim.lr=0.1"]).fixed == {"optim.lr": "0.10"}  # same number


def test_level_table_edge_cases():
    runs = pd.DataFrame({
        "k": ["a"] * 3 + ["b"] * 3 + ["c"] + ["d"] * 2,
        "status": ["completed"] * 7 + ["failed", "running"],
    })
    values = [0.9, 0.92, 0.91, 0.8, 0.82, 0.81, 0.95, np.nan, np.nan]
    for metric in METRICS.values():
        runs[metric.column] = values
    ordered = level_table(runs, ["k"], METRICS["best_val_acc"])
    table = ordered.set_index("k")
    # c has the highest mean but a single run: no interval, not ranked, not the reference.
    assert pd.isna(table.loc["c", "rank"]) and np.isnan(table.loc["c", "best_val_acc_low"])
    assert ordered["k"].tolist() == ["a", "b", "c", "d"] and table["reference"].tolist() == [True, False, False, False]
    p = sps.ttest_ind([0.8, 0.82, 0.81], [0.9, 0.92, 0.91], equal_var=False).pvalue
    assert table.loc["b", "p_holm"] == pytest.approx(p, rel=1e-9)
    assert table[["p", "p_holm"]].drop(index="b").isna().all().all()
    assert pd.isna(table.loc["d", "rank"]) and table.loc["d", "failed"] == 1 and table.loc["d", "pending"] == 1
    assert table.loc["d", "divergence_rate"] == 0  # of its one finished run (failed), none diverged


def test_nothing_varies_but_the_seed(tmp_path):
    runs = [Run({"norm": "batch", "seed": str(s)}, ramp(0.8 + s / 100)) for s in range(3)]
    path = write_sweep(tmp_path, "seeds", runs, keys=["norm", "seed"])
    report = build_report([path])
    assert report.factors == [] and report.fixed == {"norm": "batch"}
    [section] = report.sections
    x = [max(r.curve) for r in runs]
    low, high = sps.t.interval(0.95, 2, loc=np.mean(x), scale=sps.sem(x))
    row = section.table.iloc[0]
    assert section.keys == ["sweep"] and row["sweep"] == "seeds"
    assert (row["best_val_acc_low"], row["best_val_acc_high"]) == (pytest.approx(low), pytest.approx(high))
    assert "no factor varies" in " ".join(report.header())


def test_where_on_status_keeps_the_counts_honest(sweep):
    report = build_report([sweep], where=["status=diverged,failed"])
    norm = report.sections[0].table.set_index("norm")
    assert norm["completed"].sum() == 0 and norm["diverged"].sum() == 2 and norm["failed"].sum() == 1
    assert norm["best_val_acc_n"].sum() == 0  # no completed run: no accuracy statistics
