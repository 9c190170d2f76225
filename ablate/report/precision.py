"""How precise a study is so far: the widest interval of any level's mean, or the
lowest power of any comparison with a factor's best.

`ablate sweep --seeds-until W` (or `power=P`) asks this after each round. The intervals are
the report's own (`stats.describe`: Student t over the completed runs of a
level, marginal over the other factors), so a sweep stops exactly when the
level tables of `ablate report` would show every interval within ±W.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ablate.errors import ConfigError
from ablate.report import stats
from ablate.report.load import load
from ablate.report.tables import METRICS, applicable, varying
from ablate.store.status import Status

# Time-to-target metrics have no value for runs that never reached the target,
# so their intervals cover a share of the runs only: they cannot say "precise enough".
WITHOUT_TARGET = ("accuracy", "overfitting")


@dataclass(frozen=True)
class Widest:
    factor: str
    level: str
    halfwidth: float  # NaN when some level has fewer than two completed runs: no interval yet
    n: int  # that level's completed runs

    @property
    def label(self) -> str:
        return f"{self.factor}={self.level}"


def check_metric(name: str) -> str:
    """A metric every completed run has, for --seeds-until; else a one-line error."""
    metric = METRICS[name]
    if metric.kind not in WITHOUT_TARGET:
        usable = ", ".join(n for n, m in METRICS.items() if m.kind in WITHOUT_TARGET)
        raise ConfigError(f"--metric {name} is missing for runs that never reach the target, so its intervals "
                          f"cannot decide when to stop adding seeds; choose one of {usable}")
    return name


def widest(runs: pd.DataFrame, factors: list[str], column: str, confidence: float = stats.CONFIDENCE) -> Widest:
    """The level with the widest interval of `column` among `factors` (the whole study when none varies)."""
    values = np.where(runs["status"].eq(Status.COMPLETED), runs[column].to_numpy(dtype=float), np.nan)
    runs = runs.assign(_value=values)
    found = None
    for factor in varying(runs, factors) or [None]:
        subset = applicable(runs, [factor]) if factor else runs
        codes, levels = pd.factorize(subset[factor]) if factor else (np.zeros(len(subset), int), ["all"])
        d = stats.describe(subset["_value"].to_numpy(), codes, len(levels), confidence)
        half = np.where(d["n"] >= 2, (d["high"] - d["low"]) / 2, np.inf)
        i = int(np.argmax(half))
        candidate = Widest(factor or "study", str(levels[i]), float(half[i]) if np.isfinite(half[i]) else math.nan,
                           int(d["n"][i]))
        if found is None or _wider(candidate, found):
            found = candidate
    return found


def _wider(a: Widest, b: Widest) -> bool:
    return math.isnan(a.halfwidth) and not math.isnan(b.halfwidth) or a.halfwidth > b.halfwidth


def lowest_power(runs: pd.DataFrame, factors: list[str], metric: str, margin: float) -> tuple[float, str]:
    """(the lowest power, over every level compared with its factor's best by mean, to see a
    difference of `margin` at the variance measured; where: `norm=group vs batch`).
    NaN, with the level, while some level has fewer than two completed runs."""
    from ablate.report.equivalence import compare

    done = runs[runs["status"].eq(Status.COMPLETED)]
    sign = 1.0 if METRICS[metric].higher_is_better else -1.0
    lowest = (math.inf, "study")
    for factor in varying(runs, factors):
        values = {str(k): g[METRICS[metric].column].dropna().to_numpy(float)
                  for k, g in applicable(done, [factor]).groupby(factor)}
        levels = [str(v) for v in applicable(runs, [factor])[factor].unique()]
        thin = next((lv for lv in levels if len(values.get(lv, ())) < 2), None)
        if thin is not None:
            return math.nan, f"{factor}={thin}"
        best = max(levels, key=lambda lv: sign * values[lv].mean())
        for level in (lv for lv in levels if lv != best):
            power = compare(factor, level, best, values[level], values[best], math.nan, margin).power
            if power < lowest[0]:
                lowest = (power, f"{factor}={level} vs {best}")
    return lowest if math.isfinite(lowest[0]) else (1.0, "study")


def sweep_lowest_power(path: Path, run_ids: list[str], metric: str, margin: float) -> tuple[float, str]:
    """lowest_power among the runs `run_ids` of the sweep folder `path`, as the report reads them."""
    store = load([path])
    runs = store.runs[store.runs["run_id"].isin(run_ids)]
    return lowest_power(runs, store.factors, metric, margin)


def sweep_widest(path: Path, run_ids: list[str], metric: str, confidence: float = stats.CONFIDENCE) -> Widest:
    """The widest interval among the runs `run_ids` of the sweep folder `path`, as the report reads them."""
    store = load([path])
    runs = store.runs[store.runs["run_id"].isin(run_ids)]
    return widest(runs, store.factors, METRICS[metric].column, confidence)
