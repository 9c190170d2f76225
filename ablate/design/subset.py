"""Generalized subset designs (GSD): a balanced 1/K of a grid of factors with any numbers of levels.

pyDOE3's `gsd(levels, K)` (Surowiec et al. 2017, "Generalized Subset Designs in
Analytical Chemistry", Analytical Chemistry 89:6491) splits each factor's
levels into K interleaved partitions and combines them through a Latin square,
the mixed-level analogue of a regular fraction. It returns *about* 1/K of the
cells, and not every K keeps each level equally often or every main effect
apart (gsd([3, 4, 6], 4) does neither), so a reduction is used only when its
design has exactly N/K cells, every level of every factor equally often, and a
full-rank main-effects model.

A GSD is not regular: an interaction is partly aliased with others rather
than identical to one, so there is no defining relation or resolution; what
the cells can separate is found by rank (`ablate.design.effects`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ablate.design.effects import balanced, main_effects_estimable


def subset(levels: Sequence[int], reduction: int) -> np.ndarray | None:
    """The GSD's cells (level codes, one row per cell), or None where this reduction
    does not give an exact, balanced 1/K with every main effect estimable."""
    from pyDOE3 import gsd

    cells = math.prod(levels)
    if reduction < 2 or cells % reduction:
        return None
    try:
        rows = np.asarray(gsd([int(n) for n in levels], int(reduction)), dtype=int)
    except ValueError:  # "reduction too large compared to factor levels"
        return None
    exact = len(rows) == cells // reduction and len(np.unique(rows, axis=0)) == len(rows)
    return rows if exact and balanced(rows, levels) and main_effects_estimable(rows, levels) else None
