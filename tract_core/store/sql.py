"""The SQL implementation of the storage contract (SQLite and PostgreSQL), one repository per concept."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import JSON, cast, delete, func, select, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ..errors import DatabaseNotFoundError
from ..objects import Blob, Commit, ObjectId, Operation, TrustedId
from .base import (
    AnnotationEntry,
    CompressionEntry,
    Head,
    HistoryEntry,
    RefEntry,
    ReflogRecord,
    StoredBlob,
    StoredCommit,
    TractEntry,
    iter_chunks,
)
from .engine import WRITE_OPTION, display_url, make_engine
from .migrations import migrate, schema_version
from .statements import COMMIT_COLUMNS, HEAD, Statements, statements
from .statements import A as _A
from .statements import B as _B
from .statements import C as _C
from .statements import L as _L
from .statements import R as _R
from .statements import T as _T
from .statements import V as _V
from .statements import X as _X

__all__ = [
    "SqlStore",
    "SqlSession",
    "SqlTracts",
    "SqlBlobs",
    "SqlCommits",
    "SqlRefs",
    "SqlReflog",
    "SqlAnnotations",
    "SqlCompressions",
    "HEAD",
]

_CHUNK = 500


def _now() -> float:
    return time.time()


class _Repo:
    __slots__ = ("conn", "q")

    def __init__(self, conn: Connection, q: Statements) -> None:
        self.conn = conn
        self.q = q


class SqlTracts(_Repo):
    """Tract rows."""

    def get(self, tract_id: str) -> TractEntry | None:
        row = self.conn.execute(select(_T).where(_T.c.tract_id == tract_id)).first()
        return None if row is None else _tract_entry(row)

    def create(
        self,
        tract_id: str,
        config_json: str | None,
        parent_tract_id: str | None,
        parent_commit: str | None = None,
    ) -> bool:
        values = {
            "tract_id": tract_id,
            "parent_tract_id": parent_tract_id,
            "parent_commit": parent_commit,
            "config": config_json,
            "created_at": _now(),
        }
        return self.conn.execute(self.q.insert_tract, values).first() is not None

    def children(self, tract_id: str) -> list[TractEntry]:
        rows = self.conn.execute(select(_T).where(_T.c.parent_tract_id == tract_id).order_by(_T.c.tract_id))
        return [_tract_entry(r) for r in rows]

    def set_config(self, tract_id: str, config_json: str | None) -> None:
        self.conn.execute(update(_T).where(_T.c.tract_id == tract_id).values(config=config_json))

    def list(self) -> list[TractEntry]:
        rows = self.conn.execute(select(_T).order_by(_T.c.tract_id))
        return [_tract_entry(r) for r in rows]


def _tract_entry(row: Any) -> TractEntry:
    return TractEntry(row.tract_id, row.parent_tract_id, row.config, row.created_at, row.parent_commit)


class SqlBlobs(_Repo):
    """Content-addressed payloads, shared across tracts."""

    def sizes(self, hashes: Iterable[str]) -> dict[str, int]:
        """Stored size in bytes of each of ``hashes``."""
        found: dict[str, int] = {}
        for chunk in iter_chunks(sorted(set(hashes)), _CHUNK):
            found.update(
                (r.hash, r.size) for r in self.conn.execute(select(_B.c.hash, _B.c.size).where(_B.c.hash.in_(chunk)))
            )
        return found

    def delete_unreferenced(self, hashes: Iterable[str]) -> int:
        """Remove those of ``hashes`` that no commit of any tract references; return how many went."""
        removed = 0
        for chunk in iter_chunks(sorted(set(hashes)), _CHUNK):
            used = select(_C.c.blob_hash).where(_C.c.blob_hash.in_(chunk))
            removed += self.conn.execute(delete(_B).where(_B.c.hash.in_(chunk), _B.c.hash.not_in(used))).rowcount
        return removed

    def put(self, blob: Blob, token_count: int | None, tokenizer: str | None) -> None:
        self.q.insert_blob_p.run(
            self.conn,
            {
                "hash": blob.hash,
                "content": blob.text,
                "size": len(blob.text.encode("utf-8")),
                "token_count": token_count,
                "tokenizer": tokenizer,
                "created_at": _now(),
            },
        )

    def get(self, hash: str) -> StoredBlob | None:
        row = self.q.get_blob_p.one(self.conn, {"hash": hash})
        return None if row is None else StoredBlob(Blob.from_stored(row[0], row[1]), row[2], row[3])

    def get_many(self, hashes: Iterable[str]) -> dict[str, StoredBlob]:
        wanted = sorted(set(hashes))
        found: dict[str, StoredBlob] = {}
        for chunk in iter_chunks(wanted, _CHUNK):
            query = select(_B.c.hash, _B.c.content, _B.c.token_count, _B.c.tokenizer).where(_B.c.hash.in_(chunk))
            for row in self.conn.execute(query).all():
                found[row.hash] = StoredBlob(Blob.from_stored(row.hash, row.content), row.token_count, row.tokenizer)
        return found


_OPERATIONS = {op.value: op for op in Operation}


def _stored_commit(row: Any, verify: bool = True) -> StoredCommit:
    """Rebuild a commit from a row of :data:`COMMIT_COLUMNS`, read by position, verifying its hash."""
    (hash, parent, extra, depth, blob, role, ctype, op, response_to, meta, gen, message, created, usage) = row[:14]
    parents: tuple[ObjectId, ...] = ()
    if parent is not None:
        parents = (parent,) if not extra else (parent, *json.loads(extra))
    commit_id = hash if verify else TrustedId(hash)
    commit = Commit(parents, blob, role, ctype, _OPERATIONS[op], response_to, meta, gen, message, commit_id)
    return StoredCommit(commit, depth, created, usage)


class SqlCommits(_Repo):
    """Commits of each tract. The bulk :meth:`history` read is remembered for the rest of the unit
    of work (a merge compiles several commits) until a commit is written or deleted."""

    __slots__ = ("_history",)

    def __init__(self, conn: Connection, q: Statements) -> None:
        super().__init__(conn, q)
        self._history: tuple[str, dict[str, HistoryEntry]] | None = None

    def put(self, tract_id: str, commit: Commit, depth: int, body: Mapping[str, Any] | None = None) -> StoredCommit:
        """Insert a commit (a no-op if it exists). Pass the blob's ``body`` to keep :meth:`history` warm."""
        self._remember(tract_id, commit, body)
        created = _now()
        extra = json.dumps(list(commit.parents[1:])) if len(commit.parents) > 1 else None
        self.q.insert_commit_p.run(
            self.conn,
            {
                "tract_id": tract_id,
                "hash": commit.hash,
                "parent": commit.parent,
                "extra_parents": extra,
                "depth": depth,
                "blob_hash": commit.blob,
                "role": commit.role,
                "content_type": commit.content_type,
                "operation": commit.operation.value,
                "response_to": commit.response_to,
                "metadata": commit.metadata_json,
                "generation_config": commit.generation_config_json,
                "message": commit.message,
                "created_at": created,
                "usage": None,
            },
        )
        return StoredCommit(commit=commit, depth=depth, created_at=created)

    def get(self, tract_id: str, hash: str) -> StoredCommit | None:
        row = self.q.get_commit_p.one(self.conn, {"tract_id": tract_id, "hash": hash})
        return None if row is None else _stored_commit(row)

    def get_many(self, tract_id: str, hashes: Iterable[str]) -> dict[str, StoredCommit]:
        found: dict[str, StoredCommit] = {}
        for chunk in iter_chunks(sorted(set(hashes)), _CHUNK):
            query = select(*COMMIT_COLUMNS).where(_C.c.tract_id == tract_id, _C.c.hash.in_(chunk))
            for row in self.conn.execute(query).all():
                found[row[0]] = _stored_commit(row)
        return found

    def all(self, tract_id: str) -> dict[str, StoredCommit]:
        rows = self.conn.execute(select(*COMMIT_COLUMNS).where(_C.c.tract_id == tract_id)).all()
        return {row[0]: _stored_commit(row) for row in rows}

    def _remember(self, tract_id: str, commit: Commit, body: Mapping[str, Any] | None) -> None:
        memo = self._history
        if memo is None or memo[0] != tract_id:
            return
        if commit.blob is not None and body is None:
            self._history = None
            return
        memo[1][commit.hash] = HistoryEntry(
            commit.hash,
            tuple(commit.parents),
            commit.blob,
            commit.role,
            commit.content_type,
            commit.operation,
            commit.response_to,
            body,
            None,
            None,
        )

    def history(self, tract_id: str) -> dict[str, HistoryEntry]:
        """What compile needs of every commit of the tract, with decoded blobs, in one query.

        This bulk path (a cold compile) neither rebuilds objects nor re-hashes them; single reads
        do, and ``Tract.verify()`` checks everything. Callers must not modify the result.
        """
        if self._history is not None and self._history[0] == tract_id:
            return self._history[1]
        rows = self.q.history_p.all(self.conn, {"tract_id": tract_id})
        texts = [row[14] for row in rows if row[14] is not None]
        bodies = iter(json.loads("[" + ",".join(texts) + "]"))  # one parse for every blob
        entries: dict[str, HistoryEntry] = {}
        for row in rows:
            hash, parent, extra, _depth, blob, role, ctype, op, response_to = row[:9]
            parents: tuple[str, ...] = (
                () if parent is None else (parent,) if not extra else (parent, *json.loads(extra))
            )
            body = next(bodies)["body"] if row[14] is not None else None
            entries[hash] = HistoryEntry(
                hash, parents, blob, role, ctype, _OPERATIONS[op], response_to, body, row[15], row[16]
            )
        self._history = (tract_id, entries)
        return entries

    def graph(self, tract_id: str) -> dict[str, tuple[tuple[str, ...], int]]:
        """Parents and depth of every commit of the tract, for graph walks."""
        rows = self.q.graph_p.all(self.conn, {"tract_id": tract_id})
        return {
            hash: (() if parent is None else (parent,) if not extra else (parent, *json.loads(extra)), depth)
            for hash, parent, extra, depth in rows
        }

    def delete_many(self, tract_id: str, hashes: Iterable[str]) -> int:
        """Remove commits (and the annotation rows about them); return how many commits went."""
        self._history = None
        removed = 0
        for chunk in iter_chunks(sorted(set(hashes)), _CHUNK):
            self.conn.execute(
                delete(_A).where(_A.c.tract_id == tract_id, (_A.c.target.in_(chunk)) | (_A.c.anchor.in_(chunk)))
            )
            removed += self.conn.execute(delete(_C).where(_C.c.tract_id == tract_id, _C.c.hash.in_(chunk))).rowcount
        return removed

    def query_config(self, tract_id: str, path: tuple[str, ...], op: str, value: Any) -> list[str]:
        """Hashes of the tract's commits whose generation_config at ``path`` compares ``op`` ``value``.

        Runs in the database with its JSON functions (SQLite ``json_extract``, PostgreSQL ``jsonb``).
        """
        config = (
            cast(_C.c.generation_config, JSONB)
            if self.conn.dialect.name == "postgresql"
            else type_coerce(_C.c.generation_config, JSON)
        )
        element = config[path] if len(path) > 1 else config[path[0]]
        if isinstance(value, bool):
            field = element.as_boolean()
        elif isinstance(value, (int, float)):
            field = element.as_float()
        else:
            field = element.as_string()
        comparison = {
            "==": field == value,
            "!=": field != value,
            ">": field > value,
            ">=": field >= value,
            "<": field < value,
            "<=": field <= value,
        }[op]
        query = (
            select(_C.c.hash)
            .where(_C.c.tract_id == tract_id, _C.c.generation_config.is_not(None), comparison)
            .order_by(_C.c.depth.desc(), _C.c.hash)
        )
        return list(self.conn.execute(query).scalars())

    def ages(self, tract_id: str) -> dict[str, float]:
        """When each commit of the tract was written."""
        rows = self.conn.execute(select(_C.c.hash, _C.c.created_at).where(_C.c.tract_id == tract_id))
        return {r.hash: r.created_at for r in rows}

    def blobs_used_elsewhere(self, tract_id: str, blobs: Iterable[str]) -> set[str]:
        """Those of ``blobs`` that commits of other tracts carry."""
        used: set[str] = set()
        for chunk in iter_chunks(sorted(set(blobs)), _CHUNK):
            query = select(_C.c.blob_hash).where(_C.c.tract_id != tract_id, _C.c.blob_hash.in_(chunk)).distinct()
            used.update(self.conn.execute(query).scalars())
        return used

    def with_prefix(self, tract_id: str, prefix: str, limit: int) -> list[str]:
        query = (
            select(_C.c.hash)
            .where(_C.c.tract_id == tract_id, _C.c.hash >= prefix, _C.c.hash < prefix + "g")
            .order_by(_C.c.hash)
            .limit(limit)
        )
        return list(self.conn.execute(query).scalars())

    def children(self, tract_id: str, hash: str) -> list[str]:
        direct = self.conn.execute(select(_C.c.hash).where(_C.c.tract_id == tract_id, _C.c.parent == hash)).scalars()
        merges = self.conn.execute(
            select(_C.c.hash, _C.c.extra_parents).where(_C.c.tract_id == tract_id, _C.c.extra_parents.is_not(None))
        )
        found = set(direct)
        found.update(row.hash for row in merges if hash in json.loads(row.extra_parents))
        return sorted(found)

    def count(self, tract_id: str) -> int:
        return self.conn.execute(select(func.count()).select_from(_C).where(_C.c.tract_id == tract_id)).scalar_one()

    def latest_usage(self, tract_id: str, head: str, within: int = 200) -> str | None:
        """The usage recorded nearest to ``head`` along its first parents (up to ``within`` back)."""
        params = {"tract_id": tract_id, "head": head, "within": within}
        return self.conn.execute(self.q.latest_usage, params).scalar_one_or_none()

    def set_usage(self, tract_id: str, hash: str, usage_json: str) -> None:
        self.conn.execute(update(_C).where(_C.c.tract_id == tract_id, _C.c.hash == hash).values(usage=usage_json))


class SqlRefs(_Repo):
    """Branches and HEAD, updated by compare-and-swap."""

    def head(self, tract_id: str, *, lock: bool = False) -> Head:
        if lock and self.conn.dialect.name == "postgresql":
            return self._head_locked(tract_id)
        row = self.q.head_p.one(self.conn, {"tract_id": tract_id})
        return Head(branch=None, commit=None) if row is None else Head(branch=row[0], commit=row[1])

    def _head_locked(self, tract_id: str) -> Head:
        """HEAD and its branch tip, both row-locked until the transaction ends (PostgreSQL)."""
        row = self.q.head_row_locked_p.one(self.conn, {"tract_id": tract_id})
        if row is None:
            return Head(branch=None, commit=None)
        branch, detached_at = row
        if branch is None:
            return Head(branch=None, commit=detached_at)
        tip = self.q.branch_locked_p.one(self.conn, {"tract_id": tract_id, "name": branch})
        return Head(branch=branch, commit=None if tip is None else tip[0])

    def head_with_marker(self, tract_id: str) -> tuple[Head, int]:
        """HEAD and the tract's newest annotation id, in one round trip."""
        row = self.q.head_with_marker_p.one(self.conn, {"tract_id": tract_id})
        if row is None:
            return Head(branch=None, commit=None), 0
        return Head(branch=row[0], commit=row[1]), int(row[2] or 0)

    def set_head(self, tract_id: str, *, branch: str | None, commit: str | None) -> None:
        values = {"symbolic": branch, "commit_hash": None if branch is not None else commit}
        updated = self.conn.execute(update(_R).where(_R.c.tract_id == tract_id, _R.c.name == HEAD).values(**values))
        if updated.rowcount == 0:
            self.conn.execute(_R.insert().values(tract_id=tract_id, name=HEAD, **values))

    def init_head(self, tract_id: str, branch: str) -> None:
        """Create HEAD pointing at ``branch`` unless the tract already has a HEAD."""
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
        result = self.conn.execute(
            self.q.insert_ref, {"tract_id": tract_id, "name": name, "commit_hash": commit, "symbolic": None}
        )
        return result.first() is not None

    def compare_and_swap(self, tract_id: str, name: str, old: str | None, new: str | None) -> bool:
        params = {"ref_tract": tract_id, "ref_name": name, "old": old, "new": new}
        return (self.q.cas_ref_from_null_p if old is None else self.q.cas_ref_p).run(self.conn, params) == 1

    def delete(self, tract_id: str, name: str) -> None:
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


def _compression(row: Any) -> CompressionEntry:
    return CompressionEntry(
        row.id,
        row.status,
        row.old_head,
        row.range_from,
        row.range_to,
        row.summary_commit,
        row.new_head,
        row.draft,
        json.loads(row.details) if row.details else {},
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
        return None if row is None else _compression(row)

    def list(self, tract_id: str, status: str | None = None) -> list[CompressionEntry]:
        query = select(_X).where(_X.c.tract_id == tract_id)
        if status is not None:
            query = query.where(_X.c.status == status)
        return [_compression(r) for r in self.conn.execute(query.order_by(_X.c.id))]

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
        rows = [
            {"tract_id": tract_id, "commit_hash": h, "compression_id": compression_id, "archived_at": _now()}
            for h in sorted(set(hashes))
        ]
        if rows:
            module = postgresql if self.conn.dialect.name == "postgresql" else sqlite
            self.conn.execute(module.insert(_V).on_conflict_do_nothing(), rows)
        return len(rows)

    def archived(self, tract_id: str) -> dict[str, tuple[int, float]]:
        """Each archived commit with the latest compression that archived it, and when."""
        rows = self.conn.execute(
            select(_V.c.commit_hash, _V.c.compression_id, _V.c.archived_at)
            .where(_V.c.tract_id == tract_id)
            .order_by(_V.c.archived_at, _V.c.compression_id)
        )
        return {r.commit_hash: (r.compression_id, r.archived_at) for r in rows}

    def archived_by(self, tract_id: str, compression_id: int) -> list[str]:
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
            details = json.loads(row.details) if row.details else {}
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


class SqlSession:
    """A unit of work over one connection; repositories are created on first use."""

    def __init__(self, conn: Connection, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect
        q = statements(conn.dialect)
        self.tracts = SqlTracts(conn, q)
        self.blobs = SqlBlobs(conn, q)
        self.commits = SqlCommits(conn, q)
        self.refs = SqlRefs(conn, q)
        self.reflog = SqlReflog(conn, q)
        self.annotations = SqlAnnotations(conn, q)
        self.compressions = SqlCompressions(conn, q)


class SqlStore:
    """A tract database on SQLite (file or memory) or PostgreSQL.

    Args:
        path: A SQLite file (created if missing, unless ``create`` is False).
        url: A SQLAlchemy database URL (``sqlite:///...`` or ``postgresql://...``).
        create: Create the database file and tables if they do not exist.
        durability: ``"normal"`` or ``"full"`` (SQLite ``synchronous`` setting).

    With neither ``path`` nor ``url`` the store is a private in-memory SQLite database.
    """

    def __init__(
        self,
        *,
        path: str | os.PathLike[str] | None = None,
        url: str | None = None,
        create: bool = True,
        durability: str = "normal",
    ) -> None:
        self.engine, self.dialect, self._lock = make_engine(path=path, url=url, create=create, durability=durability)
        self.url = display_url(str(self.engine.url))
        self.durability = durability
        self.memory = self._lock is not None
        try:
            if not create:
                self._require_schema()
            migrate(self.engine)
        except DBAPIError as exc:
            self.engine.dispose()
            raise DatabaseNotFoundError(
                f"cannot open the database {self.url}: {exc.orig}; check that it exists, is reachable and is a database"
            ) from exc
        except BaseException:
            self.engine.dispose()
            raise

    def _require_schema(self) -> None:
        """Refuse (without writing anything) a database that holds no tract tables."""
        with self.engine.connect() as conn:
            found = schema_version(conn)
            conn.rollback()
        if found is None:
            raise DatabaseNotFoundError(
                f"{self.url} is not a tract database (it has no tract tables); check the path or URL, "
                "or create a store with Tract.open(...) first"
            )

    def _guard(self) -> Any:
        return self._lock if self._lock is not None else nullcontext()

    @contextmanager
    def read(self) -> Iterator[SqlSession]:
        """A read-only unit of work seeing one consistent snapshot."""
        with self._guard(), self.engine.connect() as conn, conn.begin() as tx:
            yield SqlSession(conn, self.dialect)
            tx.rollback()

    @contextmanager
    def write(self) -> Iterator[SqlSession]:
        """A write transaction: committed when the block exits normally, rolled back otherwise."""
        connect = self.engine.connect().execution_options(**{WRITE_OPTION: True})
        with self._guard(), connect as conn, conn.begin():
            yield SqlSession(conn, self.dialect)

    def file_bytes(self) -> int | None:
        """Size of the SQLite file and its WAL (None for memory and PostgreSQL)."""
        if self.memory or self.dialect != "sqlite":
            return None
        database = self.engine.url.database
        return sum(os.path.getsize(p) for p in (database, database + "-wal") if p and os.path.exists(p))

    def reclaim(self, mode: str) -> None:
        """Give freed space back to the file system (SQLite; a no-op elsewhere).

        ``"incremental"`` returns the free pages of a database created with
        ``auto_vacuum=INCREMENTAL`` (every database tract creates) and truncates the WAL;
        ``"full"`` rewrites the whole file with ``VACUUM`` (slower; also converts older files).
        """
        if self.dialect != "sqlite" or self.memory:
            return
        with self._guard(), self.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            if mode == "full":
                raw.execute("VACUUM")  # type: ignore[union-attr]
            else:
                raw.executescript("PRAGMA incremental_vacuum;")  # type: ignore[union-attr]  # execute() frees one page
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r})"
