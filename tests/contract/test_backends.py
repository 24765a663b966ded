"""The contract suite takes its backends from a registry: a new backend runs the whole suite by
registering one factory in a conftest, as ``tract_core.testing.backends`` documents.

The proof runs a separate pytest session, as a user's project would: its conftest registers a
backend that opens SQLite through a ``sqlite://`` URL (a path tract's own backends do not take) and
counts the databases it made and cleaned up.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tract_core import Tract
from tract_core.testing import (
    BACKENDS,
    BackendContext,
    TractFactory,
    backend_names,
    get_backend,
    register_backend,
    unregister_backend,
)
from tract_core.testing.contract import TractContract

ROOT = Path(__file__).resolve().parents[2]

CONFTEST = """
import json
from pathlib import Path

from tract_core.testing import register_backend

pytest_plugins = ["tract_core.testing.plugin"]
LEDGER = Path(__file__).parent / "ledger.jsonl"


def sqlite_url(context):
    path = context.tmp_path / "through-a-url.db"
    context.add_cleanup(lambda: LEDGER.open("a").write(json.dumps({"cleaned": str(path)}) + "\\n"))
    LEDGER.open("a").write(json.dumps({"made": str(path)}) + "\\n")
    return {"url": f"sqlite:///{path}"}


register_backend("sqlite-url", sqlite_url)
"""

TEST_MODULE = """
from tract_core.testing.contract import TractContract


class TestTract(TractContract):
    pass
"""


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:nbmake", *args],
        capture_output=True,
        text=True,
        cwd=project,
        env={"PYTHONPATH": str(ROOT), "TRACT_TIKTOKEN_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(project)},
        timeout=600,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_contract.py").write_text(TEST_MODULE)
    return tmp_path


def test_one_registered_factory_runs_the_whole_contract_suite(project: Path) -> None:
    contract_tests = sorted(name for name in dir(TractContract) if name.startswith("test_"))
    collected = _pytest(project, "--collect-only", "-q")
    assert collected.returncode == 0, collected.stdout + collected.stderr
    ids = [line for line in collected.stdout.splitlines() if "::" in line]
    by_backend: dict[str, list[str]] = {}
    for node in ids:
        name, backend = node.split("::")[-1].rstrip("]").split("[")
        by_backend.setdefault(backend, []).append(name)
    assert list(by_backend) == [*BACKENDS, "sqlite-url"]  # tract's three, then the new one
    assert all(sorted(names) == contract_tests for names in by_backend.values())

    # --tract-backend picks it alone; it really runs there (a sample of the suite keeps this test quick)
    ran = _pytest(project, "-q", "-rp", "--tract-backend", "sqlite-url", "-k", "scenario_1 or scenario_2")
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    passed = [line.split("::")[-1] for line in ran.stdout.splitlines() if line.startswith("PASSED ")]
    sample = [n for n in contract_tests if "scenario_1" in n or "scenario_2" in n]
    assert sorted(passed) == [f"{name}[sqlite-url]" for name in sample] and len(sample) > 5
    ledger = [json.loads(line) for line in (project / "ledger.jsonl").read_text().splitlines()]
    made = [e["made"] for e in ledger if "made" in e]
    assert len(made) >= len(passed) and sorted(made) == sorted(e["cleaned"] for e in ledger if "cleaned" in e)


def test_an_unknown_backend_on_the_command_line_is_a_usage_error(project: Path) -> None:
    done = _pytest(project, "--collect-only", "-q", "--tract-backend", "oracle")
    assert done.returncode == 4, done.stdout + done.stderr  # pytest's usage error
    assert "--tract-backend oracle: the registered backends are memory, sqlite, postgres, sqlite-url" in done.stderr


def test_the_registry(tmp_path: Path) -> None:
    assert backend_names()[:3] == BACKENDS
    assert get_backend("memory").reopenable is False and get_backend("sqlite").reopenable is True
    with pytest.raises(ValueError, match="unknown backend 'oracle'; registered: memory, sqlite, postgres"):
        get_backend("oracle")
    with pytest.raises(ValueError, match="registered already"):
        register_backend("sqlite", lambda context: {})
    with pytest.raises(ValueError, match="a backend name is"):
        register_backend("two words", lambda context: {})
    with pytest.raises(ValueError, match="must be callable"):
        register_backend("x", "not a function")  # type: ignore[arg-type]

    closed: list[str] = []

    def nested(context: BackendContext) -> dict[str, str]:
        context.add_cleanup(lambda: closed.append(context.tmp_path.name))
        return {"path": str(context.tmp_path / "nested.db")}

    register_backend("nested-sqlite", nested, reopenable=False)
    try:
        assert "nested-sqlite" in backend_names()
        made = TractFactory("nested-sqlite", tmp_path)
        assert made.backend == "nested-sqlite" and made.reopenable is False
        made.open("t").user("hello")
        fresh = made.fresh()
        assert fresh.location != made.location and fresh.open("t").compile().messages == []
        made.close_all()
        assert sorted(closed) == sorted([tmp_path.name, fresh.tmp_path.name])  # each database's cleanup, once
        with Tract.open(path=tmp_path / "nested.db", tract_id="t", create=False) as again:
            assert again.compile().messages[0]["content"] == "hello"
    finally:
        unregister_backend("nested-sqlite")
    assert "nested-sqlite" not in backend_names()

    with pytest.raises(ValueError, match="needs a running server"):
        TractFactory("postgres", tmp_path)
