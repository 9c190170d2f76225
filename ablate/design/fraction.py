"""A balanced 1/K of a grid's cells: the one entry point of `ablate.design`.

Two-level factors only: the regular 2^(k−p) fraction of the highest resolution,
so K must be a power of two, 2^p, that leaves at least k + 1 cells. Otherwise,
any numbers of levels: a generalized subset design of reduction K. Either way
every level of every factor is run equally often and every main effect can be
estimated; a K that cannot give that raises NoFraction with the nearest K that can.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ablate.design.regular import Regular, best_regular
from ablate.design.subset import subset


@dataclass(frozen=True)
class Fraction:
    reduction: int  # K: the design runs 1/K of the cells
    levels: tuple[int, ...]
    cells: np.ndarray  # level codes of the cells to run, one row per cell, one column per factor
    regular: Regular | None = None  # the two-level design's generators; None for a GSD

    @property
    def kind(self) -> str:
        return "regular" if self.regular is not None else "gsd"


class NoFraction(ValueError):
    """No balanced 1/K with every main effect estimable; `nearest` is the closest K that has one (or None)."""

    def __init__(self, reduction: int, reason: str, nearest: int | None):
        super().__init__(reason)
        self.reduction, self.reason, self.nearest = reduction, reason, nearest


def two_level(levels: Sequence[int]) -> bool:
    return all(n == 2 for n in levels)


def _try(levels: Sequence[int], reduction: int) -> Fraction | None:
    if two_level(levels):
        p = reduction.bit_length() - 1
        design = best_regular(len(levels), p) if reduction == 2 ** p else None
        return None if design is None else Fraction(reduction, tuple(levels), design.rows(), design)
    cells = subset(levels, reduction)
    return None if cells is None else Fraction(reduction, tuple(levels), cells)


def _reason(levels: Sequence[int], reduction: int) -> str:
    cells, params = math.prod(levels), 1 + sum(n - 1 for n in levels)
    if reduction < 2:
        return "K must be 2 or more (1/K of the cells is run)"
    if two_level(levels) and reduction & (reduction - 1):
        return "K must be a power of two for two-level factors"
    if cells / reduction < params:
        return (f"1/{reduction} of the {cells} cells is fewer than the {params} it takes "
                "to estimate every main effect")
    return (f"no balanced 1/{reduction} of a {'×'.join(map(str, levels))} grid keeps every level equally often "
            "and every main effect estimable")


def nearest(levels: Sequence[int], reduction: int) -> int | None:
    """The valid K closest to `reduction` (the smaller, which runs more cells, on a tie)."""
    largest = math.prod(levels) // (1 + sum(n - 1 for n in levels))
    center = min(max(reduction, 2), largest)  # a K outside [2, largest] is nearest to its end of it
    for distance in range(0, largest + 1):
        for k in (center - distance, center + distance):
            if 2 <= k <= largest and _try(levels, k) is not None:
                return k
    return None


def fraction(levels: Sequence[int], reduction: int) -> Fraction:
    """The design that runs 1/`reduction` of the cells of factors with these numbers of levels."""
    found = _try(levels, reduction) if reduction >= 2 else None
    if found is None:
        raise NoFraction(reduction, _reason(levels, reduction), nearest(levels, reduction))
    return found
