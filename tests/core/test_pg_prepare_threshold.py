"""``?prepare_threshold=none`` on a PostgreSQL URL: tract's statements are never prepared on the server.

A connection pooler in transaction mode (PgBouncer before 1.21, or without
``max_prepared_statements``) hands each transaction whichever server connection is free; a statement
psycopg prepared on another one is missing there (SQLSTATE 26000) or already exists (42P05). No
pooler runs in CI, so these tests look at what the option changes on a real server: the statements
prepared in the session that ran tract's work (``pg_prepared_statements``), sync and async. The error
a pooler causes is produced on the server itself (``EXECUTE`` of a statement the session lacks).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import make_url, text

from tract_core import InvalidInputError, StorageError, Tract, storage
from tract_core.testing import create_database
from tract_core.testing.postgres import drop_database

_PREPARED = text("SELECT count(*) FROM pg_prepared_statements")


@pytest.fixture
def url(postgres_server: Any) -> Iterator[str]:
    made = create_database(postgres_server)
    yield made
    drop_database(postgres_server, made)


def _with(url: str, **query: str) -> str:
    return make_url(url).update_query_dict(query).render_as_string(hide_password=False)


def _session_state(tract: Tract) -> tuple[Any, int]:
    """psycopg's threshold on the pooled connection tract's commits ran on, and the statements that
    session has prepared (one connection: every unit of work here runs in this one thread)."""

    def look(tx: storage.Transaction) -> tuple[Any, int]:
        threshold = tx.connection.connection.dbapi_connection.prepare_threshold  # type: ignore[union-attr]
        return threshold, int(tx.execute(_PREPARED).scalar_one())

    return storage.run_read(tract.store, look)


def _commit_turns(tract: Tract, turns: int) -> None:
    for i in range(turns):
        tract.user(f"question {i}")
        tract.assistant(f"answer {i}")
        tract.compile()


def test_by_default_psycopg_prepares_tracts_repeated_statements_on_the_server(url: str) -> None:
    with Tract.open(url=url) as tract:
        _commit_turns(tract, 8)
        threshold, prepared = _session_state(tract)
    assert threshold == 5  # psycopg's default
    assert prepared > 0  # what a transaction-mode pooler cannot carry from one server connection to another


def test_prepare_threshold_none_prepares_nothing_and_the_tract_works(url: str) -> None:
    with Tract.open(url=_with(url, prepare_threshold="none")) as tract:
        _commit_turns(tract, 8)
        threshold, prepared = _session_state(tract)
        assert [m["content"] for m in tract.compile()][-2:] == ["question 7", "answer 7"]
    assert (threshold, prepared) == (None, 0)
    with Tract.open(url=_with(url, prepare_threshold="NONE")) as again:  # reopened: the same history
        assert len(again.compile()) == 16


def test_a_number_is_handed_to_psycopg_as_its_threshold(url: str) -> None:
    with Tract.open(url=_with(url, prepare_threshold="0")) as tract:
        _commit_turns(tract, 1)
        threshold, prepared = _session_state(tract)
    assert threshold == 0  # prepare every statement at once
    assert prepared > 0


def test_the_async_engine_keeps_the_option(url: str) -> None:
    def count(session: Any) -> int:
        return int(session.conn.execute(_PREPARED).scalar_one())

    async def read_repeatedly(tract: Tract) -> int:
        # write units (they commit; a read's ROLLBACK makes psycopg drop what it prepared)
        for _ in range(7):  # past psycopg's default threshold of 5 executions
            await tract.store.awrite(count)
        found = await tract.store.awrite(count)
        await tract.store.aclose()
        return found

    with Tract.open(url=url) as plain:
        assert asyncio.run(read_repeatedly(plain)) > 0
    with Tract.open(url=_with(url, prepare_threshold="none")) as pooled:
        assert asyncio.run(read_repeatedly(pooled)) == 0


@pytest.mark.parametrize("value", ["sometimes", "-1", "1.5", "None5"])
def test_an_invalid_value_is_refused_before_connecting(url: str, value: str) -> None:
    with pytest.raises(InvalidInputError, match="prepare_threshold=none"):
        Tract.open(url=_with(url, prepare_threshold=value))


def test_the_option_given_twice_is_refused(url: str) -> None:
    twice = _with(url) + ("&" if "?" in url else "?") + "prepare_threshold=none&prepare_threshold=5"
    with pytest.raises(InvalidInputError, match="more than once"):
        Tract.open(url=twice)


def test_a_missing_prepared_statement_names_the_pooler_and_the_option(url: str) -> None:
    with Tract.open(url=url) as tract:
        with pytest.raises(StorageError, match=r"transaction mode.*prepare_threshold=none") as raised:
            storage.run_read(tract.store, lambda tx: tx.execute(text("EXECUTE tract_statement_of_another_session")))
        assert "SQLSTATE 26000" in str(raised.value)
        assert len(tract.compile()) == 0  # the store is still usable
