"""A LangChain chat message history on tract storage: :class:`TractChatMessageHistory`.

One tract per session (the tract id is the session id), in a SQLite file, a PostgreSQL database
or a shared store. Every message becomes a commit; :attr:`~TractChatMessageHistory.messages` is
the *compiled* context, so edits, skips and compressions made through
:attr:`~TractChatMessageHistory.tract` change what the chain sees, while the full history stays
in the store.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage

from tract_core import InvalidInputError, Tract, TractConfig
from tract_core.names import session_tract_id
from tract_core.storage import SqlStore, display_url

from .messages import decode, encode, from_body

__all__ = ["TractChatMessageHistory"]


class TractChatMessageHistory(BaseChatMessageHistory):
    """Chat message history stored in a tract: one tract per session, nothing ever lost.

    A drop-in ``BaseChatMessageHistory`` for ``RunnableWithMessageHistory`` and LCEL chains.
    Each session is the tract whose id is ``session_id``, in a SQLite file (``path=``), a database
    URL (``url=``, e.g. PostgreSQL), a shared :class:`~tract_core.storage.SqlStore` (``store=``), or
    a private in-memory database when none is given. Or wrap a tract you already have (``tract=``).

    Messages come back exactly as they were added: same class and every field (``id``, ``name``,
    ``additional_kwargs``, ``response_metadata``, ``usage_metadata``, tool calls, ``artifact``,
    ``status``, custom roles, content blocks); see :mod:`tract_langchain.messages`. Any message
    LangChain accepts is stored, and what the model is sent (``tract.compile().to_openai()``)
    stays valid for the chat APIs.

    :attr:`messages` is the compiled context of the session: EDITs, SKIPs and compressions made
    through :attr:`tract` apply. Each read returns a new list of new message objects (mutating
    them changes nothing stored), and reading has no side effects, so every read within a turn
    has the same length, as ``RunnableWithMessageHistory`` requires. :meth:`messages_with_commits`
    pairs each message with the hash of the commit that added it, which any :attr:`tract` method
    accepts (``history.tract.annotate(commit, SKIP)``). Messages tract wrote itself (summaries,
    commits made through :attr:`tract`) carry that hash as their ``id``.

    :meth:`clear` never destroys history: the conversation so far is kept as a branch named
    ``cleared/1`` (then ``cleared/2``, ...) and the session starts over with no messages.

    Building a history does no I/O (``RunnableWithMessageHistory.ainvoke`` calls the factory on
    the event loop): the database and the session are opened on first use, by the async methods
    in a worker thread (``asyncio.to_thread``), so the event loop is never blocked.

    Deprecation: ``BaseChatMessageHistory`` (since langchain-core 1.6.4) and
    ``RunnableWithMessageHistory`` (since 1.3.3) are deprecated, to be removed in langchain-core
    2.0; constructing ``RunnableWithMessageHistory`` emits a ``LangChainDeprecationWarning``.
    This class does not warn (LangChain only warns for its own base class), and it works as long
    as they exist. For new code, prefer LangGraph persistence with tract's checkpointer,
    ``tract_langchain.TractSaver``, which LangChain 1.x recommends for short-term memory.

    Args:
        session_id: The session, which is the tract id (a non-empty string, at most 255 characters).
        path: A SQLite file (created if missing).
        url: A database URL instead, e.g. ``postgresql+psycopg://user:pw@host/db``.
        store: An open store to share between sessions (cheaper than opening a file per turn).
        tract: An open :class:`~tract_core.Tract` to use as is (its id must be ``session_id``);
            it is not closed by :meth:`close`.
        config: Budget and model of a tract opened here (saved with it; omitted, the saved one).

    Raises:
        InvalidInputError: Bad ``session_id``, more than one of ``path``/``url``/``store``, or
            ``tract=`` combined with another way to open the session, or a ``tract`` whose id is
            not ``session_id``. (A database that cannot be opened raises on first use.)

    Example:
        >>> from langchain_core.messages import AIMessage, HumanMessage
        >>> history = TractChatMessageHistory("demo")  # in memory; pass path="chat.db" to keep it
        >>> history.add_messages([HumanMessage("Hi, I'm Ada."), AIMessage("Hello Ada!")])
        >>> [m.content for m in history.messages]
        ["Hi, I'm Ada.", 'Hello Ada!']
        >>> history.clear()
        >>> history.messages
        []
        >>> [c.content for c in history.tract.log(start="cleared/1")]
        ['Hello Ada!', "Hi, I'm Ada."]
        >>> history.close()
    """

    def __init__(
        self,
        session_id: str,
        *,
        path: str | os.PathLike[str] | None = None,
        url: str | None = None,
        store: SqlStore | None = None,
        tract: Tract | None = None,
        config: TractConfig | None = None,
    ) -> None:
        super().__init__()
        session_id = session_tract_id(session_id)
        if tract is not None:
            if path is not None or url is not None or store is not None or config is not None:
                raise InvalidInputError("pass tract= alone, or path=/url=/store= (with config=) to open the session")
            if not isinstance(tract, Tract):
                raise InvalidInputError(f"tract= takes a tract_core.Tract, not a {type(tract).__name__}")
            if tract.tract_id != session_id:
                raise InvalidInputError(
                    f"the tract's id {tract.tract_id!r} is not the session id {session_id!r}; "
                    "the session id names the tract"
                )
            where = tract.store.url
        else:
            given = [name for name, value in (("path", path), ("url", url), ("store", store)) if value is not None]
            if len(given) > 1:
                raise InvalidInputError(f"pass one of path=, url= or store=, not {' and '.join(given)}")
            if store is not None and not isinstance(store, SqlStore):
                raise InvalidInputError(f"store= takes a tract_core.storage.SqlStore, not a {type(store).__name__}")
            if url is not None:
                where = display_url(url)
            else:
                where = store.url if store is not None else ("memory" if path is None else os.fspath(path))
        self.session_id = session_id
        self._open_args: dict[str, Any] = {"path": path, "url": url, "store": store, "config": config}
        self._tract: Tract | None = tract
        self._owns_tract = tract is None
        self._where = where
        self._opening = threading.Lock()

    @property
    def tract(self) -> Tract:
        """The session's tract: the full API (branch, diff, annotate, compress, log, ...).

        The first use opens the database (blocking I/O: from async code, call an async method
        first, or use ``await asyncio.to_thread(lambda: history.tract)``).
        """
        if self._tract is None:
            with self._opening:
                if self._tract is None:
                    args = self._open_args
                    self._tract = Tract.open(
                        args["path"],
                        url=args["url"],
                        store=args["store"],
                        tract_id=self.session_id,
                        config=args["config"],
                    )
        return self._tract

    def __repr__(self) -> str:
        return f"TractChatMessageHistory({self.session_id!r}, store={self._where!r})"

    # -- reading ----------------------------------------------------------------------------

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The session's compiled context as LangChain messages: a new list of new objects on every read.

        Each message is the one added (EDITs through :attr:`tract` replace its content).
        """
        return [message for _, message in self.messages_with_commits()]

    def messages_with_commits(self) -> list[tuple[str, BaseMessage]]:
        """:attr:`messages`, each with the hash of the commit that added it (an EDITed message
        keeps the hash of the message it replaces), for :attr:`tract` methods."""
        result = []
        for entry in self.tract.compile().entries():
            compiled = entry.message
            message = decode(compiled, entry.metadata, edited=entry.edited)
            if message is None:  # tract wrote it (a summary, a commit made through the tract)
                message = from_body(compiled)
                message.id = entry.commit
            result.append((entry.commit, message))
        return result

    async def aget_messages(self) -> list[BaseMessage]:
        """:attr:`messages`, read in a worker thread."""
        return await asyncio.to_thread(lambda: self.messages)

    # -- writing ----------------------------------------------------------------------------

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Commit the messages in order, as one transaction: all of them are stored, or none.

        Raises:
            InvalidInputError: Not a message, or one holding data JSON cannot represent; nothing
                of the call is stored then.
        """
        encoded = [encode(message) for message in messages]
        tract = self.tract
        with tract.batch():
            for body, content_type, metadata in encoded:
                tract.commit(body, content_type=content_type, metadata=metadata)

    def add_message(self, message: BaseMessage) -> None:
        """Commit one message (through :meth:`add_messages`)."""
        self.add_messages([message])

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """:meth:`add_messages` in a worker thread."""
        await asyncio.to_thread(self.add_messages, list(messages))

    def clear(self) -> None:
        """Start the session over, keeping the conversation so far as the branch ``cleared/<n>``.

        Nothing is deleted (tract keeps an audit trail): the current branch's history is kept
        under the next free name ``cleared/1``, ``cleared/2``, ...; the current branch then has no
        commits, like a new tract, so :attr:`messages` is ``[]`` and the next message starts a new
        line. Read the old conversation with ``tract.log(start="cleared/1")`` or
        ``tract.compile(at_commit="cleared/1")``; ``tract.list_branches()`` lists the archives.
        Clearing an empty session does nothing.

        Raises:
            InvalidInputError: HEAD is detached (after ``tract.checkout(<commit>)``); switch back
                to a branch first.
            ConcurrentUpdateError: Another writer moved the branch meanwhile; nothing was changed.
        """
        try:
            self.tract.start_over("cleared")
        except InvalidInputError as exc:
            raise InvalidInputError(f"cannot clear session {self.session_id!r}: {exc}") from exc

    async def aclear(self) -> None:
        """:meth:`clear` in a worker thread."""
        await asyncio.to_thread(self.clear)

    # -- closing ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the tract if this history opened it (a tract passed as ``tract=`` stays open)."""
        if self._owns_tract and self._tract is not None:
            self._tract.close()

    def __enter__(self) -> TractChatMessageHistory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
