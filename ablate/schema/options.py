"""How an option declares what it means for a run's identity, and how a group
with one class per level (`norm=group` has `groups`, `norm=batch` does not)
turns its YAML mapping into the right class.

A run id hashes the settings that change the result (ablate.schema.identity).
Two declarations, made where the option is declared, tell it what to leave out:

- `added_later(default)`: an option added after runs were recorded, whose
  default reproduces what those runs did. At that default it is left out of the
  identity, so every earlier run keeps its id; set to anything else, it is in.
  `added_later(default, was=value)`: the earlier runs did `value`, and the new
  default is something else (dropconnect's per-example masks, where runs before
  them drew one mask per batch): at `value` the option is left out, so those
  runs keep their ids, and the new default is a new run, as it computes another thing.
- `not_identity(default)`: where or how fast a run computes, or what it records
  on the side (device, threads, trackers), never what it computes.

Adding an option to a level is one field with `added_later`; no table elsewhere
needs to learn of it. tests/test_identity.py adds one in a subclass and checks
that no id moves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from ablate.errors import ConfigError
from ablate.schema.checks import from_mapping

ADDED_LATER = "added_later"
WAS = "was"
IDENTITY = "identity"
LEVELS = "levels"
ENTRIES = "entries"  # a set of named sections (aug): name → the section's class


_SAME = object()


def added_later(default: Any, *, was: Any = _SAME, **metadata: Any) -> Any:
    """A field added after runs were recorded: at what those runs did (`was`,
    else `default`) it is not in the run id."""
    return dataclasses.field(default=default, metadata={ADDED_LATER: True, WAS: default if was is _SAME else was,
                                                        **metadata})


def not_identity(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING,
                 **metadata: Any) -> Any:
    """A field that changes where, how fast or what else a run records, not what it computes."""
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={IDENTITY: False, **metadata})


class Choice:
    """The base class of a group whose levels own their options (NormConfig):
    its fields are what every level has; each level with options of its own
    subclasses it. `Levels(...)` of the group sets `levels`."""

    levels: ClassVar[Levels]

    def __post_init__(self) -> None:
        # One class per level: `NormConfig(name="batch")` would be a second,
        # option-less spelling of batch norm; `NORM_LEVELS.of("batch")` is the one.
        expected = self.levels.cls(self.name)
        if type(self) is not expected:
            raise TypeError(f"{type(self).__name__}(name={self.name!r}): build it as {expected.__name__}(...) "
                            f"or with {self.levels.group.upper()}_LEVELS.of({self.name!r}, ...)")

    def options(self) -> dict[str, Any]:
        """The options this level has beyond those of every level: what its
        constructor takes, bound by `functools.partial` in the builder."""
        shared = {f.name for f in dataclasses.fields(self.levels.base)}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in shared}


class Levels:
    """A group whose levels own their options: name → the level's class, the
    base class (the options every level has) for a level with none of its own."""

    def __init__(self, group: str, base: type, classes: Mapping[str, type]):
        self.group, self.base, self.classes = group, base, dict(classes)
        base.levels = self

    def cls(self, name: Any) -> type:
        return self.classes.get(name, self.base)

    def of(self, name: str, **options: Any) -> Any:
        """The config of level `name` with `options`: `NORM_LEVELS.of("group", groups=3)`."""
        return self.cls(name)(name=name, **options)

    def parse(self, value: Any) -> Any:
        """A composed mapping (`{name: group, groups: 3, ...}`) as its level's class;
        a key the level does not have is an error naming the keys it has."""
        if isinstance(value, self.base):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{self.group} must be a group of settings, got {value!r}")
        name = value.get("name", self.base.name)  # a dataclass default is also the class attribute
        return from_mapping(self.cls(name), value, self.group)

    def field(self) -> Any:
        """The RunConfig field of this group: parsed by level, its default the base's."""
        return dataclasses.field(default_factory=self.base, metadata={"parse": self.parse, LEVELS: self})

