"""Turning the database driver's exceptions into tract's :class:`~tract_core.errors.StorageError` family.

SQLAlchemy raises the driver's exception (``sqlite3``, ``psycopg``) wrapped in its own, whose text
carries the SQL statement and (unless the engine hides them, as tract's do) its parameters: message
content. :func:`install` hooks every engine tract creates so that, wherever a statement fails (a
read, a write, a batch, an adapter's unit of work, the async runner), the caller gets a
:class:`~tract_core.errors.StorageError` subclass saying what to check. Its message names the
driver's exception class and error code, never the driver's text; the driver's exception stays
reachable as ``__cause__``.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from ..errors import (
    CorruptObjectError,
    StorageBusyError,
    StorageError,
    StorageFullError,
    StorageReadOnlyError,
    StorageUnavailableError,
)
from .integrity import corruption

__all__ = ["install", "storage_error", "is_driver_error"]

# SQLite primary result codes (https://sqlite.org/rescode.html)
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 10, 11, 13, 14, 26
_SQLITE_BY_TEXT = (  # Python < 3.11 has no sqlite_errorcode
    ("database is locked", _SQLITE_BUSY),
    ("database table is locked", _SQLITE_LOCKED),
    ("readonly database", _SQLITE_READONLY),
    ("disk is full", _SQLITE_FULL),
    ("unable to open database file", _SQLITE_CANTOPEN),
    ("file is not a database", _SQLITE_NOTADB),
    ("malformed", _SQLITE_CORRUPT),
    ("disk i/o error", _SQLITE_IOERR),
)

# PostgreSQL SQLSTATE codes (https://www.postgresql.org/docs/current/errcodes-appendix.html)
_PG_BUSY = {"55P03", "57014", "40001", "40P01"}  # lock timeout, statement timeout, serialization, deadlock
_PG_UNAVAILABLE = {"57P01", "57P02", "57P03", "53300"}  # shut down, crashed, starting, too many connections
_PG_READ_ONLY = {"25006", "42501"}  # read-only transaction (replica, default_transaction_read_only), no privilege
_PG_PREPARED = {"26000", "42P05"}  # a prepared statement missing on, or already on, the server connection


def is_driver_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from a database driver (sqlite3 or psycopg)."""
    return type(exc).__module__.split(".")[0] in ("sqlite3", "psycopg") and isinstance(exc, Exception)


def _detail(orig: BaseException) -> str:
    name = f"{type(orig).__module__.split('.')[0]}.{type(orig).__name__}"
    code = getattr(orig, "sqlite_errorname", None)
    if code is None and getattr(orig, "sqlstate", None):
        code = f"SQLSTATE {orig.sqlstate}"  # type: ignore[attr-defined]
    return f"{name} {code}" if code else name


def _sqlite_code(orig: BaseException) -> int | None:
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF
    text = str(orig).lower()
    return next((c for fragment, c in _SQLITE_BY_TEXT if fragment in text), None)


def _read_only_file(database: str | None) -> bool:
    if not database or not os.path.exists(database):
        return False
    folder = os.path.dirname(os.path.abspath(database))
    return not (os.access(database, os.W_OK) and os.access(folder, os.W_OK))


def _kind(orig: BaseException, database: str | None, disconnect: bool) -> str:
    """What went wrong, from the driver's error code: busy, full, read-only, unavailable, missing,
    damaged, disk or refused."""
    module = type(orig).__module__.split(".")[0]
    if module == "sqlite3":
        code = _sqlite_code(orig)
        if code == _SQLITE_CANTOPEN:
            return "read-only" if _read_only_file(database) else "missing"
        return {
            _SQLITE_BUSY: "busy",
            _SQLITE_LOCKED: "busy",
            _SQLITE_FULL: "full",
            _SQLITE_READONLY: "read-only",
            _SQLITE_PERM: "read-only",
            _SQLITE_CORRUPT: "damaged",
            _SQLITE_NOTADB: "damaged",
            _SQLITE_IOERR: "disk",
        }.get(code, "refused")  # type: ignore[arg-type]
    sqlstate = getattr(orig, "sqlstate", None) or ""
    if sqlstate in _PG_BUSY:
        return "busy"
    if sqlstate == "53100":
        return "full"
    if sqlstate in _PG_PREPARED:
        return "pooler"
    if sqlstate in _PG_READ_ONLY:
        return "read-only"
    if sqlstate in _PG_UNAVAILABLE or sqlstate.startswith("08") or disconnect:
        return "unavailable"
    if not sqlstate and type(orig).__name__ in ("OperationalError", "InterfaceError"):
        return "unavailable"  # raised by the client: the connection failed or is closed
    return "refused"


_MESSAGES: dict[str, tuple[type[StorageError], str]] = {
    "busy": (
        StorageBusyError,
        "{where} is locked by another writer, which held it longer than tract waits (or two transactions "
        "conflicted); nothing was written: retry, and look for a process keeping a long transaction open",
    ),
    "full": (
        StorageFullError,
        "{where} is full: the disk (or a size limit set on the database) has no room left; nothing was "
        "written: free disk space (or raise the limit), then retry",
    ),
    "read-only": (
        StorageReadOnlyError,
        "{where} is read-only, so nothing was written: check the permissions of the file and of its folder "
        "(tract also writes the -wal and -shm files beside a SQLite file), that the disk is not mounted "
        "read-only, and that a PostgreSQL server is not a read-only replica",
    ),
    "unavailable": (
        StorageUnavailableError,
        "lost the connection to {where}, or could not connect, so the operation did not complete: check "
        "that the server is running and reachable, then retry",
    ),
    "missing": (
        StorageUnavailableError,
        "{where} cannot be opened: check that the file and its folder exist and can be read",
    ),
    "pooler": (
        StorageError,
        "{where} did not have the prepared statement psycopg expected on this connection (or already had "
        "one of that name), so nothing was written: this happens behind a connection pooler in transaction "
        "mode that does not track prepared statements (PgBouncer before 1.21, or without "
        "max_prepared_statements). Add prepare_threshold=none to the URL's query string "
        "('postgresql://...?prepare_threshold=none'), or connect to the server directly",
    ),
    "damaged": (StorageError, "{where} is damaged or is not a database; restore it from a backup"),
    "disk": (StorageError, "{where} could not be read or written: check the disk and its free space"),
    "refused": (
        StorageError,
        "{where} refused the operation; nothing was written. If the input was valid, this is a bug in "
        "tract: please report it with this message",
    ),
}


def storage_error(
    orig: BaseException, url: str, *, database: str | None = None, disconnect: bool = False
) -> StorageError | CorruptObjectError:
    """The :class:`~tract_core.errors.StorageError` that stands for the driver exception ``orig``.

    Damaged pages are a :class:`~tract_core.errors.CorruptObjectError` instead (see
    :mod:`.integrity`); a file that is not a database stays a StorageError here, because on opening it
    means a wrong path (the store says so), while a unit of work turns it into damage.

    Args:
        orig: The driver's exception (not SQLAlchemy's wrapper).
        url: The database, as shown to the user (password masked).
        database: The SQLite file, if any (to tell a read-only file from a missing one).
        disconnect: SQLAlchemy found the connection unusable.
    """
    damage = corruption(orig, url, opening=True)  # a file that is not a database at all: see below
    if damage is not None:
        return damage
    error, text = _MESSAGES[_kind(orig, database, disconnect)]
    return error(f"{text.format(where=f'the database {url}')} ({_detail(orig)})")


def install(engine: Engine, url: str) -> None:
    """Make every failed statement, connection, commit or rollback on ``engine`` raise a StorageError."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None

    @event.listens_for(engine, "handle_error")
    def _translate(context: Any) -> BaseException | None:
        orig = context.original_exception
        if context.is_pre_ping or not is_driver_error(orig):
            return None  # a failed pre-ping makes the pool reconnect; our own errors pass through
        return storage_error(orig, url, database=database, disconnect=context.is_disconnect)
