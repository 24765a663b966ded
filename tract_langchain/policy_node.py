"""A thread's tract policies as a LangGraph node and a ``create_agent`` middleware.

The policies of :mod:`tract_core.policies` (compress at a budget, pin instructions, move a tangent
to a branch, archive idle branches, your own) watch a tract. In a graph checkpointed by a
:class:`~tract_langchain.TractSaver` every thread is a tract, so the same policies can watch a
conversation that lives in graph state:

* :class:`TractPolicyNode`: ``builder.add_node("policies", TractPolicyNode(saver, policies=[...]))``,
  placed after the node that calls the model (the conversation it looks at is the one the saver
  stored when the previous step was checkpointed);
* :class:`TractPolicyMiddleware`: ``create_agent(model, tools, middleware=[TractPolicyMiddleware(saver,
  policies=[...])], checkpointer=saver)``, which runs them before every model call.

Each run opens the thread's tract, configures the given policies on it (stored with the tract, so a
later process, the CLI included, sees them), runs them (:meth:`tract_core.Tract.run_policies`) and
then asks about every pending proposal, oldest first, with LangGraph's ``interrupt()``. The
interrupt's value is the proposal (:meth:`tract_core.policies.Proposal.to_dict`: ``id``, ``policy``,
``kind``, ``params``, ``reason``, ``risk``, ...) plus ``question``, its position among the questions
this step asked. Resume with ``graph.invoke(Command(resume=answer), config)``, from any process:

=====================================================  =====================================================
answer                                                 decision
=====================================================  =====================================================
``True``                                               approve (the action executes now, in the node)
``False``                                              reject (the same action is not proposed again)
``{"keep_recent": 2}`` (any other dict)                approve with these parameters changed
``{"approve": bool, "changes": {...}, "reason": str,   explicit form: ``reason`` goes with a rejection,
"by": str, "id": int}``                                ``by`` is recorded as who decided (default
                                                       ``"interrupt"``), ``id`` must be the proposal's
=====================================================  =====================================================

An answer that cannot be used (another type, a wrong ``id``) asks the same proposal again, with an
``error`` in the interrupt's value. When actions executed (now or while the graph waited) changed the
thread's tract, the node returns ``{"messages": [RemoveMessage(REMOVE_ALL_MESSAGES), *what the tract
compiles to]}``, so the next model call sees the compressed, pinned, branched context; otherwise
``{}``. The graph's next checkpoint then points at the tract's ``main`` as it is: nothing is copied.

LangGraph runs an interrupted node again from the start when it is resumed, and matches ``interrupt()``
calls to answers by their order. The node keeps that order stable whatever changed meanwhile: the
proposals are stored with unique fingerprints (running the policies again records nothing twice) and
the answer is applied to the proposal its question named (read back from the interrupt LangGraph
stored), so a proposal decided elsewhere while the graph waited (``tract approve 7`` on the command
line) is not mistaken for the next one: that answer is dropped with a :class:`~tract_core.PolicyWarning`.

A compress action needs a model: give ``CompressPolicy(llm=...)`` (not stored: give ``policies=``
again in every process) or approve with ``{"content": "<your summary>"}``. A LangChain chat model
given as a policy's ``llm`` is called tagged ``nostream``: the summary does not show up in
``stream_mode="messages"`` as if the agent had said it. Without ``token_budget=``
on the policy, the budget is the tract's ``TractConfig.token_budget``.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import warnings
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
from tract_core.policies import AUTONOMY_LEVELS, Policy

if TYPE_CHECKING:
    from .checkpoint import TractSaver

__all__ = ["TractPolicyNode", "TractPolicyMiddleware", "QUESTION_KEY", "DEFAULT_DECIDED_BY", "CHECKPOINT_WAIT"]

QUESTION_KEY = "question"
"""The key of an interrupt's value giving its position among the questions of the step (0, 1, ...)."""

DEFAULT_DECIDED_BY = "interrupt"
"""Who decided, as recorded on the proposal, when the answer does not say (``{"by": "ada"}``)."""

CHECKPOINT_WAIT = 60.0
"""Seconds a run waits for the checkpoint its step started from to be stored (LangGraph stores a
step's checkpoint in the background while the next step runs)."""

# LangGraph's own configuration keys: the durability mode (present when given to invoke/stream) and
# the graph's checkpointer. Read with .get: when absent, the checks they allow are skipped.
_DURABILITY = "__pregel_durability"
_CHECKPOINTER = "__pregel_checkpointer"
_MESSAGES = "messages"  # the channel a TractSaver keeps as the thread's tract (its main branch)
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


def _quiet(policy: Policy) -> Policy:
    """The policy, or a copy whose LangChain model (``llm``) is called tagged ``nostream``, so a
    summary it writes stays out of the graph's message stream."""
    llm = getattr(policy, "llm", None)
    if not isinstance(llm, Runnable):
        return policy
    quiet = copy.copy(policy)
    config = {"tags": [TAG_NOSTREAM], "metadata": {"lc_source": "tract_policy", **internal_call_metadata()}}
    quiet.llm = LangChainChatLLM(llm, config=config)  # type: ignore[attr-defined]
    return quiet


def _where(config: RunnableConfig | None, saver: TractSaver, who: str) -> _Where:
    """The run's thread and checkpoint, checking the graph is set up for policies.

    Raises:
        InvalidInputError: No thread, ``durability="exit"``, or a graph checkpointed by another saver.
    """
    configurable = dict((config or {}).get("configurable") or {})
    thread_id = configurable.get("thread_id")
    if thread_id is None:
        raise InvalidInputError(
            f"{who} runs a thread's policies: compile the graph with checkpointer=<the TractSaver> and "
            'invoke it with {"configurable": {"thread_id": "..."}}'
        )
    if configurable.get(_DURABILITY) == "exit":
        raise InvalidInputError(
            f'{who} needs every step checkpointed (durability "sync" or "async", the default), not "exit": '
            "the policies read the conversation the saver stored at the previous step"
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


class _PolicyRun:
    """What the node and the middleware do: run the thread's policies, ask, and say what changed."""

    def __init__(
        self,
        saver: TractSaver,
        policies: Sequence[Policy] | None,
        autonomy: str | None,
        interrupt_on_proposal: bool,
        who: str,
    ) -> None:
        from .checkpoint import TractSaver

        if not isinstance(saver, TractSaver):
            raise InvalidInputError(f"{who} needs the graph's TractSaver, not {type(saver).__name__}")
        if policies is not None and (isinstance(policies, (str, bytes)) or not isinstance(policies, Sequence)):
            raise InvalidInputError(f"{who} policies must be a list of policies, e.g. [CompressPolicy(0.8)]")
        if policies is not None:
            for policy in policies:
                if not isinstance(policy, Policy):
                    raise InvalidInputError(f"{policy!r} is not a policy: it needs name, priority, trigger, evaluate")
        if autonomy is not None and autonomy not in AUTONOMY_LEVELS:
            raise InvalidInputError(f"autonomy must be 'manual', 'collaborative' or 'autonomous', not {autonomy!r}")
        if interrupt_on_proposal is not True and interrupt_on_proposal is not False:
            raise InvalidInputError(f"interrupt_on_proposal must be True or False, not {interrupt_on_proposal!r}")
        self.saver = saver
        self.policies = None if policies is None else [_quiet(p) for p in policies]
        self.autonomy = autonomy
        self.interrupt_on_proposal = interrupt_on_proposal
        self.who = who
        # configured handles, per (thread, namespace): the policies (with their models) are set on a
        # handle once; without policies= a fresh handle reads the stored configuration every run
        self._handles: OrderedDict[tuple[str, str], tuple[Tract, threading.Lock]] = OrderedDict()
        self._lock = threading.Lock()

    def _handle(self, where: _Where) -> tuple[Tract, threading.Lock | None]:
        key = (where.thread_id, where.namespace)
        if self.policies is None and self.autonomy is None:
            return self.saver.tract(*key), None
        with self._lock:
            found = self._handles.get(key)
            if found is not None:
                self._handles.move_to_end(key)
                return found
        tract = self.saver.tract(*key)
        tract.configure_policies(self.policies, autonomy=self.autonomy)  # stored with the tract
        with self._lock:
            found = self._handles.setdefault(key, (tract, threading.Lock()))
            while len(self._handles) > _MAX_HANDLES:
                self._handles.popitem(last=False)
        return found

    def run(self, config: RunnableConfig | None) -> list[BaseMessage] | None:
        """Run the policies on the thread; the new message list if the tract changed, else None."""
        where = _where(config, self.saver, self.who)
        before: str | None = None
        if where.checkpoint_id is not None:
            if not self.saver._await_checkpoint(where.thread_id, where.namespace, where.checkpoint_id, CHECKPOINT_WAIT):
                raise TractError(
                    f"{self.who}: checkpoint {where.checkpoint_id} of thread {where.thread_id!r}, which this step "
                    f"started from, was not stored within {CHECKPOINT_WAIT:.0f} s; is the graph compiled with "
                    "checkpointer=<this TractSaver>?"
                )
            before = self.saver.checkpoint_commit(where.config, _MESSAGES)
        try:
            tract, lock = self._handle(where)
        except TractNotFoundError:  # no message stored yet: nothing to watch
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

    def _work(self, tract: Tract, where: _Where) -> None:
        tract.run_policies()
        if self.interrupt_on_proposal:
            self._ask(tract, where)

    def _ask(self, tract: Tract, where: _Where) -> None:
        """One ``interrupt()`` per pending proposal, oldest first, in a stable order across re-runs."""
        position = 0
        retry: tuple[int, str] | None = None
        stored = None
        if where.checkpoint_id is not None and where.task_id is not None:
            stored = _asked(
                self.saver._task_interrupt(where.thread_id, where.namespace, where.checkpoint_id, where.task_id)
            )
        if stored is not None:  # resumed: the answers before the last were applied by earlier runs
            last, proposal_id, value = stored
            for earlier in range(last):
                interrupt({QUESTION_KEY: earlier, "replayed": True})  # returns its stored answer
            error = self._decide(tract, proposal_id, interrupt(value))
            retry = None if error is None else (proposal_id, error)
            position = last + 1
        while True:
            pending = tract.pending_proposals()
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


class TractPolicyNode(Runnable[Any, dict[str, Any]]):
    """A LangGraph node that runs the thread's tract policies and asks about their proposals.

    ``builder.add_node("policies", TractPolicyNode(saver, policies=[CompressPolicy(0.8, llm=model)]))``,
    after the node that calls the model, in a graph compiled with ``checkpointer=saver``. Each run:
    the thread's tract (``saver.tract(thread_id)``; a subgraph's namespace is its own tract) gets the
    policies (configured once per process, stored with the tract), runs them, and each pending
    proposal becomes an ``interrupt()`` decided by ``Command(resume=...)`` (see the module docstring
    for the answers). Returns ``{"messages": [RemoveMessage(REMOVE_ALL_MESSAGES), *compiled context]}``
    when the tract changed, else ``{}``. Sync (``invoke``) and async (``ainvoke``: the work runs in a
    worker thread).

    Args:
        saver: The graph's :class:`~tract_langchain.TractSaver`.
        policies: The policies to configure on every thread this node sees (None: the ones stored
            with each thread's tract, as ``tract.configure_policies(...)`` or the CLI left them).
        autonomy: ``"manual"``, ``"collaborative"`` or ``"autonomous"`` (None: the tract's, by
            default collaborative: low-risk actions run, high-risk ones are proposed).
        interrupt_on_proposal: False: no interrupts; proposals stay pending for
            ``tract.approve_proposal`` / ``tract approve`` and are asked nowhere.

    Raises:
        InvalidInputError: Not a ``TractSaver``, not policies, or a bad autonomy level; when run:
            no ``thread_id``, ``durability="exit"``, or a graph checkpointed by another saver.
    """

    def __init__(
        self,
        saver: TractSaver,
        *,
        policies: Sequence[Policy] | None = None,
        autonomy: str | None = None,
        interrupt_on_proposal: bool = True,
    ) -> None:
        self._run = _PolicyRun(saver, policies, autonomy, interrupt_on_proposal, "TractPolicyNode")

    @property
    def policies(self) -> list[Policy] | None:
        """The policies this node configures (None: each thread's stored ones)."""
        return None if self._run.policies is None else list(self._run.policies)

    def __repr__(self) -> str:
        named = None if self._run.policies is None else [p.name for p in self._run.policies]
        return f"TractPolicyNode(policies={named}, autonomy={self._run.autonomy!r})"

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        """Run the thread's policies; ``{"messages": [...]}`` if the tract changed, else ``{}``."""
        update = self._run.run(config)
        return {} if update is None else {_MESSAGES: update}

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        """:meth:`invoke` in a worker thread (the store and the summariser are synchronous)."""
        update = await asyncio.to_thread(self._run.run, config)
        return {} if update is None else {_MESSAGES: update}

    def __call__(self, state: Any, config: RunnableConfig | None = None) -> dict[str, Any]:
        """Same as :meth:`invoke`."""
        return self.invoke(state, config)


class TractPolicyMiddleware(AgentMiddleware):
    """A ``create_agent`` middleware that runs the thread's tract policies before every model call.

    ``create_agent(model, tools, middleware=[TractPolicyMiddleware(saver, policies=[...])],
    checkpointer=saver)``. It hooks ``before_model``: by then the turn's new messages (the user's
    question, the tool results) are in the thread's tract, tool calls are answered (a compression
    never separates a call from its results), and a proposal pauses the agent before a model call is
    spent on a context that is over budget. Proposals are interrupts, answered with
    ``agent.invoke(Command(resume=...), config)`` as for :class:`TractPolicyNode`; an executed action
    that changed the tract replaces the agent's messages with what the tract compiles to.
    ``create_agent``'s ``system_prompt`` is not a message of the state, so it is not part of the tract.

    Args:
        saver: The agent's :class:`~tract_langchain.TractSaver` (``create_agent(..., checkpointer=saver)``).
        policies: The policies to configure (None: each thread's stored ones).
        autonomy: ``"manual"``, ``"collaborative"`` or ``"autonomous"`` (None: the tract's).
        interrupt_on_proposal: False: proposals stay pending, no interrupts.

    Raises:
        InvalidInputError: As :class:`TractPolicyNode`.
    """

    transformers = (InternalCallTransformer,)

    def __init__(
        self,
        saver: TractSaver,
        *,
        policies: Sequence[Policy] | None = None,
        autonomy: str | None = None,
        interrupt_on_proposal: bool = True,
    ) -> None:
        super().__init__()
        self._run = _PolicyRun(saver, policies, autonomy, interrupt_on_proposal, "TractPolicyMiddleware")

    @staticmethod
    def _config() -> RunnableConfig:
        from langgraph.config import get_config

        return get_config()

    def before_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """Run the thread's policies (``None``: the tract did not change)."""
        update = self._run.run(self._config())
        return None if update is None else {_MESSAGES: update}

    async def abefore_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """:meth:`before_model` in a worker thread."""
        config = self._config()
        update = await asyncio.to_thread(self._run.run, config)
        return None if update is None else {_MESSAGES: update}
