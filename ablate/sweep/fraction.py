"""`ablate sweep --fraction K`: run a balanced 1/K of the grid's cells, every seed of each.

A cell is a combination of the factors' levels; seeds are replication, never
a factor of the design, so each chosen cell runs every seed of the grid. The
fraction is taken after identical cells are merged: an option of one level
(`norm=batch,group norm.groups=1,2`) makes one design factor with its group
(`norm`: batch, group/1, group/2), because batch has no `norm.groups` to vary.

The design (`ablate.design.fraction`) is deterministic: the same command
chooses the same cells, so re-running it resumes, `--retry-failed` retries,
and the report finds the runs, exactly as for a full grid. What the fraction
cannot separate is said in the plan's notes and recorded in sweep.yaml.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass

from ablate.design.effects import separate
from ablate.design.fraction import Fraction, NoFraction, fraction
from ablate.design.regular import LETTERS, Word
from ablate.errors import ConfigError
from ablate.sweep.plan import Plan

REPETITION = "seed"  # replication: every chosen cell runs all of its seeds
ALIAS_ORDER = 2  # aliases are listed among main effects and two-factor interactions, what the report estimates


@dataclass(frozen=True)
class DesignFactor:
    keys: tuple[str, ...]  # the plan's factors it stands for: a group, then its options of one level
    levels: tuple[tuple[str, ...], ...]  # its distinct combinations of those keys' values, in plan order

    @property
    def name(self) -> str:
        return self.keys[0] if len(self.keys) == 1 else f"{self.keys[0]} (with {', '.join(self.keys[1:])})"


def design_factors(plan: Plan) -> list[DesignFactor]:
    """The factors of the design: every swept key but the seed, each option of one
    level folded into its group; a key with a single value is no factor."""
    factors = []
    for key in plan.factors:
        if key == REPETITION or key in plan.per_level:
            continue
        keys = (key, *[k for k in plan.factors if plan.per_level.get(k) == key])
        levels = tuple(dict.fromkeys(tuple(run.factors[k] for k in keys) for run in plan.runs))
        if len(levels) > 1:
            factors.append(DesignFactor(keys, levels))
    return factors


def cell_of(run, factors: list[DesignFactor]) -> tuple[int, ...]:
    return tuple(f.levels.index(tuple(run.factors[k] for k in f.keys)) for f in factors)


def fractional(plan: Plan, reduction: int) -> Plan:
    """The plan with only the runs of the cells a balanced 1/`reduction` design chooses."""
    factors = design_factors(plan)
    if len(factors) < 2:
        raise ConfigError(f"--fraction {reduction} needs two or more factors besides seed; this grid has "
                          f"{len(factors)}{': ' + factors[0].name if factors else ''}")
    levels = [len(f.levels) for f in factors]
    cells = {cell_of(run, factors) for run in plan.runs}
    if len(cells) != math.prod(levels):
        raise ConfigError(f"--fraction {reduction}: {math.prod(levels) - len(cells)} cells of this grid are the same "
                          "run as another, so its cells are not a full factorial to take a fraction of")
    try:
        design = fraction(levels, reduction)
    except NoFraction as e:
        fix = (f"the nearest that fits is --fraction {e.nearest}" if e.nearest is not None
               else "no fraction of this grid does; run it whole")
        raise ConfigError(f"--fraction {reduction} does not fit this grid ({_shape(factors)}): {e.reason}; "
                          f"{fix}") from None
    chosen = {tuple(int(v) for v in row) for row in design.cells}
    runs = [run for run in plan.runs if cell_of(run, factors) in chosen]
    record = describe(design, factors)
    note = _note(record)
    return dataclasses.replace(plan, runs=runs, notes=[*plan.notes, note], record={**plan.record, "design": record})


def _shape(factors: list[DesignFactor]) -> str:
    return " × ".join(f"{f.name} {len(f.levels)}" for f in factors)


def _effect(word, factors: list[DesignFactor]) -> str:
    return " × ".join(factors[i].name for i in sorted(word))


def describe(design: Fraction, factors: list[DesignFactor]) -> dict:
    """What sweep.yaml records: the fraction, which cells, and what it cannot separate."""
    record = {"fraction": design.reduction, "kind": design.kind, "cells": len(design.cells),
              "of": math.prod(design.levels), "factors": {LETTERS[i]: f.name for i, f in enumerate(factors)}}
    regular = design.regular
    if regular is not None:
        record |= {"generators": [f"{LETTERS[f]} = {_letters(w)}" for f, w in regular.generators],
                   "defining_relation": "I = " + " = ".join(_letters(w) for w in regular.words),
                   "resolution": regular.resolution, "source": regular.source,
                   "aliases": _regular_aliases(regular, factors)}
    else:
        separation = separate(design.cells, design.levels, ALIAS_ORDER)
        record |= {"reduction": design.reduction, "source": "pyDOE3 gsd (Surowiec et al. 2017, Analytical Chemistry 89:6491)",
                   "aliases": [f"{_effect(t, factors)} ~ {', '.join(_effect(s, factors) for s in partners)}"
                               if partners else f"{_effect(t, factors)} ~ (several effects together)"
                               for t, partners in separation.dropped.items()]}
    return record


def _letters(word) -> str:
    return "".join(LETTERS[i] for i in sorted(word))


def _regular_aliases(regular, factors: list[DesignFactor]) -> list[str]:
    """`norm × act = init × dropout`: each main effect and two-factor interaction
    with its aliases of up to two factors, each chain once."""
    chains, seen = [], set()
    effects = [Word(c) for size in range(1, ALIAS_ORDER + 1)
               for c in itertools.combinations(range(len(factors)), size)]
    for effect in effects:
        if effect in seen:
            continue
        partners = [a for a in regular.aliases(effect) if 0 < len(a) <= ALIAS_ORDER and a != effect]
        if partners:
            seen.update(partners)
            chains.append(" = ".join(_effect(w, factors) for w in [effect, *partners]))
    return chains


def _note(record: dict) -> str:
    """The plan's line: `fraction 1/2 (resolution IV): 8 of 16 cells, every seed of each; norm × act aliased with ...`."""
    head = f"fraction 1/{record['fraction']}"
    if record["kind"] == "regular":
        head += f" (resolution {_roman(record['resolution'])}, {record['defining_relation']}"
        head += f" with {', '.join(f'{k}={v}' for k, v in record['factors'].items())})"
    else:
        head += " (generalized subset design)"
    head += f": {record['cells']} of {record['of']} cells, every seed of each"
    if record["kind"] == "regular":
        aliased = [c.replace(" = ", " aliased with ", 1).replace(" = ", " and ") for c in record["aliases"]]
        tail = "; ".join(aliased) if aliased else "no main effect or two-factor interaction is aliased with another"
    else:
        tail = ("interactions the cells cannot separate, not estimated: " + "; ".join(record["aliases"])
                if record["aliases"] else "every two-factor interaction is estimable")
    return f"{head}; {tail}"


def _roman(n: int) -> str:
    return {3: "III", 4: "IV", 5: "V", 6: "VI", 7: "VII", 8: "VIII", 9: "IX", 10: "X"}.get(n, str(n))
