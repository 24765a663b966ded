"""Versioned, forward-only migrations and the schema-version row."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from tract_core import SchemaVersionError, Tract
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
