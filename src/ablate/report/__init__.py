"""`ablate report`: tables, statistics, plots and an HTML page from the results store.

It reads only the store, so it works on sweeps from any machine, partial
sweeps and several sweeps at once. One direction of flow, one job per module:

  load         results/<sweep>/ → one runs table (+ epochs, read on demand)
  select       --where filter, --by keys, checked against what the store holds
  convergence  the accuracy target and epochs/seconds to reach it
  stats        Student t intervals, Welch's t-test, Holm's correction
  tables       per-level status counts, means, intervals, ranks, p-values
  diagnostics  the runs' diagnostics.csv → per level and depth: activation std,
               gradient norm, dead / saturated fraction (read on first use)
  build        all of the above into one `Report`
  present      numbers → cells shared by terminal, Markdown, LaTeX and HTML
  render       rich tables on the terminal; Markdown, CSV, JSON, LaTeX writers
  plots        PNG plots (matplotlib, Agg)
  html         index.html, self-contained
  command      the typer command

Nothing heavy is imported here: `ablate.cli` imports `command` at start-up.
"""

from __future__ import annotations


def build_report(*args, **kwargs):
    """`ablate.report.build.build_report`, imported on first use (pandas, scipy)."""
    from ablate.report.build import build_report as build

    return build(*args, **kwargs)
