"""`ablate sweep --dry-run`: the plan as a table, with what is already done."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ablate.sweep.plan import Plan
from ablate.store.lock import current_status
from ablate.store.status import FINISHED
from ablate.sweep.tune import SELECT_ON


# Above this many runs the plan prints as plain aligned text: rich's table
# layout costs ~0.8 ms a row (8 s for a 10,000-cell grid), plain text ~3 µs.
RICH_ROWS = 500


def print_plan(console: Console, plan: Plan, sweep_dir: Path, rounds=None, tuning=None) -> None:
    """The plan's runs; with --seeds-until (`rounds`), its first round's, then what the rounds add;
    with --tune (`tuning`), the tuning runs, then the reruns to come."""
    if tuning is not None:
        print_tuned_plan(console, plan, tuning, sweep_dir)
    elif rounds is not None:
        _print_runs(console, rounds.cut(plan, rounds.start), sweep_dir)
        print_rounds(console, rounds)
    else:
        _print_runs(console, plan, sweep_dir)


def _print_runs(console: Console, plan: Plan, sweep_dir: Path) -> None:
    header = ["#", "run id", *plan.factors, "status"]
    rows = []
    statuses = Counter()
    for i, p in enumerate(plan.runs, 1):
        status = current_status(sweep_dir / "runs" / p.run_id) or "new"
        statuses[status] += 1
        rows.append([str(i), p.run_id, *[p.factors[f] or "—" for f in plan.factors], status])
    if len(rows) > RICH_ROWS:
        widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
        lines = ["  ".join(cell.rjust(w) if c == 0 else cell.ljust(w) for c, (cell, w) in enumerate(zip(row, widths)))
                 for row in [header, *rows]]
        console.file.write("\n".join(line.rstrip() for line in lines) + "\n")
    else:
        table = Table(header_style="bold", box=None)
        for c, title in enumerate(header):
            table.add_column(title, justify="right" if c == 0 else "left")
        for row in rows:
            # Escaped: a level such as [flip,crop] would otherwise be read as rich markup and vanish.
            table.add_row(*map(escape, row))
        console.print(table)
    done = sum(statuses[s] for s in FINISHED)
    extra = f" ({plan.duplicates} duplicate cells merged)" if plan.duplicates else ""
    design = plan.record.get("design")
    if design:
        extra += f" (fraction 1/{design['fraction']}: {design['cells']} of the grid's {design['of']} cells)"
    console.print(f"{len(plan.runs)} runs planned{extra} in {sweep_dir}; {done} already done"
                  + "".join(f", {n} {s}" for s, n in sorted(statuses.items()) if s not in FINISHED and s != "new"),
                  highlight=False, markup=False)


def print_rounds(console: Console, rounds) -> None:
    """What --seeds-until adds after the first round's plan."""
    more = rounds.seeds[rounds.start:]
    if not more:
        text = "no more seeds to add: --max-seeds is the first round's count"
    else:
        text = (f"then one seed more per cell per round ({', '.join(map(str, more))}), up to {rounds.max_seeds} per "
                f"cell, until {rounds.metric} reaches {rounds.goal.aim()}")
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def print_tuned_plan(console: Console, plan: Plan, tuning, sweep_dir: Path) -> None:
    """--tune: per cell the settings it tries (the tuning runs, with what is done), then the reruns to come."""
    from ablate.store.tables import NOT_APPLICABLE

    keys = list(tuning.grid)
    table = Table(header_style="bold", box=None)
    for title in ["#", *tuning.factors, *keys, "role", "run id", "status"]:
        table.add_column(title, justify="right" if title == "#" else "left")
    statuses = Counter()
    i = 0
    for cell in tuning.cells:
        for point, rid in zip(cell.points, cell.run_ids):
            i += 1
            status = current_status(sweep_dir / "runs" / rid) or "new"
            statuses[status] += 1
            levels = [cell.label[f] if cell.label[f] != NOT_APPLICABLE else "—" for f in tuning.factors]
            table.add_row(*map(escape, [str(i), *levels, *[point.get(k, "—") for k in keys], "tune", rid, status]))
    console.print(table)
    tried = sum(len(c.points) for c in tuning.cells)
    reruns = len(tuning.cells) * len(tuning.rerun_seeds)
    seeds = ", ".join(map(str, tuning.rerun_seeds))
    done = sum(statuses[s] for s in FINISHED)
    spaces = sorted({c.space for c in tuning.cells})
    sampled = any(c.space > len(c.points) for c in tuning.cells)
    how = f"a seeded random {tuning.budget} of {'/'.join(map(str, spaces))}" if sampled else "every setting"
    console.print(f"{len(tuning.cells)} cells × {how} tried at seed {tuning.seed} = {tried} tuning runs "
                  f"({done} already done), then each cell's best on {SELECT_ON} rerun on seeds {seeds} = "
                  f"{reruns} reruns scored on test: {tried + reruns} runs in {sweep_dir}",
                  highlight=False, markup=False, soft_wrap=True)
