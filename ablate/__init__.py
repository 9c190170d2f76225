"""ablate: which design choice in a CNN actually matters, by how much, and why.

From Python, what the command line does:

    study = ablate.load("results/norm-vs-act")   # a Study: .runs, .epochs, .diagnostics (DataFrames)
    study.report().importance                    # the ANOVA table, numbers
    ablate.run_train(["norm=batch", "epochs=5"])  # one run: .status, .summary["test_acc"]
    ablate.run_sweep(["norm=none,batch", "seed=0,1"], workers=2)   # a grid, a line per finished run

load, run_train, run_sweep and Study come from ablate.api, imported on first use
so `import ablate` stays light. The package reads as its flow (docs/architecture.md):
config → sweep (plan) → launch → runner → store → report, with cli/ on top.
"""

from ablate.store.provenance import VERSION as __version__

# The Python API (ablate.api), imported on first use so `import ablate` stays light:
# ablate.load(path) → a Study; ablate.run_train(overrides=[...]); ablate.run_sweep(overrides=[...], workers=2).
_API = ("load", "run_train", "run_sweep", "Study")


def __getattr__(name: str):
    if name in _API:
        import ablate.api

        return getattr(ablate.api, name)
    raise AttributeError(f"module 'ablate' has no attribute {name!r}")


def __dir__() -> list[str]:
    # The lazy names are not in globals() until first used: without this, dir(ablate),
    # tab completion and help(ablate) show only `run`.
    return sorted({*globals(), *_API})


def run(spec):
    """Run one training run described by an `ablate.runner.spec.RunSpec`; see `ablate.runner.run`."""
    from ablate.runner.run import run as _run

    return _run(spec)


__all__ = ["__version__", "load", "run", "run_sweep", "run_train", "Study"]
