"""A thread's tract orchestrator as a LangGraph node and a ``create_agent`` middleware.

The orchestrator (:mod:`tract_core.orchestrator`) looks after a tract: it assesses its health
(budget pressure, stalled tangents, oversized tool outputs, stale branches) and acts, with
deterministic rules or with a model choosing among the tract tools. In a graph checkpointed by a
:class:`~tract_langchain.TractSaver` every thread is a tract, so the orchestrator can look after a
conversation that lives in graph state:

* :class:`TractOrchestratorNode`: ``builder.add_node("orchestrator", TractOrchestratorNode(saver,
  OrchestratorConfig(keep_recent=6), token_budget=8000, llm=summariser))``, after the node that calls
  the model;
* :class:`TractOrchestratorMiddleware`: ``create_agent(model, tools, middleware=[
  TractOrchestratorMiddleware(saver, config, token_budget=8000, llm=summariser)], checkpointer=saver)``,
  which runs it before every model call.

Each run opens the thread's tract, configures the orchestrator on it (stored with the tract, so the
CLI and other processes see the settings), runs :meth:`tract_core.Tract.orchestrate` once, and asks
about each pending orchestrator proposal, oldest first, with ``interrupt()``: the interrupt's value
is the proposal (``id``, ``kind``, ``params``, ``reason`` such as "Context at 85% of 8,000 tokens;
recommend compressing messages 1-50 (keep the last 6)", ...) and its ``question`` number. Resume
with ``graph.invoke(Command(resume=answer), config)``: ``True`` approves (the action executes in the
node), ``False`` rejects, a dict approves with changed parameters (``{"to_commit": "<hash>"}``: compress
less, "compress 1-40, keep 41-50"), and the explicit ``{"approve", "changes", "reason", "by", "id"}``
form is as for :mod:`tract_langchain.policy_node`, with the same guarantees: the questions keep their
order when LangGraph runs the node again to deliver an answer, and an unusable answer asks again with
an ``error``. When the run or a decision changed the thread's tract, the update replaces the graph's
messages with what the tract compiles to; otherwise it is ``{}``.

The orchestrator runs once per step, not again when the step is resumed to deliver an answer (so a
model choosing the actions is not asked twice). Its proposals are asked about, not those of policies
or of an agent's tool calls (:class:`~tract_langchain.TractPolicyNode` asks about every pending one).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from tract_core import InvalidInputError, Tract
from tract_core.orchestrator import OrchestratorConfig
from tract_core.policies import Proposal

from ._thread_run import ThreadRun, ThreadRunMiddleware, ThreadRunNode, quiet_llm

if TYPE_CHECKING:
    from .checkpoint import TractSaver

__all__ = ["TractOrchestratorNode", "TractOrchestratorMiddleware", "ORCHESTRATOR"]

ORCHESTRATOR = "orchestrator"
"""Who the orchestrator's proposals are by (``Proposal.policy``)."""


class _OrchestratorRun(ThreadRun):
    """What the node and the middleware do: run the thread's orchestrator, ask, say what changed."""

    def __init__(
        self,
        saver: TractSaver,
        config: OrchestratorConfig | None,
        token_budget: int | None,
        llm: Any,
        interrupt_on_proposal: bool,
        who: str,
    ) -> None:
        super().__init__(saver, interrupt_on_proposal, who)
        if config is not None and not isinstance(config, OrchestratorConfig):
            raise InvalidInputError(
                f"{who} config must be an OrchestratorConfig (tract_core.orchestrator), not {type(config).__name__}"
            )
        if token_budget is not None and (
            isinstance(token_budget, bool) or not isinstance(token_budget, int) or token_budget <= 0
        ):
            raise InvalidInputError(f"token_budget must be a positive whole number of tokens, not {token_budget!r}")
        if config is not None:
            changes: dict[str, Any] = {}
            if config.autonomy is None and interrupt_on_proposal:
                changes["autonomy"] = "collaborative"  # the interrupts decide what is high risk
            if config.llm is not None:
                changes["llm"] = quiet_llm(config.llm, "tract_orchestrator")
            config = dataclasses.replace(config, **changes) if changes else config
        self.config = config
        self.default = OrchestratorConfig(autonomy="collaborative" if interrupt_on_proposal else None)
        self.token_budget = token_budget
        self.llm = quiet_llm(llm, "tract_orchestrator")

    @property
    def configures(self) -> bool:
        return self.config is not None or self.token_budget is not None or self.llm is not None

    def open(self, thread_id: str, namespace: str) -> Tract:
        tract = super().open(thread_id, namespace)
        if self.token_budget is None and self.llm is None:
            return tract
        settings = tract.config
        if self.token_budget is not None:
            settings = dataclasses.replace(settings, token_budget=self.token_budget)  # stored with the tract
        settings = dataclasses.replace(settings, llm=self.llm)  # not stored: this process's summariser
        tract.close()
        return Tract.open(store=self.saver.store, tract_id=tract.tract_id, config=settings, create=False)

    def configure(self, tract: Tract) -> None:
        if self.config is not None:
            tract.configure_orchestrator(self.config)  # stored with the tract (not the models, the callbacks)

    def act(self, tract: Tract, resumed: bool) -> bool:
        if resumed:  # the step runs again to deliver an answer: decide, do not run (or ask a model) twice
            return True
        if tract.orchestrator_config is None:  # nothing given, nothing stored: the defaults
            tract.configure_orchestrator(self.default)
        return tract.orchestrate().stopped != "paused"

    def pending(self, tract: Tract) -> list[Proposal]:
        return [p for p in tract.pending_proposals() if p.policy == ORCHESTRATOR]


class TractOrchestratorNode(ThreadRunNode):
    """A LangGraph node that runs the thread's tract orchestrator and asks about its proposals.

    ``builder.add_node("orchestrator", TractOrchestratorNode(saver, OrchestratorConfig(),
    token_budget=8000, llm=summariser))``, after the node that calls the model, in a graph compiled
    with ``checkpointer=saver``. Each step it runs :meth:`tract_core.Tract.orchestrate` on the thread's
    tract (``saver.tract(thread_id)``; a subgraph's namespace is its own tract); each pending
    orchestrator proposal becomes an ``interrupt()`` decided by ``Command(resume=...)``: ``True``,
    ``False``, a dict of changed parameters (``{"to_commit": "<hash>"}``) or the explicit form of
    :mod:`tract_langchain.policy_node`. Returns ``{"messages": [RemoveMessage(REMOVE_ALL_MESSAGES),
    *compiled context]}`` when the tract changed, else ``{}``. Sync and async (``ainvoke``: the work
    runs in a worker thread). While the thread's orchestrator is paused
    (``tract.pause_orchestrator()``), the node does nothing.

    Args:
        saver: The graph's :class:`~tract_langchain.TractSaver`.
        config: The orchestrator's settings, configured on every thread this node sees (stored with
            it, but for the model and the callbacks). With ``autonomy`` None the node decides
            ``"collaborative"``: low-risk actions (hiding an oversized tool output, archiving an idle
            branch) run, high-risk ones (compress, fold, gc) are asked about. Its ``llm``, if any,
            chooses the actions and writes the summaries; a LangChain model is called tagged
            ``nostream``. Its ``callbacks``, if any, are asked first; what they leave pending is
            asked with an interrupt. None: each thread's stored settings as they are (the defaults,
            with ``"collaborative"``, for a thread that has none).
        token_budget: The thread's context budget in tokens (stored with its tract as
            ``TractConfig(token_budget=...)``); None: the tract's. Without one, budget pressure is
            never acted on.
        llm: The model that writes summaries when ``config`` has no ``llm`` (rules mode), as
            ``TractConfig(llm=...)``; any model :func:`tract_core.as_llm` accepts, a LangChain chat
            model included (called tagged ``nostream``). Not stored: give it in every process.
        interrupt_on_proposal: False: no interrupts; proposals stay pending for
            ``tract.approve_proposal`` / ``tract approve``.

    Raises:
        InvalidInputError: Not a ``TractSaver``, not an ``OrchestratorConfig``, or a bad budget; when
            run: no ``thread_id``, ``durability="exit"``, or a graph checkpointed by another saver.
    """

    def __init__(
        self,
        saver: TractSaver,
        config: OrchestratorConfig | None = None,
        *,
        token_budget: int | None = None,
        llm: Any = None,
        interrupt_on_proposal: bool = True,
    ) -> None:
        self._run: _OrchestratorRun = _OrchestratorRun(
            saver, config, token_budget, llm, interrupt_on_proposal, "TractOrchestratorNode"
        )

    @property
    def config(self) -> OrchestratorConfig | None:
        """The settings this node configures (None: each thread's stored ones)."""
        return self._run.config

    def __repr__(self) -> str:
        return f"TractOrchestratorNode(config={self._run.config!r}, token_budget={self._run.token_budget!r})"


class TractOrchestratorMiddleware(ThreadRunMiddleware):
    """A ``create_agent`` middleware that runs the thread's tract orchestrator before every model call.

    ``create_agent(model, tools, middleware=[TractOrchestratorMiddleware(saver, OrchestratorConfig(),
    token_budget=8000, llm=summariser)], checkpointer=saver)``. It hooks ``before_model``: the turn's
    new messages are in the thread's tract, tool calls have their results, and a proposal (compress
    the context now over budget) pauses the agent before a model call is spent on it. Proposals are
    interrupts answered with ``agent.invoke(Command(resume=...), config)`` as for
    :class:`TractOrchestratorNode`; an executed action that changed the tract replaces the agent's
    messages with what the tract compiles to. ``create_agent``'s ``system_prompt`` is not a message
    of the state, so it is not part of the tract (nor of its budget).

    Args:
        saver: The agent's :class:`~tract_langchain.TractSaver` (``create_agent(..., checkpointer=saver)``).
        config: The orchestrator's settings (None: each thread's stored ones); see
            :class:`TractOrchestratorNode`.
        token_budget: The thread's context budget in tokens (None: the tract's).
        llm: The model that writes summaries when ``config`` has none.
        interrupt_on_proposal: False: proposals stay pending, no interrupts.

    Raises:
        InvalidInputError: As :class:`TractOrchestratorNode`.
    """

    def __init__(
        self,
        saver: TractSaver,
        config: OrchestratorConfig | None = None,
        *,
        token_budget: int | None = None,
        llm: Any = None,
        interrupt_on_proposal: bool = True,
    ) -> None:
        super().__init__()
        self._run: _OrchestratorRun = _OrchestratorRun(
            saver, config, token_budget, llm, interrupt_on_proposal, "TractOrchestratorMiddleware"
        )
