"""The storage contract: what tract needs from a database, as protocols.

A :class:`Store` hands out units of work (:class:`Session`), each grouping one repository per
concept. A write session is one transaction: everything done through it lands together or not at
all. :class:`~tract_core.store.sql.SqlStore` implements the contract on SQLite and PostgreSQL;
``tract_core.testing`` holds the contract suite any implementation must pass.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

from ..objects import Blob, Commit, Operation

__all__ = [
    "HEAD",
    "StoredCommit",
    "StoredBlob",
    "HistoryEntry",
    "Head",
    "RefEntry",
    "ReflogRecord",
    "AnnotationEntry",
    "TractEntry",
    "CompressionEntry",
    "TractRepository",
    "BlobRepository",
    "CommitRepository",
    "RefRepository",
    "ReflogRepository",
    "AnnotationRepository",
    "CompressionRepository",
    "HoldRepository",
    "PolicyConfigEntry",
    "ProposalEntry",
    "PolicyLogRecord",
    "PolicyRepository",
    "EventEntry",
    "EventRepository",
    "TractLockManager",
    "Session",
    "Store",
    "iter_chunks",
]

HEAD = "HEAD"
"""The name of the ref that records a tract's HEAD (the branch it is on, or a detached HEAD's commit)."""


@dataclass(frozen=True, slots=True)
class StoredCommit:
    """A commit with the facts stored beside it (never hashed)."""

    commit: Commit
    depth: int
    created_at: float
    usage_json: str | None = None


class HistoryEntry(NamedTuple):
    """What compile needs of one commit, read in bulk (no objects rebuilt, no re-hashing).

    Attributes:
        hash: The commit id.
        parents: Parent ids.
        blob: The blob id (None for a commit without a message).
        role: The message role.
        content_type: The content type.
        operation: ``APPEND`` or ``EDIT``.
        response_to: For an EDIT, the commit it replaces.
        body: The decoded message body (None without a blob).
        token_count: The blob's cached token count.
        tokenizer: The tokenizer that produced ``token_count``.
        metadata_json: The commit's metadata (canonical JSON), or None.
        lifecycle_json: The commit's lifecycle (canonical JSON), or None.
        key: The commit's node key, or None.
        placement_json: The commit's placement (canonical JSON), or None.
    """

    hash: str
    parents: tuple[str, ...]
    blob: str | None
    role: str | None
    content_type: str
    operation: Operation
    response_to: str | None
    body: Mapping[str, Any] | None
    token_count: int | None
    tokenizer: str | None
    metadata_json: str | None = None
    lifecycle_json: str | None = None
    key: str | None = None
    placement_json: str | None = None


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A blob with its cached token count (for ``tokenizer``), if any."""

    blob: Blob
    token_count: int | None
    tokenizer: str | None


@dataclass(frozen=True, slots=True)
class Head:
    """Where HEAD is: attached to ``branch`` (whose tip is ``commit``), or detached at ``commit``.

    ``commit`` is None on an unborn branch (a tract with no commits yet).
    """

    branch: str | None
    commit: str | None


@dataclass(frozen=True, slots=True)
class RefEntry:
    """A branch and the commit it points at."""

    name: str
    commit: str | None


@dataclass(frozen=True, slots=True)
class ReflogRecord:
    """One recorded ref move."""

    id: int
    ref: str
    old: str | None
    new: str | None
    action: str
    created_at: float


@dataclass(frozen=True, slots=True)
class AnnotationEntry:
    """A stored annotation row.

    ``anchor`` is the commit HEAD was on when the annotation was made; ``excluded`` lists the
    children the anchor already had then (their lines of history do not see the annotation).
    ``lifecycle`` is None for a priority row; for a lifecycle row (``t.set_lifecycle``) it is the
    stored JSON of the new lifecycle (see :func:`tract_core.tree.lifecycle.lifecycle_row_json`) and
    ``priority`` is ``"lifecycle"``, not a priority.
    """

    id: int
    target: str
    priority: str
    reason: str | None
    anchor: str
    excluded: tuple[str, ...]
    created_at: float
    lifecycle: str | None = None


@dataclass(frozen=True, slots=True)
class TractEntry:
    """A tract row (``parent_commit``: the parent's commit a spawned child started from)."""

    tract_id: str
    parent_tract_id: str | None
    config_json: str | None
    created_at: float
    parent_commit: str | None = None


@dataclass(frozen=True, slots=True)
class CompressionEntry:
    """A compression record.

    Attributes:
        id: Its number.
        status: ``pending``, ``committed`` or ``rejected``.
        old_head: HEAD when it was planned.
        range_from: First commit of the compressed range.
        range_to: Last commit of the compressed range.
        summary_commit: The summary's commit, once committed.
        new_head: HEAD after it was committed.
        draft: The drafted summary (pending compressions).
        details: Everything else (replaced commits, kept pins, token counts, LLM attempts...).
        created_at: When it was planned.
        decided_at: When it was committed or rejected.
    """

    id: int
    status: str
    old_head: str | None
    range_from: str
    range_to: str
    summary_commit: str | None
    new_head: str | None
    draft: str | None
    details: dict[str, Any]
    created_at: float
    decided_at: float | None


@dataclass(frozen=True, slots=True)
class PolicyConfigEntry:
    """A tract's stored policy configuration (canonical JSON), whether its policies are paused, and
    its orchestrator's settings (canonical JSON, None if never configured)."""

    config_json: str
    paused: bool
    updated_at: float
    orchestrator_json: str | None = None


@dataclass(frozen=True, slots=True)
class ProposalEntry:
    """A stored proposal row (``params_json``/``outcome_json``: canonical JSON)."""

    id: int
    fingerprint: str
    policy: str
    kind: str
    params_json: str
    reason: str
    risk: str
    status: str
    basis: str | None
    decided_by: str | None
    outcome_json: str | None
    created_at: float
    decided_at: float | None


@dataclass(frozen=True, slots=True)
class PolicyLogRecord:
    """One stored policy-log row."""

    id: int
    policy: str
    trigger: str
    kind: str | None
    decision: str
    reason: str | None
    detail: str | None
    proposal_id: int | None
    created_at: float


@dataclass(frozen=True, slots=True)
class EventEntry:
    """A stored event row (``payload_json``, ``lifecycle_json``, ``metadata_json``: canonical JSON)."""

    id: int
    seq: int
    payload_json: str
    source: str | None
    role: str
    key: str | None
    lifecycle_json: str | None
    metadata_json: str | None
    created_at: float
    consumed_by: str | None = None
    consumed_at: float | None = None


class TractRepository(Protocol):
    def get(self, tract_id: str) -> TractEntry | None: ...
    def create(
        self, tract_id: str, config_json: str | None, parent_tract_id: str | None, parent_commit: str | None = None
    ) -> bool: ...
    def declare(self, tract_id: str) -> None: ...
    def children(self, tract_id: str) -> list[TractEntry]: ...
    def set_config(self, tract_id: str, config_json: str | None) -> None: ...
    def delete(self, tract_id: str) -> list[str]: ...
    def copy(self, source: str, target: str) -> None: ...
    def list(self) -> list[TractEntry]: ...


class BlobRepository(Protocol):
    def put(self, blob: Blob, token_count: int | None, tokenizer: str | None) -> None: ...
    def get(self, hash: str) -> StoredBlob | None: ...
    def sizes(self, hashes: Iterable[str]) -> dict[str, int]: ...
    def delete_unreferenced(self, hashes: Iterable[str]) -> int: ...
    def get_many(self, hashes: Iterable[str], broken: dict[str, str] | None = None) -> dict[str, StoredBlob]: ...


class CommitRepository(Protocol):
    def put(self, tract_id: str, commit: Commit, depth: int, body: Mapping[str, Any] | None = None) -> StoredCommit: ...
    def get(self, tract_id: str, hash: str) -> StoredCommit | None: ...
    def depth(self, tract_id: str, hash: str) -> int | None: ...
    def get_many(self, tract_id: str, hashes: Iterable[str]) -> dict[str, StoredCommit]: ...
    def all(self, tract_id: str, broken: dict[str, str] | None = None) -> dict[str, StoredCommit]: ...
    def history(self, tract_id: str) -> dict[str, HistoryEntry]: ...
    def ages(self, tract_id: str) -> dict[str, float]: ...
    def blobs_used_elsewhere(self, tract_id: str, blobs: Iterable[str]) -> set[str]: ...
    def graph(self, tract_id: str) -> dict[str, tuple[tuple[str, ...], int]]: ...
    def delete_many(self, tract_id: str, hashes: Iterable[str]) -> int: ...
    def query_config(self, tract_id: str, path: tuple[str, ...], op: str, value: Any) -> list[str]: ...
    def with_prefix(self, tract_id: str, prefix: str, limit: int) -> list[str]: ...
    def children(self, tract_id: str, hash: str) -> list[str]: ...
    def count(self, tract_id: str) -> int: ...
    def latest_usage(self, tract_id: str, head: str, within: int = 200) -> str | None: ...
    def set_usage(self, tract_id: str, hash: str, usage_json: str) -> None: ...


class RefRepository(Protocol):
    def head(self, tract_id: str, *, lock: bool = False) -> Head: ...
    def stored_head(self, tract_id: str) -> Head: ...
    def tip(self, tract_id: str, name: str, *, lock: bool = False) -> str | None: ...
    def tip_with_marker(self, tract_id: str, name: str) -> tuple[str | None, int]: ...
    def head_with_marker(self, tract_id: str) -> tuple[Head, int]: ...
    def head_row(self, tract_id: str) -> tuple[str | None, str | None] | None: ...
    def set_head(self, tract_id: str, *, branch: str | None, commit: str | None) -> None: ...
    def init_head(self, tract_id: str, branch: str) -> None: ...
    def get(self, tract_id: str, name: str) -> RefEntry | None: ...
    def list(self, tract_id: str) -> list[RefEntry]: ...
    def create(self, tract_id: str, name: str, commit: str | None) -> bool: ...
    def compare_and_swap(self, tract_id: str, name: str, old: str | None, new: str | None) -> bool: ...
    def delete(self, tract_id: str, name: str) -> None: ...


class ReflogRepository(Protocol):
    def append(self, tract_id: str, ref: str, old: str | None, new: str | None, action: str) -> None: ...
    def expire(self, tract_id: str, before: float) -> int: ...
    def read(self, tract_id: str, ref: str | None = None, limit: int | None = None) -> list[ReflogRecord]: ...


class AnnotationRepository(Protocol):
    def add(
        self,
        tract_id: str,
        target: str,
        priority: str,
        reason: str | None,
        anchor: str,
        excluded: Sequence[str],
        lifecycle: str | None = None,
    ) -> int: ...
    def all(self, tract_id: str) -> list[AnnotationEntry]: ...
    def since(self, tract_id: str, after_id: int) -> list[AnnotationEntry]: ...
    def anchored_at(self, tract_id: str, anchor: str) -> list[AnnotationEntry]: ...
    def for_target(self, tract_id: str, target: str) -> list[AnnotationEntry]: ...
    def delete_about(self, tract_id: str, commits: Iterable[str]) -> int: ...
    def check(self, tract_id: str) -> tuple[int, list[str]]: ...


class CompressionRepository(Protocol):
    def add(
        self,
        tract_id: str,
        *,
        status: str,
        old_head: str | None,
        range_from: str,
        range_to: str,
        draft: str | None,
        details: Mapping[str, Any],
        summary_commit: str | None = None,
        new_head: str | None = None,
    ) -> int: ...
    def get(self, tract_id: str, compression_id: int) -> CompressionEntry | None: ...
    def list(
        self, tract_id: str, status: str | None = None, problems: list[str] | None = None
    ) -> list[CompressionEntry]: ...
    def decide(
        self,
        tract_id: str,
        compression_id: int,
        *,
        expected: str,
        status: str,
        summary_commit: str | None = None,
        new_head: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> bool: ...
    def archive(self, tract_id: str, compression_id: int, hashes: Iterable[str]) -> int: ...
    def archived(self, tract_id: str) -> dict[str, tuple[int, float]]: ...
    def archived_by(self, tract_id: str, compression_id: int) -> builtins.list[str]: ...  # list: the method above
    def unarchive(self, tract_id: str, hashes: Iterable[str]) -> None: ...
    def compact(self, tract_id: str) -> int: ...


class HoldRepository(Protocol):
    def hold(self, tract_id: str, commits: Iterable[str], holder: str) -> None: ...
    def release(self, tract_id: str, holder: str, keep: Iterable[str] = ()) -> int: ...
    def held(self, tract_id: str) -> set[str]: ...


class PolicyRepository(Protocol):
    def config(self, tract_id: str) -> PolicyConfigEntry | None: ...
    def set_config(self, tract_id: str, config_json: str) -> None: ...
    def set_paused(self, tract_id: str, paused: bool) -> bool: ...
    def set_orchestrator(self, tract_id: str, orchestrator_json: str) -> None: ...
    def propose(
        self,
        tract_id: str,
        *,
        fingerprint: str,
        policy: str,
        kind: str,
        params_json: str,
        reason: str,
        risk: str,
        status: str,
        basis: str | None,
        decided_by: str | None = None,
    ) -> int | None: ...
    def proposal(self, tract_id: str, proposal_id: int) -> ProposalEntry | None: ...
    def by_fingerprint(self, tract_id: str, fingerprint: str) -> ProposalEntry | None: ...
    def proposals(
        self, tract_id: str, statuses: Sequence[str] | None = None, limit: int | None = None
    ) -> builtins.list[ProposalEntry]: ...
    def decide(
        self,
        tract_id: str,
        proposal_id: int,
        *,
        expected: Sequence[str],
        status: str,
        decided_by: str | None = None,
        outcome_json: str | None = None,
        params_json: str | None = None,
    ) -> bool: ...
    def log(
        self,
        tract_id: str,
        *,
        policy: str,
        trigger: str,
        kind: str | None,
        decision: str,
        reason: str | None,
        detail: str | None = None,
        proposal_id: int | None = None,
    ) -> int: ...
    def read_log(self, tract_id: str, limit: int | None = None) -> builtins.list[PolicyLogRecord]: ...


class EventRepository(Protocol):
    def lock(self, tract_id: str) -> None: ...
    def push(
        self,
        tract_id: str,
        *,
        payload_json: str,
        source: str | None,
        role: str,
        key: str | None,
        lifecycle_json: str | None,
        metadata_json: str | None,
    ) -> EventEntry: ...
    def pending(self, tract_id: str, limit: int | None = None) -> builtins.list[EventEntry]: ...
    def count_pending(self, tract_id: str) -> int: ...
    def consume(self, tract_id: str, commits: Mapping[int, str]) -> float | None: ...
    def list(self, tract_id: str, limit: int | None = None) -> builtins.list[EventEntry]: ...


class TractLockManager(Protocol):
    """The per-tract lock that keeps gc and writers apart within one transaction."""

    def share(self, tract_id: str) -> None: ...
    def exclusive(self, tract_id: str) -> None: ...


class Session(Protocol):
    """One unit of work; a write session is a single transaction. Its repositories are read-only."""

    @property
    def locks(self) -> TractLockManager: ...
    @property
    def tracts(self) -> TractRepository: ...
    @property
    def blobs(self) -> BlobRepository: ...
    @property
    def commits(self) -> CommitRepository: ...
    @property
    def refs(self) -> RefRepository: ...
    @property
    def reflog(self) -> ReflogRepository: ...
    @property
    def annotations(self) -> AnnotationRepository: ...
    @property
    def compressions(self) -> CompressionRepository: ...
    @property
    def holds(self) -> HoldRepository: ...
    @property
    def policies(self) -> PolicyRepository: ...
    @property
    def events(self) -> EventRepository: ...

    def check_pages(self) -> list[str] | None:
        """Damaged storage pages, one line per damaged table; None if the backend checks its own."""
        ...


class Store(Protocol):
    """A database holding any number of tracts."""

    url: str
    dialect: str

    def read(self) -> AbstractContextManager[Session]: ...
    def write(self) -> AbstractContextManager[Session]: ...
    def close(self) -> None: ...


_Item = TypeVar("_Item")


def iter_chunks(items: Sequence[_Item], size: int) -> Iterator[Sequence[_Item]]:
    """Split ``items`` into chunks of at most ``size`` (for IN lists)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
