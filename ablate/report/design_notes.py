"""What the report says about how a sweep chose its runs: a fractional design
(`--fraction`), seeds added until the intervals were narrow enough
(`--seeds-until`), and cells that got different numbers of seeds.

Read from each sweep's sweep.yaml, where the sweep recorded it; what the
importance table can estimate is decided from the runs themselves
(`importance.estimable`), so a folder that also holds the full grid is read as
the full grid.
"""

from __future__ import annotations

import pandas as pd

from ablate.report.load import REPETITION, Store, read_sweep_yaml
from ablate.report.tables import varying

ROMAN = {3: "III", 4: "IV", 5: "V", 6: "VI", 7: "VII", 8: "VIII"}
CELLS_SHOWN = 3  # cells with the fewest seeds named in the note on unequal seed counts


def describe_design(design: dict) -> str:
    """`1/2 of its grid's cells (8 of 16): a resolution IV fractional factorial, I = ABCD with A=norm, ...`."""
    text = f"1/{design.get('fraction')} of its grid's cells ({design.get('cells')} of {design.get('of')})"
    letters = ", ".join(f"{k}={v}" for k, v in (design.get("factors") or {}).items())
    if design.get("kind") == "regular":
        resolution = design.get("resolution")
        text += (f": a resolution {ROMAN.get(resolution, resolution)} fractional factorial, "
                 f"{design.get('defining_relation')} with {letters}")
    else:
        text += ": a generalized subset design"
    return text


def describe_seeds(rule: dict) -> str:
    power = "power" in rule
    head = (f"seeds added until every level compared with its factor's best had {rule['power']:.0%} power to see "
            f"±{rule.get('margin')} in {rule.get('metric')}" if power else
            f"seeds added until every level's 95% interval of {rule.get('metric')} was within ±{rule.get('width')}")
    if rule.get("reached") is None:
        return f"{head}: stopped before the last round was measured, at {rule.get('seeds_per_cell')} seeds per cell"
    if rule.get("reached"):
        return f"{head}: reached with {rule.get('seeds_per_cell')} seeds per cell"
    key = "lowest_power" if power else "widest"
    value = rule.get(key)
    shown = ("no power yet" if power else "no interval yet") if not isinstance(value, (int, float)) else \
        f"{value:.0%}" if power else f"±{value:.4f}"
    return (f"{head}: not reached by --max-seeds {rule.get('max_seeds')} ({key.replace('_', ' ')} {shown}, "
            f"{rule.get(key + '_level')})")


def design_notes(store: Store) -> list[str]:
    """One line per sweep that ran a fraction or added seeds by rounds."""
    notes = []
    for name in store.sweep_names:
        path = next(s.path for s in store.sweeps if s.name == name)
        meta = read_sweep_yaml(path)
        if isinstance(meta.get("design"), dict):
            notes.append(f"{name} ran {describe_design(meta['design'])}")
        if isinstance(meta.get("seeds_until"), dict):
            notes.append(f"{name}: {describe_seeds(meta['seeds_until'])}")
    return notes


def seed_notes(runs: pd.DataFrame, factors: list[str]) -> list[str]:
    """`seeds per cell differ: 3 to 6; 3 in norm=none act=relu`, when cells did not all get as many seeds."""
    if REPETITION not in runs or runs.empty:
        return []
    cells = varying(runs, factors)
    counts = runs.groupby(cells, sort=False)[REPETITION].nunique() if cells else pd.Series([runs[REPETITION].nunique()])
    if counts.nunique() <= 1:
        return []
    fewest = counts[counts == counts.min()]
    shown = ", ".join(_cell(cells, key) for key in fewest.index[:CELLS_SHOWN])
    more = f" and {len(fewest) - CELLS_SHOWN} more" if len(fewest) > CELLS_SHOWN else ""
    return [f"seeds per cell differ: {counts.min()} to {counts.max()}; {counts.min()} in {shown}{more}"]


def _cell(keys: list[str], values) -> str:
    values = values if isinstance(values, tuple) else (values,)
    return " ".join(f"{k}={v}" for k, v in zip(keys, values))
