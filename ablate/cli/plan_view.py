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


def print_plan(console: Console, plan: Plan, sweep_dir: Path) -> None:
    table = Table(header_style="bold", box=None)
    table.add_column("#", justify="right")
    table.add_column("run id")
    for factor in plan.factors:
        table.add_column(factor)
    table.add_column("status")
    statuses = Counter()
    for i, p in enumerate(plan.runs, 1):
        status = current_status(sweep_dir / "runs" / p.run_id) or "new"
        statuses[status] += 1
        # Escaped: a level such as [flip,crop] would otherwise be read as rich markup and vanish.
        table.add_row(str(i), p.run_id, *[escape(p.factors[f]) or "—" for f in plan.factors], status)
    console.print(table)
    done = sum(statuses[s] for s in FINISHED)
    extra = f" ({plan.duplicates} duplicate cells merged)" if plan.duplicates else ""
    console.print(f"{len(plan.runs)} runs planned{extra} in {sweep_dir}; {done} already done"
                  + "".join(f", {n} {s}" for s, n in sorted(statuses.items()) if s not in FINISHED and s != "new"),
                  highlight=False)
