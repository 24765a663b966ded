"""SQL repository of compression records and the commits they archived."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, select, update

from ..errors import CorruptObjectError, damaged
from .base import (
    CompressionEntry,
    iter_chunks,
)
from .repository import CHUNK as _CHUNK
from .repository import Repository as _Repo
from .repository import now as _now
from .statements import V as _V
from .statements import X as _X

__all__ = ["SqlCompressions"]


def _details(tract_id: str, record: int, text: Any) -> dict[str, Any]:
    """The decoded details of a compression record (CorruptObjectError naming it if they cannot be)."""
    try:
        details = json.loads(text) if text else {}
    except (TypeError, ValueError):
        details = None
    if not isinstance(details, dict):
        raise damaged(f"compression {record} of tract {tract_id!r}", "its details are not a JSON object")
    return details


def _compression(tract_id: str, row: Any) -> CompressionEntry:
    """Decode a compression record (raising CorruptObjectError naming it if it cannot be)."""
    details = _details(tract_id, row.id, row.details)
    return CompressionEntry(
        row.id,
        row.status,
        row.old_head,
        row.range_from,
        row.range_to,
        row.summary_commit,
        row.new_head,
        row.draft,
        details,
        row.created_at,
        row.decided_at,
    )


class SqlCompressions(_Repo):
    """Compression records (pending, committed, rejected) and the commits they archived."""

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
    ) -> int:
        self.locks.share(tract_id)
        now = _now()
        result = self.conn.execute(
            _X.insert()
            .values(
                tract_id=tract_id,
                status=status,
                old_head=old_head,
                range_from=range_from,
                range_to=range_to,
                draft=draft,
                details=json.dumps(details, sort_keys=True),
                summary_commit=summary_commit,
                new_head=new_head,
                created_at=now,
                decided_at=now if status != "pending" else None,
            )
            .returning(_X.c.id)
        )
        return int(result.scalar_one())

    def get(self, tract_id: str, compression_id: int) -> CompressionEntry | None:
        row = self.conn.execute(select(_X).where(_X.c.tract_id == tract_id, _X.c.id == compression_id)).first()
        return None if row is None else _compression(tract_id, row)

    def list(
        self, tract_id: str, status: str | None = None, problems: list[str] | None = None
    ) -> list[CompressionEntry]:
        """The tract's records, oldest first. A damaged one raises CorruptObjectError, or, given a
        ``problems`` list, is left out and described there."""
        query = select(_X).where(_X.c.tract_id == tract_id)
        if status is not None:
            query = query.where(_X.c.status == status)
        found = []
        for row in self.conn.execute(query.order_by(_X.c.id)):
            try:
                found.append(_compression(tract_id, row))
            except CorruptObjectError as error:
                if problems is None:
                    raise
                problems.extend(error.problems)
        return found

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
    ) -> bool:
        """Move a record from ``expected`` to ``status`` (compare-and-swap); False if it was not ``expected``.

        ``details`` are merged into the record's (how a draft was made stays on record).
        """
        self.locks.share(tract_id)
        values: dict[str, Any] = {"status": status, "decided_at": _now()}
        if summary_commit is not None:
            values.update(summary_commit=summary_commit, new_head=new_head)
        if details is not None:
            record = self.get(tract_id, compression_id)
            merged = {**(record.details if record else {}), **details}
            values["details"] = json.dumps(merged, sort_keys=True)
        result = self.conn.execute(
            update(_X)
            .where(_X.c.tract_id == tract_id, _X.c.id == compression_id, _X.c.status == expected)
            .values(**values)
        )
        return result.rowcount == 1

    def archive(self, tract_id: str, compression_id: int, hashes: Iterable[str]) -> int:
        self.locks.share(tract_id)
        rows = [
            {"tract_id": tract_id, "commit_hash": h, "compression_id": compression_id, "archived_at": _now()}
            for h in sorted(set(hashes))
        ]
        if rows:
            self.conn.execute(self.q.insert_ignore(_V), rows)
        return len(rows)

    def archived(self, tract_id: str) -> dict[str, tuple[int, float]]:
        """Each archived commit with the latest compression that archived it, and when."""
        rows = self.conn.execute(
            select(_V.c.commit_hash, _V.c.compression_id, _V.c.archived_at)
            .where(_V.c.tract_id == tract_id)
            .order_by(_V.c.archived_at, _V.c.compression_id)
        )
        return {r.commit_hash: (r.compression_id, r.archived_at) for r in rows}

    def archived_by(self, tract_id: str, compression_id: int) -> builtins.list[str]:  # list: the method above
        rows = self.conn.execute(
            select(_V.c.commit_hash).where(_V.c.tract_id == tract_id, _V.c.compression_id == compression_id)
        )
        return sorted(rows.scalars())

    def compact(self, tract_id: str) -> int:
        """Shrink the records of compressions whose archived commits are all gone: their lists of
        commit ids (now unresolvable) become counts. Returns how many records were compacted."""
        still = select(_V.c.compression_id).where(_V.c.tract_id == tract_id).distinct()
        rows = self.conn.execute(
            select(_X.c.id, _X.c.details).where(
                _X.c.tract_id == tract_id, _X.c.status == "committed", _X.c.id.not_in(still)
            )
        ).all()
        compacted = 0
        for row in rows:
            details = _details(tract_id, row.id, row.details)
            lists = {k: v for k, v in details.items() if isinstance(v, list)}
            if not lists:
                continue
            details = {k: v for k, v in details.items() if k not in lists}
            details.update({f"{k}_count": len(v) for k, v in lists.items()}, collected=True)
            self.conn.execute(update(_X).where(_X.c.id == row.id).values(details=json.dumps(details, sort_keys=True)))
            compacted += 1
        return compacted

    def unarchive(self, tract_id: str, hashes: Iterable[str]) -> None:
        for chunk in iter_chunks(sorted(set(hashes)), _CHUNK):
            self.conn.execute(delete(_V).where(_V.c.tract_id == tract_id, _V.c.commit_hash.in_(chunk)))
