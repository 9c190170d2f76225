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

Nothing is imported here: `ablate.cli.report` is the command, and it loads
these modules (pandas, scipy, matplotlib) only when a report is asked for.
"""
