"""report.tex: tables a paper can \\input, that pdflatex compiles and that fit.

The compile test runs TeX Live's pdflatex (apt-get install texlive-latex-base
texlive-latex-recommended) on a one- and a two-column article, and reads its
log for errors and overfull boxes (a table wider than its column); it skips
where pdflatex is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from ablate.report.build import build_report
from ablate.report.latex import to_latex
from ablate.report.present import cells, column_groups
from ablate.store.provenance import VERSION
from helpers.report import norm_act_runs, write_sweep

PDFLATEX = shutil.which("pdflatex")
PDFTOTEXT = shutil.which("pdftotext")


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("tex")
    sweep = write_sweep(root / "results", "norm-vs-act", norm_act_runs(), keys=["norm", "act", "seed"], target=0.85)
    return {"marginal": build_report([sweep]), "by": build_report([sweep], by="norm,act")}


def test_latex_is_plain_ascii_with_math_where_text_mode_would_misprint(reports):
    for report in reports.values():
        tex = to_latex(report)
        assert tex.isascii(), sorted({ch for ch in tex if not ch.isascii()})  # pdflatex needs no unicode setup
        body = "\n".join(line for line in tex.splitlines() if not line.startswith("%"))
        assert "<0.001" not in body and "\\ensuremath{<}0.001" in body  # text-mode < prints as ¡
        assert "\\ensuremath{\\eta^2}" in body and "\\ensuremath{\\omega^2}" in body


def test_latex_opens_with_the_importance_and_splits_wide_tables(reports):
    report = reports["marginal"]
    tex = to_latex(report)
    captions = re.findall(r"\\caption\{(.*)\}", tex)
    assert captions[0].startswith("Which factor matters most: norm explains ")
    for effect in report.importance.table["effect"]:
        assert f"\n{effect} & " in tex.replace("\\ensuremath{\\times}", "×")
    assert any(note.startswith("assumptions ") for note in report.importance.notes)
    assert "assumptions " in tex  # the checks, under the table
    # Each section: the essential columns in a one-column table, the rest in two page-wide ones.
    for section in report.sections:
        frame = cells(report, section)
        groups = column_groups(report, section)
        assert frame.columns[groups[0][1]].tolist() == ["rank", *section.keys, "done", "test acc", "Δ test acc",
                                                        "p (Holm)"]
        assert set().union(*(set(cols) for _, cols in groups)) == set(range(frame.shape[1]))  # no column lost
    assert tex.count("\\begin{table*}") == 2 * len(report.sections)
    # Where it came from, as comments.
    assert re.search(r"^% command: ablate report .*norm-vs-act$", tex, re.M) and f"% ablate: {VERSION}" in tex
    assert re.search(r"^% date: \d{4}-\d\d-\d\d \d\d:\d\d UTC$", tex, re.M) and "% commit: " in tex


@pytest.mark.skipif(PDFLATEX is None, reason="no pdflatex (apt-get install texlive-latex-base texlive-latex-recommended)")
@pytest.mark.parametrize("columns", ["onecolumn", "twocolumn"])
def test_latex_compiles_and_every_table_fits(reports, tmp_path, columns):
    for name, report in reports.items():
        (tmp_path / f"{name}.tex").write_text(to_latex(report), encoding="ascii")
        doc = tmp_path / f"doc-{name}.tex"
        doc.write_text(f"\\documentclass[{columns}]{{article}}\n\\usepackage{{booktabs,graphicx}}\n"
                       f"\\begin{{document}}\n\\input{{{name}.tex}}\n\\end{{document}}\n", encoding="ascii")
        done = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        log = (tmp_path / f"doc-{name}.log").read_text(encoding="latin-1")
        assert done.returncode == 0, log[-3000:]
        assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)  # no table past its column
        if PDFTOTEXT:
            text = subprocess.run([PDFTOTEXT, "-layout", doc.with_suffix(".pdf"), "-"], capture_output=True,
                                  text=True, check=True).stdout
            assert "<0.001" in text and "¡" not in text
            for header in ("p (Holm)", "AUC val acc", "train − val acc", "partial η", "ω"):
                assert header in text, header
