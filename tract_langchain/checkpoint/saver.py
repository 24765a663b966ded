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
  ``lg/<checkpoint id>``, sharing every common commit.
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
import random
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from tract_core import ConcurrentUpdateError, InvalidInputError, Tract, storage
from tract_core.storage import DEFAULT_BRANCH, SqlStore, Transaction

from .chains import Chain, ChainPlan, ChainStore, is_message_list
from .rows import CheckpointStore, create_tables
from .sealing import Sealer, encrypts
from .threads import SEPARATOR, check_namespace, check_thread_id, hashed_tract_id, tract_id_for

__all__ = ["TractSaver", "tract_id_for", "strict_serde", "HOLDER"]

_T = TypeVar("_T")

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


def _config(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, "checkpoint_id": checkpoint_id}}


class TractSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer storing threads as tracts.

    Use ``with TractSaver.from_conn_string("agent.db") as saver: graph = builder.compile(checkpointer=saver)``
    (a SQLite path, or a ``postgresql://`` URL), or pass an open :class:`tract_core.storage.SqlStore`.

    Sync methods run on the calling thread. The async ones (``aget_tuple``, ``aput``, ...) run the
    same units of work natively async on PostgreSQL (psycopg's async driver: statements await the
    server on the event loop, no worker thread) and in a worker thread on SQLite. In async code,
    ``async with TractSaver.afrom_conn_string(url) as saver:`` also closes the async connections
    on the loop that opened them.

    Thread ids are strings (ints and UUIDs are taken as their string, as the stock savers do) of
    at most 1024 bytes; ``None``, blank ids and NUL characters raise ``InvalidInputError``.

    Args:
        store: The tract store to use.
        serde: LangGraph serializer for non-message channel values and writes. Default: JSON+msgpack
            in strict mode (:func:`strict_serde`); pass ``JsonPlusSerializer(allowed_msgpack_modules=[...])``
            to rebuild your own state types, or an ``EncryptedSerializer`` to encrypt everything,
            messages included.
        owns_store: Close ``store`` when the saver is closed.
    """

    def __init__(self, store: SqlStore, *, serde: Any = None, owns_store: bool = False) -> None:
        super().__init__(serde=serde if serde is not None else strict_serde())
        self.store = store
        self._owns_store = owns_store
        self._rows = CheckpointStore()
        self._chains = ChainStore(Sealer(self.serde, self._rows, enabled=encrypts(self.serde)))
        self._known_tracts: set[str] = set()
        # per (thread, namespace): the tract its messages go to (see _tract_of)
        self._tract_ids: dict[tuple[str, str], str] = {}
        # per (thread, namespace): the last checkpoint this process stored and its message tips
        self._lines: dict[tuple[str, str], tuple[str, dict[str, str | None]]] = {}
        self._lock = threading.RLock()
        self.setup()

    # -- lifecycle ----------------------------------------------------------------------------

    @classmethod
    @contextmanager
    def from_conn_string(cls, conn_string: str, *, serde: Any = None) -> Iterator[TractSaver]:
        """Open a saver on a SQLite path (created if missing) or a database URL; close it on exit."""
        saver = cls(storage.open_store(conn_string), serde=serde, owns_store=True)
        try:
            yield saver
        finally:
            saver.close()

    @classmethod
    @asynccontextmanager
    async def afrom_conn_string(cls, conn_string: str, *, serde: Any = None) -> AsyncIterator[TractSaver]:
        """Async :meth:`from_conn_string`: the same saver, closed with :meth:`aclose` on exit."""
        store = await asyncio.to_thread(storage.open_store, conn_string)
        saver = await asyncio.to_thread(lambda: cls(store, serde=serde, owns_store=True))
        try:
            yield saver
        finally:
            await saver.aclose()

    def setup(self) -> None:
        """Create the saver's tables if missing (idempotent; tract's own tables migrate on open)."""
        storage.run_write(self.store, create_tables)

    def close(self) -> None:
        """Release the store if this saver opened it."""
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
        """The checkpoint ``config`` names, or the thread's latest (in that namespace)."""
        return storage.run_read(self.store, self._get_tuple_fn(config))

    def _get_tuple_fn(self, config: RunnableConfig) -> Callable[[Transaction], CheckpointTuple | None]:
        thread_id, checkpoint_ns = _ids(config)
        checkpoint_id = get_checkpoint_id(config)

        def get_tuple(tx: Transaction) -> CheckpointTuple | None:
            found = self._rows.locate(tx, thread_id, checkpoint_ns, checkpoint_id)
            return None if found is None else self._tuple(tx, found[0])

        return get_tuple

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints, newest first, filtered as LangGraph specifies (see the base class)."""
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

    def _tuple(self, tx: Transaction, row: Any) -> CheckpointTuple:
        checkpoint: Checkpoint = self._loads(row, "checkpoint", (row.type, row.checkpoint))
        values: dict[str, Any] = {}
        stored = self._rows.channels(tx, row.thread_id, row.checkpoint_ns, json.loads(row.versions))
        for channel, value in stored.items():
            if value.kind == "value":
                values[channel] = self._loads(row, f"channel {channel!r}", self._rows.value(tx, value.value_hash))
            elif value.kind == "messages":
                chain = self._chains.load(tx, value.tract_id, value.commit_hash)
                values[channel] = self._chains.values(chain)
        writes = [
            (w.task_id, w.channel, self._loads(row, f"pending write to {w.channel!r}", (w.type, w.data)))
            for w in self._rows.writes(tx, row.thread_id, row.checkpoint_ns, row.checkpoint_id)
        ]
        parent = (
            _config(row.thread_id, row.checkpoint_ns, row.parent_checkpoint_id) if row.parent_checkpoint_id else None
        )
        return CheckpointTuple(
            config=_config(row.thread_id, row.checkpoint_ns, row.checkpoint_id),
            checkpoint={**checkpoint, "channel_values": values},
            metadata=self._loads(row, "metadata", (row.metadata_type, row.metadata_blob)),
            parent_config=parent,
            pending_writes=writes,
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
            tx.ensure_tract(tract_id)  # idempotent; remembered once committed

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
        if channel in tips:  # the usual case: continuing the checkpoint this process stored last
            candidates: builtins.list[str | None] = [tips[channel]]
        else:
            candidates = self._rows.previous_tips(tx, thread_id, checkpoint_ns, channel, parent_id, tract_id)
        plan = self._chains.plan(tx, tract_id, value, candidates)
        hold = HOLDER if plan.moves or len(candidates) > 1 else None
        if channel == "messages":
            chain = self._follow(tx, tract_id, plan, hold, parent_id)
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
        self, tx: Transaction, tract_id: str, plan: ChainPlan, hold: str | None, parent_id: str | None
    ) -> Chain:
        """Write the messages and point ``main`` at them; keep a line a fork leaves behind as a branch."""
        if plan.extends_base:  # the usual turn: main moves on from the list this one continues
            try:
                return self._chains.write(tx, tract_id, plan, ref=DEFAULT_BRANCH, expected=plan.base.tip, hold=hold)
            except ConcurrentUpdateError:
                pass  # main is elsewhere (a fork, another writer): nothing was written, as below
        old = tx.branch_tip(tract_id, DEFAULT_BRANCH, lock=True)
        chain = self._chains.write(tx, tract_id, plan, ref=DEFAULT_BRANCH, expected=old, hold=hold)
        if old is not None and old != chain.tip and not any(commit == old for commit in reversed(chain.commits)):
            tx.create_branch(tract_id, f"lg/{parent_id or 'root'}-{old[:12]}", old, action="checkpoint: fork")
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
