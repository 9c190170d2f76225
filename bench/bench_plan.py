"""Planning a grid: `make_plan` against Hydra's compose API called per cell.

`ablate sweep --dry-run` composes and validates every cell before anything
runs. The baseline composes each cell from scratch with `hydra.compose` (what
a sweeper plugin does) and nothing more; ablate composes the tree once per
distinct group choice, assigns each cell's values on a plain copy, and also
types, range-checks and hashes every cell (run id). Side by side in this
process, best of --rounds.

    python bench/bench_plan.py [--cells 1000 10000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import time

from hydra import compose
from omegaconf import OmegaConf

from ablate.config.compose import CONFIG_NAME, hydra_context
from ablate.sweep.plan import make_plan


def hydra_per_cell(cells: int) -> float:
    start = time.perf_counter()
    with hydra_context():
        for seed in range(cells):
            OmegaConf.to_container(compose(CONFIG_NAME, overrides=[f"seed={seed}", "optim.lr=0.1"]), resolve=True)
    return time.perf_counter() - start


def ablate_plan(cells: int) -> float:
    start = time.perf_counter()
    plan = make_plan([f"seed=range(0,{cells})", "optim.lr=0.1"])
    assert len(plan.runs) == cells
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    ablate_plan(10)  # imports and the first tree out of the timing
    hydra_per_cell(10)
    print("cells  hydra.compose per cell (s)  ablate make_plan (s)  speed-up")
    for cells in args.cells:
        base = min(hydra_per_cell(cells) for _ in range(args.rounds))
        ours = min(ablate_plan(cells) for _ in range(args.rounds))
        print(f"{cells:>5}  {base:26.2f}  {ours:20.2f}  {base / ours:7.1f}×")


if __name__ == "__main__":
    main()
