"""SQL repositories of the objects: tracts, blobs (shared by every tract) and commits."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from typing import Any

from sqlalchemy import JSON, cast, delete, func, literal, select, type_coerce, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ..errors import CorruptObjectError, StorageError, damage_summary, damaged
from ..objects import Blob, Commit, ObjectId, Operation
from .base import (
    HistoryEntry,
    StoredBlob,
    StoredCommit,
    TractEntry,
    iter_chunks,
)
from .engine import transaction_open
from .repository import CHUNK as _CHUNK
from .repository import Repository as _Repo
from .repository import TractLocks
from .repository import now as _now
from .schema import ANNOTATION_CHAINS, EVENTS, POLICIES, POLICY_LOG, PROPOSALS
from .sql_refs import SqlAnnotations
from .statements import COMMIT_COLUMNS, Statements
from .statements import A as _A
from .statements import B as _B
from .statements import C as _C
from .statements import H as _H
from .statements import L as _L
from .statements import R as _R
from .statements import T as _T
from .statements import V as _V
from .statements import X as _X

__all__ = ["SqlTracts", "SqlBlobs", "SqlCommits"]

_K = ANNOTATION_CHAINS
_POLICY_TABLES = (POLICIES, PROPOSALS, POLICY_LOG)
_EVENTS = EVENTS


class SqlTracts(_Repo):
    """Tract rows."""

    def get(self, tract_id: str) -> TractEntry | None:
        """The tract's row; raises CorruptObjectError if its saved settings cannot be read."""
        row = self.conn.execute(select(_T).where(_T.c.tract_id == tract_id)).first()
        if row is None:
            return None
        if row.config is not None:
            try:
                settings = json.loads(row.config)
            except (TypeError, ValueError):
                settings = None
            if not isinstance(settings, dict):
                raise damaged(f"tract {tract_id!r}", "its saved settings (config) are not a JSON object")
        return _tract_entry(row)

    def create(
        self,
        tract_id: str,
        config_json: str | None,
        parent_tract_id: str | None,
        parent_commit: str | None = None,
    ) -> bool:
        if parent_tract_id is not None:
            self.locks.share(parent_tract_id)  # the child's starting point is one of the parent's gc roots
        values = {
            "tract_id": tract_id,
            "parent_tract_id": parent_tract_id,
            "parent_commit": parent_commit,
            "config": config_json,
            "created_at": _now(),
        }
        return self.conn.execute(self.q.insert_tract, values).first() is not None

    def declare(self, tract_id: str) -> None:
        """:meth:`create` a tract without settings or parent, deferred (nobody reads whether it was new)."""
        self.q.declare_tract_p.defer(
            self.conn,
            {
                "tract_id": tract_id,
                "parent_tract_id": None,
                "parent_commit": None,
                "config": None,
                "created_at": _now(),
            },
        )

    def children(self, tract_id: str) -> list[TractEntry]:
        rows = self.conn.execute(select(_T).where(_T.c.parent_tract_id == tract_id).order_by(_T.c.tract_id))
        return [_tract_entry(r) for r in rows]

    def set_config(self, tract_id: str, config_json: str | None) -> None:
        self.conn.execute(update(_T).where(_T.c.tract_id == tract_id).values(config=config_json))

    def list(self) -> list[TractEntry]:
        rows = self.conn.execute(select(_T).order_by(_T.c.tract_id))
        return [_tract_entry(r) for r in rows]

    def delete(self, tract_id: str) -> builtins.list[str]:  # list: the method above
        """Remove the tract and everything of it (commits, refs, reflog, annotations, compression
        records, holds, policies, proposals, policy log, events); return the blobs its commits carried
        (delete the unreferenced ones next)."""
        self.locks.exclusive(tract_id)
        blobs = list(
            self.conn.execute(
                select(_C.c.blob_hash).where(_C.c.tract_id == tract_id, _C.c.blob_hash.is_not(None)).distinct()
            ).scalars()
        )
        for table in (_A, _K, _L, _R, _V, _X, _H, *_POLICY_TABLES, _EVENTS, _C):
            self.conn.execute(delete(table).where(table.c.tract_id == tract_id))
        self.conn.execute(delete(_T).where(_T.c.tract_id == tract_id))
        return blobs

    def copy(self, source: str, target: str) -> None:
        """Make ``target`` a copy of ``source``: same commits (rows referencing the same blobs), refs,
        annotations (with their chain) and holds. ``target`` must not exist yet."""
        self.locks.share(source)
        self.locks.share(target)
        row = self.get(source)
        if row is None:
            return
        self.create(target, row.config_json, row.parent_tract_id, row.parent_commit)
        for table, columns in (
            (_C, [c for c in _C.c if c.name != "tract_id"]),
            (_R, [c for c in _R.c if c.name != "tract_id"]),
            (_H, [c for c in _H.c if c.name != "tract_id"]),
            (_K, [c for c in _K.c if c.name != "tract_id"]),
        ):
            names = [c.name for c in columns]
            self.conn.execute(
                table.insert().from_select(
                    ["tract_id", *names], select(literal(target), *columns).where(table.c.tract_id == source)
                )
            )
        columns = [c for c in _A.c if c.name not in ("tract_id", "id")]
        self.conn.execute(
            _A.insert().from_select(
                ["tract_id", *[c.name for c in columns]],
                select(literal(target), *columns).where(_A.c.tract_id == source).order_by(_A.c.id),
            )
        )


_STILL_USED = {"23503", "40P01"}
"""A blob's delete refused by its foreign key (a commit references it now), or a deadlock with another gc."""


def _sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE behind ``exc`` (SQLAlchemy's wrapper or tract's StorageError)."""
    driver = getattr(exc, "orig", None) or exc.__cause__
    return getattr(driver, "sqlstate", None)


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
        """Remove those of ``hashes`` that no commit of any tract references; return how many went.

        On PostgreSQL another tract's writer may be committing a reference to one of them at this
        very moment (it holds the blob's row locked, see :meth:`put`): the delete
        then waits for it, the foreign key refuses to remove the now referenced blob, and that blob
        is kept. Each attempt runs in a savepoint, so the caller's transaction goes on.
        """
        removed = 0
        for chunk in iter_chunks(sorted(set(hashes)), _CHUNK):
            done = self._delete_if_unused(chunk)
            if done is None:  # a blob of the chunk became referenced meanwhile: one at a time
                done = sum(self._delete_if_unused([h]) or 0 for h in chunk)
            removed += done
        return removed

    def _delete_if_unused(self, hashes: Sequence[str]) -> int | None:
        used = select(_C.c.blob_hash).where(_C.c.blob_hash.in_(hashes))
        statement = delete(_B).where(_B.c.hash.in_(hashes), _B.c.hash.not_in(used))
        if self.conn.dialect.name != "postgresql":
            return self.conn.execute(statement).rowcount  # SQLite: writers are excluded, nothing races
        savepoint = self.conn.begin_nested()
        try:
            count = self.conn.execute(statement).rowcount
        except (DBAPIError, StorageError) as exc:
            savepoint.rollback()
            if _sqlstate(exc) not in _STILL_USED:
                raise
            return None
        savepoint.commit()
        return count

    def put(self, blob: Blob, token_count: int | None, tokenizer: str | None) -> None:
        """Store a blob (a no-op if it is already stored; then, on PostgreSQL, its row is locked until
        the transaction ends, so a concurrent gc cannot delete it before the commit about to
        reference it lands; the statement is deferred, see :class:`~.statements.Prepared`)."""
        values = {
            "hash": blob.hash,
            "content": blob.text,
            "size": len(blob.text.encode("utf-8")),
            "token_count": token_count,
            "tokenizer": tokenizer,
            "created_at": _now(),
        }
        if self.conn.dialect.name == "postgresql":
            self.q.insert_or_lock_blob_p.defer(self.conn, values)  # stored or locked: no result to wait for
        else:
            self.q.insert_blob_p.run(self.conn, values)  # SQLite: writers are excluded, nothing races

    def get(self, hash: str) -> StoredBlob | None:
        row = self.q.get_blob_p.one(self.conn, {"hash": hash})
        return None if row is None else _stored_blob(row)

    def get_many(self, hashes: Iterable[str], broken: dict[str, str] | None = None) -> dict[str, StoredBlob]:
        """The blobs found among ``hashes``, verified. A damaged one raises CorruptObjectError, or,
        given a ``broken`` dict, is left out and described there (by hash)."""
        wanted = sorted(set(hashes))
        found: dict[str, StoredBlob] = {}
        for chunk in iter_chunks(wanted, _CHUNK):
            query = select(_B.c.hash, _B.c.content, _B.c.token_count, _B.c.tokenizer).where(_B.c.hash.in_(chunk))
            for row in self.conn.execute(query).all():
                try:
                    found[row.hash] = _stored_blob(row)
                except CorruptObjectError as error:
                    if broken is None:
                        raise
                    broken[row.hash] = error.problems[0]
        return found


def _stored_blob(row: Any) -> StoredBlob:
    """A blob from a (hash, content, token_count, tokenizer) row, verified."""
    hash, content, tokens, tokenizer = row[:4]
    blob = Blob.from_stored(hash, content)
    if (tokens is not None and type(tokens) is not int) or (tokenizer is not None and not isinstance(tokenizer, str)):
        raise damaged(f"blob {hash[:12]}", "its cached token count is not a whole number")
    return StoredBlob(blob, tokens, tokenizer)


_OPERATIONS = {op.value: op for op in Operation}
_TEXT_COLUMNS = (
    (1, "parent"),
    (4, "blob"),
    (5, "role"),
    (8, "response_to"),
    (9, "metadata"),
    (10, "generation_config"),
    (11, "message"),
    (13, "usage"),
    (14, "lifecycle"),
    (15, "node_key"),
    (16, "placement"),
)


def _commit_what(tract_id: str, hash: Any) -> str:
    return f"commit {str(hash)[:12]} of tract {tract_id!r}"


def _parents(parent: Any, extra: Any) -> tuple[ObjectId, ...]:
    """The parent ids of a commit row (raises ValueError/TypeError if ``extra_parents`` is damaged)."""
    if parent is None:
        return ()
    if not extra:
        return (ObjectId(parent),)
    more = json.loads(extra)
    if not isinstance(more, list) or not all(isinstance(p, str) for p in more):
        raise TypeError("extra_parents is not a list of commit ids")
    return (ObjectId(parent), *(ObjectId(p) for p in more))


def _extra_damaged(extra: Any) -> bool:
    try:
        _parents("", extra)
    except (TypeError, ValueError):
        return True
    return False


def _history_entries(rows: list[tuple[Any, ...]]) -> dict[str, HistoryEntry]:
    """The fast path of :meth:`SqlCommits.history`; raises KeyError/TypeError/ValueError on any
    damaged row (the slow path then names it)."""
    texts = [row[17] for row in rows if row[17] is not None]
    bodies = iter(json.loads("[" + ",".join(texts) + "]"))  # one parse for every blob
    entries: dict[str, HistoryEntry] = {}
    merged: set[str] = set()
    for row in rows:
        hash, parent, extra, _depth, blob, role, ctype, op, response_to = row[:9]
        if parent is None:
            parents: tuple[str, ...] = ()
        elif not extra:
            parents = (parent,)
        else:
            parents = _parents(parent, extra)
            merged.update(parents)
        if row[17] is not None:
            body = next(bodies)["body"]
            if body.__class__ is not dict or (role is not None and role.__class__ is not str):
                raise TypeError("a message body must be a JSON object, a role text")
        elif blob is not None:
            raise ValueError("a blob is missing")
        else:
            body = None
        entries[hash] = HistoryEntry(
            hash,
            parents,
            blob,
            role,
            ctype,
            _OPERATIONS[op],
            response_to,
            body,
            row[18],
            row[19],
            row[9],
            row[14],
            row[15],
            row[16],
        )
    missing = ({row[1] for row in rows} | merged) - entries.keys()
    missing.discard(None)
    if missing:
        raise KeyError(min(missing))
    return entries


def _commit_problem(row: Any) -> str | None:
    """What is wrong with the stored values of a row of :data:`COMMIT_COLUMNS`, if anything
    (the hash is checked separately, by rebuilding the commit)."""
    if not isinstance(row[0], str):
        return "its id is not text"
    if row[7] not in _OPERATIONS:
        return f"its operation {row[7]!r} is neither append nor edit"
    if not isinstance(row[6], str):
        return "its content type is not text"
    for index, name in _TEXT_COLUMNS:
        if row[index] is not None and not isinstance(row[index], str):
            return f"its {name} is stored as {type(row[index]).__name__}, not text"
    if type(row[3]) is not int or row[3] < 0:
        return f"its depth {row[3]!r} is not a whole number"
    try:
        _parents(row[1], row[2])
    except (TypeError, ValueError):
        return "its extra parents (of a merge) are not a JSON list of commit ids"
    if row[13] is not None:
        try:
            usage = json.loads(row[13])
        except ValueError:
            usage = None
        if not isinstance(usage, dict):
            return "its recorded token usage is not a JSON object"
    return None


def _stored_commit(tract_id: str, row: Any) -> StoredCommit:
    """Rebuild a commit from a row of :data:`COMMIT_COLUMNS`, read by position, verifying it."""
    problem = _commit_problem(row)
    if problem is None:
        (hash, parent, extra, depth, blob, role, ctype, op, response_to, meta, gen, message, created, usage) = row[:14]
        try:
            commit = Commit(
                _parents(parent, extra),
                blob,
                role,
                ctype,
                _OPERATIONS[op],
                response_to,
                meta,
                gen,
                message,
                hash,
                lifecycle_json=row[14],
                key=row[15],
                placement_json=row[16],
            )
        except CorruptObjectError:
            problem = "it no longer matches its hash (a hashed field was changed)"
        else:
            return StoredCommit(commit, depth, created, usage)
    raise damaged(_commit_what(tract_id, row[0]), problem)


def _content_problem(row: Any) -> str | None:
    """What is wrong with the blob half of a :meth:`SqlCommits.history` row, if anything."""
    blob, content = row[4], row[17]
    if blob is None:
        return None
    if content is None:
        return f"its message (blob {str(blob)[:12]}) is missing"
    try:
        decoded = json.loads(content)
    except (TypeError, ValueError):
        decoded = None
    if not isinstance(decoded, dict) or not isinstance(decoded.get("body"), dict):
        return f"its message (blob {str(blob)[:12]}) is not a stored message (a JSON object with a body)"
    return None


def _history_damage(tract_id: str, rows: list[tuple[Any, ...]]) -> CorruptObjectError:
    """The error naming every damaged commit of a bulk history read (the slow path, after the fast
    one failed)."""
    problems = []
    known = {row[0] for row in rows}
    for row in rows:
        problem = _commit_problem(row) or _content_problem(row)
        if problem is None:
            missing = [p for p in _parents(row[1], row[2]) if p not in known]
            if missing:
                problem = f"its parent {missing[0][:12]} is missing"
        if problem is not None:
            problems.append(f"{_commit_what(tract_id, row[0])}: {problem}")
    return damage_summary(f"the history of tract {tract_id!r}", problems or ["a row could not be read"])


class SqlCommits(_Repo):
    """Commits of each tract. The bulk :meth:`history` read is remembered for the rest of the unit
    of work (a merge compiles several commits) until a commit is written or deleted."""

    __slots__ = ("_history",)

    def __init__(self, conn: Connection, q: Statements, locks: TractLocks | None = None) -> None:
        super().__init__(conn, q, locks)
        self._history: tuple[str, dict[str, HistoryEntry]] | None = None

    def put(self, tract_id: str, commit: Commit, depth: int, body: Mapping[str, Any] | None = None) -> StoredCommit:
        """Insert a commit (a no-op if it exists). Pass the blob's ``body`` to keep :meth:`history` warm."""
        self.locks.share(tract_id)
        self._remember(tract_id, commit, body)
        created = _now()
        extra = json.dumps(list(commit.parents[1:])) if len(commit.parents) > 1 else None
        self.q.insert_commit_p.defer(
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
                "lifecycle": commit.lifecycle_json,
                "node_key": commit.key,
                "placement": commit.placement_json,
            },
        )
        return StoredCommit(commit=commit, depth=depth, created_at=created)

    def get(self, tract_id: str, hash: str) -> StoredCommit | None:
        row = self.q.get_commit_p.one(self.conn, {"tract_id": tract_id, "hash": hash})
        return None if row is None else _stored_commit(tract_id, row)

    def depth(self, tract_id: str, hash: str) -> int | None:
        """The depth of a commit of the tract (None: no such commit), without reading the commit."""
        row = self.q.get_depth_p.one(self.conn, {"tract_id": tract_id, "hash": hash})
        if row is None:
            return None
        if type(row[0]) is not int or row[0] < 0:
            raise damaged(_commit_what(tract_id, hash), f"its depth {row[0]!r} is not a whole number")
        return row[0]

    def get_many(self, tract_id: str, hashes: Iterable[str]) -> dict[str, StoredCommit]:
        found: dict[str, StoredCommit] = {}
        for chunk in iter_chunks(sorted(set(hashes)), _CHUNK):
            query = select(*COMMIT_COLUMNS).where(_C.c.tract_id == tract_id, _C.c.hash.in_(chunk))
            for row in self.conn.execute(query).all():
                found[row[0]] = _stored_commit(tract_id, row)
        return found

    def all(self, tract_id: str, broken: dict[str, str] | None = None) -> dict[str, StoredCommit]:
        """Every commit of the tract, verified. A damaged one raises CorruptObjectError, or, given a
        ``broken`` dict, is left out and described there (by hash)."""
        found: dict[str, StoredCommit] = {}
        for row in self.conn.execute(select(*COMMIT_COLUMNS).where(_C.c.tract_id == tract_id)).all():
            try:
                found[row[0]] = _stored_commit(tract_id, row)
            except CorruptObjectError as error:
                if broken is None:
                    raise
                broken[str(row[0])] = error.problems[0]
        return found

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
            commit.metadata_json,
            commit.lifecycle_json,
            commit.key,
            commit.placement_json,
        )

    def history(self, tract_id: str) -> dict[str, HistoryEntry]:
        """What compile needs of every commit of the tract, with decoded blobs, in one query.

        This bulk path (a cold compile) neither rebuilds objects nor re-hashes them; single reads
        do, and ``Tract.verify()`` checks everything. Callers must not modify the result.
        """
        if self._history is not None and self._history[0] == tract_id:
            return self._history[1]
        rows = self.q.history_p.all(self.conn, {"tract_id": tract_id})
        try:
            entries = _history_entries(rows)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            raise _history_damage(tract_id, rows) from None
        self._history = (tract_id, entries)
        return entries

    def graph(self, tract_id: str) -> dict[str, tuple[tuple[str, ...], int]]:
        """Parents and depth of every commit of the tract, for graph walks."""
        rows = self.q.graph_p.all(self.conn, {"tract_id": tract_id})
        try:
            return {hash: (_parents(parent, extra), depth) for hash, parent, extra, depth in rows}
        except (TypeError, ValueError):
            bad = next(r[0] for r in rows if r[1] is not None and _extra_damaged(r[2]))
            raise damaged(
                _commit_what(tract_id, bad), "its extra parents (of a merge) are not a JSON list of commit ids"
            ) from None

    def delete_many(self, tract_id: str, hashes: Iterable[str]) -> int:
        """Remove commits (and the annotation rows about them); return how many commits went."""
        self.locks.share(tract_id)
        self._history = None
        doomed = sorted(set(hashes))
        SqlAnnotations(self.conn, self.q, self.locks).delete_about(tract_id, doomed)
        removed = 0
        for chunk in iter_chunks(doomed, _CHUNK):
            removed += self.conn.execute(delete(_C).where(_C.c.tract_id == tract_id, _C.c.hash.in_(chunk))).rowcount
        return removed

    def query_config(self, tract_id: str, path: tuple[str, ...], op: str, value: Any) -> list[str]:
        """Hashes of the tract's commits whose generation_config at ``path`` compares ``op`` ``value``.

        Runs in the database with its JSON functions (SQLite ``json_extract``, PostgreSQL ``jsonb``).
        """
        config: Any
        if self.conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB  # loaded with the engine; SQLite stores never need it

            config = cast(_C.c.generation_config, JSONB)
        else:
            config = type_coerce(_C.c.generation_config, JSON)
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
        # an error aborts a PostgreSQL transaction: run in a savepoint (a read runs in none)
        guarded = self.conn.dialect.name == "postgresql" and transaction_open(self.conn)
        try:
            with self.conn.begin_nested() if guarded else nullcontext():
                return list(self.conn.execute(query).scalars())
        except (DBAPIError, StorageError):  # StorageError: the driver error as translated by the engine
            damage = self._config_damage(tract_id)
            if damage is None:
                raise
            raise damage from None

    def _config_damage(self, tract_id: str) -> CorruptObjectError | None:
        """The error naming the tract's commits whose generation_config is not JSON, if any."""
        rows = self.conn.execute(
            select(_C.c.hash, _C.c.generation_config).where(
                _C.c.tract_id == tract_id, _C.c.generation_config.is_not(None)
            )
        )
        problems = []
        for hash, text in rows:
            try:
                json.loads(text)
            except (TypeError, ValueError):
                problems.append(f"{_commit_what(tract_id, hash)}: its generation_config is not valid JSON")
        return damage_summary(f"tract {tract_id!r}", problems) if problems else None

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
        for row in merges:
            if _extra_damaged(row.extra_parents):
                problem = "its extra parents (of a merge) are not a JSON list of commit ids"
                raise damaged(_commit_what(tract_id, row.hash), problem)
            if hash in json.loads(row.extra_parents):
                found.add(row.hash)
        return sorted(found)

    def count(self, tract_id: str) -> int:
        return self.conn.execute(select(func.count()).select_from(_C).where(_C.c.tract_id == tract_id)).scalar_one()

    def latest_usage(self, tract_id: str, head: str, within: int = 200) -> str | None:
        """The usage recorded nearest to ``head`` along its first parents (up to ``within`` back)."""
        params = {"tract_id": tract_id, "head": head, "within": within}
        text = self.conn.execute(self.q.latest_usage, params).scalar_one_or_none()
        if text is not None:
            try:
                usage = json.loads(text)
            except (TypeError, ValueError):
                usage = None
            if not isinstance(usage, dict):
                owner = select(_C.c.hash).where(_C.c.tract_id == tract_id, _C.c.usage == text).limit(1)
                found = self.conn.execute(owner).scalar_one_or_none()
                raise damaged(_commit_what(tract_id, found), "its recorded token usage is not a JSON object")
        return text

    def set_usage(self, tract_id: str, hash: str, usage_json: str) -> None:
        self.conn.execute(update(_C).where(_C.c.tract_id == tract_id, _C.c.hash == hash).values(usage=usage_json))
