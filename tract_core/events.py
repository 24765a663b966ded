"""Events (reactive context, DESIGN §16): a durable, ordered queue of things that happened outside
the conversation, drained into the tract as messages.

``t.push(payload, source=..., key=..., lifecycle=...)`` queues an event: one row in the
``tract_events`` table, written in its own transaction from any thread or process. It never touches
HEAD or the history. ``t.drain_events()`` *materialises* the pending events, oldest first, as
messages appended to the branch this handle has checked out (whatever branch that is when it
drains), and marks each event consumed by its commit, all in one transaction: two drains running at
once (in two processes) never commit an event twice.

The message an event becomes (what every provider accepts): a ``user`` message (or ``system``, if
pushed with ``role="system"``) with content type ``event``, whose text is
``"[event from <source>] <payload>"`` (``"[event] <payload>"`` without a source; a payload that is
not a string is written as compact JSON), and whose metadata carries
``{"event": {"id": <seq>, "source": <source>}}`` beside the caller's. ``key`` and ``lifecycle``
become the message's own, so a keyed event replaces the previous event with the same key in what
compile shows (``key="build:arm64"``) and a ``Temporary(2)`` event fades after two cycles.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .compile import Compiler
from .errors import ConcurrentUpdateError, InvalidInputError, shown
from .messages import normalize_message
from .objects import Blob, canonical_json, check_text, json_or_none
from .refs import HEAD
from .store.base import EventEntry, Session, StoredCommit
from .tokens import count_body
from .tree.lifecycle import Lifecycle, coerce_lifecycle, lifecycle_of_json
from .writes import NewCommit, write_chain

__all__ = [
    "EventInfo",
    "EVENT_CONTENT_TYPE",
    "EVENT_ROLES",
    "EVENT_METADATA_KEY",
    "CheckedEvent",
    "check_event",
    "push_event",
    "read_pending",
    "drain_pending",
    "event_message",
]

EVENT_CONTENT_TYPE = "event"
"""The content type of the message an event becomes."""

EVENT_ROLES = ("user", "system")
"""The roles an event's message may take (``user`` by default: every provider accepts it anywhere)."""

EVENT_METADATA_KEY = "event"
"""The metadata key of an event's message: ``{"id": <seq>, "source": <source>}``."""


@dataclass(frozen=True)
class EventInfo:
    """An event pushed to a tract.

    Attributes:
        id: Its number in the tract's queue (1, 2, ...): events are materialised in this order.
        payload: What was pushed (a string or any JSON value).
        source: Who pushed it (``"ci"``, ``"webhook:github"``), if given.
        role: The role of the message it becomes (``user`` or ``system``).
        key: The node key its message takes, if given.
        lifecycle: The lifecycle its message takes (None: permanent).
        metadata: The caller's metadata for its message.
        created_at: When it was pushed (UNIX timestamp).
        commit: The commit it became, once drained (None while pending).
        consumed_at: When it was drained.
    """

    id: int
    payload: Any
    source: str | None
    role: str
    key: str | None
    lifecycle: Lifecycle | None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    commit: str | None = None
    consumed_at: float | None = None

    @property
    def pending(self) -> bool:
        """Whether it still waits to be drained."""
        return self.commit is None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (for ``tract events --json`` and tools)."""
        return {
            "id": self.id,
            "payload": self.payload,
            "source": self.source,
            "role": self.role,
            "key": self.key,
            "lifecycle": None if self.lifecycle is None else self.lifecycle.to_dict(),
            "metadata": dict(self.metadata),
            "created_at": self.created_at,
            "commit": self.commit,
            "consumed_at": self.consumed_at,
        }


@dataclass(frozen=True, slots=True)
class CheckedEvent:
    """A push's arguments, checked and encoded as they are stored."""

    payload_json: str
    source: str | None
    role: str
    key: str | None
    lifecycle_json: str | None
    metadata_json: str | None


def check_event(
    payload: Any,
    *,
    source: Any = None,
    key: Any = None,
    lifecycle: Any = None,
    role: Any = "user",
    metadata: Any = None,
) -> CheckedEvent:
    """Check a push's arguments before anything is written.

    Raises:
        InvalidInputError: A payload that is None or not JSON, a bad source, key, lifecycle or role,
            or metadata that is not a JSON dict or uses the reserved ``"event"`` key.
    """
    if payload is None:
        raise InvalidInputError("an event needs a payload: a string or any JSON value (dict, list, number, bool)")
    if isinstance(payload, str):
        check_text(payload, "the event payload")
        if not payload.strip():
            raise InvalidInputError("the event payload is empty; push the text of what happened")
    payload_json = canonical_json(payload, what="the event payload", nul=False)
    if source is not None:
        check_text(source, "the event source", control=True)
        if not source.strip():
            raise InvalidInputError('an event source is a non-empty name such as "ci" or "webhook:github"')
    if key is not None:
        check_text(key, "key", control=True)
        if not key.strip():
            raise InvalidInputError('a node key is a non-empty name such as "build:arm64"')
    life = coerce_lifecycle(lifecycle)
    if role not in EVENT_ROLES:
        raise InvalidInputError(f"an event's role is 'user' or 'system', not {shown(role)}")
    if isinstance(metadata, Mapping) and EVENT_METADATA_KEY in metadata:
        raise InvalidInputError(
            f'metadata key "{EVENT_METADATA_KEY}" is reserved: tract records the event\'s id and source there'
        )
    metadata_json = json_or_none(metadata, "metadata")
    return CheckedEvent(payload_json, source, role, key, None if life is None else life.to_json(), metadata_json)


def _info(entry: EventEntry) -> EventInfo:
    return EventInfo(
        id=entry.seq,
        payload=json.loads(entry.payload_json),
        source=entry.source,
        role=entry.role,
        key=entry.key,
        lifecycle=lifecycle_of_json(entry.lifecycle_json),
        metadata=json.loads(entry.metadata_json) if entry.metadata_json else {},
        created_at=entry.created_at,
        commit=entry.consumed_by,
        consumed_at=entry.consumed_at,
    )


def push_event(session: Session, tract_id: str, event: CheckedEvent) -> EventInfo:
    """Queue ``event`` on the tract (in ``session``'s transaction); return it as stored."""
    entry = session.events.push(
        tract_id,
        payload_json=event.payload_json,
        source=event.source,
        role=event.role,
        key=event.key,
        lifecycle_json=event.lifecycle_json,
        metadata_json=event.metadata_json,
    )
    return _info(entry)


def read_pending(session: Session, tract_id: str, limit: int | None = None) -> list[EventInfo]:
    """The tract's pending events, oldest first."""
    return [_info(entry) for entry in session.events.pending(tract_id, limit)]


def event_message(event: EventInfo) -> dict[str, Any]:
    """The message an event becomes: ``{"role", "content": "[event from <source>] <payload>"}``."""
    text = event.payload if isinstance(event.payload, str) else canonical_json(event.payload)
    prefix = f"[event from {event.source}]" if event.source is not None else "[event]"
    return {"role": event.role, "content": f"{prefix} {text}"}


def _metadata(event: EventInfo) -> dict[str, Any]:
    return {**event.metadata, EVENT_METADATA_KEY: {"id": event.id, "source": event.source}}


def drain_pending(
    session: Session, compiler: Compiler, tract_id: str, limit: int | None = None
) -> tuple[list[EventInfo], list[tuple[StoredCommit, Blob, int]]]:
    """Commit the tract's pending events, oldest first, on the checked-out branch and mark them
    consumed, in ``session``'s transaction.

    The tract's event lock is taken first, so a concurrent drain (another process) waits for this
    one to commit and then finds the events consumed.

    Returns:
        The events drained (each with its ``commit``), and what was written for each (for the
        compiler's cache).

    Raises:
        ConcurrentUpdateError: An event was consumed by someone else meanwhile (nothing is written).
    """
    session.events.lock(tract_id)
    events = read_pending(session, tract_id, limit)
    if not events:
        return [], []
    head = session.refs.head(tract_id, lock=True)
    news: list[NewCommit] = []
    counted: list[tuple[Blob, int]] = []
    for event in events:
        normalized = normalize_message(event_message(event), content_type=EVENT_CONTENT_TYPE)
        blob = Blob.from_body(normalized.body)
        tokens = count_body(compiler.counter, blob.body)
        counted.append((blob, tokens))
        source = f" from {event.source}" if event.source is not None else ""
        news.append(
            NewCommit(
                blob=blob,
                role=normalized.role,
                content_type=normalized.content_type,
                metadata_json=canonical_json(_metadata(event), what="metadata"),
                message=f"event {event.id}{source}",
                tokens=tokens,
                tokenizer=compiler.counter.name,
                lifecycle_json=None if event.lifecycle is None else event.lifecycle.to_json(),
                key=event.key,
            )
        )
    cached = compiler.cached_commit(head.commit) if head.commit is not None else None
    written = write_chain(
        session,
        tract_id,
        news,
        parent=head.commit,
        ref=head.branch or HEAD,
        action=f"events: {len(events)} drained",
        parent_depth=cached.depth if cached is not None else None,
    )
    commits = {event.id: stored.commit.hash for event, stored in zip(events, written.commits, strict=True)}
    stamp = session.events.consume(tract_id, commits)
    if stamp is None:  # the event lock makes this unreachable; refuse rather than commit an event twice
        raise ConcurrentUpdateError(
            f"events of tract {tract_id!r} were drained by another writer meanwhile; nothing was written. Drain again"
        )
    drained = [replace(event, commit=commits[event.id], consumed_at=stamp) for event in events]
    return drained, [(stored, blob, tokens) for stored, (blob, tokens) in zip(written.commits, counted, strict=True)]
