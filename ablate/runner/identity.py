"""Run identity: a short stable hash of the settings that change the result.

The same config is the same run on any machine and in any sweep, so a sweep
can skip what is done and two sweeps can share runs. Left out: where and how
fast it runs (device, compile, memory layout, evaluation batch size) and what it records on
the side (diagnostics cadence), which must not split
one experiment into two ids.
"""

from __future__ import annotations

from ablate.schema.identity import record_id
from ablate.schema.run import RunConfig


def run_id(config: RunConfig) -> str:
    """12 hex digits of SHA-256 of the config's identity tree and results format
    (ablate.schema.identity.record_id: config.yaml's files hash the same way)."""
    return record_id(config.to_dict())
