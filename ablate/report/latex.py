"""report.tex: the report as booktabs tables for a paper (\\usepackage{booktabs,graphicx}).

Written to be `\\input` into a document, one- or two-column: the headline
(which factor matters most: the ANOVA with η², partial η² and its interval, ω²,
and the assumption checks) comes first; each section's essential columns (runs
done, the ranking metric, its Δ and p) are a `table` narrow enough for one
paper column, and the other columns are two more tables, `table*` (the page's
width in a two-column paper). A table still wider than its column or page
(long level names, a three-way interaction) is scaled down to fit, never cut
off (`\\resizebox` from graphicx, only when its natural width is too much).
Every character is ASCII or a LaTeX command, so
pdflatex compiles it without unicode packages: `<0.001` is math (text-mode `<`
prints as `¡` in the default font encoding), η² is `\\eta^2`.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

from ablate.report.build import Report
from ablate.report.present import (cells, column_groups, diagnostic_caption, diagnostic_cells, diagnostic_numeric,
                                   grid_caption, importance_caption, importance_columns, importance_rows,
                                   numeric_columns, pivot_cells, provenance)

LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                 "—": "---", "–": "--",
                 # Math, each in its own \ensuremath: two `$...$` side by side would read as `$$`.
                 "<": r"\ensuremath{<}", ">": r"\ensuremath{>}", "±": r"\ensuremath{\pm}", "→": r"\ensuremath{\to}",
                 "−": r"\ensuremath{-}", "Δ": r"\ensuremath{\Delta}", "×": r"\ensuremath{\times}",
                 "η": r"\ensuremath{\eta}", "ω": r"\ensuremath{\omega}", "²": r"\ensuremath{^2}",
                 "·": r"\ensuremath{\cdot}", "∞": r"\ensuremath{\infty}", "≤": r"\ensuremath{\leq}",
                 "≥": r"\ensuremath{\geq}", "α": r"\ensuremath{\alpha}", "χ": r"\ensuremath{\chi}"}
PAIRS = {"η²": r"\ensuremath{\eta^2}", "ω²": r"\ensuremath{\omega^2}"}  # one math group: no gap before the ²
COLUMN_SEP = "4pt"  # \tabcolsep, LaTeX's default 6pt: what lets the essential columns fit one paper column


# A comment is not typeset, so its text is spelled out in ASCII rather than escaped.
COMMENT_ASCII = {"±": "+/-", "Δ": "delta ", "−": "-", "η": "eta", "ω": "omega", "²": "^2", "×": "x", "→": "->",
                 "·": "*", "≥": ">=", "≤": "<=", "∞": "inf", "α": "alpha", "χ": "chi", "—": "--", "–": "-",
                 "…": "...", "’": "'", "“": '"', "”": '"'}


def latex_comment(text: object) -> str:
    """`% ...` in plain ASCII: the file stays ASCII, whatever a note says."""
    spelled = "".join(COMMENT_ASCII.get(ch, ch) for ch in str(text))
    return "% " + unicodedata.normalize("NFKD", spelled).encode("ascii", "ignore").decode("ascii")


def latex_escape(text: object) -> str:
    pieces = re.split(f"({'|'.join(map(re.escape, PAIRS))})", str(text))
    return "".join(PAIRS.get(p) or "".join(LATEX_SPECIAL.get(ch, ch) for ch in p) for p in pieces)


def latex_table(frame: pd.DataFrame, numeric: list[bool], caption: str, wide: bool = False,
                notes: list[str] = ()) -> str:
    """A booktabs table; `wide`: table* (both columns of a two-column paper)."""
    env = "table*" if wide else "table"
    spec = "".join("r" if right else "l" for right in numeric)
    rows = [" & ".join(latex_escape(v) for v in row) + r" \\" for row in frame.itertuples(index=False)]
    below = ([r"\par\smallskip", r"\begin{minipage}{\linewidth}\footnotesize\raggedright",
              *[latex_escape(n) + r"\par" for n in notes], r"\end{minipage}"] if notes else [])
    return "\n".join([
        f"\\begin{{{env}}}[ht]", r"\centering\small", f"\\setlength{{\\tabcolsep}}{{{COLUMN_SEP}}}",
        f"\\caption{{{latex_escape(caption)}}}",
        # Set in a box first: shown as is when it fits the line, scaled to the line's width when not.
        r"\sbox0{%", f"\\begin{{tabular}}{{{spec}}}", r"\toprule",
        " & ".join(latex_escape(c) for c in frame.columns) + r" \\", r"\midrule",
        *rows, r"\bottomrule", r"\end{tabular}}%",
        r"\ifdim\wd0>\linewidth\resizebox{\linewidth}{!}{\usebox0}\else\usebox0\fi",
        *below, f"\\end{{{env}}}",
    ])


def _importance(report: Report) -> list[str]:
    imp = report.importance
    if imp is None:
        return []
    frame = pd.DataFrame(importance_rows(imp), columns=importance_columns(imp))
    caption = f"Which factor matters most: {imp.line()} ({importance_caption(imp)})"
    return ["", latex_table(frame, [False] + [True] * (frame.shape[1] - 1), caption, notes=imp.notes)]


def _sections(report: Report) -> list[str]:
    parts = []
    for section in report.sections:
        frame, numeric = cells(report, section), numeric_columns(report, section)
        for i, (title, positions) in enumerate(column_groups(report, section)):
            caption = f"{section.title}: {title}" if title else section.title
            parts += ["", latex_table(frame.iloc[:, positions], [numeric[p] for p in positions], caption, wide=i > 0)]
        if section.interaction:
            grid = pivot_cells(report, section).reset_index()
            flags = [False] * (len(section.keys) - 1) + [True] * (grid.shape[1] - len(section.keys) + 1)
            parts += ["", latex_table(grid, flags, grid_caption(report, section), wide=True)]
    return parts


def to_latex(report: Report) -> str:
    """Tables for a paper; the header lines and where the report came from as comments."""
    parts = [r"% ablate report: \input into a document with \usepackage{booktabs,graphicx}"]
    parts += [latex_comment(line) for line in report.header()]
    parts += [latex_comment(f"{what}: {value}") for what, value in provenance(report)]
    parts += _importance(report) + _sections(report)
    if report.diagnostics is not None:
        parts += ["", latex_comment(report.diagnostics.describe())]
        for f in report.diagnostics.factors:
            frame = diagnostic_cells(f)
            parts += ["", latex_table(frame, diagnostic_numeric(frame), diagnostic_caption(f), wide=True)]
    return "\n".join(parts) + "\n"
