"""Runs that ran on different hardware or at different precision.

A sweep resumed on another machine, or folders from a laptop and a GPU node
read together, mix devices: the wall-clock columns (seconds, seconds to
target) then compare machines as much as settings, and bf16 or fp16 runs
round differently from fp32 ones. `precision=auto` resolves per machine, so
two runs with the same run id can differ here. The report says so rather than
letting such a table look like a clean comparison.

And what each run's length counted (epochs or optimiser steps, issue #26): a
table over data sizes means less training per size under an epochs budget,
not under a steps one, so the report names the budget.
"""

from __future__ import annotations

import pandas as pd

from ablate.report.load import SCORED

# Each column as a comparable value: a device's type (cuda:0 and cuda:1 are the same kind of machine).
COLUMNS = {"device": lambda value: value.partition(":")[0], "precision": lambda value: value}


def budget_line(runs: pd.DataFrame) -> str | None:
    """What the scored runs' length counted (runs.csv's `budget`): "budget: 30 epochs
    per run", or each budget with its run count where they differ; None where no run records one."""
    if "budget" not in runs:
        return None
    values = runs[runs["status"].isin(list(SCORED))]["budget"].dropna().astype(str)
    counts = values[values != ""].value_counts()
    if counts.empty:
        return None
    if len(counts) == 1:
        return f"budget: {counts.index[0]} per run"
    return "budget: mixed: " + ", ".join(f"{value} ({n} runs)" for value, n in counts.items())


def hardware_note(runs: pd.DataFrame, factors: list[str]) -> str | None:
    """One line when the scored runs differ in device type or resolved precision
    and no swept factor of that name accounts for it; None otherwise."""
    scored = runs[runs["status"].isin(list(SCORED))]
    differ = {}
    for column, kind in COLUMNS.items():
        if column not in scored or column in factors:
            continue
        values = scored[column].dropna().astype(str)
        counts = values[values != ""].map(kind).value_counts()
        if len(counts) > 1:
            differ[column] = f"{column} ({', '.join(f'{value}: {n}' for value, n in counts.items())})"
    if not differ:
        return None
    also = ", and bf16 or fp16 runs round differently from fp32 ones" if "precision" in differ else ""
    return (f"the runs differ in {' and '.join(differ.values())}, which no factor accounts for: "
            f"the seconds columns compare machines as well as settings{also}")
