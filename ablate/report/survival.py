"""Time to target as a censored time: Kaplan–Meier medians and the log-rank test.

A run that never reached the target is not left out (that would average only
the runs that got there, survivorship) and not given the budget as if it had
arrived then: it is right-censored at its last epoch (or its last second), the
time up to which it is known not to have arrived. A diverged or collapsed run
counts the same way: it is a run of the level that did not get there in time.

Per level, the Kaplan–Meier estimate of the time by which half the runs reach
the target, with its interval (Brookmeyer–Crowley, statsmodels' default
log-log transform); when more than half never reach it, the median is not
reached and the level's time is only bounded ("> 30"). Levels are compared
by the log-rank test (Mantel 1966), which uses the censored runs too.
All of it through statsmodels' SurvfuncRight and survdiff.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.linalg import LinAlgError
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from ablate.store.status import Status

# The statuses whose runs ran to an end and have a time: a run that failed
# (an error) says nothing about how fast the level trains.
TIMED = (Status.COMPLETED, Status.DIVERGED, Status.COLLAPSED)
# The time a run that never reached the target is censored at, per time column.
CENSORED_AT = {"epochs_to_target": "epochs_run", "seconds_to_target": "seconds"}


@dataclass(frozen=True)
class Median:
    value: float  # NaN when not reached: more than half the runs never got there
    low: float
    high: float  # inf when the data put no upper bound on it
    bound: float  # the largest time a run was followed for: "> bound" when not reached


def censored(reached: np.ndarray, followed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(time, event): the time to target where a run got there (event 1), else the
    time it was followed for (event 0)."""
    reached, followed = np.asarray(reached, float), np.asarray(followed, float)
    event = np.isfinite(reached)
    return np.where(event, reached, followed), event.astype(int)


def run_times(runs: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """`censored` of a runs table's time-to-target `column`; a table without the time
    each run was followed for has only its reached runs' times."""
    followed = runs[CENSORED_AT[column]] if CENSORED_AT[column] in runs else np.full(len(runs), np.nan)
    return censored(runs[column], followed)


def km_median(time: np.ndarray, event: np.ndarray, confidence: float) -> Median:
    """The Kaplan–Meier median of one level's times and its interval."""
    nothing = Median(np.nan, np.nan, np.nan, np.nan)
    if not len(time):
        return nothing
    bound = float(np.max(time))
    if not event.any():
        return Median(np.nan, np.nan, np.nan, bound)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # log(0) at a survival of 0 or 1: a bound at infinity
        fit = SurvfuncRight(time, event)
        value = float(fit.quantile(0.5))
        low, high = (float(x) for x in fit.quantile_ci(0.5, alpha=1 - confidence))
    return Median(value, low, high, bound)


def logrank(time_a: np.ndarray, event_a: np.ndarray, time_b: np.ndarray, event_b: np.ndarray) -> float:
    """The log-rank p of two levels' censored times; NaN when the test has no
    information (every run at risk reached the target at one time, say)."""
    if not (len(time_a) and len(time_b)) or not (event_a.any() or event_b.any()):
        return np.nan
    time = np.r_[time_a, time_b]
    event = np.r_[event_a, event_b]
    group = np.r_[np.zeros(len(time_a)), np.ones(len(time_b))]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(survdiff(time, event, group)[1])
    except LinAlgError:  # zero variance: no event time with runs of both levels at risk and not all arriving
        return np.nan
