"""How long a run trains, in epochs and optimiser steps, once its split's size is known.

budget=epochs: `epochs` full passes, steps_per_epoch × epochs steps.
budget=steps: exactly `steps` optimiser steps (issue #26: factors that change
the data or batch size then compare at equal steps). The run takes
ceil(steps / steps_per_epoch) epochs and the last one stops part way, at the
budget: stopping there rather than finishing the pass keeps every run of a
grid at the same step count (finishing it would add up to steps_per_epoch - 1
steps, and more to the runs with more data), and the learning-rate schedule
ends where training does. Evaluation, history rows and checkpoints stay per
epoch, the partial last one included; every epoch before it is whole, so a
resumed run restarts at an epoch boundary at step epoch × steps_per_epoch, as
one that never stopped passed it.

steps_per_epoch is the loader's: floor(images / batch_size), at least 1, as
the last partial batch is dropped (ablate.data.device.DeviceData.train_batches).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ablate.registry import Registry
from ablate.schema.run import RunConfig

# The `budget` choices, for `ablate list budget` and the composition check (the
# schema checks the same names, ablate.schema.run.BUDGETS, as it imports no registry).
BUDGET_CHOICES: Registry[None] = Registry("budget")
BUDGET_CHOICES.add("epochs", None, "epochs=N full passes over the training split (the default)")
BUDGET_CHOICES.add("steps", None, "steps=N optimiser steps at any data or batch size; the last epoch may be partial")


@dataclass(frozen=True)
class Budget:
    epochs: int  # passes begun; under budget=steps the last may be partial
    steps: int  # optimiser steps in all
    steps_per_epoch: int

    @classmethod
    def of(cls, cfg: RunConfig, steps_per_epoch: int) -> Budget:
        if cfg.budget == "steps":
            return cls(math.ceil(cfg.steps / steps_per_epoch), cfg.steps, steps_per_epoch)
        return cls(cfg.epochs, cfg.epochs * steps_per_epoch, steps_per_epoch)

    def steps_in(self, epoch: int) -> int:
        """Optimiser steps of 0-based `epoch`: a whole pass, or what is left of the budget."""
        return max(0, min(self.steps_per_epoch, self.steps - epoch * self.steps_per_epoch))
