"""The shape of a dataset's images and labels: what data hands to models.

A leaf, so that data/ (which knows the shape) and models/ (which is built for
it) both import it without either reaching into the other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputShape:
    channels: int
    size: int  # height = width, pixels
    classes: int
