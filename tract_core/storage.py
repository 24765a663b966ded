"""The storage seam: what an adapter may do with a tract database, typed and documented.

An adapter (the LangGraph checkpointer, a chat store, one you write) often keeps rows of its own
beside tract's (checkpoints, keys, encrypted payloads) in the same database, and needs them to
land in the same transaction as the commits they point at. This module is everything it needs,
and the only part of tract's storage an adapter uses (``tract_core.store`` is internal; a test
enforces it):

* :class:`SqlStore` and :func:`open_store`: a database holding any number of tracts (a SQLite file
  or memory, or PostgreSQL by URL), shared by every :class:`~tract_core.Tract` and adapter opened
  on it.
* :func:`read` / :func:`write` (context managers) and :func:`run_read` / :func:`run_write` /
  :func:`arun_read` / :func:`arun_write` (functions of a transaction): a :class:`Transaction`, one
  unit of work. Everything done through a write transaction lands together or not at all.
* :meth:`Transaction.execute`, :class:`PreparedStatement` and :meth:`Transaction.create_tables`:
  the adapter's own tables, with SQLAlchemy Core statements, in the same transaction.
* :meth:`Transaction.write_chain`: the one way to add messages to a tract from outside
  :class:`~tract_core.Tract`: a chain of commits (blobs, commits, an optional hold) and a branch
  moved onto it by compare-and-swap, logged in the reflog, through the same code as
  ``Tract.commit`` (see :mod:`tract_core.writes`).
* Reads an adapter needs in bulk: a tract's :meth:`~Transaction.history` (in compile order with
  :func:`compile_order`), a branch's :meth:`~Transaction.branch_tip`, its
  :meth:`~Transaction.annotations` and the :meth:`~Transaction.priorities` they give, its
  :meth:`~Transaction.branches`, :meth:`~Transaction.reflog` and single :meth:`~Transaction.commit` rows.
* :class:`ChainMarker`: a commit without a message (an adapter's record of something it did, in its
  metadata), written by :meth:`Transaction.write_chain` like a message.

Example:
    >>> from sqlalchemy import Column, MetaData, String, Table, insert, select
    >>> from tract_core import Tract
    >>> from tract_core import storage
    >>> keys = Table("my_keys", MetaData(), Column("key", String, primary_key=True), Column("tract_id", String))
    >>> store = storage.open_store()  # in memory; open_store("app.db") or open_store("postgresql+psycopg://...")
    >>> def remember(tx: storage.Transaction) -> str | None:
    ...     tx.create_tables([keys])
    ...     tx.ensure_tract("user-42")
    ...     written = tx.write_chain(
    ...         "user-42", [storage.ChainMessage("user", {"content": "Hi!"})], parent=None, ref="main", expected=None
    ...     )
    ...     tx.execute(insert(keys).values(key="ada", tract_id="user-42"))
    ...     return written.tip
    >>> tip = storage.run_write(store, remember)  # one transaction: both land, or neither
    >>> storage.run_read(store, lambda tx: tx.execute(select(keys.c.tract_id)).scalar_one())
    'user-42'
    >>> Tract.open(store=store, tract_id="user-42").compile().to_openai()
    [{'role': 'user', 'content': 'Hi!'}]
    >>> store.close()
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy.engine import Connection, CursorResult

from .annotations import annotation_info
from .compile import effective_priorities
from .errors import CommitNotFoundError, InvalidInputError, shown
from .graph import linearize
from .messages import check_content_type, check_role, default_content_type
from .objects import Blob, Commit, Priority, check_text, json_or_none
from .records import AnnotationInfo, ReflogEntry
from .refs import DEFAULT_BRANCH, check_branch_name
from .store.base import HistoryEntry, Session
from .store.engine import display_url, strip_password
from .store.migrations import lock_schema
from .store.sql import SqlSession, SqlStore
from .store.statements import Prepared, all_together
from .writes import EXPECT_PARENT, NewCommit, write_chain

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Unpack

__all__ = [
    "SqlStore",
    "open_store",
    "display_url",
    "strip_password",
    "read",
    "write",
    "run_read",
    "run_write",
    "arun_read",
    "arun_write",
    "native_async",
    "Transaction",
    "PreparedStatement",
    "read_together",
    "ChainMessage",
    "ChainMarker",
    "WrittenChain",
    "HistoryEntry",
    "compile_order",
    "EXPECT_PARENT",
    "DEFAULT_BRANCH",
]

T = TypeVar("T")
_MAX_TRACT_ID = 255


def open_store(
    target: str | os.PathLike[str] | None = None,
    *,
    create: bool = True,
    durability: str = "normal",
) -> SqlStore:
    """Open a tract database: a SQLite path, a database URL (anything with ``://``), or memory (None).

    Args:
        target: ``"agent.db"``, ``"sqlite:///agent.db"``, ``"postgresql+psycopg://user@host/db"``, or
            None for a private in-memory database.
        create: Create the database and tract's tables if missing (False: refuse a missing one).
        durability: SQLite ``"normal"`` (default) or ``"full"`` (fsync every commit).

    Raises:
        InvalidInputError: ``target`` is neither a string nor a path.
        DatabaseNotFoundError: The database is missing (with ``create=False``) or unreachable.
        SchemaVersionError: The database was written by a newer tract.
    """
    if target is None:
        return SqlStore(create=create, durability=durability)
    if isinstance(target, str) and "://" in target:
        return SqlStore(url=target, create=create, durability=durability)
    if isinstance(target, (str, os.PathLike)):
        return SqlStore(path=target, create=create, durability=durability)
    raise InvalidInputError(f"open_store takes a SQLite path or a database URL, not {shown(target)}")


@dataclass(frozen=True, slots=True)
class ChainMessage:
    """A message to append with :meth:`Transaction.write_chain`.

    Attributes:
        role: ``system``, ``developer``, ``user``, ``assistant`` or ``tool``.
        body: The OpenAI-shaped message without its role (``content``, ``tool_calls``, ...): the
            blob, what compile shows and providers are sent.
        content_type: A lowercase identifier; default from the role, as ``Tract.commit`` assigns it
            (``system`` is an ``instruction``, PINNED by default).
        metadata: JSON data kept with the commit (hashed with it); adapters keep the exact
            framework message here. None or ``{}``: none.
    """

    role: str
    body: Mapping[str, Any]
    content_type: str | None = None
    metadata: Mapping[str, Any] | None = None

    def to_commit(self) -> NewCommit:
        """The commit record :func:`tract_core.writes.write_chain` writes (validated)."""
        role = check_role(self.role)
        if not isinstance(self.body, Mapping):
            raise InvalidInputError(f"a message body is a dict (content, tool_calls, ...), not {shown(self.body)}")
        content_type = default_content_type(role, self.body) if self.content_type is None else self.content_type
        return NewCommit(
            blob=Blob.from_body(self.body),
            role=role,
            content_type=check_content_type(content_type),
            metadata_json=json_or_none(self.metadata, "metadata"),
        )


@dataclass(frozen=True, slots=True)
class ChainMarker:
    """A commit without a message, to write with :meth:`Transaction.write_chain` (alone or among messages).

    Compile shows nothing for it; an adapter uses one to record, in the tract's history, something it
    did at that point (the LangGraph checkpointer freezes which messages a graph update hid).

    Attributes:
        content_type: A lowercase identifier naming what the marker records (the adapter's own).
        metadata: JSON data kept with the commit (hashed with it).
        message: A commit message saying what the marker is (shown by ``tract log``), or None.
    """

    content_type: str
    metadata: Mapping[str, Any] | None = None
    message: str | None = None

    def to_commit(self) -> NewCommit:
        """The commit record :func:`tract_core.writes.write_chain` writes (validated)."""
        return NewCommit(
            blob=None,
            role=None,
            content_type=check_content_type(self.content_type),
            metadata_json=json_or_none(self.metadata, "metadata"),
            message=None if self.message is None else check_text(self.message, "commit message"),
        )


def compile_order(head: str, history: Mapping[str, HistoryEntry]) -> list[HistoryEntry]:
    """``head``'s history in the order compile reads it, oldest first (at a merge: ours, then theirs).

    Args:
        head: The commit.
        history: The tract's commits, from :meth:`Transaction.history`.

    Raises:
        CommitNotFoundError: ``head`` or a commit of its history is not in ``history``.
    """
    if head not in history:
        raise CommitNotFoundError(f"commit {str(head)[:12]} is not in the history given")

    def parents_of(commit: str) -> tuple[str, ...]:
        entry = history.get(commit)
        if entry is None:
            raise CommitNotFoundError(f"commit {commit[:12]} is missing from the tract's history")
        return tuple(entry.parents)

    return [history[commit] for commit in linearize(head, parents_of)]


@dataclass(frozen=True, slots=True)
class WrittenChain:
    """What :meth:`Transaction.write_chain` wrote.

    Attributes:
        tip: The chain's last commit (the parent when no message was given).
        commits: The new commits, in the order of the messages.
        contents: The content id (blob hash) of each message, in the same order (markers have none).
        moved: Whether the branch moved (False when none was given or it already pointed at ``tip``).
    """

    tip: str | None
    commits: tuple[str, ...]
    contents: tuple[str, ...]
    moved: bool


class PreparedStatement:
    """A SQLAlchemy Core statement compiled once per dialect and run on the driver's cursor.

    Building and compiling a statement on every call costs more than SQLite takes to run it: for a
    hot path, build the statement once (with named ``bindparam`` parameters) and run it through this.
    It runs in the transaction's connection, with the same error translation as tract's own
    statements (driver errors arrive as :class:`~tract_core.StorageError`).

    Args:
        statement: A SQLAlchemy Core statement with named bound parameters.
    """

    __slots__ = ("statement", "_compiled")

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: dict[str, Prepared] = {}

    def _for(self, tx: Transaction) -> Prepared:
        connection = tx.connection
        found = self._compiled.get(connection.dialect.name)
        if found is None:
            found = self._compiled[connection.dialect.name] = Prepared(self.statement, connection.dialect)
        return found

    def run(self, tx: Transaction, params: Mapping[str, Any]) -> int:
        """Execute; return the affected row count."""
        return self._for(tx).run(tx.connection, params)

    def defer(self, tx: Transaction, params: Mapping[str, Any]) -> None:
        """Execute without reading a result: on PostgreSQL the statement is sent with the
        transaction's next statement or its COMMIT, in the same round trip (elsewhere it runs now).
        Its errors surface there, inside the transaction, which then rolls back."""
        self._for(tx).defer(tx.connection, params)

    def one(self, tx: Transaction, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Execute; return the first row (a tuple) or None."""
        return self._for(tx).one(tx.connection, params)

    def all(self, tx: Transaction, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute; return every row (tuples)."""
        return self._for(tx).all(tx.connection, params)


def read_together(
    tx: Transaction, batch: Sequence[tuple[PreparedStatement, Mapping[str, Any]]]
) -> list[list[tuple[Any, ...]]]:
    """Run several reads that do not depend on each other and return each one's rows, in order.

    On PostgreSQL they travel in one round trip (one pipeline, with anything deferred before them);
    elsewhere they run one after the other. Use it where reads would otherwise each wait for the
    server in turn.

    Args:
        tx: The unit of work.
        batch: ``(statement, parameters)`` pairs.
    """
    return all_together(tx.connection, [(statement._for(tx), params) for statement, params in batch])


def _check_tract_id(tract_id: Any) -> str:
    if not isinstance(tract_id, str) or not tract_id.strip() or len(tract_id) > _MAX_TRACT_ID:
        raise InvalidInputError(
            f"tract_id must be a non-empty string of at most {_MAX_TRACT_ID} characters, not {shown(tract_id)}"
        )
    return check_text(tract_id, "tract_id")


class Transaction:
    """One unit of work on a store, as an adapter sees it.

    Get one from :func:`read`, :func:`write` or the ``run_*`` functions; never keep it past its
    block. A write transaction commits when the block (or function) returns and rolls back if it
    raises, everything included: the adapter's own statements, commits, refs, holds.
    """

    __slots__ = ("_session",)

    def __init__(self, session: SqlSession) -> None:
        self._session = session

    # -- the adapter's own tables -------------------------------------------------------------

    @property
    def connection(self) -> Connection:
        """The SQLAlchemy connection of the transaction (for the adapter's own tables only)."""
        return self._session.conn

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.connection.dialect.name

    def execute(self, statement: Any, parameters: Any = None) -> CursorResult[Unpack[tuple[Any, ...]]]:
        """Run a SQLAlchemy statement on the adapter's own tables, in this transaction."""
        return self.connection.execute(statement, parameters)

    def create_tables(self, tables: Iterable[Any]) -> None:
        """Create the adapter's tables (SQLAlchemy ``Table`` objects, on a ``MetaData`` of its own) if missing.

        Idempotent; call it from the adapter's ``setup()``. Give the tables a prefix of the adapter's
        own (the LangGraph checkpointer's are ``tract_lg_*``): tract's tables are tract's. On
        PostgreSQL it first waits for the schema lock (transaction-level, the one tract's migrations
        take), so processes setting up the same new database at once each find or create every table.
        """
        listed = list(tables)
        for table in listed:
            name = getattr(table, "name", None)
            if not isinstance(name, str):
                raise InvalidInputError(f"create_tables takes SQLAlchemy tables, not {shown(table)}")
        lock_schema(self.connection)
        for table in listed:
            table.create(self.connection, checkfirst=True)

    # -- tracts -------------------------------------------------------------------------------

    def tract_ids(self) -> list[str]:
        """The ids of every tract in the store, sorted."""
        return [entry.tract_id for entry in self._session.tracts.list()]

    def has_tract(self, tract_id: str) -> bool:
        """Whether the store holds the tract."""
        return self._session.tracts.get(tract_id) is not None

    def ensure_tract(self, tract_id: str) -> bool:
        """Create the tract (no saved settings, HEAD on an empty ``main``) unless it exists; return
        whether it was created. ``Tract.open(store=..., tract_id=...)`` opens it afterwards."""
        tract_id = _check_tract_id(tract_id)
        created = self._session.tracts.create(tract_id, None, None)
        self._session.refs.init_head(tract_id, DEFAULT_BRANCH)
        return created

    def declare_tract(self, tract_id: str) -> None:
        """:meth:`ensure_tract` without learning whether the tract was new: on PostgreSQL its inserts
        wait for the transaction's next statement that returns something, or its COMMIT, and
        travel with it (no round trip of their own)."""
        tract_id = _check_tract_id(tract_id)
        self._session.tracts.declare(tract_id)
        self._session.refs.init_head(tract_id, DEFAULT_BRANCH)

    def delete_tract(self, tract_id: str) -> set[str]:
        """Delete the tract and everything of it (commits, branches, reflog, annotations, holds).

        Returns:
            The content ids (blob hashes) its messages had that the store no longer holds (no other
            tract carries them): delete whatever the adapter keeps per content for those.
        """
        session = self._session
        carried = session.tracts.delete(tract_id)
        session.blobs.delete_unreferenced(carried)
        still = set(session.blobs.sizes(carried))
        return set(carried) - still

    def copy_tract(self, source: str, target: str) -> bool:
        """Make ``target`` a copy of ``source`` sharing its objects (commit rows referencing the same
        blobs, branches, annotations, holds): O(commits), no message is copied. Returns False (and
        does nothing) if ``source`` does not exist or ``target`` does."""
        _check_tract_id(target)
        tracts = self._session.tracts
        if tracts.get(source) is None or tracts.get(target) is not None:
            return False
        tracts.copy(source, target)
        return True

    # -- reading ------------------------------------------------------------------------------

    def history(self, tract_id: str) -> Mapping[str, HistoryEntry]:
        """Every commit of the tract (any branch), by hash, with its decoded message, in one query.

        For a bulk read (rebuilding a conversation from a tip along ``parents``). Do not modify it.
        """
        return self._session.commits.history(tract_id)

    def branch_tip(self, tract_id: str, name: str, *, lock: bool = False) -> str | None:
        """The commit branch ``name`` points at (None: no such branch, or no commit yet).

        With ``lock``, the branch cannot move until this transaction ends (PostgreSQL: a row lock;
        SQLite's writers already exclude each other), so a compare-and-swap from it cannot fail.
        """
        return self._session.refs.tip(tract_id, name, lock=lock)

    def annotations(self, tract_id: str) -> list[AnnotationInfo]:
        """Every annotation of the tract (priorities given to messages), oldest first."""
        return [annotation_info(row) for row in self._session.annotations.all(tract_id) if row.lifecycle is None]

    def priorities(self, tract_id: str, order: Sequence[HistoryEntry]) -> dict[str, Priority]:
        """The priority each message has when ``order[-1]`` is compiled, by the rule compile follows
        (its latest annotation visible there, else its content type's default; SKIPs included).

        Args:
            tract_id: The tract.
            order: The compiled commit's history in compile order (see :func:`compile_order`).

        Returns:
            For each message appended in ``order``, keyed by its APPEND commit, its priority
            (empty for an empty ``order``).
        """
        if not order:
            return {}
        return effective_priorities(order[-1].hash, order, self._session.annotations.all(tract_id))

    def branch_tip_and_mark(self, tract_id: str, name: str) -> tuple[str | None, int]:
        """Branch ``name``'s commit (None: no such branch, or no commit) and the id of the tract's
        newest annotation (0: none), in one round trip.

        A cheap way to tell whether a tract changed since last looked at: a new commit on the branch
        or a new annotation changes the pair (annotation ids only grow).
        """
        return self._session.refs.tip_with_marker(tract_id, name)

    def branches(self, tract_id: str) -> dict[str, str | None]:
        """Every branch of the tract (HEAD is not one) and the commit it points at, sorted by name."""
        return {entry.name: entry.commit for entry in self._session.refs.list(tract_id)}

    def reflog(self, tract_id: str, ref: str | None = None, limit: int | None = None) -> list[ReflogEntry]:
        """The recorded moves of ``ref`` (None: of every ref), newest first, at most ``limit``."""
        return [
            ReflogEntry(r.ref, r.old, r.new, r.action, r.created_at)
            for r in self._session.reflog.read(tract_id, ref, limit)
        ]

    def commit(self, tract_id: str, commit: str) -> Commit | None:
        """The commit ``commit`` (a full hash) of the tract, or None if the tract has no such commit.

        One row, for walking a few commits; read the whole :meth:`history` for more.
        """
        stored = self._session.commits.get(tract_id, commit)
        return None if stored is None else stored.commit

    def stored_contents(self, contents: Iterable[str]) -> set[str]:
        """Those of ``contents`` (blob hashes) the store holds."""
        return set(self._session.blobs.sizes(contents))

    # -- writing ------------------------------------------------------------------------------

    def write_chain(
        self,
        tract_id: str,
        messages: Sequence[ChainMessage | ChainMarker],
        *,
        parent: str | None,
        ref: str | None = None,
        expected: Any = EXPECT_PARENT,
        action: str = "commit",
        hold: str | None = None,
    ) -> WrittenChain:
        """Append ``messages`` as a chain of commits on ``parent`` and move ``ref`` to its tip.

        Blobs, commits, the branch's compare-and-swap, its reflog entry and the hold are written
        through :func:`tract_core.writes.write_chain`, the path every tract commit takes, in this
        transaction.

        Args:
            tract_id: The tract (see :meth:`ensure_tract`).
            messages: The messages (and markers), oldest first (may be empty: then ``ref`` moves to
                ``parent``, e.g. a compare-and-swap of a branch to a commit it does not point at).
            parent: The commit the first message follows (None: the chain starts a new root).
            ref: The branch to point at the tip, or None to move none.
            expected: Where ``ref`` must point now: default ``parent``; None means the branch does
                not exist yet (it is created).
            action: What the reflog says about the move.
            hold: Keep the tip from ``Tract.gc`` under this holder name (released with :meth:`release`).

        Raises:
            ConcurrentUpdateError: ``ref`` does not point at ``expected`` (another writer moved it);
                nothing was written, and the transaction can go on.
            CommitNotFoundError: ``parent`` is not a commit of the tract.
            InvalidRoleError: A message has an unknown role.
            InvalidInputError: A body or metadata JSON cannot hold, a bad content type, branch name,
                action or holder.
        """
        commits = [m.to_commit() if isinstance(m, (ChainMessage, ChainMarker)) else _not_a_message(m) for m in messages]
        written = write_chain(
            cast(Session, self._session),
            tract_id,
            commits,
            parent=parent,
            ref=ref,
            expected=expected,
            action=action,
            hold=hold,
        )
        return WrittenChain(
            written.tip,
            written.hashes,
            tuple(c.blob.hash for c in commits if c.blob is not None),
            written.moved,
        )

    def create_branch(self, tract_id: str, name: str, commit: str, *, action: str = "branch: created") -> bool:
        """Create branch ``name`` at ``commit`` (logged in the reflog) unless it exists; return whether it was."""
        check_branch_name(name)
        check_text(action, "reflog action")
        if not self._session.refs.create(tract_id, name, commit):
            return False
        self._session.reflog.append(tract_id, name, None, commit, action)
        return True

    def hold(self, tract_id: str, commits: Iterable[str], holder: str) -> None:
        """Keep ``commits`` (and their history) from ``Tract.gc`` until ``holder`` releases them."""
        check_text(holder, "holder")
        self._session.holds.hold(tract_id, commits, holder)

    def release(self, tract_id: str, holder: str, keep: Iterable[str] = ()) -> int:
        """Drop ``holder``'s holds on the tract except those on ``keep``; return how many went."""
        return self._session.holds.release(tract_id, holder, keep)


def _not_a_message(value: Any) -> NewCommit:
    raise InvalidInputError(f"write_chain takes ChainMessage and ChainMarker records, not {shown(value)}")


@contextmanager
def read(store: SqlStore) -> Iterator[Transaction]:
    """A read-only transaction seeing one consistent snapshot (inside a ``batch``: the batch's)."""
    active = store.join_batch()
    if active is not None:
        yield Transaction(active)
        return
    with store.read() as session:
        yield Transaction(session)


@contextmanager
def write(store: SqlStore) -> Iterator[Transaction]:
    """A write transaction: committed when the block exits normally, rolled back otherwise.

    Inside ``store.batch()`` (or ``Tract.batch()`` on the store) it joins the batch, which decides.
    """
    active = store.join_batch()
    if active is not None:
        yield Transaction(active)
        return
    with store.write() as session:
        yield Transaction(session)


def run_read(store: SqlStore, fn: Callable[[Transaction], T]) -> T:
    """``fn(tx)`` in a read-only transaction; returns its result."""
    with read(store) as tx:
        return fn(tx)


def run_write(store: SqlStore, fn: Callable[[Transaction], T]) -> T:
    """``fn(tx)`` in a write transaction (rolled back if it raises); returns its result."""
    with write(store) as tx:
        return fn(tx)


def native_async(store: SqlStore) -> bool:
    """Whether :func:`arun_read` and :func:`arun_write` await the database on the event loop
    (PostgreSQL, psycopg's async driver) rather than run in a worker thread (SQLite)."""
    return store.aio.native


async def arun_read(store: SqlStore, fn: Callable[[Transaction], T]) -> T:
    """:func:`run_read` from a coroutine: natively async on PostgreSQL, in a worker thread on SQLite."""
    return await store.aread(lambda session: fn(Transaction(session)))


async def arun_write(store: SqlStore, fn: Callable[[Transaction], T]) -> T:
    """:func:`run_write` from a coroutine: natively async on PostgreSQL, in a worker thread on SQLite."""
    return await store.awrite(lambda session: fn(Transaction(session)))
