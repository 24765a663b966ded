"""``TractSaver``: a LangGraph checkpointer on tract's store, with linear storage.

How LangGraph maps onto tract:

* A thread (and each subgraph namespace of it) is a tract: ``thread_id`` for the root graph,
  ``"<thread_id>|<checkpoint_ns>"`` for a subgraph (see :mod:`.threads` for thread ids holding
  ``|`` and long ones). ``saver.tract(thread_id)`` opens it.
* Every message of a messages-style channel (a list of LangChain messages) is one commit of that
  tract, stored once; a checkpoint records the commit at the tip of its list. Checkpoints that do
  not change the messages share a commit; a turn adds one commit per new message.
* The tract's ``main`` branch follows the latest checkpoint's messages. A fork (resuming from an
  older checkpoint, ``update_state``) that leaves the previous line behind keeps it as a branch
  ``lg/step-<n>`` (see :mod:`.forks`), sharing every common commit.
* Both ways: a change made through the tract (a SKIP, an EDIT, a compression, a commit on ``main``)
  reaches the graph as an update checkpoint, as ``update_state`` would record it (see :mod:`.views`).
* Other channel values are serialized with the saver's serde and stored per version, once per
  distinct content. Pending writes are stored as LangGraph writes them.

The commits checkpoints point at are *held* (a tract-level record gc respects), so ``Tract.gc``
never removes what a saved checkpoint needs; deleting checkpoints releases them.

Security: the default serde deserialises strictly (LangGraph's allowlisted msgpack mode), so a
value row rewritten in the database cannot make a read import and call arbitrary code; allow your
own state types with ``JsonPlusSerializer(allowed_msgpack_modules=[...])`` or
``saver.with_allowlist([...])``. With an encrypting serde (``EncryptedSerializer``) messages are
stored encrypted as well (see :mod:`.sealing`).
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    copy_checkpoint,
    get_checkpoint_id,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.serde.types import INTERRUPT
from typing_extensions import Self

from tract_core import ConcurrentUpdateError, InvalidInputError, Tract, storage
from tract_core.objects import Operation
from tract_core.storage import DEFAULT_BRANCH, SqlStore, Transaction

from .chains import Chain, ChainPlan, ChainStore, is_message_list
from .forks import fork_branch
from .rows import CheckpointStore, create_tables, tables_ready
from .sealing import Sealer, encrypts
from .threads import SEPARATOR, check_namespace, check_thread_id, hashed_tract_id, tract_id_for
from .views import SAVER_ACTIONS, UPDATE_ACTION, frozen_hidden, hidden_now, history_of, marker_commit

__all__ = ["TractSaver", "AsyncTractSaver", "tract_id_for", "strict_serde", "HOLDER"]

_T = TypeVar("_T")
_MESSAGES = "messages"  # the channel the thread's tract follows (its main branch)
_OUTDATED = object()  # a read found a change made through the tract that the graph has not seen
_UNREAD = object()  # a branch tip this transaction has not read

HOLDER = "langgraph"
"""The holder name of the commits saved checkpoints keep (see ``tract_core`` holds)."""


def strict_serde() -> JsonPlusSerializer:
    """The default serde: LangGraph's JSON+msgpack serializer in its strict, allowlisted mode.

    Only LangGraph's and LangChain's safe types (messages, ``Send``, ``Interrupt``, datetimes, ...)
    are rebuilt; any other stored type comes back as its plain serialized data.
    """
    return JsonPlusSerializer(allowed_msgpack_modules=None)


def _ids(config: RunnableConfig) -> tuple[str, str]:
    """The (checked) thread id and namespace of a config."""
    configurable = config.get("configurable") if isinstance(config, dict) else None
    if not isinstance(configurable, dict) or "thread_id" not in configurable:
        raise InvalidInputError('the config needs a thread id: {"configurable": {"thread_id": "..."}}')
    return check_thread_id(configurable["thread_id"]), check_namespace(configurable.get("checkpoint_ns", ""))


def _store_for(conn: Any) -> tuple[SqlStore, bool]:
    """The store a saver uses for ``conn``, and whether the saver opened it (and so closes it)."""
    if isinstance(conn, SqlStore):
        return conn, False
    if isinstance(conn, os.PathLike) or (isinstance(conn, str) and conn.strip()):
        text = os.fspath(conn)
        return (SqlStore(url=text) if "://" in text else SqlStore(path=text)), True
    raise InvalidInputError(
        f"TractSaver takes a SQLite path, a database URL ('postgresql://...') or an open tract store, "
        f"not {type(conn).__name__} {conn!r}"
    )


def _config(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, "checkpoint_id": checkpoint_id}}


class TractSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer storing threads as tracts.

    The one line that changes in an app: ``graph = builder.compile(checkpointer=TractSaver("agent.db"))``
    (a SQLite path, created if missing, or a ``postgresql://`` URL). The saver closes what it opened:
    call :meth:`close`, or use it (or :meth:`from_conn_string`) as a context manager. An open
    :class:`tract_core.storage.SqlStore` can be passed instead; it is then left open.

    Sync methods run on the calling thread. The async ones (``aget_tuple``, ``aput``, ...) run the
    same units of work natively async on PostgreSQL (psycopg's async driver: statements await the
    server on the event loop, no worker thread) and in a worker thread on SQLite. In async code,
    ``async with TractSaver.afrom_conn_string(url) as saver:`` (or :class:`AsyncTractSaver`) also
    closes the async connections on the loop that opened them.

    Changes made to a thread through its tract (``saver.tract(thread_id)``: ``annotate(h, SKIP)``,
    an EDIT, ``compress``, a message committed to it) reach the graph as LangGraph records any
    outside change: the next read of the thread's latest state (the start of a run, ``get_state``,
    ``get_state_history``) stores a new checkpoint (``source="update"``) whose messages are what the
    tract compiles to; earlier checkpoints keep what they had.

    Thread ids are strings (ints and UUIDs are taken as their string, as the stock savers do) of
    at most 1024 bytes; ``None``, blank ids and NUL characters raise ``InvalidInputError``.

    Args:
        conn: A SQLite path, a database URL (``postgresql://...``), or an open tract store.
        serde: LangGraph serializer for non-message channel values and writes. Default: JSON+msgpack
            in strict mode (:func:`strict_serde`); pass ``JsonPlusSerializer(allowed_msgpack_modules=[...])``
            to rebuild your own state types, or an ``EncryptedSerializer`` to encrypt everything,
            messages included.

    Raises:
        InvalidInputError: ``conn`` is none of those.
    """

    def __init__(self, conn: str | os.PathLike[str] | SqlStore, *, serde: Any = None) -> None:
        super().__init__(serde=serde if serde is not None else strict_serde())
        self.store, self._owns_store = _store_for(conn)
        self._rows = CheckpointStore()
        self._chains = ChainStore(Sealer(self.serde, self._rows, enabled=encrypts(self.serde)))
        self._known_tracts: set[str] = set()
        # per (thread, namespace): the tract its messages go to (see _tract_of)
        self._tract_ids: dict[tuple[str, str], str] = {}
        # per (thread, namespace): the last checkpoint this process stored and its message tips
        self._lines: dict[tuple[str, str], tuple[str, dict[str, str | None]]] = {}
        # per tract: (latest checkpoint's messages, main, newest annotation) last found in sync
        self._in_sync: dict[str, tuple[str | None, str | None, int]] = {}
        self._lock = threading.RLock()
        # notified after every put this saver makes (a policy node waits for its step's checkpoint)
        self._stored = threading.Condition()
        self._puts = 0
        try:
            self.setup()
        except BaseException:
            self.close()
            raise

    # -- lifecycle ----------------------------------------------------------------------------

    @classmethod
    @contextmanager
    def from_conn_string(cls, conn_string: str, *, serde: Any = None) -> Iterator[TractSaver]:
        """Open a saver on a SQLite path (created if missing) or a database URL; close it on exit."""
        with cls(conn_string, serde=serde) as saver:
            yield saver

    @classmethod
    @asynccontextmanager
    async def afrom_conn_string(cls, conn_string: str, *, serde: Any = None) -> AsyncIterator[TractSaver]:
        """Async :meth:`from_conn_string`: the same saver, closed with :meth:`aclose` on exit."""
        saver = await asyncio.to_thread(cls, conn_string, serde=serde)
        async with saver:
            yield saver

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def setup(self) -> None:
        """Create the saver's tables if missing (idempotent; tract's own tables migrate on open).

        On PostgreSQL one catalog read first: a database whose tables are all there opens without
        a write transaction."""
        if storage.run_read(self.store, tables_ready):
            return
        storage.run_write(self.store, create_tables)

    def close(self) -> None:
        """Close the store if this saver opened it (a store passed in is left open)."""
        if self._owns_store:
            self.store.close()

    async def aclose(self) -> None:
        """Async :meth:`close` (closes the running loop's async connections on that loop)."""
        if self._owns_store:
            await self.store.aclose()

    def tract(self, thread_id: str, checkpoint_ns: str = "") -> Tract:
        """The thread (or one of its subgraph namespaces) as a ``Tract``: log, diff, compile, annotate, compress.

        Raises:
            TractNotFoundError: The thread has no checkpoint in that namespace.
            InvalidInputError: A bad thread id or namespace, or the saver encrypts its messages (tract's
                API would only see the placeholders of sealed messages; read them through the graph).
        """
        thread_id, checkpoint_ns = check_thread_id(thread_id), check_namespace(checkpoint_ns)
        if self._chains.sealer.enabled:
            raise InvalidInputError(
                f"thread {thread_id!r} is stored encrypted (the saver's serde encrypts), so its tract holds no "
                "readable messages; read them through the graph (get_state, get_state_history)"
            )
        tract_id = storage.run_read(self.store, lambda tx: self._tract_of(tx, thread_id, checkpoint_ns))
        return Tract.open(store=self.store, tract_id=tract_id, create=False)

    def _tract_of(self, tx: Transaction, thread_id: str, checkpoint_ns: str) -> str:
        """The tract a thread's messages (in a namespace) go to.

        The tract its stored messages are in, if any (so a thread stored by an earlier version, under
        an earlier mapping, keeps its tract); else :func:`tract_id_for`, unless a thread stored by an
        earlier version already uses that id (then the hashed form, which only this pair has).
        """
        key = (thread_id, checkpoint_ns)
        found = self._tract_ids.get(key)
        if found is not None:
            return found
        found = self._rows.recorded_tract(tx, thread_id, checkpoint_ns)
        if found is None:
            found = tract_id_for(thread_id, checkpoint_ns)
            if SEPARATOR in found and self._claimed_by_another(tx, found, key):
                found = hashed_tract_id(thread_id, checkpoint_ns)
        return found

    def _claimed_by_another(self, tx: Transaction, tract_id: str, owner: tuple[str, str]) -> bool:
        """Whether an earlier version stored another (thread, namespace) pair's messages in ``tract_id``
        (its mapping joined thread and namespace with ``|`` however many the thread id held)."""
        splits = [(tract_id, "")] + [
            (tract_id[:i], tract_id[i + 1 :]) for i, c in enumerate(tract_id) if c == SEPARATOR and i > 0
        ]
        return any(pair != owner and self._rows.claims(tx, *pair, tract_id) for pair in splits)

    def checkpoint_commit(self, config: RunnableConfig, channel: str = "messages") -> str | None:
        """The commit holding a checkpoint's message list (for ``Tract.diff`` and ``compile(at_commit=)``)."""
        thread_id, checkpoint_ns = _ids(config)
        with storage.read(self.store) as tx:
            found = self._rows.locate(tx, thread_id, checkpoint_ns, get_checkpoint_id(config))
            if found is None:
                return None
            row, versions = found
            version = versions.get(channel)
            if version is None:
                return None
            value = self._rows.channel(tx, row.thread_id, row.checkpoint_ns, channel, str(version))
            return None if value is None else value.commit_hash

    def get_next_version(self, current: str | None, channel: None) -> str:
        """``"<32-digit counter>.<random>"``, as LangGraph's own savers do."""
        if current is None:
            number = 0
        elif isinstance(current, int):
            number = current
        else:
            number = int(str(current).split(".")[0])
        return f"{number + 1:032}.{random.random():016}"

    # -- reading ------------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint ``config`` names, or the thread's latest (in that namespace).

        The latest is first brought up to date with changes made through the thread's tract (a new
        ``source="update"`` checkpoint; see the class docstring).
        """
        found = storage.run_read(self.store, self._get_tuple_fn(config, check=True))
        if found is not _OUTDATED:
            return found
        self._update(*_ids(config))
        return storage.run_read(self.store, self._get_tuple_fn(config))

    def _get_tuple_fn(self, config: RunnableConfig, *, check: bool = False) -> Callable[[Transaction], Any]:
        """The read of :meth:`get_tuple`; with ``check``, a latest checkpoint the tract changed since
        reads as ``_OUTDATED`` instead."""
        thread_id, checkpoint_ns = _ids(config)
        checkpoint_id = get_checkpoint_id(config)
        check = check and not checkpoint_id

        def get_tuple(tx: Transaction) -> Any:
            found = self._rows.locate(tx, thread_id, checkpoint_ns, checkpoint_id)
            if found is None:
                return None
            row, versions = found
            stored, writes = self._rows.channels_and_writes(
                tx, row.thread_id, row.checkpoint_ns, row.checkpoint_id, versions
            )
            if check:
                messages = stored.get(_MESSAGES)
                if self._outdated(tx, thread_id, checkpoint_ns, versions, None if messages is None else messages[0]):
                    return _OUTDATED
            return self._tuple(tx, row, stored, writes)

        return get_tuple

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints, newest first, filtered as LangGraph specifies (see the base class).

        A thread's list starts with an update checkpoint for changes made through its tract, as
        :meth:`get_tuple` does.
        """
        refresh = self._refresh_fn(config)
        if refresh is not None and storage.run_read(self.store, refresh):
            self._update(*refresh.ids)
        yield from storage.run_read(self.store, self._list_fn(config, filter, before, limit))

    def _list_fn(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Callable[[Transaction], builtins.list[CheckpointTuple]]:
        thread_id = checkpoint_ns = checkpoint_id = None
        if config is not None:
            configurable = config.get("configurable", {})
            if "thread_id" in configurable:
                thread_id = check_thread_id(configurable["thread_id"])
            if configurable.get("checkpoint_ns") is not None:  # None: every namespace, as InMemorySaver
                checkpoint_ns = check_namespace(configurable["checkpoint_ns"])
            checkpoint_id = get_checkpoint_id(config)
        before_id = None if before is None else get_checkpoint_id(before)

        def list_(tx: Transaction) -> builtins.list[CheckpointTuple]:
            rows = self._rows.matching(
                tx, thread_id, checkpoint_ns, checkpoint_id, filter=filter, before_id=before_id, limit=limit
            )
            return [self._tuple(tx, row) for row in rows]

        return list_

    def _tuple(
        self,
        tx: Transaction,
        row: Any,
        stored: dict[str, Any] | None = None,
        writes: builtins.list[Any] | None = None,
    ) -> CheckpointTuple:
        """The checkpoint tuple of a row (``stored``, ``writes``: its channel and write rows, if already read)."""
        checkpoint: Checkpoint = self._loads(row, "checkpoint", (row.type, row.checkpoint))
        values: dict[str, Any] = {}
        if stored is None:
            stored = self._rows.channels(tx, row.thread_id, row.checkpoint_ns, json.loads(row.versions))
        value: Any
        for channel, (value, typed) in stored.items():
            if value.kind == "value":
                if typed is None:
                    typed = self._rows.value(tx, value.value_hash)  # raises: the value row is missing
                values[channel] = self._loads(row, f"channel {channel!r}", typed)
            elif value.kind == "messages":
                values[channel] = self._chains.read(tx, value.tract_id, value.commit_hash)
        if writes is None:
            writes = self._rows.writes(tx, row.thread_id, row.checkpoint_ns, row.checkpoint_id)
        pending = [
            (w.task_id, w.channel, self._loads(row, f"pending write to {w.channel!r}", (w.type, w.data)))
            for w in writes
        ]
        parent = (
            _config(row.thread_id, row.checkpoint_ns, row.parent_checkpoint_id) if row.parent_checkpoint_id else None
        )
        return CheckpointTuple(
            config=_config(row.thread_id, row.checkpoint_ns, row.checkpoint_id),
            checkpoint={**checkpoint, "channel_values": values},
            metadata=self._loads(row, "metadata", (row.metadata_type, row.metadata_blob)),
            parent_config=parent,
            pending_writes=pending,
        )

    def _loads(self, row: Any, what: str, typed: tuple[str, bytes]) -> Any:
        """Deserialise a stored value with the saver's serde; a serde that cannot read it is a clear error."""
        try:
            return self.serde.loads_typed(typed)
        except Exception as exc:
            raise InvalidInputError(
                f"the {what} of checkpoint {row.checkpoint_id} of thread {row.thread_id!r} was stored as "
                f"{typed[0]!r} and this saver's serde cannot read it ({type(exc).__name__}: {exc}); open "
                "TractSaver with serde= the serializer that wrote it (for encrypted data: the same key)"
            ) from exc

    # -- changes made through the tract reaching the graph ----------------------------------

    def _outdated(
        self,
        tx: Transaction,
        thread_id: str,
        checkpoint_ns: str,
        versions: dict[str, Any],
        known: Any = None,
    ) -> bool:
        """Whether the thread's tract changed in a way the latest checkpoint (of these channel versions)
        does not show: ``main`` moved by someone other than the saver (an EDIT, a compression, a commit
        made through the tract), or the messages it skips are not those the checkpoint hides.

        One query when nothing changed (the tip of ``main`` and the newest annotation id).
        """
        if self._chains.sealer.enabled:
            return False  # the tract API cannot read sealed messages, so nothing changes through it
        version = versions.get(_MESSAGES)
        if known is not None and known.version == str(version):  # the messages row, already read
            row = known
        else:
            row = None if version is None else self._rows.channel(tx, thread_id, checkpoint_ns, _MESSAGES, str(version))
        tract_id = row.tract_id if row is not None and row.tract_id else self._tract_of(tx, thread_id, checkpoint_ns)
        tip = row.commit_hash if row is not None and row.kind == "messages" else None
        main, marker = tx.branch_tip_and_mark(tract_id, DEFAULT_BRANCH)
        state = (tip, main, marker)
        if self._in_sync.get(tract_id) == state:
            return False
        if main != tip:  # the saver moved main last (a put, deleted runs): the graph is where it should be
            last = tx.reflog(tract_id, DEFAULT_BRANCH, 1)
            outdated = bool(last) and last[0].action not in SAVER_ACTIONS
        elif main is None or marker == 0 or self._grown_in_sync(tx, tract_id, state):
            outdated = False
        else:  # annotations exist: does the tract skip what the checkpoint hides? (reads the history once)
            order = history_of(main, tx.history(tract_id))
            outdated = hidden_now(tx, tract_id, order) != frozen_hidden(order)
        if not outdated:
            self._in_sync[tract_id] = state
        return outdated

    def _grown_in_sync(self, tx: Transaction, tract_id: str, state: tuple[str | None, str | None, int]) -> bool:
        """Whether the latest checkpoint only appended messages to one found in sync, with no annotation
        made since: then it is in sync too (annotations only reach messages that existed when they were
        made), without reading the history. A walk of the turn's few new commits."""
        known = self._in_sync.get(tract_id)
        if known is None or known[0] is None or known[0] != known[1] or known[2] != state[2]:
            return False
        current = state[0]
        for _ in range(64):
            if current == known[0]:
                return True
            commit = None if current is None else tx.commit(tract_id, current)
            if commit is None:
                return False
            if commit.operation is not Operation.APPEND or commit.role is None or commit.blob is None:
                return False
            if len(commit.parents) != 1:
                return False
            current = commit.parents[0]
        return False

    def _refresh_fn(self, config: RunnableConfig | None) -> _Refresh | None:
        """For ``list`` on one thread: a read saying whether its latest checkpoint is outdated."""
        configurable = config.get("configurable", {}) if isinstance(config, dict) else {}
        if "thread_id" not in configurable or get_checkpoint_id(config or {}):
            return None
        ids = (check_thread_id(configurable["thread_id"]), check_namespace(configurable.get("checkpoint_ns")))
        return _Refresh(self, ids)

    def _update(self, thread_id: str, checkpoint_ns: str) -> None:
        """Store the update checkpoint that brings the graph up to date with the thread's tract."""
        update = _Update(self, thread_id, checkpoint_ns)
        try:
            put = self._write(update)
        except BaseException:
            self._chains.forget(update.tract_id)  # cached chains may name the marker the rollback undid
            raise
        self._finish_update(update, put)

    async def _aupdate(self, thread_id: str, checkpoint_ns: str) -> None:
        """Async :meth:`_update`."""
        update = _Update(self, thread_id, checkpoint_ns)
        try:
            put = await self._awrite(update)
        except BaseException:
            self._chains.forget(update.tract_id)
            raise
        self._finish_update(update, put)

    def _finish_update(self, update: _Update, put: _Put | None) -> None:
        if put is not None:
            self._finish_put(put)
            if update.synced is not None:
                self._in_sync[update.tract_id] = update.synced

    def _update_in(self, tx: Transaction, update: _Update) -> _Put | None:
        """The transaction of an update: freeze what the tract skips (a marker commit on ``main``, when
        it differs from what the graph hides), then store a checkpoint as ``update_state`` would."""
        tract_id = update.tract_id = self._tract_of(tx, update.thread_id, update.checkpoint_ns)
        main = tx.branch_tip(tract_id, DEFAULT_BRANCH, lock=True)  # one updater at a time
        found = self._rows.locate(tx, update.thread_id, update.checkpoint_ns, None)
        if found is None or not self._outdated(tx, update.thread_id, update.checkpoint_ns, found[1]):
            return None  # another reader brought it up to date first
        row = found[0]
        latest = self._tuple(tx, row)
        synced = (main, main, tx.branch_tip_and_mark(tract_id, DEFAULT_BRANCH)[1])
        tip, messages = self._main_view_in(tx, tract_id, main)  # tip None: main is empty, the messages are []
        if tip is not None:
            synced = (tip, tip, synced[2])
        checkpoint = copy_checkpoint(latest.checkpoint)
        step = latest.metadata.get("step", -1)
        version = self.get_next_version(checkpoint["channel_versions"].get(_MESSAGES), None)  # type: ignore[arg-type]
        checkpoint["id"] = str(uuid6(clock_seq=step + 1))
        checkpoint["ts"] = datetime.now(timezone.utc).isoformat()
        checkpoint["channel_values"] = {**checkpoint["channel_values"], _MESSAGES: messages}
        checkpoint["channel_versions"][_MESSAGES] = version
        checkpoint["updated_channels"] = None  # as update_state: the next step considers every channel
        put = _Put(
            saver=self,
            thread_id=update.thread_id,
            checkpoint_ns=update.checkpoint_ns,
            parent_id=row.checkpoint_id,
            checkpoint=checkpoint,
            meta={"source": "update", "step": step + 1, "parents": latest.metadata.get("parents", {})},
            new_versions={_MESSAGES: version},
            tips={} if tip is None else {_MESSAGES: tip},
            tract_id=tract_id,
        )
        self._put_in(tx, put)
        update.synced = synced if tip is not None else None
        return put

    def _main_view_in(self, tx: Transaction, tract_id: str, main: str | None) -> tuple[str | None, builtins.list[Any]]:
        """The commit and messages the graph should see of ``main`` (read with ``lock=True``): when
        the SKIPs changed since the view was last frozen, a marker commit freezing them first. The
        commit is held for the checkpoint that will point at it."""
        if main is None:
            return None, []
        order = history_of(main, tx.history(tract_id))
        hidden = hidden_now(tx, tract_id, order)
        if hidden != frozen_hidden(order):  # the SKIPs changed: freeze them in a marker on main
            # one write: the marker commit, main moved onto it by compare-and-swap (logged), held
            written = tx.write_chain(
                tract_id,
                [marker_commit(hidden)],
                parent=main,
                ref=DEFAULT_BRANCH,
                action=UPDATE_ACTION,
                hold=HOLDER,
            )
            held = written.tip if written.tip is not None else main
        else:
            held = main
            tx.hold(tract_id, [held], HOLDER)
        return held, self._chains.read(tx, tract_id, held)

    # -- what policy nodes need (tract_langchain.policy_node) --------------------------------

    def _thread_view(self, thread_id: str, checkpoint_ns: str) -> tuple[str | None, builtins.list[Any]]:
        """The thread's ``main`` as the graph should see it now: its commit (after freezing changed
        SKIPs in a marker, as an update checkpoint would) and its messages, new objects."""
        thread_id, checkpoint_ns = check_thread_id(thread_id), check_namespace(checkpoint_ns)

        def view(tx: Transaction) -> tuple[str | None, builtins.list[Any]]:
            tract_id = self._tract_of(tx, thread_id, checkpoint_ns)
            return self._main_view_in(tx, tract_id, tx.branch_tip(tract_id, DEFAULT_BRANCH, lock=True))

        try:
            return self._write(view)
        except BaseException:
            self._chains.forget(self._tract_ids.get((thread_id, checkpoint_ns), ""))
            raise

    def _main_mark(self, thread_id: str, checkpoint_ns: str) -> tuple[str | None, int]:
        """The tip of the thread's ``main`` and the id of its newest annotation (one small read): a
        change made through the tract changes one of them."""

        def read(tx: Transaction) -> tuple[str | None, int]:
            return tx.branch_tip_and_mark(self._tract_of(tx, thread_id, checkpoint_ns), DEFAULT_BRANCH)

        return storage.run_read(self.store, read)

    def _has_checkpoint(self, thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> bool:
        """Whether the checkpoint is stored (this process's last put of the thread, or the database)."""
        line = self._lines.get((thread_id, checkpoint_ns))
        if line is not None and line[0] == checkpoint_id:
            return True
        found = storage.run_read(self.store, lambda tx: self._rows.locate(tx, thread_id, checkpoint_ns, checkpoint_id))
        return found is not None

    def _await_checkpoint(self, thread_id: str, checkpoint_ns: str, checkpoint_id: str, timeout: float) -> bool:
        """Wait until the checkpoint is stored (LangGraph puts a step's checkpoint in the background
        while the next step runs); False if it still is not after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._stored:
                seen = self._puts
            if self._has_checkpoint(thread_id, checkpoint_ns, checkpoint_id):
                return True
            with self._stored:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if self._puts == seen:  # also polls: another saver or process may store it
                    self._stored.wait(min(remaining, 0.25))

    def _task_interrupt(self, thread_id: str, checkpoint_ns: str, checkpoint_id: str, task_id: str) -> Any:
        """The interrupt a task last raised on a checkpoint, as stored (its pending write), or None."""

        def read(tx: Transaction) -> Any:
            for write in self._rows.writes(tx, thread_id, checkpoint_ns, checkpoint_id):
                if write.task_id == task_id and write.channel == INTERRUPT:
                    return self.serde.loads_typed((write.type, write.data))
            return None

        return storage.run_read(self.store, read)

    # -- writing ------------------------------------------------------------------------------

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint: message lists as commit chains, other channels per version."""
        put = self._prepare_put(config, checkpoint, metadata, new_versions)
        try:
            self._write(put.run)
        except BaseException:
            self._chains.forget(put.tract_id)  # cached chains may name commits the rollback undid
            raise
        return self._finish_put(put)

    def _prepare_put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> _Put:
        thread_id, checkpoint_ns = _ids(config)
        parent_id = config["configurable"].get("checkpoint_id")
        line = self._lines.get((thread_id, checkpoint_ns))
        return _Put(
            saver=self,
            thread_id=thread_id,
            checkpoint_ns=checkpoint_ns,
            parent_id=parent_id,
            checkpoint=checkpoint,
            meta=get_serializable_checkpoint_metadata(config, metadata),
            new_versions=new_versions,
            tips=dict(line[1]) if line is not None and line[0] == parent_id else {},
            tract_id=self._tract_ids.get((thread_id, checkpoint_ns), ""),
        )

    def _put_in(self, tx: Transaction, put: _Put) -> None:
        """The transaction of a put: channels first, then the checkpoint row."""
        body: dict[str, Any] = dict(put.checkpoint)
        values = body.pop("channel_values", {})
        tract_id = put.tract_id = self._tract_of(tx, put.thread_id, put.checkpoint_ns)
        self._ensure_tract(tx, tract_id)
        for channel, version in put.new_versions.items():
            self._put_channel(
                tx,
                put.thread_id,
                put.checkpoint_ns,
                tract_id,
                channel,
                str(version),
                values,
                put.parent_id,
                put.tips,
            )
        self._rows.put_checkpoint(
            tx,
            put.thread_id,
            put.checkpoint_ns,
            put.checkpoint["id"],
            put.parent_id,
            self.serde.dumps_typed(body),
            json.dumps(put.checkpoint["channel_versions"], default=str),
            self.serde.dumps_typed(put.meta),
            _metadata_json(put.meta),
            put.meta.get("run_id"),
        )

    def _finish_put(self, put: _Put) -> RunnableConfig:
        self._known_tracts.add(put.tract_id)
        self._tract_ids[(put.thread_id, put.checkpoint_ns)] = put.tract_id
        self._lines[(put.thread_id, put.checkpoint_ns)] = (put.checkpoint["id"], put.tips)
        with self._stored:
            self._puts += 1
            self._stored.notify_all()
        return _config(put.thread_id, put.checkpoint_ns, put.checkpoint["id"])

    def _write(self, fn: Callable[[Transaction], _T]) -> _T:
        with self._lock:
            return storage.run_write(self.store, fn)

    async def _awrite(self, fn: Callable[[Transaction], _T]) -> _T:
        if storage.native_async(self.store):  # PostgreSQL: awaits the server on the event loop
            return await storage.arun_write(self.store, fn)
        return await asyncio.to_thread(self._write, fn)

    def _ensure_tract(self, tx: Transaction, tract_id: str) -> None:
        if tract_id not in self._known_tracts:
            tx.declare_tract(tract_id)  # idempotent, nothing waits for it; remembered once committed

    def _put_channel(
        self,
        tx: Transaction,
        thread_id: str,
        checkpoint_ns: str,
        tract_id: str,
        channel: str,
        version: str,
        values: dict[str, Any],
        parent_id: str | None,
        tips: dict[str, str | None],
    ) -> None:
        """Store one channel's new version; ``tips`` maps message channels to their known tips (updated)."""
        if channel not in values:
            self._rows.put_channel(tx, thread_id, checkpoint_ns, channel, version, kind="empty")
            return
        value = values[channel]
        if is_message_list(value):
            try:
                self._put_messages(tx, thread_id, checkpoint_ns, tract_id, channel, version, value, parent_id, tips)
                return
            except TypeError:  # something else hides in the list: store it as a plain value
                pass
        typed = self.serde.dumps_typed(value)
        value_hash = hashlib.sha256(typed[0].encode() + b"\0" + typed[1]).hexdigest()
        self._rows.put_value(tx, value_hash, typed)
        self._rows.put_channel(tx, thread_id, checkpoint_ns, channel, version, kind="value", value_hash=value_hash)

    def _put_messages(
        self,
        tx: Transaction,
        thread_id: str,
        checkpoint_ns: str,
        tract_id: str,
        channel: str,
        version: str,
        value: builtins.list[Any],
        parent_id: str | None,
        tips: dict[str, str | None],
    ) -> None:
        """Store a message list as a chain of commits (O(new messages)) and point the channel at its tip."""
        main_read = False  # whether ``main`` below was read in this transaction already
        if channel in tips:  # the usual case: continuing the checkpoint this process stored last
            candidates: builtins.list[str | None] = [tips[channel]]
            main = None
        else:
            candidates, main = self._rows.previous_tips(tx, thread_id, checkpoint_ns, channel, parent_id, tract_id)
            main_read = True
        plan = self._chains.plan(tx, tract_id, value, candidates)
        if channel == _MESSAGES and plan.new and not plan.extends_base:
            # the list may be main as changed through the tract (a policy node returns that view)
            if not main_read:
                main = tx.branch_tip(tract_id, DEFAULT_BRANCH)
            if main is not None and main not in candidates:
                at_main = self._chains.plan(tx, tract_id, value, [main])
                if not at_main.new and at_main.prefix.tip == main:
                    plan, candidates = at_main, [*candidates, main]
        hold = HOLDER if plan.moves or len(candidates) > 1 else None
        if channel == "messages":
            read = main if main_read else _UNREAD
            chain = self._follow(tx, tract_id, plan, hold, (thread_id, checkpoint_ns, parent_id), read)
        else:
            chain = self._chains.write(tx, tract_id, plan, hold=hold)
        tips[channel] = chain.tip
        self._rows.put_channel(
            tx,
            thread_id,
            checkpoint_ns,
            channel,
            version,
            kind="messages",
            tract_id=tract_id,
            commit_hash=chain.tip,
            count=len(chain),
        )

    def _follow(
        self,
        tx: Transaction,
        tract_id: str,
        plan: ChainPlan,
        hold: str | None,
        parent: tuple[str, str, str | None],
        main: Any = _UNREAD,
    ) -> Chain:
        """Write the messages and point ``main`` at them; keep a line a fork leaves behind as a branch
        (named after the step of the checkpoint the new line continues from, ``parent``: see :mod:`.forks`).

        ``main``: the branch's tip as this transaction read it already (without a lock), if it did.
        """
        if plan.extends_base:  # the usual turn: main moves on from the list this one continues
            try:
                return self._chains.write(tx, tract_id, plan, ref=DEFAULT_BRANCH, expected=plan.base.tip, hold=hold)
            except ConcurrentUpdateError:
                pass  # main is elsewhere (a fork, another writer): nothing was written, as below
        elif main is not _UNREAD and plan.new:  # e.g. a new thread: no need to read main again, locked
            try:
                return self._settle(tx, tract_id, plan, hold, parent, main)
            except ConcurrentUpdateError:
                pass  # main moved since it was read: nothing was written; read it locked, as below
        return self._settle(tx, tract_id, plan, hold, parent, tx.branch_tip(tract_id, DEFAULT_BRANCH, lock=True))

    def _settle(
        self,
        tx: Transaction,
        tract_id: str,
        plan: ChainPlan,
        hold: str | None,
        parent: tuple[str, str, str | None],
        old: str | None,
    ) -> Chain:
        """:meth:`_follow` once ``main``'s tip is known to be ``old`` (its compare-and-swap checks it)."""
        if old is not None and not plan.new and plan.prefix.tip == old:  # the list is main's: nothing moves
            if hold is not None:
                tx.hold(tract_id, [old], hold)
            return plan.prefix
        chain = self._chains.write(tx, tract_id, plan, ref=DEFAULT_BRANCH, expected=old, hold=hold)
        if old is None or old == chain.tip or old == plan.prefix.tip:  # no line left (the list continues ``old``)
            return chain
        if not any(commit == old for commit in reversed(chain.commits)):
            name = fork_branch(tx, self._rows, tract_id, old, *parent)
            if name is not None:
                tx.create_branch(tract_id, name, old, action="checkpoint: fork")
        return chain

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's pending writes (special channels upsert, the rest are idempotent)."""
        self._write(self._writes_fn(config, writes, task_id, task_path))

    def _writes_fn(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
    ) -> Callable[[Transaction], None]:
        thread_id, checkpoint_ns = _ids(config)
        checkpoint_id = config["configurable"]["checkpoint_id"]
        rows = [
            {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint_id,
                "task_id": task_id,
                "idx": WRITES_IDX_MAP.get(channel, i),
                "channel": channel,
                "type": typed[0],
                "data": typed[1],
                "task_path": task_path,
            }
            for i, (channel, value) in enumerate(writes)
            for typed in [self.serde.dumps_typed(value)]
        ]
        replace = all(channel in WRITES_IDX_MAP for channel, _ in writes)
        return lambda tx: self._rows.put_writes(tx, rows, replace=replace)

    # -- deleting and copying -----------------------------------------------------------------

    def _forget(self, thread_id: str, *, tracts: bool = False) -> None:
        for line in [key for key in self._lines if key[0] == thread_id]:
            del self._lines[line]
        if tracts:
            for key in [key for key in self._tract_ids if key[0] == thread_id]:
                del self._tract_ids[key]

    def delete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint and write of a thread, in all namespaces, and its tracts."""
        self._write(self._delete_thread_fn(thread_id))

    def _delete_thread_fn(self, thread_id: str) -> Callable[[Transaction], None]:
        thread_id = check_thread_id(thread_id)
        self._forget(thread_id, tracts=True)

        def delete_thread(tx: Transaction) -> None:
            for tract_id in self._rows.tracts_of(tx, thread_id):
                self._chains.sealer.forget(tx, tx.delete_tract(tract_id))
                self._chains.forget(tract_id)
                self._known_tracts.discard(tract_id)
            self._rows.delete_thread(tx, thread_id)

        return delete_thread

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (and their writes) created by the given runs."""
        if run_ids:
            self._write(lambda tx: self._delete_runs_in(tx, list(run_ids)))

    def _delete_runs_in(self, tx: Transaction, run_ids: builtins.list[str]) -> None:
        for thread_id, checkpoint_ns in self._rows.delete_runs(tx, run_ids):
            self._forget(thread_id)
            self._release(tx, thread_id, checkpoint_ns)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a thread: its checkpoints, writes and tracts (commit rows referencing the same blobs)."""
        self._write(self._copy_thread_fn(source_thread_id, target_thread_id))

    def _copy_thread_fn(self, source_thread_id: str, target_thread_id: str) -> Callable[[Transaction], None]:
        source_id, target_id = check_thread_id(source_thread_id), check_thread_id(target_thread_id)

        def copy_thread(tx: Transaction) -> None:
            targets: dict[str, str] = {}
            for checkpoint_ns in self._rows.namespaces(tx, source_id):
                source = self._rows.recorded_tract(tx, source_id, checkpoint_ns)
                target = targets[checkpoint_ns] = self._tract_of(tx, target_id, checkpoint_ns)
                if source is not None:
                    tx.copy_tract(source, target)
            self._rows.copy_thread(tx, source_id, target_id, targets)

        return copy_thread

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """``keep_latest``: keep only the newest checkpoint of each namespace; ``delete``: delete the threads."""
        if strategy == "delete":
            for thread_id in thread_ids:
                self.delete_thread(thread_id)
            return
        self._write(self._keep_latest_fn(thread_ids, strategy))

    def _keep_latest_fn(self, thread_ids: Sequence[str], strategy: str) -> Callable[[Transaction], None]:
        if strategy != "keep_latest":
            raise ValueError(f"unknown prune strategy {strategy!r}; use 'keep_latest' or 'delete'")
        threads = [check_thread_id(thread_id) for thread_id in thread_ids]

        def keep_latest(tx: Transaction) -> None:
            for thread_id in threads:
                self._forget(thread_id)
                for checkpoint_ns in self._rows.keep_latest(tx, thread_id):
                    self._release(tx, thread_id, checkpoint_ns)

        return keep_latest

    def _release(self, tx: Transaction, thread_id: str, checkpoint_ns: str) -> None:
        """Drop channel rows and holds no remaining checkpoint of the namespace needs."""
        tract_id = self._tract_of(tx, thread_id, checkpoint_ns)
        kept_tips = self._rows.collect_channels(tx, thread_id, checkpoint_ns)
        tx.release(tract_id, HOLDER, keep=kept_tips)

    # -- async: the same units of work, awaited ---------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Async :meth:`get_tuple`."""
        found = await storage.arun_read(self.store, self._get_tuple_fn(config, check=True))
        if found is not _OUTDATED:
            return found
        await self._aupdate(*_ids(config))
        return await storage.arun_read(self.store, self._get_tuple_fn(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Async :meth:`list` (the matching checkpoints are read in one transaction)."""
        refresh = self._refresh_fn(config)
        if refresh is not None and await storage.arun_read(self.store, refresh):
            await self._aupdate(*refresh.ids)
        for item in await storage.arun_read(self.store, self._list_fn(config, filter, before, limit)):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Async :meth:`put`."""
        put = self._prepare_put(config, checkpoint, metadata, new_versions)
        try:
            await self._awrite(put.run)
        except BaseException:
            self._chains.forget(put.tract_id)  # cached chains may name commits the rollback undid
            raise
        return self._finish_put(put)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        """Async :meth:`put_writes`."""
        await self._awrite(self._writes_fn(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        """Async :meth:`delete_thread`."""
        await self._awrite(self._delete_thread_fn(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Async :meth:`delete_for_runs`."""
        if run_ids:
            await self._awrite(lambda tx: self._delete_runs_in(tx, list(run_ids)))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Async :meth:`copy_thread`."""
        await self._awrite(self._copy_thread_fn(source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Async :meth:`prune`."""
        if strategy == "delete":
            for thread_id in thread_ids:
                await self.adelete_thread(thread_id)
            return
        await self._awrite(self._keep_latest_fn(thread_ids, strategy))


class AsyncTractSaver(TractSaver):
    """:class:`TractSaver` under the name asyncio code looks for (as ``AsyncSqliteSaver``, ``AsyncPostgresSaver``).

    The same saver (every async method is native on PostgreSQL), whose :meth:`from_conn_string` is
    an async context manager that closes the async connections on the loop that opened them::

        async with AsyncTractSaver.from_conn_string("agent.db") as saver:
            graph = builder.compile(checkpointer=saver)
            await graph.ainvoke(...)
    """

    @classmethod
    @asynccontextmanager
    async def from_conn_string(  # type: ignore[override]
        cls, conn_string: str, *, serde: Any = None
    ) -> AsyncIterator[AsyncTractSaver]:
        """Open a saver on a SQLite path or a database URL; close it on exit (``async with``)."""
        async with cls.afrom_conn_string(conn_string, serde=serde) as saver:
            yield saver  # type: ignore[misc]


@dataclass
class _Put:
    """A checkpoint on its way to the store (prepared outside the transaction)."""

    saver: TractSaver
    thread_id: str
    checkpoint_ns: str
    parent_id: str | None
    checkpoint: Checkpoint
    meta: Any
    new_versions: ChannelVersions
    tips: dict[str, str | None]
    tract_id: str  # resolved in the transaction ("" until then)

    def run(self, tx: Transaction) -> None:
        self.saver._put_in(tx, self)


@dataclass
class _Refresh:
    """The read ``list`` makes first: is the thread's latest checkpoint outdated?"""

    saver: TractSaver
    ids: tuple[str, str]

    def __call__(self, tx: Transaction) -> bool:
        found = self.saver._rows.locate(tx, *self.ids, None)
        return found is not None and self.saver._outdated(tx, *self.ids, found[1])


@dataclass
class _Update:
    """An update checkpoint on its way to the store (see :meth:`TractSaver._update_in`)."""

    saver: TractSaver
    thread_id: str
    checkpoint_ns: str
    tract_id: str = ""  # resolved in the transaction
    synced: tuple[str | None, str | None, int] | None = None  # what it brought the graph to (if it did)

    def __call__(self, tx: Transaction) -> _Put | None:
        return self.saver._update_in(tx, self)


def _metadata_json(meta: Any) -> str:
    """Metadata as JSON for SQL filters (values JSON cannot hold are left out; serde keeps them)."""
    plain = {}
    for key, value in dict(meta).items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        plain[key] = value
    return json.dumps(plain, sort_keys=True)
