"""The orchestrator's deterministic rules: from a :class:`~.health.HealthReport` to actions.

In order of importance:

1. A stalled tangent branch is folded back (``fold``): its own messages compressed into one
   paragraph on the branch it left, which HEAD returns to (X.1).
2. Budget pressure at the threshold compresses everything but the ``keep_recent`` newest messages
   (the range named by commit, so a person can narrow it: "compress 1-40, keep 41-50").
3. Oversized tool outputs outside the newest messages are hidden (SKIP, low risk, reversible).
4. Stale branches are archived (low risk, restorable).
5. After a compression or a fold in the same run, gc reclaims what the retention windows allow.

Fragmentation and pending proposals are reported, not acted on by the rules (a model may).
"""

from __future__ import annotations

from ..formats import CompiledContext
from ..objects import Priority
from ..policies.cache import cache_note, cached_prefix_lost
from ..policies.policy import PolicyAction
from ..toolkit.host import ToolHost
from .config import OrchestratorConfig
from .health import HealthReport

__all__ = ["plan_actions", "action_key"]


def action_key(action: PolicyAction) -> str:
    """What makes two actions the same within one run (so none is tried twice)."""
    params = action.params
    if action.kind == "fold":
        return f"fold:{params.get('branch')}"
    if action.kind == "archive":
        return f"archive:{','.join(params.get('branches', []))}"
    return action.kind


def _compress(context: CompiledContext, report: HealthReport, config: OrchestratorConfig) -> PolicyAction | None:
    item = report["budget_pressure"]
    if item.severity != "act":
        return None
    older = len(context) - config.keep_recent
    if older < 2:
        return None
    if all(context.entry(i).pinned for i in range(older)):  # nothing that may go: it could only fail
        return None
    last = context.entry(older - 1).commit
    budget = report.token_budget or 0
    return PolicyAction(
        "compress",
        {"to_commit": last},
        reason=(
            f"Context at {item.value:.0%} of {budget:,} tokens; recommend compressing messages 1-{older} "
            f"(keep the last {config.keep_recent}){cache_note(cached_prefix_lost(context))}"
        ),
    )


def _first_after(tract: ToolHost, branch: str, at: str) -> str | None:
    """The first commit of ``branch`` after ``at`` (the start of a tangent)."""
    first = None
    for commit in tract.log(None, start=branch):
        if commit.hash == at:
            return first
        first = commit.hash
    return None


def plan_actions(
    tract: ToolHost, report: HealthReport, config: OrchestratorConfig, context: CompiledContext, *, compressed: bool
) -> list[PolicyAction]:
    """The actions the rules take for ``report`` (``context``: the compiled context at HEAD), most
    important first (``compressed``: a compression or fold already ran in this run, so gc may follow)."""
    actions: list[PolicyAction] = []
    for tangent in report["tangent_branches"].details.get("tangents", []):
        if not tangent["stalled"] or tangent["into"] is None or tangent["at"] is None:
            continue
        first = _first_after(tract, tangent["name"], tangent["at"])
        if first is None:
            continue
        actions.append(
            PolicyAction(
                "fold",
                {"branch": tangent["name"], "into": tangent["into"], "first": first, "tip": tangent["commit"]},
                reason=(
                    f"{tangent['name']} has stalled ({tangent['messages']} messages off the main line); fold it "
                    f"into {tangent['into']} as a one-paragraph summary"
                ),
            )
        )
    compress = _compress(context, report, config)
    if compress is not None:
        actions.append(compress)
    outputs = report["oversized_tool_outputs"].details.get("outputs", [])
    if outputs:
        actions.append(
            PolicyAction(
                "annotate",
                {
                    "targets": [o["commit"] for o in outputs],
                    "priority": Priority.SKIP.value,
                    "reason": "oversized tool output",
                },
                reason=report["oversized_tool_outputs"].reason,
            )
        )
    stale = report["stale_branches"].details.get("branches", [])
    if stale:
        actions.append(
            PolicyAction(
                "archive",
                {"branches": [b["name"] for b in stale], "tips": [b["commit"] for b in stale]},
                reason=report["stale_branches"].reason,
            )
        )
    if compressed and config.gc:
        actions.append(PolicyAction("gc", {}, reason="a compression archived messages; reclaim what retention allows"))
    return actions
