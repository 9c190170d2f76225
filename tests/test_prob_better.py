"""P(A>B), the probability that a run of one level beats a run of another (Bouthillier et al. 2021),
with its bootstrap interval: beside each Welch p in the tables, in Study.report() and in --format md."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import ablate
from ablate.report import stats
from ablate.report.build import build_report
from ablate.report.render import to_markdown
from helpers.report import Run, write_sweep


def brute(a, b) -> float:
    pairs = list(itertools.product(a, b))
    return sum((x > y) + 0.5 * (x == y) for x, y in pairs) / len(pairs)


@pytest.mark.parametrize("a, b", [([0.9, 0.8, 0.85], [0.7, 0.88, 0.8]), ([1, 2], [3, 4, 5]), ([0.5, 0.5], [0.5])])
def test_point_is_the_share_of_pairs_won_ties_half(a, b):
    p, low, high = stats.prob_better(a, b)
    assert p == pytest.approx(brute(a, b))
    if np.isfinite(low):
        assert low <= p <= high


def test_interval_is_seeded_narrows_with_runs_and_is_symmetric():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.9, 0.01, 5), rng.normal(0.89, 0.01, 5)
    first, again = stats.prob_better(a, b), stats.prob_better(a, b)
    assert first == again
    wide = first[2] - first[1]
    big = stats.prob_better(rng.normal(0.9, 0.01, 60), rng.normal(0.89, 0.01, 60))
    assert big[2] - big[1] < wide
    flipped = stats.prob_better(b, a)
    assert flipped[0] == pytest.approx(1 - first[0])
    assert np.isnan(stats.prob_better([0.9], [0.8])[1])  # one run a side: no interval
    assert np.isnan(stats.prob_better([], [0.8])[0])


def _sweep(tmp_path):
    runs = [Run({"norm": n, "seed": str(s)}, [0.5, acc]) for n, accs in
            {"batch": [0.91, 0.93, 0.92, 0.94], "none": [0.90, 0.92, 0.89, 0.915]}.items()
            for s, acc in enumerate(accs)]
    return write_sweep(tmp_path, "s", runs, keys=["norm", "seed"])


def test_tables_api_and_markdown_carry_it(tmp_path):
    path = _sweep(tmp_path)
    report = build_report([path])
    table = report.sections[0].table.set_index("norm")
    batch = [0.91, 0.93, 0.92, 0.94]
    none = [0.90, 0.92, 0.89, 0.915]
    assert table.loc["none", "p_better"] == pytest.approx(brute(none, batch))
    assert np.isnan(table.loc["batch", "p_better"])  # the reference is not compared with itself
    assert table.loc["none", "p_better_low"] <= table.loc["none", "p_better"] <= table.loc["none", "p_better_high"]
    shown = ablate.load(path).report()
    assert "P(>ref)" in shown.shown["norm"].columns
    assert "p_better" in shown.tables["norm"].columns
    md = to_markdown(report)
    assert "P(>ref)" in md and f"{brute(none, batch):.2f} [" in md
