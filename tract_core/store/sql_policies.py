"""SQL repository of a tract's policy configuration, its proposals and its policy log."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update

from .base import PolicyConfigEntry, PolicyLogRecord, ProposalEntry
from .repository import Repository as _Repo
from .repository import now as _now
from .schema import POLICIES, POLICY_LOG, PROPOSALS

__all__ = ["SqlPolicies"]

_P = POLICIES
_Q = PROPOSALS
_G = POLICY_LOG


def _proposal(row: Any) -> ProposalEntry:
    return ProposalEntry(
        id=row.id,
        fingerprint=row.fingerprint,
        policy=row.policy,
        kind=row.kind,
        params_json=row.params,
        reason=row.reason,
        risk=row.risk,
        status=row.status,
        basis=row.basis,
        decided_by=row.decided_by,
        outcome_json=row.outcome,
        created_at=row.created_at,
        decided_at=row.decided_at,
    )


class SqlPolicies(_Repo):
    """Policy configuration (one row per tract), proposals (compare-and-swap on status) and the log."""

    def config(self, tract_id: str) -> PolicyConfigEntry | None:
        row = self.q.policy_config_p.one(self.conn, {"tract_id": tract_id})  # read after every commit: prepared
        return None if row is None else PolicyConfigEntry(row[0], bool(row[1]), row[2], row[3])

    def set_config(self, tract_id: str, config_json: str) -> None:
        """Store the configuration (keeping the paused flag of an existing row)."""
        insert = self.q.insert(_P).values(tract_id=tract_id, config=config_json, paused=False, updated_at=_now())
        self.conn.execute(
            insert.on_conflict_do_update(
                index_elements=[_P.c.tract_id],
                set_={"config": insert.excluded.config, "updated_at": insert.excluded.updated_at},
            )
        )

    def set_paused(self, tract_id: str, paused: bool) -> bool:
        """Pause or resume; False if the tract has no stored configuration (a row is created then)."""
        result = self.conn.execute(update(_P).where(_P.c.tract_id == tract_id).values(paused=paused, updated_at=_now()))
        if result.rowcount == 1:
            return True
        self.conn.execute(_P.insert().values(tract_id=tract_id, config="{}", paused=paused, updated_at=_now()))
        return False

    def set_orchestrator(self, tract_id: str, orchestrator_json: str) -> None:
        """Store the orchestrator's settings (creating the row, with no policies, if there is none)."""
        result = self.conn.execute(
            update(_P).where(_P.c.tract_id == tract_id).values(orchestrator=orchestrator_json, updated_at=_now())
        )
        if result.rowcount != 1:
            self.conn.execute(
                _P.insert().values(
                    tract_id=tract_id, config="{}", paused=False, updated_at=_now(), orchestrator=orchestrator_json
                )
            )

    def propose(
        self,
        tract_id: str,
        *,
        fingerprint: str,
        policy: str,
        kind: str,
        params_json: str,
        reason: str,
        risk: str,
        status: str,
        basis: str | None,
        decided_by: str | None = None,
    ) -> int | None:
        """Record an action; None if the same action (``fingerprint``) is already on record."""
        stamp = _now()
        result = self.conn.execute(
            self.q.insert(_Q)
            .values(
                tract_id=tract_id,
                fingerprint=fingerprint,
                policy=policy,
                kind=kind,
                params=params_json,
                reason=reason,
                risk=risk,
                status=status,
                basis=basis,
                decided_by=decided_by,
                created_at=stamp,
                decided_at=None if status == "pending" else stamp,
            )
            .on_conflict_do_nothing()
            .returning(_Q.c.id)
        )
        found = result.scalar_one_or_none()
        return None if found is None else int(found)

    def proposal(self, tract_id: str, proposal_id: int) -> ProposalEntry | None:
        row = self.conn.execute(select(_Q).where(_Q.c.tract_id == tract_id, _Q.c.id == proposal_id)).first()
        return None if row is None else _proposal(row)

    def by_fingerprint(self, tract_id: str, fingerprint: str) -> ProposalEntry | None:
        row = self.conn.execute(select(_Q).where(_Q.c.tract_id == tract_id, _Q.c.fingerprint == fingerprint)).first()
        return None if row is None else _proposal(row)

    def proposals(
        self, tract_id: str, statuses: Sequence[str] | None = None, limit: int | None = None
    ) -> builtins.list[ProposalEntry]:
        """Proposals oldest first (``limit``: the newest ``limit`` of them, still oldest first)."""
        query = select(_Q).where(_Q.c.tract_id == tract_id)
        if statuses is not None:
            query = query.where(_Q.c.status.in_(list(statuses)))
        if limit is not None:
            rows = self.conn.execute(query.order_by(_Q.c.id.desc()).limit(limit)).all()
            return [_proposal(r) for r in reversed(rows)]
        return [_proposal(r) for r in self.conn.execute(query.order_by(_Q.c.id))]

    def decide(
        self,
        tract_id: str,
        proposal_id: int,
        *,
        expected: Sequence[str],
        status: str,
        decided_by: str | None = None,
        outcome_json: str | None = None,
        params_json: str | None = None,
    ) -> bool:
        """Move a proposal from one of ``expected`` to ``status`` (compare-and-swap); False if it was not."""
        values: dict[str, Any] = {"status": status, "decided_at": _now()}
        if decided_by is not None:
            values["decided_by"] = decided_by
        if outcome_json is not None:
            values["outcome"] = outcome_json
        if params_json is not None:
            values["params"] = params_json
        result = self.conn.execute(
            update(_Q)
            .where(_Q.c.tract_id == tract_id, _Q.c.id == proposal_id, _Q.c.status.in_(list(expected)))
            .values(**values)
        )
        return result.rowcount == 1

    def log(
        self,
        tract_id: str,
        *,
        policy: str,
        trigger: str,
        kind: str | None,
        decision: str,
        reason: str | None,
        detail: str | None = None,
        proposal_id: int | None = None,
    ) -> int:
        result = self.conn.execute(
            _G.insert()
            .values(
                tract_id=tract_id,
                policy=policy,
                trigger=trigger,
                kind=kind,
                decision=decision,
                reason=reason,
                detail=detail,
                proposal_id=proposal_id,
                created_at=_now(),
            )
            .returning(_G.c.id)
        )
        return int(result.scalar_one())

    def read_log(self, tract_id: str, limit: int | None = None) -> builtins.list[PolicyLogRecord]:
        """The log, newest first."""
        query = select(_G).where(_G.c.tract_id == tract_id).order_by(_G.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        return [
            PolicyLogRecord(
                r.id, r.policy, r.trigger, r.kind, r.decision, r.reason, r.detail, r.proposal_id, r.created_at
            )
            for r in self.conn.execute(query)
        ]
