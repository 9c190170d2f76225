"""ablate: which design choice in a CNN actually matters, by how much, and why."""

__version__ = "0.1.0"


def run(spec):
    """Run one training run described by a `RunSpec`; see `ablate.runner`."""
    from ablate.runner import run as _run

    return _run(spec)
