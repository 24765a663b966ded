"""What the policy node and the orchestrator node share: do something on a thread's tract inside a
LangGraph step, ask about the pending proposals it left with ``interrupt()``, and hand the graph
the tract's new view when its ``main`` changed.

:class:`ThreadRun` is the machinery (the thread and checkpoint of the step, configured tract
handles, the interrupt loop that keeps its order across re-runs, the decisions); a subclass says
what to do on the tract (:meth:`ThreadRun.act`) and which proposals to ask about
(:meth:`ThreadRun.pending`). :class:`ThreadRunNode` and :class:`ThreadRunMiddleware` wrap a
``ThreadRun`` as a graph node and as a ``create_agent`` middleware (``before_model``).
See :mod:`tract_langchain.policy_node` for the questions and the answers.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.internal_call_transformer import InternalCallTransformer, internal_call_metadata
from langchain_core.messages import BaseMessage, RemoveMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.constants import TAG_NOSTREAM
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.types import interrupt

from tract_core import (
    InvalidInputError,
    LangChainChatLLM,
    PolicyWarning,
    ProposalDecidedError,
    ProposalNotFoundError,
    StaleProposalError,
    Tract,
    TractError,
    TractNotFoundError,
)
from tract_core.policies import Proposal, stale_refs

if TYPE_CHECKING:
    from .checkpoint import TractSaver

__all__ = [
    "ThreadRun",
    "ThreadRunNode",
    "ThreadRunMiddleware",
    "quiet_llm",
    "QUESTION_KEY",
    "DEFAULT_DECIDED_BY",
    "CHECKPOINT_WAIT",
    "MESSAGES",
]

QUESTION_KEY = "question"
"""The key of an interrupt's value giving its position among the questions of the step (0, 1, ...)."""

DEFAULT_DECIDED_BY = "interrupt"
"""Who decided, as recorded on the proposal, when the answer does not say (``{"by": "ada"}``)."""

CHECKPOINT_WAIT = 60.0
"""Seconds a run waits for the checkpoint its step started from to be stored (LangGraph stores a
step's checkpoint in the background while the next step runs)."""

MESSAGES = "messages"
"""The channel a TractSaver keeps as the thread's tract (its main branch)."""

# LangGraph's own configuration keys: the durability mode (present when given to invoke/stream) and
# the graph's checkpointer. Read with .get: when absent, the checks they allow are skipped.
_DURABILITY = "__pregel_durability"
_CHECKPOINTER = "__pregel_checkpointer"
_MAX_HANDLES = 256


@dataclass(frozen=True)
class _Where:
    """Where a run is: the thread, the graph's namespace, the checkpoint its step started from, its task."""

    thread_id: str
    namespace: str
    checkpoint_id: str | None
    task_id: str | None

    @property
    def config(self) -> RunnableConfig:
        return {
            "configurable": {
                "thread_id": self.thread_id,
                "checkpoint_ns": self.namespace,
                "checkpoint_id": self.checkpoint_id,
            }
        }


@dataclass(frozen=True)
class _Decision:
    approve: bool
    changes: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    by: str = DEFAULT_DECIDED_BY
    id: int | None = None


def _decision(answer: Any) -> _Decision:
    """The decision an interrupt's answer gives (the ``on_proposal`` convention, or the explicit form).

    Raises:
        InvalidInputError: An answer of another kind, or a malformed explicit form.
    """
    if answer is True or answer is False:
        return _Decision(answer)
    if not isinstance(answer, Mapping):
        raise InvalidInputError(
            f"answer with True (approve), False (reject), a dict of changed parameters, or "
            f'{{"approve": bool, "changes": {{...}}, "reason": "..."}}, not {answer!r}'
        )
    if "approve" not in answer:
        return _Decision(True, _changes(answer))
    approve = answer["approve"]
    if approve is not True and approve is not False:
        raise InvalidInputError(f'"approve" must be true or false, not {approve!r}')
    unknown = set(answer) - {"approve", "changes", "reason", "by", "id"}
    if unknown:
        raise InvalidInputError(
            f'unknown keys {sorted(unknown)} in the answer; changed parameters go in "changes": {{...}}'
        )
    reason, by, named = answer.get("reason"), answer.get("by", DEFAULT_DECIDED_BY), answer.get("id")
    if reason is not None and not isinstance(reason, str):
        raise InvalidInputError(f'"reason" must be a string, not {reason!r}')
    if not isinstance(by, str) or not by.strip():
        raise InvalidInputError(f'"by" must be a non-empty string, not {by!r}')
    if named is not None and (isinstance(named, bool) or not isinstance(named, int)):
        raise InvalidInputError(f'"id" must be the proposal\'s id (an int), not {named!r}')
    return _Decision(approve, _changes(answer.get("changes") or {}), reason, by, named)


def _changes(changes: Any) -> dict[str, Any]:
    if not isinstance(changes, Mapping) or not all(isinstance(k, str) and k.isidentifier() for k in changes):
        raise InvalidInputError(f"changed parameters must be a dict keyed by parameter names, not {changes!r}")
    return dict(changes)


def _asked(stored: Any) -> tuple[int, int, dict[str, Any]] | None:
    """(position, proposal id, value) of the question a stored interrupt write holds, if it is one of ours."""
    found = stored if isinstance(stored, Sequence) and not isinstance(stored, str) else [stored]
    for item in reversed(list(found)):
        value = getattr(item, "value", None)
        if not isinstance(value, Mapping):
            continue
        position, proposal_id = value.get(QUESTION_KEY), value.get("id")
        if isinstance(position, int) and isinstance(proposal_id, int) and "kind" in value:
            return position, proposal_id, dict(value)
    return None


def quiet_llm(llm: Any, source: str) -> Any:
    """``llm``, or, for a LangChain model (a Runnable), the same model called tagged ``nostream``, so
    what it writes (a summary, the orchestrator's tool calls) stays out of the graph's message stream.

    Args:
        llm: Any model :func:`tract_core.as_llm` accepts.
        source: Recorded as ``lc_source`` in the calls' metadata (``"tract_policy"``).
    """
    if not isinstance(llm, Runnable):
        return llm
    config = {"tags": [TAG_NOSTREAM], "metadata": {"lc_source": source, **internal_call_metadata()}}
    return LangChainChatLLM(llm, config=config)


def _where(config: RunnableConfig | None, saver: TractSaver, who: str) -> _Where:
    """The run's thread and checkpoint, checking the graph is set up for the node.

    Raises:
        InvalidInputError: No thread, ``durability="exit"``, or a graph checkpointed by another saver.
    """
    configurable = dict((config or {}).get("configurable") or {})
    thread_id = configurable.get("thread_id")
    if thread_id is None:
        raise InvalidInputError(
            f"{who} works on a thread's tract: compile the graph with checkpointer=<the TractSaver> and "
            'invoke it with {"configurable": {"thread_id": "..."}}'
        )
    if configurable.get(_DURABILITY) == "exit":
        raise InvalidInputError(
            f'{who} needs every step checkpointed (durability "sync" or "async", the default), not "exit": '
            "it reads the conversation the saver stored at the previous step"
        )
    checkpointer = configurable.get(_CHECKPOINTER)
    if (
        checkpointer is not None
        and checkpointer is not saver
        and getattr(checkpointer, "store", None) is not saver.store
    ):
        raise InvalidInputError(
            f"{who} was given a TractSaver the graph does not checkpoint with; compile the graph with "
            "checkpointer=<that saver> (the thread's tract is the checkpointer's)"
        )
    task_namespace = str(configurable.get("checkpoint_ns") or "")
    head, _, last = task_namespace.rpartition("|")
    namespace = head if "|" in task_namespace else ""
    task_id = last.partition(":")[2] or None
    checkpoint_map = configurable.get("checkpoint_map")
    checkpoint_id = checkpoint_map.get(namespace) if isinstance(checkpoint_map, Mapping) else None
    return _Where(str(thread_id), namespace, checkpoint_id, task_id)


class ThreadRun(ABC):
    """Do something on a thread's tract, ask about the proposals it left, say what changed.

    Subclasses override :meth:`act` (and :meth:`pending`, :attr:`configures`, :meth:`open`,
    :meth:`configure` as needed).

    Args:
        saver: The graph's :class:`~tract_langchain.TractSaver`.
        interrupt_on_proposal: Ask about pending proposals with ``interrupt()`` (False: never ask).
        who: The node's or middleware's name, for messages.

    Raises:
        InvalidInputError: Not a ``TractSaver``, or ``interrupt_on_proposal`` not a bool.
    """

    def __init__(self, saver: TractSaver, interrupt_on_proposal: bool, who: str) -> None:
        from .checkpoint import TractSaver

        if not isinstance(saver, TractSaver):
            raise InvalidInputError(f"{who} needs the graph's TractSaver, not {type(saver).__name__}")
        if interrupt_on_proposal is not True and interrupt_on_proposal is not False:
            raise InvalidInputError(f"interrupt_on_proposal must be True or False, not {interrupt_on_proposal!r}")
        self.saver = saver
        self.interrupt_on_proposal = interrupt_on_proposal
        self.who = who
        # configured handles, per (thread, namespace): what is configured (with its models) is set on
        # a handle once; when nothing is, a fresh handle reads the stored configuration every run
        self._handles: OrderedDict[tuple[str, str], tuple[Tract, threading.Lock]] = OrderedDict()
        self._lock = threading.Lock()

    # -- what a subclass says ---------------------------------------------------------------

    @property
    def configures(self) -> bool:
        """Whether handles are configured (:meth:`configure`) once and kept; else one per run."""
        return False

    def open(self, thread_id: str, namespace: str) -> Tract:
        """A handle on the thread's tract (raises TractNotFoundError when nothing is stored yet)."""
        return self.saver.tract(thread_id, namespace)

    def configure(self, tract: Tract) -> None:  # noqa: B027 - a hook: most runs configure nothing
        """Set this run's configuration on a new kept handle (nothing by default)."""

    @abstractmethod
    def act(self, tract: Tract, resumed: bool) -> bool:
        """Do the work on the tract (``resumed``: LangGraph runs the step again to deliver an answer);
        whether to ask about the pending proposals afterwards."""

    def pending(self, tract: Tract) -> list[Proposal]:
        """The proposals to ask about, oldest first."""
        return tract.pending_proposals()

    # -- the machinery ----------------------------------------------------------------------

    def _handle(self, where: _Where) -> tuple[Tract, threading.Lock | None]:
        key = (where.thread_id, where.namespace)
        if not self.configures:
            return self.open(*key), None
        with self._lock:
            found = self._handles.get(key)
            if found is not None:
                self._handles.move_to_end(key)
                return found
        tract = self.open(*key)
        self.configure(tract)  # stored with the tract
        with self._lock:
            found = self._handles.setdefault(key, (tract, threading.Lock()))
            while len(self._handles) > _MAX_HANDLES:
                self._handles.popitem(last=False)
        return found

    def run(self, config: RunnableConfig | None) -> list[BaseMessage] | None:
        """Work on the thread; the new message list if the tract changed, else None."""
        where = _where(config, self.saver, self.who)
        before: str | None = None
        if where.checkpoint_id is not None:
            if not self.saver._await_checkpoint(where.thread_id, where.namespace, where.checkpoint_id, CHECKPOINT_WAIT):
                raise TractError(
                    f"{self.who}: checkpoint {where.checkpoint_id} of thread {where.thread_id!r}, which this step "
                    f"started from, was not stored within {CHECKPOINT_WAIT:.0f} s; is the graph compiled with "
                    "checkpointer=<this TractSaver>?"
                )
            before = self.saver.checkpoint_commit(where.config, MESSAGES)
        try:
            tract, lock = self._handle(where)
        except TractNotFoundError:  # no message stored yet: nothing to look at
            return None
        try:
            start = self.saver._main_mark(where.thread_id, where.namespace)
            if lock is not None:
                with lock:
                    self._work(tract, where)
            else:
                self._work(tract, where)
        finally:
            if lock is None:
                tract.close()
        if start[0] == before and self.saver._main_mark(where.thread_id, where.namespace) == start:
            return None  # main did not move, nothing was annotated: the state is the tract's view
        head, messages = self.saver._thread_view(where.thread_id, where.namespace)
        if head == before:
            return None
        return [RemoveMessage(id=REMOVE_ALL_MESSAGES), *messages]

    def _stored(self, where: _Where) -> tuple[int, int, dict[str, Any]] | None:
        """The question this task asked last, when LangGraph runs it again to deliver the answer."""
        if not self.interrupt_on_proposal or where.checkpoint_id is None or where.task_id is None:
            return None
        return _asked(self.saver._task_interrupt(where.thread_id, where.namespace, where.checkpoint_id, where.task_id))

    def _work(self, tract: Tract, where: _Where) -> None:
        stored = self._stored(where)
        if self.act(tract, stored is not None) and self.interrupt_on_proposal:
            self._ask(tract, stored)

    def _ask(self, tract: Tract, stored: tuple[int, int, dict[str, Any]] | None) -> None:
        """One ``interrupt()`` per pending proposal, oldest first, in a stable order across re-runs."""
        position = 0
        retry: tuple[int, str] | None = None
        if stored is not None:  # resumed: the answers before the last were applied by earlier runs
            last, proposal_id, value = stored
            for earlier in range(last):
                interrupt({QUESTION_KEY: earlier, "replayed": True})  # returns its stored answer
            error = self._decide(tract, proposal_id, interrupt(value))
            retry = None if error is None else (proposal_id, error)
            position = last + 1
        while True:
            pending = self.pending(tract)
            if not pending:
                return
            proposal = pending[0]
            value = {**proposal.to_dict(), QUESTION_KEY: position}
            if retry is not None and retry[0] == proposal.id:
                value["error"] = retry[1]
            answer = interrupt(value)
            position += 1
            error = self._decide(tract, proposal.id, answer)
            retry = None if error is None else (proposal.id, error)

    def _decide(self, tract: Tract, proposal_id: int, answer: Any) -> str | None:
        """Apply an answer to a proposal; an error text when the answer cannot be used (ask again)."""
        try:
            decision = _decision(answer)
        except InvalidInputError as error:
            return str(error)
        if decision.id is not None and decision.id != proposal_id:
            return f"this answer names proposal {decision.id}, but the question is about proposal {proposal_id}"
        if decision.approve:  # a mistyped commit in the changes: ask again (approving would make it stale)
            try:
                unknown = stale_refs(tract, decision.changes)
            except InvalidInputError as error:
                return str(error)
            if unknown:
                named = ", ".join(repr(c) for c in unknown)
                return f"the changes name {named}, not a commit of the thread's history; name commits by hash"
        try:
            if decision.approve:
                tract.approve_proposal(proposal_id, decided_by=decision.by, **decision.changes)
            else:
                tract.reject_proposal(proposal_id, reason=decision.reason, decided_by=decision.by)
        except (ProposalDecidedError, ProposalNotFoundError) as error:
            warnings.warn(f"{self.who}: the answer was not applied: {error}", PolicyWarning, stacklevel=2)
        except StaleProposalError as error:
            warnings.warn(f"{self.who}: {error}", PolicyWarning, stacklevel=2)
        except InvalidInputError as error:  # refused before deciding (e.g. no model here): ask again
            return str(error)
        except TractError:  # executing it failed: the proposal is "failed" (the engine warned), the run goes on
            pass
        return None


class ThreadRunNode(Runnable[Any, dict[str, Any]]):
    """A LangGraph node running a :class:`ThreadRun` (sync, and async in a worker thread)."""

    _run: ThreadRun

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        """Run on the thread's tract; ``{"messages": [...]}`` if the tract changed, else ``{}``."""
        update = self._run.run(config)
        return {} if update is None else {MESSAGES: update}

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        """:meth:`invoke` in a worker thread (the store and the models tract calls are synchronous)."""
        update = await asyncio.to_thread(self._run.run, config)
        return {} if update is None else {MESSAGES: update}

    def __call__(self, state: Any, config: RunnableConfig | None = None) -> dict[str, Any]:
        """Same as :meth:`invoke`."""
        return self.invoke(state, config)


class ThreadRunMiddleware(AgentMiddleware):
    """A ``create_agent`` middleware running a :class:`ThreadRun` before every model call."""

    transformers = (InternalCallTransformer,)
    _run: ThreadRun

    @staticmethod
    def _config() -> RunnableConfig:
        from langgraph.config import get_config

        return get_config()

    def before_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """Run on the thread's tract (``None``: the tract did not change)."""
        update = self._run.run(self._config())
        return None if update is None else {MESSAGES: update}

    async def abefore_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """:meth:`before_model` in a worker thread."""
        config = self._config()
        update = await asyncio.to_thread(self._run.run, config)
        return None if update is None else {MESSAGES: update}
