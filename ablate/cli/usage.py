"""Command-line mistakes (an unknown option, a value out of range) as one line.

Click and Typer print a usage line, a hint and a boxed message; ablate's other
errors are one `error:` line naming the bad value, so these are too:

    error: --confidence 1.5: input should be less than or equal to 0.999 (ablate report -h)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer
from typer.core import TyperGroup

try:  # typer >= 0.25 carries its own copy of click
    from typer._click import exceptions as click
except ImportError:
    from click import exceptions as click

from ablate.console import fail


def given_value(args: Sequence[str], opts: Sequence[str]) -> str | None:
    """What the user wrote for an option (`--opt value` or `--opt=value`), the last one when repeated."""
    value = None
    for i, arg in enumerate(args):
        for opt in opts:
            if arg == opt and i + 1 < len(args):
                value = args[i + 1]
            elif opt.startswith("--") and arg.startswith(opt + "="):
                value = arg[len(opt) + 1:]
    return value


def empty_value(args: Sequence[str]) -> str | None:
    """An empty argument (`--results ""`, `--config-dir=`, often an unset shell
    variable): Path("") is the current folder, so it would quietly mean "here"."""
    for i, arg in enumerate(args):
        if arg.startswith("--") and arg.endswith("="):
            return f"{arg[:-1]} is given an empty value; give one, or leave the option out"
        if arg == "":
            after = f" after {args[i - 1]}" if i and args[i - 1].startswith("-") else ""
            return f"an empty argument{after} (an unset shell variable?); give a value, or leave it out"
    return None


def one_line(e: click.ClickException, args: Sequence[str]) -> str:
    message = e.format_message()
    if isinstance(e, click.BadParameter) and e.param is not None and not isinstance(e, click.MissingParameter):
        reason = e.message[:1].lower() + e.message[1:]
        name = e.param.opts[0] if e.param.opts else e.param.human_readable_name
        value = given_value(args, e.param.opts) if e.param.param_type_name == "option" else None
        message = f"{name} {value}: {reason}" if value is not None else f"{name}: {reason}"
    else:
        message = message[:1].lower() + message[1:]
    ctx = getattr(e, "ctx", None)
    hint = f" ({ctx.command_path} -h)" if ctx is not None else ""
    return " ".join(message.split()) + hint


class OneLineErrors(TyperGroup):
    """The app's group: usage errors print one `error:` line, exit 2."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        if (empty := empty_value(argv)) is not None:
            fail(empty)
            sys.exit(2)
        try:
            code = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.NoArgsIsHelpError as e:  # the help is already printed
            sys.exit(e.exit_code)
        except click.ClickException as e:
            fail(one_line(e, argv))
            sys.exit(e.exit_code)
        except typer.Abort:  # Ctrl-C outside a run (at a prompt, while importing)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)

