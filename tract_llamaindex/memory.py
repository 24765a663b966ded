"""A LlamaIndex agent memory on tract: :class:`TractMemory`."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import threading
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import Field, PrivateAttr, field_validator, model_validator
from llama_index.core.memory.types import BaseMemory

from tract_core import InvalidInputError, Tract
from tract_core.config import token_budget_argument
from tract_core.names import session_tract_id
from tract_core.policies import AUTONOMY_LEVELS, CompressPolicy, Policy, Proposal
from tract_core.storage import SqlStore
from tract_core.tokens import REPLY_PRIMING

from .connections import check_database, database_key, database_name, open_store
from .messages import encode
from .reader import ContextView, Entry, MessageReader

__all__ = ["TractMemory"]

DEFAULT_TOKEN_BUDGET = 30_000
"""The budget of a session whose tract has none and whose memory was given none."""
_CLEARED = "cleared"
# what is not serialized but found again by a memory restored in this process, per (db, session):
# the summarising LLM and the on_proposal callback
_PROCESS_ONLY = ("llm", "on_proposal")
_remembered: dict[tuple[str, str], dict[str, Any]] = {}
_remembered_lock = threading.Lock()


def _new_session_id() -> str:
    return f"chat-{uuid.uuid4().hex}"


def _check_policies(policies: Any) -> list[Any] | None:
    """``policies`` as a list (None stays None), each meeting the :class:`~tract_core.policies.Policy`
    protocol; the tract checks the rest (unique names, triggers) when the memory opens it.

    Raises:
        InvalidInputError: Not a list of policies.
    """
    if policies is None:
        return None
    if isinstance(policies, str | bytes) or not isinstance(policies, Sequence):
        raise InvalidInputError("policies= takes a list of policies, e.g. [CompressPolicy(0.8), PinPolicy()]")
    for policy in policies:
        if not isinstance(policy, Policy):
            raise InvalidInputError(
                f"{policy!r} is not a policy: it needs name, priority, trigger and evaluate(tract) "
                "(see tract_core.policies)"
            )
    return list(policies)


def _check_autonomy(autonomy: Any) -> str | None:
    """``autonomy`` if it is None or an autonomy level.

    Raises:
        InvalidInputError: Anything else.
    """
    if autonomy is not None and autonomy not in AUTONOMY_LEVELS:
        raise InvalidInputError(f"autonomy must be 'manual', 'collaborative' or 'autonomous', not {autonomy!r}")
    return autonomy


def _check_on_proposal(on_proposal: Any) -> Any:
    """``on_proposal`` if it is None or a plain callable.

    Raises:
        InvalidInputError: Not callable, or a coroutine function (the tract calls it synchronously,
            in the thread that wrote the commit: a worker thread for the async methods).
    """
    if on_proposal is None:
        return None
    if not callable(on_proposal):
        raise InvalidInputError("on_proposal must be callable: on_proposal(proposal) -> True | False | dict | None")
    if inspect.iscoroutinefunction(on_proposal) or inspect.iscoroutinefunction(type(on_proposal).__call__):
        raise InvalidInputError(
            "on_proposal must be a plain function: the tract calls it synchronously after a write "
            "(in a worker thread for aput/aget), so an async callback would never run"
        )
    return on_proposal


class TractMemory(BaseMemory):
    """Agent memory that keeps every message as a tract commit and compresses without losing any.

    A drop-in ``BaseMemory`` for ``FunctionAgent``, ``ReActAgent`` and ``AgentWorkflow``:
    ``agent.run(user_msg, memory=TractMemory.from_defaults(path="agent.db", session_id="u42"))``.
    One session is one tract (its id is ``session_id``) in a SQLite file, a PostgreSQL database or
    a private in-memory database; every message the agent puts is a commit.

    :meth:`get` (what the agent sends to its LLM) is the session's compiled context: edits, skips
    and pins made through :attr:`tract` apply. When it passes ``token_budget`` and an ``llm`` is
    set, the older part is compressed with tract's non-destructive compression: one summary
    message, the pinned messages (system instructions) verbatim, and the recent messages that
    fit in ``recent_ratio`` of the budget, tool calls kept with their results; the originals stay
    in the store, in :meth:`get_all` and in ``tract.log``. Without an ``llm`` (or when a summary
    cannot bring it under budget) :meth:`get` sends the pinned messages and the longest recent
    tail that fits, starting at a user message, and writes nothing. Every call returns a new
    list of new messages (agents append to what they get).

    :meth:`set` and :meth:`reset` keep the old conversation as the branch ``cleared/<n>``.
    The budget is the tract's own: the memory's ``token_budget`` is saved as the session tract's
    ``TractConfig(token_budget=...)`` when the tract is opened (so ``memory.tract.status()``
    measures against it), and a memory given none uses the budget the tract already has (set by an
    earlier memory or ``Tract.open(config=TractConfig(token_budget=...))``), else
    :data:`DEFAULT_TOKEN_BUDGET`. ``token_limit`` is the deprecated name of ``token_budget``.

    The memory is always truthy, and it is plain data (``session_id``, ``token_budget``, ``db``):
    ``to_dict()``/``from_dict()`` and a workflow ``Context`` round trip reconnect it to its
    database, so a restored agent continues its conversation. The ``llm`` is not serialized; a
    memory restored in the same process finds it again, elsewhere pass it to ``from_dict(data,
    llm=...)``. Neither is a database password: ``db`` never holds one (see
    :mod:`tract_llamaindex.connections`); in another process PostgreSQL reads it from
    ``PGPASSWORD`` or ``~/.pgpass``, or pass the URL again: ``from_dict(data, db=url)``.

    Building a memory does no I/O (agents build and restore memories on the event loop): the
    database is opened on first use, by the async methods in a worker thread.

    ``policies`` (:mod:`tract_core.policies`), ``autonomy`` and ``on_proposal`` configure the
    session tract's policies when the memory opens it (``Tract.configure_policies``). They are
    stored with the tract: a memory reopened on the session (a new object, ``from_dict``, a
    workflow ``Context``, another process) runs them without being given them again, and a
    memory given ``policies`` replaces them. Commit-triggered policies run after each
    :meth:`put` / :meth:`put_messages` / :meth:`set` (once per call, after its transaction),
    compile-triggered ones in :meth:`get`; the async methods run them in their worker thread.
    Proposals are decided with :meth:`approve_proposal` / :meth:`reject_proposal` (or their
    async forms), from any memory or process on the session. A configured
    :class:`~tract_core.policies.CompressPolicy` owns compression: :meth:`get` then writes no
    summary of its own and only trims to ``token_budget`` (the final guard), so a range is never
    compressed twice and a proposal waiting for approval is not pre-empted. A CompressPolicy
    without ``llm=`` uses the memory's ``llm``.

    Attributes:
        session_id: The conversation, which is the tract id.
        token_budget: The most tokens :meth:`get` returns (tract's tokenizer); None until the
            session is opened when none was given (then the tract's, see above).
        db: The database: a SQLite path, a database URL (without its password: one given is
            kept in this process only), or a ``tract-store://`` handle of a database that lives
            in this process only (see :mod:`tract_llamaindex.connections`).
        recent_ratio: Share of ``token_budget`` kept verbatim after a compression.
        summary_tokens: Budget of a summary (default ``min(2000, token_budget // 5)``).
        llm: The model that writes summaries: a LlamaIndex LLM or anything
            :func:`tract_core.llm.as_llm` accepts (not serialized). It is also the session
            tract's ``TractConfig.llm`` (what a CompressPolicy without ``llm=`` summarises with).
        policies: Policies to configure on the session's tract when it is opened (None: keep the
            stored ones); not serialized (they are stored with the tract). The configured ones
            are ``memory.tract.policies``.
        autonomy: ``"manual"``, ``"collaborative"`` or ``"autonomous"`` (None: keep the stored
            level, ``"collaborative"`` for a new tract); stored with the tract, not serialized.
        on_proposal: Called with each new proposal, in the thread that wrote; returns True
            (approve), False (reject), a dict (approve with changes) or None (leave it pending).
            Not serialized; a memory restored in the same process finds it again.

    Example:
        >>> from llama_index.core.llms import ChatMessage
        >>> memory = TractMemory.from_defaults(session_id="demo")  # in memory; path="agent.db" keeps it
        >>> memory.put_messages([ChatMessage(role="user", content="Hi, I'm Ada."),
        ...                      ChatMessage(role="assistant", content="Hello Ada!")])
        >>> [m.content for m in memory.get()]
        ["Hi, I'm Ada.", 'Hello Ada!']
        >>> memory.tract.log(limit=1)[0].content
        'Hello Ada!'
        >>> memory.reset()
        >>> memory.get(), len(memory.tract.log(start="cleared/1"))
        ([], 2)
    """

    session_id: str = Field(default_factory=_new_session_id, min_length=1, max_length=255)
    token_budget: int | None = Field(default=None, gt=0)
    db: str = Field(default_factory=database_name)
    recent_ratio: float = Field(default=0.5, gt=0, le=1)
    summary_tokens: int | None = Field(default=None, gt=0)
    llm: Any = Field(default=None, exclude=True)
    policies: list[Any] | None = Field(default=None, exclude=True)
    autonomy: str | None = Field(default=None, exclude=True)
    on_proposal: Any = Field(default=None, exclude=True)

    _reader: MessageReader | None = PrivateAttr(default=None)
    _lock: threading.RLock = PrivateAttr(default_factory=threading.RLock)

    @field_validator("db")
    @classmethod
    def _no_password(cls, db: str) -> str:
        return database_key(db)

    @field_validator("policies", mode="before")
    @classmethod
    def _valid_policies(cls, policies: Any) -> list[Any] | None:
        return _check_policies(policies)

    @field_validator("autonomy", mode="before")
    @classmethod
    def _valid_autonomy(cls, autonomy: Any) -> str | None:
        return _check_autonomy(autonomy)

    @field_validator("on_proposal", mode="before")
    @classmethod
    def _valid_on_proposal(cls, on_proposal: Any) -> Any:
        return _check_on_proposal(on_proposal)

    @model_validator(mode="before")
    @classmethod
    def _renamed_budget(cls, data: Any) -> Any:
        """``TractMemory(token_limit=...)``: the deprecated name of ``token_budget`` (warns)."""
        if isinstance(data, dict) and "token_limit" in data:
            data = dict(data)
            # stacklevel 4: the warning points at the code calling TractMemory(...)
            old = data.pop("token_limit")
            data["token_budget"] = token_budget_argument(
                data.get("token_budget"), {"token_limit": old}, where="TractMemory", stacklevel=4
            )
        return data

    @property
    def token_limit(self) -> int | None:
        """Deprecated name of :attr:`token_budget` (warns)."""
        warnings.warn("TractMemory.token_limit is deprecated: use token_budget", DeprecationWarning, stacklevel=2)
        return self.token_budget

    def model_post_init(self, context: Any, /) -> None:
        with _remembered_lock:
            remembered = _remembered.setdefault((self.db, self.session_id), {})
            for name in _PROCESS_ONLY:
                if getattr(self, name) is not None:
                    remembered[name] = getattr(self, name)
                else:
                    setattr(self, name, remembered.get(name))

    def _open(self) -> MessageReader:
        """The session's reader, opening the database and the tract on first use (the constructor
        does no I/O: agents build and restore memories on the event loop)."""
        with self._lock:
            if self._reader is None:
                store, tract_id = open_store(self.db), session_tract_id(self.session_id)
                tract = Tract.open(store=store, tract_id=tract_id)
                budget = self.token_budget or tract.config.token_budget or DEFAULT_TOKEN_BUDGET
                # the memory's budget becomes the tract's (stored), its llm the tract's (not stored)
                if tract.config.token_budget != budget or self.llm is not None:
                    tract.close()
                    config = replace(tract.config, token_budget=budget, llm=self.llm)
                    tract = Tract.open(store=store, tract_id=tract_id, config=config)
                if self.policies is not None or self.autonomy is not None or self.on_proposal is not None:
                    try:
                        tract.configure_policies(self.policies, autonomy=self.autonomy, on_proposal=self.on_proposal)
                    except BaseException:
                        tract.close()
                        raise
                self.token_budget = budget
                self._reader = MessageReader(tract)
            return self._reader

    @classmethod
    def class_name(cls) -> str:
        return "TractMemory"

    @classmethod
    def from_defaults(
        cls,
        session_id: str | None = None,
        chat_history: Sequence[ChatMessage] | None = None,
        llm: Any = None,
        *,
        path: str | os.PathLike[str] | None = None,
        url: str | None = None,
        store: SqlStore | None = None,
        token_budget: int | None = None,
        recent_ratio: float = 0.5,
        summary_tokens: int | None = None,
        token_limit: int | None = None,
        policies: Sequence[Policy] | None = None,
        autonomy: str | None = None,
        on_proposal: Any = None,
        **kwargs: Any,
    ) -> TractMemory:
        """A memory for ``session_id`` (new id if None) in a SQLite ``path``, a database ``url``,
        an open ``store`` or a private in-memory database (none of them).

        Reopening an existing session continues it. ``chat_history`` replaces the session's
        messages (the old ones kept as a ``cleared/<n>`` branch). ``llm`` writes the summaries.
        ``token_budget`` (default: the session tract's, else :data:`DEFAULT_TOKEN_BUDGET`) becomes
        the tract's ``TractConfig`` budget; ``token_limit`` is its deprecated name (warns).
        ``policies``, ``autonomy`` and ``on_proposal`` configure the session tract's policies
        (see the class docstring); None keeps what the tract has stored.

        Raises:
            InvalidInputError: More than one of ``path``/``url``/``store``, both ``token_budget``
                and ``token_limit``, a bad message, or bad ``policies``/``autonomy``/``on_proposal``.
            ValueError: A bad ``session_id``, ``token_budget`` or ratio (pydantic validation).
        """
        if kwargs:
            raise InvalidInputError(f"unexpected arguments {sorted(kwargs)}; see TractMemory.from_defaults")
        # tract's errors themselves: inside pydantic's __init__ they would become ValidationErrors
        policies = _check_policies(policies)
        autonomy = _check_autonomy(autonomy)
        on_proposal = _check_on_proposal(on_proposal)
        # stacklevel 3: the warning points at the code calling from_defaults
        token_budget = token_budget_argument(token_budget, {"token_limit": token_limit}, where="TractMemory")
        memory = cls(
            session_id=session_id or _new_session_id(),
            token_budget=token_budget,
            db=database_name(path, url, store),
            recent_ratio=recent_ratio,
            summary_tokens=summary_tokens,
            llm=llm,
            policies=policies,
            autonomy=autonomy,
            on_proposal=on_proposal,
        )
        if chat_history is not None:
            memory.set(list(chat_history))
        return memory

    @classmethod
    def from_dict(cls, data: dict[str, Any], **kwargs: Any) -> TractMemory:
        """The memory :meth:`to_dict` described, reconnected to its database (``llm=`` as a keyword).

        Nothing is opened here (the database is opened on first use). ``db=url`` replaces the
        serialized database name, e.g. to give a password in another process.

        Raises:
            InvalidInputError: ``db`` is a ``tract-store://`` handle this process does not know
                (an in-memory database of another process) or not a database name.
        """
        db = {**data, **kwargs}.get("db")
        if db is not None:  # tract's errors themselves: inside pydantic's __init__ they would become ValidationErrors
            check_database(database_key(db))
        if "token_limit" in data and "token_budget" not in data:  # serialized before the rename: no warning
            data = {("token_budget" if k == "token_limit" else k): v for k, v in data.items()}
        return super().from_dict(data, **kwargs)

    @property
    def tract(self) -> Tract:
        """The session's tract: log, diff, branch, checkout, annotate, compress, ..."""
        return self._open().tract

    def __bool__(self) -> bool:  # agents test ``memory or default_memory``
        return True

    def __repr__(self) -> str:
        return f"TractMemory(session_id={self.session_id!r}, token_budget={self.token_budget}, db={self.db!r})"

    __str__ = __repr__

    # -- reading ----------------------------------------------------------------------------

    def get(self, input: str | None = None, initial_token_count: int = 0, **kwargs: Any) -> list[ChatMessage]:
        """The messages for the next LLM call: the compiled context within the token limit.

        Compile-triggered policies run here (compiling the context triggers them). With a
        CompressPolicy configured, no summary is written here: the policy compresses the stored
        history at its threshold, and this only trims to the budget.

        Args:
            input: Ignored (the whole conversation is the context).
            initial_token_count: Tokens the caller adds itself (a system prompt, a query); they
                come off ``token_budget``.
        """
        with self._lock:
            reader = self._open()
            limit = self._limit(reader, initial_token_count)
            view = reader.view()
            plan = self._plan(reader.tract, view, limit)
            if plan is not None:
                try:
                    reader.tract.compress(llm=self.llm, keep_recent=plan[0], target_tokens=plan[1])
                    view = reader.view()
                except InvalidInputError:
                    pass  # nothing compressible (all pinned or all recent): fall back to the window
            return reader.messages(self._fit(view, limit))

    async def aget(self, input: str | None = None, initial_token_count: int = 0, **kwargs: Any) -> list[ChatMessage]:
        """:meth:`get`, with the summary written through the LLM's async API."""

        def read() -> tuple[MessageReader, int, tuple[int, int] | None, list[ChatMessage]]:
            # one worker-thread hop when nothing is to be compressed (every turn but a few)
            reader = self._open()
            limit = self._limit(reader, initial_token_count)
            view = reader.view()
            plan = self._plan(reader.tract, view, limit)
            return reader, limit, plan, [] if plan is not None else reader.messages(self._fit(view, limit))

        reader, limit, plan, messages = await asyncio.to_thread(read)
        if plan is None:
            return messages
        # nothing compressible (all pinned or all recent): fall back to the window
        with contextlib.suppress(InvalidInputError):
            await reader.tract.acompress(llm=self.llm, keep_recent=plan[0], target_tokens=plan[1])
        return await asyncio.to_thread(lambda: reader.messages(self._fit(reader.view(), limit)))

    def get_all(self) -> list[ChatMessage]:
        """Every message of the conversation as it was put, compressed ones included."""
        with self._lock:
            return self._open().history()

    async def aget_all(self) -> list[ChatMessage]:
        """:meth:`get_all` in a worker thread."""
        return await asyncio.to_thread(self.get_all)

    # -- writing ----------------------------------------------------------------------------

    def put(self, message: ChatMessage) -> None:
        """Commit one message."""
        self.put_messages([message])

    async def aput(self, message: ChatMessage) -> None:
        """:meth:`put` in a worker thread."""
        await asyncio.to_thread(self.put_messages, [message])

    def put_messages(self, messages: list[ChatMessage]) -> None:
        """Commit the messages in order as one transaction: all of them are stored, or none.

        The session's commit-triggered policies then run once (after the transaction, seeing the
        last message as HEAD); a policy that fails never loses the messages.

        Raises:
            InvalidInputError: A message tract cannot store (e.g. a ``tool`` message without
                ``additional_kwargs["tool_call_id"]``); nothing of the call is stored.
        """
        encoded = [encode(m) for m in messages]
        with self._lock:
            self._open().commit(encoded)

    async def aput_messages(self, messages: list[ChatMessage]) -> None:
        """:meth:`put_messages` in a worker thread."""
        await asyncio.to_thread(self.put_messages, list(messages))

    def set(self, messages: list[ChatMessage]) -> None:
        """Replace the conversation with ``messages``; the old one is kept as branch ``cleared/<n>``."""
        encoded = [encode(m) for m in messages]
        with self._lock:
            reader = self._open()
            with reader.tract.batch():
                if self._same_line(reader.tract, encoded):
                    return  # agents set the history they were given each run: nothing changes
                reader.tract.start_over(_CLEARED)
                reader.commit(encoded)

    async def aset(self, messages: list[ChatMessage]) -> None:
        """:meth:`set` in a worker thread."""
        await asyncio.to_thread(self.set, list(messages))

    def reset(self) -> None:
        """Start the conversation over; the old one is kept as branch ``cleared/<n>``."""
        with self._lock:
            self._open().tract.start_over(_CLEARED)

    async def areset(self) -> None:
        """:meth:`reset` in a worker thread."""
        await asyncio.to_thread(self.reset)

    # -- policies ---------------------------------------------------------------------------

    def pending_proposals(self) -> list[Proposal]:
        """The session's proposals waiting for a decision, from any process (``Tract.pending_proposals``,
        under the memory's lock)."""
        with self._lock:
            return self._open().tract.pending_proposals()

    async def apending_proposals(self) -> list[Proposal]:
        """:meth:`pending_proposals` in a worker thread."""
        return await asyncio.to_thread(self.pending_proposals)

    def approve_proposal(self, proposal: Proposal | int, /, *, decided_by: str = "user", **changes: Any) -> Proposal:
        """Approve a pending proposal and execute it (``Tract.approve_proposal``, under the memory's
        lock): a compression writes its summary with the policy's ``llm`` or the memory's.

        Raises:
            ProposalNotFoundError: No such proposal.
            ProposalDecidedError: It was decided already (here or by another process).
            StaleProposalError: What it names left the session's history (it is now ``stale``).
            TractError: Executing it failed (the proposal is ``failed``).
        """
        with self._lock:
            return self._open().tract.approve_proposal(proposal, decided_by=decided_by, **changes)

    async def aapprove_proposal(
        self, proposal: Proposal | int, /, *, decided_by: str = "user", **changes: Any
    ) -> Proposal:
        """:meth:`approve_proposal` in a worker thread (the summary is written there, through the
        LLM's synchronous API)."""
        return await asyncio.to_thread(self.approve_proposal, proposal, decided_by=decided_by, **changes)

    def reject_proposal(
        self, proposal: Proposal | int, *, reason: str | None = None, decided_by: str = "user"
    ) -> Proposal:
        """Reject a pending proposal (``Tract.reject_proposal``, under the memory's lock).

        Raises:
            ProposalNotFoundError: No such proposal.
            ProposalDecidedError: It was decided already.
        """
        with self._lock:
            return self._open().tract.reject_proposal(proposal, reason=reason, decided_by=decided_by)

    async def areject_proposal(
        self, proposal: Proposal | int, *, reason: str | None = None, decided_by: str = "user"
    ) -> Proposal:
        """:meth:`reject_proposal` in a worker thread."""
        return await asyncio.to_thread(self.reject_proposal, proposal, reason=reason, decided_by=decided_by)

    def close(self) -> None:
        """Release the tract (the shared database stays open for other sessions)."""
        with self._lock:
            if self._reader is not None:
                self._reader.tract.close()

    # -- budget -----------------------------------------------------------------------------

    @staticmethod
    def _limit(reader: MessageReader, initial_token_count: int) -> int:
        """What :meth:`get` may return: the tract's budget minus what the caller adds itself."""
        if isinstance(initial_token_count, bool) or not isinstance(initial_token_count, int) or initial_token_count < 0:
            raise InvalidInputError(f"initial_token_count must be a non-negative int, not {initial_token_count!r}")
        budget = reader.tract.config.token_budget or DEFAULT_TOKEN_BUDGET
        if initial_token_count >= budget:
            raise InvalidInputError(
                f"initial_token_count ({initial_token_count}) leaves nothing of token_budget ({budget})"
            )
        return budget - initial_token_count

    def _plan(self, tract: Tract, view: ContextView, limit: int) -> tuple[int, int] | None:
        """The ``(keep_recent, target_tokens)`` of a compression that brings ``view`` under
        ``limit``; None when it is under, there is no llm, a CompressPolicy owns compression, or
        everything would be kept."""
        if view.tokens <= limit or self.llm is None:
            return None
        if any(isinstance(policy, CompressPolicy) for policy in tract.policies):
            return None  # the policy compresses (or proposes to): get() only trims
        summary = self.summary_tokens or max(16, min(2000, limit // 5))
        room = int(limit * self.recent_ratio)
        keep, used = 0, 0
        for entry in reversed(view.entries):
            if not entry.pinned and used + entry.tokens > room:
                break
            used += 0 if entry.pinned else entry.tokens
            keep += 1
        entries = view.entries
        if keep >= len(entries):
            return None
        # the kept tail starts a turn (a user message), as the window does
        while keep > 1 and (entries[-keep].pinned or entries[-keep].role != "user"):
            keep -= 1
        return max(keep, 1), summary

    @staticmethod
    def _fit(view: ContextView, limit: int) -> list[Entry]:
        """The entries to send: all of them under ``limit``; else the pinned ones and the longest
        recent tail that fits, starting at a user message (at least the latest user turn)."""
        entries = view.entries
        if view.tokens <= limit:
            return list(entries)
        # counted like a compiled context (view.tokens): the messages plus the reply priming
        room = limit - REPLY_PRIMING - sum(e.tokens for e in entries if e.pinned)
        start = len(entries)
        for i in range(len(entries) - 1, -1, -1):
            if not entries[i].pinned:
                room -= entries[i].tokens
                if room < 0:
                    break
            start = i
        while start < len(entries) and entries[start].role != "user":
            start += 1
        if start == len(entries):  # not even the latest turn fits: send it anyway
            users = [i for i, e in enumerate(entries) if e.role == "user" and not e.pinned]
            start = users[-1] if users else max(len(entries) - 1, 0)
        return [e for i, e in enumerate(entries) if e.pinned or i >= start]

    @staticmethod
    def _same_line(tract: Tract, encoded: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> bool:
        """Whether the current line already holds exactly these messages (and nothing else)."""
        line = list(reversed(tract.log(limit=len(encoded) + 1)))
        if len(line) != len(encoded):
            return False
        return all(
            c.body is not None and {"role": c.role, **c.body} == body and (c.metadata or None) == metadata
            for c, (body, metadata) in zip(line, encoded, strict=True)
        )
