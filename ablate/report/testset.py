"""Test-set sampling error: what one fixed test set lets a comparison say.

Seeds measure how much a level's score moves from run to run; they say nothing
of the test set itself, which is one sample of images. Two levels scored on the
same n images can differ by less than that sample can tell apart, however many
seeds there are. For each level compared with its table's reference (the best
level, or --versus's), from each completed run's predictions.npz
(`ablate.store.predictions`):

- McNemar's test on the two levels' per-image majority votes (McNemar 1947;
  statsmodels' `mcnemar`): an image counts as right for a level when more than
  half of its runs got it right, so a tie (2 seeds, one right) counts as wrong,
  the same rule for both levels. b: images only the reference gets right, c:
  only the level. Exact (binomial) when b + c < EXACT_BELOW, else χ² with
  continuity correction, as statsmodels and Edwards (1948) advise.
- Δ's bootstrap interval over images and runs: both resampled with replacement
  (images shared by the two levels, runs within each), RESAMPLES times, seeded
  with SEED, so the interval carries both sources of error.
- The interval the test set alone implies: Wilson's 95 % binomial interval
  (Wilson 1927; statsmodels' `proportion_confint`) of the reference's accuracy
  on n images, printed as its half-width in accuracy points.

At a ceiling, the line says more seeds cannot resolve the difference: McNemar
finds none and either so few images differ that even all of them going one way
could not reach ALPHA, or |Δ| is under one image or within the test set's
interval. More test images could.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from ablate.report.load import FOLDER
from ablate.store import predictions
from ablate.store.status import Status
from ablate.store.summary import SCORED_BY

ALPHA = 0.05
EXACT_BELOW = 25  # discordant images under which McNemar's χ² approximation is poor (statsmodels' docs)
RESAMPLES = 1000
SEED = 0
CHUNK = 100  # resamples drawn at once: 100 × 10,000 images of float64 is 8 MB


def min_discordant(alpha: float = ALPHA) -> int:
    """The fewest discordant images for which the exact test can reach `alpha` at all:
    with all m one way, its two-sided p is 2 · 0.5^m (6 at 0.05)."""
    return math.ceil(math.log2(2 / alpha) + 1e-12)


@dataclass(frozen=True)
class TestSetInterval:
    """Wilson's interval of one level's accuracy on the test set's n images."""

    factor: str
    level: str
    accuracy: float  # mean over its runs, from their files
    images: int
    low: float
    high: float
    confidence: float

    @property
    def halfwidth(self) -> float:
        return (self.high - self.low) / 2

    def describe(self) -> str:
        return (f"test set, {self.factor}: {self.images} test images: ±{100 * self.halfwidth:.1f} points at "
                f"{self.confidence:g} (Wilson, at {self.level}'s {self.accuracy:.4f}): the uncertainty the test "
                "set alone puts on an accuracy, however many seeds")


@dataclass(frozen=True)
class TestSetComparison:
    factor: str
    level: str
    reference: str
    images: int
    runs: int  # the level's runs with usable predictions
    reference_runs: int
    only_reference: int  # b: images the reference's majority vote gets right and the level's wrong
    only_level: int  # c: the other way round
    p: float  # McNemar's two-sided p
    exact: bool
    delta: float  # the level's mean accuracy − the reference's, over runs and images
    low: float  # bootstrap interval of delta
    high: float
    halfwidth: float  # the reference's Wilson half-width
    confidence: float
    ceiling: str | None  # why more seeds cannot resolve the difference; None when they might

    def describe(self) -> str:
        test = "exact" if self.exact else "χ², continuity-corrected"
        text = (f"test set, {self.factor}: {self.level} vs {self.reference}: McNemar p {_p(self.p)} ({test}) on "
                f"the majority vote of {self.runs} and {self.reference_runs} runs over {self.images} images: "
                f"{self.only_reference} right only for {self.reference}, {self.only_level} only for {self.level}; "
                f"Δ {self.delta:+.4f}, {self.confidence:.0%} bootstrap over images and runs "
                f"[{self.low:+.4f}, {self.high:+.4f}] (seed {SEED})")
        if self.ceiling:
            text += (f"; at the test set's ceiling ({self.ceiling}): more seeds cannot make it a difference beyond "
                     f"these {self.images} images, more test images could")
        return text


def _p(p: float) -> str:
    return "= —" if not math.isfinite(p) else "< 0.001" if p < 0.001 else f"= {p:.3f}"


@dataclass
class TestSet:
    intervals: list[TestSetInterval] = field(default_factory=list)
    comparisons: list[TestSetComparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was skipped, and why

    def lines(self) -> list[str]:
        """The report's lines: the method once, then per table its interval and comparisons, then the notes."""
        lines = []
        if self.comparisons:
            lines.append(f"test set: McNemar on per-image majority votes (an image is right for a level when more "
                         f"than half its runs got it right; a tie counts as wrong), exact below {EXACT_BELOW} "
                         f"differing images; Δ's interval: {RESAMPLES} bootstrap resamples of images and of runs "
                         f"(seed {SEED})")
        for interval in self.intervals:
            lines.append(interval.describe())
            lines += [c.describe() for c in self.comparisons if c.factor == interval.factor]
        return lines + self.notes

    def to_json(self) -> dict:
        return {"intervals": [asdict(i) | {"halfwidth": i.halfwidth} for i in self.intervals],
                "comparisons": [asdict(c) for c in self.comparisons], "notes": self.notes,
                "method": {"vote": "strict majority of runs, tie counts as wrong", "exact_below": EXACT_BELOW,
                           "resamples": RESAMPLES, "seed": SEED}}


class _Reader:
    """Each completed run's per-image correctness for `metric`, read once; None when the
    run has no usable file: missing, damaged, or not agreeing with its own score."""

    def __init__(self, sweep_paths: list[Path], metric: str, fallback: str | None) -> None:
        self.paths, self.metric, self.fallback = sweep_paths, metric, fallback
        self.cache: dict[tuple[int, str], tuple[np.ndarray, np.ndarray] | None] = {}
        self.missing: set[tuple[int, str]] = set()
        self.disagree: set[tuple[int, str]] = set()

    def __call__(self, folder: int, run_id: str, score: float) -> tuple[np.ndarray, np.ndarray] | None:
        key = (folder, run_id)
        if key not in self.cache:
            self.cache[key] = self._read(key, score)
        return self.cache[key]

    def _read(self, key: tuple[int, str], score: float) -> tuple[np.ndarray, np.ndarray] | None:
        p = predictions.read(self.paths[key[0]] / "runs" / key[1] / predictions.FILE)
        correct = None if p is None else p.correct(self.metric)
        if correct is None and p is not None and self.fallback:
            correct = p.correct(self.fallback)  # eval.tta=none: its TTA score is its plain one (report.load)
        if correct is None:
            self.missing.add(key)
            return None
        # Half an image of slack for the float the summary holds: a file from another epoch differs by ≥ 1.
        if not (math.isfinite(score) and abs(float(correct.mean()) - score) <= 0.5 / len(correct)):
            self.disagree.add(key)
            return None
        return p.labels, correct


def testset(marginals: dict[str, pd.DataFrame], runs: pd.DataFrame, sweep_paths: list[Path], metric: str,
            fallback: str | None = None, confidence: float = 0.95) -> TestSet:
    """Per factor table: the reference's test-set interval and each level's per-image comparison with it.
    `sweep_paths`: the store's folders, indexed by the runs' FOLDER column. Nothing for a metric that
    is not a test score (store.summary.SCORED_BY)."""
    result = TestSet()
    if metric not in SCORED_BY or FOLDER not in runs:
        return result
    read = _Reader(sweep_paths, metric, fallback)
    completed = runs[runs["status"] == Status.COMPLETED]
    skipped = 0
    for factor, table in marginals.items():
        if factor not in runs or "reference" not in table or len(table) < 2:
            continue
        reference = str(table.loc[table["reference"], factor].iloc[0]) if table["reference"].any() \
            else str(table[factor].iloc[0])
        # Levels without completed runs are absent: their tables say so, there is nothing to compare.
        arms = {str(k): _arm(g, metric, read) for k, g in completed.groupby(factor)}
        others = [str(v) for v in table[factor] if str(v) != reference and str(v) in arms]
        if reference not in arms or arms[reference] is None:
            skipped += len(others) if reference in arms else 0
            continue
        labels, ref_correct = arms[reference]
        shown = False
        for level in others:
            arm = arms[level]
            if arm is None:
                skipped += 1
            elif not np.array_equal(arm[0], labels):
                result.notes.append(f"test set, {factor}: {level} vs {reference} not compared image by image: "
                                    "their runs were scored on different test sets")
            else:
                result.comparisons.append(compare(factor, level, reference, arm[1], ref_correct, confidence))
                shown = True
        if shown:
            result.intervals.append(wilson(factor, reference, ref_correct, confidence))
    result.notes += _skipped_note(skipped, read, len(completed))
    return result


def _arm(group: pd.DataFrame, metric: str, read: _Reader) -> tuple[np.ndarray, np.ndarray] | None:
    """(labels, (runs, images) correctness) of a level's completed runs; None unless every one
    has a usable file on one test set (a vote over some of its seeds would be another level's)."""
    got = [read(int(f), str(r), float(s)) for f, r, s in zip(group[FOLDER], group["run_id"], group[metric])]
    if not got or any(g is None for g in got) or any(not np.array_equal(g[0], got[0][0]) for g in got):
        return None
    return got[0][0], np.stack([g[1] for g in got])


def _skipped_note(skipped: int, read: _Reader, completed: int) -> list[str]:
    if not skipped:
        return []
    why = []
    if read.missing:
        why.append(f"{len(read.missing)} of {completed} completed runs have no {predictions.FILE} "
                   "(trained before ablate kept per-image predictions, or copied without it)")
    if read.disagree:
        why.append(f"{len(read.disagree)} runs' {predictions.FILE} disagree with their own score")
    reason = "; ".join(why) or "a level has runs on different test sets"
    return [f"test set: {skipped} per-image comparisons skipped: {reason}"]


def wilson(factor: str, level: str, correct: np.ndarray, confidence: float = 0.95) -> TestSetInterval:
    """`correct`: (runs, images). The interval of the runs' mean accuracy as if it were one
    proportion of the n images: the spread the test set alone puts on it."""
    n = correct.shape[-1]
    accuracy = float(correct.mean())
    low, high = proportion_confint(accuracy * n, n, alpha=1 - confidence, method="wilson")
    return TestSetInterval(factor, level, accuracy, n, float(low), float(high), confidence)


def compare(factor: str, level: str, reference: str, a: np.ndarray, b: np.ndarray,
            confidence: float = 0.95) -> TestSetComparison:
    """`a`, `b`: (runs, images) bool correctness of the level and of the reference."""
    vote_a, vote_b = majority(a), majority(b)
    only_ref = int((vote_b & ~vote_a).sum())
    only_level = int((vote_a & ~vote_b).sum())
    p, exact = mcnemar_p(only_ref, only_level)
    delta = float(a.mean() - b.mean())
    low, high = bootstrap_delta(a, b, confidence)
    half = wilson(factor, reference, b, confidence).halfwidth
    images = a.shape[1]
    ceiling = None
    if p >= ALPHA:
        if only_ref + only_level < min_discordant(ALPHA):
            ceiling = (f"{only_ref + only_level} images differ between the votes, too few for p < {ALPHA:g} "
                       "even if all went one way")
        elif abs(delta) < 1 / images:
            ceiling = "|Δ| is less than one test image"
        elif abs(delta) < half:
            ceiling = f"|Δ| is within the test set's ±{100 * half:.1f} points"
    return TestSetComparison(factor, level, reference, images, a.shape[0], b.shape[0], only_ref, only_level, p,
                             exact, delta, low, high, half, confidence, ceiling)


def majority(correct: np.ndarray) -> np.ndarray:
    """(images,) bool: right in more than half of the runs; a tie counts as wrong."""
    return 2 * correct.sum(axis=0) > correct.shape[0]


def mcnemar_p(only_ref: int, only_level: int) -> tuple[float, bool]:
    """(two-sided p, exact?) of McNemar's test on the discordant counts; 1.0 when no image differs."""
    if only_ref + only_level == 0:
        return 1.0, True
    exact = only_ref + only_level < EXACT_BELOW
    # The concordant cells do not enter the statistic; statsmodels wants the full 2×2 table.
    result = mcnemar([[0, only_ref], [only_level, 0]], exact=exact, correction=True)
    return float(result.pvalue), exact


def bootstrap_delta(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of mean(a) − mean(b) with images resampled (shared by both) and
    each side's runs resampled, as multinomial weights: RESAMPLES draws from SEED."""
    rng = np.random.default_rng(SEED)
    (ka, n), kb = a.shape, b.shape[0]
    a, b = a.astype(float), b.astype(float)
    deltas = []
    for start in range(0, RESAMPLES, CHUNK):
        m = min(CHUNK, RESAMPLES - start)
        runs_a = rng.multinomial(ka, np.full(ka, 1 / ka), size=m) / ka
        runs_b = rng.multinomial(kb, np.full(kb, 1 / kb), size=m) / kb
        images = rng.multinomial(n, np.full(n, 1 / n), size=m) / n
        deltas.append(((runs_a @ a - runs_b @ b) * images).sum(axis=1))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(np.concatenate(deltas), [tail, 100 - tail])
    return float(low), float(high)
