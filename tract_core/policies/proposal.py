"""A stored :class:`Proposal` and a :class:`PolicyLogEntry`, as the API shows them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import display
from ..store.base import PolicyLogRecord, ProposalEntry

__all__ = ["Proposal", "PolicyLogEntry", "PROPOSAL_STATUSES", "OPEN_STATUSES"]

PROPOSAL_STATUSES: tuple[str, ...] = ("pending", "approved", "rejected", "executed", "failed", "stale")
"""A proposal's life: ``pending`` until decided; ``approved`` while it executes; then ``executed`` or
``failed``; ``rejected`` by a person or callback; ``stale`` when what it was made against moved."""

OPEN_STATUSES: tuple[str, ...] = ("pending",)


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class Proposal:
    """An action a policy proposed, stored so any process can see and decide it.

    Attributes:
        id: Its number (``approve_proposal(id)`` takes it, as does the CLI).
        policy: The policy's name.
        kind: The action kind (``compress``, ``annotate``, ...).
        params: The action's parameters.
        reason: Why, in one sentence.
        risk: ``"low"`` or ``"high"``.
        status: ``pending``, ``approved``, ``rejected``, ``executed``, ``failed`` or ``stale``.
        basis: HEAD when it was made.
        decided_by: Who decided (``"autonomy:collaborative"``, ``"callback"``, a user's note...).
        outcome: What executing it gave (commit ids, a compression id), or why it failed / was rejected.
        created_at: When it was made.
        decided_at: When it was last decided.
    """

    id: int
    policy: str
    kind: str
    params: Mapping[str, Any]
    reason: str
    risk: str
    status: str
    basis: str | None
    decided_by: str | None
    outcome: Any
    created_at: float
    decided_at: float | None

    @classmethod
    def from_entry(cls, entry: ProposalEntry) -> Proposal:
        """The proposal of a stored row."""
        return cls(
            id=entry.id,
            policy=entry.policy,
            kind=entry.kind,
            params=json.loads(entry.params_json),
            reason=entry.reason,
            risk=entry.risk,
            status=entry.status,
            basis=entry.basis,
            decided_by=entry.decided_by,
            outcome=_json(entry.outcome_json),
            created_at=entry.created_at,
            decided_at=entry.decided_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (what a LangGraph ``interrupt()`` carries to the person deciding)."""
        return {
            "id": self.id,
            "policy": self.policy,
            "kind": self.kind,
            "params": dict(self.params),
            "reason": self.reason,
            "risk": self.risk,
            "status": self.status,
            "basis": self.basis,
        }

    def _repr_html_(self) -> str:
        """The notebook view: the action, its reason and parameters, with status and risk badges."""
        return display.proposal_html(self)

    def __rich__(self) -> Any:
        """The terminal view (``rich.print(proposal)``)."""
        return display.proposal_rich(self)


@dataclass(frozen=True)
class PolicyLogEntry:
    """One policy evaluation that fired, failed, or a decision on its proposal.

    Attributes:
        id: Its number (newer entries have larger ones).
        policy: The policy's name.
        trigger: ``commit``, ``compile``, ``manual`` (``run_policies()``) or ``decision``.
        kind: The action kind, if there was an action.
        decision: ``executed``, ``proposed``, ``approved``, ``rejected``, ``failed``, ``stale``,
            ``error`` (evaluate raised) or ``paused`` (the policy was paused after failing).
        reason: The action's reason, or the error.
        detail: Outcome or error details.
        proposal_id: The proposal concerned, if any.
        created_at: When.
    """

    id: int
    policy: str
    trigger: str
    kind: str | None
    decision: str
    reason: str | None
    detail: Any
    proposal_id: int | None
    created_at: float

    @classmethod
    def from_record(cls, record: PolicyLogRecord) -> PolicyLogEntry:
        """The entry of a stored row."""
        return cls(
            record.id,
            record.policy,
            record.trigger,
            record.kind,
            record.decision,
            record.reason,
            _json(record.detail),
            record.proposal_id,
            record.created_at,
        )
