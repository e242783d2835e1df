"""The project's import structure: no circle among its modules, the live path (workflows,
activities, exchange adapters, discovery, the worker) never reaches the simulator, and the
commands (dualmm.cli) are the only modules that know the CLI library.

Read from the source with `ast`, every import counted: module level, inside a function and
under TYPE_CHECKING alike (a circle of type-only imports is still a circle to a reader)."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dualmm", "workflows", "activities")
LIVE_PATH = ("workflows", "activities", "dualmm.exchange", "dualmm.discovery", "dualmm.worker")
SIMULATOR = "dualmm.sim"
COMMANDS = "dualmm.cli"
ENTRY_POINTS = ("dualmm.__main__",)  # `python -m dualmm` runs the commands


def project_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _imported_names(module: str, path: Path) -> Iterable[str]:
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from a import b` imports a.b when b is a module, else a
            yield from (f"{origin}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (a name resolves to its longest module)."""
    modules = project_modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {resolve(name) for name in _imported_names(module, path)}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for w in graph[todo.pop()] - seen:
            seen.add(w)
            todo.append(w)
    return seen


def _in(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_the_checker_finds_a_circle_and_ignores_a_chain() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]
    assert circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_circle_at_all() -> None:
    assert circles(import_graph()) == []


def test_the_live_path_never_imports_the_simulator() -> None:
    graph = import_graph()
    live = [m for m in graph if any(_in(m, p) for p in LIVE_PATH)]
    assert live, "no live-path module found: is LIVE_PATH stale?"
    offenders = {
        module: sorted(t for t in reachable(graph, module) if _in(t, SIMULATOR)) for module in live
    }
    assert {m: sims for m, sims in offenders.items() if sims} == {}


def test_only_the_commands_import_typer() -> None:
    """Engines (backtest, sim, record, replay, the local stack, discovery) are usable without
    the CLI: typer appears in dualmm.cli alone, even inside a function."""
    offenders = {
        module: sorted(name for name in _imported_names(module, path) if _in(name, "typer"))
        for module, path in project_modules().items()
        if not _in(module, COMMANDS)
    }
    assert {m: names for m, names in offenders.items() if names} == {}


def test_no_engine_imports_the_commands() -> None:
    graph = import_graph()
    offenders = {
        module: sorted(t for t in targets if _in(t, COMMANDS))
        for module, targets in graph.items()
        if not _in(module, COMMANDS) and module not in ENTRY_POINTS
    }
    assert {m: commands for m, commands in offenders.items() if commands} == {}
