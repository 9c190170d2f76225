"""Which effects a set of cells can separate, and which are aliased.

An effect (a main effect or an interaction, named by the factors it involves)
is a block of columns of the model matrix over the cells: deviation contrasts
of each factor (level j < L−1 → the unit vector e_j, the last level → −1
everywhere), multiplied row by row across the factors of an interaction. In a
regular two-level fraction these are the ±1 columns whose products define it,
so two aliased effects have the very same column (Montgomery 2013, §8.2).

Separable effects are found in order of their size, main effects first, as the
hierarchy principle has it (Wu & Hamada, Experiments, 2nd ed. 2009, §4.6):
lower-order effects are more likely to matter, so an effect aliased with one of
lower order is the one dropped. At each order, an effect is kept when its
columns add their full degrees of freedom to the rank of everything else of
that order and below; it is not when it is aliased with another effect of its
order (A×B with C×D in a resolution IV half fraction: neither is kept, because
the data cannot say which of the two it is), with one of lower order (A×B×C
with D), or when a cell it needs has no run at all.

Ranks are computed on the distinct cells: replicates add no columns' worth of
information, so a study of 10,000 runs over 400 cells costs 400 rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

Term = tuple  # of factor indices, ascending: (0,) the main effect of factor 0, (0, 2) an interaction


def contrasts(codes: np.ndarray, levels: int) -> np.ndarray:
    """Deviation (sum-to-zero) coding of one factor's level codes 0..levels−1: n × (levels − 1)."""
    out = (codes[:, None] == np.arange(levels - 1)[None, :]).astype(float)
    out[codes == levels - 1] = -1.0
    return out


def columns(cells: np.ndarray, levels: Sequence[int], term: Term) -> np.ndarray:
    """The columns of `term` over `cells` (rows of level codes): row-wise products of its factors' contrasts."""
    block = np.ones((len(cells), 1))
    for f in term:
        c = contrasts(cells[:, f], levels[f])
        block = (block[:, :, None] * c[:, None, :]).reshape(len(cells), -1)
    return block


def degrees(levels: Sequence[int], term: Term) -> int:
    return int(np.prod([levels[f] - 1 for f in term]))


def rank(blocks: list[np.ndarray]) -> int:
    return int(np.linalg.matrix_rank(np.hstack(blocks))) if blocks else 0


@dataclass
class Separation:
    kept: list[Term] = field(default_factory=list)  # the effects the cells can estimate, main effects first
    # Each effect that cannot be estimated → the effects it is aliased with, one
    # by one (empty: only with several together, or with the mean, or it needs a cell that has no run).
    dropped: dict[Term, list[Term]] = field(default_factory=dict)


def separate(cells: np.ndarray, levels: Sequence[int], order: int) -> Separation:
    """The effects up to `order` factors that `cells` (distinct rows of level codes) can separate."""
    cells = np.unique(np.asarray(cells, dtype=int), axis=0)
    if len(cells) == int(np.prod(levels)):  # the full factorial: every effect is estimable, no rank to compute
        terms = [t for size in range(1, order + 1) for t in itertools.combinations(range(len(levels)), size)]
        return Separation(kept=terms)
    blocks: dict[Term, np.ndarray] = {}
    model = [np.ones((len(cells), 1))]
    result = Separation()
    for size in range(1, order + 1):
        terms = list(itertools.combinations(range(len(levels)), size))
        for t in terms:
            blocks[t] = columns(cells, levels, t)
        everything = rank(model + [blocks[t] for t in terms])
        kept = [t for t in terms
                if everything - rank(model + [blocks[s] for s in terms if s != t]) == degrees(levels, t)]
        result.kept += kept
        result.dropped.update({t: [] for t in terms if t not in kept})
        model += [blocks[t] for t in kept]
    mean = np.ones((len(cells), 1))
    for t in result.dropped:
        alone = rank([mean, blocks[t]])
        result.dropped[t] = [s for s in blocks if s != t
                             and rank([mean, blocks[t], blocks[s]]) < alone + rank([mean, blocks[s]]) - 1]
    return result


def main_effects_estimable(cells: np.ndarray, levels: Sequence[int]) -> bool:
    """Whether the cells keep every main effect apart from the others (a full-rank main-effects model)."""
    cells = np.asarray(cells, dtype=int)
    mains = [np.ones((len(cells), 1))] + [columns(cells, levels, (f,)) for f in range(len(levels))]
    return rank(mains) == 1 + sum(level - 1 for level in levels)


def balanced(cells: np.ndarray, levels: Sequence[int]) -> bool:
    """Whether every level of every factor appears equally often among the cells."""
    cells = np.asarray(cells, dtype=int)
    return all(len(set(np.bincount(cells[:, f], minlength=n))) == 1 for f, n in enumerate(levels))
