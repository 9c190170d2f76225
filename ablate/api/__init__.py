"""The Python API: what the command line does, for notebooks and scripts.

    study.py  `load(paths)` → a `Study`: runs, epochs and diagnostics as
              DataFrames, the report's tables, its plots as figures
    runs.py   `run_train(...)` and `run_sweep(...)`: one run, a grid

The CLI (`ablate.cli`) is built on these functions: it parses the command
line, calls them, and prints. `import ablate; ablate.load(...)` reaches them
lazily (the names avoid the subpackages: `ablate.train` is the training loop).
"""

from ablate.api.runs import SweepResult, SweepSetup, TrainSetup, prepare_sweep, prepare_train, run_sweep, run_train
from ablate.api.study import Study, StudyReport, load

__all__ = ["Study", "StudyReport", "SweepResult", "SweepSetup", "TrainSetup", "load", "prepare_sweep",
           "prepare_train", "run_sweep", "run_train"]
