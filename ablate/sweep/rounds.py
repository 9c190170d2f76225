"""`ablate sweep --seeds-until W`: add seeds in rounds until every level's interval is ±W or narrower.

The first round runs the seeds the grid lists (`seed=0,1,2,3`), or three seeds
from the configured one (0, 1, 2 by default). Each further round gives every
cell one seed more, until each level of each factor has a 95 % interval of the
metric no wider than ±W, or every cell has `--max-seeds` seeds. The rule looks
at the intervals' width only, never at a p-value, which is why stopping on it
does not inflate the false-positive rate (see the README's section on it).

Every seed a cell may get is planned at once, so each cell is composed and
checked before anything runs; a round is the plan cut to its first n seeds.
Runs are the same runs as in any sweep: re-running the command skips the
finished ones and so replays the rounds up to where it stopped, and goes on.
How wide the intervals are is asked of a callable (the CLI gives the report's).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ablate.errors import ConfigError
from ablate.sweep.plan import Plan, make_plan

REPETITION = "seed"
FIRST_SEEDS = 3  # seeds of the first round when the grid lists none: the fewest that give an interval with spread
MAX_SEEDS = 10  # --max-seeds' default


@dataclass(frozen=True)
class SeedRounds:
    width: float  # W: the half-width every level's interval must reach
    metric: str  # the runs.csv column the intervals are of
    seeds: tuple[int, ...]  # every seed a cell may get, in the order rounds add them
    start: int  # seeds of the first round

    @property
    def max_seeds(self) -> int:
        return len(self.seeds)

    def cut(self, plan: Plan, n: int) -> Plan:
        """The plan of the round whose cells have their first `n` seeds."""
        kept = set(self.seeds[:n])
        grid = {**plan.grid, REPETITION: [str(s) for s in self.seeds[:n]]}
        record = {**plan.record, "seeds_until": self.describe(n)}
        return dataclasses.replace(plan, runs=[p for p in plan.runs if p.config.seed in kept], grid=grid,
                                   record=record)

    def describe(self, n: int, widest: Width | None = None) -> dict:
        out = {"width": self.width, "metric": self.metric, "max_seeds": self.max_seeds, "seeds_per_cell": n}
        if widest is not None:
            out |= {"widest": None if math.isnan(widest.halfwidth) else round(widest.halfwidth, 6),
                    "widest_level": widest.level, "reached": widest.within(self.width)}
        return out


@dataclass(frozen=True)
class Width:
    """The widest interval of a round: its half-width (NaN: a level with fewer than two runs) and its level."""
    halfwidth: float
    level: str  # `norm=none`

    def within(self, width: float) -> bool:
        return not math.isnan(self.halfwidth) and self.halfwidth <= width


def seeded_plan(overrides: Sequence[str], config_dir: Path | None, max_cells: int | None, width: float,
                max_seeds: int, metric: str) -> tuple[Plan, SeedRounds]:
    """The plan with every seed a cell may get, and the rounds that cut it."""
    if not (width > 0 and math.isfinite(width)):
        raise ConfigError(f"--seeds-until {width} must be a number above 0 (the half-width of a 95% interval)")
    base = make_plan(overrides, config_dir, max_cells)
    if REPETITION in base.grid:
        start = [int(s) for s in base.grid[REPETITION]]
    else:
        first = base.runs[0].config.seed if base.runs else 0
        start = list(range(first, first + FIRST_SEEDS))
    if max_seeds < max(len(start), 2):
        raise ConfigError(f"--max-seeds {max_seeds} is fewer than the {len(start)} seeds the first round runs; "
                          f"give at least {max(len(start), 2)}")
    more = [s for s in range(max(start) + 1, max(start) + 1 + max_seeds) if s not in start]
    seeds = tuple(start + more[:max_seeds - len(start)])
    lines = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != REPETITION]
    plan = make_plan([*lines, f"{REPETITION}={','.join(map(str, seeds))}"], config_dir, max_cells)
    return plan, SeedRounds(width, metric, seeds, len(start))


@dataclass(frozen=True)
class Outcome:
    counts: Counter  # per status, of the last round's runs
    seeds: int  # per cell, in the last round
    widest: Width | None  # of the last round; None when it was not measured (stopped by failures)
    reached: bool


def run_rounds(plan: Plan, rounds: SeedRounds, run: Callable[[Plan], Counter], widest: Callable[[Plan], Width],
               on_round: Callable[[int, Width], None] | None = None,
               stop: Callable[[Counter], bool] | None = None) -> Outcome:
    """Run round after round (`run` runs one round's plan, skipping what is done) until the widest interval
    (`widest` of the round's plan) is within ±width, the cells have every seed, or `stop` says so;
    `on_round` hears of each round that is followed by another."""
    for n in range(rounds.start, rounds.max_seeds + 1):
        this = rounds.cut(plan, n)
        counts = run(this)
        if stop is not None and stop(counts):
            return Outcome(counts, n, None, False)
        measured = widest(this)
        if measured.within(rounds.width) or n == rounds.max_seeds:
            return Outcome(counts, n, measured, measured.within(rounds.width))
        if on_round is not None:
            on_round(n, measured)
    raise AssertionError("unreachable: the last round returns")  # pragma: no cover
