"""SQL repositories of what points into history: refs (CAS), the reflog, annotations, holds."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select, update

from .base import (
    AnnotationEntry,
    Head,
    RefEntry,
    ReflogRecord,
)
from .repository import Repository as _Repo
from .repository import now as _now
from .statements import HEAD
from .statements import A as _A
from .statements import H as _H
from .statements import L as _L
from .statements import R as _R

__all__ = ["SqlRefs", "SqlReflog", "SqlAnnotations", "SqlHolds"]


class SqlRefs(_Repo):
    """Branches and HEAD, updated by compare-and-swap."""

    def head(self, tract_id: str, *, lock: bool = False) -> Head:
        if lock and self.conn.dialect.name == "postgresql":
            return self._head_locked(tract_id)
        row = self.q.head_p.one(self.conn, {"tract_id": tract_id})
        return Head(branch=None, commit=None) if row is None else Head(branch=row[0], commit=row[1])

    def _head_locked(self, tract_id: str) -> Head:
        """HEAD and its branch tip, both row-locked until the transaction ends (PostgreSQL)."""
        self.locks.share(tract_id)
        row = self.q.head_row_locked_p.one(self.conn, {"tract_id": tract_id})
        if row is None:
            return Head(branch=None, commit=None)
        branch, detached_at = row
        if branch is None:
            return Head(branch=None, commit=detached_at)
        tip = self.q.branch_locked_p.one(self.conn, {"tract_id": tract_id, "name": branch})
        return Head(branch=branch, commit=None if tip is None else tip[0])

    def stored_head(self, tract_id: str) -> Head:
        """The HEAD stored with the tract: where a newly opened handle starts (see ``tract_core.checkout``)."""
        return self.head(tract_id)

    def tip(self, tract_id: str, name: str, *, lock: bool = False) -> str | None:
        """The commit branch ``name`` points at (None: no such branch, or an unborn one).

        With ``lock`` (a writer about to move it), on PostgreSQL the branch row stays locked until
        the transaction ends, so writers of one branch queue instead of failing their
        compare-and-swap; writers of a branch not born yet queue on the HEAD row instead.
        """
        if lock and self.conn.dialect.name == "postgresql":
            self.locks.share(tract_id)
            params = {"tract_id": tract_id, "name": name}
            row = self.q.branch_locked_p.one(self.conn, params)
            if row is None or row[0] is None:
                self.q.head_row_locked_p.one(self.conn, {"tract_id": tract_id})
                row = self.q.branch_locked_p.one(self.conn, params)
            return None if row is None else row[0]
        row = self.q.get_ref_p.one(self.conn, {"tract_id": tract_id, "name": name})
        return None if row is None else row[1]

    def tip_with_marker(self, tract_id: str, name: str) -> tuple[str | None, int]:
        """Branch ``name``'s commit (None if it has none) and the tract's newest annotation id, in one round trip."""
        row = self.q.tip_with_marker_p.one(self.conn, {"tract_id": tract_id, "name": name})
        return (None, 0) if row is None else (row[0], int(row[1] or 0))

    def head_with_marker(self, tract_id: str) -> tuple[Head, int]:
        """HEAD and the tract's newest annotation id, in one round trip."""
        row = self.q.head_with_marker_p.one(self.conn, {"tract_id": tract_id})
        if row is None:
            return Head(branch=None, commit=None), 0
        return Head(branch=row[0], commit=row[1]), int(row[2] or 0)

    def set_head(self, tract_id: str, *, branch: str | None, commit: str | None) -> None:
        self.locks.share(tract_id)
        values = {"symbolic": branch, "commit_hash": None if branch is not None else commit}
        updated = self.conn.execute(update(_R).where(_R.c.tract_id == tract_id, _R.c.name == HEAD).values(**values))
        if updated.rowcount == 0:
            self.conn.execute(_R.insert().values(tract_id=tract_id, name=HEAD, **values))

    def init_head(self, tract_id: str, branch: str) -> None:
        """Create HEAD pointing at ``branch`` unless the tract already has a HEAD."""
        self.locks.share(tract_id)
        self.conn.execute(
            self.q.insert_ref, {"tract_id": tract_id, "name": HEAD, "commit_hash": None, "symbolic": branch}
        )

    def get(self, tract_id: str, name: str) -> RefEntry | None:
        row = self.q.get_ref_p.one(self.conn, {"tract_id": tract_id, "name": name})
        return None if row is None else RefEntry(row[0], row[1])

    def list(self, tract_id: str) -> list[RefEntry]:
        rows = self.conn.execute(
            select(_R.c.name, _R.c.commit_hash).where(_R.c.tract_id == tract_id, _R.c.name != HEAD).order_by(_R.c.name)
        )
        return [RefEntry(r.name, r.commit_hash) for r in rows]

    def create(self, tract_id: str, name: str, commit: str | None) -> bool:
        self.locks.share(tract_id)
        result = self.conn.execute(
            self.q.insert_ref, {"tract_id": tract_id, "name": name, "commit_hash": commit, "symbolic": None}
        )
        return result.first() is not None

    def compare_and_swap(self, tract_id: str, name: str, old: str | None, new: str | None) -> bool:
        self.locks.share(tract_id)
        params = {"ref_tract": tract_id, "ref_name": name, "old": old, "new": new}
        return (self.q.cas_ref_from_null_p if old is None else self.q.cas_ref_p).run(self.conn, params) == 1

    def delete(self, tract_id: str, name: str) -> None:
        self.locks.share(tract_id)
        self.conn.execute(delete(_R).where(_R.c.tract_id == tract_id, _R.c.name == name))


class SqlReflog(_Repo):
    """Every ref move, oldest first."""

    def append(self, tract_id: str, ref: str, old: str | None, new: str | None, action: str) -> None:
        self.q.insert_reflog_p.run(
            self.conn,
            {"tract_id": tract_id, "ref": ref, "old": old, "new": new, "action": action, "created_at": _now()},
        )

    def expire(self, tract_id: str, before: float) -> int:
        """Delete the tract's reflog entries older than ``before``; return how many."""
        return self.conn.execute(delete(_L).where(_L.c.tract_id == tract_id, _L.c.created_at < before)).rowcount

    def read(self, tract_id: str, ref: str | None = None, limit: int | None = None) -> list[ReflogRecord]:
        query = select(_L).where(_L.c.tract_id == tract_id)
        if ref is not None:
            query = query.where(_L.c.ref == ref)
        query = query.order_by(_L.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        return [ReflogRecord(r.id, r.ref, r.old, r.new, r.action, r.created_at) for r in self.conn.execute(query)]


def _annotation(row: Any) -> AnnotationEntry:
    excluded = tuple(json.loads(row.excluded)) if row.excluded else ()
    return AnnotationEntry(row.id, row.target, row.priority, row.reason, row.anchor, excluded, row.created_at)


class SqlAnnotations(_Repo):
    """Append-only priority rows."""

    def add(
        self, tract_id: str, target: str, priority: str, reason: str | None, anchor: str, excluded: Sequence[str]
    ) -> int:
        self.locks.share(tract_id)
        result = self.conn.execute(
            _A.insert()
            .values(
                tract_id=tract_id,
                target=target,
                priority=priority,
                reason=reason,
                anchor=anchor,
                excluded=json.dumps(sorted(excluded)) if excluded else None,
                created_at=_now(),
            )
            .returning(_A.c.id)
        )
        return int(result.scalar_one())

    def all(self, tract_id: str) -> list[AnnotationEntry]:
        rows = self.conn.execute(select(_A).where(_A.c.tract_id == tract_id).order_by(_A.c.id))
        return [_annotation(r) for r in rows]

    def since(self, tract_id: str, after_id: int) -> list[AnnotationEntry]:
        rows = self.conn.execute(select(_A).where(_A.c.tract_id == tract_id, _A.c.id > after_id).order_by(_A.c.id))
        return [_annotation(r) for r in rows]

    def anchored_at(self, tract_id: str, anchor: str) -> list[AnnotationEntry]:
        rows = self.conn.execute(select(_A).where(_A.c.tract_id == tract_id, _A.c.anchor == anchor).order_by(_A.c.id))
        return [_annotation(r) for r in rows]

    def for_target(self, tract_id: str, target: str) -> list[AnnotationEntry]:
        rows = self.conn.execute(select(_A).where(_A.c.tract_id == tract_id, _A.c.target == target).order_by(_A.c.id))
        return [_annotation(r) for r in rows]


class SqlHolds(_Repo):
    """Commits held by something outside the ref graph (gc roots)."""

    def hold(self, tract_id: str, commits: Iterable[str], holder: str) -> None:
        self.locks.share(tract_id)
        for commit in sorted(set(commits)):
            self.q.insert_hold_p.run(
                self.conn, {"tract_id": tract_id, "commit_hash": commit, "holder": holder, "created_at": _now()}
            )

    def release(self, tract_id: str, holder: str, keep: Iterable[str] = ()) -> int:
        """Drop ``holder``'s holds on the tract, except on ``keep``; return how many went."""
        self.locks.share(tract_id)
        kept = sorted(set(keep))
        query = delete(_H).where(_H.c.tract_id == tract_id, _H.c.holder == holder)
        if kept:
            query = query.where(_H.c.commit_hash.not_in(kept))
        return self.conn.execute(query).rowcount

    def held(self, tract_id: str) -> set[str]:
        return set(self.conn.execute(select(_H.c.commit_hash).where(_H.c.tract_id == tract_id)).scalars())
