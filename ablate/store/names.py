"""Names a user gives to folders under --results (`--name`): one safe path segment."""

from __future__ import annotations

import re

from ablate.errors import ConfigError

# A folder name under --results: one path segment of safe characters, short
# enough for every file system (255 bytes a name) once run ids go below it.
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.,=+-]{0,119}")


def check_name(name: str) -> None:
    if not NAME.fullmatch(name) or name in (".", ".."):
        raise ConfigError(f"--name '{name}' must be one folder name: letters, digits and _ . , = + -, "
                          f"at most 120 characters, not starting with . or -")
