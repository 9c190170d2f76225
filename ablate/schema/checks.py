"""Checks a config value must pass, and the conversion of plain mappings into
typed configs: the one place a YAML value meets a Python type.

`from_mapping` turns a plain mapping into a dataclass, rejecting unknown keys,
wrong types and out-of-range values with one line that names the key, the bad
value and what is allowed. A leaf: it imports nothing of ablate but errors.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, TypeVar

from ablate.errors import ConfigError, did_you_mean, unknown_choice

T = TypeVar("T")


def require(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is out of range: must be {allowed}")


def require_choice(kind: str, value: str, choices) -> None:
    if value not in choices:
        raise unknown_choice(kind, value, choices)


def _type_name(tp: Any) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


_PRIMITIVES = frozenset({int, float, str, bool})


@lru_cache(maxsize=None)
def _optional_of(tp: Any) -> Any:
    """`X` for `X | None`, else None (cached: typing's introspection is slow, and a grid asks per value)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(tp) if a is not type(None)][0]
    return None


def _finite(value: float, key: str) -> float:
    # inf passes every range check written as a bound (lr > 0), and NaN fails them with a puzzling message.
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}")
    return value


def _coerce(value: Any, tp: Any, key: str) -> Any:
    if type(value) is tp and tp in _PRIMITIVES:  # the common case: already the declared type
        return _finite(value, key) if tp is float else value
    inner = _optional_of(tp)
    if inner is not None:
        return None if value is None else _coerce(value, inner, key)
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a group of settings, got {value!r}")
        return from_mapping(tp, value, key)
    if origin is tuple:
        args = typing.get_args(tp)
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        inner = args[0]
        return tuple(_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value))
    ok = (
        (tp is bool and isinstance(value, bool))
        or (tp is int and isinstance(value, int) and not isinstance(value, bool))
        or (tp is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (tp is str and isinstance(value, str))
    )
    if not ok:
        raise ConfigError(f"{key} must be {_type_name(tp)}, got {value!r}")
    return _finite(float(value), key) if tp is float else value


def from_mapping(cls: type[T], mapping: Mapping[str, Any], prefix: str = "", hidden: tuple[str, ...] = ()) -> T:
    """Build dataclass `cls` from a plain mapping, checking keys, types and ranges.
    `hidden` fields keep their defaults and are not settable (an aug's `name`)."""
    hints, fields = _schema(cls, hidden)
    kwargs = {}
    for key, value in mapping.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if key not in fields:
            raise ConfigError(f"unknown key '{full}';{did_you_mean(str(key), fields)} "
                              f"keys here: {', '.join(fields) or '(none)'}")
        parse = fields[key].metadata.get("parse")
        kwargs[key] = parse(value) if parse else _coerce(value, hints[key], full)
    return cls(**kwargs)


def field_types(cls: type) -> tuple[dict[str, Any], dict[str, dataclasses.Field]]:
    """(type hints, fields) of dataclass `cls`, by field name; cached."""
    return _schema(cls, ())


@lru_cache(maxsize=None)
def _schema(cls: type, hidden: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, dataclasses.Field]]:
    # Resolving a dataclass's type hints costs ~0.1 ms a class; a 10,000-cell grid asks 110,000 times.
    return typing.get_type_hints(cls), {f.name: f for f in dataclasses.fields(cls) if f.name not in hidden}
