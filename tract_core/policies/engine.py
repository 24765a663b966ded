"""The policy engine of one tract handle: evaluates the configured policies after a commit or a
compile, records what they want as proposals, and executes what the autonomy level allows.

Rules (DESIGN §12):

* Policies run after the commit or compile that triggered them has landed, never inside it: a
  policy that raises never loses the commit (the failure is logged and warned; three failures in a
  row pause that policy). Inside a ``batch()``, evaluation waits until the batch has committed.
* An action's own commits do not trigger evaluation again in the same pass (no loops).
* Every action is recorded as a proposal first. Its fingerprint (policy, kind, parameters) is
  unique per tract, so two processes that evaluate the same situation record, and execute, it once;
  deciding a proposal is a compare-and-swap on its status, so it is executed at most once too.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..errors import (
    ConcurrentUpdateError,
    InvalidInputError,
    PolicyWarning,
    ProposalDecidedError,
    ProposalNotFoundError,
    StaleProposalError,
    shown,
)
from ..flags import ThreadFlag
from ..objects import canonical_json, check_text
from ..store.base import PolicyConfigEntry, ProposalEntry, Session
from .config import dump_config, load_config
from .execute import check_executable, execute_action, stale_refs
from .host import PolicyHost
from .policy import TRIGGERS, Policy, PolicyAction, check_autonomy
from .proposal import PolicyLogEntry, Proposal

__all__ = [
    "PolicyEngine",
    "OnProposal",
    "MAX_FAILURES",
    "NAME_LIMIT",
    "check_policies",
    "check_decider",
    "entry_paused",
    "orchestrator_paused",
]

OnProposal = Callable[[Proposal], Any]
"""Called with each new proposal; returns True (approve), False (reject), a dict (approve with those
changes) or None (leave it pending)."""

NAME_LIMIT = 255
"""The longest policy name (and ``decided_by``) a proposal stores, on every backend."""

MAX_FAILURES = 3
"""A policy that fails this many times in a row is paused (for this handle) with a warning."""


def _fingerprint(policy: str, kind: str, params_json: str) -> str:
    return hashlib.sha256(f"{policy}\0{kind}\0{params_json}".encode()).hexdigest()


def _plain_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Changed parameters as JSON data (a CommitInfo or anything with ``hash`` becomes its hash)."""
    plain: dict[str, Any] = {}
    for key, value in changes.items():
        hash_ = getattr(value, "hash", None)
        plain[key] = hash_ if isinstance(hash_, str) else value
    return plain


def _stale_message(entry: ProposalEntry, missing: Sequence[str] | None = None) -> str:
    """Why a proposal cannot be approved any more, and what to do instead."""
    if missing is None:  # found stale before: its outcome names what left the history
        outcome = Proposal.from_entry(entry).outcome
        missing = outcome.get("missing", []) if isinstance(outcome, dict) else []
    return (
        f"proposal {entry.id} ({entry.kind}, by {entry.policy}) was made against commit "
        f"{(entry.basis or '')[:12]}, and {', '.join(m[:12] for m in missing) or 'what it names'} is no longer "
        "in HEAD's history; it is now stale. Call run_policies() to evaluate the current history again"
    )


def orchestrator_paused(entry: PolicyConfigEntry | None) -> bool:
    """Whether a tract's stored orchestrator settings say it is paused."""
    if entry is None or not entry.orchestrator_json:
        return False
    return bool(json.loads(entry.orchestrator_json).get("paused", False))


def entry_paused(entry: PolicyConfigEntry | None) -> bool:
    """Whether policies must not run: paused themselves, or the orchestrator is (nothing automatic
    touches the context while a person works on it)."""
    return entry is not None and (entry.paused or orchestrator_paused(entry))


def _never(proposal: Proposal) -> None:
    """The ``ask`` that leaves a proposal pending (``on_proposal`` is for policies' proposals)."""
    return None


class _Actor:
    """Who submitted an action that no configured policy made: its name and summarising model."""

    priority = 0
    trigger = "commit"

    def __init__(self, name: str, llm: Any) -> None:
        self.name = name
        self.llm = llm


def check_decider(decided_by: Any) -> str:
    """``decided_by`` as stored with a decision: text of at most :data:`NAME_LIMIT` characters.

    Raises:
        InvalidInputError: Not text, or too long.
    """
    check_text(decided_by, "decided_by")
    if len(decided_by) > NAME_LIMIT:
        raise InvalidInputError(f"decided_by is at most {NAME_LIMIT} characters, not {len(decided_by)}")
    return str(decided_by)


def check_policies(policies: Any) -> list[Policy]:
    """The policies as a list, each meeting the protocol, names unique.

    Raises:
        InvalidInputError: Not a sequence of policies, a bad trigger or priority, or a repeated name.
    """
    if isinstance(policies, str | bytes) or not isinstance(policies, Sequence):
        raise InvalidInputError(
            "configure_policies() takes a list of policies, e.g. [CompressPolicy(0.8), PinPolicy()]"
        )
    seen: set[str] = set()
    for policy in policies:
        if not isinstance(policy, Policy):
            raise InvalidInputError(
                f"{shown(policy)} is not a policy: it needs name, priority, trigger and evaluate(tract)"
            )
        if policy.trigger not in TRIGGERS:
            raise InvalidInputError(
                f"policy {policy.name!r}: trigger must be 'commit' or 'compile', not {shown(policy.trigger)}"
            )
        if not isinstance(policy.name, str) or not policy.name:
            raise InvalidInputError(f"{type(policy).__name__}: a policy needs a non-empty name")
        if len(policy.name) > NAME_LIMIT:
            raise InvalidInputError(
                f"policy name {policy.name[:40]!r}... is {len(policy.name)} characters; at most {NAME_LIMIT} are stored"
            )
        if isinstance(policy.priority, bool) or not isinstance(policy.priority, int):
            raise InvalidInputError(
                f"policy {policy.name!r}: priority must be an integer (lower runs first), not {shown(policy.priority)}"
            )
        if policy.name in seen:
            raise InvalidInputError(f"two policies are named {policy.name!r}; give each a unique name")
        if getattr(policy, "autonomy", None) is not None:
            check_autonomy(policy.autonomy, f"policy {policy.name!r} autonomy")  # type: ignore[attr-defined]
        seen.add(policy.name)
    return list(policies)


class PolicyEngine:
    """The policies of one :class:`~tract_core.Tract` handle (created by the tract; use its methods).

    Args:
        tract: The handle the policies watch and act on.
        reading: Opens a read unit of work as the handle sees it.
        writing: Opens a write transaction as the handle sees it.
        snapshot: Makes the handle's reads inside it share one read transaction.
    """

    def __init__(
        self,
        tract: PolicyHost,
        reading: Callable[[], AbstractContextManager[Session]],
        writing: Callable[[], AbstractContextManager[Session]],
        snapshot: Callable[[], AbstractContextManager[None]],
    ) -> None:
        self._tract = tract
        self._reading = reading
        self._writing = writing
        self._snapshot = snapshot
        self.policies: list[Policy] = []
        self.autonomy = "collaborative"
        self.on_proposal: OnProposal | None = None
        self._failures: dict[str, int] = {}
        self._disabled: set[str] = set()
        self._busy = ThreadFlag()
        self._deferred: set[str] = set()
        self._actors: dict[str, _Actor] = {}

    # -- configuration ------------------------------------------------------------------------

    def restore(self, config_json: str) -> None:
        """Bring back a stored configuration (when the tract is opened)."""
        self.policies, autonomy = load_config(config_json, self._tract.tract_id)
        self.autonomy = autonomy if autonomy in ("manual", "collaborative", "autonomous") else "collaborative"

    def configure(
        self,
        policies: Sequence[Policy] | None,
        autonomy: str | None,
        on_proposal: OnProposal | None,
        keep_callback: bool,
    ) -> None:
        """Replace the policies (None keeps them), the autonomy (None keeps it) and the callback; store them.

        With ``policies`` None the stored list is kept as stored (a policy this process could not
        import stays configured for the others); nothing is written when nothing stored changes.
        """
        chosen = self.policies if policies is None else check_policies(policies)
        level = self.autonomy if autonomy is None else check_autonomy(autonomy)
        if on_proposal is not None and not callable(on_proposal):
            raise InvalidInputError("on_proposal must be callable: on_proposal(proposal) -> True | False | dict | None")
        config_json = dump_config(chosen, level)
        with self._writing() as session:
            stored = session.policies.config(self._tract.tract_id)
            if policies is None and stored is not None and stored.config_json:
                # keep the stored policies as stored: this handle may have left out one it could not import
                data = json.loads(stored.config_json)
                data["autonomy"] = level
                config_json = canonical_json(data)
            if stored is None or stored.config_json != config_json:
                session.policies.set_config(self._tract.tract_id, config_json)
        self.policies, self.autonomy = chosen, level
        if not keep_callback:
            self.on_proposal = on_proposal
        self._failures.clear()
        self._disabled.clear()

    def set_paused(self, paused: bool) -> None:
        """Pause or resume the tract's policies (stored: every process and handle sees it)."""
        with self._writing() as session:
            session.policies.set_paused(self._tract.tract_id, paused)
        if not paused:
            self._failures.clear()
            self._disabled.clear()

    def paused(self) -> bool:
        """Whether the tract's policies are paused."""
        with self._reading() as session:
            return self.paused_in(session)

    def paused_in(self, session: Session) -> bool:
        """Whether the tract's policies are paused (or its orchestrator is), read in an open unit of
        work (a commit reads it in its own transaction, so the pass after it needs no other)."""
        return entry_paused(session.policies.config(self._tract.tract_id))

    # -- running ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether this thread is inside a policy pass of this handle (actions' own commits)."""
        return self._busy.active

    def after(self, trigger: str, paused: bool | None = None) -> bool:
        """Called by the tract after a commit or compile landed: run that trigger's policies
        (after the open batch commits, if there is one; not at all during a policy pass).
        Returns whether an action was executed."""
        if not self.policies or self.running:
            return False
        if not any(p.trigger == trigger for p in self.policies):
            return False
        store = self._tract.store
        if store.join_batch(self._drop_deferred) is not None:
            if trigger not in self._deferred:
                self._deferred.add(trigger)
                store.after_batch(self._after_batch)
            return False
        return any(e.decision == "executed" for e in self.run(trigger, paused=paused))

    def _drop_deferred(self) -> None:
        """The batch rolled back: nothing landed, nothing to evaluate (and the next batch registers again)."""
        self._deferred = set()

    def _after_batch(self) -> None:
        triggers, self._deferred = sorted(self._deferred), set()
        for trigger in triggers:
            self.run(trigger)

    def run(
        self, trigger: str | None = None, *, source: str | None = None, paused: bool | None = None
    ) -> list[PolicyLogEntry]:
        """Evaluate the policies of ``trigger`` (all of them if None) once; return the log entries made.

        Policies are evaluated in priority order on one snapshot of the tract (one read
        transaction) until one returns an action; that action is recorded (and carried out, if the
        autonomy allows) before the next policy looks, on a fresh snapshot, so it sees the result.
        """
        if self.running:
            return []
        made: list[int] = []
        retried: set[str] = set()
        where = source or trigger or "manual"
        chosen = [
            p
            for p in sorted(self.policies, key=lambda p: p.priority)
            if (trigger is None or p.trigger == trigger) and p.name not in self._disabled
        ]
        with self._busy.raised():
            while chosen:
                with self._snapshot():  # the policies up to the next one that fires share one read
                    if paused is None:
                        paused = self.paused()
                    if paused:
                        return []
                    while chosen:
                        policy, outcome, params_json = self._evaluate(chosen.pop(0))
                        if isinstance(outcome, Exception) or params_json is not None:
                            break
                        self._failures.pop(policy.name, None)
                    else:
                        break
                if isinstance(outcome, Exception):
                    self._failed(policy, where, outcome, made)
                    continue
                self._failures.pop(policy.name, None)
                if params_json is not None:  # acted on before the next policy looks (it sees the result)
                    status, _ = self._record(policy, outcome, params_json, where, made)
                    if status == "stale" and policy.name not in retried:
                        retried.add(policy.name)  # the history moved under the action (another writer): look again
                        chosen.insert(0, policy)
        if not made:
            return []
        wanted = set(made)
        return [e for e in self.log(4 * len(made) + 16, since=min(made)) if e.id in wanted]

    def _evaluate(self, policy: Policy) -> tuple[Policy, PolicyAction | Exception, str | None]:
        """What a policy wants (an action and its parameters as canonical JSON), or the error it raised."""
        try:
            action = policy.evaluate(self._tract)
            if action is None:
                return policy, PolicyAction("none"), None
            if not isinstance(action, PolicyAction):
                raise InvalidInputError(f"evaluate() returned {shown(action)}; return a PolicyAction or None")
            return policy, action, canonical_json(dict(action.params))
        except Exception as error:  # a policy's own bug: logged and warned after the pass; the commit is kept
            return policy, error, None

    def _failed(self, policy: Policy, trigger: str, error: Exception, made: list[int]) -> None:
        count = self._failures.get(policy.name, 0) + 1
        self._failures[policy.name] = count
        detail = f"{type(error).__name__}: {error}"
        made.append(self._log(policy.name, trigger, None, "error", detail))
        warnings.warn(f"policy {policy.name!r} failed ({detail}); the commit is kept", PolicyWarning, stacklevel=5)
        if count >= MAX_FAILURES:
            self._disabled.add(policy.name)
            made.append(self._log(policy.name, trigger, None, "paused", f"failed {count} times in a row"))
            warnings.warn(
                f"policy {policy.name!r} failed {count} times in a row and is paused for this handle; "
                "fix it and call resume_policies()",
                PolicyWarning,
                stacklevel=5,
            )

    def _autonomy_of(self, policy: Policy) -> str:
        own = getattr(policy, "autonomy", None)
        return own if own is not None else self.autonomy

    def _record(
        self,
        policy: Policy,
        action: PolicyAction,
        params_json: str,
        trigger: str,
        made: list[int],
        *,
        autonomy: str | None = None,
        nonce: str = "",
        ask: OnProposal | None = None,
    ) -> tuple[str | None, int | None]:
        """Record the action as a proposal and carry it out if the autonomy allows: the status an
        execution ended with (None when nothing was executed) and the proposal's id (None when
        nothing new was recorded). ``autonomy`` overrides the policy's,
        ``nonce`` joins the fingerprint (an action that may rightly recur), ``ask`` replaces
        ``on_proposal`` for this action."""
        autonomy = autonomy or self._autonomy_of(policy)
        execute_now = autonomy == "autonomous" or (autonomy == "collaborative" and action.risk == "low")
        tract_id = self._tract.tract_id
        one_pending = getattr(policy, "one_pending", False) and not execute_now
        if one_pending:
            self.pending()  # marks stale the pending proposals nobody can approve any more: they block nothing
        with self._writing() as session:
            if one_pending:
                waiting = session.policies.proposals(tract_id, ["pending"])
                if any(p.policy == policy.name and p.kind == action.kind for p in waiting):
                    return None, None  # its proposal stands until decided (or found stale)
            proposal_id = session.policies.propose(
                tract_id,
                fingerprint=_fingerprint(policy.name, action.kind, params_json + nonce),
                policy=policy.name,
                kind=action.kind,
                params_json=params_json,
                reason=action.reason,
                risk=str(action.risk),
                status="approved" if execute_now else "pending",
                basis=session.refs.head(tract_id).commit,
                decided_by=f"autonomy:{autonomy}" if execute_now else None,
            )
            if proposal_id is None:  # the same action is already on record (decided, or by another process)
                return None, None
            if not execute_now:
                made.append(
                    self._log_in(
                        session, policy.name, trigger, action.kind, "proposed", action.reason, None, proposal_id
                    )
                )
        if execute_now:
            status, log_id, _ = self._execute(
                proposal_id, policy, action.kind, dict(action.params), action.reason, trigger, action.execute
            )
            made.append(log_id)
            return status, proposal_id
        self._ask(proposal_id, trigger, made, ask)
        return None, proposal_id

    def set_actor(self, by: str, llm: Any) -> None:
        """Say which model writes the summaries of ``by``'s proposals on this handle (e.g. the
        orchestrator's ``llm``), so approving one of them here, even one recorded by another
        process, uses it (else the tract's ``TractConfig(llm=...)``)."""
        self._actors[by] = _Actor(by, llm)

    def submit(
        self,
        action: PolicyAction,
        *,
        by: str,
        autonomy: str,
        trigger: str,
        nonce: str,
        llm: Any = None,
        ask: OnProposal | None = None,
    ) -> Proposal:
        """Record an action that no configured policy made (the orchestrator's, an agent's tool call)
        as a proposal and carry it out as ``autonomy`` allows: the one path every action takes.

        Args:
            action: What to do.
            by: Who wants it (stored as the proposal's ``policy``), e.g. ``"orchestrator"``, ``"agent"``.
            autonomy: ``manual``, ``collaborative`` or ``autonomous`` for this action.
            trigger: Recorded in the log (``"tool"``, ``"orchestrator"``).
            nonce: Joins the fingerprint: the same ``by``, action and nonce are one proposal, recorded
                (and executed) once across processes.
            llm: The model a ``compress`` writes its summary with (else the tract's).
            ask: Called with the proposal when it waits for a decision (True / False / dict / None,
                like ``on_proposal``); None leaves it pending.

        Returns:
            The proposal as stored afterwards (``executed``, ``failed``, ``stale``, ``pending``,
            ``approved`` or ``rejected``), or the earlier one with the same fingerprint.
        """
        check_autonomy(autonomy)
        actor = _Actor(by, llm)
        self._actors[by] = actor
        params_json = canonical_json(dict(action.params))
        _, proposal_id = self._record(
            actor,  # type: ignore[arg-type]
            action,
            params_json,
            trigger,
            [],
            autonomy=autonomy,
            nonce=nonce,
            ask=ask or _never,
        )
        if proposal_id is None:
            with self._reading() as session:
                entry = session.policies.by_fingerprint(
                    self._tract.tract_id, _fingerprint(by, action.kind, params_json + nonce)
                )
            assert entry is not None  # the insert lost to this very row
            return Proposal.from_entry(entry)
        return self.get(proposal_id)

    def _ask(self, proposal_id: int, trigger: str, made: list[int], ask: OnProposal | None = None) -> None:
        callback = self.on_proposal if ask is None else (None if ask is _never else ask)
        if callback is None:
            return
        proposal = self.get(proposal_id)
        try:
            answer = callback(proposal)
        except Exception as error:  # the callback's bug: the proposal stays pending
            made.append(
                self._log(
                    proposal.policy,
                    trigger,
                    proposal.kind,
                    "error",
                    f"on_proposal raised {type(error).__name__}: {error}",
                    proposal_id,
                )
            )
            warnings.warn(
                f"on_proposal raised {error!r}; proposal {proposal_id} stays pending", PolicyWarning, stacklevel=6
            )
            return
        if answer is None:
            return
        try:
            if answer is False:
                self.reject(proposal_id, None, "callback")
            elif answer is True or isinstance(answer, Mapping):
                self.approve(proposal_id, answer if isinstance(answer, Mapping) else {}, "callback")
            else:
                raise InvalidInputError(f"on_proposal returned {shown(answer)}; return True, False, a dict or None")
        except Exception as error:  # a failed execution is on record already; the pass goes on
            warnings.warn(f"deciding proposal {proposal_id}: {error}", PolicyWarning, stacklevel=6)

    def _execute(
        self,
        proposal_id: int,
        policy: Policy | None,
        kind: str,
        params: dict[str, Any],
        reason: str,
        trigger: str,
        execute: Any = None,
    ) -> tuple[str, int, Exception | None]:
        """Carry out an approved proposal; record executed / failed / stale. Returns (status, log id, error)."""
        tract_id = self._tract.tract_id
        name = policy.name if policy is not None else "?"
        missing = stale_refs(self._tract, params)
        error: Exception | None = None
        outcome: Any
        if missing:
            status, outcome = "stale", {"missing": missing}
        else:
            try:
                with self._busy.raised():
                    outcome = execute_action(self._tract, kind, params, policy, execute)
                status = "executed"
            except ConcurrentUpdateError as raised:
                status, outcome, error = "stale", {"error": str(raised)}, raised
            except Exception as raised:  # recorded as failed; the caller decides whether to raise
                outcome, error = {"error": f"{type(raised).__name__}: {raised}"}, raised
                gone = stale_refs(self._tract, params)  # what it names left the history while it ran
                status = "stale" if gone else "failed"
                if gone:
                    outcome["missing"] = gone
        with self._writing() as session:
            session.policies.decide(
                tract_id, proposal_id, expected=["approved"], status=status, outcome_json=canonical_json(outcome)
            )
            log_id = self._log_in(session, name, trigger, kind, status, reason, outcome, proposal_id)
        if status == "failed":
            warnings.warn(f"policy {name!r}: {kind} action failed: {outcome['error']}", PolicyWarning, stacklevel=5)
        return status, log_id, error

    # -- deciding -----------------------------------------------------------------------------

    def _entry(self, proposal: Proposal | int) -> ProposalEntry:
        proposal_id = proposal.id if isinstance(proposal, Proposal) else proposal
        if isinstance(proposal_id, bool) or not isinstance(proposal_id, int):
            raise InvalidInputError(f"a proposal is a Proposal or its id (int), not {shown(proposal)}")
        with self._reading() as session:
            entry = session.policies.proposal(self._tract.tract_id, proposal_id)
        if entry is None:
            raise ProposalNotFoundError(
                f"tract {self._tract.tract_id!r} has no proposal {proposal_id}; see pending_proposals()"
            )
        return entry

    def get(self, proposal: Proposal | int) -> Proposal:
        """The proposal as stored now."""
        return Proposal.from_entry(self._entry(proposal))

    def _policy(self, name: str) -> Policy | None:
        found = next((p for p in self.policies if p.name == name), None)
        return found if found is not None else self._actors.get(name)  # type: ignore[return-value]

    def approve(self, proposal: Proposal | int, changes: Mapping[str, Any], decided_by: str) -> Proposal:
        """Approve a pending proposal (with changed parameters) and execute it.

        Raises:
            ProposalNotFoundError: No such proposal.
            ProposalDecidedError: It was already decided (here or in another process).
            StaleProposalError: What it names is no longer in HEAD's history (it is marked stale).
        """
        entry = self._entry(proposal)
        current = Proposal.from_entry(entry)
        if entry.status == "stale":
            raise StaleProposalError(_stale_message(entry))
        if entry.status != "pending":
            by = f" (by {entry.decided_by})" if entry.decided_by else ""
            raise ProposalDecidedError(f"proposal {entry.id} is already {entry.status}{by}")
        params = {**current.params, **_plain_changes(changes)}
        check_executable(self._tract, entry.kind, params, self._policy(entry.policy))
        params_json = canonical_json(params)
        tract_id = self._tract.tract_id
        missing = stale_refs(self._tract, params)
        if missing:
            self._mark_stale(entry, missing)
            raise StaleProposalError(_stale_message(entry, missing))
        with self._writing() as session:
            if not session.policies.decide(
                tract_id,
                entry.id,
                expected=["pending"],
                status="approved",
                decided_by=decided_by,
                params_json=params_json,
            ):
                now = session.policies.proposal(tract_id, entry.id)
                raise ProposalDecidedError(
                    f"proposal {entry.id} was decided meanwhile ({now.status if now else 'gone'})"
                )
            self._log_in(
                session,
                entry.policy,
                "decision",
                entry.kind,
                "approved",
                entry.reason,
                {"by": decided_by, "changes": _plain_changes(changes)} if changes else {"by": decided_by},
                entry.id,
            )
        policy = self._policy(entry.policy)
        status, _, error = self._execute(entry.id, policy, entry.kind, params, entry.reason, "decision")
        if error is not None and status == "failed":
            raise error
        if status == "stale":
            raise StaleProposalError(
                f"proposal {entry.id} could not be executed and is now stale: {error}. Call run_policies() to "
                "evaluate the current history again"
            )
        return self.get(entry.id)

    def reject(self, proposal: Proposal | int, reason: str | None, decided_by: str) -> Proposal:
        """Reject a pending proposal.

        Raises:
            ProposalNotFoundError: No such proposal.
            ProposalDecidedError: It was already decided.
        """
        entry = self._entry(proposal)
        tract_id = self._tract.tract_id
        outcome = canonical_json({"reason": reason}) if reason is not None else None
        with self._writing() as session:
            if not session.policies.decide(
                tract_id, entry.id, expected=["pending"], status="rejected", decided_by=decided_by, outcome_json=outcome
            ):
                now = session.policies.proposal(tract_id, entry.id)
                raise ProposalDecidedError(f"proposal {entry.id} is already {now.status if now else 'gone'}")
            self._log_in(
                session,
                entry.policy,
                "decision",
                entry.kind,
                "rejected",
                entry.reason,
                {"by": decided_by, "reason": reason},
                entry.id,
            )
        return self.get(entry.id)

    def pending(self) -> list[Proposal]:
        """Pending proposals, oldest first; those whose basis left HEAD's history are marked stale and left out."""
        with self._reading() as session:
            entries = session.policies.proposals(self._tract.tract_id, ["pending"])
        found = []
        for entry in entries:
            proposal = Proposal.from_entry(entry)
            missing = stale_refs(self._tract, proposal.params)
            if not missing:
                found.append(proposal)
                continue
            self._mark_stale(entry, missing)
        return found

    def _mark_stale(self, entry: ProposalEntry, missing: list[str]) -> None:
        """Record a pending proposal as stale (its commits left HEAD's history), if it still is pending."""
        outcome = {"missing": missing}
        with self._writing() as session:
            if session.policies.decide(
                self._tract.tract_id,
                entry.id,
                expected=["pending"],
                status="stale",
                outcome_json=canonical_json(outcome),
            ):
                self._log_in(session, entry.policy, "decision", entry.kind, "stale", entry.reason, outcome, entry.id)

    def proposals(self, statuses: Sequence[str] | None, limit: int | None) -> list[Proposal]:
        """Stored proposals (any status, or those of ``statuses``), oldest first."""
        with self._reading() as session:
            return [Proposal.from_entry(e) for e in session.policies.proposals(self._tract.tract_id, statuses, limit)]

    # -- the log ------------------------------------------------------------------------------

    def _log_in(
        self,
        session: Session,
        policy: str,
        trigger: str,
        kind: str | None,
        decision: str,
        reason: str | None,
        detail: Any,
        proposal_id: int | None,
    ) -> int:
        return session.policies.log(
            self._tract.tract_id,
            policy=policy,
            trigger=trigger,
            kind=kind,
            decision=decision,
            reason=reason,
            detail=None if detail is None else canonical_json(detail),
            proposal_id=proposal_id,
        )

    def _log(
        self, policy: str, trigger: str, kind: str | None, decision: str, detail: Any, proposal_id: int | None = None
    ) -> int:
        with self._writing() as session:
            text = detail if isinstance(detail, str) else None
            return self._log_in(session, policy, trigger, kind, decision, text, None if text else detail, proposal_id)

    def log(self, limit: int | None, *, since: int | None = None) -> list[PolicyLogEntry]:
        """The policy log, newest first (``since``: only entries with that id or newer)."""
        with self._reading() as session:
            records = session.policies.read_log(self._tract.tract_id, limit)
        entries = [PolicyLogEntry.from_record(r) for r in records]
        return entries if since is None else [e for e in entries if e.id >= since]
