"""The LangGraph checkpointer's tables (created by ``TractSaver.setup()``, idempotently).

Messages live in tract commits (one tract per thread and namespace); these tables hold what is
LangGraph-specific: checkpoint rows, each channel version's value reference, pending writes,
content-addressed serialized values shared by every thread, and the encrypted text of sealed
messages (when the saver's serde encrypts). Thread ids and namespaces are ``TEXT`` (up to
``threads.MAX_ID_BYTES`` bytes each); databases created with ``VARCHAR(255)`` are widened by
``setup()``.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, LargeBinary, MetaData, String, Table, Text

__all__ = [
    "metadata",
    "CHECKPOINTS",
    "CHANNELS",
    "VALUES",
    "WRITES",
    "SEALED",
    "SAVER_TABLES",
    "ID_COLUMNS",
]

metadata = MetaData()
"""The saver's own metadata (tract's tables are tract's: the saver creates only :data:`SAVER_TABLES`,
through :meth:`tract_core.storage.Transaction.create_tables`)."""

CHECKPOINTS = Table(
    "tract_lg_checkpoints",
    metadata,
    Column("thread_id", Text, primary_key=True),
    Column("checkpoint_ns", Text, primary_key=True),
    Column("checkpoint_id", String(64), primary_key=True),
    Column("parent_checkpoint_id", String(64)),
    Column("type", String(32), nullable=False),
    Column("checkpoint", LargeBinary, nullable=False),
    Column("versions", Text, nullable=False),
    Column("metadata_type", String(32), nullable=False),
    Column("metadata_blob", LargeBinary, nullable=False),
    Column("metadata_json", Text, nullable=False),
    Column("run_id", String(255)),
    Index("ix_tract_lg_checkpoints_run", "run_id"),
    sqlite_with_rowid=False,
)
"""One checkpoint: its serialized body (without channel values), metadata and parent."""

CHANNELS = Table(
    "tract_lg_channels",
    metadata,
    Column("thread_id", Text, primary_key=True),
    Column("checkpoint_ns", Text, primary_key=True),
    Column("channel", String(255), primary_key=True),
    Column("version", String(128), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("value_hash", String(64)),
    Column("tract_id", String(255)),
    Column("commit_hash", String(64)),
    Column("count", Integer, nullable=False, default=0),
    sqlite_with_rowid=False,
)
"""What one channel held at one version: a value, a message list (a commit), or nothing."""

VALUES = Table(
    "tract_lg_values",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)
"""A serialized channel value, stored once by the SHA-256 of its type and bytes."""

WRITES = Table(
    "tract_lg_writes",
    metadata,
    Column("thread_id", Text, primary_key=True),
    Column("checkpoint_ns", Text, primary_key=True),
    Column("checkpoint_id", String(64), primary_key=True),
    Column("task_id", String(255), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("channel", String(255), nullable=False),
    Column("type", String(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("task_path", Text, nullable=False),
    sqlite_with_rowid=False,
)
"""A pending write of a task, attached to the checkpoint it was made against."""

SEALED = Table(
    "tract_lg_sealed",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)
"""The encrypted body of a sealed message, keyed by the hash of the blob its commit carries."""

SAVER_TABLES = [CHECKPOINTS, CHANNELS, VALUES, WRITES, SEALED]
"""The saver's tables, created by ``TractSaver.setup()``."""

ID_COLUMNS = ("thread_id", "checkpoint_ns")
"""Columns that were ``VARCHAR(255)`` before thread ids could be long."""
