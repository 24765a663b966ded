"""The orchestrator of one tract handle: triggers after commits, a health assessment, and a bounded
loop of actions chosen by rules or by a model (DESIGN §13).

Every action goes through the tract's proposals (``by="orchestrator"``): the autonomy decides
whether it runs, the callbacks decide what waits, and the same action at the same HEAD is recorded
once across processes. Paused (stored with the tract, so every process sees it), triggers do not
fire, runs do nothing, and the tract's policies wait too: nothing automatic touches the context
while a person works on it (X.2).
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInputError, PolicyWarning, TractError
from ..flags import ThreadFlag
from ..formats import CompiledContext
from ..objects import canonical_json
from ..policies.engine import PolicyEngine, orchestrator_paused
from ..policies.policy import PolicyAction
from ..policies.proposal import Proposal
from ..store.base import PolicyConfigEntry, Session
from ..toolkit.dispatch import DEFAULT_PREFIX, ToolCall, read_call, result_message, run_call, tool_calls_of
from ..toolkit.formats import openai_tool
from ..toolkit.host import ToolHost
from ..toolkit.operations import tools_for
from .config import OrchestratorConfig
from .health import HealthReport, assess
from .rules import action_key, plan_actions

__all__ = ["Orchestrator", "OrchestratorRun", "OrchestratorStep", "ORCHESTRATOR_PROMPT", "STOP_REASONS"]

ORCHESTRATOR_PROMPT = (
    "You manage the context window of an AI agent: the messages it will see on its next call. "
    "Below is a health report of that context. Use the tools to fix what the report flags: "
    "compress old stretches when the budget is under pressure (pinned messages survive), hide "
    "oversized tool outputs, pin what must never be lost, fold stalled tangents back. Look before you "
    "act (context_overview, context_log) when you need commit hashes. Do only what the report calls "
    "for; when nothing more is worth doing, answer in one sentence without calling a tool."
)
"""The system prompt of the orchestrator's model (the health report follows as the user message)."""

STOP_REASONS: tuple[str, ...] = ("done", "max_steps", "loop", "errors", "paused", "dry_run")
"""Why a run ended: nothing left to do, the step bound, a repeated call, repeated bad calls, the
orchestrator is paused, or a dry run (nothing executed)."""

ACTOR = "orchestrator"
"""The orchestrator's proposals are stored with this as their ``policy``."""

LOOP_REPEATS = 3
"""The same call (tool and arguments) this many times in one run ends it (``loop``)."""

ERROR_STREAK = 3
"""This many bad calls in a row end a run (``errors``)."""


@dataclass(frozen=True)
class OrchestratorStep:
    """One action of a run.

    Attributes:
        tool: The tool the model called, or the action kind the rules chose.
        arguments: Its arguments (the action's parameters for rules).
        result: What it gave (JSON data), or the error a bad call got.
        is_error: Whether it failed or was refused (nothing was written then).
        proposal: The proposal it made, as stored after the decision (None for reading tools).
        reason: Why (the rule's reason; empty for a model's call).
    """

    tool: str
    arguments: dict[str, Any]
    result: Any
    is_error: bool = False
    proposal: Proposal | None = None
    reason: str = ""


@dataclass(frozen=True)
class OrchestratorRun:
    """What one run did.

    Attributes:
        trigger: ``manual``, ``commit_count`` or ``token_threshold``.
        mode: ``rules`` or ``llm``.
        health: The assessment it started from.
        steps: What it did, in order.
        stopped: Why it ended (one of :data:`STOP_REASONS`).
        planned: For a dry run, the actions the rules would take.
    """

    trigger: str
    mode: str
    health: HealthReport | None
    steps: tuple[OrchestratorStep, ...] = ()
    stopped: str = "done"
    planned: tuple[PolicyAction, ...] = field(default=())

    @property
    def executed(self) -> list[OrchestratorStep]:
        """The steps whose proposal was executed."""
        return [s for s in self.steps if s.proposal is not None and s.proposal.status == "executed"]

    @property
    def pending(self) -> list[Proposal]:
        """Proposals of this run that still wait for a decision."""
        return [s.proposal for s in self.steps if s.proposal is not None and s.proposal.status == "pending"]


def _arguments_as_sent(raw: Any, call: ToolCall) -> str:
    """A call's arguments as the model wrote them (bad JSON included: it sees what to fix)."""
    function = raw.get("function") if isinstance(raw, Mapping) else getattr(raw, "function", None)
    text = function.get("arguments") if isinstance(function, Mapping) else getattr(function, "arguments", None)
    return text if isinstance(text, str) else json.dumps(call.arguments or {}, sort_keys=True)


class Orchestrator:
    """The orchestrator of one :class:`~tract_core.Tract` handle (the tract creates it; use its methods)."""

    def __init__(
        self,
        tract: ToolHost,
        engine: PolicyEngine,
        reading: Callable[[], AbstractContextManager[Session]],
        writing: Callable[[], AbstractContextManager[Session]],
        head_context: Callable[[], CompiledContext],
    ) -> None:
        self._tract = tract
        self._engine = engine
        self._reading = reading
        self._writing = writing
        self._head_context = head_context
        self.config: OrchestratorConfig | None = None
        self._commits = 0
        self._batched = 0  # commits of the open batch: they count once it has committed
        self._above = False
        self._busy = ThreadFlag()
        self._deferred = False

    # -- configuration ------------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        """Whether an orchestrator is configured on this handle."""
        return self.config is not None

    def restore(self, orchestrator_json: str | None) -> None:
        """Bring back the stored settings (when the tract is opened)."""
        if not orchestrator_json:
            return
        data = json.loads(orchestrator_json)
        if "config" in data:
            try:
                self.config = OrchestratorConfig.from_stored(data["config"])
            except (TractError, TypeError) as error:
                warnings.warn(
                    f"tract {self._tract.tract_id!r}: the stored orchestrator settings could not be restored "
                    f"({error}); configure_orchestrator() again",
                    PolicyWarning,
                    stacklevel=4,
                )

    def configure(self, config: OrchestratorConfig | None) -> OrchestratorConfig:
        """Set (and store) the configuration; None keeps the current one, or the defaults."""
        if config is not None and not isinstance(config, OrchestratorConfig):
            raise InvalidInputError(f"config must be an OrchestratorConfig, not {type(config).__name__}")
        chosen = config or self.config or OrchestratorConfig()
        with self._writing() as session:
            entry = session.policies.config(self._tract.tract_id)
            data = json.loads(entry.orchestrator_json) if entry and entry.orchestrator_json else {}
            data["config"] = chosen.to_stored()
            session.policies.set_orchestrator(self._tract.tract_id, canonical_json(data))
        self.config = chosen
        self._engine.set_actor("orchestrator", chosen.llm)  # approvals here summarise with it
        self._commits = 0
        self._above = False
        return chosen

    def set_paused(self, paused: bool) -> None:
        """Pause or resume (stored: every process sees it)."""
        with self._writing() as session:
            entry = session.policies.config(self._tract.tract_id)
            data = json.loads(entry.orchestrator_json) if entry and entry.orchestrator_json else {}
            data["paused"] = paused
            session.policies.set_orchestrator(self._tract.tract_id, canonical_json(data))

    def paused(self) -> bool:
        """Whether the orchestrator is paused."""
        with self._reading() as session:
            return orchestrator_paused(session.policies.config(self._tract.tract_id))

    # -- triggers -----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether this thread is inside a run of this orchestrator."""
        return self._busy.active

    def after_commit(self, stored: PolicyConfigEntry | None) -> OrchestratorRun | None:
        """Called by the tract after a commit landed (``stored``: the configuration row read in the
        commit's transaction). Runs the orchestrator if a trigger fires; never raises."""
        config = self.config
        if config is None or self.running or self._engine.running:
            return None
        triggers = config.triggers
        if triggers.on_commit_count is None and triggers.on_token_threshold is None:
            return None
        if orchestrator_paused(stored):
            return None
        store = self._tract.store
        if store.join_batch(self._drop_batch) is not None:  # inside a batch: look once it has committed
            self._batched += 1
            if not self._deferred:
                self._deferred = True
                store.after_batch(self._after_batch)
            return None
        self._commits += 1
        return self._check()

    def _drop_batch(self) -> None:
        """The batch rolled back: its commits never landed (and the next batch registers again)."""
        self._deferred = False
        self._batched = 0

    def _after_batch(self) -> None:
        self._deferred = False
        self._commits += self._batched
        self._batched = 0
        self._check()

    def _check(self) -> OrchestratorRun | None:
        config = self.config
        if config is None:
            return None
        triggers = config.triggers
        fired = None
        if triggers.on_commit_count is not None and self._commits >= triggers.on_commit_count:
            fired = "commit_count"
        above = self._above_threshold()
        if above is not None:
            if above and not self._above:
                fired = fired or "token_threshold"
            self._above = above
        if fired is None:
            return None
        self._commits = 0
        try:
            return self.run(fired)
        except Exception as error:  # a triggered run never loses the commit that triggered it
            warnings.warn(
                f"the orchestrator failed ({type(error).__name__}: {error}); the commit is kept",
                PolicyWarning,
                stacklevel=4,
            )
            return None
        finally:  # the run may have compressed below the threshold: the next crossing fires again
            self._above = bool(self._above_threshold())

    def _above_threshold(self) -> bool | None:
        """Whether HEAD's context is at the token trigger (None: no token trigger or no budget)."""
        threshold = self.config.triggers.on_token_threshold if self.config is not None else None
        budget = self._tract.config.token_budget
        if threshold is None or not budget:
            return None
        return self._head_context().token_count >= threshold * budget

    # -- running ------------------------------------------------------------------------------

    def health(self) -> HealthReport:
        """The current health report, with this orchestrator's thresholds (or the defaults)."""
        return assess(self._tract, self.config or OrchestratorConfig(), self._head_context())

    def _ask(self, config: OrchestratorConfig) -> Callable[[Proposal], Any] | None:
        callbacks = config.callback_list
        if not callbacks:
            return None

        def ask(proposal: Proposal) -> Any:
            for callback in callbacks:
                answer = callback(proposal)
                if answer is not None:
                    return answer
            return None

        return ask

    def run(self, trigger: str = "manual", *, dry_run: bool = False) -> OrchestratorRun:
        """One run: assess, then act (rules, or the configured model) for at most ``max_steps``."""
        config = self.config or OrchestratorConfig()
        mode = "llm" if config.llm is not None else "rules"
        if self.paused():
            return OrchestratorRun(trigger, mode, None, stopped="paused")
        with self._busy.raised():
            report = self.health()
            if dry_run:
                planned = plan_actions(self._tract, report, config, self._head_context(), compressed=False)
                return OrchestratorRun(trigger, mode, report, stopped="dry_run", planned=tuple(planned))
            if mode == "llm":
                steps, stopped = self._run_llm(config, report)
            else:
                steps, stopped = self._run_rules(config, report)
        return OrchestratorRun(trigger, mode, report, tuple(steps), stopped)

    def _submit(self, config: OrchestratorConfig, action: PolicyAction) -> Proposal:
        basis = self._head_context().head or ""
        autonomy = config.effective_autonomy
        if (
            action.kind in ("compress", "fold")
            and action.params.get("content") is None
            and config.llm is None
            and self._tract.config.llm is None
        ):
            # Nothing here can write the summary: executing would only fail. It waits for a person
            # (or a callback) to approve it with content="<the summary>".
            autonomy = "manual"
        return self._engine.submit(
            action,
            by=ACTOR,
            autonomy=autonomy,
            trigger="orchestrator",
            nonce=basis,
            llm=config.llm,
            ask=self._ask(config),
        )

    def _run_rules(self, config: OrchestratorConfig, report: HealthReport) -> tuple[list[OrchestratorStep], str]:
        steps: list[OrchestratorStep] = []
        # what waits for a decision is not proposed again (pending() first marks stale what cannot be approved)
        tried = {action_key(PolicyAction(p.kind, p.params)) for p in self._engine.pending() if p.policy == ACTOR}
        compressed = False
        for _ in range(config.max_steps):
            actions = plan_actions(self._tract, report, config, self._head_context(), compressed=compressed)
            action = next((a for a in actions if action_key(a) not in tried), None)
            if action is None:
                return steps, "done"
            tried.add(action_key(action))
            try:
                proposal = self._submit(config, action)
            except TractError as error:
                steps.append(
                    OrchestratorStep(
                        action.kind, dict(action.params), {"error": str(error)}, True, reason=action.reason
                    )
                )
                report = self.health()
                continue
            failed = proposal.status in ("failed", "stale")
            steps.append(
                OrchestratorStep(action.kind, dict(proposal.params), proposal.outcome, failed, proposal, action.reason)
            )
            if proposal.status == "executed" and action.kind in ("compress", "fold"):
                compressed = True
            if self.paused():
                return steps, "paused"
            report = self.health()
        return steps, "max_steps"

    def _run_llm(self, config: OrchestratorConfig, report: HealthReport) -> tuple[list[OrchestratorStep], str]:
        from ..llm import as_llm

        llm = as_llm(config.llm)
        tools = [openai_tool(spec, DEFAULT_PREFIX) for spec in tools_for(config.profile)]
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": ORCHESTRATOR_PROMPT},
            {"role": "user", "content": report.text()},
        ]
        steps: list[OrchestratorStep] = []
        seen: Counter[str] = Counter()
        errors = 0
        ask = self._ask(config)
        for turn in range(config.max_steps):
            reply = llm.complete(messages, tools=tools)
            sent = tool_calls_of(reply)
            calls = [read_call(c) for c in sent]
            if not calls:
                return steps, "done"
            calls = [
                ToolCall("openai", c.id or f"call_{turn}_{i}", c.name, c.arguments, c.error)
                for i, c in enumerate(calls)
            ]
            messages.append(
                {
                    "role": "assistant",
                    "content": reply.text or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": _arguments_as_sent(raw, c)},
                        }
                        for c, raw in zip(calls, sent, strict=True)
                    ],
                }
            )
            for call in calls:
                result = run_call(
                    self._tract,
                    self._engine,
                    call,
                    profile=config.profile,
                    prefix=DEFAULT_PREFIX,
                    autonomy=config.effective_autonomy,
                    by=ACTOR,
                    llm=config.llm,
                    ask=ask,
                )
                messages.append(result_message(result))
                proposal = self._engine.get(result.proposal) if result.proposal is not None else None
                steps.append(
                    OrchestratorStep(call.name or "?", call.arguments or {}, result.data, result.is_error, proposal)
                )
                errors = errors + 1 if result.is_error else 0
                seen[canonical_json([call.name, call.arguments])] += 1
            if errors >= ERROR_STREAK:
                return steps, "errors"
            if max(seen.values()) >= LOOP_REPEATS:
                return steps, "loop"
            if self.paused():
                return steps, "paused"
        return steps, "max_steps"
