"""Context health: what ``t.health()`` measures, each finding a number with a reason.

Read-only and deterministic: the compiled context at HEAD (cached by the compiler), the branches
and the pending proposals. Six findings:

* ``budget_pressure``: tokens of the compiled context / the token budget.
* ``fragmentation``: summaries from separate compressions in the context (each pass leaves one;
  several mean the context is a patchwork a single pass would tidy).
* ``stale_branches``: branches (not tangents, not archived) with no commit for ``stale_days``.
* ``tangent_branches``: ``tangent/<n>`` branches; stalled ones (``tangent_limit`` messages of their
  own, or left behind by the conversation) are listed in ``details``.
* ``oversized_tool_outputs``: tool results in the context above ``tool_output_tokens``.
* ``pending_proposals``: proposals waiting for a decision.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import display
from ..clock import now
from ..formats import CompiledContext
from ..objects import ContentType, Priority
from ..policies.execute import TANGENT_PREFIX
from ..refs import DEFAULT_BRANCH
from ..toolkit.host import ToolHost
from .config import OrchestratorConfig

__all__ = ["HealthItem", "HealthReport", "assess", "SEVERITIES"]

SEVERITIES: tuple[str, ...] = ("ok", "warn", "act")
"""``ok``; ``warn``: worth watching; ``act``: the rules would do something about it."""

_DAY = 86_400.0


@dataclass(frozen=True)
class HealthItem:
    """One finding.

    Attributes:
        name: ``budget_pressure``, ``fragmentation``, ``stale_branches``, ``tangent_branches``,
            ``oversized_tool_outputs`` or ``pending_proposals``.
        value: The number (a share for budget pressure, a count for the others).
        severity: ``ok``, ``warn`` or ``act``.
        reason: One sentence a person (or a model) reads.
        details: What the number is made of (branch names, commits, proposal ids).
    """

    name: str
    value: float
    severity: str
    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON data."""
        return {
            "name": self.name,
            "value": self.value,
            "severity": self.severity,
            "reason": self.reason,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class HealthReport:
    """What ``t.health()`` found: one :class:`HealthItem` per measure, in a fixed order.

    Index it by name (``report["budget_pressure"].value``) or iterate it.

    Attributes:
        head: The commit measured.
        branch: The checked-out branch.
        token_count: Tokens of the compiled context.
        token_budget: The budget (None if none is configured).
        items: The findings.
    """

    head: str | None
    branch: str | None
    token_count: int
    token_budget: int | None
    items: tuple[HealthItem, ...]

    def __getitem__(self, name: str) -> HealthItem:
        for item in self.items:
            if item.name == name:
                return item
        raise KeyError(name)

    def __iter__(self) -> Iterator[HealthItem]:
        return iter(self.items)

    @property
    def findings(self) -> list[HealthItem]:
        """The items that are not ``ok``."""
        return [i for i in self.items if i.severity != "ok"]

    @property
    def healthy(self) -> bool:
        """Whether nothing calls for action."""
        return all(i.severity != "act" for i in self.items)

    def to_json(self) -> dict[str, Any]:
        """JSON data (the ``context_health`` tool returns it)."""
        return {
            "head": None if self.head is None else self.head[:12],
            "branch": self.branch,
            "tokens": self.token_count,
            "token_budget": self.token_budget,
            "items": [i.to_json() for i in self.items],
        }

    def text(self) -> str:
        """A plain-text report, one line per finding (what the orchestrator's model reads)."""
        budget = f" of {self.token_budget:,}" if self.token_budget else ""
        lines = [f"Context on {self.branch or 'detached HEAD'}: {self.token_count:,} tokens{budget}."]
        for item in self.items:
            lines.append(f"- {item.name} = {item.value:g} [{item.severity}]: {item.reason}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        """The notebook view: the budget bar and a row per finding with its severity."""
        return display.health_html(self)

    def __rich__(self) -> Any:
        """The terminal view (``rich.print(report)``)."""
        return display.health_rich(self)


def _budget(tokens: int, budget: int | None, threshold: float) -> HealthItem:
    if not budget:
        return HealthItem("budget_pressure", 0.0, "ok", "no token budget is configured (TractConfig(token_budget=...))")
    share = tokens / budget
    severity = "act" if share >= threshold else "warn" if share >= 0.8 * threshold else "ok"
    return HealthItem(
        "budget_pressure",
        round(share, 4),
        severity,
        f"context at {share:.0%} of {budget:,} tokens (compress at {threshold:.0%})",
        {"tokens": tokens, "budget": budget, "threshold": threshold},
    )


def _context_items(
    context: CompiledContext, config: OrchestratorConfig, budget: int | None
) -> tuple[HealthItem, HealthItem]:
    limit = config.tool_output_tokens or max(500, int(0.05 * budget) if budget else 1000)
    keep = config.keep_recent
    summaries: list[str] = []
    oversized: list[dict[str, Any]] = []
    last = len(context) - keep
    summary, pinned = ContentType.SUMMARY, Priority.PINNED
    for index, (commit, role, content_type, tokens, priority) in enumerate(context.outline()):
        if content_type == summary:
            summaries.append(commit)
        elif role == "tool" and tokens > limit and priority != pinned and index < last:
            oversized.append({"commit": commit, "tokens": tokens})
    count = len(summaries)
    fragmentation = HealthItem(
        "fragmentation",
        count,
        "warn" if count >= 3 else "ok",
        f"{count} summaries from separate compressions in the context"
        + ("; one compression over them would tidy it" if count >= 3 else ""),
        {"summaries": summaries},
    )
    size = sum(o["tokens"] for o in oversized)
    tools = HealthItem(
        "oversized_tool_outputs",
        len(oversized),
        "act" if oversized else "ok",
        (
            f"{len(oversized)} tool outputs above {limit:,} tokens ({size:,} tokens) outside the newest {keep} "
            "messages; hiding them (SKIP) keeps them in history"
            if oversized
            else f"no tool output above {limit:,} tokens outside the newest {keep} messages"
        ),
        {"limit": limit, "outputs": oversized},
    )
    return fragmentation, tools


def _tangent_origins(tract: ToolHost) -> tuple[dict[str, tuple[str | None, str | None]], set[str]]:
    """For each branch BranchPolicy made: the branch it left and the commit it left it at; and the
    tips of the tangents already folded (a restored one is not folded again unless it grew)."""
    origins: dict[str, tuple[str | None, str | None]] = {}
    folded: set[str] = set()
    for proposal in tract.proposals(status="executed"):
        outcome = proposal.outcome
        if proposal.kind == "branch" and isinstance(outcome, Mapping) and "left" in outcome:
            origins[str(outcome.get("branch"))] = (outcome.get("left"), outcome.get("at"))
        elif proposal.kind == "fold" and isinstance(outcome, Mapping) and isinstance(outcome.get("tangent"), str):
            folded.add(outcome["tangent"])
    return origins, folded


def _own_messages(tract: ToolHost, branch: str, at: str | None, limit: int) -> int:
    """Commits of ``branch`` after ``at`` (counted up to ``limit``: enough to call it stalled)."""
    count = 0
    for commit in tract.log(limit, start=branch):
        if commit.hash == at:
            break
        count += 1
    return count


def _branch_items(
    tract: ToolHost, config: OrchestratorConfig, default_into: str | None
) -> tuple[HealthItem, HealthItem]:
    branches = tract.list_branches()
    clock = now()
    stale: list[dict[str, Any]] = [
        {"name": b.name, "commit": b.commit, "idle_days": round((clock - b.last_commit_at) / _DAY, 1)}
        for b in branches
        if not b.current
        and not b.name.startswith(TANGENT_PREFIX)
        and b.last_commit_at is not None
        and clock - b.last_commit_at >= config.stale_days * _DAY
    ]
    stale_item = HealthItem(
        "stale_branches",
        len(stale),
        "act" if stale else "ok",
        (
            f"{len(stale)} branches with no commit for {config.stale_days:g} days: "
            + ", ".join(str(s["name"]) for s in stale)
            if stale
            else f"no branch idle for {config.stale_days:g} days"
        ),
        {"branches": stale},
    )
    tangents = [b for b in branches if b.name.startswith(TANGENT_PREFIX)]
    origins, folded = _tangent_origins(tract) if tangents else ({}, set())
    found: list[dict[str, Any]] = []
    for b in tangents:
        into, at = origins.get(b.name, (default_into, None))
        own = _own_messages(tract, b.name, at, config.tangent_limit + 1) if at is not None else config.tangent_limit
        stalled = (own >= config.tangent_limit or not b.current) and b.commit not in folded
        found.append(
            {
                "name": b.name,
                "commit": b.commit,
                "into": into,
                "at": at,
                "messages": own,
                "current": b.current,
                "stalled": stalled,
            }
        )
    stuck = [t for t in found if t["stalled"] and t["into"] is not None and t["at"] is not None]
    tangent_item = HealthItem(
        "tangent_branches",
        len(found),
        "act" if stuck else "warn" if found else "ok",
        (
            f"{len(stuck)} of {len(found)} tangent branches stalled ("
            + ", ".join(
                f"{t['name']}: {t['messages']}{'+' if t['messages'] > config.tangent_limit else ''} messages"
                for t in stuck
            )
            + "); fold each into one summary on the branch it left"
            if stuck
            else f"{len(found)} tangent branches, none stalled"
            if found
            else "no tangent branches"
        ),
        {"tangents": found},
    )
    return stale_item, tangent_item


def _pending_item(tract: ToolHost) -> HealthItem:
    pending = tract.proposals(status="pending")
    return HealthItem(
        "pending_proposals",
        len(pending),
        "warn" if pending else "ok",
        (
            f"{len(pending)} proposals wait for a decision: "
            + "; ".join(f"#{p.id} {p.kind} by {p.policy}" for p in pending[:5])
            if pending
            else "no proposal waits for a decision"
        ),
        {"ids": [p.id for p in pending]},
    )


def assess(tract: ToolHost, config: OrchestratorConfig, context: CompiledContext) -> HealthReport:
    """Measure ``tract``'s context health (``context``: its compiled context at HEAD) with the
    thresholds of ``config``."""
    budget = tract.config.token_budget
    fragmentation, tools = _context_items(context, config, budget)
    stale, tangents = _branch_items(tract, config, DEFAULT_BRANCH)
    return HealthReport(
        head=context.head,
        branch=tract.current_branch,
        token_count=context.token_count,
        token_budget=budget,
        items=(
            _budget(context.token_count, budget, config.threshold),
            fragmentation,
            stale,
            tangents,
            tools,
            _pending_item(tract),
        ),
    )
