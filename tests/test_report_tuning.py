"""The report of a tuned sweep: expected max against budget (Dodge et al. 2019), chosen settings, edge notes."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from ablate.report.tuning import Tuning, TunedCell, edge_notes, expected_max, expected_max_band, tuning_runs


def brute_force_expected_max(scores, k: int) -> float:
    """From scratch: every ordered k-tuple of draws with replacement is equally likely; average its max."""
    return float(np.mean([max(t) for t in itertools.product(scores, repeat=k)]))


@pytest.mark.parametrize("scores", [[0.5], [0.2, 0.9], [0.61, 0.58, 0.93, 0.12], [0.3, 0.3, 0.7, 0.5, 0.7]])
def test_expected_max_matches_the_order_statistics_by_enumeration(scores):
    curve = expected_max(scores)
    assert len(curve) == len(scores)
    for k in range(1, len(scores) + 1):
        assert curve[k - 1] == pytest.approx(brute_force_expected_max(scores, k), abs=1e-12)


def test_expected_max_closed_form_and_limits():
    v = np.array([0.1, 0.4, 0.8])
    curve = expected_max(v, k_max=50)
    assert curve[0] == pytest.approx(v.mean())  # one draw: the mean
    # two draws of three values: P(max = v(i)) = (i² − (i−1)²)/9
    assert curve[1] == pytest.approx((1 * 0.1 + 3 * 0.4 + 5 * 0.8) / 9)
    assert np.all(np.diff(curve) >= 0) and curve[-1] == pytest.approx(0.8, abs=1e-6)  # rises to the max


def test_bootstrap_band_brackets_the_curve_and_is_seeded():
    rng = np.random.default_rng(1)
    v = rng.uniform(0.5, 0.9, 8)
    low, high = expected_max_band(v)
    curve = expected_max(v)
    assert np.all(low <= curve + 1e-12) and np.all(curve <= high + 1e-12) and np.all(high - low > 0)
    again = expected_max_band(v)
    assert np.array_equal(low, again[0]) and np.array_equal(high, again[1])
    assert np.isnan(expected_max_band([0.5])[0]).all()  # one run: no band


def _cell(chosen):
    empty = np.array([])
    return TunedCell({"norm": "none"}, chosen, 0.9, 5, {"completed": 5}, empty, empty, empty)


def test_a_chosen_value_at_the_end_of_a_numeric_grid_gets_a_note():
    grid = {"optim.lr": ["0.01", "0.03", "0.1", "0.3", "1.0"], "act": ["relu", "tanh", "gelu"]}
    for value, edge in (("1.0", "largest"), ("0.01", "smallest")):
        t = Tuning("s", grid, 5, [1, 2, 3], [_cell({"optim.lr": value, "act": "relu"})])
        [note] = edge_notes(t)
        assert f"optim.lr={value} is the {edge}" in note and "norm=none" in note
    assert edge_notes(Tuning("s", grid, 5, [1], [_cell({"optim.lr": "0.1", "act": "gelu"})])) == []


def test_tuning_runs_leave_the_tables():
    runs = pd.DataFrame({"run_id": list("abcd"), "role": ["tune", "tune", "rerun", "rerun"]})
    compared, tuning = tuning_runs(runs)
    assert list(compared["run_id"]) == ["c", "d"] and list(tuning["run_id"]) == ["a", "b"]
    untuned = pd.DataFrame({"run_id": ["a"]})
    assert tuning_runs(untuned)[0] is untuned


def test_a_tie_at_every_setting_is_no_edge():
    flat = np.array([0.1, 0.1, 0.1])
    cell = TunedCell({"act": "sigmoid"}, {"optim.lr": "0.01"}, 0.1, 3, {"completed": 3}, flat, flat, flat)
    assert edge_notes(Tuning("s", {"optim.lr": ["0.01", "0.1", "1"]}, 3, [1], [cell])) == []


def test_a_rising_curve_is_noted_only_where_the_budget_sampled_the_grid():
    from ablate.report.tuning import rising_notes

    curve = np.array([0.5, 0.7, 0.8])
    sampled = TunedCell({"norm": "none"}, {"optim.lr": "0.1"}, 0.8, 3, {}, curve, curve, curve, space=9)
    whole = TunedCell({"norm": "batch"}, {"optim.lr": "0.1"}, 0.8, 3, {}, curve, curve, curve, space=3)
    [note] = rising_notes(Tuning("s", {"optim.lr": list("123456789")}, 3, [1], [sampled, whole]))
    assert note.startswith("norm=none") and "k=3" in note
