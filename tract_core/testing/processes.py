"""Child processes for multi-process tests (crashes, races): run tract code in another interpreter.

A :class:`ChildProcess` runs a Python snippet with JSON arguments, its output going to files, with
deadlines everywhere so a stuck child fails the test with its stderr instead of hanging it.
Coordinate with files: :data:`WAIT_FOR_FILE` is a snippet defining ``wait_for_file(path)`` for the
child, :func:`wait_for_files` waits in the parent. Write files the other side reads with
:func:`write_atomically`, so it never sees half a file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ChildProcess", "WAIT_FOR_FILE", "wait_for_files", "write_atomically", "run_in_child", "CHILD_TIMEOUT"]

CHILD_TIMEOUT = 120
"""Seconds a child may run before the test fails."""

_REPO_ROOT = Path(__file__).resolve().parents[2]

WAIT_FOR_FILE = """
import sys as _sys, time as _time
from pathlib import Path as _Path

def wait_for_file(path, timeout=60):
    deadline = _time.monotonic() + timeout
    while not _Path(path).exists():
        if _time.monotonic() > deadline:
            _sys.exit(f"{path} did not appear within {timeout} s")
        _time.sleep(0.002)

def write_atomically(path, text):
    _Path(str(path) + ".tmp").write_text(text)
    _Path(str(path) + ".tmp").rename(path)
"""
"""Code for the child: ``wait_for_file(path)`` and ``write_atomically(path, text)``."""


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` so that ``path`` appears complete or not at all."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    temporary.rename(path)


class ChildProcess:
    """A Python child process running ``code`` with JSON ``args`` (in ``sys.argv[1]``).

    Args:
        code: The program; it can ``json.loads(sys.argv[1])`` and print JSON as its result.
        args: JSON-serialisable arguments.
        folder: Where stdout/stderr files go (and the working directory).
        name: Names the output files and failure messages.
    """

    def __init__(self, code: str, args: dict[str, Any], folder: Path, name: str) -> None:
        self.name = name
        self.out = folder / f"{name}.out"
        self.err = folder / f"{name}.err"
        paths = [str(_REPO_ROOT), os.environ.get("PYTHONPATH")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code, json.dumps(args)], stdout=out, stderr=err, env=env, cwd=folder
            )

    def stderr(self) -> str:
        """The end of the child's stderr."""
        return self.err.read_text()[-4000:]

    def wait(self, timeout: float = CHILD_TIMEOUT) -> int:
        """Wait for the child to exit; return its exit code (fail the test on a timeout)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.name} did not finish within {timeout} s; stderr:\n{self.stderr()}")

    def result(self, timeout: float = CHILD_TIMEOUT) -> Any:
        """Wait for a clean exit and return the JSON the child printed."""
        code = self.wait(timeout)
        assert code == 0, f"{self.name} failed with exit code {code}:\n{self.stderr()}"
        return json.loads(self.out.read_text())

    def kill(self) -> None:
        """Kill the child if it still runs."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def wait_for_files(paths: list[Path], children: list[ChildProcess], timeout: float = 60) -> None:
    """Wait until every file exists, failing early (with its stderr) if a child exits first."""
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        for child in children:
            if child.proc.poll() is not None:
                pytest.fail(
                    f"{child.name} exited with {child.proc.returncode} before it was ready; stderr:\n{child.stderr()}"
                )
        if time.monotonic() > deadline:
            missing = [p.name for p in paths if not p.exists()]
            pytest.fail(f"children not ready within {timeout} s (missing {missing})")
        time.sleep(0.01)


_RUN_FUNCTION = """
import asyncio, importlib.util, inspect, json, sys
file, function, args = json.loads(sys.argv[1])
spec = importlib.util.spec_from_file_location("tract_child_module", file)
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
result = getattr(module, function)(*args)
if inspect.iscoroutine(result):
    result = asyncio.run(result)
print(json.dumps(result))
"""


def run_in_child(file: str | os.PathLike[str], function: str, *args: Any, timeout: float = CHILD_TIMEOUT) -> Any:
    """Run ``function(*args)`` (a plain or async function) of the Python file ``file`` in a new
    interpreter and return what it returned, through JSON. The test fails with the child's stderr
    if it raises or outlives ``timeout``."""
    done = subprocess.run(
        [sys.executable, "-c", _RUN_FUNCTION, json.dumps([os.fspath(file), function, list(args)])],
        capture_output=True,
        text=True,
        cwd=_REPO_ROOT,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{function} failed in the child process:\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])
