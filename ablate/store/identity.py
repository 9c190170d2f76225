"""How a run's config.yaml values read as labels, and which results format it records.

The run id hashes `identity_tree(config)` (ablate.schema.identity, re-exported
here); the tables and the report read a run's level of a key with
`labels(config)`. Both work on the plain mapping config.yaml holds, of this
version or an older one, so the report needs no composition code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ablate.schema.identity import RESULTS_FORMAT, identity_tree, record_id, results_format

__all__ = ["RESULTS_FORMAT", "identity_tree", "label", "labels", "record_id", "results_format"]


def label(value: Any) -> str:
    """A value as a grid would write it: `0.05`, `true`, `[flip,crop]`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(label(v) for v in value) + "]"
    return str(value)


def labels(config: Mapping[str, Any]) -> dict[str, str]:
    """Every identity key of a config as `key → label`: a group's choice under the
    group's name (`norm` → `batch`), its options under `group.option`, the
    augmentation set as `aug` → `[crop,flip]` with `aug.crop.padding` beside it."""
    out: dict[str, str] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, Mapping):
            if "name" in node:
                out[prefix] = label(node["name"])
            elif prefix == "aug":
                out[prefix] = label(list(node))
            for key, value in node.items():
                if key != "name":
                    walk(f"{prefix}.{key}" if prefix else str(key), value)
        elif prefix:
            out[prefix] = label(node)

    walk("", identity_tree(config))
    return out
