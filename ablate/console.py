"""The one place ablate speaks to its user: `out`, `err`, `fail`, `note`.

The CLI and the report print through here, so every error looks the same: one
red line on stderr, the user's own words escaped (values such as
'aug=[flip,crop]' would otherwise be read as rich markup), and an exit code.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

out = Console()
err = Console(stderr=True)


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
