"""Designs of experiments: regular two-level fractions of the highest resolution,
generalized subset designs, balance, and which effects a set of cells separates.

The references are independent of the code under test: a design's defining
relation is read off its own cells (the products of columns that are constant),
the highest resolution there is comes from an exhaustive search over generator
choices, and the resolutions of the published designs from Montgomery's table.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ablate.design.effects import balanced, main_effects_estimable, separate
from ablate.design.fraction import NoFraction, fraction
from ablate.design.regular import PUBLISHED, best_regular
from ablate.design.subset import subset


def defining_words(cells: np.ndarray) -> list[frozenset]:
    """Every set of factors whose ±1 columns multiply to a constant over the cells: the defining relation."""
    signs = np.where(cells == 1, 1, -1)
    k = cells.shape[1]
    return [frozenset(s) for r in range(1, k + 1) for s in itertools.combinations(range(k), r)
            if np.ptp(np.prod(signs[:, list(s)], axis=1)) == 0]


def resolution_of(cells: np.ndarray) -> int:
    return min(len(w) for w in defining_words(cells))


def highest_resolution(k: int, p: int) -> int:
    """Exhaustive search: the best shortest-word length over every choice of p generators
    among the interactions of the k − p base factors (bit masks; a word's letters are its bits)."""
    base = k - p
    interactions = [m for m in range(1, 2 ** base) if bin(m).count("1") >= 2]
    best = 0
    for chosen in itertools.combinations(interactions, p):
        gens = [m | 1 << (base + i) for i, m in enumerate(chosen)]
        words = set()
        for r in range(1, p + 1):
            for combo in itertools.combinations(gens, r):
                words.add(np.bitwise_xor.reduce(combo))
        best = max(best, min(bin(w).count("1") for w in words))
    return best


SMALL = [(k, p) for k in range(3, 8) for p in range(1, k) if 2 ** (k - p) >= k + 1]


@pytest.mark.parametrize(("k", "p"), SMALL)
def test_two_level_designs_have_the_highest_resolution_there_is(k, p):
    design = best_regular(k, p)
    cells = design.rows()
    assert cells.shape == (2 ** (k - p), k) and len(np.unique(cells, axis=0)) == len(cells)
    words = defining_words(cells)
    assert len(words) == 2 ** p - 1  # a regular fraction: the defining contrast subgroup, identity left out
    assert resolution_of(cells) == design.resolution == highest_resolution(k, p)
    assert balanced(cells, [2] * k)


def test_where_fracfact_by_res_fails_the_published_design_is_used():
    # pyDOE3 1.6 raises "design not possible" for these, though 2^(4-1)_IV and 2^(5-1)_V exist.
    assert resolution_of(best_regular(4, 1).rows()) == 4
    assert resolution_of(best_regular(5, 1).rows()) == 5
    # ... and returns resolution IV for fracfact_by_res(8, 5); the 64-run 2^(8-2) is V.
    assert resolution_of(best_regular(8, 2).rows()) == 5


# Montgomery (2013), Table 8.14: the resolution of each recommended design.
MONTGOMERY = {(5, 2): 3, (6, 2): 4, (6, 3): 3, (7, 2): 4, (7, 3): 4, (7, 4): 3, (8, 2): 5, (8, 3): 4, (8, 4): 4,
              (9, 2): 6, (9, 3): 4, (9, 4): 4, (9, 5): 3, (10, 3): 5, (10, 4): 4, (10, 5): 4, (10, 6): 3,
              (11, 4): 5, (11, 5): 4, (11, 6): 4, (11, 7): 3}


@pytest.mark.parametrize(("k", "p"), sorted(PUBLISHED))
def test_the_published_generators_give_the_published_resolution(k, p):
    cells = best_regular(k, p).rows()
    assert len(cells) == 2 ** (k - p)
    assert resolution_of(cells) == MONTGOMERY[(k, p)]


def test_too_few_cells_for_the_main_effects_is_no_design():
    assert best_regular(4, 2) is None  # 4 cells, 5 parameters
    assert best_regular(7, 4) is not None  # 8 cells for 7 factors: saturated, resolution III


GSD_CASES = [([3, 4, 6], 2), ([3, 4, 6], 3), ([3, 3, 3], 3), ([2, 2, 3], 2), ([3, 3, 2], 3), ([5, 5, 4], 5),
             ([3, 2, 2, 2], 2)]


@pytest.mark.parametrize(("levels", "k"), GSD_CASES)
def test_generalized_subset_designs_are_balanced_exact_fractions(levels, k):
    design = fraction(levels, k)
    assert design.kind == "gsd"
    cells = design.cells
    assert len(cells) * k == np.prod(levels) and len(np.unique(cells, axis=0)) == len(cells)
    for f, n in enumerate(levels):  # every level of every factor equally often
        counts = np.bincount(cells[:, f], minlength=n)
        assert (counts == len(cells) // n).all()
    assert main_effects_estimable(cells, levels)


def test_a_gsd_that_is_not_balanced_is_refused_with_the_nearest_that_is():
    assert subset([3, 4, 6], 4) is None  # pyDOE3 gives 18 cells, but not each level equally often
    with pytest.raises(NoFraction) as e:
        fraction([3, 4, 6], 4)
    assert e.value.nearest == 3 and subset([3, 4, 6], 3) is not None


@pytest.mark.parametrize(("levels", "k", "nearest"), [([2] * 4, 3, 2), ([2] * 4, 8, 2), ([2] * 5, 3, 2),
                                                      ([2] * 6, 16, 8), ([3, 2], 2, None), ([2] * 4, -2, 2),
                                                      ([2] * 4, 1, 2), ([3, 4, 6], 100, 3)])
def test_a_fraction_the_grid_cannot_support_names_the_nearest_that_it_can(levels, k, nearest):
    with pytest.raises(NoFraction) as e:
        fraction(levels, k)
    assert e.value.nearest == nearest
    if nearest is not None:
        assert fraction(levels, nearest).reduction == nearest


def test_a_resolution_iv_half_fraction_separates_main_effects_but_not_the_pairs():
    cells = best_regular(4, 1).rows()
    result = separate(cells, [2] * 4, order=2)
    assert result.kept == [(0,), (1,), (2,), (3,)]
    # I = ABCD: AB = CD, AC = BD, AD = BC.
    assert result.dropped == {(0, 1): [(2, 3)], (0, 2): [(1, 3)], (0, 3): [(1, 2)],
                              (1, 2): [(0, 3)], (1, 3): [(0, 2)], (2, 3): [(0, 1)]}


def test_a_resolution_iii_design_aliases_main_effects_with_pairs_and_keeps_the_main_effects():
    cells = best_regular(3, 1).rows()  # I = ABC: A = BC
    result = separate(cells, [2, 2, 2], order=2)
    assert result.kept == [(0,), (1,), (2,)]
    assert result.dropped[(1, 2)] == [(0,)]


def test_a_full_factorial_separates_everything_and_a_missing_cell_costs_its_interaction():
    levels = [3, 2, 2]
    full = np.array(list(itertools.product(*[range(n) for n in levels])))
    assert separate(full, levels, order=3).dropped == {}
    assert len(separate(full, levels, order=3).kept) == 7
    gap = full[1:]  # cell (0, 0, 0) never ran
    result = separate(gap, levels, order=2)
    assert result.kept == [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2)]  # 11 cells still hold every pair
    assert (0, 1, 2) in separate(gap, levels, order=3).dropped
    two = full[~((full[:, 0] == 0) & (full[:, 1] == 0))]  # cells (0, 0, *) never ran
    assert (0, 1) in separate(two, levels, order=2).dropped


def test_factors_that_move_together_are_not_separable():
    cells = np.array([[0, 0, 0], [0, 0, 1], [1, 1, 0], [1, 1, 1]])  # factor 1 always equals factor 0
    result = separate(cells, [2, 2, 2], order=1)
    assert result.kept == [(2,)] and set(result.dropped) == {(0,), (1,)}
    assert result.dropped[(0,)] == [(1,)]
