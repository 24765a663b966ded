"""The LangGraph checkpointer's tables (created by ``TractSaver.setup()``, idempotently).

Messages live in tract commits (one tract per thread and namespace); these tables hold what is
LangGraph-specific: checkpoint rows, each channel version's value reference, pending writes,
content-addressed serialized values shared by every thread, and the encrypted text of sealed
messages (when the saver's serde encrypts). Thread ids and namespaces are ``TEXT`` (up to
``threads.MAX_ID_BYTES`` bytes each); databases created with ``VARCHAR(255)`` are widened by
``setup()``.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, LargeBinary, Table, Text
from sqlmodel import Field, SQLModel

__all__ = [
    "CheckpointRow",
    "ChannelRow",
    "ValueRow",
    "WriteRow",
    "SealedRow",
    "CHECKPOINTS",
    "CHANNELS",
    "VALUES",
    "WRITES",
    "SEALED",
    "SAVER_TABLES",
    "ID_COLUMNS",
    "table_of",
]


class CheckpointRow(SQLModel, table=True):
    """One checkpoint: its serialized body (without channel values), metadata and parent."""

    __tablename__ = "tract_lg_checkpoints"
    __table_args__ = (Index("ix_tract_lg_checkpoints_run", "run_id"), {"sqlite_with_rowid": False})

    thread_id: str = Field(sa_column=Column(Text, primary_key=True))
    checkpoint_ns: str = Field(sa_column=Column(Text, primary_key=True))
    checkpoint_id: str = Field(primary_key=True, max_length=64)
    parent_checkpoint_id: str | None = Field(default=None, max_length=64)
    type: str = Field(max_length=32)
    checkpoint: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    versions: str = Field(sa_column=Column(Text, nullable=False))
    metadata_type: str = Field(max_length=32)
    metadata_blob: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    metadata_json: str = Field(sa_column=Column(Text, nullable=False))
    run_id: str | None = Field(default=None, max_length=255)


class ChannelRow(SQLModel, table=True):
    """What one channel held at one version: a value, a message list (a commit), or nothing."""

    __tablename__ = "tract_lg_channels"
    __table_args__ = {"sqlite_with_rowid": False}

    thread_id: str = Field(sa_column=Column(Text, primary_key=True))
    checkpoint_ns: str = Field(sa_column=Column(Text, primary_key=True))
    channel: str = Field(primary_key=True, max_length=255)
    version: str = Field(primary_key=True, max_length=128)
    kind: str = Field(max_length=16)
    value_hash: str | None = Field(default=None, max_length=64)
    tract_id: str | None = Field(default=None, max_length=255)
    commit_hash: str | None = Field(default=None, max_length=64)
    count: int = 0


class ValueRow(SQLModel, table=True):
    """A serialized channel value, stored once by the SHA-256 of its type and bytes."""

    __tablename__ = "tract_lg_values"
    __table_args__ = {"sqlite_with_rowid": False}

    hash: str = Field(primary_key=True, max_length=64)
    type: str = Field(max_length=32)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class WriteRow(SQLModel, table=True):
    """A pending write of a task, attached to the checkpoint it was made against."""

    __tablename__ = "tract_lg_writes"
    __table_args__ = {"sqlite_with_rowid": False}

    thread_id: str = Field(sa_column=Column(Text, primary_key=True))
    checkpoint_ns: str = Field(sa_column=Column(Text, primary_key=True))
    checkpoint_id: str = Field(primary_key=True, max_length=64)
    task_id: str = Field(primary_key=True, max_length=255)
    idx: int = Field(primary_key=True)
    channel: str = Field(max_length=255)
    type: str = Field(max_length=32)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    task_path: str = Field(default="", sa_column=Column(Text, nullable=False))


class SealedRow(SQLModel, table=True):
    """The encrypted body of a sealed message, keyed by the hash of the blob its commit carries."""

    __tablename__ = "tract_lg_sealed"
    __table_args__ = {"sqlite_with_rowid": False}

    hash: str = Field(primary_key=True, max_length=64)
    type: str = Field(max_length=64)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


def table_of(model: type[SQLModel]) -> Table:
    """The SQLAlchemy table of a row model (SQLModel's ``__table__``, which its stubs do not declare)."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


CHECKPOINTS = table_of(CheckpointRow)
CHANNELS = table_of(ChannelRow)
VALUES = table_of(ValueRow)
WRITES = table_of(WriteRow)
SEALED = table_of(SealedRow)

SAVER_TABLES = [CHECKPOINTS, CHANNELS, VALUES, WRITES, SEALED]
"""The saver's tables, created by ``TractSaver.setup()``."""

ID_COLUMNS = ("thread_id", "checkpoint_ns")
"""Columns that were ``VARCHAR(255)`` before thread ids could be long."""
