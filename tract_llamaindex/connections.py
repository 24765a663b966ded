"""Where a LlamaIndex memory or chat store keeps its tracts: one open store per database per process.

LlamaIndex components are plain data (they are rebuilt with ``from_dict`` after a workflow
``Context`` is restored), so they name their database with a string, ``db``: a SQLite path, a
database URL, or a ``tract-store://`` handle for a store that only lives in this process (the
private in-memory database, or a :class:`~tract_core.storage.SqlStore` passed in). Every component
naming the same database shares one open store (one engine and connection pool), opened on first
use (never by the constructor, which may run on an event loop) and kept for the life of the
process, or until :func:`close_stores`.

A ``db`` never holds a password, so ``repr``, ``to_dict()``, ``model_dump_json()`` and a saved
workflow ``Context`` cannot leak one: a URL given with a password is kept without it, and the
password stays in this process's registry only. A component rebuilt from its ``db`` reconnects
in this process through that registry; in another process PostgreSQL takes the password from
libpq's own sources, the ``PGPASSWORD`` environment variable or the password file (``~/.pgpass``),
or the caller passes the full URL again (``TractMemory.from_dict(data, db=url)``).
"""

from __future__ import annotations

import os
import threading
import uuid

from tract_core import InvalidInputError, storage
from tract_core.storage import SqlStore, strip_password

__all__ = ["check_database", "close_stores", "database_key", "database_name", "open_store"]

_HANDLE = "tract-store://"
_lock = threading.Lock()
_stores: dict[str, SqlStore | None] = {}  # None: a private in-memory database not created yet
_borrowed: set[str] = set()  # stores passed in by the caller: theirs to close
_urls: dict[str, str] = {}  # db (no password) -> the URL with its password, never serialised


def database_key(db: str) -> str:
    """``db`` without its password: a URL given with one is remembered (this process only) and
    returned without it; anything else is returned as is.

    Raises:
        InvalidInputError: ``db`` is not a string, or a URL that does not parse.
    """
    if not isinstance(db, str) or not db:
        raise InvalidInputError(f"db must be a SQLite path or a database URL, not {db!r}")
    if "://" not in db or db.startswith(_HANDLE):
        return db
    key = strip_password(db)
    if key != db:
        with _lock:
            _urls[key] = db
    return key


def database_name(
    path: str | os.PathLike[str] | None = None, url: str | None = None, store: SqlStore | None = None
) -> str:
    """The ``db`` string for a SQLite ``path``, a database ``url`` or an open ``store`` (at most one).

    A path becomes absolute (so a restored component finds the file from any working directory).
    A store is registered under a ``tract-store://`` handle valid in this process only; with none
    of the three, a new private in-memory database is registered (created on first use).

    Raises:
        InvalidInputError: More than one of them was given.
    """
    given = [name for name, value in (("path", path), ("url", url), ("store", store)) if value is not None]
    if len(given) > 1:
        raise InvalidInputError(f"pass one of path=, url= or store=, not {' and '.join(given)}")
    if path is not None:
        file = os.fspath(path)
        return os.path.normpath(file) if os.path.isabs(file) else os.path.abspath(file)
    if url is not None:
        if not isinstance(url, str) or "://" not in url:
            raise InvalidInputError("url= takes a database URL such as postgresql+psycopg://user@host/db")
        return database_key(url)
    if store is not None and not isinstance(store, SqlStore):
        raise InvalidInputError(f"store= takes a tract_core.storage.SqlStore, not a {type(store).__name__}")
    handle = f"{_HANDLE}{uuid.uuid4().hex}"
    with _lock:
        _stores[handle] = store
        if store is not None:
            _borrowed.add(handle)
    return handle


def check_database(db: str) -> None:
    """Refuse, without opening anything, a ``db`` this process cannot open.

    Raises:
        InvalidInputError: ``db`` is not a database name, or a ``tract-store://`` handle from
            another process (or from before :func:`close_stores`): pass a path or URL to
            reconnect across processes.
    """
    if not isinstance(db, str) or not db:
        raise InvalidInputError(f"db must be a SQLite path or a database URL, not {db!r}")
    if db.startswith(_HANDLE):
        with _lock:
            known = db in _stores
        if not known:
            raise InvalidInputError(
                f"{db} names a database that lived in another process (an in-memory database or a store "
                "passed as store=); give the memory a path= or url= to continue a conversation across processes"
            )


def open_store(db: str) -> SqlStore:
    """The process's open store for ``db`` (a path, a URL or a ``tract-store://`` handle).

    Raises:
        InvalidInputError: See :func:`check_database`.
        DatabaseNotFoundError: The database cannot be opened.
    """
    check_database(db)
    with _lock:
        found = _stores.get(db)
        if found is not None:
            return found
        store = storage.open_store(None if db.startswith(_HANDLE) else _urls.get(db, db))
        _stores[db] = store
        return store


def close_stores() -> None:
    """Close every store opened here (in-memory databases are lost); stores passed in as ``store=``
    are forgotten but left open for their owner to close."""
    with _lock:
        stores = [store for db, store in _stores.items() if store is not None and db not in _borrowed]
        _stores.clear()
        _borrowed.clear()
    for store in stores:
        store.close()
