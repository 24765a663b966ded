"""Units of work from coroutines: natively async on PostgreSQL, a worker thread on SQLite."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from sqlalchemy import text

from tract_core import Tract
from tract_core.store import SqlStore
from tract_core.testing.factory import create_database


@pytest.fixture
def pg_store(postgres_server: Any) -> Any:
    store = SqlStore(url=create_database(postgres_server))
    yield store
    store.close()


def _sleep(seconds: float):
    return lambda session: session.conn.execute(text(f"SELECT pg_sleep({seconds})")).scalar()


async def test_postgres_units_of_work_run_on_the_event_loop_without_threads(pg_store: SqlStore) -> None:
    loop_thread = threading.get_ident()
    assert pg_store.aio.native
    assert await pg_store.aread(lambda session: threading.get_ident()) == loop_thread
    assert await pg_store.awrite(lambda session: threading.get_ident()) == loop_thread


async def test_postgres_waits_overlap_and_the_loop_stays_responsive(pg_store: SqlStore) -> None:
    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(20):
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.02)

    start = time.perf_counter()
    await asyncio.gather(*(pg_store.aread(_sleep(0.4)) for _ in range(4)), ticker())
    elapsed = time.perf_counter() - start
    assert elapsed < 1.2, f"four 0.4 s server waits took {elapsed:.2f} s: they did not overlap"
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert max(gaps) < 0.2, f"the event loop was blocked for {max(gaps):.2f} s"


async def test_postgres_async_write_commits_and_rolls_back(pg_store: SqlStore) -> None:
    tract = Tract.open(store=pg_store, tract_id="t")
    tract.user("hello")

    def create_and_fail(session: Any) -> None:
        session.tracts.create("doomed", None, None)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await pg_store.awrite(create_and_fail)
    assert await pg_store.aread(lambda session: session.tracts.get("doomed")) is None
    await pg_store.awrite(lambda session: session.tracts.create("kept", None, None))
    assert pg_store.run_read(lambda session: session.tracts.get("kept")) is not None
    head = await pg_store.aread(lambda session: session.refs.head("t").commit)
    assert head == tract.head


def test_postgres_store_serves_several_event_loops_in_turn(pg_store: SqlStore) -> None:
    # asyncio.run twice (scripts, notebooks) must not reuse the first loop's connections
    pg_store.run_write(lambda session: session.tracts.create("t", None, None))
    for _ in range(3):
        entry = asyncio.run(pg_store.aread(lambda session: session.tracts.get("t")))
        assert entry is not None and entry.tract_id == "t"


def test_postgres_sync_close_closes_async_connections(postgres_server: Any) -> None:
    url = create_database(postgres_server)
    store = SqlStore(url=url)
    asyncio.run(store.aread(lambda session: 1))

    async def open_and_close_inside_a_running_loop() -> None:
        await store.aread(lambda session: 1)
        store.close()  # a sync close while the loop that opened connections is running

    asyncio.run(open_and_close_inside_a_running_loop())
    assert _other_connections(url) == 0, "connections were left open"


def _other_connections(url: str) -> int:
    """Connections to the database besides our own probe (closed backends may linger a moment)."""
    probe = SqlStore(url=url)
    query = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
    try:
        for _ in range(50):
            found = probe.run_read(lambda session: session.conn.execute(query).scalar())
            if found == 0:
                break
            time.sleep(0.05)
        return found
    finally:
        probe.close()


async def test_sqlite_units_of_work_run_in_a_worker_thread(tmp_path: Any) -> None:
    store = SqlStore(path=tmp_path / "t.db")
    try:
        assert not store.aio.native
        assert await store.aread(lambda session: threading.get_ident()) != threading.get_ident()
        await store.awrite(lambda session: session.tracts.create("t", None, None))
        assert store.run_read(lambda session: session.tracts.get("t")) is not None
    finally:
        await store.aclose()
