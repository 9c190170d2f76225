"""ablate: which design choice in a CNN actually matters, by how much, and why.

The package reads as its flow (docs/architecture.md):
config → sweep (plan) → launch → runner → store → report, with cli/ on top.
"""

from ablate.store.provenance import VERSION as __version__


def run(spec):
    """Run one training run described by an `ablate.runner.spec.RunSpec`; see `ablate.runner.run`."""
    from ablate.runner.run import run as _run

    return _run(spec)
