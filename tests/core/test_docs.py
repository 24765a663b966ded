"""The documentation's examples run, and ``__all__`` lists exactly the public names."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
import sys
import types
from pathlib import Path

import pytest

import tract_core

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _blocks() -> list[tuple[str, str]]:
    found = []
    for page in DOCS:
        for i, code in enumerate(BLOCK.findall(page.read_text())):
            if "pytest_plugins" in code or "class TestTract" in code:
                continue  # configuration snippets, exercised by tests/contract itself
            found.append((f"{page.name}#{i}", code))
    return found


@pytest.mark.parametrize(("where", "code"), _blocks(), ids=[w for w, _ in _blocks()])
def test_documentation_example_runs(where: str, code: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("__doc_example__")  # a real module: typing resolves annotations through it
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code, where, "exec"), module.__dict__)


def _modules() -> list[str]:
    import tract_langchain
    import tract_llamaindex

    names = []
    for package in (tract_core, tract_langchain, tract_llamaindex):
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.endswith("__main__"):
                names.append(info.name)
    return names


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


@pytest.mark.parametrize("name", _modules())
def test_all_is_honest(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        pytest.fail(f"{name} has no __all__")
    assert len(set(exported)) == len(exported), f"{name}.__all__ lists a name twice"
    for public in exported:
        assert hasattr(module, public), f"{name}.__all__ lists {public!r}, which does not exist"
    defined_here = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", None) == name and callable(v)
    }
    missing = defined_here - set(exported)
    assert not missing, f"{name} defines public {sorted(missing)} but leaves them out of __all__"


def test_package_exports_the_api_of_the_design() -> None:
    for name in ("Tract", "TractConfig", "PINNED", "SKIP", "NORMAL", "APPEND", "EDIT", "CompiledContext", "TractError"):
        assert name in tract_core.__all__
