"""`ablate list`: the choices of every group, read from the same registries the
code uses, so the list can never drift from what actually runs."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ablate.config.compose import CHOICES, lookup
from ablate.registry import Registry


def choice_groups() -> dict[str, tuple[Registry, str]]:
    """group key → (registry, dotted path of the chosen name in the config)."""
    from ablate.train.device import DEVICES

    # device is checked by its pattern (cuda:N), not by a registry: listed, not in CHOICES.
    return {**CHOICES, "device": (DEVICES, "device")}


# A study preset's header names its claim and the measured verdict, one line each
# (`# claim: ...`, `# verdict: ...`); docs/studies.md has the numbers behind it.
HEADER_FIELDS = ("claim", "verdict")
# The four verdicts of docs/studies.md (its opening defines each), and "pending" before a preset is measured.
VERDICTS = ("reproduced", "equivalent", "inconclusive", "reversed", "pending")


def preset_header(path: Path) -> dict[str, str]:
    """`# key: value` lines of the file's leading comment block, for HEADER_FIELDS."""
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        key, sep, value = line.lstrip("#").strip().partition(":")
        if sep and key in HEADER_FIELDS:
            found[key] = value.strip()
    return found


def _preset_help(path: Path) -> str:
    """A preset's claim and verdict, or else the first sentence of its leading comment block."""
    header = preset_header(path)
    if "claim" in header:
        return f"{header['claim']} [verdict: {header.get('verdict', 'pending')}]"
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if text and not text.startswith("@package"):
            lines.append(text)
    words = " ".join(lines)
    end = min((i + 1 for i, ch in enumerate(words) if ch in ".?" and (i + 1 == len(words) or words[i + 1] == " ")),
              default=len(words))
    return words[:end]


def print_choices(console: Console, group: str | None, config_dir: Path | None) -> None:
    import ablate.data  # noqa: F401  (registers the datasets)
    from ablate.config.compose import compose_dict
    from ablate.errors import unknown_choice

    groups = choice_groups()
    names = [*groups, *FILE_GROUPS]
    if group is not None and group not in names:
        raise unknown_choice("group", group, names)
    defaults = compose_dict([], config_dir)
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("group")
    table.add_column("choice")
    table.add_column("")
    for key, (registry, path) in groups.items():
        if group not in (None, key):
            continue
        default = lookup(defaults, path)
        # aug is a set applied in registry order; other groups list the default first.
        names = list(registry) if key == "aug" else sorted(registry, key=lambda n: (n != default, n))
        if key == "aug":
            table.add_row(key, "[bold green]\\[][/] (default)", escape("no augmentation; choose a set: aug=[flip,crop]"))
        for i, name in enumerate(names):
            mark = f"[bold green]{name}[/] (default)" if name == default else name
            table.add_row(key if i == 0 and key != "aug" else "", mark, escape(registry.help[name]))
        table.add_row("", "", "")
    for key, (default, empty) in FILE_GROUPS.items():
        if group not in (None, key):
            continue
        options = _yaml_choices(key, config_dir)
        for i, name in enumerate(sorted(options, key=lambda n: (n != default, n))):
            mark = f"[bold green]{name}[/] (default)" if name == default else name
            table.add_row(key if i == 0 else "", mark, escape(_preset_help(options[name])))
        if not options:
            table.add_row(key, "(none)", empty)
        table.add_row("", "", "")
    console.print(table)


# Groups that are folders of YAML files with no code registry: group → (default, text when empty).
FILE_GROUPS = {
    "diagnostics": ("on", ""),
    "tracker": ("none", ""),  # several at once: 'tracker=[tensorboard,mlflow]'
    "experiment": (None, "presets live in conf/experiment/NAME.yaml"),
    "launcher": ("local", ""),  # `ablate sweep --launcher NAME`; never part of a run's config
}


def _yaml_choices(key: str, config_dir: Path | None) -> dict[str, Path]:
    """name → file of a folder group, from the package's conf/ and the user's
    --config-dir (whose file describes the choice when both have one)."""
    from ablate.config.compose import package_conf_dir

    folders = [package_conf_dir() / key] + ([Path(config_dir).expanduser() / key] if config_dir else [])
    return {p.stem: p for folder in folders if folder.is_dir() for p in sorted(folder.glob("*.yaml"))}
