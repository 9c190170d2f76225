"""Training budgets in epochs or optimiser steps (issue #26, part 3)."""

import pandas as pd
import pytest
import torch

from ablate.config.compose import load_config
from ablate.errors import ConfigError
from ablate.report.hardware import budget_line
from ablate.runner.identity import run_id
from ablate.runner.run import run
from ablate.runner.spec import RunSpec
from ablate.store.rundir import RunDir
from ablate.train.budget import Budget
from ablate.train.sched import make_scheduler

# 200 digits images at batch 64: floor(200 / 64) = 3 steps an epoch, so 7 steps are 3 + 3 + 1.
BASE = ["device=cpu", "batch_size=64", "diagnostics=off", "budget=steps", "steps=7"]
STEPS = BASE + ["data.n_train=200"]


@pytest.mark.parametrize("overrides, names", [
    (["budget=steps"], "steps=None"),
    (["steps=50"], "steps=50"),
    (["budget=steps", "steps=0"], "steps=0"),
    (["budget=weeks"], "weeks"),
    (["budget=steps", "steps=50", "epochs=10"], "epochs=10"),
])
def test_a_budget_that_is_not_exactly_one_of_epochs_and_steps_is_one_line_naming_it(overrides, names):
    with pytest.raises(ConfigError) as e:
        load_config(overrides)
    assert names in str(e.value) and "\n" not in str(e.value)


def test_the_schema_and_the_listed_choices_agree(cli):
    from ablate.schema.run import BUDGETS
    from ablate.train.budget import BUDGET_CHOICES

    assert tuple(BUDGET_CHOICES) == BUDGETS
    result = cli("list", "budget")
    assert result.exit_code == 0 and "steps" in result.output and "optimiser steps" in result.output


def test_a_steps_budget_records_epochs_as_null_and_moves_no_epochs_run():
    steps = load_config(["budget=steps", "steps=50"])
    assert steps.epochs is None and steps.budget_text == "50 optimiser steps"
    assert load_config([]).budget_text == "30 epochs"
    # epochs is not the budget under budget=steps: saying the default changes nothing.
    assert run_id(load_config(["budget=steps", "steps=50", "epochs=30"])) == run_id(steps)
    assert run_id(steps) != run_id(load_config(["budget=steps", "steps=51"]))
    assert run_id(load_config(["budget=epochs"])) == run_id(load_config([]))


def test_budget_counts_epochs_and_the_partial_last_one():
    cfg = load_config(["budget=steps", "steps=7"])
    budget = Budget.of(cfg, steps_per_epoch=3)
    assert (budget.epochs, budget.steps) == (3, 7)
    assert [budget.steps_in(e) for e in range(3)] == [3, 3, 1]
    assert Budget.of(load_config(["epochs=4"]), steps_per_epoch=3) == Budget(4, 12, 3)


def test_the_schedule_ends_at_the_step_budget():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    cfg = load_config(["sched=cosine"]).sched
    scheduler = make_scheduler(optimizer, cfg, steps_per_epoch=3, epochs=3, total_steps=7)
    lrs = []
    for _ in range(7):
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12) and lrs[-2] > 0  # cosine reaches 0 at step 7, not 9


def test_a_steps_budget_run_takes_exactly_its_steps_at_any_data_size(tmp_path):
    for n in (200, 400):  # 3 and 6 steps an epoch
        result = run(RunSpec(load_config(BASE + [f"data.n_train={n}"]), tmp_path / str(n)))
        assert result.status == "completed"
        rd = RunDir(tmp_path / str(n))
        state = torch.load(rd.checkpoint, weights_only=False)
        assert state["scheduler"]["last_epoch"] == 7  # LambdaLR counts the optimiser steps taken
        assert len(rd.read_history()) == -(-7 // (n // 64))
        assert result.summary["steps_run"] == 7 and result.summary["budget"] == "7 optimiser steps"
        assert result.summary["steps_per_epoch"] == n // 64
        assert rd.read_history()[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # the schedule ended with training


def _interrupted_at(config, path, n):
    """Run `config` and stop it with Ctrl-C as its n-th epoch record is made."""
    import ablate.train.loop as loop

    original, calls = loop.EpochRecord, {"n": 0}

    def record(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    loop.EpochRecord = record
    try:
        with pytest.raises(KeyboardInterrupt):
            run(RunSpec(config, path))
    finally:
        loop.EpochRecord = original


TIMING = ("seconds", "elapsed")


@pytest.mark.parametrize("stop_at", [2, 3])  # in a whole epoch, and in the partial last one
def test_a_resumed_steps_budget_run_has_the_history_of_an_uninterrupted_one(tmp_path, stop_at):
    config = load_config(STEPS + ["dropout.p=0.3", "aug=[crop]"])
    run(RunSpec(config, tmp_path / "full"))
    _interrupted_at(config, tmp_path / "part", stop_at)
    assert len(RunDir(tmp_path / "part").read_history()) == stop_at - 1
    assert run(RunSpec(config, tmp_path / "part")).status == "completed"
    got, want = (RunDir(tmp_path / p).read_history() for p in ("part", "full"))
    assert [{k: v for k, v in h.items() if k not in TIMING} for h in got] == \
        [{k: v for k, v in h.items() if k not in TIMING} for h in want]


def test_the_report_names_the_budget_and_says_when_runs_differ():
    one = pd.DataFrame({"status": ["completed"] * 2, "budget": ["30 epochs"] * 2})
    assert budget_line(one) == "budget: 30 epochs per run"
    mixed = pd.DataFrame({"status": ["completed"] * 3, "budget": ["30 epochs", "2000 optimiser steps", "30 epochs"]})
    assert budget_line(mixed) == "budget: mixed: 30 epochs (2 runs), 2000 optimiser steps (1 runs)"
    assert budget_line(pd.DataFrame({"status": ["completed"]})) is None


def test_a_data_size_grid_on_a_steps_budget_has_no_fewer_steps_note():
    from ablate.sweep.plan import confounds, make_plan

    epochs = confounds(make_plan(["data.n_train=100,300"]))
    steps = confounds(make_plan(["data.n_train=100,300", "budget=steps", "steps=200"]))
    assert any("fewer optimiser steps" in n for n in epochs)
    assert not any("fewer optimiser steps" in n for n in steps)
