"""The shape of the package, kept as docs/architecture.md draws it.

Imports point one way (function-level imports count: hiding an import inside a
function hides a cycle, it does not remove it); Hydra stays inside config/;
core code imports no terminal view; statuses come from one vocabulary; the
package root stays small; functions stay short; the wheel lists every package.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ablate"

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _type_checking_only(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for n in ast.walk(node)}
    return skip


def imported(name: str, path: Path) -> Iterator[str]:
    """Every module name an import statement of `name` reaches, at any depth of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_only(tree)
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: {m for m in imported(name, path) if m in mods and m != name} for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_sees_imports_hidden_in_functions(tmp_path):
    # The checker itself must be able to fail.
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    hidden = tmp_path / "probe.py"
    hidden.write_text("def f():\n    from ablate.errors import ConfigError\n"
                      "if TYPE_CHECKING:\n    from ablate.registry import Registry\n")
    assert set(imported("x", hidden)) == {"ablate.errors", "ablate.errors.ConfigError"}


def test_no_import_cycle_counting_function_level_imports():
    assert cycles(import_graph()) == []


def folder_graph() -> dict[str, set[str]]:
    """Imports between the package's folders (a module of the root counts as its own folder)."""
    def folder(module: str) -> str:
        return module.split(".")[1] if module.count(".") else module

    graph: dict[str, set[str]] = {}
    for name, targets in import_graph().items():
        graph.setdefault(folder(name), set()).update(folder(t) for t in targets if folder(t) != folder(name))
    return graph


def test_no_import_cycle_between_folders():
    """The folder list is the architecture: config → ... → schema, never back up."""
    graph = folder_graph()
    assert cycles({k: v & set(graph) for k, v in graph.items()}) == []


def test_the_typed_spec_imports_nothing_above_it():
    assert folder_graph()["schema"] <= {"errors"}


def test_no_private_hydra_api():
    """Hydra's internals move between releases; its public compose is the one way in."""
    leaks = {name for name, path in modules().items() for m in imported(name, path) if "_internal" in m}
    assert leaks == set()


def test_hydra_and_omegaconf_stay_inside_config():
    mods = modules()
    leaks = {name for name, path in mods.items() if not name.startswith("ablate.config")
             for m in imported(name, path) if m.split(".")[0] in ("hydra", "omegaconf")}
    assert leaks == set()


@pytest.mark.parametrize("core", ["ablate.api", "ablate.track", "ablate.config", "ablate.sweep", "ablate.launch",
                                  "ablate.runner", "ablate.train", "ablate.data", "ablate.models", "ablate.layers",
                                  "ablate.diagnostics", "ablate.store"])
def test_core_code_imports_no_terminal_view(core):
    """Progress reaches the runner as a callback; the CLI owns the terminal."""
    views = ("rich", "typer", "ablate.cli", "ablate.console")
    bad = {(name, m) for name, path in modules().items() if name == core or name.startswith(core + ".")
           for m in imported(name, path) if m == views[0] or m.startswith(views)}
    assert bad == set()


def test_the_report_reads_only_the_store():
    upstream = ("ablate.sweep", "ablate.launch", "ablate.runner", "ablate.config", "ablate.cli")
    bad = {(name, m) for name, path in modules().items() if name.startswith("ablate.report")
           for m in imported(name, path) if m.startswith(upstream)}
    assert bad == set()


def test_the_report_asks_the_design_package_only_which_effects_separate():
    """The report needs numbers about cells, not design construction (pyDOE3 takes a second to import)."""
    mods = modules()
    asked = {m for name, path in mods.items() if name.startswith("ablate.report")
             for m in imported(name, path) if m.startswith("ablate.design")}
    assert {m if m in mods else m.rsplit(".", 1)[0] for m in asked} == {"ablate.design.effects"}
    assert not [m for m in imported("ablate.design.effects", mods["ablate.design.effects"]) if m.startswith("pyDOE3")]


def test_the_package_root_holds_at_most_six_modules():
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(loose) <= 6, loose


STATUS_WORDS = {"queued", "running", "completed", "failed", "diverged", "interrupted"}


def test_statuses_are_never_retyped_as_a_collection_of_strings():
    """Named sets live in ablate.store.status; a tuple of status strings anywhere else drifts."""
    retyped = []
    for name, path in modules().items():
        if name == "ablate.store.status":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                words = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                if len(words & STATUS_WORDS) >= 2:
                    retyped.append(f"{name}:{node.lineno}")
    assert retyped == []


READING_WORDS = {"pending", "unreadable"}
# Words that are statuses elsewhere but mean something else here: a study's verdict.
NOT_A_STATUS = {("ablate.cli.list_view", "pending")}


def _docstrings(tree: ast.AST) -> set[int]:
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}


def status_literals(name: str, source: str) -> list[str]:
    """Every string constant that is a status or reading word: a dict key, a
    comparison, an argument, a column name; docstrings aside."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    return [f"{name}:{node.lineno} {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
            and node.value in STATUS_WORDS | READING_WORDS and (name, node.value) not in NOT_A_STATUS]


def test_the_status_literal_check_finds_keys_and_comparisons():
    source = '"""failed runs"""\nx = {"completed": 1}\nif s == "unreadable": pass\ndef f():\n    """failed"""\n'
    assert sorted(status_literals("m", source)) == ["m:2 'completed'", "m:3 'unreadable'"]


def test_statuses_are_spelled_only_in_the_vocabulary():
    """`Status.COMPLETED`, `Reading.PENDING`: never "completed" retyped as a key or in a comparison."""
    found = [hit for name, path in modules().items() if name != "ablate.store.status"
             for hit in status_literals(name, path.read_text(encoding="utf-8"))]
    assert found == []


def test_metric_names_come_from_one_list():
    """summary.json's numbers are named once (store.summary); runs.csv, the report's
    loader and the trackers take theirs from it."""
    from ablate.report.load import METRIC_COLUMNS
    from ablate.store.summary import SUMMARY_METRICS, summarize
    from ablate.store.tables import METRICS
    from ablate.track.base import SENT_AT_END

    row = {"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5, "test_acc": 0.5,
           "elapsed": 1.0}
    assert set(summarize([row], 0.9)) | {"diverged_epoch", "collapsed_epoch", "params", "classes"} == set(SUMMARY_METRICS)
    assert METRICS == METRIC_COLUMNS == SUMMARY_METRICS and set(SENT_AT_END) <= set(SUMMARY_METRICS)


MAX_LINES = 60
# The training loop stays one readable function, top to bottom (STYLE.md).
ONE_PIECE = {("ablate.train.loop", "train")}


def _is_command(node: ast.FunctionDef) -> bool:
    return any("command" in ast.unparse(d) or "callback" in ast.unparse(d) for d in node.decorator_list)


def test_no_function_is_longer_than_sixty_lines():
    """A typer command counts from its first statement: its option declarations are its signature."""
    long = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or (name, node.name) in ONE_PIECE:
                continue
            start = node.body[0].lineno if _is_command(node) else node.lineno
            if node.end_lineno - start + 1 > MAX_LINES:
                long.append(f"{name}.{node.name}: {node.end_lineno - start + 1} lines")
    assert long == []


def test_the_wheel_lists_every_package_and_config_group():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {".".join(p.parent.relative_to(ROOT).parts) for p in PACKAGE.rglob("__init__.py")}
    groups = {f"ablate.conf.{p.name}" for p in (ROOT / "conf").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert listed == packages | {"ablate.conf"} | groups
