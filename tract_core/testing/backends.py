"""The backends the contract suite runs on: a registry with one factory per backend.

A backend is a name and a *factory*: a function that makes a fresh, empty database for one test
and returns the keyword arguments :meth:`tract_core.Tract.open` takes to open it (its
*location*: ``{"path": ...}``, ``{"url": ...}`` or ``{"store": ...}``). The ``factory`` fixture of
:mod:`tract_core.testing.plugin` is parametrised over every registered backend, so every test that
uses it (the whole :class:`~tract_core.testing.contract.TractContract` suite, for one) runs on each.

tract registers three: ``memory`` (a private in-memory SQLite store), ``sqlite`` (a SQLite file in
the test's ``tmp_path``) and ``postgres`` (a new database on the session's ``postgres_server``).

Adding a backend is one factory, registered where pytest imports it before collecting (a
``conftest.py``)::

    # conftest.py
    pytest_plugins = ["tract_core.testing.plugin"]

    from tract_core.testing import BackendContext, register_backend

    def staging_postgres(context: BackendContext) -> dict[str, str]:
        url = create_my_database()                      # a fresh, empty database per test
        context.add_cleanup(lambda: drop_my_database(url))
        return {"url": url}

    register_backend("staging", staging_postgres)

    # test_contract.py
    from tract_core.testing.contract import TractContract

    class TestTract(TractContract):
        pass

``pytest`` then runs every contract test on ``memory``, ``sqlite``, ``postgres`` and ``staging``;
``pytest --tract-backend staging`` (repeatable) runs them on the named backends only. A factory can
use other fixtures (``context.fixture("postgres_server")``), keep files in ``context.tmp_path`` and
register cleanups, which run after every tract of the test is closed. A backend whose databases
only its own process can open says so with ``reopenable=False`` (tests that reopen the database
from another process read :attr:`TractFactory.reopenable <tract_core.testing.TractFactory.reopenable>`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..store.sql import SqlStore
from .postgres import create_database, drop_database

__all__ = [
    "Backend",
    "BackendContext",
    "BackendFactory",
    "register_backend",
    "unregister_backend",
    "get_backend",
    "backend_names",
]


def _no_fixtures(name: str) -> Any:
    raise LookupError(f"no fixture {name!r} here: build the TractFactory from a test (the factory fixture does)")


@dataclass
class BackendContext:
    """What a backend factory gets for one test.

    Attributes:
        tmp_path: The test's own folder (files of the database go there).
    """

    tmp_path: Path
    _fixture: Callable[[str], Any] = field(default=_no_fixtures, repr=False)
    _cleanups: list[Callable[[], object]] = field(default_factory=list, repr=False)

    def fixture(self, name: str) -> Any:
        """The value of the pytest fixture ``name`` (e.g. ``"postgres_server"``) for this test."""
        return self._fixture(name)

    def add_cleanup(self, cleanup: Callable[[], object]) -> None:
        """Run ``cleanup`` when the test ends, after its tracts are closed (last added, first run)."""
        self._cleanups.append(cleanup)

    def run_cleanups(self) -> None:
        """Run the cleanups (each once), last added first."""
        while self._cleanups:
            self._cleanups.pop()()


BackendFactory = Callable[[BackendContext], Mapping[str, Any]]
"""Makes a fresh, empty database for one test; returns the keyword arguments of ``Tract.open`` that open it."""


@dataclass(frozen=True)
class Backend:
    """A registered backend.

    Attributes:
        name: The name tests are parametrised with (``test_x[sqlite]``).
        factory: Makes one test's database (see :data:`BackendFactory`).
        reopenable: Whether another process can open the databases it makes.
    """

    name: str
    factory: BackendFactory
    reopenable: bool = True


_registry: dict[str, Backend] = {}


def register_backend(name: str, factory: BackendFactory, *, reopenable: bool = True, replace: bool = False) -> Backend:
    """Add a backend: every test using the ``factory`` fixture then runs on it too.

    Args:
        name: A short name, unique among the backends (letters, digits, ``-`` and ``_``).
        factory: Makes a fresh, empty database per test and returns its ``Tract.open`` keywords.
        reopenable: False if only this process can open its databases (e.g. in-memory ones).
        replace: Replace a backend of the same name instead of refusing it.

    Raises:
        ValueError: A bad or taken name, or a factory that is not callable.
    """
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(f"a backend name is letters, digits, '-' and '_', not {name!r}")
    if not callable(factory):
        raise ValueError(f"the factory of backend {name!r} must be callable, not {type(factory).__name__}")
    if name in _registry and not replace:
        raise ValueError(f"backend {name!r} is registered already (pass replace=True to replace it)")
    backend = Backend(name, factory, reopenable)
    _registry[name] = backend
    return backend


def unregister_backend(name: str) -> None:
    """Remove a backend (no error if there is none of that name)."""
    _registry.pop(name, None)


def get_backend(name: str) -> Backend:
    """The backend registered as ``name``.

    Raises:
        ValueError: No backend of that name (the message lists those there are).
    """
    try:
        return _registry[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; registered: {', '.join(_registry)}") from None


def backend_names() -> tuple[str, ...]:
    """The registered backends' names, in the order they were registered."""
    return tuple(_registry)


def _memory(context: BackendContext) -> dict[str, Any]:
    store = SqlStore()
    context.add_cleanup(store.close)
    return {"store": store}


def _sqlite(context: BackendContext) -> dict[str, Any]:
    return {"path": os.fspath(context.tmp_path / "tract.db")}


def _postgres(context: BackendContext) -> dict[str, Any]:
    server = context.fixture("postgres_server")
    url = create_database(server)
    context.add_cleanup(lambda: drop_database(server, url))
    return {"url": url}


register_backend("memory", _memory, reopenable=False)
register_backend("sqlite", _sqlite)
register_backend("postgres", _postgres)
