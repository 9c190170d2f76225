"""Where results came from: the ablate version and the git commit of its code.

Written into sweep.yaml, each run's summary and the HTML report.
"""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

try:
    VERSION = metadata.version("ablate")
except metadata.PackageNotFoundError:  # imported from a checkout that was never installed
    VERSION = "0+unknown"


def git_commit() -> str | None:
    """The commit of the checkout ablate runs from; None for an installed wheel."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parents[1],
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
