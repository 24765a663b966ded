"""Creating SQLAlchemy engines for the three backends: SQLite in memory, SQLite file, PostgreSQL.

SQLite runs in WAL mode with a busy timeout and foreign keys on. Write transactions begin with
``BEGIN IMMEDIATE`` so concurrent writers queue on the database lock instead of failing midway.
Durability: ``synchronous=NORMAL`` by default (a committed transaction survives a crash of the
process; a power cut may lose the last few); pass ``durability="full"`` to fsync every commit.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine as _sa_create_engine
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool

from ..errors import DatabaseNotFoundError, InvalidInputError

__all__ = ["DURABILITY", "make_engine", "normalise_url", "display_url"]

DURABILITY = {"normal": "NORMAL", "full": "FULL"}
BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "tract_write"


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` URLs and route them to the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def display_url(url: str) -> str:
    """The URL with any password masked, for messages and ``repr``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def _sqlite_pragmas(engine: Engine, *, memory: bool, durability: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        if cur.execute("PRAGMA page_count").fetchone()[0] == 0:  # a new file: let gc shrink it later
            cur.execute("PRAGMA auto_vacuum=INCREMENTAL")  # (setting it on an existing file writes to it)
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if not memory:
            cur.execute("PRAGMA cache_size=-32768")  # up to 32 MiB, so a cold compile reads each page once
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={DURABILITY[durability]}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")


def make_engine(
    *,
    path: str | os.PathLike[str] | None = None,
    url: str | None = None,
    create: bool = True,
    durability: str = "normal",
) -> tuple[Engine, str, threading.RLock | None]:
    """Create an engine for a SQLite path, a database URL, or (neither) a private in-memory SQLite.

    Returns:
        The engine, the backend's dialect name, and a lock that must guard every use of the engine
        (only for in-memory SQLite, whose single connection threads must share).

    Raises:
        DatabaseNotFoundError: ``create`` is False and the SQLite file does not exist.
        InvalidInputError: both ``path`` and ``url`` were given, or the durability is unknown.
    """
    if path is not None and url is not None:
        raise InvalidInputError("pass either path= (a SQLite file) or url= (a database URL), not both")
    if durability not in DURABILITY:
        raise InvalidInputError(f"durability must be one of {sorted(DURABILITY)}, not {durability!r}")
    if path is not None:
        file = Path(path).expanduser()
        if not create and not file.exists():
            raise DatabaseNotFoundError(
                f"no tract database at {str(file)!r}; check the path, or create one with "
                "Tract.open(path=...) (or run `tract demo`)"
            )
        if file.parent and not file.parent.exists():
            raise DatabaseNotFoundError(f"the folder {str(file.parent)!r} does not exist; create it first")
        url = f"sqlite:///{file}"
    if url is None:
        engine = _sa_create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
        _sqlite_pragmas(engine, memory=True, durability=durability)
        return engine, "sqlite", threading.RLock()
    url = normalise_url(url)
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        memory = not database or database == ":memory:"
        if memory:
            engine = _sa_create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
            _sqlite_pragmas(engine, memory=True, durability=durability)
            return engine, "sqlite", threading.RLock()
        if not create and not Path(database).exists():
            raise DatabaseNotFoundError(f"no tract database at {database!r}; check the path")
        engine = _sa_create_engine(url, connect_args={"check_same_thread": False})
        _sqlite_pragmas(engine, memory=False, durability=durability)
        return engine, "sqlite", None
    if backend == "postgresql":
        try:
            engine = _sa_create_engine(url, pool_pre_ping=True)
        except ModuleNotFoundError as exc:
            raise ImportError("PostgreSQL support needs psycopg: pip install 'tract-context[postgres]'") from exc
        return engine, "postgresql", None
    raise InvalidInputError(f"unsupported database URL {display_url(url)!r}; use a SQLite path or a postgresql:// URL")
