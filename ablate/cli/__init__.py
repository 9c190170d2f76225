"""The command line: `app` (train, sweep, list), `report`, and their terminal views.

  app          the typer app: train · sweep · list, and report registered on it
  report       the `ablate report` command and its options
  *_view       what each command shows: train progress, the sweep's live panel,
               the plan table, a run's result, the list of choices
"""
