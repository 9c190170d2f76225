"""The study presets (conf/experiment/) and their write-up (docs/studies.md).

Each preset states a textbook claim, its source and a measured verdict; the
document has a section per preset with the numbers. These tests keep the two in
step and check that every preset is a valid, replicated grid that runs.
"""

import re
from collections import Counter
from pathlib import Path

import pytest

from ablate.cli.list_view import VERDICTS, preset_header
from ablate.sweep.plan import make_plan

ROOT = Path(__file__).resolve().parents[1]
PRESET_DIR = ROOT / "conf" / "experiment"
STUDIES = ROOT / "docs" / "studies.md"
PRESETS = sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def _header_runs(name: str) -> int:
    """The run count the header promises: `... = N runs`."""
    match = re.search(r"= (\d+) runs", (PRESET_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    assert match, f"{name}.yaml: no '= N runs' line in its header"
    return int(match.group(1))


@pytest.mark.parametrize("name", PRESETS)
def test_preset_header_names_claim_source_and_verdict(name):
    text = (PRESET_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    header = preset_header(PRESET_DIR / f"{name}.yaml")
    assert header.get("claim"), f"{name}.yaml: no '# claim:' line"
    assert header.get("verdict") in VERDICTS, f"{name}.yaml: verdict {header.get('verdict')!r} not in {VERDICTS}"
    assert "# source:" in text and ("# Why this grid:" in text or "# Why:" in text)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_plans_the_runs_its_header_says_with_three_seeds_per_cell(name):
    plan = make_plan([f"experiment={name}"])
    assert len(plan.runs) == _header_runs(name)
    assert "seed" in plan.factors
    cells = Counter(tuple(v for k, v in run.factors.items() if k != "seed") for run in plan.runs)
    assert min(cells.values()) >= 3, f"{name}: a cell with fewer than 3 seeds: {cells.most_common()[-1]}"


@pytest.mark.parametrize("name", PRESETS)
def test_preset_dry_run_exits_0(cli, name):
    result = cli("sweep", f"experiment={name}", "--dry-run")
    assert result.exit_code == 0, result.output


def _documented() -> dict[str, str]:
    """preset → verdict, from docs/studies.md's `ablate sweep experiment=NAME` commands and
    the `**Verdict: ...**` line that follows in the same section (## or ###)."""
    found: dict[str, str] = {}
    for section in re.split(r"\n###? ", STUDIES.read_text(encoding="utf-8")):
        names = re.findall(r"ablate sweep experiment=([a-z0-9_]+)", section)
        verdict = re.search(r"\*\*Verdict: ([^*]+?)\.?\*\*", section)
        for name in names:
            found[name] = verdict.group(1).strip() if verdict else ""
    return found


def test_every_preset_is_written_up_and_every_write_up_has_a_preset():
    documented = _documented()
    assert sorted(documented) == PRESETS


def test_the_document_and_the_preset_give_the_same_verdict():
    documented = _documented()
    for name in PRESETS:
        assert documented[name] == preset_header(PRESET_DIR / f"{name}.yaml")["verdict"], name


def test_the_summary_counts_the_four_verdicts_of_its_table():
    """The Summary's sentence ("N reproduced, N equivalent, ...") counts its table's verdict column,
    every row's verdict is one of the four, and each preset's row agrees with its section."""
    text = STUDIES.read_text(encoding="utf-8")
    summary = text.split("## Summary", 1)[1].split("\n## ", 1)[0].split("**Tuned per level", 1)[0]
    rows = [line.split("|") for line in summary.splitlines() if re.match(r"\| \d+[ab]? \|", line)]
    verdicts = {re.search(r"`([a-z0-9_]+)`", r[3]).group(1): r[4].strip() for r in rows}
    assert sorted(verdicts) == PRESETS
    assert set(verdicts.values()) <= set(VERDICTS) - {"pending"}
    counts = Counter(verdicts.values())
    # The counting sentence: "...: N reproduced, N equivalent, N inconclusive, N reversed."
    sentence = re.search(r"(\d+) reproduced, (\d+) equivalent, (\d+) inconclusive, (\d+) reversed", summary)
    assert sentence, "the Summary does not count its verdicts"
    stated = dict(zip(("reproduced", "equivalent", "inconclusive", "reversed"), map(int, sentence.groups())))
    assert stated == {w: counts.get(w, 0) for w in ("reproduced", "equivalent", "inconclusive", "reversed")}
    documented = _documented()
    assert all(verdicts[name] == documented[name] for name in PRESETS)


@pytest.mark.slow
def test_every_preset_runs_one_epoch_of_one_seed(cli, tmp_path):
    """Each preset end to end, cut to 1 epoch, seed 0 and small data, so the
    whole set takes a minute or two: every run finishes (completed or diverged)."""
    import pandas as pd

    for name in PRESETS:
        # A digits subset of 200 images; synthetic presets set their own size.
        first = make_plan([f"experiment={name}"]).runs[0].config
        small = ["data.n_train=200"] if first.data.name == "digits" else []
        # A steps-budget preset is cut to 2 optimiser steps, an epochs one to 1 epoch.
        short = "steps=2" if first.budget == "steps" else "epochs=1"
        args = ["sweep", f"experiment={name}", short, "seed=0", "diagnostics=off", "--workers", "1",
                "--results", str(tmp_path), "--name", name]
        result = cli(*args, *small)
        assert result.exit_code == 0, f"{name}: {result.output}"
        runs = pd.read_csv(tmp_path / name / "runs.csv")
        assert set(runs["status"]) <= {"completed", "diverged"}, f"{name}: {runs['status'].value_counts()}"


def test_list_experiment_shows_every_claim_and_verdict(cli):
    result = cli("list", "experiment")
    assert result.exit_code == 0
    flat = " ".join(result.output.split())  # rich wraps long claims
    for name in PRESETS:
        header = preset_header(PRESET_DIR / f"{name}.yaml")
        assert name in flat
        assert " ".join(header["claim"].split()[:6]) in flat, name
    assert flat.count("[verdict:") == len(PRESETS)


def test_a_presets_one_value_entry_is_a_fixed_setting_not_an_axis(tmp_path):
    from ablate.sweep.plan import make_plan

    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "one.yaml").write_text(
        "# @package _global_\nepochs: 1\nhydra:\n  sweeper:\n    params:\n      norm: none,batch\n"
        "      aug: '[crop]'\n      aug.crop.padding: 1\n")
    plan = make_plan(["experiment=one"], tmp_path)
    assert plan.factors == ["norm"] and len(plan.runs) == 2
    assert all(p.config.aug[0].padding == 1 for p in plan.runs)
