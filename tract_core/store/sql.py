"""The SQL implementation of the storage contract (SQLite and PostgreSQL): the store.

A unit of work is a :class:`~.session.SqlSession` (its repositories live in :mod:`.sql_objects`
(tracts, blobs, commits), :mod:`.sql_refs` (refs, reflog, annotations) and
:mod:`.sql_compressions`); :mod:`.aio` runs units of work from coroutines.
"""

from __future__ import annotations

import contextvars
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError

from ..errors import (
    DatabaseNotFoundError,
    StorageBusyError,
    StorageError,
    StorageFullError,
    StorageReadOnlyError,
)
from .aio import AsyncRunner
from .driver_errors import storage_error
from .engine import READ_OPTION, WRITE_OPTION, display_url, has_password, make_engine, probe_engine
from .integrity import corruption
from .migrations import SCHEMA_VERSION, migrate, schema_version
from .repository import TractLocks
from .session import SqlSession
from .sql_compressions import SqlCompressions
from .sql_events import SqlEvents
from .sql_objects import SqlBlobs, SqlCommits, SqlTracts
from .sql_policies import SqlPolicies
from .sql_refs import SqlAnnotations, SqlHolds, SqlReflog, SqlRefs
from .statements import HEAD, commit_deferred

__all__ = [
    "SqlStore",
    "SqlSession",
    "SqlTracts",
    "SqlBlobs",
    "SqlCommits",
    "SqlRefs",
    "SqlReflog",
    "SqlAnnotations",
    "SqlCompressions",
    "SqlHolds",
    "SqlPolicies",
    "SqlEvents",
    "TractLocks",
    "HEAD",
]

T = TypeVar("T")


class SqlStore:
    """A tract database on SQLite (file or memory) or PostgreSQL.

    Args:
        path: A SQLite file (created if missing, unless ``create`` is False).
        url: A SQLAlchemy database URL (``sqlite:///...`` or ``postgresql://...``). Behind a
            connection pooler in transaction mode (PgBouncer before 1.21), add
            ``?prepare_threshold=none`` to a PostgreSQL URL (see :mod:`.engine`).
        create: Create the database file and tables if they do not exist.
        durability: ``"normal"`` or ``"full"`` (SQLite ``synchronous`` setting).

    With neither ``path`` nor ``url`` the store is a private in-memory SQLite database.
    """

    def __init__(
        self,
        *,
        path: str | os.PathLike[str] | None = None,
        url: str | None = None,
        create: bool = True,
        durability: str = "normal",
    ) -> None:
        self.engine, self.dialect, self._lock = make_engine(path=path, url=url, create=create, durability=durability)
        self.url = display_url(str(self.engine.url))
        self.durability = durability
        self.memory = self._lock is not None
        self._write_engine = self.engine.execution_options(**{WRITE_OPTION: True})
        # PostgreSQL reads run outside any transaction (see engine._own_transactions): no BEGIN or
        # COMMIT round trip, and every statement sees what is committed when it starts, as it would
        # in a READ COMMITTED transaction
        self._postgres = self.dialect == "postgresql"
        self._read_engine = self.engine.execution_options(**{READ_OPTION: True}) if self._postgres else self.engine
        self._writers: Any = threading.RLock() if self.dialect == "sqlite" and not self.memory else nullcontext()
        self._async: AsyncRunner | None = None
        self._batch: contextvars.ContextVar[
            tuple[SqlSession, list[Callable[[], None]], list[Callable[[], None]]] | None
        ] = contextvars.ContextVar(f"tract-store-batch-{id(self)}", default=None)
        try:
            found = self._require_schema() if not create else None
            if found != SCHEMA_VERSION:
                migrate(self.engine)
        except (StorageBusyError, StorageFullError, StorageReadOnlyError):
            self.engine.dispose()
            raise
        except StorageError as exc:  # unreachable, missing, or not a database
            self.engine.dispose()
            damage = corruption(exc, self.url, opening=True)
            if damage is not None:
                raise damage from exc
            hint = ""
            if self.dialect == "postgresql" and not has_password(str(self.engine.url)):
                hint = (
                    "; the URL has no password, so libpq looked in PGPASSWORD and ~/.pgpass: set one of "
                    "them or put the password in the URL"
                )
            raise DatabaseNotFoundError(
                f"cannot open the database {self.url}: {exc.__cause__}; check that it exists, is reachable "
                f"and is a database{hint}"
            ) from exc.__cause__
        except BaseException:
            self.engine.dispose()
            raise

    def _require_schema(self) -> int:
        """Refuse a database that holds no tract tables; return its schema version. On SQLite before
        this store's engine ever connects (its first connection would switch the file to WAL mode:
        a write); on PostgreSQL with the store's own engine (a second engine would connect and
        question the server again)."""
        if self._postgres:
            with self._read_engine.connect() as conn:
                found = schema_version(conn)
                conn.rollback()
        else:
            probe = probe_engine(self.engine.url)
            try:
                with probe.connect() as conn:
                    found = schema_version(conn)
                    conn.rollback()
            finally:
                probe.dispose()
        if found is None:
            raise DatabaseNotFoundError(
                f"{self.url} is not a tract database (it has no tract tables); check the path or URL, "
                "or create a store with Tract.open(...) first"
            )
        return found

    def _guard(self) -> Any:
        return self._lock if self._lock is not None else nullcontext()

    @contextmanager
    def read(self) -> Iterator[SqlSession]:
        """A read-only unit of work: on SQLite one consistent snapshot; on PostgreSQL each statement
        sees what was committed when it started (READ COMMITTED, run without a transaction)."""
        try:
            with self._guard(), self._read_engine.connect() as conn, conn.begin() as tx:
                yield SqlSession(conn, self.dialect)
                if self._postgres:
                    tx.commit()
                else:
                    tx.rollback()
        except (sqlite3.DatabaseError, DBAPIError, StorageError) as error:
            self._raise_if_damaged(error)
            raise

    @contextmanager
    def write(self) -> Iterator[SqlSession]:
        """A write transaction: committed when the block exits normally, rolled back otherwise.

        On a SQLite file, writers of this process queue on a lock before taking the database's
        write lock, so threads never fall into SQLite's sleeping busy-wait (other processes still
        do, up to the busy timeout).
        """
        try:
            with self._guard(), self._writers, self._write_engine.connect() as conn, conn.begin():
                yield SqlSession(conn, self.dialect)
                if self._postgres:
                    commit_deferred(conn)  # deferred statements and the COMMIT in one round trip
        except (sqlite3.DatabaseError, DBAPIError, StorageError) as error:
            self._raise_if_damaged(error)
            raise

    def _raise_if_damaged(self, error: Exception) -> None:
        """Raise CorruptObjectError from a driver error that reports a damaged database."""
        damage = corruption(error, self.url)
        if damage is not None:
            raise damage from error

    @contextmanager
    def batch(self, on_rollback: Callable[[], None] | None = None) -> Iterator[SqlSession]:
        """One write transaction for everything that goes through this store inside the block.

        Every :class:`~tract_core.Tract` on this store writes and reads through the open batch
        (in this thread or task), so changes to several tracts land together or not at all.
        Batches nest: the outermost decides. ``on_rollback`` is called if the batch rolls back
        (tracts drop caches built from what was rolled back); see :meth:`join_batch` and
        :meth:`after_batch`.
        """
        active = self._batch.get()
        if active is not None:
            if on_rollback is not None:
                active[1].append(on_rollback)
            yield active[0]
            return
        callbacks: list[Callable[[], None]] = [] if on_rollback is None else [on_rollback]
        landed: list[Callable[[], None]] = []
        try:
            with self.write() as session:
                token = self._batch.set((session, callbacks, landed))
                try:
                    yield session
                finally:
                    self._batch.reset(token)
        except BaseException:
            for callback in callbacks:
                callback()
            raise
        for callback in landed:
            callback()

    def join_batch(self, on_rollback: Callable[[], None] | None = None) -> SqlSession | None:
        """The session of the batch open in this thread or task (None if there is none);
        ``on_rollback`` is registered with it."""
        active = self._batch.get()
        if active is None:
            return None
        if on_rollback is not None and on_rollback not in active[1]:
            active[1].append(on_rollback)
        return active[0]

    def after_batch(self, callback: Callable[[], None]) -> bool:
        """Run ``callback`` once the batch open in this thread or task has committed (not if it rolls
        back). Returns False, without registering it, when no batch is open."""
        active = self._batch.get()
        if active is None:
            return False
        if callback not in active[2]:
            active[2].append(callback)
        return True

    def run_read(self, fn: Callable[[SqlSession], T]) -> T:
        """``fn(session)`` in a read-only unit of work; returns its result."""
        with self.read() as session:
            return fn(session)

    def run_write(self, fn: Callable[[SqlSession], T]) -> T:
        """``fn(session)`` in a write transaction (rolled back if it raises); returns its result."""
        with self.write() as session:
            return fn(session)

    @property
    def aio(self) -> AsyncRunner:
        """Runs session functions from coroutines: natively async on PostgreSQL, in a thread on SQLite."""
        if self._async is None:
            self._async = AsyncRunner(self)
        return self._async

    async def aread(self, fn: Callable[[SqlSession], T]) -> T:
        """Async :meth:`run_read`; on PostgreSQL it awaits the server on the event loop."""
        return await self.aio.read(fn)

    async def awrite(self, fn: Callable[[SqlSession], T]) -> T:
        """Async :meth:`run_write`; on PostgreSQL it awaits the server on the event loop."""
        return await self.aio.write(fn)

    async def aclose(self) -> None:
        """Close the store from a coroutine (its async connections first)."""
        if self._async is not None:
            await self._async.aclose()
        self.close()

    def file_bytes(self) -> int | None:
        """Size of the SQLite file and its WAL (None for memory and PostgreSQL)."""
        if self.memory or self.dialect != "sqlite":
            return None
        database = self.engine.url.database
        if not database:
            return None
        return sum(os.path.getsize(p) for p in (database, database + "-wal") if os.path.exists(p))

    def reclaim(self, mode: str) -> None:
        """Give freed space back to the file system (SQLite; a no-op elsewhere).

        ``"incremental"`` returns the free pages of a database created with
        ``auto_vacuum=INCREMENTAL`` (every database tract creates) and truncates the WAL;
        ``"full"`` rewrites the whole file with ``VACUUM`` (slower; also converts older files).
        """
        if self.dialect != "sqlite" or self.memory:
            return
        with self._guard(), self.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            try:
                if mode == "full":
                    raw.execute("VACUUM")  # type: ignore[union-attr]
                else:
                    raw.executescript("PRAGMA incremental_vacuum;")  # type: ignore[union-attr]  # execute() frees one page
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
            except sqlite3.Error as exc:  # raw calls bypass SQLAlchemy's error translation
                raise storage_error(exc, self.url, database=self.engine.url.database) from exc

    def close(self) -> None:
        """Release the database connections (sync and async)."""
        if self._async is not None:
            self._async.close()
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r})"
