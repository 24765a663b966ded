"""Opening tracts for tests on one registered backend (see :mod:`tract_core.testing.backends`)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import TractConfig
from ..tract import DEFAULT_TRACT_ID, Tract
from .backends import Backend, BackendContext, get_backend
from .postgres import create_database, start_postgres

__all__ = ["BACKENDS", "TractFactory", "start_postgres", "create_database"]

BACKENDS = ("memory", "sqlite", "postgres")
"""The backends tract registers itself (:func:`~tract_core.testing.backends.backend_names` lists every
registered one, yours included)."""

_counter = itertools.count()


class TractFactory:
    """Opens tracts on one backend, each test in a fresh database.

    Args:
        backend: A registered backend's name (``"memory"``, ``"sqlite"``, ``"postgres"``, or one
            added with :func:`~tract_core.testing.register_backend`) or the :class:`Backend` itself.
        tmp_path: A per-test folder (a SQLite file lives there).
        postgres_server: The running server, for the ``postgres`` backend when ``fixture`` is not given.
        fixture: Looks up a pytest fixture by name for the backend's factory
            (``request.getfixturevalue``; the ``factory`` fixture passes it).

    Attributes:
        backend: The backend's name.
        location: Keyword arguments that reopen the same database with :meth:`Tract.open`
            (``{"path": ...}`` or ``{"url": ...}``; for ``memory``, ``{"store": <shared store>}``).

    Raises:
        ValueError: An unknown backend, or ``postgres`` without a server.
    """

    def __init__(
        self,
        backend: str | Backend,
        tmp_path: str | os.PathLike[str],
        postgres_server: Any = None,
        *,
        fixture: Callable[[str], Any] | None = None,
    ) -> None:
        self.spec = backend if isinstance(backend, Backend) else get_backend(backend)
        self.backend = self.spec.name
        self.tmp_path = Path(tmp_path)
        self._fixture = fixture if fixture is not None else self._server_only(postgres_server)
        self._opened: list[Tract] = []
        self._children: list[TractFactory] = []
        self._context = BackendContext(self.tmp_path, self._fixture)
        try:
            self.location: dict[str, Any] = dict(self.spec.factory(self._context))
        except BaseException:
            self._context.run_cleanups()
            raise

    @staticmethod
    def _server_only(server: Any) -> Callable[[str], Any]:
        def lookup(name: str) -> Any:
            if name == "postgres_server" and server is not None:
                return server
            if name == "postgres_server":
                raise ValueError("the postgres backend needs a running server")
            raise LookupError(f"no fixture {name!r}: pass fixture=request.getfixturevalue to TractFactory")

        return lookup

    @property
    def reopenable(self) -> bool:
        """Whether a new process could open this database (False for in-memory SQLite)."""
        return self.spec.reopenable

    def open(self, tract_id: str = DEFAULT_TRACT_ID, config: TractConfig | None = None, **kwargs: Any) -> Tract:
        """Open a tract of this factory's database (closed automatically at teardown)."""
        tract = Tract.open(tract_id=tract_id, config=config, **self.location, **kwargs)
        self._opened.append(tract)
        return tract

    def fresh(self) -> TractFactory:
        """Another factory on the same backend with a new, empty database."""
        sub = self.tmp_path / f"fresh{next(_counter)}"
        sub.mkdir()
        made = TractFactory(self.spec, sub, fixture=self._fixture)
        self._children.append(made)
        return made

    def close_all(self) -> None:
        """Close every tract this factory opened, then run the backend's cleanups (closing its stores)."""
        for tract in self._opened:
            tract.close()
        for child in self._children:
            child.close_all()
        self._context.run_cleanups()
