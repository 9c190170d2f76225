"""Run identity: a short stable hash of the settings that change the result.

The same config is the same run on any machine and in any sweep, so a sweep
can skip what is done and two sweeps can share runs. Left out: where and how
fast it runs (device, compile, memory layout, evaluation batch size) and what it records on
the side (diagnostics cadence), which must not split
one experiment into two ids.
"""

from __future__ import annotations

from typing import Any

from ablate.schema.identity import RESULTS_FORMAT, identity_tree, record_id
from ablate.schema.run import RunConfig


def identity(config: RunConfig) -> dict[str, Any]:
    """The settings that make the run what it is, and the results format its
    numbers are in (see ablate.schema.identity)."""
    return {**identity_tree(config.to_dict()), "results_format": RESULTS_FORMAT}


def run_id(config: RunConfig) -> str:
    """12 hex digits of SHA-256 of `identity(config)` (ablate.schema.identity.record_id)."""
    return record_id(config.to_dict())
