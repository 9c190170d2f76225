"""Name → constructor maps for every choice group.

One canonical name per choice, the same in the YAML file name, the registry key,
`ablate list` and the result columns. Lookups of unknown names fail with the
valid names and the closest match instead of a bare KeyError or a silent None.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from ablate.errors import unknown_choice

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """A read-only dict of choices with a one-line description each."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self.help: dict[str, str] = {}

    def add(self, name: str, entry: T, help: str) -> T:
        if name in self._entries:
            raise RuntimeError(f"{self.kind} '{name}' registered twice")
        self._entries[name] = entry
        self.help[name] = help
        return entry

    def register(self, name: str, help: str):
        """Decorator form of `add`, for classes and functions."""

        def wrap(entry: T) -> T:
            return self.add(name, entry, help)

        return wrap

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise unknown_choice(self.kind, name, self._entries) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def check(self, name: str) -> str:
        """Validate a name without using the entry; returns it for chaining."""
        self[name]
        return name

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
