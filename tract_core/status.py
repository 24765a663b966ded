"""Where a tract stands: its context's tokens against the budget, HEAD, and the provider's last usage."""

from __future__ import annotations

from .compile import Compiler
from .errors import CommitNotFoundError
from .records import TractStatus
from .store.base import Session
from .usage import Usage

__all__ = ["read_status"]


def read_status(session: Session, compiler: Compiler, tract_id: str, token_budget: int | None) -> TractStatus:
    """The :class:`~tract_core.records.TractStatus` of HEAD's compiled context against ``token_budget``."""
    head, marker = session.refs.head_with_marker(tract_id)
    before = _previous_head(session, compiler, tract_id, head.branch, head.commit)
    previous = None
    if before is not None:
        # first: on a cold cache its (full) compile lets HEAD's extend it by one commit after an append
        try:
            previous = compiler.state(session, before, marker).context
        except CommitNotFoundError:  # collected by gc since: nothing of it can still be cached
            previous = None
    state = compiler.state(session, head.commit, marker)
    usage_json = session.commits.latest_usage(tract_id, head.commit) if head.commit else None
    counter = compiler.counter
    tokens = state.context.token_count
    return TractStatus(
        tract_id=tract_id,
        branch=head.branch,
        head=head.commit,
        detached=head.branch is None,
        commit_count=state.length,
        message_count=len(state.context),
        token_count=tokens,
        token_budget=token_budget,
        budget_ratio=None if token_budget is None else tokens / token_budget,
        tokenizer=counter.name,
        tokenizer_note=getattr(counter, "fallback_reason", None),
        last_usage=None if usage_json is None else Usage.from_json(usage_json),
        cached_prefix_tokens=state.context.stable_prefix(previous),
    )


def _previous_head(
    session: Session, compiler: Compiler, tract_id: str, branch: str | None, head: str | None
) -> str | None:
    """Where HEAD was before its latest move: the newest reflog row's old commit when that row put
    HEAD's ref at ``head`` (the parent after a commit, the old tip after a compression or a
    reset), else HEAD's first parent; None without either."""
    if head is None:
        return None
    rows = session.reflog.read(tract_id, branch or "HEAD", 1)
    if rows and rows[0].new == head:
        return rows[0].old
    stored = compiler.cached_commit(head) or session.commits.get(tract_id, head)
    parents = stored.commit.parents if stored is not None else ()
    return parents[0] if parents else None
