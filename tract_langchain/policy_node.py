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

An answer that cannot be used (another type, a wrong ``id``, changes naming a commit not in the
thread's history) asks the same proposal again, with an ``error`` in the interrupt's value. When
actions executed (now or while the graph waited) changed the thread's tract, the node returns
``{"messages": [RemoveMessage(REMOVE_ALL_MESSAGES), *what the tract compiles to]}``, so the next
model call sees the compressed, pinned, branched context; otherwise ``{}``. The graph's next
checkpoint then points at the tract's ``main`` as it is: nothing is copied.

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

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tract_core import InvalidInputError, Tract
from tract_core.policies import AUTONOMY_LEVELS, Policy

from ._thread_run import (
    CHECKPOINT_WAIT,
    DEFAULT_DECIDED_BY,
    QUESTION_KEY,
    ThreadRun,
    ThreadRunMiddleware,
    ThreadRunNode,
    quiet_llm,
)

if TYPE_CHECKING:
    from .checkpoint import TractSaver

__all__ = ["TractPolicyNode", "TractPolicyMiddleware", "QUESTION_KEY", "DEFAULT_DECIDED_BY", "CHECKPOINT_WAIT"]


def _quiet(policy: Policy) -> Policy:
    """The policy, or a copy whose LangChain model (``llm``) is called tagged ``nostream``, so a
    summary it writes stays out of the graph's message stream."""
    llm = getattr(policy, "llm", None)
    quiet = quiet_llm(llm, "tract_policy")
    if quiet is llm:
        return policy
    copied = copy.copy(policy)
    copied.llm = quiet  # type: ignore[attr-defined]
    return copied


class _PolicyRun(ThreadRun):
    """What the node and the middleware do: run the thread's policies, ask, and say what changed."""

    def __init__(
        self,
        saver: TractSaver,
        policies: Sequence[Policy] | None,
        autonomy: str | None,
        interrupt_on_proposal: bool,
        who: str,
    ) -> None:
        super().__init__(saver, interrupt_on_proposal, who)
        if policies is not None and (isinstance(policies, (str, bytes)) or not isinstance(policies, Sequence)):
            raise InvalidInputError(f"{who} policies must be a list of policies, e.g. [CompressPolicy(0.8)]")
        if policies is not None:
            for policy in policies:
                if not isinstance(policy, Policy):
                    raise InvalidInputError(f"{policy!r} is not a policy: it needs name, priority, trigger, evaluate")
        if autonomy is not None and autonomy not in AUTONOMY_LEVELS:
            raise InvalidInputError(f"autonomy must be 'manual', 'collaborative' or 'autonomous', not {autonomy!r}")
        self.policies = None if policies is None else [_quiet(p) for p in policies]
        self.autonomy = autonomy

    @property
    def configures(self) -> bool:
        # the policies (with their models) are set on a handle once; without policies= a fresh
        # handle reads the stored configuration every run
        return self.policies is not None or self.autonomy is not None

    def configure(self, tract: Tract) -> None:
        tract.configure_policies(self.policies, autonomy=self.autonomy)  # stored with the tract

    def act(self, tract: Tract, resumed: bool) -> bool:
        tract.run_policies()  # cheap and idempotent: proposals are stored with unique fingerprints
        return True


class TractPolicyNode(ThreadRunNode):
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
        self._run: _PolicyRun = _PolicyRun(saver, policies, autonomy, interrupt_on_proposal, "TractPolicyNode")

    @property
    def policies(self) -> list[Policy] | None:
        """The policies this node configures (None: each thread's stored ones)."""
        return None if self._run.policies is None else list(self._run.policies)

    def __repr__(self) -> str:
        named = None if self._run.policies is None else [p.name for p in self._run.policies]
        return f"TractPolicyNode(policies={named}, autonomy={self._run.autonomy!r})"


class TractPolicyMiddleware(ThreadRunMiddleware):
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

    def __init__(
        self,
        saver: TractSaver,
        *,
        policies: Sequence[Policy] | None = None,
        autonomy: str | None = None,
        interrupt_on_proposal: bool = True,
    ) -> None:
        super().__init__()
        self._run: _PolicyRun = _PolicyRun(saver, policies, autonomy, interrupt_on_proposal, "TractPolicyMiddleware")
