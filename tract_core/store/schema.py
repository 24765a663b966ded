"""The database tables, as SQLModel classes.

Every table is prefixed ``tract_`` so a tract store can share a database with an application.
JSON-valued columns hold canonical JSON text: byte-identical on every backend, so stored objects
re-hash to their ids, and queryable with each database's JSON functions.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Table, Text
from sqlmodel import Field, SQLModel

__all__ = [
    "SchemaVersionRow",
    "TractRow",
    "BlobRow",
    "CommitRow",
    "RefRow",
    "ReflogRow",
    "AnnotationRow",
    "AnnotationChainRow",
    "CompressionRow",
    "ArchivedRow",
    "HoldRow",
    "PolicyConfigRow",
    "ProposalRow",
    "PolicyLogRow",
    "EventRow",
    "metadata",
    "TABLES",
    "table_of",
]

metadata = SQLModel.metadata
"""SQLModel's shared metadata; create tract's tables with ``tables=TABLES`` so an application's
own SQLModel tables are never created in a tract database by accident."""


def table_of(model: type[SQLModel]) -> Table:
    """The SQLAlchemy :class:`~sqlalchemy.Table` of a table model."""
    return model.__table__  # type: ignore[attr-defined]  # set by SQLModel for table=True; its stubs omit it


class SchemaVersionRow(SQLModel, table=True):
    """The single row recording which migration the database has reached."""

    __tablename__ = "tract_schema"

    id: int = Field(primary_key=True)
    version: int


class TractRow(SQLModel, table=True):
    """A named line of work; a database holds many."""

    __tablename__ = "tract_tracts"

    tract_id: str = Field(primary_key=True, max_length=255)
    parent_tract_id: str | None = Field(default=None, max_length=255, index=True)
    parent_commit: str | None = Field(default=None, max_length=64)
    config: str | None = Field(default=None, sa_column=Column(Text))
    created_at: float


class BlobRow(SQLModel, table=True):
    """A message payload, shared by every commit (in any tract) that carries it."""

    __tablename__ = "tract_blobs"
    __table_args__ = {"sqlite_with_rowid": False}

    hash: str = Field(primary_key=True, max_length=64)
    content: str = Field(sa_column=Column(Text, nullable=False))
    size: int
    token_count: int | None = None
    tokenizer: str | None = Field(default=None, max_length=64)
    created_at: float


class CommitRow(SQLModel, table=True):
    """A commit of one tract. Only the hashed fields define it; the rest are stored beside it."""

    __tablename__ = "tract_commits"
    __table_args__ = (Index("ix_tract_commits_parent", "tract_id", "parent"), {"sqlite_with_rowid": False})

    tract_id: str = Field(primary_key=True, max_length=255, foreign_key="tract_tracts.tract_id")
    hash: str = Field(primary_key=True, max_length=64)
    parent: str | None = Field(default=None, max_length=64)
    extra_parents: str | None = Field(default=None, sa_column=Column(Text))
    depth: int
    blob_hash: str | None = Field(default=None, max_length=64, foreign_key="tract_blobs.hash")
    role: str | None = Field(default=None, max_length=16)
    content_type: str = Field(max_length=64)
    operation: str = Field(max_length=16)
    response_to: str | None = Field(default=None, max_length=64)
    meta: str | None = Field(default=None, sa_column=Column("metadata", Text))
    generation_config: str | None = Field(default=None, sa_column=Column(Text))
    message: str | None = Field(default=None, sa_column=Column(Text))
    created_at: float
    usage: str | None = Field(default=None, sa_column=Column(Text))
    lifecycle: str | None = Field(default=None, sa_column=Column(Text))
    node_key: str | None = Field(default=None, sa_column=Column(Text))
    placement: str | None = Field(default=None, sa_column=Column(Text))


class RefRow(SQLModel, table=True):
    """A branch (``commit_hash`` set) or ``HEAD`` (``symbolic`` names a branch, or detached)."""

    __tablename__ = "tract_refs"
    __table_args__ = {"sqlite_with_rowid": False}

    tract_id: str = Field(primary_key=True, max_length=255, foreign_key="tract_tracts.tract_id")
    name: str = Field(primary_key=True, max_length=255)
    commit_hash: str | None = Field(default=None, max_length=64)
    symbolic: str | None = Field(default=None, max_length=255)


class ReflogRow(SQLModel, table=True):
    """One move of one ref: where it was, where it went and why."""

    __tablename__ = "tract_reflog"
    __table_args__ = (Index("ix_tract_reflog_tract", "tract_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    tract_id: str = Field(max_length=255)
    ref: str = Field(max_length=255)
    old: str | None = Field(default=None, max_length=64)
    new: str | None = Field(default=None, max_length=64)
    action: str = Field(sa_column=Column(Text, nullable=False))
    created_at: float


class AnnotationRow(SQLModel, table=True):
    """A priority given to a message, anchored at the commit HEAD was on when it was given.

    A *lifecycle row* (``t.set_lifecycle``) stores the message's new lifecycle in ``lifecycle``
    (canonical JSON, ``{}`` for permanent) and ``lifecycle`` in ``priority``, which it leaves alone.
    ``digest`` links the row into its tract's annotation chain (see :mod:`tract_core.store.chain`).
    """

    __tablename__ = "tract_annotations"
    __table_args__ = (
        Index("ix_tract_annotations_anchor", "tract_id", "anchor"),
        Index("ix_tract_annotations_target", "tract_id", "target"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tract_id: str = Field(max_length=255)
    target: str = Field(max_length=64)
    priority: str = Field(max_length=16)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    anchor: str = Field(max_length=64)
    excluded: str | None = Field(default=None, sa_column=Column(Text))
    created_at: float
    digest: str | None = Field(default=None, max_length=64)
    lifecycle: str | None = Field(default=None, sa_column=Column(Text))


class AnnotationChainRow(SQLModel, table=True):
    """The head of a tract's annotation chain: the newest digest tract wrote and how many rows it holds."""

    __tablename__ = "tract_annotation_chains"
    __table_args__ = {"sqlite_with_rowid": False}

    tract_id: str = Field(primary_key=True, max_length=255)
    digest: str | None = Field(default=None, max_length=64)
    row_count: int = 0


class CompressionRow(SQLModel, table=True):
    """One compression: the range it replaced, its summary, and whether it is pending or done."""

    __tablename__ = "tract_compressions"
    __table_args__ = (Index("ix_tract_compressions_tract", "tract_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    tract_id: str = Field(max_length=255)
    status: str = Field(max_length=16)
    old_head: str | None = Field(default=None, max_length=64)
    range_from: str = Field(max_length=64)
    range_to: str = Field(max_length=64)
    summary_commit: str | None = Field(default=None, max_length=64)
    new_head: str | None = Field(default=None, max_length=64)
    draft: str | None = Field(default=None, sa_column=Column(Text))
    details: str | None = Field(default=None, sa_column=Column(Text))
    created_at: float
    decided_at: float | None = None


class ArchivedRow(SQLModel, table=True):
    """A commit a compression replaced: kept for audit until gc's archive window passes."""

    __tablename__ = "tract_archived"
    __table_args__ = (Index("ix_tract_archived_commit", "tract_id", "commit_hash"), {"sqlite_with_rowid": False})

    tract_id: str = Field(primary_key=True, max_length=255)
    compression_id: int = Field(primary_key=True)
    commit_hash: str = Field(primary_key=True, max_length=64)
    archived_at: float


class HoldRow(SQLModel, table=True):
    """A commit something outside the ref graph still needs (e.g. a saved LangGraph checkpoint).

    gc treats held commits as roots, whichever process runs it.
    """

    __tablename__ = "tract_holds"
    __table_args__ = {"sqlite_with_rowid": False}

    tract_id: str = Field(primary_key=True, max_length=255)
    commit_hash: str = Field(primary_key=True, max_length=64)
    holder: str = Field(primary_key=True, max_length=64)
    created_at: float


class PolicyConfigRow(SQLModel, table=True):
    """A tract's configured policies (JSON: autonomy and each policy by name or import path),
    whether they are paused, and its orchestrator's stored settings (JSON, with its own pause flag)."""

    __tablename__ = "tract_policies"
    __table_args__ = {"sqlite_with_rowid": False}

    tract_id: str = Field(primary_key=True, max_length=255)
    config: str = Field(sa_column=Column(Text, nullable=False))
    paused: bool = False
    updated_at: float
    orchestrator: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class ProposalRow(SQLModel, table=True):
    """An action a policy proposed (or executed): what, why, against which HEAD, and its fate.

    ``fingerprint`` identifies the action (policy, kind, parameters): the unique index makes two
    processes that evaluate the same situation record, and so execute, it once.
    """

    __tablename__ = "tract_proposals"
    __table_args__ = (
        Index("ix_tract_proposals_fingerprint", "tract_id", "fingerprint", unique=True),
        Index("ix_tract_proposals_status", "tract_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tract_id: str = Field(max_length=255)
    fingerprint: str = Field(max_length=64)
    policy: str = Field(max_length=255)
    kind: str = Field(max_length=64)
    params: str = Field(sa_column=Column(Text, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    risk: str = Field(max_length=16)
    status: str = Field(max_length=16)
    basis: str | None = Field(default=None, max_length=64)
    decided_by: str | None = Field(default=None, max_length=255)
    outcome: str | None = Field(default=None, sa_column=Column(Text))
    created_at: float
    decided_at: float | None = None


class PolicyLogRow(SQLModel, table=True):
    """One policy evaluation that fired (or failed): its decision and outcome."""

    __tablename__ = "tract_policy_log"
    __table_args__ = (Index("ix_tract_policy_log_tract", "tract_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    tract_id: str = Field(max_length=255)
    policy: str = Field(max_length=255)
    trigger: str = Field(max_length=16)
    kind: str | None = Field(default=None, max_length=64)
    decision: str = Field(max_length=16)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    detail: str | None = Field(default=None, sa_column=Column(Text))
    proposal_id: int | None = None
    created_at: float


class EventRow(SQLModel, table=True):
    """An event pushed to a tract (``t.push``): queued until a drain commits it as a message.

    ``seq`` orders a tract's events (1, 2, ...): a pusher takes the next number while it holds the
    tract's event lock, so the numbers are given in the order the events are committed.
    ``consumed_by`` is the commit the event became (NULL while it is pending).
    """

    __tablename__ = "tract_events"
    __table_args__ = (
        Index("ix_tract_events_seq", "tract_id", "seq", unique=True),
        Index("ix_tract_events_pending", "tract_id", "consumed_by"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tract_id: str = Field(max_length=255, foreign_key="tract_tracts.tract_id")
    seq: int
    payload: str = Field(sa_column=Column(Text, nullable=False))
    source: str | None = Field(default=None, sa_column=Column(Text))
    role: str = Field(max_length=16)
    node_key: str | None = Field(default=None, sa_column=Column(Text))
    lifecycle: str | None = Field(default=None, sa_column=Column(Text))
    meta: str | None = Field(default=None, sa_column=Column("metadata", Text))
    created_at: float
    consumed_by: str | None = Field(default=None, max_length=64)
    consumed_at: float | None = None


TABLES = [
    table_of(model)
    for model in (
        SchemaVersionRow,
        TractRow,
        BlobRow,
        CommitRow,
        RefRow,
        ReflogRow,
        AnnotationRow,
        AnnotationChainRow,
        CompressionRow,
        ArchivedRow,
        HoldRow,
        PolicyConfigRow,
        ProposalRow,
        PolicyLogRow,
        EventRow,
    )
]
"""tract's tables, in dependency order."""
