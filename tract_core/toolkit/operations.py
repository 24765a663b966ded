"""The tract tools: what an agent (or the orchestrator's model) can do to its own context.

Each function is one tool (see :mod:`.registry`): its signature and docstring are the schema the
model reads. Reading tools return JSON data. Tools that change the context check their arguments
(reading only) and return a :class:`~tract_core.policies.PolicyAction`; the dispatcher records it as
a proposal and executes it as the autonomy allows, so a tool call, a policy, the orchestrator and
a human all go through one mechanism, and a bad call writes nothing.

Commits are named by their hash or any unique prefix of it (``context_log`` shows 12 characters).
"""

from __future__ import annotations

from typing import Any, Literal

from ..errors import InvalidInputError, TractError
from ..objects import Priority
from ..policies.policy import PolicyAction
from .host import ToolHost
from .registry import TOOLS, ToolSpec, check_profile, tool

# the tools (each a registered function); a model reaches them through as_tools() and execute_tool()
__all__ = [
    "tools_for",
    "status",
    "log",
    "show",
    "overview",
    "health",
    "select",
    "branches",
    "diff",
    "children",
    "proposals",
    "annotate",
    "set_lifecycle",
    "edit",
    "compress",
    "branch",
    "switch",
    "merge",
    "archive_branch",
    "restore_branch",
    "gc",
    "spawn",
    "absorb",
    "approve",
    "reject",
    "commit",
    "reset",
    "cherry_pick",
]

SHORT = 12
"""Characters of a commit hash shown to a model (any unique prefix names a commit)."""

PREVIEW = 160
"""Characters of a message's text shown in listings."""


def _short(commit: str | None) -> str | None:
    return None if commit is None else commit[:SHORT]


def _text(content: Any, limit: int | None = PREVIEW) -> str:
    if isinstance(content, str):
        text = content
    elif isinstance(content, dict) and isinstance(content.get("content"), str):
        text = content["content"]
    elif content is None:
        text = ""
    else:
        from ..objects import canonical_json

        text = canonical_json(content)
    text = " ".join(text.split())
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def _in_history(tract: ToolHost, ref: str, what: str = "commit") -> str:
    """The full hash of ``ref``, which must be in HEAD's history."""
    try:
        found = tract.show(ref).hash
    except TractError as error:
        raise InvalidInputError(f"{what} {ref!r}: {error}. Call context_log to see the commits") from None
    if not tract.contains(found):
        raise InvalidInputError(
            f"{what} {ref!r} is not in the current history (another branch, or replaced by a compression); "
            "call context_log to see the commits"
        )
    return found


# -- reading ----------------------------------------------------------------------------------


@tool("self", "supervisor")
def status(tract: ToolHost) -> dict[str, Any]:
    """Where your context stands: its tokens against the budget, the branch and the HEAD commit."""
    s = tract.status()
    return {
        "branch": s.branch,
        "head": _short(s.head),
        "messages": s.message_count,
        "commits": s.commit_count,
        "tokens": s.token_count,
        "token_budget": s.token_budget,
        "budget_used": None if s.budget_ratio is None else round(s.budget_ratio, 4),
    }


@tool("self", "supervisor")
def log(tract: ToolHost, limit: int = 20) -> list[dict[str, Any]]:
    """The newest commits of your history, newest first: hash, role, content type and a preview.

    Args:
        limit: How many commits (1-200).
    """
    if not 1 <= limit <= 200:
        raise InvalidInputError(f"limit must be between 1 and 200, not {limit}")
    return [
        {
            "commit": _short(c.hash),
            "role": c.role,
            "type": c.content_type,
            "operation": str(c.operation.value),
            "edits": _short(c.response_to),
            "tokens": c.token_count,
            "text": _text(c.content),
        }
        for c in tract.log(limit)
    ]


@tool("self", "supervisor")
def show(tract: ToolHost, commit: str) -> dict[str, Any]:
    """One commit in full: its message, metadata and the priority history of the message.

    Args:
        commit: The commit's hash or a unique prefix of it (as context_log shows).
    """
    try:
        c = tract.show(commit)
    except TractError as error:
        raise InvalidInputError(f"commit {commit!r}: {error}. Call context_log to see the commits") from None
    return {
        "commit": c.hash,
        "parents": [_short(p) for p in c.parents],
        "role": c.role,
        "type": c.content_type,
        "operation": str(c.operation.value),
        "edits": _short(c.response_to),
        "tokens": c.token_count,
        "text": _text(c.content, None),
        "metadata": dict(c.metadata) if c.metadata else None,
        "priority_history": [
            {"priority": str(a.priority), "reason": a.reason, "at": _short(a.anchor)} for a in c.annotations
        ],
    }


@tool("self", "supervisor")
def overview(tract: ToolHost, last: int = 40) -> dict[str, Any]:
    """What the model sees next: the compiled context's size and one line per message.

    Args:
        last: Show only the newest N messages (1-500); the totals always cover all of them.
    """
    if not 1 <= last <= 500:
        raise InvalidInputError(f"last must be between 1 and 500, not {last}")
    context = tract.compile()
    total = len(context)
    first = max(0, total - last)
    lines = []
    for index in range(first, total):
        entry = context.entry(index)
        lines.append(
            {
                "index": index + 1,
                "commit": _short(entry.commit),
                "role": entry.role,
                "type": entry.content_type,
                "tokens": entry.tokens,
                "pinned": entry.pinned,
                "edited": entry.edited,
                "text": _text(entry.message.get("content")),
            }
        )
    return {"messages": total, "tokens": context.token_count, "shown_from": first + 1, "lines": lines}


@tool("self", "supervisor")
def health(tract: ToolHost) -> dict[str, Any]:
    """Your context's health: budget pressure, fragmentation, stale and tangent branches, oversized
    tool outputs and pending proposals, each a number with a reason and what it suggests."""
    return tract.health().to_json()


@tool("self")
def select(tract: ToolHost, query: str, at: str = "@t0", limit: int = 50) -> dict[str, Any]:
    """Find messages of your context with a selector query: each match's commit, region, coordinates
    (depth, index, offset), role, type, tokens and a preview. Depth 0 is the message being prepared,
    1 the last exchange, 2 the one before; -1 the system prompt.

    Args:
        query: A selector, e.g. "^seq .tool_result(d11..d*)" (tool results more than 10 calls old),
            ".user:contains(\"invoice\")", "^ah > *", "{tokens>500}", "[pinned]"; "," joins several.
        at: Which context: "@t0" (now) or "@t-K" (what you were sent K calls ago).
        limit: Return at most this many matches (1-500), oldest first; "count" covers all of them.
    """
    if not 1 <= limit <= 500:
        raise InvalidInputError(f"limit must be between 1 and 500, not {limit}")
    picked = tract.select(query, at=at)
    if not hasattr(picked, "nodes"):
        raise InvalidInputError(f"at={at!r} names several contexts; name one: @t0 or @t-K")
    shown = picked.nodes[:limit]
    wanted = {node.id for node in shown}
    entries = tract.compile(at_commit=picked.head).entries() if picked.head is not None else ()
    texts = {e.commit: e.message.get("content") for e in entries if e.commit in wanted}
    return {
        "count": len(picked),
        "at": picked.at,
        "matches": [
            {
                "commit": _short(node.id),
                "region": node.region,
                "coordinate": list(node.coordinate),
                "role": node.role,
                "type": node.content_type,
                "tokens": node.tokens,
                "text": _text(texts.get(node.id)),
            }
            for node in shown
        ],
    }


@tool("supervisor")
def branches(tract: ToolHost, include_archived: bool = False) -> list[dict[str, Any]]:
    """Every branch: name, tip commit, whether it is checked out.

    Args:
        include_archived: Also list archived branches (archive/<name>).
    """
    return [
        {"name": b.name, "commit": _short(b.commit), "current": b.current}
        for b in tract.list_branches(include_archived=include_archived)
    ]


@tool("supervisor")
def diff(tract: ToolHost, a: str, b: str = "HEAD") -> dict[str, Any]:
    """Compare what the model saw at two commits (or branches): messages added, removed and changed.

    Args:
        a: The earlier commit or branch.
        b: The later commit or branch (default: HEAD).
    """
    try:
        d = tract.diff(a, b)
    except TractError as error:
        raise InvalidInputError(f"{error}. Name commits by hash prefix or branch name") from None
    return {
        "token_delta": d.token_delta,
        "changes": [
            {
                "kind": c.kind,
                "commit": _short(c.hash_b or c.hash_a),
                "before": None if c.before is None else _text(c.before.get("content")),
                "after": None if c.after is None else _text(c.after.get("content")),
            }
            for c in d.changes
        ],
    }


@tool("supervisor")
def children(tract: ToolHost) -> list[dict[str, Any]]:
    """The sub-agents spawned from this context, with their size."""
    found = []
    for child in tract.children():
        s = child.status()
        found.append({"tract": child.tract_id, "messages": s.message_count, "tokens": s.token_count})
    return found


@tool("supervisor")
def proposals(
    tract: ToolHost, status: Literal["pending", "executed", "rejected", "failed", "stale"] = "pending"
) -> list:
    """Proposed context actions (from policies, the orchestrator or tools) with their reasons.

    Args:
        status: Which proposals: pending ones wait for approve or reject.
    """
    found = tract.pending_proposals() if status == "pending" else tract.proposals(status=status, limit=50)
    return [
        {"id": p.id, "by": p.policy, "kind": p.kind, "params": dict(p.params), "reason": p.reason, "status": p.status}
        for p in found
    ]


# -- changing the context ------------------------------------------------------------------------


@tool("self", writes=True)
def annotate(
    tract: ToolHost, commit: str, priority: Literal["pinned", "skip", "normal"], reason: str | None = None
) -> PolicyAction:
    """Set a message's priority: pinned (kept verbatim through every compression), skip (hidden from
    the context, kept in history) or normal.

    Args:
        commit: The message's commit (hash or unique prefix).
        priority: pinned, skip or normal.
        reason: Why, kept with the annotation.
    """
    target = _in_history(tract, commit)
    params: dict[str, Any] = {"target": target, "priority": Priority(priority).value}
    if reason is not None:
        params["reason"] = reason
    return PolicyAction("annotate", params, reason=reason or f"{priority} {target[:SHORT]}")


@tool("self", writes=True)
def set_lifecycle(
    tract: ToolHost,
    commit: str,
    ttl: int | None = None,
    cadence: int | None = None,
    window: int | None = None,
    sticky: bool = False,
    reason: str | None = None,
) -> PolicyAction:
    """Change when a message is shown, counting from the current cycle (one cycle = one model call):
    ttl=N shows it this cycle and N more, then hides it; cadence=N (window=W) shows it W cycles out of
    every N; sticky keeps it at the end of the context. With none of them it becomes permanent again
    (also brings back a message whose lifecycle had expired). History keeps everything.

    Args:
        commit: The message's commit (hash or unique prefix).
        ttl: Cycles it stays after this one (0: only this one); omit for no limit.
        cadence: Show it every this many cycles; omit for every cycle.
        window: With cadence: how many cycles of each period it is shown (default 1).
        sticky: Keep it at the end of the context every cycle.
        reason: Why, kept with the change.
    """
    from ..tree.lifecycle import Lifecycle

    target = _in_history(tract, commit)
    life = Lifecycle(ttl=ttl, cadence=cadence, window=window, sticky=sticky)
    params: dict[str, Any] = {"target": target, "lifecycle": life.to_dict()}
    if reason is not None:
        params["reason"] = reason
    shown_as = ", ".join(f"{k}={v}" for k, v in life.to_dict().items()) or "permanent"
    return PolicyAction("set_lifecycle", params, reason=reason or f"lifecycle {shown_as} for {target[:SHORT]}")


@tool("self", writes=True)
def edit(tract: ToolHost, commit: str, content: str) -> PolicyAction:
    """Replace a message's content from now on (the original stays in history), e.g. to correct a fact.

    Args:
        commit: The message's commit (hash or unique prefix).
        content: The corrected text.
    """
    target = _in_history(tract, commit)
    if not content.strip():
        raise InvalidInputError("content must not be empty; use context_annotate with priority 'skip' to hide it")
    return PolicyAction("edit", {"target": target, "content": content}, reason=f"correct {target[:SHORT]}")


@tool("self", writes=True)
def compress(
    tract: ToolHost,
    from_commit: str | None = None,
    to_commit: str | None = None,
    keep_recent: int = 6,
    summary: str | None = None,
    target_tokens: int | None = None,
) -> PolicyAction:
    """Replace a stretch of older messages with a summary to free context; pinned messages stay
    verbatim and the originals stay in history.

    Args:
        from_commit: First commit of the stretch (default: the first message).
        to_commit: Last commit of the stretch (default: all but the keep_recent newest messages).
        keep_recent: With no to_commit, how many of the newest messages stay as they are.
        summary: Your own summary of the stretch. Leave it out to have the configured summarizer write one.
        target_tokens: The summary's token budget when the summarizer writes it.
    """
    if keep_recent < 0:
        raise InvalidInputError(f"keep_recent must be 0 or more, not {keep_recent}")
    if target_tokens is not None and target_tokens < 1:
        raise InvalidInputError(f"target_tokens must be positive, not {target_tokens}")
    params: dict[str, Any] = {}
    if from_commit is not None:
        params["from_commit"] = _in_history(tract, from_commit, "from_commit")
    if to_commit is not None:
        params["to_commit"] = _in_history(tract, to_commit, "to_commit")
    else:
        params["keep_recent"] = keep_recent
    if summary is not None:
        if not summary.strip():
            raise InvalidInputError("summary must not be empty (leave it out to have one written)")
        params["content"] = summary
    if target_tokens is not None:
        params["target_tokens"] = target_tokens
    try:  # the range must hold something to compress: checked now, so a bad call writes nothing
        plan = tract._plan_compression(
            target_tokens, "system", params.get("from_commit"), params.get("to_commit"), keep_recent
        )
    except TractError as error:
        raise InvalidInputError(f"nothing was compressed: {error}") from None
    count = len(plan.summarised)
    return PolicyAction("compress", params, reason=f"compress {count} messages into a summary")


@tool("self", writes=True)
def branch(tract: ToolHost, name: str, from_commit: str | None = None, switch: bool = True) -> PolicyAction:
    """Start a branch (a separate line of context) at HEAD or at a commit, e.g. to explore a tangent.

    Args:
        name: Letters, digits and ._/- (e.g. explore/pricing).
        from_commit: Where it starts (default: HEAD).
        switch: Continue on the new branch.
    """
    from ..refs import check_branch_name

    check_branch_name(name)
    if name in {b.name for b in tract.list_branches(include_archived=True)}:
        raise InvalidInputError(f"a branch named {name!r} exists already; pick another name or context_switch to it")
    params: dict[str, Any] = {"name": name, "switch": switch}
    if from_commit is not None:
        params["from_commit"] = _in_history(tract, from_commit, "from_commit")
    return PolicyAction("branch", params, reason=f"start branch {name}")


@tool("self", writes=True)
def switch(tract: ToolHost, branch: str) -> dict[str, Any]:
    """Continue on another branch: your context becomes that branch's.

    Args:
        branch: The branch name (see context_branches or context_status).
    """
    try:
        info = tract.switch(branch)
    except TractError as error:
        raise InvalidInputError(f"{error}") from None
    return {"branch": info.name, "head": _short(info.commit)}


@tool("self", "supervisor", writes=True)
def merge(
    tract: ToolHost, source: str, strategy: Literal["auto", "no-ff", "ff-only", "ours", "theirs"] = "auto"
) -> PolicyAction:
    """Bring another branch's messages into the current one.

    Args:
        source: The branch (or commit) to merge.
        strategy: auto (fast-forward when possible), no-ff, ff-only, ours or theirs (who wins conflicts).
    """
    try:
        tract.show(source)
    except TractError as error:
        raise InvalidInputError(f"source {source!r}: {error}. See context_branches") from None
    return PolicyAction("merge", {"source": source, "strategy": strategy}, reason=f"merge {source}")


@tool("supervisor", writes=True)
def archive_branch(tract: ToolHost, name: str) -> PolicyAction:
    """Move an idle branch out of sight (to archive/<name>); context_restore_branch brings it back.

    Args:
        name: The branch to archive (not the current one).
    """
    found = {b.name: b for b in tract.list_branches()}
    if name not in found:
        raise InvalidInputError(f"no branch named {name!r}; see context_branches")
    if found[name].current:
        raise InvalidInputError(f"{name!r} is checked out; context_switch to another branch first")
    return PolicyAction("archive", {"branches": [name], "tips": [found[name].commit]}, reason=f"archive branch {name}")


@tool("supervisor", writes=True)
def restore_branch(tract: ToolHost, name: str) -> dict[str, Any]:
    """Bring an archived branch back under its own name.

    Args:
        name: The branch, with or without the archive/ prefix.
    """
    try:
        info = tract.restore_branch(name)
    except TractError as error:
        raise InvalidInputError(f"{error}") from None
    return {"branch": info.name, "head": _short(info.commit)}


@tool("supervisor", writes=True)
def gc(tract: ToolHost, orphan_retention_days: float = 7, archive_retention_days: float = 30) -> PolicyAction:
    """Reclaim storage: remove commits no branch reaches and compressed-away originals older than
    the retention windows (nothing the context still uses).

    Args:
        orphan_retention_days: Keep unreachable commits younger than this.
        archive_retention_days: Keep originals archived by compression younger than this.
    """
    if orphan_retention_days < 0 or archive_retention_days < 0:
        raise InvalidInputError("retention windows must be 0 days or more")
    return PolicyAction(
        "gc",
        {"orphan_retention_days": orphan_retention_days, "archive_retention_days": archive_retention_days},
        reason="reclaim storage",
    )


@tool("supervisor", writes=True)
def spawn(tract: ToolHost, name: str, include: Literal["nothing", "pinned", "all"] = "pinned") -> dict[str, Any]:
    """Start a sub-agent: a child context that begins with your pinned messages (or nothing, or all).

    Args:
        name: The sub-agent's name (letters, digits, ._/-).
        include: What it starts with.
    """
    try:
        child = tract.spawn(name, include=include)
    except TractError as error:
        raise InvalidInputError(f"{error}") from None
    return {"tract": child.tract_id, "messages": child.status().message_count}


@tool("supervisor", writes=True)
def absorb(tract: ToolHost, child: str, summary: str | None = None) -> dict[str, Any]:
    """Fold a sub-agent's whole work into one summary message of this context.

    Args:
        child: The sub-agent's tract id or name (see context_children).
        summary: Your summary of its work; leave it out to have the configured summarizer write one.
    """
    found = {c.tract_id: c for c in tract.children()}
    full = child if child in found else f"{tract.tract_id}/{child}"
    if full not in found:
        raise InvalidInputError(f"no sub-agent {child!r}; see context_children")
    info = tract.absorb(found[full], content=summary)
    return {"commit": _short(info.hash), "tokens": info.token_count}


@tool("supervisor", writes=True)
def approve(tract: ToolHost, proposal: int, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """Approve a pending proposal and carry it out, optionally with changed parameters.

    Args:
        proposal: The proposal's id (see context_proposals).
        changes: Parameters to change, e.g. {"to_commit": "<hash>"} to compress less.
    """
    done = tract.approve_proposal(proposal, decided_by="agent", **(changes or {}))
    return {"id": done.id, "status": done.status, "outcome": done.outcome}


@tool("supervisor", writes=True)
def reject(tract: ToolHost, proposal: int, reason: str | None = None) -> dict[str, Any]:
    """Reject a pending proposal; nothing changes and it is not proposed again.

    Args:
        proposal: The proposal's id (see context_proposals).
        reason: Why, kept with the decision.
    """
    done = tract.reject_proposal(proposal, reason=reason, decided_by="agent")
    return {"id": done.id, "status": done.status}


# -- full: plain history operations ---------------------------------------------------------------


@tool(writes=True)
def commit(tract: ToolHost, content: str, role: Literal["user", "assistant", "system"] = "assistant") -> dict[str, Any]:
    """Add a message to the context (e.g. a note to your future self).

    Args:
        content: The message text.
        role: user, assistant or system (system messages are pinned).
    """
    if not content.strip():
        raise InvalidInputError("content must not be empty")
    info = tract.commit(content, role=role)
    return {"commit": _short(info.hash), "tokens": info.token_count}


@tool(writes=True)
def reset(tract: ToolHost, commit: str, mode: Literal["soft", "hard"] = "soft") -> dict[str, Any]:
    """Move the current branch back to a commit (soft keeps what is left behind findable).

    Args:
        commit: Where the branch goes (hash or unique prefix).
        mode: soft (keep the dropped commits in the reflog) or hard (delete them).
    """
    target = _in_history(tract, commit)
    done = tract.reset(target, mode)
    return {"head": _short(done.new), "dropped": len(done.dropped)}


@tool(writes=True)
def cherry_pick(tract: ToolHost, commit: str) -> dict[str, Any]:
    """Copy one commit (from any branch) onto the current one.

    Args:
        commit: The commit to copy (hash or unique prefix).
    """
    try:
        done = tract.cherry_pick(commit)
    except TractError as error:
        raise InvalidInputError(f"{error}") from None
    return {"head": _short(done.head), "warnings": list(done.warnings)}


def tools_for(profile: str) -> list[ToolSpec]:
    """The tools of a profile (one of :data:`~.registry.PROFILES`), in a stable order."""
    check_profile(profile)
    return [spec for spec in TOOLS.values() if profile in spec.profiles]
