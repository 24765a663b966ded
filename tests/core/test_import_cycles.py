"""``tract_core`` has no import cycles: every module builds only on modules below it.

The graph counts every import, including those under ``if TYPE_CHECKING:`` and inside functions:
a cycle hidden that way still means two modules that cannot be understood (or split) apart.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import tract_core

ROOT = Path(tract_core.__file__).resolve().parent
PACKAGE = "tract_core"


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Each module of the package under ``root`` with the modules of the package it imports."""
    files = {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:  # ``from . import module`` imports the module, not the package
                    found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base)
        graph[name] = {_owner(target, files) for target in found if _owner(target, files)} - {name}
    return graph


def _owner(target: str, modules: Mapping[str, Path]) -> str:
    """The module of the package that an imported name lives in ('' if it is outside the package)."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target if target.startswith(PACKAGE) else ""


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (each one is a set of cycles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(start: str) -> None:  # iterative Tarjan: no recursion limit on deep graphs
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, ())))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return components


def test_no_import_cycles_in_the_core() -> None:
    graph = import_graph()
    assert len(graph) > 50 and "tract_core.tract" in graph and "tract_core.store.sql" in graph
    assert "tract_core.compress" in graph["tract_core.tract"]  # the graph sees relative imports
    cycles = find_cycles(graph)
    described = []
    for cycle in cycles:
        edges = [f"{m} imports {sorted(set(graph[m]) & set(cycle))}" for m in cycle]
        described.append(" <-> ".join(cycle) + "".join(f"\n    {e}" for e in edges))
    assert not cycles, "import cycles in tract_core (break them by moving code down a layer):\n" + "\n".join(described)


def test_the_cycle_check_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e"}}
    assert find_cycles(graph) == [["a", "b", "c"], ["e", "f"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_counts_imports_hidden_under_type_checking(tmp_path: Path) -> None:
    package = tmp_path / PACKAGE
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from . import low\n")
    (package / "sub" / "low.py").write_text("def f():\n    from ..high import g\n")
    (package / "high.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from .sub.low import f\n"
    )
    graph = import_graph(package)
    assert graph == {
        "tract_core": set(),
        "tract_core.sub": {"tract_core.sub.low"},
        "tract_core.sub.low": {"tract_core.high"},
        "tract_core.high": {"tract_core.sub.low"},
    }
    assert find_cycles(graph) == [["tract_core.high", "tract_core.sub.low"]]
