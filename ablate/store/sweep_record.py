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


def run_roles(record: dict) -> dict[str, str]:
    """run id → its role in a tuned sweep (`tune`, `rerun`), over every grid the folder recorded
    (ablate.sweep.tune); the last grid's word wins. Empty for a sweep that tuned nothing."""
    roles: dict[str, str] = {}
    for grid in [*(record.get("grids") or []), record]:
        roles.update(((grid or {}).get("tune") or {}).get("roles") or {})
    return roles
