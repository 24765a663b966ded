"""Damaged database files: recognising them in driver errors, and finding damaged SQLite pages.

Every damaged thing raises :class:`~tract_core.errors.CorruptObjectError` naming it and saying what
to do (see :func:`~tract_core.errors.damaged`), never the error a decoder or a driver happened to
hit (``KeyError``, ``JSONDecodeError``, ``sqlite3.DatabaseError``...). For damaged files:

* :func:`corruption` recognises a driver's "this file is damaged" errors (SQLite's
  ``SQLITE_CORRUPT``/``SQLITE_NOTADB``, PostgreSQL's ``data_corrupted``/``index_corrupted``);
* :func:`page_problems` runs SQLite's ``PRAGMA integrity_check`` and names the damaged tables.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..errors import CorruptObjectError, StorageError

__all__ = ["REPAIR_FILE", "corruption", "page_problems"]

REPAIR_FILE = (
    "restore the file from a backup (`sqlite3 FILE .recover` salvages the rows that are still readable; "
    "Tract.verify() names the damaged tables)"
)
"""What to do about a damaged SQLite file."""
_SQLITE_CODES = {11: "SQLITE_CORRUPT", 26: "SQLITE_NOTADB"}
_SQLITE_TEXTS = {"database disk image is malformed": "SQLITE_CORRUPT", "file is not a database": "SQLITE_NOTADB"}
_POSTGRES_STATES = {"XX001": "data_corrupted", "XX002": "index_corrupted"}
_LINES_PER_TABLE = 3


def corruption(error: BaseException, where: str, *, opening: bool = False) -> CorruptObjectError | None:
    """The :class:`CorruptObjectError` for a driver error that reports a damaged database file
    (raw, or wrapped by SQLAlchemy), or None for any other error.

    Args:
        error: What the driver raised.
        where: The database, for the message.
        opening: The file is being opened: one that is not a database at all is then a wrong path
            (the caller says so), not damage.
    """
    original: Any = getattr(error, "orig", None) or error
    if isinstance(original, StorageError) and original.__cause__ is not None:  # translated by driver_errors
        original = original.__cause__
    if isinstance(original, sqlite3.DatabaseError):
        code = getattr(original, "sqlite_errorcode", None)  # Python 3.11+
        name = _SQLITE_CODES.get(code & 0xFF) if code is not None else _SQLITE_TEXTS.get(str(original))
        if name is not None and not (opening and name == "SQLITE_NOTADB"):
            return CorruptObjectError(f"the database {where} is damaged ({original}): {REPAIR_FILE}")
    state = getattr(original, "sqlstate", None)
    if state in _POSTGRES_STATES:
        return CorruptObjectError(
            f"the database {where} is damaged ({_POSTGRES_STATES[state]}: {original}); restore it from a backup"
        )
    return None


def page_problems(connection: Any) -> list[str]:
    """SQLite's ``PRAGMA integrity_check`` on a DBAPI connection: no lines if every page is sound,
    else one line per damaged table (or one for the file, if no table's own check fails)."""
    whole = _check(connection, "PRAGMA integrity_check")
    if not whole:
        return []
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    except sqlite3.DatabaseError as error:  # the schema itself is unreadable
        return [f"the database file: damaged pages ({error})"]
    found = []
    for table in sorted(tables):
        lines = _check(connection, f'PRAGMA integrity_check("{table}")')
        if lines:
            found.append(f"table {table}: damaged pages ({'; '.join(lines[:_LINES_PER_TABLE])})")
    return found or [f"the database file: damaged pages ({'; '.join(whole[:_LINES_PER_TABLE])})"]


def _check(connection: Any, pragma: str) -> list[str]:
    try:
        rows = [str(row[0]) for row in connection.execute(pragma).fetchall()]
    except sqlite3.DatabaseError as error:  # some damage stops the check itself
        return [str(error)]
    if rows == ["ok"]:
        return []
    return [line for row in rows for line in row.splitlines() if line and not line.startswith("***")]
