"""Statements deferred on PostgreSQL (sent with the next statement or the COMMIT, in one round trip)
keep every transaction guarantee: all or nothing, errors raised inside the unit of work, and the
pooled connection handed back exactly as it was (never left in autocommit)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, select

from tract_core import StorageError, storage
from tract_core.storage import PreparedStatement, SqlStore
from tract_core.testing import create_database
from tract_core.testing.postgres import drop_database

_META = MetaData()
_ROWS = Table("pipeline_rows", _META, Column("id", Integer, primary_key=True), Column("note", Text))
_INSERT = PreparedStatement(_ROWS.insert())
_COUNT = PreparedStatement(select(_ROWS.c.id).order_by(_ROWS.c.id))


@pytest.fixture
def store(postgres_server: Any) -> Iterator[SqlStore]:
    url = create_database(postgres_server)
    opened = SqlStore(url=url)
    storage.run_write(opened, lambda tx: tx.create_tables([_ROWS]))
    yield opened
    opened.close()
    drop_database(postgres_server, url)


def _ids(store: SqlStore) -> list[int]:
    return [row[0] for row in storage.run_read(store, lambda tx: _COUNT.all(tx, {}))]


def _insert(tx: storage.Transaction, *ids: int) -> None:
    for i in ids:
        _INSERT.defer(tx, {"id": i, "note": f"row {i}"})


def test_a_unit_of_only_deferred_statements_commits_all_of_them(store: SqlStore) -> None:
    storage.run_write(store, lambda tx: _insert(tx, 1, 2, 3))
    assert _ids(store) == [1, 2, 3]


def test_a_failing_deferred_statement_rolls_back_the_whole_unit(store: SqlStore) -> None:
    storage.run_write(store, lambda tx: _insert(tx, 1))
    with pytest.raises(StorageError):
        storage.run_write(store, lambda tx: _insert(tx, 2, 1, 3))  # 1 exists: the unit fails at its commit
    assert _ids(store) == [1]  # neither 2 nor 3: all or nothing
    # the connection went back to the pool usable and transactional: a later unit that fails midway
    # still leaves nothing behind (a connection left in autocommit would keep row 4)
    with pytest.raises(StorageError):
        storage.run_write(store, lambda tx: (_insert(tx, 4), _INSERT.run(tx, {"id": 1, "note": "dup"})))
    assert _ids(store) == [1]
    storage.run_write(store, lambda tx: _insert(tx, 5))
    assert _ids(store) == [1, 5]


def test_a_read_in_the_unit_sees_what_was_deferred_before_it(store: SqlStore) -> None:
    def unit(tx: storage.Transaction) -> list[int]:
        _insert(tx, 7, 8)
        return [row[0] for row in _COUNT.all(tx, {})]

    assert storage.run_write(store, unit) == [7, 8]
    assert _ids(store) == [7, 8]


def test_an_error_raised_by_the_caller_discards_what_was_deferred(store: SqlStore) -> None:
    def unit(tx: storage.Transaction) -> None:
        _insert(tx, 9)
        raise RuntimeError("the caller gives up")

    with pytest.raises(RuntimeError):
        storage.run_write(store, unit)
    storage.run_write(store, lambda tx: _insert(tx, 10))
    assert _ids(store) == [10]  # row 9 was neither committed nor sent with the next unit
