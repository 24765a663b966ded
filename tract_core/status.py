"""Where a tract stands: its context's tokens against the budget, HEAD, and the provider's last usage."""

from __future__ import annotations

from .compile import Compiler
from .records import TractStatus
from .store.base import Session
from .usage import Usage

__all__ = ["read_status"]


def read_status(session: Session, compiler: Compiler, tract_id: str, token_budget: int | None) -> TractStatus:
    """The :class:`~tract_core.records.TractStatus` of HEAD's compiled context against ``token_budget``."""
    head, marker = session.refs.head_with_marker(tract_id)
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
    )
