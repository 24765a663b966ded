"""The layering holds: the adapters sit on tract_core's public API, the core never imports them.

The import contracts live in ``pyproject.toml`` (``[tool.importlinter]``) and are checked here by
import-linter, so the test command enforces them. This file also checks what import-linter cannot:
that every core module is either public for adapters or forbidden to them, and that adapters import
only names a public module lists in its ``__all__``.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import tract_core

ROOT = Path(__file__).resolve().parents[1]
ADAPTERS = ("tract_langchain", "tract_llamaindex")
PUBLIC = {
    "tract_core",
    "tract_core.storage",
    "tract_core.messages",
    "tract_core.objects",
    "tract_core.formats",
    "tract_core.tokens",
    "tract_core.summarize",
    "tract_core.sequence",
    "tract_core.llm",
    "tract_core.testing",
    "tract_core.config",
    "tract_core.names",
    "tract_core.policies",
    "tract_core.clock",
    "tract_core.toolkit",
    "tract_core.orchestrator",
    "tract_core.tree",
}
"""The core modules an adapter may import (documented in docs/adapters.md); the rest are internal."""


def _contracts() -> list[dict]:
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["contracts"]


def test_import_contracts_hold() -> None:
    """``lint-imports``: layers, adapters off the core's internals, private modules kept private."""
    code = "from importlinter.cli import lint_imports; raise SystemExit(lint_imports(no_cache=True, no_logo=True))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def test_every_core_module_is_public_or_forbidden_to_adapters() -> None:
    """A new core module must be classified: listed as public here, or forbidden in pyproject.toml."""
    forbidden = next(set(c["forbidden_modules"]) for c in _contracts() if c["type"] == "forbidden")
    modules = {f"tract_core.{info.name}" for info in pkgutil.iter_modules(tract_core.__path__)} - {
        "tract_core.__main__"
    }
    assert not forbidden & PUBLIC
    unclassified = modules - forbidden - PUBLIC
    assert not unclassified, f"classify {sorted(unclassified)}: public (docs/adapters.md) or forbidden to adapters"
    assert not forbidden - modules, f"the contract names modules that do not exist: {sorted(forbidden - modules)}"


def _core_imports() -> list[tuple[str, int, str, str | None]]:
    """Every import of tract_core in the adapters: (file, line, module, name or None for a module import)."""
    found = []
    for package in ADAPTERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            where = str(path.relative_to(ROOT))
            for node in ast.walk(ast.parse(path.read_text(), where)):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tract_core":
                    found += [(where, node.lineno, node.module, alias.name) for alias in node.names]
                elif isinstance(node, ast.Import):
                    found += [
                        (where, node.lineno, alias.name, None)
                        for alias in node.names
                        if alias.name.split(".")[0] == "tract_core"
                    ]
    return found


def test_adapters_import_only_public_names() -> None:
    """``from tract_core[.public] import name`` only for names in that module's ``__all__`` (or a public submodule)."""
    imports = _core_imports()
    assert imports, "the adapters import nothing from tract_core?"
    problems = []
    for where, line, module, name in imports:
        if module not in PUBLIC:
            problems.append(f"{where}:{line}: {module} is not a public module")
            continue
        if name is None:
            continue
        if f"{module}.{name}" in PUBLIC:
            continue  # a public submodule: ``from tract_core import storage``
        exported = getattr(importlib.import_module(module), "__all__", ())
        if name not in exported:
            problems.append(f"{where}:{line}: {name} is not in {module}.__all__")
    assert not problems, "\n".join(problems)
