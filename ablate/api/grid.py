"""What `--fraction K` and `--seeds-until W` make of a sweep: its plan, and its rounds.

`plan_sweep` turns the overrides into a plan (the grid, cut to a fraction,
with every seed a cell may get) and the folder name; `run_seed_rounds` runs
it round by round, asking the report how wide its intervals are after each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from ablate.errors import ConfigError
from ablate.sweep.plan import Plan, default_name, make_plan
from ablate.sweep.rounds import MAX_SEEDS, REPETITION, PowerGoal, SeedRounds, Width, run_rounds, seeded_plan
from ablate.sweep.tune import TuneRequest, Tuning, check_request, request_from, run_tuned, tuned_plan


def report_metric() -> str:
    """The report's default metric (`ablate report` without --metric), from where the report keeps it."""
    from ablate.report.build import DEFAULT_METRIC

    return DEFAULT_METRIC


def plan_sweep(overrides: Sequence[str], config_dir: Path | None, max_cells: int, fraction: int | None,
               seeds_until: str | float | None, max_seeds: int | None, metric: str | None,
               tune: TuneRequest = TuneRequest()) -> tuple[Plan, SeedRounds | None, str, Tuning | None]:
    """(the plan, its seed rounds or None, the folder name the same command always gets, its tuning or None)."""
    tune = request_from(tune, overrides, config_dir)
    if tune.asked or tune.budget is not None or tune.rerun_seeds is not None or tune.stall_epochs is not None:
        check_request(tune)
    if tune.asked:
        clash = [flag for flag, value in (("--fraction", fraction), ("--seeds-until", seeds_until)) if value is not None]
        if clash:
            raise ConfigError(f"--tune and {clash[0]} do not combine: a tuned sweep runs every cell, and its "
                              "reruns take --rerun-seeds N seeds; drop one of them")
        plan, tuning = tuned_plan(overrides, config_dir, max_cells, tune)
        flags = [*(f"--tune {line}" for line in tune.lines), f"--budget {tune.budget}",
                 f"--rerun-seeds {tune.rerun_seeds}", *([f"--stop-stalled {tune.stall_epochs}"] if tune.stall_epochs
                                                        else [])]
        return plan, None, default_name(tuning.factors, [*overrides, *flags]), tuning
    if seeds_until is None:
        given = [flag for flag, value in (("--max-seeds", max_seeds), ("--metric", metric)) if value is not None]
        if given:
            raise ConfigError(f"{' and '.join(given)} go{'es' if len(given) == 1 else ''} with --seeds-until W; "
                              "add it, or leave them out")
        plan, rounds = make_plan(overrides, config_dir, max_cells=max_cells), None
        name = default_name(plan.factors, overrides)
    else:
        from ablate.report.precision import check_metric

        metric = check_metric(metric or report_metric())
        plan, rounds = seeded_plan(overrides, config_dir, max_cells, seeds_until, max_seeds or MAX_SEEDS, metric)
        name = default_name([f for f in plan.factors if f != REPETITION], overrides)
    if fraction is not None:
        from ablate.sweep.fraction import fractional

        plan = fractional(plan, fraction)
    return plan, rounds, name, None


def run_seed_rounds(setup, run: Callable[[Plan], Counter], max_failures: int | None,
                    on_round: Callable[[SeedRounds, int, Width], None],
                    on_end: Callable[[SeedRounds, object], None]) -> Counter:
    """Round after round until the intervals are narrow enough; the last round's count per status.
    `on_round(rounds, seeds, widest)` after a round another follows, `on_end(rounds, outcome)` at the end."""
    from ablate.report.precision import sweep_lowest_power, sweep_widest
    from ablate.store.status import Status
    from ablate.sweep.driver import record_outcome

    rounds, sweep_dir = setup.rounds, setup.sweep_dir

    def widest(p: Plan) -> Width:
        ids = [r.run_id for r in p.runs]
        if isinstance(rounds.goal, PowerGoal):
            return Width(*sweep_lowest_power(sweep_dir, ids, rounds.metric, rounds.goal.margin))
        found = sweep_widest(sweep_dir, ids, rounds.metric)
        return Width(found.halfwidth, found.label)

    def stop(counts: Counter) -> bool:  # --max-failures stopped launching: more seeds would only fail too
        return max_failures is not None and counts.get(Status.FAILED, 0) >= max_failures

    outcome = run_rounds(setup.plan, rounds, run, widest, on_round=lambda n, w: on_round(rounds, n, w), stop=stop)
    record_outcome(sweep_dir, "seeds_until", rounds.describe(outcome.seeds, outcome.widest))
    on_end(rounds, outcome)
    return outcome.counts


def run_tuning(setup, run: Callable[[Plan], Counter], max_failures: int | None,
               on_selected: Callable[[list], None] | None) -> Counter:
    """Tune, select on val, rerun (ablate.sweep.tune); --max-failures reached while tuning skips the reruns."""
    from ablate.store.status import Status

    def stop(counts: Counter) -> bool:
        return max_failures is not None and counts.get(Status.FAILED, 0) >= max_failures

    return run_tuned(setup.plan, setup.tuning, run, setup.sweep_dir, stop,
                     on_selected or (lambda choices: None))
