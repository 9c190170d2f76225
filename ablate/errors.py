"""User-facing errors: one clear line, never a traceback.

Anything a user can cause by what they type (a bad override, a missing dataset,
an unknown choice) raises `ConfigError`; the CLI prints its message and exits 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ConfigError(ValueError):
    """A user mistake in the configuration or command line."""


def closest(value: str, choices: Iterable[str]) -> str | None:
    """The choice `value` most likely meant, or None when none is close. The same
    name in another case wins (`Relu` is `relu`, though `elu` is closer as
    spelled); then the closest ignoring case (`ReLu` → `relu`)."""
    folded = {str(c).casefold(): str(c) for c in reversed(list(choices))}  # the first of a folded name wins
    if str(value).casefold() in folded:
        return folded[str(value).casefold()]
    close = difflib.get_close_matches(str(value).casefold(), list(folded), n=1, cutoff=0.6)
    return folded[close[0]] if close else None


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """' did you mean 'x'?' for the closest choice, or '' when none is close."""
    match = closest(value, choices)
    return f" did you mean '{match}'?" if match is not None else ""


def unknown_choice(kind: str, value: object, choices: Iterable[str]) -> ConfigError:
    """`unknown norm 'grop'; did you mean 'group'? choices: batch, group, ...`"""
    choices = sorted(choices)
    hint = did_you_mean(str(value), choices)
    return ConfigError(
        f"unknown {kind} '{value}';{hint} choices: {', '.join(choices)}"
    )


class TrackerWarning(UserWarning):
    """A tracker stopped (a server down, a full disk): the run goes on, and the
    command shows it as a warning rather than a note."""
