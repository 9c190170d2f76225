"""`ablate sweep --seeds-until W`: add seeds in rounds until every level's interval is ±W or narrower
(or with `--seeds-until power=P`, until every comparison with a table's best has power P).

The first round runs the seeds the grid lists (`seed=0,1,2,3`), or three seeds
from the configured one (0, 1, 2 by default). Each further round gives every
cell one seed more, until each level of each factor has a 95 % interval of the
metric no wider than ±W (or power P to see ±margin), or every cell has
`--max-seeds` seeds. The rule looks at the intervals' width (or the variance)
only, never at a difference or a p-value, which is why stopping on it does not
inflate the false-positive rate (see the README's section on it).

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
class Width:
    """What a round measured: the widest interval's half-width, or the lowest power
    (NaN: a level with fewer than two runs), and where (`norm=none`)."""
    halfwidth: float
    level: str

    def within(self, width: float) -> bool:
        return not math.isnan(self.halfwidth) and self.halfwidth <= width


@dataclass(frozen=True)
class WidthGoal:
    """`--seeds-until W`: every level's 95 % interval of the metric within ±W."""
    width: float

    def reached(self, measured: Width) -> bool:
        return measured.within(self.width)

    def aim(self) -> str:
        return f"±{self.width:g}"

    def state(self, measured: Width) -> str:
        if math.isnan(measured.halfwidth):
            return f"{measured.level} has fewer than two completed runs: no interval yet"
        return f"widest 95% interval ±{measured.halfwidth:.4f} ({measured.level})"

    def record(self) -> dict:
        return {"width": self.width}


@dataclass(frozen=True)
class PowerGoal:
    """`--seeds-until power=P[,margin=D]`: every level compared with its table's best has
    power P to see a difference of D at the variance measured so far (the report's
    equivalence lines: TTestIndPower, pooled sd). The rule reads variances, never a
    difference or a p-value: an internal pilot (Wittes & Brittain 1990)."""
    power: float
    margin: float

    def reached(self, measured: Width) -> bool:
        return not math.isnan(measured.halfwidth) and measured.halfwidth >= self.power

    def aim(self) -> str:
        return f"power {self.power:.0%} at ±{self.margin:g}"

    def state(self, measured: Width) -> str:
        if math.isnan(measured.halfwidth):
            return f"{measured.level} has fewer than two completed runs: no power yet"
        return f"lowest power {measured.halfwidth:.0%} to see ±{self.margin:g} ({measured.level})"

    def record(self) -> dict:
        return {"power": self.power, "margin": self.margin}


POWER_MARGIN = 0.01  # one accuracy point, the report's --margin default


def parse_goal(given: str | float) -> WidthGoal | PowerGoal:
    """`0.01` (a half-width) or `power=0.8` / `power=0.8,margin=0.02`; else one line."""
    text = str(given).strip()
    usage = "--seeds-until takes W (a 95% interval's half-width, e.g. 0.01) or power=P[,margin=D] (e.g. power=0.8)"
    if not text.startswith("power"):
        try:
            width = float(text)
        except ValueError:
            raise ConfigError(f"--seeds-until {text!r}: {usage}") from None
        if not (width > 0 and math.isfinite(width)):
            raise ConfigError(f"--seeds-until {width} must be a number above 0 (the half-width of a 95% interval)")
        return WidthGoal(width)
    parts = dict(part.partition("=")[::2] for part in text.split(","))
    if set(parts) - {"power", "margin"}:
        raise ConfigError(f"--seeds-until {text!r}: unknown {', '.join(sorted(set(parts) - {'power', 'margin'}))}; "
                          f"{usage}")
    try:
        power, margin = float(parts["power"]), float(parts.get("margin") or POWER_MARGIN)
    except ValueError:
        raise ConfigError(f"--seeds-until {text!r}: {usage}") from None
    if not (0 < power < 1) or not (margin > 0 and math.isfinite(margin)):
        raise ConfigError(f"--seeds-until {text!r}: power must be in (0, 1) and margin above 0")
    return PowerGoal(power, margin)


@dataclass(frozen=True)
class SeedRounds:
    goal: WidthGoal | PowerGoal  # what every round is measured against
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
        out = {**self.goal.record(), "metric": self.metric, "max_seeds": self.max_seeds, "seeds_per_cell": n}
        if widest is not None:
            key = "lowest_power" if isinstance(self.goal, PowerGoal) else "widest"
            out |= {key: None if math.isnan(widest.halfwidth) else round(widest.halfwidth, 6),
                    f"{key}_level": widest.level, "reached": self.goal.reached(widest)}
        return out


def seeded_plan(overrides: Sequence[str], config_dir: Path | None, max_cells: int | None, goal: str | float,
                max_seeds: int, metric: str) -> tuple[Plan, SeedRounds]:
    """The plan with every seed a cell may get, and the rounds that cut it."""
    goal = parse_goal(goal)
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
    return plan, SeedRounds(goal, metric, seeds, len(start))


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
        if rounds.goal.reached(measured) or n == rounds.max_seeds:
            return Outcome(counts, n, measured, rounds.goal.reached(measured))
        if on_round is not None:
            on_round(n, measured)
    raise AssertionError("unreachable: the last round returns")  # pragma: no cover
