"""Running units of work from asyncio code without blocking the event loop.

A unit of work is a plain function of a session (the same code the sync API runs). How it runs
depends on the backend:

* **PostgreSQL**: natively async. The function runs inside SQLAlchemy's asyncio bridge on a
  psycopg async connection: every statement it issues awaits the server on the event loop (no
  worker thread). Connections are pooled per event loop, because async connections belong to
  the loop that opened them (``asyncio.run`` twice on one store is fine: the pool of a loop that
  has ended is closed when the next loop starts, and every pool by ``close()``).
* **SQLite**: in a worker thread (``asyncio.to_thread``), like every SQLite driver for asyncio;
  SQLite has no network wait to overlap.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy.engine import Engine

from .engine import guard_engine, ping_after_idle
from .session import SqlSession

__all__ = ["AsyncRunner", "async_url"]

T = TypeVar("T")


class _BlockingStore(Protocol):
    """What the runner needs of a store (:class:`~.sql.SqlStore`): its engine and blocking units of work."""

    @property
    def engine(self) -> Engine: ...

    @property
    def dialect(self) -> str: ...

    def run_read(self, fn: Callable[[SqlSession], T]) -> T: ...

    def run_write(self, fn: Callable[[SqlSession], T]) -> T: ...


def async_url(engine: Engine) -> Any:
    """The async twin of a PostgreSQL engine's URL (psycopg's async driver, same credentials)."""
    return engine.url.set(drivername="postgresql+psycopg_async")


class AsyncRunner:
    """Runs session functions for a store from coroutines (see the module docstring).

    Args:
        store: The store whose database the functions work on.
    """

    def __init__(self, store: _BlockingStore) -> None:
        self._store = store
        self._native = store.dialect == "postgresql"
        self._engines: dict[asyncio.AbstractEventLoop, Any] = {}
        self._lock = threading.Lock()

    @property
    def native(self) -> bool:
        """Whether units of work await the database on the event loop (PostgreSQL) instead of a thread."""
        return self._native

    def _engine(self) -> Any:
        from sqlalchemy.ext.asyncio import create_async_engine

        loop = asyncio.get_running_loop()
        with self._lock:
            engine = self._engines.get(loop)
            if engine is not None:
                return engine
            stale = [old for old in self._engines if old.is_closed()]
            engine = create_async_engine(async_url(self._store.engine), hide_parameters=True, use_native_hstore=False)
            guard_engine(engine.sync_engine)  # the same error translation and checks as the sync engine
            ping_after_idle(engine.sync_engine)  # as the sync engine: a ping only after an idle spell
            self._engines[loop] = engine
            finished = [self._engines.pop(old) for old in stale]
        _dispose(finished)  # connections of loops that ended (e.g. an earlier asyncio.run)
        return engine

    async def read(self, fn: Callable[[SqlSession], T]) -> T:
        """Run ``fn(session)`` as a read (each statement on its own, as the sync store's reads on
        PostgreSQL); return its result."""
        if not self._native:
            return await asyncio.to_thread(self._store.run_read, fn)
        return await self._run(fn, write=False)

    async def write(self, fn: Callable[[SqlSession], T]) -> T:
        """Run ``fn(session)`` in a write transaction (committed if it returns, rolled back if it raises)."""
        if not self._native:
            return await asyncio.to_thread(self._store.run_write, fn)
        return await self._run(fn, write=True)

    async def _run(self, fn: Callable[[SqlSession], T], *, write: bool) -> T:
        dialect = self._store.dialect
        engine = self._engine()
        if not write:  # as the sync store's reads: no transaction (no BEGIN, no COMMIT round trip)
            engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn, conn.begin():
            return await conn.run_sync(lambda sync_conn: fn(SqlSession(sync_conn, dialect)))

    async def aclose(self) -> None:
        """Close the pooled connections of the running loop's engine (others are closed by :meth:`close`)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            engine = self._engines.pop(loop, None)
        if engine is not None:
            await engine.dispose()
        self.close()

    def close(self) -> None:
        """Close every pooled async connection, whichever loop opened it (callable from sync code).

        Engines of a loop that is still running elsewhere are closed on a private loop in a
        helper thread; psycopg connections are not tied to the loop that opened them.
        """
        with self._lock:
            engines = list(self._engines.values())
            self._engines.clear()
        _dispose(engines)


def _dispose(engines: list[Any]) -> None:
    """Close async engines from sync code, on a private loop in a helper thread."""
    if not engines:
        return

    async def dispose_all() -> None:
        for engine in engines:
            await engine.dispose()

    runner = threading.Thread(target=lambda: asyncio.run(dispose_all()), daemon=True)
    runner.start()
    runner.join()
