"""The database tables, as SQLAlchemy Core tables on one :data:`metadata`.

Every table is prefixed ``tract_`` so a tract store can share a database with an application.
JSON-valued columns hold canonical JSON text: byte-identical on every backend, so stored objects
re-hash to their ids, and queryable with each database's JSON functions. Each table's name in
Python is its SQL name without the prefix (``tract_commits`` is :data:`COMMITS`).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text

__all__ = [
    "metadata",
    "SCHEMA",
    "TRACTS",
    "BLOBS",
    "COMMITS",
    "REFS",
    "REFLOG",
    "ANNOTATIONS",
    "ANNOTATION_CHAINS",
    "COMPRESSIONS",
    "ARCHIVED",
    "HOLDS",
    "POLICIES",
    "PROPOSALS",
    "POLICY_LOG",
    "EVENTS",
    "TABLES",
]

metadata = MetaData()
"""tract's own metadata: it holds tract's tables and nothing else (an adapter defines its tables on
a metadata of its own)."""

SCHEMA = Table(
    "tract_schema",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)
"""The single row recording which migration the database has reached."""

TRACTS = Table(
    "tract_tracts",
    metadata,
    Column("tract_id", String(255), primary_key=True),
    Column("parent_tract_id", String(255), index=True),
    Column("parent_commit", String(64)),
    Column("config", Text),
    Column("created_at", Float, nullable=False),
)
"""A named line of work; a database holds many."""

BLOBS = Table(
    "tract_blobs",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("content", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("token_count", Integer),
    Column("tokenizer", String(64)),
    Column("created_at", Float, nullable=False),
    sqlite_with_rowid=False,
)
"""A message payload, shared by every commit (in any tract) that carries it."""

COMMITS = Table(
    "tract_commits",
    metadata,
    Column("tract_id", String(255), ForeignKey("tract_tracts.tract_id"), primary_key=True),
    Column("hash", String(64), primary_key=True),
    Column("parent", String(64)),
    Column("extra_parents", Text),
    Column("depth", Integer, nullable=False),
    Column("blob_hash", String(64), ForeignKey("tract_blobs.hash")),
    Column("role", String(16)),
    Column("content_type", String(64), nullable=False),
    Column("operation", String(16), nullable=False),
    Column("response_to", String(64)),
    Column("metadata", Text),
    Column("generation_config", Text),
    Column("message", Text),
    Column("created_at", Float, nullable=False),
    Column("usage", Text),
    Column("lifecycle", Text),
    Column("node_key", Text),
    Column("placement", Text),
    Index("ix_tract_commits_parent", "tract_id", "parent"),
    sqlite_with_rowid=False,
)
"""A commit of one tract. Only the hashed fields define it; the rest are stored beside it."""

REFS = Table(
    "tract_refs",
    metadata,
    Column("tract_id", String(255), ForeignKey("tract_tracts.tract_id"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("commit_hash", String(64)),
    Column("symbolic", String(255)),
    sqlite_with_rowid=False,
)
"""A branch (``commit_hash`` set) or ``HEAD`` (``symbolic`` names a branch, or detached)."""

REFLOG = Table(
    "tract_reflog",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tract_id", String(255), nullable=False),
    Column("ref", String(255), nullable=False),
    Column("old", String(64)),
    Column("new", String(64)),
    Column("action", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_tract_reflog_tract", "tract_id", "id"),
)
"""One move of one ref: where it was, where it went and why."""

ANNOTATIONS = Table(
    "tract_annotations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tract_id", String(255), nullable=False),
    Column("target", String(64), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("reason", Text),
    Column("anchor", String(64), nullable=False),
    Column("excluded", Text),
    Column("created_at", Float, nullable=False),
    Column("digest", String(64)),
    Column("lifecycle", Text),
    Index("ix_tract_annotations_anchor", "tract_id", "anchor"),
    Index("ix_tract_annotations_target", "tract_id", "target"),
)
"""A priority given to a message, anchored at the commit HEAD was on when it was given.

A *lifecycle row* (``t.set_lifecycle``) stores the message's new lifecycle in ``lifecycle``
(canonical JSON, ``{}`` for permanent) and ``lifecycle`` in ``priority``, which it leaves alone.
``digest`` links the row into its tract's annotation chain (see :mod:`tract_core.store.chain`).
"""

ANNOTATION_CHAINS = Table(
    "tract_annotation_chains",
    metadata,
    Column("tract_id", String(255), primary_key=True),
    Column("digest", String(64)),
    Column("row_count", Integer, nullable=False, default=0),
    sqlite_with_rowid=False,
)
"""The head of a tract's annotation chain: the newest digest tract wrote and how many rows it holds."""

COMPRESSIONS = Table(
    "tract_compressions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tract_id", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("old_head", String(64)),
    Column("range_from", String(64), nullable=False),
    Column("range_to", String(64), nullable=False),
    Column("summary_commit", String(64)),
    Column("new_head", String(64)),
    Column("draft", Text),
    Column("details", Text),
    Column("created_at", Float, nullable=False),
    Column("decided_at", Float),
    Index("ix_tract_compressions_tract", "tract_id", "status"),
)
"""One compression: the range it replaced, its summary, and whether it is pending or done."""

ARCHIVED = Table(
    "tract_archived",
    metadata,
    Column("tract_id", String(255), primary_key=True),
    Column("compression_id", Integer, primary_key=True),
    Column("commit_hash", String(64), primary_key=True),
    Column("archived_at", Float, nullable=False),
    Index("ix_tract_archived_commit", "tract_id", "commit_hash"),
    sqlite_with_rowid=False,
)
"""A commit a compression replaced: kept for audit until gc's archive window passes."""

HOLDS = Table(
    "tract_holds",
    metadata,
    Column("tract_id", String(255), primary_key=True),
    Column("commit_hash", String(64), primary_key=True),
    Column("holder", String(64), primary_key=True),
    Column("created_at", Float, nullable=False),
    sqlite_with_rowid=False,
)
"""A commit something outside the ref graph still needs (e.g. a saved LangGraph checkpoint).

gc treats held commits as roots, whichever process runs it.
"""

POLICIES = Table(
    "tract_policies",
    metadata,
    Column("tract_id", String(255), primary_key=True),
    Column("config", Text, nullable=False),
    Column("paused", Boolean, nullable=False, default=False),
    Column("updated_at", Float, nullable=False),
    Column("orchestrator", Text, nullable=True),
    sqlite_with_rowid=False,
)
"""A tract's configured policies (JSON: autonomy and each policy by name or import path),
whether they are paused, and its orchestrator's stored settings (JSON, with its own pause flag)."""

PROPOSALS = Table(
    "tract_proposals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tract_id", String(255), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("policy", String(255), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("params", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("risk", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("basis", String(64)),
    Column("decided_by", String(255)),
    Column("outcome", Text),
    Column("created_at", Float, nullable=False),
    Column("decided_at", Float),
    Index("ix_tract_proposals_fingerprint", "tract_id", "fingerprint", unique=True),
    Index("ix_tract_proposals_status", "tract_id", "status"),
)
"""An action a policy proposed (or executed): what, why, against which HEAD, and its fate.

``fingerprint`` identifies the action (policy, kind, parameters): the unique index makes two
processes that evaluate the same situation record, and so execute, it once.
"""

POLICY_LOG = Table(
    "tract_policy_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tract_id", String(255), nullable=False),
    Column("policy", String(255), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("kind", String(64)),
    Column("decision", String(16), nullable=False),
    Column("reason", Text),
    Column("detail", Text),
    Column("proposal_id", Integer),
    Column("created_at", Float, nullable=False),
    Index("ix_tract_policy_log_tract", "tract_id", "id"),
)
"""One policy evaluation that fired (or failed): its decision and outcome."""

EVENTS = Table(
    "tract_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tract_id", String(255), ForeignKey("tract_tracts.tract_id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("payload", Text, nullable=False),
    Column("source", Text),
    Column("role", String(16), nullable=False),
    Column("node_key", Text),
    Column("lifecycle", Text),
    Column("metadata", Text),
    Column("created_at", Float, nullable=False),
    Column("consumed_by", String(64)),
    Column("consumed_at", Float),
    Index("ix_tract_events_seq", "tract_id", "seq", unique=True),
    Index("ix_tract_events_pending", "tract_id", "consumed_by"),
)
"""An event pushed to a tract (``t.push``): queued until a drain commits it as a message.

``seq`` orders a tract's events (1, 2, ...): a pusher takes the next number while it holds the
tract's event lock, so the numbers are given in the order the events are committed.
``consumed_by`` is the commit the event became (NULL while it is pending).
"""

TABLES = [
    SCHEMA,
    TRACTS,
    BLOBS,
    COMMITS,
    REFS,
    REFLOG,
    ANNOTATIONS,
    ANNOTATION_CHAINS,
    COMPRESSIONS,
    ARCHIVED,
    HOLDS,
    POLICIES,
    PROPOSALS,
    POLICY_LOG,
    EVENTS,
]
"""tract's tables, in dependency order."""
