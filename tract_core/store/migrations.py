"""Versioned, forward-only schema migrations.

A new database is created at the latest schema in one step. An existing one is brought forward
one version at a time by the functions in :data:`MIGRATIONS` (``MIGRATIONS[n]`` takes version
``n - 1`` to ``n``), all in one transaction. A database written by a newer tract is refused with
:class:`~tract_core.errors.SchemaVersionError` and left untouched.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import inspect, select, text, update
from sqlalchemy.engine import Connection, Engine

from ..errors import SchemaVersionError
from .engine import READ_OPTION, WRITE_OPTION
from .schema import (
    ANNOTATION_CHAINS,
    ARCHIVED,
    COMPRESSIONS,
    EVENTS,
    HOLDS,
    POLICIES,
    POLICY_LOG,
    PROPOSALS,
    SCHEMA,
    TABLES,
    metadata,
)
from .sql_refs import link_annotations

__all__ = ["SCHEMA_VERSION", "MIGRATIONS", "migrate", "schema_version", "lock_schema"]

SCHEMA_VERSION = 10
"""The schema version this code writes."""


def _v2_compression_and_subagents(conn: Connection) -> None:
    """Version 2: compression records, archived commits, and the commit a child tract was spawned at."""
    metadata.create_all(conn, tables=[COMPRESSIONS, ARCHIVED])
    conn.execute(text("ALTER TABLE tract_tracts ADD COLUMN parent_commit VARCHAR(64)"))


def _v3_holds(conn: Connection) -> None:
    """Version 3: commits held by something outside the ref graph (saved checkpoints), kept by gc."""
    metadata.create_all(conn, tables=[HOLDS])


def _v4_annotation_chain(conn: Connection) -> None:
    """Version 4: annotation rows chained by digest (``verify()`` finds changed, forged and deleted
    ones); the rows written before are chained as they are."""
    conn.execute(text("ALTER TABLE tract_annotations ADD COLUMN digest VARCHAR(64)"))
    metadata.create_all(conn, tables=[ANNOTATION_CHAINS])
    link_annotations(conn)


def _v5_policies(conn: Connection) -> None:
    """Version 5: configured policies, their proposals and their log."""
    metadata.create_all(conn, tables=[POLICIES, PROPOSALS, POLICY_LOG])


def _v6_orchestrator(conn: Connection) -> None:
    """Version 6: the orchestrator's stored settings and pause flag, beside the tract's policies.

    A database upgraded from before version 5 in the same pass already has the column: version 5
    creates the table as this code defines it."""
    if "orchestrator" not in {c["name"] for c in inspect(conn).get_columns("tract_policies")}:
        conn.execute(text("ALTER TABLE tract_policies ADD COLUMN orchestrator TEXT"))


def _v7_lifecycles(conn: Connection) -> None:
    """Version 7: a commit's lifecycle and node key (hashed with it when set; NULL for every older commit)."""
    present = {c["name"] for c in inspect(conn).get_columns("tract_commits")}
    for column in ("lifecycle", "node_key"):
        if column not in present:
            conn.execute(text(f"ALTER TABLE tract_commits ADD COLUMN {column} TEXT"))


def _v8_lifecycle_rows(conn: Connection) -> None:
    """Version 8: lifecycle rows among the annotations (``t.set_lifecycle``); NULL for every older row,
    so the annotation chain of the rows written before stays as it is."""
    if "lifecycle" not in {c["name"] for c in inspect(conn).get_columns("tract_annotations")}:
        conn.execute(text("ALTER TABLE tract_annotations ADD COLUMN lifecycle TEXT"))


def _v9_placement(conn: Connection) -> None:
    """Version 9: a commit's placement (pre/post-context of another message; hashed with it when set,
    NULL for every older commit)."""
    if "placement" not in {c["name"] for c in inspect(conn).get_columns("tract_commits")}:
        conn.execute(text("ALTER TABLE tract_commits ADD COLUMN placement TEXT"))


def _v10_events(conn: Connection) -> None:
    """Version 10: the queue of events pushed to a tract (``t.push``), drained into commits."""
    metadata.create_all(conn, tables=[EVENTS])


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    2: _v2_compression_and_subagents,
    3: _v3_holds,
    4: _v4_annotation_chain,
    5: _v5_policies,
    6: _v6_orchestrator,
    7: _v7_lifecycles,
    8: _v8_lifecycle_rows,
    9: _v9_placement,
    10: _v10_events,
}
"""Upgrade steps: ``MIGRATIONS[n](conn)`` upgrades a version ``n - 1`` database to version ``n``."""

_VERSION = SCHEMA


_PG_HAS_TABLE = text(
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relname = :name AND n.nspname = current_schema())"
)


def schema_version(conn: Connection) -> int | None:
    """The database's schema version, or None if tract's tables are not there yet."""
    if conn.dialect.name == "postgresql":
        # one query (an Inspector costs more); pg_class read by the statement's snapshot, not
        # to_regclass, whose cached catalog can miss a table another process has just created
        present = conn.execute(_PG_HAS_TABLE, {"name": _VERSION.name}).scalar()
    else:  # SQLite
        present = conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"), {"name": _VERSION.name}
        ).first()
    if not present:
        return None
    return conn.execute(select(_VERSION.c.version).where(_VERSION.c.id == 1)).scalar_one_or_none()


def _too_new(found: int) -> SchemaVersionError:
    return SchemaVersionError(
        f"this database uses tract schema version {found}, but this tract understands up to "
        f"version {SCHEMA_VERSION}; upgrade tract-context (pip install -U tract-context) to open it"
    )


_SCHEMA_LOCK = text("SELECT pg_advisory_xact_lock(7342991)")


def lock_schema(conn: Connection) -> None:
    """On PostgreSQL, wait for the transaction-level lock that schema changes take (tract's migrations,
    adapters' ``create_tables``), so processes opening a new database at the same time create each
    table once: ``CREATE TABLE IF NOT EXISTS`` alone races (both see no table, the second fails on
    the catalog's unique index). Released at commit or rollback. A no-op on SQLite, whose write
    transactions already exclude each other."""
    if conn.dialect.name == "postgresql":
        conn.execute(_SCHEMA_LOCK)


def migrate(engine: Engine) -> int:
    """Create or upgrade tract's tables; return the version the database is now at.

    Raises:
        SchemaVersionError: The database was written by a newer version of tract.
    """
    with engine.connect().execution_options(**{READ_OPTION: True}) as probe:  # PostgreSQL: no transaction
        found = schema_version(probe)
        probe.rollback()
    if found == SCHEMA_VERSION:
        return found
    if found is not None and found > SCHEMA_VERSION:
        raise _too_new(found)
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        lock_schema(conn)
        found = schema_version(conn)
        if found is None:
            metadata.create_all(conn, tables=TABLES)
            conn.execute(_VERSION.insert().values(id=1, version=SCHEMA_VERSION))
            return SCHEMA_VERSION
        if found > SCHEMA_VERSION:
            raise _too_new(found)
        for version in range(found + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version](conn)
            conn.execute(update(_VERSION).where(_VERSION.c.id == 1).values(version=version))
        return SCHEMA_VERSION
