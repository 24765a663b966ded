"""SQL repository of the events pushed to a tract (``t.push``): an ordered, durable queue.

Order: a pusher takes the tract's event lock, reads the highest ``seq`` and inserts the next one,
so ``seq`` follows commit order and a reader never sees a gap fill in later (on PostgreSQL the
lock is a transaction-level advisory lock of its own key; on SQLite the write transaction,
``BEGIN IMMEDIATE``, already excludes every other writer). A drain takes the same lock before it
reads the pending events, so two drains of one tract run one after the other and the second sees
what the first consumed.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Float, Text, case, func, literal, select, text, update

from .base import EventEntry
from .repository import Repository as _Repo
from .repository import now as _now
from .schema import EVENTS

__all__ = ["SqlEvents"]

_E = EVENTS
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def _lock_key(tract_id: str) -> int:
    """The signed 64-bit advisory-lock key of a tract's event queue (not the gc lock's key)."""
    digest = hashlib.sha256(b"tract-events\0" + tract_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _entry(row: Any) -> EventEntry:
    return EventEntry(
        id=row.id,
        seq=row.seq,
        payload_json=row.payload,
        source=row.source,
        role=row.role,
        key=row.node_key,
        lifecycle_json=row.lifecycle,
        metadata_json=row.metadata,
        created_at=row.created_at,
        consumed_by=row.consumed_by,
        consumed_at=row.consumed_at,
    )


class SqlEvents(_Repo):
    """A tract's event queue: push (numbered in commit order), pending, consume (compare-and-swap)."""

    def lock(self, tract_id: str) -> None:
        """Hold the tract's event lock until the transaction ends (PostgreSQL; SQLite writers are
        already exclusive)."""
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(_LOCK, {"key": _lock_key(tract_id)})

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
    ) -> EventEntry:
        """Queue an event as the tract's next ``seq``; return its row."""
        self.lock(tract_id)
        following = select(func.coalesce(func.max(_E.c.seq), 0) + 1).where(_E.c.tract_id == tract_id)
        values = {
            "tract_id": literal(tract_id),
            "seq": following.scalar_subquery(),
            "payload": literal(payload_json, Text),
            "source": literal(source, Text),
            "role": literal(role),
            "node_key": literal(key, Text),
            "lifecycle": literal(lifecycle_json, Text),
            "metadata": literal(metadata_json, Text),
            "created_at": literal(_now(), Float),
        }
        insert = _E.insert().from_select(list(values), select(*values.values()))
        row = self.conn.execute(insert.returning(*_E.c)).one()  # one round trip after the lock
        return _entry(row)

    def pending(self, tract_id: str, limit: int | None = None) -> builtins.list[EventEntry]:
        """The tract's unconsumed events in ``seq`` order (``limit``: the first ``limit``)."""
        query = select(_E).where(_E.c.tract_id == tract_id, _E.c.consumed_by.is_(None)).order_by(_E.c.seq)
        if limit is not None:
            query = query.limit(limit)
        return [_entry(r) for r in self.conn.execute(query)]

    def count_pending(self, tract_id: str) -> int:
        query = select(func.count()).select_from(_E).where(_E.c.tract_id == tract_id, _E.c.consumed_by.is_(None))
        return int(self.conn.execute(query).scalar_one())

    def consume(self, tract_id: str, commits: Mapping[int, str]) -> float | None:
        """Mark the pending events ``commits`` names (by ``seq``) as materialised by their commits, in
        one statement; return when (None, changing nothing, if any of them was no longer pending)."""
        if not commits:
            return None
        stamp = _now()
        result = self.conn.execute(
            update(_E)
            .where(_E.c.tract_id == tract_id, _E.c.seq.in_(list(commits)), _E.c.consumed_by.is_(None))
            .values(consumed_by=case(dict(commits), value=_E.c.seq), consumed_at=stamp)
        )
        return stamp if result.rowcount == len(commits) else None

    def list(self, tract_id: str, limit: int | None = None) -> builtins.list[EventEntry]:
        """Every event of the tract, pending or consumed, in ``seq`` order (``limit``: the newest N)."""
        query = select(_E).where(_E.c.tract_id == tract_id)
        if limit is not None:
            rows = self.conn.execute(query.order_by(_E.c.seq.desc()).limit(limit)).all()
            return [_entry(r) for r in reversed(rows)]
        return [_entry(r) for r in self.conn.execute(query.order_by(_E.c.seq))]
