"""`--where` and `--by`: which runs and which factors a report looks at.

Both are checked against what the store actually holds, so a typo is one line
naming the valid keys (or values) and the closest match, never an empty table.
"""

from __future__ import annotations

import pandas as pd

from ablate.errors import ConfigError, unknown_choice
from ablate.report.load import REPETITION

# Columns of runs.csv that can be filtered on besides the swept keys.
FILTERABLE = ("status", "sweep")


def split_values(text: str) -> list[str]:
    """Split on commas outside brackets, as Hydra's sweep grammar does:
    `[],[flip,crop]` → ['[]', '[flip,crop]'] (two values of `aug`, not three)."""
    values, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"[": 1, "(": 1, "{": 1, "]": -1, ")": -1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            values.append(text[start:i].strip())
            start = i + 1
    return values + [text[start:].strip()]


def _pair(item: str, option: str, form: str, example: str) -> tuple[str, str]:
    """`key=value` of a report option, both sides stripped and non-empty."""
    key, sep, value = (part.strip() for part in item.partition("="))
    if not sep or not key or not value:
        raise ConfigError(f"{option} needs {form} (e.g. {option} {example}), got '{item}'")
    return key, value


def parse_where(items: list[str]) -> list[tuple[str, list[str]]]:
    """`['norm=batch,group', 'act=relu']` → [('norm', ['batch', 'group']), ('act', ['relu'])]."""
    parsed = []
    for item in items:
        key, value = _pair(item, "--where", "key=value", "norm=batch")
        parsed.append((key, split_values(value)))
    return parsed


def same_level(level: str, wanted: str) -> bool:
    """Exact text, or the same number ('0.1' matches a level written '0.10')."""
    if level == wanted:
        return True
    try:
        return float(level) == float(wanted)
    except ValueError:
        return False


def _levels_like(column: pd.Series, wanted: str, what: str) -> list[str]:
    """The levels of `column` that are `wanted` (exactly, or as the same number); an error naming them if none."""
    levels = [str(level) for level in pd.unique(column.astype(str))]
    hits = [level for level in levels if same_level(level, wanted)]
    if not hits:
        raise unknown_choice(what, wanted, levels)
    return hits


def _matches(column: pd.Series, wanted: list[str], key: str) -> pd.Series:
    keep = [level for value in wanted for level in _levels_like(column, value, f"value for --where {key}")]
    return column.isin(keep)


def apply_where(runs: pd.DataFrame, where: list[str], keys: list[str]) -> pd.DataFrame:
    """Keep the runs that match every `key=v1,v2` (any of the values)."""
    valid = list(dict.fromkeys([*keys, *FILTERABLE]))
    mask = pd.Series(True, index=runs.index)
    for key, values in parse_where(where):
        if key not in valid:
            raise unknown_choice("--where key", key, valid)
        mask &= _matches(runs[key].astype(str), values, key)
    if not mask.any():
        raise ConfigError(f"no runs match --where {' '.join(where)}")
    return runs[mask]


def parse_versus(items: list[str], runs: pd.DataFrame, factors: list[str]) -> dict[str, str]:
    """`['eval.tta=none']` → {'eval.tta': 'none'}: per factor, the level its
    others are compared with (the ablation's baseline) instead of the best."""
    chosen: dict[str, str] = {}
    for item in items:
        key, wanted = _pair(item, "--versus", "factor=level", "norm=none")
        if key not in factors:
            raise unknown_choice("--versus factor", key, factors)
        if key in chosen:
            raise ConfigError(f"--versus names {key} twice ({key}={chosen[key]} and {item}); give one baseline")
        chosen[key] = _levels_like(runs[key], wanted, f"--versus level of {key}")[0]
    return chosen


def parse_by(by: str | None, factors: list[str]) -> list[str] | None:
    """`'norm,act'` → ['norm', 'act'], each a factor of the store, no repeats."""
    if by is None:
        return None
    keys = [k.strip() for k in by.split(",") if k.strip()]
    if not keys:
        raise ConfigError("--by needs factor names, e.g. --by norm,act")
    for key in keys:
        if key == REPETITION:
            raise ConfigError(f"--by {key}: seeds are the repetitions, not a factor; "
                              f"factors: {', '.join(factors)}")
        if key not in factors:
            raise unknown_choice("--by factor", key, factors)
    if len(set(keys)) != len(keys):
        raise ConfigError(f"--by names a factor twice: {by}")
    return keys
