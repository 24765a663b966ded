"""Versioned, forward-only migrations and the schema-version row."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from tract_core import CorruptObjectError, SchemaVersionError, Tract
from tract_core.store import migrations
from tract_core.store.sql import SqlStore


def _version(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT version FROM tract_schema").fetchone()[0]


def test_a_new_database_starts_at_the_current_version(tmp_path) -> None:
    path = tmp_path / "new.db"
    Tract.open(path=path).close()
    assert _version(path) == migrations.SCHEMA_VERSION


def test_an_older_database_is_migrated_forward_in_order(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.db"
    with Tract.open(path=path) as t:
        t.user("written by version 1")
    applied: list[int] = []

    def add_notes_table(conn) -> None:
        applied.append(2)
        conn.execute(text("CREATE TABLE tract_notes (id INTEGER PRIMARY KEY, note TEXT)"))

    def add_index(conn) -> None:
        applied.append(3)
        conn.execute(text("CREATE INDEX ix_tract_notes_note ON tract_notes (note)"))

    current = migrations.SCHEMA_VERSION
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", current + 2)
    monkeypatch.setitem(migrations.MIGRATIONS, current + 1, add_notes_table)
    monkeypatch.setitem(migrations.MIGRATIONS, current + 2, add_index)
    with Tract.open(path=path) as t:
        assert t.compile().messages[0]["content"] == "written by version 1"
    assert applied == [2, 3]
    assert _version(path) == current + 2
    SqlStore(path=path).close()  # already current: nothing runs again
    assert applied == [2, 3]


def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "broken.db"
    Tract.open(path=path).close()

    def half_done(conn) -> None:
        conn.execute(text("CREATE TABLE tract_half (id INTEGER)"))
        raise RuntimeError("disk full")

    current = migrations.SCHEMA_VERSION
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(migrations.MIGRATIONS, current + 1, half_done)
    with pytest.raises(RuntimeError, match="disk full"):
        Tract.open(path=path)
    assert _version(path) == current
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "tract_half" not in tables


def test_a_newer_database_is_refused_untouched(tmp_path) -> None:
    path = tmp_path / "future.db"
    Tract.open(path=path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE tract_schema SET version = 999")
    before = path.read_bytes()
    with pytest.raises(SchemaVersionError, match="999.*upgrade tract-context"):
        Tract.open(path=path)
    assert path.read_bytes() == before


def test_a_version_1_store_upgrades_and_keeps_its_history(tmp_path) -> None:
    """tests/data/schema_v1.db was written by the version-1 code (before compression existed)."""
    import shutil
    from pathlib import Path

    path = tmp_path / "v1.db"
    shutil.copy(Path(__file__).resolve().parents[1] / "data" / "schema_v1.db", path)
    assert _version(path) == 1
    with Tract.open(path=path, tract_id="support") as t:
        assert t.head == "a203e6bf038fa6e28074bd93220d68b72117b86e22ec6830d00e84b14c337125"
        assert t.compile().digest == "4df751921af34caca1f2ec962fd09c4c22bb4f84c8b20b4beb6f5cebaa5a35d0"
        assert [m["content"] for m in t.compile().messages][-1] == "30 days."
        assert [b.name for b in t.list_branches()] == ["draft", "main"]
        assert t.verify() > 0 and t.verify().annotations == 1  # the annotation written by version 1 is chained
        t.user("written after the upgrade")
    assert _version(path) == migrations.SCHEMA_VERSION
    with sqlite3.connect(path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(tract_tracts)")}
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "parent_commit" in columns and {"tract_compressions", "tract_archived"} <= tables


def test_the_version_2_migration_runs_on_postgresql(postgres_server) -> None:
    from tract_core.testing import create_database

    url = create_database(postgres_server)
    with Tract.open(url=url, tract_id="pg") as t:
        t.user("before")
        head = t.head
    store = SqlStore(url=url)
    with store.engine.begin() as conn:  # take the database back to what version 1 wrote
        conn.execute(text("DROP TABLE tract_annotation_chains"))
        conn.execute(text("ALTER TABLE tract_annotations DROP COLUMN digest"))
        conn.execute(text("DROP TABLE tract_archived"))
        conn.execute(text("DROP TABLE tract_compressions"))
        conn.execute(text("ALTER TABLE tract_tracts DROP COLUMN parent_commit"))
        conn.execute(text("UPDATE tract_schema SET version = 1"))
    store.close()
    with Tract.open(url=url, tract_id="pg") as t:
        assert t.head == head and t.compile().messages == [{"role": "user", "content": "before"}]
    store = SqlStore(url=url)
    with store.engine.connect() as conn:
        assert migrations.schema_version(conn) == migrations.SCHEMA_VERSION
    store.close()


def _take_back_to_version_3(conn) -> None:
    """Undo version 4 (the annotation chain), as a version-3 tract left the database."""
    conn.execute(text("DROP TABLE tract_annotation_chains"))
    conn.execute(text("ALTER TABLE tract_annotations DROP COLUMN digest"))
    conn.execute(text("UPDATE tract_schema SET version = 3"))


def _digests(store: SqlStore) -> list[tuple[str, int, str]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT tract_id, id, digest FROM tract_annotations ORDER BY id"))]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_version_4_chains_the_annotations_written_before_it(factory) -> None:
    """The migration links every tract's existing annotation rows exactly as tract would have
    written them, so verify() passes, and damage made after it is found."""
    for tract_id in ("one", "two"):
        t = factory.open(tract_id=tract_id)
        first = t.user(f"{tract_id}: first")
        t.annotate(first, "skip", reason="noise")
        t.annotate(t.user(f"{tract_id}: second"), "pinned")
        t.annotate(first, "normal")
    store = SqlStore(**{k: v for k, v in factory.location.items() if k in ("path", "url")})
    written = _digests(store)
    with store.engine.begin() as conn:
        _take_back_to_version_3(conn)
    store.close()
    upgraded = factory.open(tract_id="one")
    store = SqlStore(**{k: v for k, v in factory.location.items() if k in ("path", "url")})
    assert _digests(store) == written and all(d for _, _, d in written)
    with store.engine.connect() as conn:
        assert migrations.schema_version(conn) == migrations.SCHEMA_VERSION
    store.close()
    assert upgraded.verify().annotations == 3 and factory.open(tract_id="two").verify().annotations == 3
    with upgraded.store.write() as session:
        session.conn.execute(
            text("UPDATE tract_annotations SET priority = 'skip' WHERE tract_id = 'one' AND priority = 'pinned'")
        )
    with pytest.raises(CorruptObjectError, match="annotation"):
        upgraded.verify()


OPENER = """
import json, sys, time
from pathlib import Path
from tract_core import Tract

args = json.loads(sys.argv[1])
while not Path(args["go"]).exists():
    time.sleep(0.002)
with Tract.open(url=args["url"], tract_id=args["tract_id"]) as t:
    t.user("hello")
print(json.dumps(t.tract_id))
"""


@pytest.mark.slow
def test_processes_creating_one_new_postgresql_database_at_once_all_open_it(postgres_server, tmp_path) -> None:
    """Each process creates the tables or waits for the one that does (the schema lock), then finds
    them: a table another process has just committed must not look missing (a stale catalog
    cache), or the process would insert the version row twice and fail."""
    from tract_core.testing import create_database
    from tract_core.testing.processes import ChildProcess

    for attempt in range(3):
        url = create_database(postgres_server)
        go = tmp_path / f"go-{attempt}"
        children = [
            ChildProcess(OPENER, {"url": url, "go": str(go), "tract_id": f"t{i}"}, tmp_path, f"opener-{attempt}-{i}")
            for i in range(4)
        ]
        go.write_text("go")
        assert sorted(child.result() for child in children) == ["t0", "t1", "t2", "t3"]
        with Tract.open(url=url, tract_id="t0", create=False) as t:
            assert [m["content"] for m in t.compile().messages] == ["hello"]
