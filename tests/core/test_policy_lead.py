"""Policy behaviours fixed while integrating: batches, refusing what cannot be executed, inspection handles."""

from __future__ import annotations

import pytest

from tract_core import PINNED, InvalidInputError, ProposalDecidedError, Tract, TractConfig
from tract_core.policies import CompressPolicy, PinPolicy, PolicyAction


def test_a_batch_is_evaluated_once_after_it_lands_and_every_matching_commit_is_pinned(factory) -> None:
    t = factory.open()
    t.configure_policies([PinPolicy(patterns=["must never"])])
    with t.batch():
        a = t.system("You are the clinic's scheduling assistant.")
        b = t.user("You must never book two patients in one slot.")
        t.user("Book me on Tuesday.")
        assert t.policy_log() == [], "nothing is evaluated inside the batch"
    [entry] = t.policy_log()
    assert entry.decision == "executed" and entry.kind == "annotate"
    assert t.show(a).annotations[-1].priority == PINNED
    assert t.show(b).annotations[-1].priority == PINNED


def test_a_rolled_back_batch_triggers_nothing(factory) -> None:
    t = factory.open()
    t.configure_policies([PinPolicy(patterns=["must never"])])
    t.user("hello")
    with pytest.raises(RuntimeError), t.batch():
        t.user("You must never share a chart.")
        raise RuntimeError("abort")
    assert t.policy_log() == [] and t.proposals() == []


def test_approving_what_this_process_cannot_execute_is_refused_and_the_proposal_stays_pending(tmp_path) -> None:
    path = tmp_path / "p.db"
    with Tract.open(path, config=TractConfig(token_budget=200)) as t:
        t.configure_policies([CompressPolicy(0.5, keep_recent=2)])
        for n in range(12):
            t.user(f"alert {n}: disk at {80 + n}% on web-{n}")
        [proposal] = t.pending_proposals()
    with Tract.open(path) as other:  # no LLM here: CompressPolicy was stored without one
        with pytest.raises(InvalidInputError, match="needs an LLM"):
            other.approve_proposal(proposal.id)
        assert other.pending_proposals()[0].status == "pending"
        done = other.approve_proposal(proposal.id, content="Disk alerts on web-0..web-11, 80-91%.")
        assert done.status == "executed" and other.status().message_count == 3
        with pytest.raises(ProposalDecidedError, match=r"already executed \(by user\)"):
            other.approve_proposal(proposal.id)


class _Custom:
    name, priority, trigger = "custom", 5, "commit"

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        return PolicyAction("shout", {"n": len(tract.log(None))}, reason="make noise")

    def execute(self, tract: Tract, action: PolicyAction) -> dict:
        return {"did": action.params["n"]}


def test_a_custom_kind_is_refused_where_its_policy_is_not_configured(tmp_path) -> None:
    path = tmp_path / "c.db"
    with Tract.open(path) as t:
        t.configure_policies([_Custom()], autonomy="manual")
        t.user("one")
        [proposal] = t.pending_proposals()
    with Tract.open(path, policies=False) as inspector:
        assert inspector.policies == []
        with pytest.raises(InvalidInputError, match="not configured in this process"):
            inspector.approve_proposal(proposal.id)
        assert inspector.pending_proposals()[0].id == proposal.id
        inspector.user("two")  # an inspection handle runs nothing
        assert len(inspector.proposals()) == 1


def test_policy_autonomy_is_readable(factory) -> None:
    t = factory.open()
    assert t.policy_autonomy == "collaborative"
    t.configure_policies([PinPolicy()], autonomy="manual")
    assert t.policy_autonomy == "manual"


def test_pin_policy_in_a_new_handle_checks_recent_messages_once_and_never_reproposes(tmp_path) -> None:
    """Adapters open a new handle per step (a graph node, a memory reopened by session): the first
    look of its PinPolicy covers the messages written since, without proposing twice what an earlier
    handle already proposed or someone rejected."""
    path = tmp_path / "pin.db"
    with Tract.open(path) as t:
        t.configure_policies([PinPolicy(patterns=["must never"])], autonomy="manual")
        rejected = t.user("You must never mention competitors.")
        [first] = t.pending_proposals()
        t.reject_proposal(first, reason="not a rule")
    with Tract.open(path, policies=False) as writer:  # written where no policy runs (like a saver put)
        rule = writer.user("You must never share a patient's chart.")
        writer.assistant("Understood.")
    with Tract.open(path) as step:
        step.run_policies()
        [proposal] = step.pending_proposals()
        assert proposal.params["target"] == rule.hash
        assert rejected.hash not in str(proposal.params)
    with Tract.open(path) as again:
        again.run_policies()
        assert [p.id for p in again.pending_proposals()] == [proposal.id]


def test_names_longer_than_the_store_keeps_are_refused_alike_on_every_backend(factory) -> None:
    t = factory.open()
    t.configure_policies([PinPolicy(patterns=["must never"])], autonomy="manual")
    with pytest.raises(InvalidInputError, match="at most 255"):
        t.configure_policies([PinPolicy(name="p" * 256)])
    with pytest.raises(InvalidInputError, match="at most 64"):
        PolicyAction("k" * 65)
    t.user("You must never do that.")
    [proposal] = t.pending_proposals()
    with pytest.raises(InvalidInputError, match="at most 255"):
        t.approve_proposal(proposal, decided_by="x" * 256)
    assert t.reject_proposal(proposal, decided_by="y" * 255).status == "rejected"
