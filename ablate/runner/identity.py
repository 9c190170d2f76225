"""Run identity: a short stable hash of the settings that change the result.

The same config is the same run on any machine and in any sweep, so a sweep
can skip what is done and two sweeps can share runs. Left out: where and how
fast it runs (device, compile, memory layout, evaluation batch size) and what it records on
the side (diagnostics cadence), which must not split
one experiment into two ids.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ablate.config.schema import RunConfig

# (group, key) pairs that do not change what a run computes, only where or how fast.
NOT_IDENTITY = {("device",), ("compile",), ("memory_format",), ("eval", "batch_size"), ("diagnostics",)}


def identity(config: RunConfig) -> dict[str, Any]:
    tree = config.to_dict()
    for path in NOT_IDENTITY:
        node = tree
        for key in path[:-1]:
            node = node[key]
        node.pop(path[-1], None)
    if tree["optim"]["lr_scaling"] == "none":
        # Without scaling the reference batch size changes nothing, and runs from
        # before lr scaling existed keep the ids they always had.
        del tree["optim"]["lr_scaling"], tree["optim"]["reference_batch_size"]
    return tree


def run_id(config: RunConfig) -> str:
    """12 hex digits of SHA-256 (48 bits: collisions need ~16 million runs)."""
    canonical = json.dumps(identity(config), sort_keys=True, separators=(",", ":"), default=list)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]
