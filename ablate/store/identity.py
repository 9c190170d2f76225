"""What of a run's config.yaml makes it the run it is, and how its values read as labels.

The run id hashes `identity_tree(config)`; the tables and the report read a
run's level of a key with `labels(config)`. Both work on the plain mapping
config.yaml holds, so the store and the report need no config code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Keys that change where or how fast a run computes, or what it records on the
# side, never what it computes: they must not split one experiment into two ids.
NOT_IDENTITY = {("run_id",), ("results_format",), ("device",), ("compile",), ("memory_format",), ("cpu_threads",), ("eval", "batch_size"),
                ("diagnostics",), ("tracker",)}


# What a run's numbers mean, recorded in its config.yaml and status.json and
# hashed into its id, so folders of different formats never share an id and a
# report never mixes them silently. Absent (1): before ablate had a test split,
# when the val split of the torchvision sets was their official test split.
# 2: train/val/test everywhere, the summary's test_acc at the best-val epoch.
RESULTS_FORMAT = 2


def results_format(record: Mapping[str, Any]) -> int:
    """The results format a run's config.yaml or status.json records (1 when it predates the key)."""
    value = record.get("results_format", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


# Keys added after runs were recorded, with the value every earlier run had:
# at that value they are left out of the identity, so those runs keep their ids.
ADDED_LATER = {("model", "residual"): True, ("data", "mirror"): False}


def identity_tree(config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` without what does not make the run; `config` itself is left as it was."""
    tree = dict(config)
    for path in NOT_IDENTITY:
        node = tree
        for key in path[:-1]:  # copy only the nodes a key is taken from
            node[key] = dict(node.get(key) or {})
            node = node[key]
        node.pop(path[-1], None)
    optim = tree["optim"] = dict(tree.get("optim") or {})
    if optim.get("lr_scaling", "none") == "none":
        # Without scaling the reference batch size changes nothing, and runs from
        # before lr scaling existed keep the ids they always had.
        optim.pop("lr_scaling", None)
        optim.pop("reference_batch_size", None)
    for (group, key), default in ADDED_LATER.items():
        node = tree[group] = dict(tree.get(group) or {})
        if node.get(key, default) == default:
            node.pop(key, None)
    return tree


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
