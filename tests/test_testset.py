"""Test-set sampling error: per-image McNemar between two levels, the Wilson
interval of the test set alone, and the ceiling where seeds cannot help.

The prediction files are built by hand here, image by image, so each
discordant count is known; the expected p values and intervals come from the
textbook formulas, computed with scipy, never from `ablate.report.testset`."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from ablate.report.build import build_report
from ablate.report.testset import bootstrap_delta, majority, wilson
from ablate.store import predictions
from helpers.report import Run, write_sweep

N = 359  # digits' test images
LABELS = (np.arange(N) % 10).astype(np.uint8)


def pattern(right: np.ndarray) -> np.ndarray:
    """Predicted classes that are right exactly where `right` is True."""
    return np.where(right, LABELS, (LABELS + 1) % 10).astype(np.uint8)


def pair(only_ref: int, only_level: int, both_wrong: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(reference, level) correctness per image: `only_ref` images right for the reference alone,
    `only_level` for the level alone, `both_wrong` wrong for both, the rest right for both."""
    ref, level = np.ones(N, bool), np.ones(N, bool)
    level[:only_ref] = False
    ref[only_ref:only_ref + only_level] = False
    ref[-both_wrong:] = level[-both_wrong:] = False
    return ref, level


def sweep(tmp_path, arms: dict[str, list[np.ndarray]], files: bool = True):
    """One factor, `norm`, with a run per correctness vector; runs.csv's test_acc is each run's
    accuracy, so the files agree with the scores as a real run's do."""
    runs = [Run({"norm": level, "seed": str(seed)}, [0.05, float(right.mean())])
            for level, rights in arms.items() for seed, right in enumerate(rights)]
    path = write_sweep(tmp_path, "s", runs, keys=["norm", "seed"])
    if files:
        rights = [right for rights in arms.values() for right in rights]
        for run, right in zip(runs, rights):
            predictions.write(path / "runs" / run.run_id / predictions.FILE,
                              predictions.Predictions(LABELS, {"test_acc": pattern(right)}, {"test_acc": 2}))
    return path


def exact_mcnemar(b: int, c: int) -> float:
    """The exact test: b of b + c discordant images under Binomial(b + c, ½), two-sided."""
    return min(1.0, 2 * sps.binom.cdf(min(b, c), b + c, 0.5))


def chi2_mcnemar(b: int, c: int) -> float:
    """McNemar's χ² with Edwards' continuity correction, (|b − c| − 1)² / (b + c), one degree of freedom."""
    return float(sps.chi2.sf((abs(b - c) - 1) ** 2 / (b + c), 1))


@pytest.mark.parametrize("b, c, exact", [(3, 12, True), (30, 12, False)])
def test_mcnemar_on_a_constructed_pair_of_prediction_files(tmp_path, b, c, exact):
    ref, level = pair(b, c)
    # Three seeds per level; one seed of each strays on one image the other two agree on,
    # which the majority vote outvotes: the discordant counts stay b and c.
    stray_ref, stray_level = ref.copy(), level.copy()
    stray_ref[100] = False
    stray_level[200] = False
    report = build_report([sweep(tmp_path, {"batch": [ref, ref, stray_ref], "none": [level, stray_level, level]})])
    (comparison,) = report.testset.comparisons
    best, other = ("batch", "none") if b > c else ("none", "batch")
    assert (comparison.reference, comparison.level) == (best, other)
    got = (comparison.only_reference, comparison.only_level)
    assert got == ((b, c) if best == "batch" else (c, b))
    want = exact_mcnemar(b, c) if exact else chi2_mcnemar(b, c)
    assert comparison.exact is exact and comparison.p == pytest.approx(want, rel=1e-9)
    delta = (level.mean() * 3 - 1 / N) / 3 - (ref.mean() * 3 - 1 / N) / 3
    assert comparison.delta == pytest.approx(delta if best == "batch" else -delta, abs=1e-12)
    line = next(n for n in report.notes if n.startswith("test set, norm: " + other))
    assert f"McNemar p = {want:.3f}" in line and f"{max(b, c)} right only for {best}" in line


def test_the_majority_vote_counts_a_tie_as_wrong():
    right = np.array([[1, 1, 0, 0], [1, 0, 1, 0]], bool)  # two seeds: agree right, tie, tie, agree wrong
    assert majority(right).tolist() == [True, False, False, False]
    assert majority(right[:1]).tolist() == [True, True, False, False]


def test_wilson_interval_against_the_hand_formula():
    correct = np.zeros((2, N), bool)
    correct[0, :345] = correct[1, :349] = True  # mean accuracy 347 / 359
    z = sps.norm.ppf(0.975)
    p = 347 / N
    centre = (p + z * z / (2 * N)) / (1 + z * z / N)
    half = z / (1 + z * z / N) * math.sqrt(p * (1 - p) / N + z * z / (4 * N * N))
    interval = wilson("norm", "batch", correct)
    assert (interval.low, interval.high) == pytest.approx((centre - half, centre + half), abs=1e-12)
    assert interval.halfwidth == pytest.approx(half, abs=1e-12)
    assert f"359 test images: ±{100 * half:.1f} points at 0.95" in interval.describe()


def test_the_report_prints_the_test_set_interval_per_table(tmp_path):
    ref, level = pair(20, 2)
    report = build_report([sweep(tmp_path, {"batch": [ref, ref], "none": [level, level]})])
    z = sps.norm.ppf(0.975)
    p = ref.mean()
    half = z / (1 + z * z / N) * math.sqrt(p * (1 - p) / N + z * z / (4 * N * N))
    head = f"test set, norm: 359 test images: ±{100 * half:.1f} points at 0.95 (Wilson, at batch's {p:.4f})"
    assert sum(n.startswith(head) for n in report.notes) == 1
    assert report.testset.comparisons[0].p < 0.05 and report.testset.comparisons[0].ceiling is None


def test_at_a_ceiling_the_report_says_more_seeds_cannot_resolve_it(tmp_path):
    ref, level = pair(3, 1)  # 4 discordant images: even 4–0 would give exact p = 0.125
    report = build_report([sweep(tmp_path, {"batch": [ref] * 4, "none": [level] * 4})])
    (comparison,) = report.testset.comparisons
    assert comparison.p == pytest.approx(exact_mcnemar(3, 1)) and comparison.ceiling
    line = next(n for n in report.notes if n.startswith("test set, norm: none vs batch"))
    assert "4 images differ between the votes" in line
    assert "more seeds cannot make it a difference beyond these 359 images, more test images could" in line


def test_missing_prediction_files_are_one_line_and_no_test(tmp_path):
    ref, level = pair(20, 2)
    report = build_report([sweep(tmp_path, {"batch": [ref, ref], "none": [level, level]}, files=False)])
    lines = [n for n in report.notes if n.startswith("test set")]
    assert lines == ["test set: 1 per-image comparisons skipped: 4 of 4 completed runs have no predictions.npz "
                     "(trained before ablate kept per-image predictions, or copied without it)"]
    assert report.testset.comparisons == []


def test_a_file_from_another_epoch_is_not_used(tmp_path):
    ref, level = pair(20, 2)
    path = sweep(tmp_path, {"batch": [ref, ref], "none": [level, level]})
    stale = next((path / "runs").iterdir()) / predictions.FILE
    right = predictions.read(stale).correct("test_acc")
    right[:5] = ~right[:5]  # five images off: not the epoch its test_acc was read at
    predictions.write(stale, predictions.Predictions(LABELS, {"test_acc": pattern(right)}, {"test_acc": 1}))
    report = build_report([path])
    assert report.testset.comparisons == []
    assert any("1 runs' predictions.npz disagree with their own score" in n for n in report.notes)


def test_the_bootstrap_is_seeded_and_brackets_the_difference():
    rng = np.random.default_rng(1)
    a, b = rng.random((3, N)) < 0.97, rng.random((2, N)) < 0.93
    low, high = bootstrap_delta(a, b)
    assert (low, high) == bootstrap_delta(a, b)
    assert low < a.mean() - b.mean() < high
    same = np.repeat(a[:1], 3, axis=0)  # runs that agree on every image: nothing to resample
    assert bootstrap_delta(same, same[:2]) == (0.0, 0.0)


def test_json_carries_the_comparisons(tmp_path):
    import json

    from ablate.report.render import to_json

    ref, level = pair(20, 2)
    document = json.loads(to_json(build_report([sweep(tmp_path, {"batch": [ref, ref], "none": [level, level]})])))
    (comparison,) = document["testset"]["comparisons"]
    assert (comparison["only_reference"], comparison["only_level"]) == (20, 2)
    assert document["testset"]["intervals"][0]["images"] == N


def test_levels_scored_on_different_test_sets_are_not_paired(tmp_path):
    ref, level = pair(20, 2)
    path = sweep(tmp_path, {"batch": [ref, ref], "none": [level, level]})
    other = LABELS[::-1].copy()  # another split of the same size, as data=mnist vs data=fashion_mnist would be
    for run_dir in sorted((path / "runs").iterdir())[2:]:  # the `none` runs
        right = predictions.read(run_dir / predictions.FILE).correct("test_acc")
        guess = np.where(right, other, (other + 1) % 10).astype(np.uint8)
        predictions.write(run_dir / predictions.FILE, predictions.Predictions(other, {"test_acc": guess}, {}))
    report = build_report([path])
    assert report.testset.comparisons == []
    assert "test set, norm: none vs batch not compared image by image: their runs were scored on different " \
           "test sets" in report.notes
