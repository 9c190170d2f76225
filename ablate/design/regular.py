"""Regular two-level fractional factorials: 2^(k−p) cells of k two-level factors.

A 2^(k−p) design runs the full factorial of k−p base factors and sets each of
the other p factors to a product of base factors, its generator (D = ABC). The
defining relation is every product of the generator words (I = ABCD, ...); the
length of its shortest word is the design's resolution: III, main effects
aliased with two-factor interactions; IV, main effects clear of those but
two-factor interactions aliased with each other; V, both clear. An effect's
aliases are its products with the words of the defining relation (Montgomery,
Design and Analysis of Experiments, 8th ed. 2013, §8.2-8.4).

The generators are those of the highest resolution found among:
  - pyDOE3's `fracfact_by_res` at the highest resolution whose smallest design
    has 2^(k−p) cells. It raises "design not possible" for 2^(4−1)_IV and
    2^(5−1)_V, and `fracfact_by_res(8, 5)` returns a resolution IV design, so the
    resolution is always computed here from the defining relation, never taken
    from what was asked for;
  - the published table (PUBLISHED, Montgomery Table 8.14), where it fails;
  - the half fraction I = AB…K, of resolution k (Montgomery §8.2), for any k.
"""

from __future__ import annotations

import itertools
import string
from dataclasses import dataclass
from functools import cached_property

import numpy as np

Word = frozenset  # of factor indices: {0, 1, 3} is ABD

# Factor letters as the table prints them: I is the identity, so it is skipped.
LETTERS = "ABCDEFGHJKLMNOPQRSTUVWXYZ"

# Montgomery (2013), Table 8.14, "Selected 2^(k−p) fractional factorial designs"
# (after Box, Hunter & Hunter, Statistics for Experimenters, 2nd ed. 2005): the
# recommended generators for k factors in 2^(k−p) runs, keyed by (k, p). Half
# fractions (p = 1) are the general rule below. The test suite recomputes each
# design's resolution from its defining relation and, for k ≤ 8, checks by
# exhaustive search that no choice of generators does better.
PUBLISHED: dict[tuple[int, int], str] = {
    (5, 2): "D=AB E=AC",                                       # III, 8 runs
    (6, 2): "E=ABC F=BCD",                                     # IV, 16
    (6, 3): "D=AB E=AC F=BC",                                  # III, 8
    (7, 2): "F=ABCD G=ABDE",                                   # IV, 32
    (7, 3): "E=ABC F=BCD G=ACD",                               # IV, 16
    (7, 4): "D=AB E=AC F=BC G=ABC",                            # III, 8
    (8, 2): "G=ABCD H=ABEF",                                   # V, 64
    (8, 3): "F=ABC G=ABD H=BCDE",                              # IV, 32
    (8, 4): "E=BCD F=ACD G=ABC H=ABD",                         # IV, 16
    (9, 2): "H=ACDFG J=BCEFG",                                 # VI, 128
    (9, 3): "G=ABCD H=ACEF J=CDEF",                            # IV, 64
    (9, 4): "F=BCDE G=ACDE H=ABDE J=ABCE",                     # IV, 32
    (9, 5): "E=ABC F=BCD G=ACD H=ABD J=ABCD",                  # III, 16
    (10, 3): "H=ABCG J=BCDE K=ACDF",                           # V, 128
    (10, 4): "G=BCDF H=ACDF J=ABDE K=ABCE",                    # IV, 64
    (10, 5): "F=ABCD G=ABCE H=ABDE J=ACDE K=BCDE",             # IV, 32
    (10, 6): "E=ABC F=BCD G=ACD H=ABD J=ABCD K=AB",            # III, 16
    (11, 4): "H=ABCG J=BCDE K=ACDF L=ABCDEFG",                 # V, 128
    (11, 5): "G=CDE H=ABCD J=ABF K=BDEF L=ADEF",               # IV, 64
    (11, 6): "F=ABC G=BCD H=CDE J=ACD K=ADE L=BDE",            # IV, 32
    (11, 7): "E=ABC F=BCD G=ACD H=ABD J=ABCD K=AB L=AC",       # III, 16
}


def parse_generators(text: str) -> tuple[tuple[int, Word], ...]:
    """'D=AB E=AC' → ((3, {0, 1}), (4, {0, 2})), in the table's letters."""
    out = []
    for part in text.split():
        factor, _, product = part.partition("=")
        out.append((LETTERS.index(factor), Word(LETTERS.index(ch) for ch in product)))
    return tuple(out)


@dataclass(frozen=True)
class Regular:
    """A 2^(k−p) design: each generated factor is the product of some base factors."""
    k: int
    generators: tuple[tuple[int, Word], ...]  # (generated factor, the base factors it is the product of)
    source: str  # where the generators come from, for the record

    @property
    def p(self) -> int:
        return len(self.generators)

    @cached_property
    def words(self) -> list[Word]:
        """The defining relation: every product of generator words (2^p − 1 of them), shortest first."""
        gens = [product | {factor} for factor, product in self.generators]
        found = set()
        for r in range(1, len(gens) + 1):
            for combo in itertools.combinations(gens, r):
                found.add(Word(multiply(*combo)))
        return sorted(found, key=lambda w: (len(w), sorted(w)))

    @property
    def resolution(self) -> int:
        return len(self.words[0])

    def aliases(self, effect: Word) -> list[Word]:
        """The effects `effect` cannot be told apart from: its product with each word."""
        return sorted((Word(multiply(effect, w)) for w in self.words), key=lambda e: (len(e), sorted(e)))

    def rows(self) -> np.ndarray:
        """The cells, as level codes 0/1 (pyDOE3's −1/+1), one row per cell, one column per factor."""
        from pyDOE3 import fracfact

        generated = dict(self.generators)
        letter = string.ascii_lowercase  # pyDOE3's generator alphabet: base factors are 0..k−p−1
        columns = ["".join(letter[i] for i in sorted(generated[j])) if j in generated else letter[j]
                   for j in range(self.k)]
        return (fracfact(" ".join(columns)) > 0).astype(int)


def multiply(*words: Word) -> set:
    """The product of effects: letters that appear an odd number of times (A·AB = B)."""
    out: set = set()
    for w in words:
        out ^= set(w)
    return out


def half_fraction(k: int) -> Regular:
    # The half fraction of highest resolution: the last factor is the product of all the others (I = AB…K).
    return Regular(k, ((k - 1, Word(range(k - 1))),), "half fraction I = AB…K (Montgomery 2013, §8.2)")


def _by_res(k: int, p: int) -> Regular | None:
    """pyDOE3's fracfact_by_res at the highest resolution whose smallest design has 2^(k−p) cells."""
    from pyDOE3 import fracfact_by_res

    for res in range(k, 2, -1):
        try:
            matrix = fracfact_by_res(k, res)
        except ValueError:  # "design not possible", also where it is (see the module docstring)
            continue
        if len(matrix) == 2 ** (k - p):
            return from_matrix(matrix, k - p, "pyDOE3 fracfact_by_res")
        if len(matrix) < 2 ** (k - p):
            return None
    return None


def from_matrix(matrix: np.ndarray, base: int, source: str) -> Regular | None:
    """The generators of a ±1 design whose first `base` columns are the full factorial:
    for each later column, the base columns whose product is it (or minus it)."""
    generators = []
    for j in range(base, matrix.shape[1]):
        subsets = (c for r in range(1, base + 1) for c in itertools.combinations(range(base), r))
        match = next((c for c in subsets if np.ptp(np.prod(matrix[:, list(c)], axis=1) * matrix[:, j]) == 0), None)
        if match is None:
            return None
        generators.append((j, Word(match)))
    return Regular(matrix.shape[1], tuple(generators), source)


def best_regular(k: int, p: int) -> Regular | None:
    """The highest-resolution 2^(k−p) design of k two-level factors, or None when
    2^(k−p) cells cannot keep k main effects apart (fewer than k + 1 cells)."""
    if p < 1 or 2 ** (k - p) < k + 1:
        return None
    candidates = []
    if (k, p) in PUBLISHED:
        candidates.append(Regular(k, parse_generators(PUBLISHED[(k, p)]), "Montgomery (2013), Table 8.14"))
    if p == 1:
        candidates.append(half_fraction(k))
    found = _by_res(k, p)
    candidates += [found] if found is not None else []
    # The first of the highest resolution: the published design where pyDOE3 ties it.
    return max(candidates, key=lambda d: d.resolution, default=None)
