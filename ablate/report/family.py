"""The Holm family of a sliced report: every slice `--where` chooses among.

`--where dropout.p=0.5 --by dropout` compares the levels of one slice; Holm
over that slice's comparisons alone would shrink the family with each slice
looked at, and a reader who tries every slice finds a "significant" one by
slicing. So the p values of a sliced table are corrected over the comparisons
of every slice of the --where keys (each combination of their levels), the
family a reader of the whole study faces, and the header says so.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ablate.report import stats
from ablate.report.select import parse_where, same_level


def other_slices(runs: pd.DataFrame, where: list[str]) -> list[pd.DataFrame]:
    """The runs of each combination of the --where keys' levels outside the chosen slice."""
    chosen = parse_where(where)
    keys = list(dict.fromkeys(k for k, _ in chosen))
    out = []
    for levels, rows in runs.groupby(keys, sort=False):
        level = dict(zip(keys, levels if isinstance(levels, tuple) else (levels,)))
        inside = all(any(same_level(str(level[key]), value) for value in values) for key, values in chosen)
        if not inside:
            out.append(rows)
    return out


def widen(table: pd.DataFrame, others: list[pd.DataFrame], tabulate: Callable[[pd.DataFrame], pd.DataFrame]) -> int:
    """Re-adjust `table`'s p_holm over its comparisons and those of the same table
    in each other slice; returns the family's size (comparisons that could be made)."""
    pooled = [table["p"].to_numpy(dtype=float)]
    for rows in others:
        pooled.append(tabulate(rows)["p"].to_numpy(dtype=float))
    p = np.concatenate(pooled)
    table["p_holm"] = stats.holm(p)[:len(table)]
    return int(np.isfinite(p).sum())


def family_note(where: list[str], slices: int, sizes: dict[str, int]) -> str:
    shown = ", ".join(f"{name}: {m}" for name, m in sizes.items())
    return (f"p (Holm) corrects over the comparisons of all {slices} slices of --where {' '.join(where)} "
            f"(the family of the whole study, not of this slice alone; comparisons per table: {shown})")
