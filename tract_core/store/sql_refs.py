"""SQL repositories of what points into history: refs (CAS), the reflog, annotations, holds."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.engine import Connection

from ..errors import CorruptObjectError, TractError, damaged
from ..objects import Priority
from ..tree.lifecycle import LIFECYCLE_ROW, lifecycle_of_row
from .base import (
    AnnotationEntry,
    Head,
    RefEntry,
    ReflogRecord,
    iter_chunks,
)
from .chain import ChainRow, annotation_digest, chain_problems, digest_of, relink
from .repository import CHUNK as _CHUNK
from .repository import Repository as _Repo
from .repository import now as _now
from .schema import ANNOTATION_CHAINS
from .statements import HEAD
from .statements import A as _A
from .statements import H as _H
from .statements import L as _L
from .statements import R as _R

__all__ = ["SqlRefs", "SqlReflog", "SqlAnnotations", "SqlHolds", "link_annotations"]

_K = ANNOTATION_CHAINS
_CHAIN_COLUMNS = (
    _A.c.id,
    _A.c.target,
    _A.c.priority,
    _A.c.reason,
    _A.c.anchor,
    _A.c.excluded,
    _A.c.created_at,
    _A.c.digest,
    _A.c.lifecycle,
)
_PRIORITIES = frozenset(p.value for p in Priority)


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
        self.q.init_ref_p.defer(
            self.conn, {"tract_id": tract_id, "name": HEAD, "commit_hash": None, "symbolic": branch}
        )

    def head_row(self, tract_id: str) -> tuple[str | None, str | None] | None:
        """The stored HEAD row as it is: (branch it names, detached commit), None if there is none."""
        row = self.conn.execute(
            select(_R.c.symbolic, _R.c.commit_hash).where(_R.c.tract_id == tract_id, _R.c.name == HEAD)
        )
        found = row.first()
        return None if found is None else (found.symbolic, found.commit_hash)

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
        params = {"tract_id": tract_id, "name": name, "commit_hash": commit, "symbolic": None}
        return self.q.insert_ref_p.one(self.conn, params) is not None  # with what was deferred (the lock)

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
        self.q.insert_reflog_p.defer(
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


def _annotation(tract_id: str, row: Any) -> AnnotationEntry:
    """Decode an annotation row (raising CorruptObjectError naming it if it cannot be)."""
    problem = None
    try:
        excluded = json.loads(row.excluded) if row.excluded else []
    except ValueError:
        excluded, problem = [], "its list of excluded commits is not valid JSON"
    if problem is None and (not isinstance(excluded, list) or not all(isinstance(e, str) for e in excluded)):
        problem = "its excluded commits are not a list of commit ids"
    if row.lifecycle is not None:
        if row.priority != LIFECYCLE_ROW:
            problem = f"it is a lifecycle row but its priority is {row.priority!r}, not {LIFECYCLE_ROW!r}"
        else:
            try:
                lifecycle_of_row(row.lifecycle)
            except (TractError, ValueError, TypeError):
                problem = f"its lifecycle {row.lifecycle!r} is not a valid lifecycle"
    elif row.priority not in _PRIORITIES:
        problem = f"its priority {row.priority!r} is not pinned, skip or normal"
    if not isinstance(row.target, str) or not isinstance(row.anchor, str):
        problem = "its target or anchor is not a commit id"
    if problem is not None:
        raise damaged(f"annotation {row.id} of tract {tract_id!r}", problem)
    return AnnotationEntry(
        row.id, row.target, row.priority, row.reason, row.anchor, tuple(excluded), row.created_at, row.lifecycle
    )


class SqlAnnotations(_Repo):
    """Append-only priority and lifecycle rows, chained per tract (see :mod:`tract_core.store.chain`)."""

    def add(
        self,
        tract_id: str,
        target: str,
        priority: str,
        reason: str | None,
        anchor: str,
        excluded: Sequence[str],
        lifecycle: str | None = None,
    ) -> int:
        self.locks.share(tract_id)
        prev, count = self._lock_chain(tract_id)
        created = _now()
        excluded_json = json.dumps(sorted(excluded)) if excluded else None
        digest = annotation_digest(prev, target, priority, reason, anchor, excluded_json, created, lifecycle)
        result = self.conn.execute(
            _A.insert()
            .values(
                tract_id=tract_id,
                target=target,
                priority=priority,
                reason=reason,
                anchor=anchor,
                excluded=excluded_json,
                created_at=created,
                digest=digest,
                lifecycle=lifecycle,
            )
            .returning(_A.c.id)
        )
        self.conn.execute(update(_K).where(_K.c.tract_id == tract_id).values(digest=digest, row_count=count + 1))
        return int(result.scalar_one())

    def _lock_chain(self, tract_id: str) -> tuple[str | None, int]:
        """The head of the tract's chain (newest digest, row count), created if missing and locked
        until the transaction ends, so annotation writers of a tract take turns (PostgreSQL)."""
        statement = (
            self.q.insert(_K)
            .values(tract_id=tract_id, digest=None, row_count=0)
            .on_conflict_do_update(index_elements=[_K.c.tract_id], set_={"row_count": _K.c.row_count})
            .returning(_K.c.digest, _K.c.row_count)
        )
        digest, count = self.conn.execute(statement).one()
        return digest, int(count)

    def delete_about(self, tract_id: str, commits: Iterable[str]) -> int:
        """Delete the rows that target or are anchored at any of ``commits``, re-linking the chain
        after them; return how many rows went."""
        doomed: set[int] = set()
        for chunk in iter_chunks(sorted(set(commits)), _CHUNK):
            query = select(_A.c.id).where(_A.c.tract_id == tract_id, _A.c.target.in_(chunk) | _A.c.anchor.in_(chunk))
            doomed.update(self.conn.execute(query).scalars())
        if not doomed:
            return 0
        head = self._lock_chain(tract_id)
        first = min(doomed)
        mine = _A.c.tract_id == tract_id
        before = self.conn.execute(
            select(_A.c.digest).where(mine, _A.c.id < first).order_by(_A.c.id.desc()).limit(1)
        ).scalar_one_or_none()
        total = self.conn.execute(select(func.count()).select_from(_A).where(mine)).scalar_one()
        rows = [
            ChainRow(*r)
            for r in self.conn.execute(select(*_CHAIN_COLUMNS).where(mine, _A.c.id >= first).order_by(_A.c.id))
        ]
        changes, last = relink(rows, doomed, before)
        for ids in iter_chunks(sorted(doomed), _CHUNK):
            self.conn.execute(delete(_A).where(mine, _A.c.id.in_(ids)))
        if changes:
            self.conn.execute(
                update(_A).where(_A.c.id == bindparam("row_id")).values(digest=bindparam("new_digest")),
                [{"row_id": row_id, "new_digest": digest} for row_id, digest in changes],
            )
        intact = head == (rows[-1].digest, total)  # else keep the mismatch for verify to report
        self.conn.execute(
            update(_K)
            .where(_K.c.tract_id == tract_id)
            .values(digest=last if intact else head[0], row_count=head[1] - len(doomed))
        )
        return len(doomed)

    def check(self, tract_id: str) -> tuple[int, list[str]]:
        """Decode every row of the tract and re-compute its chain; return (rows, problems found)."""
        rows = self.conn.execute(select(*_CHAIN_COLUMNS).where(_A.c.tract_id == tract_id).order_by(_A.c.id)).all()
        problems: list[str] = []
        for row in rows:
            try:
                _annotation(tract_id, row)
            except CorruptObjectError as error:
                problems.extend(error.problems)
        head = self.conn.execute(select(_K.c.digest, _K.c.row_count).where(_K.c.tract_id == tract_id)).first()
        chain = [ChainRow(*row) for row in rows]
        problems.extend(chain_problems(tract_id, chain, None if head is None else (head.digest, head.row_count)))
        return len(rows), problems

    def _rows(self, tract_id: str, *conditions: Any) -> list[AnnotationEntry]:
        query = select(_A).where(_A.c.tract_id == tract_id, *conditions).order_by(_A.c.id)
        return [_annotation(tract_id, r) for r in self.conn.execute(query)]

    def all(self, tract_id: str) -> list[AnnotationEntry]:
        return self._rows(tract_id)

    def since(self, tract_id: str, after_id: int) -> list[AnnotationEntry]:
        return self._rows(tract_id, _A.c.id > after_id)

    def anchored_at(self, tract_id: str, anchor: str) -> list[AnnotationEntry]:
        return self._rows(tract_id, _A.c.anchor == anchor)

    def for_target(self, tract_id: str, target: str) -> list[AnnotationEntry]:
        return self._rows(tract_id, _A.c.target == target)


def link_annotations(conn: Connection) -> int:
    """Chain the annotation rows written before chains existed (schema version 4): every tract's
    rows in id order, and its chain head. Returns how many rows were linked."""
    # no lifecycle column yet at version 4 (it comes with version 8): every row then is a priority row
    rows = conn.execute(select(_A.c.tract_id, *_CHAIN_COLUMNS[:-1]).order_by(_A.c.tract_id, _A.c.id)).all()
    heads: dict[str, tuple[str | None, int]] = {}
    digests = []
    for tract_id, *fields in rows:
        row = ChainRow(*fields)
        prev, count = heads.get(tract_id, (None, 0))
        digest = digest_of(prev, row)  # None for a row already damaged: verify() reports it
        digests.append({"row_id": row.id, "new_digest": digest})
        heads[tract_id] = (digest, count + 1)
    if digests:
        conn.execute(update(_A).where(_A.c.id == bindparam("row_id")).values(digest=bindparam("new_digest")), digests)
    for tract_id, (digest, count) in heads.items():
        conn.execute(_K.insert().values(tract_id=tract_id, digest=digest, row_count=count))
    return len(digests)


class SqlHolds(_Repo):
    """Commits held by something outside the ref graph (gc roots)."""

    def hold(self, tract_id: str, commits: Iterable[str], holder: str) -> None:
        self.locks.share(tract_id)
        for commit in sorted(set(commits)):
            self.q.insert_hold_p.defer(
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
