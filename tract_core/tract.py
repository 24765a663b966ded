"""The :class:`Tract` facade: the public API over the store, the compiler and the operations.

It holds no algorithms: each method checks its arguments, opens one unit of work of this handle
(:class:`~tract_core.checkout.HandleWork`) and delegates to the module that owns the concept
(``commits``, ``annotations``, ``compile``, ``history``, ``branches``, ``checkout``, ``merge``,
``replay``, ``compress``, ``gc``, ``agents``, ``registry``, ``status``, ``usage``, ...).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, overload

from . import display
from .annotations import coerce_priority, write_annotation, write_lifecycle
from .arguments import check_callable, check_flag, check_limit, check_mapping, check_number
from .branches import (
    ARCHIVE_PREFIX,
    RESET_MODES,
    BranchInfo,
    ResetResult,
    check_keep_as,
    create_branch,
    delete_branch,
    list_branches,
    rename_branch,
    reset_head,
    start_over,
    switch_branch,
)
from .checkout import Checkout, HandleWork, checked_out, checkout_ref
from .commits import write_commit
from .compile import Compiler
from .compress import (
    DEFAULT_KEEP_RECENT,
    CompressionPlan,
    CompressionResult,
    PendingCompression,
    adraft_summary,
    apply_compression,
    approve_pending,
    archive_range,
    compression_id,
    draft_summary,
    list_pending,
    plan_compression,
    reject_pending,
    store_pending,
    summary_llm,
)
from .config import TractConfig
from .diff import ContextDiff, diff_contexts
from .errors import InvalidInputError, TemporalAddressError, TractClosedError, shown
from .events import EventInfo, check_event, drain_pending, push_event, read_pending
from .formats import CompiledContext
from .gc import GCResult, check_vacuum, collect_garbage, reclaim_space
from .history import commit_info, in_history, read_reflog, show_commit, verify_objects, walk_log
from .merge import MergeResult, PendingMerge, Resolver, apply_merge, check_strategy, plan_merge, resolve_conflicts
from .messages import check_role
from .objects import ContentType, Operation, canonical_json, check_text
from .policies.engine import OnProposal, PolicyEngine, check_decider, entry_paused
from .policies.policy import Policy
from .policies.proposal import PROPOSAL_STATUSES, PolicyLogEntry, Proposal
from .query import run_config_query
from .records import AnnotationInfo, CommitInfo, CommitLog, LifecycleInfo, ReflogEntry, TractStatus, VerifyReport
from .refs import DEFAULT_BRANCH, HEAD, Ref, check_branch_name, check_ref, resolve
from .registry import attach_tract, check_tract_id, list_tract_ids
from .replay import ReplayResult, cherry_pick, rebase
from .status import read_status
from .store.base import CompressionEntry, PolicyConfigEntry, Session
from .store.sql import SqlStore
from .streaming import ReplyStream
from .summarize import SummaryDraft, check_prompt, check_target_tokens
from .tokens import TiktokenCounter, TokenCounter
from .tree.diff import diff_snapshots
from .tree.lifecycle import Lifecycle, Sticky, coerce_lifecycle
from .tree.selectors import Selection, SelectionSeries
from .tree.snapshot import Snapshot
from .tree.taking import check_snapshot_at, take_snapshots
from .usage import Usage, normalize_usage, store_usage

if TYPE_CHECKING:
    from .components.mounts import Mounted, Mounts, ScaffoldInfo
    from .components.scaffold import Scaffold
    from .orchestrator import HealthReport, Orchestrator, OrchestratorConfig, OrchestratorRun

# The agent toolkit, the scaffolds (live components), the orchestrator and the sub-agents are imported
# by the methods that use them: opening a tract to read it (`tract log`) loads none of them, nor pydantic.

__all__ = ["Tract", "DEFAULT_TRACT_ID"]

DEFAULT_TRACT_ID = "default"
_STICKY = Sticky()
"""The tract opened when no ``tract_id`` is given."""
_TOOL_PREFIX = "context_"
"""The default ``prefix`` of the toolkit's tools: ``tract_core.toolkit.dispatch.DEFAULT_PREFIX``, written
out so that importing this module loads no toolkit (tests/core/test_cli_startup.py checks they agree)."""


class Tract:
    """Version control for what an LLM sees: one line of work in a tract store.

    Open one with :meth:`open`. Every message is an immutable, content-addressed commit;
    :meth:`compile` turns HEAD's history into the message list for the next LLM call.

    Example:
        >>> from tract_core import Tract
        >>> with Tract.open() as t:
        ...     _ = t.system("You are a concise assistant.")
        ...     _ = t.user("What is 2 + 2?")
        ...     t.compile().to_openai()[-1]
        {'role': 'user', 'content': 'What is 2 + 2?'}
    """

    def __init__(
        self, store: SqlStore, tract_id: str, config: TractConfig, *, owns_store: bool, start: Checkout | None = None
    ) -> None:
        self.store = store
        self.tract_id = tract_id
        self.config = config
        self.counter: TokenCounter = config.token_counter or TiktokenCounter(model=config.model)
        self._compiler = Compiler(tract_id, self.counter)
        self._work = HandleWork(store, tract_id, self._compiler.clear, start)  # this handle's own HEAD
        self._owns_store = owns_store
        self._closed = False
        self._policies = PolicyEngine(self, self._reading, self._writing, self._work.snapshot)
        self._ancestry: tuple[str, frozenset[str]] | None = None  # HEAD's ancestors, for contains()
        self._tool_calls = threading.RLock()
        self._making = threading.Lock()  # makes the two below once, on first use
        self._made_orchestrator: Orchestrator | None = None
        self._made_scaffolds: Mounts | None = None

    @property
    def _orchestrator(self) -> Orchestrator:
        """This handle's orchestrator, made (and its module and the toolkit imported) on first use."""
        if self._made_orchestrator is None:
            with self._making:
                if self._made_orchestrator is None:
                    from .orchestrator import Orchestrator

                    made = Orchestrator(self, self._policies, self._reading, self._writing, self._head_context)
                    self._made_orchestrator = made
        return self._made_orchestrator

    @property
    def _scaffolds(self) -> Mounts:
        """This handle's live components (DESIGN §16), made (and their modules imported) on first use."""
        if self._made_scaffolds is None:
            with self._making:
                if self._made_scaffolds is None:
                    from .components.mounts import Mounts

                    self._made_scaffolds = Mounts(self, self._tool_calls)
        return self._made_scaffolds

    def _orchestrator_configured(self) -> bool:
        """Whether an orchestrator is configured on this handle (without making one)."""
        made = self._made_orchestrator
        return made is not None and made.configured

    def _after_commit(self, config_row: PolicyConfigEntry | None) -> None:
        """Run what watches this handle's commits (policies, the orchestrator) after one landed."""
        self._policies.after("commit", entry_paused(config_row))
        if self._made_orchestrator is not None:
            self._made_orchestrator.after_commit(config_row)

    # -- opening and closing ---------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        url: str | None = None,
        tract_id: str = DEFAULT_TRACT_ID,
        config: TractConfig | None = None,
        create: bool = True,
        durability: str = "normal",
        store: SqlStore | None = None,
        policies: bool = True,
    ) -> Tract:
        """Open (or create) a tract.

        Args:
            path: A SQLite file. Reopen later with the same call to continue.
            url: A database URL instead, e.g. ``postgresql+psycopg://user:pw@host/db``.
            tract_id: Which tract of the database (one database holds many).
            config: Budget and model. Saved with the tract; omitted, the saved one is used.
            create: Create the database and tract if missing (False: raise instead).
            durability: SQLite ``"normal"`` (default) or ``"full"`` (fsync every commit).
            store: An already open store to share (then ``path``/``url`` must be omitted).
            policies: Restore and run the tract's stored policies on this handle (False: an
                inspection handle that runs none; the stored configuration is untouched).

        With no ``path``, ``url`` or ``store`` the tract lives in a private in-memory database.

        Raises:
            TractNotFoundError: ``create`` is False and the tract does not exist.
            DatabaseNotFoundError: The database is missing or unreachable.
            SchemaVersionError: The database was written by a newer tract.
        """
        tract_id = check_tract_id(tract_id)
        check_flag(create, "create")
        check_flag(policies, "policies")
        if config is not None and not isinstance(config, TractConfig):
            raise InvalidInputError("config must be a TractConfig")
        if store is not None and not isinstance(store, SqlStore):
            raise InvalidInputError(f"store must be a tract_core.store.SqlStore, not {type(store).__name__}")
        owns = store is None
        if store is None:
            store = SqlStore(path=path, url=url, create=create, durability=durability)
        elif path is not None or url is not None:
            raise InvalidInputError("pass store= or path=/url=, not both")
        try:
            resolved, start = attach_tract(store, tract_id, config, create)
        except BaseException:
            if owns:
                store.close()
            raise
        tract = cls(store, tract_id, resolved, owns_store=owns, start=start)
        if policies:
            with tract._reading() as session:
                stored = session.policies.config(tract_id)
            if stored is not None:
                tract._policies.restore(stored.config_json)
                if stored.orchestrator_json:
                    tract._orchestrator.restore(stored.orchestrator_json)
        return tract

    @staticmethod
    def list_tracts(path: str | os.PathLike[str] | None = None, *, url: str | None = None) -> list[str]:
        """The ids of the tracts in a database (which must exist)."""
        return list_tract_ids(path, url=url)

    def close(self) -> None:
        """Release the database (if this tract opened it). Safe to call twice."""
        if not self._closed:
            self._closed = True
            if self._owns_store:
                self.store.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called on this handle."""
        return self._closed

    def __enter__(self) -> Tract:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Tract({self.tract_id!r}, store={self.store.url!r})"

    def _repr_html_(self) -> str:
        """The notebook view: name, branch, HEAD, message count, budget bar and the branch graph."""
        return display.tract_html(self)

    def __rich__(self) -> Any:
        """The terminal view (``rich.print(t)``)."""
        return display.tract_rich(self)

    def graph_svg(self, limit: int = 30) -> str:
        """The commit graph of HEAD and every branch as an SVG drawing (for a notebook, a web page or a file).

        Each commit is a dot in its lane with lines to its parents, then its short hash, the refs
        pointing at it and a preview of its message; what it shows is text, escaped.

        Example:
            >>> from tract_core import Tract
            >>> with Tract.open() as t:
            ...     _ = t.user("Hi")
            ...     _ = t.branch("draft", switch=True)
            ...     _ = t.assistant("Hello")
            ...     svg = t.graph_svg()
            >>> svg.startswith("<svg") and "HEAD -&gt; draft" in svg
            True

        Args:
            limit: The newest commits drawn of HEAD's history and of each branch's (at least 1).

        Raises:
            InvalidInputError: ``limit`` is not a positive whole number.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInputError(f"limit must be a positive number of commits, not {shown(limit)}")
        return display.tract_graph_svg(self, limit)

    # -- units of work ----------------------------------------------------------------------

    def _reading(self) -> AbstractContextManager[Session]:
        """A read-only unit of work as this handle sees it (its HEAD)."""
        return self._work.reading()

    def _writing(self) -> AbstractContextManager[Session]:
        """A write transaction as this handle sees it (its HEAD)."""
        return self._work.writing()

    @contextmanager
    def batch(self) -> Iterator[Tract]:
        """Group commits so they land together or not at all.

        Everything done inside the block through this tract, and through any other tract on the
        same store, is one transaction: if the block raises (or the process dies), none of it is
        stored. Batches nest (the outer one decides).
        """
        with self._work.batch():
            yield self

    # -- writing ----------------------------------------------------------------------------

    def commit(
        self,
        message: Any,
        *,
        role: str | None = None,
        content_type: str | None = None,
        operation: Operation | str = Operation.APPEND,
        response_to: Ref = None,
        generation_config: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        commit_message: str | None = None,
        lifecycle: Lifecycle | Mapping[str, Any] | None = None,
        key: str | None = None,
        attach_to: Ref = None,
        offset: int | None = None,
        at: tuple[int, int, int] | None = None,
    ) -> CommitInfo:
        """Commit a message to the checked-out branch.

        Args:
            message: An OpenAI-style dict, a string (with ``role=``), or a LangChain /
                LlamaIndex message object.
            role: The role of a string message (``system``, ``developer``, ``user``,
                ``assistant``, ``tool``).
            content_type: Override the content type (default from the role, e.g. ``instruction``
                for system messages, which are PINNED by default).
            operation: ``APPEND`` (default) or ``EDIT``.
            response_to: For an EDIT, the commit whose message this replaces.
            generation_config: Settings of the model call that produced the message.
            metadata: Any JSON data to keep with the commit (hashed with it).
            commit_message: A note describing the commit.
            lifecycle: When the message is shown, cycle by cycle: a
                :class:`~tract_core.tree.Lifecycle` (``Temporary(2)``, ``Cyclic(3, 1)``,
                ``Sticky()``, ...) or a dict of its fields; hashed with the commit. None: always.
            key: A node key (``"weather:NYC"``): compile shows only the newest message with a key;
                history keeps every one. Hashed with the commit.
            attach_to: Show the message right before (``offset`` < 0: pre-context) or after
                (``offset`` > 0: post-context) this message, every cycle (see
                :mod:`tract_core.tree.placement`). Hashed with the commit.
            offset: With ``attach_to``: where, and the order among the message's attached nodes.
            at: Instead of ``attach_to``/``offset``: ``(depth, index, offset)``, the coordinates of
                the message to attach to in the current context (``tract tree`` shows them) and the offset.

        Returns:
            The new commit's record.

        Raises:
            InvalidRoleError: The role is missing or unknown.
            EditTargetError: An EDIT names no message of the current history.
            InvalidInputError: The message or its metadata cannot be stored.
        """
        check_ref(response_to)
        check_ref(attach_to)
        with self._writing() as session:
            stored, blob, tokens = write_commit(
                session,
                self._compiler,
                self.tract_id,
                message,
                role=role,
                content_type=content_type,
                operation=operation,
                response_to=response_to,
                generation_config=generation_config,
                metadata=metadata,
                commit_message=commit_message,
                lifecycle=lifecycle,
                key=key,
                attach_to=attach_to,
                offset=offset,
                at=at,
            )
            watched = bool(self._policies.policies) or self._orchestrator_configured()
            config_row = session.policies.config(self.tract_id) if watched else None
        self._compiler.remember(stored, blob, tokens)
        info = commit_info(stored, blob, tokens)
        if watched:
            self._after_commit(config_row)
        return info

    def system(self, content: Any, **kwargs: Any) -> CommitInfo:
        """Commit a system message (an instruction, PINNED by default)."""
        return self.commit(content, role="system", **kwargs)

    def user(self, content: Any, **kwargs: Any) -> CommitInfo:
        """Commit a user message."""
        return self.commit(content, role="user", **kwargs)

    def assistant(
        self, content: Any = None, *, tool_calls: list[dict[str, Any]] | None = None, **kwargs: Any
    ) -> CommitInfo:
        """Commit an assistant message, optionally with OpenAI-style ``tool_calls``."""
        if tool_calls is None:
            return self.commit(content, role="assistant", **kwargs)
        return self.commit({"role": "assistant", "content": content, "tool_calls": tool_calls}, **kwargs)

    def tool_result(self, tool_call_id: str, content: Any, *, name: str | None = None, **kwargs: Any) -> CommitInfo:
        """Commit the result of a tool call (role ``tool``)."""
        message: dict[str, Any] = {"role": "tool", "tool_call_id": tool_call_id, "content": content}
        if name is not None:
            message["name"] = name
        return self.commit(message, **kwargs)

    def stream(
        self,
        generation_config: dict[str, Any] | None = None,
        *,
        role: str = "assistant",
        metadata: dict[str, Any] | None = None,
        retry: Ref | bool = None,
    ) -> ReplyStream:
        """Commit a streamed reply: ``with t.stream(generation_config=...) as s:`` then ``s.feed(chunk)``
        or ``for chunk in s.wrap(stream):`` (see :mod:`tract_core.streaming`).

        Chunks from OpenAI, Anthropic, LangChain and LlamaIndex streams (or plain strings) accumulate in
        memory. When the block ends, one commit holds the whole message, the generation config and the
        provider's usage (``s.commit``), as a non-streamed reply would. If the block raises (or is
        cancelled), what arrived is committed with metadata ``{"partial": True, "error": "<type>"}`` and
        the exception propagates.

        Args:
            generation_config: Settings of the model call, stored with the commit.
            role: The message's role.
            metadata: JSON data to keep with the commit.
            retry: ``True``: EDIT the partial reply at HEAD, if HEAD is one (else append); a commit: EDIT
                that reply. The EDIT is flagged partial only if this stream is interrupted too.

        Raises:
            InvalidInputError: A bad argument (nothing is written).
            CommitNotFoundError: ``retry`` names no commit (raised when the block is entered).
            EditTargetError: ``retry`` names a message HEAD cannot reach or of another role (raised when
                the block is entered, before the model is called).
        """
        return ReplyStream(self, generation_config, role=role, metadata=metadata, retry=retry)

    def astream(
        self,
        generation_config: dict[str, Any] | None = None,
        *,
        role: str = "assistant",
        metadata: dict[str, Any] | None = None,
        retry: Ref | bool = None,
    ) -> ReplyStream:
        """:meth:`stream` for ``async with``: entering and committing run in a worker thread, so the event
        loop never waits on the database; ``asyncio.CancelledError`` commits the partial reply too."""
        return ReplyStream(self, generation_config, role=role, metadata=metadata, retry=retry)

    # -- events (reactive context) ------------------------------------------------------------

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise TractClosedError(
                f"cannot {what}: this handle on tract {self.tract_id!r} was closed; open it again with Tract.open(...)"
            )

    def push(
        self,
        payload: Any,
        *,
        source: str | None = None,
        key: str | None = None,
        lifecycle: Lifecycle | Mapping[str, Any] | None = None,
        role: str = "user",
        metadata: dict[str, Any] | None = None,
    ) -> EventInfo:
        """Queue an event for the model: durable at once, materialised by the next :meth:`drain_events`.

        Callable from any thread or process (each push is its own small transaction); events of a
        tract are numbered in the order their pushes commit, and drained in that order. A push
        never touches HEAD or the history. The message an event becomes is described in
        :mod:`tract_core.events` (a ``user`` message ``"[event from <source>] <payload>"``, content
        type ``event``, metadata ``{"event": {"id", "source"}}``).

        Args:
            payload: What happened: a string, or any JSON value (written as compact JSON).
            source: Who says so (``"ci"``, ``"webhook:github"``), shown in the message.
            key: The message's node key: a newer event with the same key replaces it in what
                compile shows (``key="build:arm64"``).
            lifecycle: The message's lifecycle (``Temporary(2)``: shown for two cycles).
            role: ``"user"`` (default) or ``"system"``.
            metadata: JSON data for the message's metadata (the key ``"event"`` is tract's).

        Returns:
            The queued event (``pending``).

        Raises:
            InvalidInputError: A payload that is None or not JSON, a bad key, lifecycle, role,
                source or metadata; nothing is written.
            TractClosedError: This handle was closed.
        """
        self._check_open("push an event")
        checked = check_event(payload, source=source, key=key, lifecycle=lifecycle, role=role, metadata=metadata)
        with self._writing() as session:
            return push_event(session, self.tract_id, checked)

    def pending_events(self, limit: int | None = None) -> list[EventInfo]:
        """The events pushed to this tract and not drained yet, oldest first (``limit``: the first N)."""
        self._check_open("read events")
        check_limit(limit)
        with self._reading() as session:
            return read_pending(session, self.tract_id, limit)

    def drain_events(self, limit: int | None = None) -> list[EventInfo]:
        """Commit the pending events, oldest first, as messages on the branch this handle has
        checked out; return them (each with its ``commit``).

        One transaction writes the commits, moves the branch and marks the events consumed: if it
        fails, nothing is. Two drains at once (threads or processes) never commit an event twice:
        the second waits for the first and finds nothing left. ``compile()`` never drains (it does
        not write); call this, or use a framework adapter's events node, before each model call.

        Args:
            limit: Drain at most this many (the oldest); None: all.

        Raises:
            TractClosedError: This handle was closed.
        """
        self._check_open("drain events")
        check_limit(limit)
        with self._reading() as session:  # the usual case, nothing queued, takes no write lock
            if session.events.count_pending(self.tract_id) == 0:
                return []
        with self._writing() as session:
            drained, written = drain_pending(session, self._compiler, self.tract_id, limit)
            watched = bool(drained) and (bool(self._policies.policies) or self._orchestrator_configured())
            config_row = session.policies.config(self.tract_id) if watched else None
        for stored, blob, tokens in written:
            self._compiler.remember(stored, blob, tokens)
        if watched:
            self._after_commit(config_row)
        return drained

    @overload
    def annotate(self, target: Selection, priority: Any, *, reason: str | None = None) -> list[AnnotationInfo]: ...
    @overload
    def annotate(self, target: Ref, priority: Any, *, reason: str | None = None) -> AnnotationInfo: ...

    def annotate(self, target: Any, priority: Any, *, reason: str | None = None) -> Any:
        """Give a message a priority: ``PINNED`` (protect), ``SKIP`` (hide) or ``NORMAL``.

        The annotation is kept as an append-only record (see :meth:`show`) and applies from the
        current HEAD onwards: ``compile(at_commit=<older commit>)`` still shows what the model saw
        then. ``target`` may be a :class:`~tract_core.tree.Selection` (``t.select(...)``): every node
        of it is annotated in one transaction (all or none), and the records are returned in order.
        """
        if isinstance(target, (Selection, SelectionSeries)):
            return self._for_selection(target, lambda ref: self.annotate(ref, priority, reason=reason))
        check_ref(target)
        coerce_priority(priority)
        if reason is not None:
            check_text(reason, "reason")
        with self._writing() as session:
            info = write_annotation(session, self._compiler, self.tract_id, target, priority, reason)
        return info

    def _for_selection(self, selection: Selection | SelectionSeries, apply: Any) -> list[Any]:
        """Apply a one-message operation to every node of a selection, in one transaction."""
        if isinstance(selection, SelectionSeries):
            raise InvalidInputError(
                f"{selection.at!r} gave one selection per snapshot; pass one of them (series[-1] is the newest)"
            )
        with self.batch():
            return [apply(node.id) for node in selection.nodes]

    @overload
    def set_lifecycle(self, target: Selection, lifecycle: Any, *, reason: str | None = None) -> list[LifecycleInfo]: ...
    @overload
    def set_lifecycle(self, target: Ref, lifecycle: Any, *, reason: str | None = None) -> LifecycleInfo: ...

    def set_lifecycle(self, target: Any, lifecycle: Any, *, reason: str | None = None) -> Any:
        """Change a message's lifecycle from now on: an append-only row anchored at HEAD, like :meth:`annotate`.

        The change applies to HEAD's compile and to everything built on it, not to branches that already
        went on from HEAD, and ``compile(at_commit=<older commit>)`` is unchanged. The new lifecycle's ages
        count from the current cycle: ``Temporary(2)`` means this cycle and 2 more from now. A message that
        had already expired is shown again if the new lifecycle says so; None (or ``Permanent()``) makes
        it permanent. An EDIT names the message it edits. Node keys are unaffected.

        Args:
            target: The message (its APPEND commit or an EDIT of it; a hash, prefix, ref or CommitInfo), or a
                :class:`~tract_core.tree.Selection`: each of its nodes, in one transaction (a list is returned).
            lifecycle: A :class:`~tract_core.tree.Lifecycle`, a dict of its fields, or None.
            reason: Why, kept with the change (see ``show(target).lifecycle_changes``).

        Returns:
            The recorded change.

        Raises:
            InvalidInputError: A bad lifecycle or reason (nothing is written).
            CommitNotFoundError: An unknown target, or one HEAD cannot reach.
        """
        if isinstance(target, (Selection, SelectionSeries)):
            return self._for_selection(target, lambda ref: self.set_lifecycle(ref, lifecycle, reason=reason))
        check_ref(target)
        coerce_lifecycle(lifecycle)
        if reason is not None:
            check_text(reason, "reason")
        with self._writing() as session:
            info = write_lifecycle(session, self._compiler, self.tract_id, target, lifecycle, reason)
        return info

    def record_usage(self, usage: Any = None, *, commit: Ref = None, **numbers: int) -> Usage:
        """Store the token usage an LLM provider reported, beside a commit (HEAD by default).

        Accepts OpenAI, Anthropic and LangChain ``usage_metadata`` shapes (dicts or SDK objects,
        whole responses or messages that carry usage) or keyword integers such as
        ``record_usage(prompt_tokens=812, completion_tokens=96)``.
        """
        normalized = normalize_usage(usage, **numbers)
        check_ref(commit)
        with self._writing() as session:
            store_usage(session, self.tract_id, commit, normalized)
        return normalized

    def checkout(self, ref: Ref) -> CommitInfo:
        """Move HEAD: to a branch (attached) or to any commit (detached, e.g. to inspect the past).

        ``checkout("main")`` goes back to the branch. Commits made while detached move only HEAD.
        """
        check_ref(ref)
        with self._writing() as session:
            return checkout_ref(session, self._compiler, self.tract_id, ref)

    # -- reading ----------------------------------------------------------------------------

    def compile(self, *, at_commit: Ref = None) -> CompiledContext:
        """The message list for the next LLM call, compiled from HEAD (or from ``at_commit``).

        ``at_commit`` reconstructs exactly what the model was given at that point, without moving
        HEAD. The result is immutable; its ``messages`` are fresh copies on every access.
        """
        check_ref(at_commit)
        compiled = self._compile(at_commit)
        if at_commit is None and self._policies.after("compile"):
            compiled = self._compile(None)  # a compile policy changed the context: show the result
        return compiled

    def _head_context(self) -> CompiledContext:
        """HEAD's compiled context without running compile policies (for the orchestrator)."""
        return self._compile(None)

    def _compile(self, at_commit: Ref) -> CompiledContext:
        memo = self._work.snapshot_memo() if at_commit is None else None
        if memo is not None and "compile" in memo:  # a policy pass: HEAD's context cannot change in it
            return memo["compile"]
        with self._reading() as session:
            head, marker = session.refs.head_with_marker(self.tract_id)
            target = head.commit if at_commit is None else resolve(session, self.tract_id, at_commit, head=head)
            compiled = self._compiler.compile(session, target, marker)
        if memo is not None:
            memo["compile"] = compiled
        return compiled

    def status(self) -> TractStatus:
        """Token count against the budget, HEAD and branch, and the provider's last usage."""
        with self._reading() as session:
            return read_status(session, self._compiler, self.tract_id, self.config.token_budget)

    def log(self, limit: int | None = 20, *, start: Ref = HEAD) -> CommitLog:
        """Commits of HEAD's history (or ``start``'s), newest first.

        A :class:`~tract_core.CommitLog`: a list of :class:`~tract_core.CommitInfo` that a notebook
        shows as a table (with the branch graph when the commits fork or merge).
        """
        check_limit(limit)
        check_ref(start)
        with self._reading() as session:
            head = session.refs.head(self.tract_id)
            if start == HEAD and head.commit is None:
                return CommitLog(tract=self)
            first = resolve(session, self.tract_id, start, head=head)
            return CommitLog(walk_log(session, self._compiler, self.tract_id, first, limit), tract=self)

    def show(self, ref: Ref = HEAD) -> CommitInfo:
        """One commit in full: content, config, usage and the annotation history of its message."""
        check_ref(ref)
        with self._reading() as session:
            return show_commit(session, self._compiler, self.tract_id, resolve(session, self.tract_id, ref))

    @overload
    def diff(self, a: Ref, b: Ref = ..., *, format: None = None) -> ContextDiff: ...
    @overload
    def diff(self, a: Ref, b: Ref = ..., *, format: str) -> ContextDiff | dict[str, Any]: ...

    def diff(self, a: Ref, b: Ref = HEAD, *, format: str | None = None) -> ContextDiff | dict[str, Any]:
        """Compare the compiled contexts of two commits (or temporal addresses like ``@t-2``).

        Args:
            a: The earlier commit.
            b: The later commit (default: HEAD).
            format: None: a :class:`~tract_core.ContextDiff`, message by message with text diffs.
                ``"pact"``: PACT's ``{"added": [ids], "removed": [ids], "changed": [{"id", "fields"}]}``
                of the two snapshots (see :func:`tract_core.tree.diff_snapshots`).

        Raises:
            InvalidInputError: An unknown ``format``, or a malformed ref.
        """
        if format not in (None, "pact"):
            raise InvalidInputError(f"unknown diff format {shown(format)}; use None (a ContextDiff) or 'pact'")
        check_ref(a)
        check_ref(b)
        if format == "pact":
            return diff_snapshots(self._snapshot(a), self._snapshot(b))
        return diff_contexts(self.compile(at_commit=a), self.compile(at_commit=b))

    def snapshot(self, at: Ref = "@t0") -> Snapshot | list[Snapshot]:
        """The context tree at a point of history: regions, coordinates and nodes, with canonical bytes.

        Args:
            at: ``"@t0"`` (HEAD's context, the default; None too), ``"@t-k"`` (what the model was sent
                k cycles ago), any commit name; or a range ``"@t-a..@t-b"`` or ``"@history"`` (every cycle).

        Returns:
            A :class:`~tract_core.tree.Snapshot`; for a range or ``@history``, a list of them, oldest first.

        Raises:
            TemporalAddressError: A malformed address, or one back past the first cycle (the message
                says how many cycles exist).
        """
        at = "@t0" if at is None else at  # as compile(at_commit=None): HEAD's context
        several = check_snapshot_at(at)
        with self._reading() as session:
            taken = take_snapshots(session, self._compiler, self.tract_id, at)
        return taken if several else taken[0]

    def select(self, query: str, at: Ref = None) -> Selection | SelectionSeries:
        """The nodes of the context tree a selector query picks (docs/selectors.md).

        Args:
            query: A selector such as ``"^seq .tool_result(d11..d*)"`` (tool results more than 10
                cycles old); it may start with a temporal address (``"@t-3 .user"``, ``"@history .user"``).
            at: Where to look when the query has no temporal prefix: ``"@t0"`` (None, the default),
                ``"@t-k"``, a range, ``"@history"`` or any commit name.

        Returns:
            A :class:`~tract_core.tree.Selection` (the nodes, in context order); for a range or
            ``@history``, a :class:`~tract_core.tree.SelectionSeries` (a selection per snapshot and their diffs).

        Raises:
            SelectorSyntaxError: A malformed query (column, caret and what was expected), before any read.
            TemporalAddressError: A bad address, one back past the first cycle, or when given twice.
        """
        from .tree.selectors.engine import select_in

        with self._reading() as session:
            return select_in(session, self._compiler, self.tract_id, query, at)

    def _snapshot(self, at: Ref) -> Snapshot:
        """The one snapshot ``at`` names (a range is refused before any read)."""
        if check_snapshot_at(at):
            raise TemporalAddressError(f"{shown(at)} names several contexts; name one commit or @t-K")
        with self._reading() as session:
            return take_snapshots(session, self._compiler, self.tract_id, at)[0]

    def reflog(self, limit: int | None = None, *, ref: str | None = None) -> list[ReflogEntry]:
        """Every recorded move of HEAD and the branches, newest first."""
        check_limit(limit)
        if ref is not None:
            check_text(ref, "ref", control=True)
        with self._reading() as session:
            return read_reflog(session, self.tract_id, ref, limit)

    # -- branches and history surgery -------------------------------------------------------

    def branch(self, name: str, from_: Ref = None, *, switch: bool = False) -> BranchInfo:
        """Create a branch at HEAD (or at ``from_``); O(1) whatever the history size.

        Args:
            name: Letters, digits, ``._/-``.
            from_: Where it starts (any commit reference; default HEAD).
            switch: Also attach HEAD to it.

        Raises:
            BranchExistsError: The name is taken.
        """
        check_branch_name(name)
        check_ref(from_)
        check_flag(switch, "switch")
        with self._writing() as session:
            return create_branch(session, self.tract_id, name, from_, switch=switch)

    def switch(self, name: str) -> BranchInfo:
        """Attach HEAD to an existing branch (``checkout`` also takes commits)."""
        check_text(name, "branch name", control=True)
        with self._writing() as session:
            return switch_branch(session, self.tract_id, name)

    def list_branches(self, *, include_archived: bool = False) -> list[BranchInfo]:
        """Every branch, sorted by name; ``current`` marks the one HEAD is on.

        Archived branches (``archive/<name>``, see :meth:`archive_branch`) are left out unless
        ``include_archived`` is True.
        """
        check_flag(include_archived, "include_archived")
        with self._reading() as session:
            return list_branches(session, self.tract_id, include_archived=include_archived)

    def archive_branch(self, name: str) -> BranchInfo:
        """Move a branch out of sight: it becomes ``archive/<name>``, hidden from :meth:`list_branches`,
        kept by gc, and back with :meth:`restore_branch`. ArchivePolicy does this to idle branches.

        Raises:
            BranchNotFoundError: No such branch.
            BranchExistsError: ``archive/<name>`` exists already (restore or delete it first).
            InvalidInputError: It is the current branch, or already archived.
        """
        check_text(name, "branch name", control=True)
        if name.startswith(ARCHIVE_PREFIX):
            raise InvalidInputError(f"{name!r} is archived already; restore_branch({name!r}) brings it back")
        with self._writing() as session:
            return rename_branch(session, self.tract_id, name, ARCHIVE_PREFIX + name, "archive")

    def restore_branch(self, name: str) -> BranchInfo:
        """Bring an archived branch back under its own name (``name`` with or without ``archive/``).

        Raises:
            BranchNotFoundError: No archived branch of that name.
            BranchExistsError: A branch already has the name it would get back.
        """
        check_text(name, "branch name", control=True)
        archived = name if name.startswith(ARCHIVE_PREFIX) else ARCHIVE_PREFIX + name
        with self._writing() as session:
            return rename_branch(session, self.tract_id, archived, archived[len(ARCHIVE_PREFIX) :], "restore")

    def contains(self, ref: Ref) -> bool:
        """Whether a commit is in the history of this handle's HEAD (False for unknown commits)."""
        check_ref(ref)
        with self._reading() as session:
            found, self._ancestry = in_history(session, self.tract_id, ref, self._ancestry)
        return found

    def delete_branch(self, name: str, *, force: bool = False) -> BranchInfo:
        """Delete a branch. Refused if it is current, or (unless ``force``) if only it reaches some commits."""
        check_text(name, "branch name", control=True)
        check_flag(force, "force")
        with self._writing() as session:
            return delete_branch(session, self.tract_id, name, force=force)

    def merge(
        self,
        source: Ref,
        *,
        strategy: str = "auto",
        resolutions: dict[Any, Any] | None = None,
        resolver: Resolver | None = None,
        auto_commit: bool = True,
    ) -> MergeResult | PendingMerge:
        """Merge a branch (or any commit) into HEAD.

        Fast-forwards when possible; otherwise writes a merge commit whose compiled context is ours,
        then theirs since the merge base. Messages both sides EDITed (or annotated) differently are
        conflicts: give ``resolutions={target: content_or_priority}``, a ``resolver`` callback (such
        as :class:`~tract_core.merge.LLMResolver`), or ``strategy="ours"``/``"theirs"``; otherwise
        :class:`~tract_core.errors.MergeConflict` lists them. Resolvers run without holding any
        database lock; if the branch moves meanwhile the merge raises ``ConcurrentUpdateError``.

        Args:
            source: The branch or commit to merge.
            strategy: ``auto``, ``no-ff``, ``ff-only``, ``ours`` or ``theirs``.
            resolutions: Resolutions by conflicting message (hash, prefix or CommitInfo).
            resolver: Called with each unresolved :class:`~tract_core.merge.Conflict`.
            auto_commit: False returns a :class:`~tract_core.merge.PendingMerge` to review and commit.
        """
        check_ref(source)
        check_strategy(strategy)
        given = check_mapping(resolutions, "resolutions")
        check_callable(resolver, "resolver")
        check_flag(auto_commit, "auto_commit")
        with self._reading() as session:
            plan = plan_merge(session, self._compiler, self.tract_id, source, strategy, self._commit_merge)
        resolve_conflicts(plan, given, resolver)
        return plan.commit() if auto_commit else plan

    def _commit_merge(self, plan: PendingMerge) -> MergeResult:
        with self._writing() as session:
            return apply_merge(session, self._compiler, plan)

    def cherry_pick(self, ref: Ref, *, strict: bool = False) -> ReplayResult:
        """Copy one commit (from any branch, or an orphan found in the reflog) onto HEAD.

        Returns the new commit and warnings when its EDIT target or tool call is not in this
        history (``strict=True`` refuses instead, writing nothing).
        """
        check_ref(ref)
        check_flag(strict, "strict")
        with self._writing() as session:
            return cherry_pick(session, self._compiler, self.tract_id, ref, strict=strict)

    def rebase(self, onto: Ref, *, strict: bool = False) -> ReplayResult:
        """Replay the current line's own commits on top of ``onto`` (a branch or commit).

        Returns the mapping of old to new commits and warnings for EDITs or tool results that
        would point outside the new history (``strict=True`` refuses instead, writing nothing).
        """
        check_ref(onto)
        check_flag(strict, "strict")
        with self._writing() as session:
            return rebase(session, self._compiler, self.tract_id, onto, strict=strict)

    def start_over(self, keep_as: str | None = "cleared") -> str | None:
        """Empty the current branch, keeping what it held as the branch ``<keep_as>/<n>``.

        The next free number is taken (``cleared/1``, ``cleared/2``, ...), so nothing is lost: read
        the old line with ``log(start="cleared/1")`` or ``compile(at_commit="cleared/1")``. The
        current branch then has no commits, like a new tract, and the next commit starts a new
        line. ``keep_as=None`` keeps no branch: the old commits become orphans that
        :meth:`reflog` still finds until :meth:`gc` passes their retention window.

        Returns:
            The name of the branch that keeps the old line, or None (the branch was already
            empty, or ``keep_as`` is None).

        Raises:
            InvalidInputError: HEAD is detached (switch to a branch first), or a bad ``keep_as``.
            ConcurrentUpdateError: Another writer moved the branch meanwhile; nothing changed.
        """
        check_keep_as(keep_as)
        with self._writing() as session:
            return start_over(session, self.tract_id, keep_as)

    def reset(self, ref: Ref, mode: str = "soft") -> ResetResult:
        """Move the current branch (or detached HEAD) to ``ref``; ``reset(None)`` empties the branch.

        ``soft`` keeps the commits left behind (find them with :meth:`reflog`, e.g. to cherry-pick
        one back); ``hard`` deletes those nothing else reaches, except originals archived by a
        compression, which stay readable until :meth:`gc` passes their archive window.
        """
        check_ref(ref)
        if not isinstance(mode, str) or mode not in RESET_MODES:
            raise InvalidInputError(f"reset mode must be 'soft' or 'hard', not {shown(mode)}")
        with self._writing() as session:
            return reset_head(session, self.tract_id, ref, mode)

    def query_by_config(
        self,
        key: str | None = None,
        op: str | None = None,
        value: Any = None,
        *,
        limit: int | None = None,
        **equals: Any,
    ) -> list[CommitInfo]:
        """Commits of this tract by the generation config that produced them.

        Every commit stored in the tract is searched: all branches, and commits no branch reaches
        any more (left by a reset or a deleted branch).

        ``query_by_config(model="gpt-4o")`` matches equal values (several keywords: all must
        match); ``query_by_config("temperature", ">", 0.5)`` compares (``==  !=  >  >=  <  <=``;
        dotted keys reach nested settings). The filter runs in the database. Newest first.
        """
        with self._reading() as session:
            return run_config_query(session, self._compiler, self.tract_id, key, op, value, limit, equals)

    # -- compression ------------------------------------------------------------------------

    def compress(
        self,
        content: Any = None,
        *,
        llm: Any = None,
        target_tokens: int | None = None,
        from_commit: Ref = None,
        to_commit: Ref = None,
        keep_recent: int = DEFAULT_KEEP_RECENT,
        prompt: str | None = None,
        auto_commit: bool = True,
        summary_role: str = "system",
        select: str | Selection | None = None,
    ) -> CompressionResult | PendingCompression:
        """Replace a stretch of history with a summary; the originals are archived, not lost.

        Three ways: ``compress(content="...")`` with your own summary; ``compress(llm=...,
        target_tokens=2000)`` (or the ``TractConfig(llm=...)`` model) to have one written within a
        token budget (re-asked once, then trimmed if still too long; the result says which); and
        ``compress(auto_commit=False, ...)`` for a stored draft to approve (possibly edited) or reject.

        The range defaults to everything but the ``keep_recent`` most recent messages; or give
        ``from_commit``/``to_commit``, or ``select=``: a selector query (``"^seq (d5..d*)"``, every
        cycle at least 5 calls old) or a :class:`~tract_core.tree.Selection` of HEAD's context whose
        nodes are one unbroken run of it. PINNED messages in it are kept verbatim after the summary in
        their original order; SKIP messages are left out; EDITs are applied before summarising; a
        tool call and its result are never separated.

        Raises:
            InvalidInputError: Nothing to compress (empty or all-pinned range), ``target_tokens`` <= 0,
                no content and no LLM.
        """
        check_prompt(prompt)
        check_flag(auto_commit, "auto_commit")
        from_commit, to_commit = self._selected_range(select, from_commit, to_commit)
        plan = self._plan_compression(target_tokens, summary_role, from_commit, to_commit, keep_recent)
        draft = None
        if content is None:
            model = summary_llm(llm, self.config.llm)
            draft = draft_summary(plan, model, counter=self.counter, target_tokens=target_tokens, prompt=prompt)
            content = draft.text
        return self._finish_compression(plan, content, draft, auto_commit, summary_role)

    async def acompress(
        self,
        content: Any = None,
        *,
        llm: Any = None,
        target_tokens: int | None = None,
        from_commit: Ref = None,
        to_commit: Ref = None,
        keep_recent: int = DEFAULT_KEEP_RECENT,
        prompt: str | None = None,
        auto_commit: bool = True,
        summary_role: str = "system",
        select: str | Selection | None = None,
    ) -> CompressionResult | PendingCompression:
        """Async :meth:`compress`: the LLM is called with ``acomplete`` on the running loop, the
        store is read and written in a worker thread."""
        check_prompt(prompt)
        check_flag(auto_commit, "auto_commit")
        from_commit, to_commit = await asyncio.to_thread(self._selected_range, select, from_commit, to_commit)
        plan = await asyncio.to_thread(
            self._plan_compression, target_tokens, summary_role, from_commit, to_commit, keep_recent
        )
        draft = None
        if content is None:
            model = summary_llm(llm, self.config.llm)
            draft = await adraft_summary(plan, model, counter=self.counter, target_tokens=target_tokens, prompt=prompt)
            content = draft.text
        return await asyncio.to_thread(self._finish_compression, plan, content, draft, auto_commit, summary_role)

    def _selected_range(self, select: Any, from_commit: Ref, to_commit: Ref) -> tuple[Ref, Ref]:
        """``compress(select=...)``: the range the selection covers (``from_commit``/``to_commit`` without one)."""
        if select is None:
            return from_commit, to_commit
        if from_commit is not None or to_commit is not None:
            raise InvalidInputError("give select= or from_commit/to_commit, not both")
        from .tree.selectors.engine import selected_range

        chosen = self.select(select) if isinstance(select, str) else select
        with self._reading() as session:
            head, marker = session.refs.head_with_marker(self.tract_id)
            state = self._compiler.state(session, head.commit, marker)
        return selected_range(chosen, state.context, [slot.key for slot in state.slots])

    def _plan_compression(
        self, target_tokens: Any, summary_role: str, from_commit: Ref, to_commit: Ref, keep_recent: int
    ) -> CompressionPlan:
        check_target_tokens(target_tokens)
        check_role(summary_role)
        check_ref(from_commit)
        check_ref(to_commit)
        with self._reading() as session:
            return plan_compression(
                session,
                self._compiler,
                self.tract_id,
                from_commit=from_commit,
                to_commit=to_commit,
                keep_recent=keep_recent,
            )

    def _finish_compression(
        self, plan: CompressionPlan, content: Any, draft: SummaryDraft | None, auto_commit: bool, summary_role: str
    ) -> CompressionResult | PendingCompression:
        with self._writing() as session:
            if not auto_commit:
                return store_pending(
                    session, self, self.tract_id, plan, content, summary_role=summary_role, draft=draft
                )
            return apply_compression(
                session, self._compiler, self.tract_id, plan, content, summary_role=summary_role, draft=draft
            )

    def archive(self, to_commit: Ref, *, from_commit: Ref = None) -> CompressionResult:
        """Take an exact stretch of messages out of the context, without a summary.

        Like :meth:`compress` the originals are archived with a provenance record (listed by
        :meth:`compressions`, flagged ``details["archive"]``; ``replaced`` holds them in history
        order) and stay readable until gc, and the messages after the range are replayed. Unlike
        it, the range is taken as given: pinned messages in it leave too, and a tool call may be
        separated from its result (the caller chose the range). ``from_commit`` defaults to the
        first commit.

        Returns:
            The record; its ``summary`` is None and ``head`` is None if nothing is left.

        Raises:
            InvalidInputError: The range holds no message that is in the context, or is inverted.
        """
        check_ref(to_commit)
        check_ref(from_commit)
        with self._writing() as session:
            return archive_range(session, self._compiler, self.tract_id, from_commit, to_commit)

    def approve_compression(self, pending: PendingCompression | int, *, content: Any = None) -> CompressionResult:
        """Commit a pending compression, with ``content`` replacing the draft if given.

        Raises:
            ConcurrentUpdateError: HEAD moved since the draft was made (draft it again), or the
                compression was already approved or rejected.
        """
        record_id = compression_id(pending, "pending")
        with self._writing() as session:
            return approve_pending(session, self._compiler, self.tract_id, record_id, content)

    def reject_compression(self, pending: PendingCompression | int) -> None:
        """Drop a pending compression; history is untouched."""
        record_id = compression_id(pending, "pending")
        with self._writing() as session:
            reject_pending(session, self.tract_id, record_id)

    def pending_compressions(self) -> list[PendingCompression]:
        """Drafts waiting for approval, oldest first (also those made by other processes)."""
        with self._reading() as session:
            return list_pending(session, self._compiler, self.tract_id, self)

    def compressions(self) -> list[CompressionEntry]:
        """Every compression of this tract (pending, committed, rejected), oldest first: the audit trail.

        ``archived(record_id)`` lists the commits a committed one took out of the history. Once gc
        has removed all of them, the record's lists of commit ids (``replaced``, ``kept``,
        ``skipped``) become counts (``replaced_count``, ...) and ``collected`` is set.
        """
        with self._reading() as session:
            return session.compressions.list(self.tract_id)

    def archived(self, compression: int | CompressionResult | None = None) -> list[str]:
        """Commits archived by one compression (or by all), still readable until gc removes them."""
        with self._reading() as session:
            if compression is None:
                return sorted(session.compressions.archived(self.tract_id))
            record_id = compression_id(compression, "compression")
            return session.compressions.archived_by(self.tract_id, record_id)

    def gc(
        self,
        orphan_retention_days: float = 7,
        archive_retention_days: float = 30,
        *,
        dry_run: bool = False,
        vacuum: str | None = "incremental",
        now: float | None = None,
    ) -> GCResult:
        """Remove unreachable commits past their retention windows, then unreferenced blobs.

        Orphans (left by resets, deleted branches, rebases) go after ``orphan_retention_days``;
        commits archived by a compression after ``archive_retention_days``. Anything a branch,
        HEAD, a recent reflog entry, a pending compression or a spawned child still reaches is
        kept. ``dry_run=True`` only reports. On a SQLite file, ``vacuum="incremental"`` (default)
        returns freed pages to the file system and truncates the WAL, ``"full"`` rewrites the file
        with VACUUM (slower; also shrinks files created before tract enabled incremental vacuum),
        ``None`` leaves the file as it is (freed pages are reused). ``now`` overrides the clock.
        """
        check_vacuum(vacuum)
        check_number(orphan_retention_days, "orphan_retention_days")
        check_number(archive_retention_days, "archive_retention_days")
        check_flag(dry_run, "dry_run")
        check_number(now, "now", optional=True)
        before = self.store.file_bytes()
        with self._writing() as session:
            own = checked_out(session, self.tract_id)  # a detached handle's HEAD is a root too
            result = collect_garbage(
                session,
                self.tract_id,
                orphan_retention_days=orphan_retention_days,
                archive_retention_days=archive_retention_days,
                dry_run=dry_run,
                now=now,
                roots=[own.commit] if own.commit else (),
            )
        if not dry_run:
            self._compiler.clear()
        return reclaim_space(self.store, result, before, vacuum)

    # -- policies -----------------------------------------------------------------------------

    def configure_policies(
        self,
        policies: list[Policy] | None = None,
        *,
        autonomy: str | None = None,
        on_proposal: OnProposal | None = None,
    ) -> list[Policy]:
        """Set the policies that watch this tract (DESIGN §12, :mod:`tract_core.policies`).

        Each policy is evaluated after every commit (or compile, by its ``trigger``) that lands
        through this handle, outside the commit's transaction (after the batch, inside one). What
        it returns becomes a stored proposal; ``autonomy`` decides which execute at once:
        ``"manual"`` none, ``"collaborative"`` (default) the low-risk ones (pin, skip, archive),
        ``"autonomous"`` all. A policy's own ``autonomy`` overrides the tract's.

        The configuration is stored with the tract: built-ins by name and parameters, custom
        policies by import path; :meth:`open` brings them back. ``on_proposal`` (not stored) is
        called with each new proposal and decides by what it returns: True approves, False
        rejects, a dict approves with those parameter changes, None leaves it pending.

        Args:
            policies: The policies (None keeps the configured ones, e.g. to change autonomy).
            autonomy: ``"manual"``, ``"collaborative"`` or ``"autonomous"`` (None keeps the current).
            on_proposal: The decision callback (None: proposals wait for :meth:`approve_proposal`).

        Returns:
            The configured policies.

        Raises:
            InvalidInputError: Not policies, a repeated name, a bad trigger, priority or autonomy level.
        """
        self._policies.configure(policies, autonomy, on_proposal, keep_callback=False)
        return list(self._policies.policies)

    @property
    def policies(self) -> list[Policy]:
        """The policies configured on this tract (restored from the store when it was opened)."""
        return list(self._policies.policies)

    @property
    def policy_autonomy(self) -> str:
        """The tract's autonomy level: ``"manual"``, ``"collaborative"`` or ``"autonomous"``."""
        return self._policies.autonomy

    def run_policies(self, trigger: str | None = None) -> list[PolicyLogEntry]:
        """Evaluate the configured policies now (those of ``trigger``, or all); return what was logged.

        Graph nodes and middleware call this after writes that did not go through :meth:`commit`.
        """
        if trigger is not None and trigger not in ("commit", "compile"):
            raise InvalidInputError(f"trigger must be 'commit', 'compile' or None, not {shown(trigger)}")
        return self._policies.run(trigger, source="manual")

    def pending_proposals(self) -> list[Proposal]:
        """Proposals waiting for a decision, oldest first, from any process.

        A proposal whose commits are no longer in HEAD's history is marked ``stale`` here and left out.
        """
        return self._policies.pending()

    def proposals(self, *, status: str | None = None, limit: int | None = None) -> list[Proposal]:
        """Every stored proposal (or those with ``status``), oldest first; ``limit``: the newest N."""
        check_limit(limit)
        if status is not None and status not in PROPOSAL_STATUSES:
            raise InvalidInputError(f"status must be one of {', '.join(PROPOSAL_STATUSES)}, not {shown(status)}")
        return self._policies.proposals(None if status is None else [status], limit)

    def approve_proposal(self, proposal: Proposal | int, /, *, decided_by: str = "user", **changes: Any) -> Proposal:
        """Approve a pending proposal and execute it, with ``changes`` to its parameters
        (``approve_proposal(p, to_commit=h)``, ``approve_proposal(p, keep_recent=10)``).

        Returns:
            The proposal as stored after executing (``executed``).

        Raises:
            ProposalNotFoundError: No such proposal.
            ProposalDecidedError: It was decided already (here or by another process).
            StaleProposalError: HEAD's history no longer holds what it names (it is now ``stale``):
                call :meth:`run_policies` to evaluate the current history.
            TractError: Executing it failed (the proposal is ``failed``, with the error as outcome).
        """
        check_decider(decided_by)
        return self._policies.approve(proposal, changes, decided_by)

    def reject_proposal(
        self, proposal: Proposal | int, *, reason: str | None = None, decided_by: str = "user"
    ) -> Proposal:
        """Reject a pending proposal; nothing is changed (the same action is not proposed again)."""
        if reason is not None:
            check_text(reason, "reason")
        check_decider(decided_by)
        return self._policies.reject(proposal, reason, decided_by)

    def pause_policies(self) -> None:
        """Stop evaluating policies on this tract, in every process, until :meth:`resume_policies`."""
        self._policies.set_paused(True)

    def resume_policies(self) -> None:
        """Evaluate policies again (also those paused after failing three times in a row)."""
        self._policies.set_paused(False)

    @property
    def policies_paused(self) -> bool:
        """Whether this tract's policies are paused."""
        return self._policies.paused()

    def policy_log(self, limit: int | None = 20) -> list[PolicyLogEntry]:
        """Policy evaluations that fired or failed and decisions on proposals, newest first."""
        check_limit(limit)
        return self._policies.log(limit)

    # -- agent toolkit and orchestrator ----------------------------------------------------------

    def as_tools(
        self,
        profile: str = "self",
        format: str = "openai",
        *,
        prefix: str = _TOOL_PREFIX,
        autonomy: str | None = None,
        scaffolds: bool = True,
    ) -> list[Any]:
        """This tract's operations as tools a model calls to manage its own context (DESIGN §13),
        followed by the operations of the scaffolds mounted at HEAD (DESIGN §16).

        Args:
            profile: ``"self"`` (status, log, show, overview, health, annotate, set_lifecycle, edit, compress,
                branch, switch, merge), ``"supervisor"`` (branches, diff, sub-agents, archive,
                gc, proposals) or ``"full"`` (all, plus commit, reset, cherry-pick).
            format: ``"openai"`` or ``"anthropic"`` (JSON definitions; run the calls with
                :meth:`execute_tool`), ``"langchain"`` (``StructuredTool`` objects for
                ``create_agent``) or ``"llamaindex"`` (``FunctionTool`` objects for ``FunctionAgent``).
            prefix: Put before each operation's name (``context_compress``).
            autonomy: For the framework formats, which calls run at once (as in
                :meth:`execute_tool`).
            scaffolds: Add the operations of every scaffold mounted at HEAD (``tasks_add``, ...;
                not prefixed, in every profile; see :meth:`mount`).

        Raises:
            InvalidInputError: An unknown profile, format or autonomy, or a prefix that makes a
                context tool's name a scaffold operation's.
            ScaffoldClassError: A mounted scaffold's class cannot be loaded here.
        """
        from .toolkit.dispatch import check_autonomy_or_default, check_prefix
        from .toolkit.formats import tool_definitions
        from .toolkit.operations import tools_for
        from .toolkit.registry import check_profile

        check_profile(profile)
        check_prefix(prefix)
        check_flag(scaffolds, "scaffolds")
        check_autonomy_or_default(autonomy)  # now, not at the first call of a framework tool
        tools = tools_for(profile)
        defined = tool_definitions(self, tools, format, prefix=prefix, autonomy=autonomy)
        if not scaffolds:
            return defined
        with self._tool_calls:
            operations = [spec for spec, _ in self._scaffolds.tools(strict=True)]
        clash = {prefix + spec.name for spec in tools} & {spec.name for spec in operations}
        if clash:
            raise InvalidInputError(
                f"prefix {prefix!r} makes {', '.join(sorted(clash))} both a context tool and a scaffold operation; "
                "pick another prefix"
            )
        return defined + tool_definitions(self, operations, format, prefix="", autonomy=autonomy)

    def execute_tool(
        self,
        call: Any,
        *,
        profile: str = "full",
        prefix: str = _TOOL_PREFIX,
        autonomy: str | None = None,
        on_proposal: OnProposal | None = None,
    ) -> dict[str, Any]:
        """Run a tool call a model made and return the result message for its provider.

        Takes an OpenAI tool call, an Anthropic ``tool_use`` block, a LangChain ``ToolCall`` or
        plain ``{"name", "arguments"}``. A bad call (unknown tool, bad JSON, wrong types, unknown
        commit) returns an error result the model can read and writes nothing. A call that changes
        the context is recorded as a proposal (``by="agent"``) and runs as ``autonomy`` allows
        (default ``"autonomous"``: the model asked for it); otherwise its result says it waits for
        approval, and ``on_proposal`` may decide at once.

        Returns:
            OpenAI: ``{"role": "tool", "tool_call_id", "content"}``; Anthropic: a ``tool_result``
            block (``is_error`` on failure); LangChain: a ToolMessage's fields; plain:
            ``{"name", "content", "is_error"}``.
        """
        from .toolkit.dispatch import check_autonomy_or_default, check_prefix, read_call, result_message, run_call
        from .toolkit.registry import check_profile

        check_profile(profile)
        check_prefix(prefix)
        check_callable(on_proposal, "on_proposal")
        with self._tool_calls:  # a framework's parallel tool calls (worker threads) run one at a time here
            checked = check_autonomy_or_default(autonomy)
            operations = {spec.name: (spec, scaffold) for spec, scaffold in self._scaffolds.tools(strict=False)}
            result = run_call(
                self,
                self._policies,
                read_call(call),
                profile=profile,
                prefix=prefix,
                autonomy=checked,
                by="agent",
                ask=on_proposal,
                operations=operations,
            )
            return result_message(result)

    # -- live components (scaffolds) ----------------------------------------------------------------

    def mount(
        self, scaffold: Scaffold, *, lifecycle: Any = _STICKY, name: str | None = None, resume: bool = True
    ) -> Mounted:
        """Put a scaffold in the context: commit its rendering as a keyed node, and offer its operations as tools.

        The rendering is committed with key ``scaffold:<name>``, the lifecycle given and metadata
        recording the scaffold's class and state (``metadata["scaffold"]``). From then on each
        operation that changes its state or rendering (called by the model through
        :meth:`execute_tool`, or from Python on the scaffold object) commits a new instance, which
        supersedes the previous one in what compile shows; nothing is committed when neither
        changed. The operations appear in :meth:`as_tools` as ``<name>_<operation>``.

        If the scaffold ``name`` is already mounted at HEAD (by this handle, another one, or before
        the tract was reopened), the same class resumes: with ``resume`` the stored state is loaded
        into ``scaffold`` (its own state is dropped), and a new instance is committed only if the
        rendering or the lifecycle differ. Another class under that name is refused.

        Args:
            scaffold: The scaffold object (:class:`~tract_core.TaskList`, :class:`~tract_core.WorkingMemory`
                or a :class:`~tract_core.Scaffold` subclass of yours); one object is mounted in one place.
            lifecycle: Its instances' lifecycle (default ``Sticky()``: shown at the end of the
                context every cycle; a non-sticky instance stays where it was committed).
            name: Mount it under this name instead of ``scaffold.name``.
            resume: Load the stored state of a scaffold already mounted under the name (False: the
                object's state replaces it, as a new instance).

        Returns:
            The mounted scaffold.

        Raises:
            InvalidInputError: Not a scaffold, a bad name or lifecycle, an object mounted elsewhere,
                or tool names another mounted scaffold has.
            ScaffoldClassError: Another class is mounted under the name, or the stored state does
                not fit this one.
        """
        self._check_open("mount a scaffold")
        return self._scaffolds.mount(scaffold, lifecycle, name, resume)

    def unmount(self, name: str) -> CommitInfo:
        """Take a scaffold out of the context: commit an unmount marker (SKIPped) with its key.

        Its instances stay in history; its tools are no longer offered; its object (if this handle
        holds it) becomes a plain one whose operations commit nothing.

        Returns:
            The marker commit.

        Raises:
            ScaffoldNotFoundError: No scaffold of that name is mounted at HEAD.
        """
        self._check_open("unmount a scaffold")
        return self._scaffolds.unmount(name)

    def scaffold(self, name: str) -> Mounted:
        """The scaffold ``name`` mounted at HEAD, restored from its newest instance if this handle
        does not hold it yet (built as ``cls(name=name)`` with the stored state; its class is found
        by the path the instance records).

        Raises:
            ScaffoldNotFoundError: None of that name is mounted at HEAD.
            ScaffoldClassError: Its class cannot be imported here or built without arguments (mount
                an instance of it instead), or the stored state does not fit it.
        """
        self._check_open("read a scaffold")
        return self._scaffolds.restore(name)

    def scaffolds(self) -> list[ScaffoldInfo]:
        """The scaffolds mounted at HEAD, by name, as their newest instances record them (their
        classes are not loaded: this works for any class)."""
        self._check_open("read scaffolds")
        return self._scaffolds.infos()

    def configure_orchestrator(self, config: OrchestratorConfig | None = None) -> OrchestratorConfig:
        """Set up the orchestrator (DESIGN §13): triggers, autonomy, callbacks, model, step bound.

        The settings (all but the model and the callbacks) are stored with the tract, so every
        process that opens it runs the same triggers. With ``config`` None the current settings
        (or the defaults) are kept. Triggers fire after a commit lands through this handle (after
        its batch, inside one), never inside the commit; a failing run warns and keeps the commit.
        """
        return self._orchestrator.configure(config)

    @property
    def orchestrator_config(self) -> OrchestratorConfig | None:
        """The orchestrator's settings on this handle (None if never configured)."""
        return self._orchestrator.config

    def orchestrate(self, *, dry_run: bool = False) -> OrchestratorRun:
        """Run the orchestrator once now: assess :meth:`health`, then act for at most ``max_steps``.

        With no model, deterministic rules choose (fold stalled tangents, compress under budget
        pressure, hide oversized tool outputs, archive stale branches, gc after a compression);
        with ``OrchestratorConfig(llm=...)`` the model chooses among the profile's tools. Every
        action is a proposal decided by the autonomy and the callbacks. ``dry_run=True`` only
        reports what the rules would do. Paused, it does nothing (``stopped == "paused"``).
        """
        check_flag(dry_run, "dry_run")
        return self._orchestrator.run("manual", dry_run=dry_run)

    def pause_orchestrator(self) -> None:
        """Stop everything automatic on this tract, in every process: the orchestrator's triggers
        and runs, and the policies, until :meth:`resume_orchestrator` (e.g. while a person edits)."""
        self._orchestrator.set_paused(True)

    def resume_orchestrator(self) -> None:
        """Let the orchestrator (and the policies, unless paused on their own) run again."""
        self._orchestrator.set_paused(False)

    @property
    def orchestrator_paused(self) -> bool:
        """Whether the orchestrator is paused."""
        return self._orchestrator.paused()

    def health(self) -> HealthReport:
        """The context's health: budget pressure, fragmentation, stale and tangent branches,
        oversized tool outputs and pending proposals, each a number with a reason.

        Read-only; the thresholds are the orchestrator's (or its defaults).
        """
        return self._orchestrator.health()

    # -- sub-agents ---------------------------------------------------------------------------

    def spawn(self, name: str, *, include: Any = "pinned", config: TractConfig | None = None) -> Tract:
        """Start a sub-agent: a child tract in the same store, linked to this tract's HEAD.

        Args:
            name: The child's name; its tract id is ``"<parent id>/<name>"``.
            include: What it starts with: ``"nothing"``, ``"pinned"`` (default: the parent's pinned
                messages, e.g. its instructions), ``"all"`` (the parent's compiled context), or a
                number N (pinned plus the last N messages). Priorities come along.
            config: The child's settings (default: the parent's).
        """
        from .agents import check_include, child_id, create_child, plant_seeds, seed_messages

        check_branch_name(name, "sub-agent name")
        check_include(include)
        if config is not None and not isinstance(config, TractConfig):
            raise InvalidInputError(f"config must be a TractConfig, not {type(config).__name__}")
        settings = config if config is not None else self.config
        child = Tract(
            self.store, child_id(self.tract_id, name), settings, owns_store=False, start=Checkout(DEFAULT_BRANCH)
        )
        with self._work.batch(), child._work.batch():  # one transaction; both handles forget it on rollback
            with self._writing() as session:
                _, spawned_at = create_child(session, self.tract_id, name, canonical_json(settings.to_stored()))
                seeds = seed_messages(session, self._compiler, self.tract_id, spawned_at, include)
            with child._writing() as session:
                plant_seeds(session, child._compiler, child.tract_id, seeds)
        return child

    def parent(self) -> Tract | None:
        """The tract this one was spawned from (same store), or None."""
        with self._reading() as session:
            entry = session.tracts.get(self.tract_id)
        if entry is None or entry.parent_tract_id is None:
            return None
        return Tract.open(store=self.store, tract_id=entry.parent_tract_id, create=False, config=self.config)

    def children(self) -> list[Tract]:
        """The sub-agents spawned from this tract, by name."""
        with self._reading() as session:
            entries = session.tracts.children(self.tract_id)
        return [Tract.open(store=self.store, tract_id=e.tract_id, create=False, config=self.config) for e in entries]

    def absorb(
        self,
        child: Tract,
        *,
        content: Any = None,
        llm: Any = None,
        target_tokens: int | None = None,
        prompt: str | None = None,
        role: str = "user",
    ) -> CommitInfo:
        """Summarise a sub-agent's whole history into one message on this tract.

        The summary is ``content`` if given, else written by ``llm`` (or ``TractConfig(llm=...)``)
        within ``target_tokens``. The commit's metadata links back to the child's tract and head, so
        the full work stays one ``Tract.open(..., tract_id=...)`` away.
        """
        from .agents import provenance, subagent_work, summarize_work

        if not isinstance(child, Tract) or child.store is not self.store:
            raise InvalidInputError("absorb() takes a sub-agent (a Tract) from the same store (see spawn())")
        check_role(role)
        check_target_tokens(target_tokens)
        check_prompt(prompt)
        with child._reading() as session:
            messages, child_head = subagent_work(session, child._compiler, child.tract_id)
        if content is None:
            content = summarize_work(
                messages,
                llm=llm,
                default_llm=self.config.llm,
                counter=self.counter,
                target_tokens=target_tokens,
                prompt=prompt,
            )
        return self.commit(
            content,
            role=role,
            content_type=ContentType.SUMMARY,
            metadata=provenance(child.tract_id, child_head, len(messages)),
            commit_message=f"summary of sub-agent {child.tract_id}",
        )

    def verify(self) -> VerifyReport:
        """Check everything stored for this tract, like ``git fsck``; return what was checked.

        Re-hashes every commit and blob, decodes every row, checks every link (parents, EDIT
        targets, messages, branches, HEAD), re-computes the annotation chain (annotations changed,
        added or deleted outside tract), recounts the cached token counts of this tract's
        tokenizer and, on SQLite, checks every page of the file (``PRAGMA integrity_check``).
        Single reads (``show``, ``log``, ...) always verify the objects they return; a cold
        ``compile`` reads in bulk without re-hashing, for speed.

        Returns:
            A :class:`~tract_core.records.VerifyReport`; as an ``int``, the number of commits and
            blobs checked.

        Raises:
            CorruptObjectError: Something was modified or removed outside tract; its ``problems``
                list everything found.
        """
        with self._reading() as session:
            return verify_objects(session, self.tract_id, self.counter)

    @property
    def head(self) -> str | None:
        """The commit this handle's HEAD points at (None for an empty tract)."""
        with self._reading() as session:
            return session.refs.head(self.tract_id).commit

    @property
    def current_branch(self) -> str | None:
        """The branch this handle has checked out (None when detached).

        Each handle has its own: another handle's ``switch()`` never moves this one's appends.
        """
        with self._reading() as session:
            return checked_out(session, self.tract_id).branch
