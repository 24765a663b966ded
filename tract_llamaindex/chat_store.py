"""LlamaIndex's ``Memory`` on tract storage: :class:`TractChatStore`, an ``AsyncDBChatStore``."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import Field, PrivateAttr, field_validator
from llama_index.core.storage.chat_store.base_db import AsyncDBChatStore, MessageStatus

from tract_core import InvalidInputError, Tract, TractNotFoundError, storage
from tract_core.names import ARCHIVED_CHAT_PREFIX, CHAT_PREFIX, chat_tract_id
from tract_core.storage import SqlStore

from .connections import database_key, database_name, open_store
from .messages import encode
from .reader import Entry, MessageReader

__all__ = ["TractChatStore"]

T = TypeVar("T")


class TractChatStore(AsyncDBChatStore):
    """The chat store behind LlamaIndex's ``Memory``, keeping every message in a tract.

    ``Memory.from_defaults(session_id="u42", chat_store=TractChatStore(path="memory.db"))`` keeps
    LlamaIndex's short-term queue and its memory blocks (static, fact extraction, vector) as
    they are, on tract storage:

    - each key is the tract ``<prefix><key>``; its ACTIVE messages are the tract's compiled
      context, so EDITs, SKIPs and pins made through :meth:`tract` show in what the agent gets;
    - :meth:`archive_oldest_messages` (how ``Memory`` flushes its queue) takes the oldest active
      messages out of the context with :meth:`tract_core.Tract.archive`, a provenance record
      listing the originals (``tract.compressions()``), and appends them to the key's ARCHIVED
      list, the tract ``<archive_prefix><key>``, in the same transaction;
    - ``status=None`` means ARCHIVED then ACTIVE, oldest first, as ``Memory.get_all`` expects.

    The store's contract holds exactly (upstream SQL stores differ on the two last points):
    ``set_messages`` replaces the messages of the given status only; ``delete_message(key, idx)``
    removes the active message at position ``idx`` (from the oldest, 0-based) and returns it, or
    None if there is none; ``delete_oldest_messages`` removes active messages without archiving
    them; ``count_messages`` counts by status; ``get_keys`` lists keys that hold messages.
    Deleting or replacing never rewrites stored commits: the old line becomes unreachable and
    stays in the reflog until ``gc`` passes its retention window (``tract(key).reflog()``).

    Every operation is one transaction. The database work runs in a worker thread, and building
    the store does no I/O: the database is opened on first use.

    Attributes:
        db: The database: a SQLite path, a database URL (without its password: one given is kept
            in this process only, see :mod:`tract_llamaindex.connections`), or a
            ``tract-store://`` handle of a database that lives in this process only.
        prefix: Prefix of the tract ids of the keys' active messages.
        archive_prefix: Prefix of the tract ids of the keys' archived messages.
    """

    db: str = Field(default_factory=database_name)
    prefix: str = CHAT_PREFIX
    archive_prefix: str = ARCHIVED_CHAT_PREFIX

    _store: SqlStore | None = PrivateAttr(default=None)
    _open: dict[str, tuple[Tract, MessageReader]] = PrivateAttr(default_factory=dict)
    _lock: threading.RLock = PrivateAttr(default_factory=threading.RLock)

    def __init__(
        self,
        *,
        path: str | os.PathLike[str] | None = None,
        url: str | None = None,
        store: SqlStore | None = None,
        db: str | None = None,
        prefix: str = CHAT_PREFIX,
        archive_prefix: str = ARCHIVED_CHAT_PREFIX,
    ) -> None:
        """Keep the keys in a SQLite ``path``, a database ``url``, an open ``store``, a ``db``
        string (as serialized) or, with none of them, a private in-memory database.

        Raises:
            InvalidInputError: More than one database, or prefixes that overlap.
        """
        if db is not None and (path is not None or url is not None or store is not None):
            raise InvalidInputError("pass db= alone, or one of path=, url=, store=")
        if prefix == archive_prefix or prefix.startswith(archive_prefix) or archive_prefix.startswith(prefix):
            raise InvalidInputError(
                f"prefix {prefix!r} and archive_prefix {archive_prefix!r} must differ and neither start the other"
            )
        # pydantic's typed __init__ of the base class does not know this subclass's fields
        super().__init__(db=db or database_name(path, url, store), prefix=prefix, archive_prefix=archive_prefix)  # type: ignore[call-arg]

    @field_validator("db")
    @classmethod
    def _no_password(cls, db: str) -> str:
        return database_key(db)

    def _opened_store(self) -> SqlStore:
        """The shared store of :attr:`db`, opened on first use (in the worker thread of an async
        method: building the chat store does no I/O)."""
        with self._lock:
            if self._store is None:
                self._store = open_store(self.db)
            return self._store

    @classmethod
    def class_name(cls) -> str:
        return "TractChatStore"

    def tract(self, key: str) -> Tract:
        """The tract of ``key``'s active messages (created if missing): log, diff, annotate, ...

        Raises:
            InvalidInputError: A bad key.
        """
        return self._target(key, MessageStatus.ACTIVE)[0]

    def archive_tract(self, key: str) -> Tract:
        """The tract of ``key``'s archived messages (created if missing)."""
        return self._target(key, MessageStatus.ARCHIVED)[0]

    # -- reading ----------------------------------------------------------------------------

    async def get_messages(
        self,
        key: str,
        status: MessageStatus | None = MessageStatus.ACTIVE,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[ChatMessage]:
        """Messages of ``key`` with ``status`` (None: archived then active), oldest first.

        ``offset`` skips that many, ``limit`` caps how many come back. New objects every call.
        """
        for name, value in (("limit", limit), ("offset", offset)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise InvalidInputError(f"{name} must be a non-negative int or None, not {value!r}")

        def read() -> list[ChatMessage]:
            entries, readers = self._entries(key, status)
            start = offset or 0
            end = None if limit is None else start + limit
            return [readers[e.key].messages([e])[0] for e in entries[start:end]]

        return await self._run(read)

    async def count_messages(self, key: str, status: MessageStatus | None = MessageStatus.ACTIVE) -> int:
        """How many messages ``key`` has with ``status`` (None: all)."""
        return await self._run(lambda: len(self._entries(key, status)[0]))

    async def get_keys(self) -> list[str]:
        """Keys that hold messages (active or archived), sorted."""

        def keys() -> list[str]:
            ids = storage.run_read(self._opened_store(), lambda tx: tx.tract_ids())
            found = set()
            for tract_id in ids:
                for prefix in (self.prefix, self.archive_prefix):
                    if tract_id.startswith(prefix) and len(tract_id) > len(prefix):
                        key = tract_id[len(prefix) :]
                        if key not in found and self._entries(key, None)[0]:
                            found.add(key)
            return sorted(found)

        return await self._run(keys)

    # -- writing ----------------------------------------------------------------------------

    async def add_message(self, key: str, message: ChatMessage, status: MessageStatus = MessageStatus.ACTIVE) -> None:
        """Append one message with ``status``."""
        await self.add_messages(key, [message], status)

    async def add_messages(
        self, key: str, messages: Sequence[ChatMessage], status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        """Append the messages in order, as one transaction.

        Raises:
            InvalidInputError: A message tract cannot store, or a bad status; nothing is stored.
        """
        encoded = [encode(m) for m in messages]
        target = self._status(status)

        def add() -> None:
            self._target(key, target)[1].commit(encoded)

        await self._run(add)

    async def set_messages(
        self, key: str, messages: Sequence[ChatMessage], status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        """Replace the messages of ``status`` (only those) with ``messages``, as one transaction."""
        encoded = [encode(m) for m in messages]
        target = self._status(status)

        def replace() -> None:
            tract, reader = self._target(key, target)
            with tract.batch():
                tract.start_over(None)
                reader.commit(encoded)

        await self._run(replace)

    async def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Remove the active message at position ``idx`` (0 = oldest) and return it; None if there is none."""
        if isinstance(idx, bool) or not isinstance(idx, int):
            raise InvalidInputError(f"idx must be an int position, not {idx!r}")

        def remove() -> ChatMessage | None:
            opened = self._reader(self._tract_id(key, MessageStatus.ACTIVE), create=False)
            if opened is None:
                return None
            tract, reader = opened
            entries = reader.view().entries
            if not 0 <= idx < len(entries):
                return None
            message = reader.messages([entries[idx]])[0]
            tract.archive(entries[idx].key, from_commit=entries[idx].key)
            return message

        return await self._run(remove)

    async def delete_messages(self, key: str, status: MessageStatus | None = None) -> None:
        """Remove every message of ``key`` with ``status`` (None: all), as one transaction."""
        statuses = [self._status(status)] if status is not None else [MessageStatus.ACTIVE, MessageStatus.ARCHIVED]

        def remove() -> None:
            found = [self._reader(self._tract_id(key, target), create=False) for target in statuses]
            with self._opened_store().batch():
                for opened in found:
                    if opened is not None:
                        opened[0].start_over(None)

        await self._run(remove)

    async def delete_oldest_messages(self, key: str, n: int) -> list[ChatMessage]:
        """Remove the ``n`` oldest active messages (without archiving them) and return them."""
        return await self._run(lambda: self._take_oldest(key, n, archive=False))

    async def archive_oldest_messages(self, key: str, n: int) -> list[ChatMessage]:
        """Move the ``n`` oldest active messages to the archived ones and return them.

        On the key's tract this is :meth:`tract_core.Tract.archive` (a provenance record; the
        originals stay readable until gc); the messages are appended to the archived list.
        """
        return await self._run(lambda: self._take_oldest(key, n, archive=True))

    # -- internals --------------------------------------------------------------------------

    async def _run(self, fn: Callable[[], T]) -> T:
        def locked() -> T:
            with self._lock:
                return fn()

        return await asyncio.to_thread(locked)

    @staticmethod
    def _status(status: Any) -> MessageStatus:
        try:
            return MessageStatus(status)
        except ValueError:
            raise InvalidInputError(
                f"status must be MessageStatus.ACTIVE or MessageStatus.ARCHIVED, not {status!r}"
            ) from None

    def _tract_id(self, key: str, status: MessageStatus) -> str:
        return chat_tract_id(key, self.prefix if status is MessageStatus.ACTIVE else self.archive_prefix)

    def _reader(self, tract_id: str, *, create: bool) -> tuple[Tract, MessageReader] | None:
        opened = self._open.get(tract_id)
        if opened is None:
            try:
                tract = Tract.open(store=self._opened_store(), tract_id=tract_id, create=create)
            except TractNotFoundError:
                return None
            opened = self._open[tract_id] = (tract, MessageReader(tract))
        return opened

    def _target(self, key: str, status: MessageStatus) -> tuple[Tract, MessageReader]:
        return self._reader(self._tract_id(key, status), create=True)  # type: ignore[return-value]

    def _entries(self, key: str, status: MessageStatus | None) -> tuple[list[Entry], dict[str, MessageReader]]:
        statuses = [MessageStatus.ARCHIVED, MessageStatus.ACTIVE] if status is None else [self._status(status)]
        entries: list[Entry] = []
        readers: dict[str, MessageReader] = {}
        for target in statuses:
            opened = self._reader(self._tract_id(key, target), create=False)
            if opened is not None:
                found = opened[1].view().entries
                entries += found
                readers.update(dict.fromkeys((e.key for e in found), opened[1]))
        return entries, readers

    def _take_oldest(self, key: str, n: int, *, archive: bool) -> list[ChatMessage]:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidInputError(f"n must be a non-negative int, not {n!r}")
        opened = self._reader(self._tract_id(key, MessageStatus.ACTIVE), create=False)
        if opened is None or n == 0:
            return []
        tract, reader = opened
        taken = list(reader.view().entries[:n])
        if not taken:
            return []
        messages = reader.messages(taken)
        # Open (create) the archived tract before the batch: a tract created inside it would be
        # rolled back with it while this store keeps it open.
        archived = self._target(key, MessageStatus.ARCHIVED)[1] if archive else None
        with self._opened_store().batch():
            tract.archive(taken[-1].key, from_commit=taken[0].key)
            if archived is not None:
                archived.commit((e.body, reader.metadata(e.key)) for e in taken)
        return messages
