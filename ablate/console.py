"""The one place ablate speaks to its user: `out`, `err`, `fail`, `note`.

The CLI and the report print through here, so every error looks the same: one
red line on stderr, the user's own words escaped (values such as
'aug=[flip,crop]' would otherwise be read as rich markup), and an exit code.
"""

from __future__ import annotations

import os

import typer
from rich.console import Console
from rich.markup import escape

# Columns a table may use when the stream is a pipe or a file: rich would assume 80
# and fold tables and sentences mid-word into SLURM and nohup logs.
UNWRAPPED = 200


def console(stderr: bool = False) -> Console:
    """A terminal gets its own width. A pipe or a file (no COLUMNS set) has no width
    to fit: prose stays one line however long (soft wrap), tables get UNWRAPPED
    columns, and nothing is coloured, so `grep` and `tee` see the words."""
    probe = Console(stderr=stderr)
    if probe.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return probe
    return Console(stderr=stderr, width=UNWRAPPED, soft_wrap=True)


out = console()
err = console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `error: message` and return the Exit to raise: `raise fail(...) from None`."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def warning(message: str) -> None:
    """A one-line warning on stderr: something went wrong, but the command goes on."""
    err.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def note(message: str) -> None:
    """A one-line caveat on stderr that does not stop the command."""
    err.print(f"[yellow]note:[/] {escape(message)}", highlight=False, soft_wrap=True)
