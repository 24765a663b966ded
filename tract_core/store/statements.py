"""Prebuilt SQL statements, one set per dialect.

Building a SQLAlchemy statement and running it through SQLAlchemy's execution machinery costs more
than running it on SQLite. The hot statements (HEAD reads, commit and blob inserts, ref
compare-and-swap, reflog, the bulk history read) are therefore built once with SQLAlchemy Core,
compiled once per dialect into a :class:`Prepared` statement, and executed on the DBAPI cursor of
the SQLAlchemy connection, inside the same transaction.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from sqlalchemy import BindParameter, and_, bindparam, false, func, literal, select, update
from sqlalchemy.engine import Connection, Dialect

from .base import HEAD
from .engine import (
    DEFERRED_KEY,
    check_parameters,
    commit_deferred,
    deferred_queue,
    discard_deferred,
    flush_deferred,
    pipelined_connection,
    raw_driver_error,
    send_deferred,
)
from .schema import ANNOTATIONS, ARCHIVED, BLOBS, COMMITS, COMPRESSIONS, HOLDS, POLICIES, REFLOG, REFS, TRACTS

__all__ = [
    "HEAD",
    "T",
    "B",
    "C",
    "R",
    "L",
    "A",
    "X",
    "V",
    "H",
    "P",
    "COMMIT_COLUMNS",
    "Prepared",
    "all_together",
    "Statements",
    "statements",
    "flush_deferred",
    "commit_deferred",
    "discard_deferred",
]

T = TRACTS
B = BLOBS
C = COMMITS
R = REFS
L = REFLOG
A = ANNOTATIONS
X = COMPRESSIONS
V = ARCHIVED
H = HOLDS
P = POLICIES

COMMIT_COLUMNS = (
    C.c.hash,
    C.c.parent,
    C.c.extra_parents,
    C.c.depth,
    C.c.blob_hash,
    C.c.role,
    C.c.content_type,
    C.c.operation,
    C.c.response_to,
    C.c.metadata,
    C.c.generation_config,
    C.c.message,
    C.c.created_at,
    C.c.usage,
    C.c.lifecycle,
    C.c.node_key,
    C.c.placement,
)

_tract: BindParameter[str] = bindparam("tract_id")

# -- pipelining on PostgreSQL ---------------------------------------------------------------------
#
# Each statement psycopg sends on its own costs a round trip to the server (and psycopg sends the
# transaction's BEGIN as one more). On a sync psycopg connection, statements whose result nobody
# reads (an INSERT ... ON CONFLICT DO NOTHING, a reflog row) are *deferred*: queued on the
# SQLAlchemy connection and sent, in order, in one pipeline with the next statement that returns
# something, or with the COMMIT (:func:`commit_deferred`); a transaction's first statement carries
# its BEGIN the same way. The order of statements, the transaction and its isolation are unchanged:
# only the round trips go. A deferred statement's error surfaces at that next statement or at
# commit, still inside the transaction, which then rolls back. Elsewhere (SQLite, async
# connections) ``defer`` runs the statement at once.


class Prepared:
    """A statement compiled once for a dialect, run on the connection's DBAPI cursor.

    Args:
        statement: A SQLAlchemy Core statement with named bound parameters.
        dialect: The dialect to compile it for.
    """

    __slots__ = ("_statement", "_dialect", "_sql", "_names", "_defaults")

    def __init__(self, statement: Any, dialect: Dialect) -> None:
        self._statement: Any = statement
        self._dialect = dialect
        self._sql: str | None = None  # compiled on first use: opening a store compiles none of them
        self._names: list[str] | None = None
        self._defaults: dict[str, Any] = {}

    def _compile(self) -> str:
        compiled = self._statement.compile(dialect=self._dialect)
        self._names = list(compiled.positiontup) if compiled.positional else None
        self._defaults = {k: v for k, v in compiled.params.items() if v is not None}
        self._sql = sql = str(compiled)
        return sql

    @property
    def sql(self) -> str:
        """The statement's SQL for the dialect."""
        return self._sql if self._sql is not None else self._compile()

    def _values(self, params: Mapping[str, Any]) -> Any:
        if self._sql is None:
            self._compile()
        merged = {**self._defaults, **params} if self._defaults else params
        values = [merged[n] for n in self._names] if self._names is not None else merged
        check_parameters(values)  # what the engine checks for statements it runs itself
        return values

    def _cursor(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        return _execute(conn, [(self, params)])[0]

    def defer(self, conn: Connection, params: Mapping[str, Any]) -> None:
        """Execute without waiting for the result: on a sync PostgreSQL connection, queued and sent
        with the next statement that returns something or with the COMMIT (see the module notes);
        elsewhere at once. For statements whose row count and rows nobody reads."""
        if pipelined_connection(conn) is None:
            self.run(conn, params)
            return
        values = self._values(params)
        queued = conn.__dict__.setdefault(DEFERRED_KEY, [])
        queued.append((self.sql, values))

    def run(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Execute; return the affected row count."""
        cursor = self._cursor(conn, params)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    def one(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Execute; return the first row (a tuple) or None."""
        cursor = self._cursor(conn, params)
        try:
            return cursor.fetchone()
        finally:
            cursor.close()

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute; return every row (tuples)."""
        cursor = self._cursor(conn, params)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()


def _execute(conn: Connection, batch: Sequence[tuple[Prepared, Mapping[str, Any]]]) -> list[Any]:
    """Execute the statements in order, each on a cursor of its own; return the cursors (the caller
    closes them). On a pipelining connection they go in one round trip, with whatever was deferred
    (the transaction's BEGIN too) and psycopg's server-side prepares of statements it runs often."""
    sqls_values = [(prepared.sql, prepared._values(params)) for prepared, params in batch]
    dbapi: Any = conn.connection.dbapi_connection
    cursors: list[Any] = []
    try:
        pipelined = pipelined_connection(conn)
        if pipelined is not None:
            with pipelined.pipeline():
                queued = deferred_queue(conn)
                if queued:
                    send_deferred(conn, pipelined, queued)
                for sql, values in sqls_values:
                    cursors.append(dbapi.cursor())
                    cursors[-1].execute(sql, values)
        else:
            for sql, values in sqls_values:
                cursors.append(dbapi.cursor())
                cursors[-1].execute(sql, values)
    except Exception as exc:  # the DBAPI cursor bypasses SQLAlchemy's error translation
        for cursor in cursors:
            cursor.close()
        error = raw_driver_error(conn, exc)
        if error is exc:
            raise
        raise error from exc
    return cursors


def all_together(conn: Connection, batch: Sequence[tuple[Prepared, Mapping[str, Any]]]) -> list[list[tuple[Any, ...]]]:
    """Execute reads in order and return each one's rows: on PostgreSQL in one round trip (one
    pipeline), elsewhere one after the other."""
    cursors = _execute(conn, batch)
    try:
        return [cursor.fetchall() for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()


class Statements:
    """The statements of one dialect; names ending in ``_p`` are :class:`Prepared`.

    Each is built on first use and kept (building them all would cost every process a few
    milliseconds at open for statements most never run). Two threads building one at once build
    equal statements; either is kept.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        # the dialect's package (sqlalchemy.dialects.sqlite or .postgresql), loaded by its engine
        # already: a SQLite store never imports PostgreSQL's
        module = importlib.import_module(f"sqlalchemy.dialects.{dialect.name}")
        self.insert: Any = module.insert
        """The dialect's ``INSERT`` constructor, with ``ON CONFLICT`` clauses."""

    def insert_ignore(self, table: Any) -> Any:
        """``INSERT ... ON CONFLICT DO NOTHING`` into ``table``."""
        return self.insert(table).on_conflict_do_nothing()

    def _prepare(self, statement: Any) -> Prepared:
        return Prepared(statement, self.dialect)

    # -- plain statements (run through SQLAlchemy) --------------------------------------------

    @cached_property
    def insert_tract(self) -> Any:
        return self.insert_ignore(T).returning(T.c.tract_id)

    @cached_property
    def latest_usage(self) -> Any:
        chain = (
            select(C.c.hash, C.c.parent, C.c.usage, literal(0).label("n"))
            .where(C.c.tract_id == _tract, C.c.hash == bindparam("head"))
            .cte("chain", recursive=True)
        )
        step = select(C.c.hash, C.c.parent, C.c.usage, (chain.c.n + 1).label("n")).where(
            C.c.tract_id == _tract, C.c.hash == chain.c.parent, chain.c.n < bindparam("within")
        )
        chain = chain.union_all(step)
        return select(chain.c.usage).where(chain.c.usage.is_not(None)).order_by(chain.c.n).limit(1)

    # -- prepared statements ------------------------------------------------------------------

    @cached_property
    def insert_blob_p(self) -> Prepared:
        return self._prepare(self.insert_ignore(B))

    @cached_property
    def insert_or_lock_blob_p(self) -> Prepared:
        """PostgreSQL: store the blob, or lock the stored one until the commit (a no-op ON CONFLICT
        action locks the row; WHERE false changes nothing): a concurrent gc's DELETE then waits, and
        the foreign key of the commit about to reference it keeps it. One statement nobody waits for."""
        upsert = self.insert(B)
        return self._prepare(
            upsert.on_conflict_do_update(index_elements=[B.c.hash], set_={"size": upsert.excluded.size}, where=false())
        )

    @cached_property
    def insert_commit_p(self) -> Prepared:
        return self._prepare(self.insert_ignore(C))

    @cached_property
    def insert_reflog_p(self) -> Prepared:
        return self._prepare(
            L.insert().values(
                tract_id=bindparam("tract_id"),
                ref=bindparam("ref"),
                old=bindparam("old"),
                new=bindparam("new"),
                action=bindparam("action"),
                created_at=bindparam("created_at"),
            )
        )

    @cached_property
    def head_p(self) -> Prepared:
        return self._prepare(
            select(R.c.symbolic, _TIP.label("tip")).select_from(_JOINED).where(R.c.tract_id == _tract, R.c.name == HEAD)
        )

    # Locking reads (writers): on PostgreSQL, lock HEAD, then read and lock the branch in a second
    # statement, which sees a tip committed while we waited (a joined read would not).
    @cached_property
    def head_row_locked_p(self) -> Prepared:
        return self._prepare(
            select(R.c.symbolic, R.c.commit_hash).where(R.c.tract_id == _tract, R.c.name == HEAD).with_for_update()
        )

    @cached_property
    def branch_locked_p(self) -> Prepared:
        return self._prepare(
            select(R.c.commit_hash).where(R.c.tract_id == _tract, R.c.name == bindparam("name")).with_for_update()
        )

    @cached_property
    def head_with_marker_p(self) -> Prepared:
        return self._prepare(
            select(R.c.symbolic, _TIP.label("tip"), _marker().label("marker"))
            .select_from(_JOINED)
            .where(R.c.tract_id == _tract, R.c.name == HEAD)
        )

    @cached_property
    def tip_with_marker_p(self) -> Prepared:
        branch_tip = select(R.c.commit_hash).where(R.c.tract_id == _tract, R.c.name == bindparam("name"))
        return self._prepare(select(branch_tip.scalar_subquery().label("tip"), _marker().label("marker")))

    @cached_property
    def get_ref_p(self) -> Prepared:
        return self._prepare(
            select(R.c.name, R.c.commit_hash).where(R.c.tract_id == _tract, R.c.name == bindparam("name"))
        )

    @cached_property
    def cas_ref_p(self) -> Prepared:
        return self._prepare(
            update(R)
            .where(
                R.c.tract_id == bindparam("ref_tract"),
                R.c.name == bindparam("ref_name"),
                R.c.commit_hash == bindparam("old"),
            )
            .values(commit_hash=bindparam("new"))
        )

    @cached_property
    def cas_ref_from_null_p(self) -> Prepared:
        return self._prepare(
            update(R)
            .where(R.c.tract_id == bindparam("ref_tract"), R.c.name == bindparam("ref_name"), R.c.commit_hash.is_(None))
            .values(commit_hash=bindparam("new"))
        )

    @cached_property
    def get_commit_p(self) -> Prepared:
        return self._prepare(select(*COMMIT_COLUMNS).where(C.c.tract_id == _tract, C.c.hash == bindparam("hash")))

    @cached_property
    def get_depth_p(self) -> Prepared:
        return self._prepare(select(C.c.depth).where(C.c.tract_id == _tract, C.c.hash == bindparam("hash")))

    @cached_property
    def get_blob_p(self) -> Prepared:
        return self._prepare(
            select(B.c.hash, B.c.content, B.c.token_count, B.c.tokenizer).where(B.c.hash == bindparam("hash"))
        )

    @cached_property
    def history_p(self) -> Prepared:
        return self._prepare(
            select(*COMMIT_COLUMNS, B.c.content, B.c.token_count, B.c.tokenizer)
            .select_from(C.outerjoin(B, B.c.hash == C.c.blob_hash))
            .where(C.c.tract_id == _tract)
        )

    @cached_property
    def graph_p(self) -> Prepared:
        return self._prepare(select(C.c.hash, C.c.parent, C.c.extra_parents, C.c.depth).where(C.c.tract_id == _tract))

    @cached_property
    def declare_tract_p(self) -> Prepared:
        return self._prepare(self.insert_ignore(T))  # no RETURNING: deferred, nobody reads its answer

    @cached_property
    def insert_ref_p(self) -> Prepared:
        return self._prepare(self.insert_ignore(R).returning(R.c.name))

    @cached_property
    def insert_hold_p(self) -> Prepared:
        return self._prepare(self.insert_ignore(H))

    @cached_property
    def init_ref_p(self) -> Prepared:
        return self._prepare(self.insert_ignore(R))  # no RETURNING: deferred, nobody reads its answer

    @cached_property
    def policy_config_p(self) -> Prepared:
        return self._prepare(
            select(P.c.config, P.c.paused, P.c.updated_at, P.c.orchestrator).where(P.c.tract_id == _tract)
        )


# HEAD's row joined with the branch it names: the tip is the branch's commit, or HEAD's own (detached)
_BRANCH = R.alias("branch")
_TIP = func.coalesce(_BRANCH.c.commit_hash, R.c.commit_hash)
_JOINED = R.outerjoin(_BRANCH, and_(_BRANCH.c.tract_id == R.c.tract_id, _BRANCH.c.name == R.c.symbolic))


def _marker() -> Any:
    """The tract's newest annotation id (0 without any)."""
    return select(func.coalesce(func.max(A.c.id), 0)).where(A.c.tract_id == _tract).scalar_subquery()


_cache: dict[str, Statements] = {}


def statements(dialect: Dialect) -> Statements:
    """The (cached) statements for ``dialect``."""
    found = _cache.get(dialect.name)
    if found is None:
        found = _cache[dialect.name] = Statements(dialect)
    return found
