"""--where keeps the Holm family of the whole study: a slice's p values are
corrected over the comparisons of every slice, not of the slice alone."""

from __future__ import annotations

import numpy as np
import pytest

from ablate.report.build import build_report
from helpers.report import holm_reference, norm_act_runs, write_sweep


@pytest.fixture()
def sweep(tmp_path):
    return write_sweep(tmp_path, "na", norm_act_runs(seeds=5), keys=["norm", "act", "seed"])


def test_a_slice_is_corrected_over_every_slices_comparisons(sweep):
    slices = {act: build_report([sweep], by="norm", where=[f"act={act}"]).sections[0].table.set_index("norm")
              for act in ("relu", "tanh")}
    raw = {act: t["p"].dropna() for act, t in slices.items()}  # the raw Welch p of each slice's comparisons
    pooled = [p for act in ("relu", "tanh") for p in raw[act]]
    expected = dict(zip([(act, lv) for act in ("relu", "tanh") for lv in raw[act].index], holm_reference(pooled)))
    assert len(pooled) == 4
    for act, table in slices.items():
        for level in raw[act].index:
            assert table.loc[level, "p_holm"] == pytest.approx(expected[act, level])
    # Corrected over 4, each is at least its raw p times the family's smallest multiplier.
    assert all(slices[a].loc[lv, "p_holm"] >= raw[a][lv] for a in raw for lv in raw[a].index)


def test_the_header_names_the_family(sweep):
    report = build_report([sweep], by="norm", where=["act=relu"])
    assert any("all 2 slices of --where act=relu" in n and "norm: 4" in n for n in report.notes)


def test_a_where_that_keeps_every_run_changes_no_p(sweep):
    whole = build_report([sweep], by="norm").sections[0].table
    kept = build_report([sweep], by="norm", where=["act=relu,tanh"])
    assert np.allclose(whole["p_holm"].to_numpy(dtype=float), kept.sections[0].table["p_holm"].to_numpy(dtype=float),
                       equal_nan=True)
    assert not any("slices of --where" in n for n in kept.notes)
