"""A sweep folder's sweep.yaml, read once for every reader (the sweep that adds
its grid to it, the report that reads the grids back)."""

from __future__ import annotations

from pathlib import Path

import yaml

from ablate.errors import ConfigError

RECORD = "sweep.yaml"


def read_sweep_record(folder: Path) -> dict:
    """The folder's sweep.yaml as a mapping; {} when there is none. A file that is
    not YAML, or YAML but not a mapping (damaged, or written by hand), is one
    line naming it and the way out, never a traceback or a silent reset that
    would forget the grids recorded in it."""
    file = Path(folder) / RECORD
    if not file.exists():
        return {}
    try:
        record = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        why = str(e).strip().splitlines()[0]
    else:
        if record is None or isinstance(record, dict):
            return record or {}
        why = f"it holds a {type(record).__name__}, not a mapping"
    raise ConfigError(f"{file} is not a sweep record ({why}); repair it, or move it away and run the sweep "
                      "again to write a new one")
