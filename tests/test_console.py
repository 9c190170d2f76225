"""What ablate prints into a pipe or a file (SLURM and nohup logs, `| tee`):
no width to fit, so neither a sentence nor a table row is folded at 80 columns.

Run as a subprocess with stdout and stderr piped and COLUMNS unset, as a batch
job runs it; conftest sets COLUMNS for the in-process tests, so it is removed here.
"""

from __future__ import annotations

import os
import subprocess
import sys

from helpers.report import norm_act_runs, write_sweep

DEFAULT_WIDTH = 80  # what rich assumes for a stream that is not a terminal


def piped(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run([sys.executable, "-m", "ablate", *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, cwd=cwd, timeout=120)


def test_piped_prose_and_tables_are_not_folded_at_80_columns(tmp_path):
    path = write_sweep(tmp_path / "results", "norm-vs-act", norm_act_runs(), keys=["norm", "act", "seed"],
                       target=0.85)
    result = piped("report", str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # The header's rule is one sentence longer than 80 characters: whole, on one line.
    rule = next(line for line in lines if line.startswith("levels ranked by"))
    assert len(rule) > DEFAULT_WIDTH and rule.rstrip().endswith("Holm-corrected per table"), rule
    # A table row holds every column: the row of the level `none` carries its p value too.
    assert any(len(line) > DEFAULT_WIDTH for line in lines if "│" in line)
    # No colour codes in a log.
    assert "\x1b[" not in result.stdout and "\x1b[" not in result.stderr


def test_piped_list_keeps_each_choice_on_one_line():
    result = piped("list", "data")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if " cifar10 " in line)
    assert "CIFAR-10" in line and line.rstrip().endswith("(data.download=true fetches it)"), line
