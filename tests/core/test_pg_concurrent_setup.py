"""Several app servers opening the same new PostgreSQL database at once: each adapter's
``create_tables`` finds or creates every table, none fails on a table another one created meanwhile
(``CREATE TABLE IF NOT EXISTS`` alone races: both see no table, the second fails on the catalog)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Table, Text, insert, select

from tract_core import storage
from tract_core.storage import SqlStore
from tract_core.testing import create_database
from tract_core.testing.postgres import drop_database

OPENERS = 6
_META = MetaData()
_TABLES = [
    Table(f"setup_race_{i}", _META, Column("id", Integer, primary_key=True), Column("note", Text)) for i in range(4)
]


def test_stores_setting_up_a_new_database_at_once_all_succeed(postgres_server: Any) -> None:
    url = create_database(postgres_server)
    stores = [SqlStore(url=url) for _ in range(OPENERS)]  # tract's own tables: created by the first
    start = threading.Barrier(OPENERS)
    failures: list[BaseException] = []

    def setup(store: SqlStore) -> None:
        start.wait()
        try:
            storage.run_write(store, lambda tx: tx.create_tables(_TABLES))
        except BaseException as exc:  # collected: the assertion below names them
            failures.append(exc)

    try:
        threads = [threading.Thread(target=setup, args=(store,)) for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        storage.run_write(stores[0], lambda tx: tx.execute(insert(_TABLES[-1]).values(id=1, note="usable")))
        rows = storage.run_read(stores[-1], lambda tx: tx.execute(select(_TABLES[-1].c.note)).scalars().all())
        assert rows == ["usable"]
    finally:
        for store in stores:
            store.close()
        drop_database(postgres_server, url)
