"""A grid of runs: `plan` turns a command line into run specs, `driver` runs
what is left of a plan through a launcher and writes the sweep's tables."""
