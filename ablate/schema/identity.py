"""What of a run's config makes it the run it is: the tree its run id hashes.

It works on the plain mapping a config.yaml holds (this version's, or an older
one's), reading what each option declared in ablate.schema.options: a
`not_identity` field is left out; an `added_later` field at its default is left
out. So the same run has the same id in every version of ablate that can run
it, and the store and the report, which read config.yaml files, need nothing
but this module to agree with the runner.

Ids are user data: tests/test_identity.py pins a dozen of them. Changing one on
purpose means a new RESULTS_FORMAT and a migration note.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ablate.schema.checks import field_types
from ablate.schema.options import ADDED_LATER, ENTRIES, IDENTITY, LEVELS, WAS
from ablate.schema.run import CROP_TTAS, RunConfig

# What a run's numbers mean, recorded in its config.yaml and status.json and
# hashed into its id, so folders of different formats never share an id and a
# report never mixes them silently. Absent (1): before ablate had a test split,
# when the val split of the torchvision sets was their official test split.
# 2: train/val/test everywhere, the summary's test_acc at the best-val epoch.
RESULTS_FORMAT = 2

# Keys config.yaml records about the run that are not its settings.
RECORD_KEYS = ("run_id", "results_format", "moved_from")

# Results format 2 began with one flat record per group holding every level's
# options (norm=none recorded groups, momentum, ...), and its ids hash those
# records. A level now records its own options only; the others are put back at
# the values every format-2 run had for them (an option of another level could
# not be set), so every id stays where it was. History, not a table to extend:
# a new option is declared `added_later` on its own level instead.
FORMAT_2_FLAT = {
    "norm": {"groups": 2, "eps": 1e-5, "momentum": 0.1, "size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0},
    "act": {"slope": 0.01},
    "init": {"std": 0.01, "a": 0.05},
}


def identity_tree(config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` without what does not make the run; `config` itself is left as it was."""
    tree = _prune(RunConfig, {k: v for k, v in config.items() if k not in RECORD_KEYS})
    optim = tree.get("optim")
    if isinstance(optim, dict) and optim.get("lr_scaling", "none") == "none":
        # Without scaling the reference batch size changes nothing, and runs from
        # before lr scaling existed keep the ids they always had.
        optim.pop("lr_scaling", None)
        optim.pop("reference_batch_size", None)
    evaluation = tree.get("eval")
    if isinstance(evaluation, dict) and evaluation.get("tta", "none") not in CROP_TTAS:
        # How crops pad changes nothing for TTA without crops: those runs keep their ids.
        evaluation.pop("tta_pad", None)
    for group, flat in FORMAT_2_FLAT.items():
        node = tree.get(group)
        if isinstance(node, dict):
            tree[group] = {**flat, **node}
    return tree


def record_id(config: Mapping[str, Any]) -> str:
    """The run id of a config as config.yaml holds it: 12 hex digits of SHA-256
    of its identity tree and results format (48 bits: collisions need ~16 million runs)."""
    tree = {**identity_tree(config), "results_format": RESULTS_FORMAT}
    canonical = json.dumps(tree, sort_keys=True, separators=(",", ":"), default=list)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _prune(cls: type, node: Mapping[str, Any], level: bool = False) -> dict[str, Any]:
    types, fields = field_types(cls)
    out: dict[str, Any] = {}
    for key, value in node.items():
        f = fields.get(key)
        if f is None and level:
            # Another level's option in a format-2 flat record: put back by
            # FORMAT_2_FLAT at the value it had, or, where a preset set it on a
            # level without it (norm.groups on norm=batch), dropped: it changed nothing.
            continue
        if f is None:  # a key this version does not have: an older record's, kept as it was
            out[key] = value
        elif f.metadata.get(IDENTITY) is False:
            continue
        elif f.metadata.get(ADDED_LATER) and _same(value, f.metadata[WAS]):
            continue
        else:
            out[key] = _nested(f, types[key], value)
    return out


def _nested(f: dataclasses.Field, tp: Any, value: Any) -> Any:
    """A section as its class prunes it: a group's level class, an aug's params, a plain section."""
    if not isinstance(value, Mapping):
        return value
    if LEVELS in f.metadata:
        return _prune(f.metadata[LEVELS].cls(value.get("name")), value, level=True)
    if ENTRIES in f.metadata:  # aug: {flip: {...}, crop: {...}}
        entries = f.metadata[ENTRIES]
        return {k: _prune(entries[k], v) if k in entries and isinstance(v, Mapping) else v for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _prune(tp, value)
    return dict(value)


def _same(value: Any, default: Any) -> bool:
    if isinstance(value, bool) or isinstance(default, bool):  # True == 1, but not as a setting
        return value is default
    # YAML gives lists where the dataclass holds tuples.
    return (list(value) if isinstance(value, tuple) else value) == (list(default) if isinstance(default, tuple) else default)


def results_format(record: Mapping[str, Any]) -> int:
    """The results format a run's config.yaml or status.json records (1 when it predates the key)."""
    value = record.get("results_format", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1
