"""Policies (DESIGN §12): configuring them, autonomy, ``on_proposal`` callbacks, and deciding the
proposals they store (approve, approve with changes, reject, stale), pause/resume and the log.

Stored behaviour (proposals, decisions, pause, the log) is proven on every backend; pure argument
checks run on an in-memory tract. The summariser is a deterministic :class:`ScriptedLLM`.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from tract_core import (
    InvalidInputError,
    PolicyWarning,
    ProposalDecidedError,
    ProposalNotFoundError,
    StaleProposalError,
    Tract,
    TractConfig,
)
from tract_core.policies import (
    ArchivePolicy,
    BranchPolicy,
    CompressPolicy,
    PinPolicy,
    Policy,
    PolicyAction,
    Proposal,
)
from tract_core.testing import ScriptedLLM

BUDGET = 300
SUMMARY = "Summary: the customer asked about orders 0 to 20."
MUST = "You must never share the vault password."


def filler(i: int) -> str:
    return f"message number {i} about order {i} with some words to fill the context budget quickly"


def contents(t: Tract) -> list[str]:
    return [m["content"] for m in t.compile().messages]


def crowded(factory: Any, tract_id: str = "default") -> Tract:
    """A tract at 80% of its budget or more, with no policies configured yet."""
    t = factory.open(tract_id=tract_id, config=TractConfig(token_budget=BUDGET))
    t.system("You are a support agent.")
    i = 0
    while t.status().token_count < 0.8 * BUDGET:
        (t.user if i % 2 == 0 else t.assistant)(filler(i))
        i += 1
    return t


def summariser() -> ScriptedLLM:
    return ScriptedLLM([SUMMARY], repeat_last=True)


def two_policies(**compress: Any) -> list[Any]:
    """A CompressPolicy (high risk) and a PinPolicy for "must never" (low risk)."""
    return [CompressPolicy(0.8, keep_recent=2, llm=summariser(), **compress), PinPolicy(patterns=["must never"])]


def by_policy(t: Tract) -> dict[str, str]:
    return {p.policy: p.status for p in t.proposals()}


def proposed_compression(factory: Any, **configure: Any) -> tuple[Tract, Proposal]:
    """A crowded tract in manual mode whose CompressPolicy has proposed (and waits)."""
    t = crowded(factory)
    t.configure_policies([CompressPolicy(0.8, keep_recent=2, llm=summariser())], autonomy="manual", **configure)
    t.user("One more question about order 21.")
    [proposal] = t.pending_proposals()
    return t, proposal


# -- configuration ------------------------------------------------------------------------------


class Quiet:
    """A custom policy: a plain class meeting the protocol."""

    name = "quiet"
    priority = 5
    trigger = "commit"

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        return None


class Named(Quiet):
    def __init__(self, name: str = "quiet", trigger: Any = "commit", autonomy: Any = None, priority: Any = 5) -> None:
        self.name = name
        self.trigger = trigger
        self.autonomy = autonomy
        self.priority = priority


class NoEvaluate:
    name = "broken"
    priority = 1
    trigger = "commit"


@pytest.mark.parametrize(
    ("policies", "configure", "message"),
    [
        ("PinPolicy()", {}, "takes a list of policies"),
        (PinPolicy(), {}, "takes a list of policies"),
        ([NoEvaluate()], {}, "is not a policy: it needs name, priority, trigger and evaluate"),
        ([object()], {}, "is not a policy"),
        ([PinPolicy(), PinPolicy()], {}, "two policies are named 'pin'; give each a unique name"),
        ([Named("a"), Named("a")], {}, "two policies are named 'a'"),
        ([Named(trigger="push")], {}, "policy 'quiet': trigger must be 'commit' or 'compile', not 'push'"),
        ([Named(name="")], {}, "a policy needs a non-empty name"),
        ([Named(priority="high")], {}, r"policy 'quiet': priority must be an integer \(lower runs first\), not 'high'"),
        ([Named(priority=None)], {}, "policy 'quiet': priority must be an integer"),
        ([Named(autonomy="yolo")], {}, "policy 'quiet' autonomy must be 'manual', 'collaborative' or 'autonomous'"),
        ([PinPolicy()], {"autonomy": "auto"}, "autonomy must be 'manual', 'collaborative' or 'autonomous', not 'auto'"),
        ([PinPolicy()], {"on_proposal": "yes"}, "on_proposal must be callable"),
    ],
    ids=[
        "string",
        "not-a-list",
        "no-evaluate",
        "object",
        "duplicate-builtin",
        "duplicate-custom",
        "trigger",
        "empty-name",
        "priority-text",
        "priority-none",
        "policy-autonomy",
        "tract-autonomy",
        "callback",
    ],
)
def test_configure_policies_refuses_bad_configurations_and_keeps_the_current_one(policies, configure, message):
    with Tract.open() as t:
        kept = t.configure_policies([Quiet()], autonomy="manual")
        with pytest.raises(InvalidInputError, match=message):
            t.configure_policies(policies, **configure)
        assert t.policies == kept
        reopened = Tract.open(store=t.store)
        assert [type(p) for p in reopened.policies] == [Quiet]


def test_configuring_none_keeps_the_policies_and_changes_only_what_is_given():
    with Tract.open() as t:
        pin = PinPolicy()
        assert t.configure_policies([pin, Quiet()], autonomy="manual") == [pin, t.policies[1]]
        assert t.configure_policies(autonomy="autonomous") == [pin, t.policies[1]]
        t.system("You are terse.")  # autonomous now: the pin executes
        assert [p.status for p in t.proposals()] == ["executed"]
        assert t.configure_policies([]) == [] and t.policies == []


def test_the_policy_protocol_is_runtime_checkable():
    for policy in (
        CompressPolicy(),
        PinPolicy(),
        BranchPolicy(),
        ArchivePolicy(),
        Quiet(),
    ):
        assert isinstance(policy, Policy), policy
    assert not isinstance(NoEvaluate(), Policy)
    assert not isinstance(object(), Policy)


def test_policy_action_checks_its_fields_and_defaults_the_risk_by_kind():
    assert PolicyAction("annotate").risk == "low"
    assert PolicyAction("archive").risk == "low"
    for kind in ("compress", "branch", "merge", "gc", "edit", "my-custom-kind"):
        assert PolicyAction(kind).risk == "high", kind
    assert PolicyAction("compress", risk="low").risk == "low"
    assert PolicyAction("note", {"a": 1}, "why").params == {"a": 1}
    with pytest.raises(InvalidInputError, match="needs a kind"):
        PolicyAction("")
    with pytest.raises(InvalidInputError, match="needs a kind"):
        PolicyAction(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="params must be a mapping, not list"):
        PolicyAction("annotate", ["target"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="reason must be a string"):
        PolicyAction("annotate", {}, 42)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="risk must be 'low' or 'high', not 'medium'"):
        PolicyAction("annotate", risk="medium")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="execute must be callable"):
        PolicyAction("note", execute="run it")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: CompressPolicy(1.5), r"threshold is a share of the budget in \(0, 1\], not 1.5"),
        (lambda: CompressPolicy(0), "threshold"),
        (lambda: CompressPolicy(keep_recent=-1), "keep_recent must be a positive integer"),
        (lambda: CompressPolicy(token_budget=True), "token_budget must be a positive integer"),
        (lambda: PinPolicy(patterns="must never"), "content_types and patterns are lists"),
        (lambda: PinPolicy(patterns=["("]), "pattern is not a regular expression"),
        (lambda: ArchivePolicy(keep="main"), "keep is a list of branch names"),
    ],
)
def test_builtin_policies_refuse_bad_arguments(make, message):
    with pytest.raises(InvalidInputError, match=message):
        make()


# -- autonomy -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["memory"])
@pytest.mark.parametrize(
    ("autonomy", "expected"),
    [
        ("manual", {"pin": "pending", "compress": "pending"}),
        ("collaborative", {"pin": "executed", "compress": "pending"}),
        ("autonomous", {"pin": "executed", "compress": "executed"}),
    ],
)
def test_autonomy_decides_which_actions_execute(factory, autonomy, expected):
    t = crowded(factory)
    before = contents(t)
    t.configure_policies(two_policies(), autonomy=autonomy)
    must = t.user(MUST)  # crosses nothing new: the context was over 80% already, and it matches the pin

    assert by_policy(t) == expected
    assert {p.policy for p in t.pending_proposals()} == {k for k, v in expected.items() if v == "pending"}
    pinned = [a.priority.value for a in t.show(must).annotations]
    assert pinned == (["pinned"] if expected["pin"] == "executed" else [])
    if expected["compress"] == "executed":
        assert contents(t)[:2] == ["You are a support agent.", SUMMARY] and MUST in contents(t)
        assert len(t.compressions()) == 1
    else:
        assert contents(t) == [*before, MUST] and t.compressions() == []
    for p in t.proposals(status="executed"):
        assert p.decided_by == f"autonomy:{autonomy}"


@pytest.mark.parametrize("backend", ["memory"])
def test_a_policys_own_autonomy_overrides_the_tracts(factory):
    t = crowded(factory)
    t.configure_policies(
        [
            CompressPolicy(0.8, keep_recent=2, llm=summariser()),
            PinPolicy(patterns=["must never"], autonomy="autonomous"),
        ],
        autonomy="manual",
    )
    t.user(MUST)
    assert by_policy(t) == {"pin": "executed", "compress": "pending"}

    other = crowded(factory.fresh())
    other.configure_policies(
        [
            CompressPolicy(0.8, keep_recent=2, llm=summariser(), autonomy="manual"),
            PinPolicy(patterns=["must never"], autonomy="collaborative"),
        ],
        autonomy="autonomous",
    )
    other.user(MUST)
    assert by_policy(other) == {"pin": "executed", "compress": "pending"}


# -- on_proposal --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["memory"])
@pytest.mark.parametrize(
    ("answer", "status", "decided_by"),
    [(True, "executed", "callback"), (False, "rejected", "callback"), (None, "pending", None)],
    ids=["true-approves", "false-rejects", "none-leaves-pending"],
)
def test_on_proposal_decides_new_proposals_by_what_it_returns(factory, answer, status, decided_by):
    seen: list[Proposal] = []

    def decide(proposal: Proposal) -> Any:
        seen.append(proposal)
        return answer

    t = crowded(factory)
    before = contents(t)
    t.configure_policies(two_policies(), autonomy="collaborative", on_proposal=decide)
    t.user(MUST)

    [asked] = seen  # only the high-risk compress was proposed; the pin executed
    assert (asked.policy, asked.kind, asked.status, asked.risk) == ("compress", "compress", "pending", "high")
    assert "Context at" in asked.reason and asked.to_dict()["params"] == dict(asked.params)
    now = t.proposals(status=status)
    assert [p.id for p in now if p.policy == "compress"] == [asked.id]
    assert t.proposals()[-1].decided_by == decided_by
    if status == "executed":
        assert SUMMARY in contents(t)
    else:
        assert contents(t) == [*before, MUST]


@pytest.mark.parametrize("backend", ["memory"])
def test_on_proposal_returning_a_dict_approves_with_those_changes(factory):
    t = crowded(factory)
    t.configure_policies(two_policies(), autonomy="collaborative", on_proposal=lambda p: {"keep_recent": 4})
    t.user(MUST)
    [done] = t.proposals(status="executed", limit=1)
    assert done.policy == "compress" and done.params["keep_recent"] == 4 and done.decided_by == "callback"
    after_summary = contents(t)[contents(t).index(SUMMARY) + 1 :]
    assert len(after_summary) == 4 and after_summary[-1] == MUST


@pytest.mark.parametrize("backend", ["memory"])
@pytest.mark.parametrize(
    ("callback", "warning"),
    [
        (lambda p: 1 / 0, "on_proposal raised ZeroDivisionError"),
        (lambda p: "yes", "on_proposal returned 'yes'; return True, False, a dict or None"),
    ],
    ids=["raises", "bad-answer"],
)
def test_a_failing_on_proposal_leaves_the_proposal_pending_with_a_warning(factory, callback, warning):
    t = crowded(factory)
    t.configure_policies(two_policies(), autonomy="collaborative", on_proposal=callback)
    with pytest.warns(PolicyWarning, match=warning):
        must = t.user(MUST)
    assert t.head == must.hash and contents(t)[-1] == MUST
    assert [p.policy for p in t.pending_proposals()] == ["compress"]
    if warning.startswith("on_proposal raised"):
        [entry] = [e for e in t.policy_log() if e.decision == "error"]
        assert entry.policy == "compress" and "ZeroDivisionError" in (entry.reason or "")


@pytest.mark.parametrize("backend", ["memory"])
def test_configuring_again_without_a_callback_drops_it(factory):
    asked: list[int] = []
    t = crowded(factory)
    t.configure_policies(two_policies(), autonomy="manual", on_proposal=lambda p: asked.append(p.id))
    t.configure_policies(autonomy="manual")
    t.user(MUST)
    assert asked == [] and len(t.pending_proposals()) == 2


# -- deciding proposals -------------------------------------------------------------------------


def test_approving_a_proposal_executes_it_and_records_the_outcome(factory):
    t, proposal = proposed_compression(factory)
    assert proposal.status == "pending" and proposal.basis == t.head and proposal.params["head"] == t.head

    done = t.approve_proposal(proposal, decided_by="ops")

    assert (done.id, done.status, done.decided_by) == (proposal.id, "executed", "ops")
    [record] = t.compressions()
    assert done.outcome["compression"] == record.id and done.outcome["head"] == t.head
    assert done.outcome["tokens_after"] < done.outcome["tokens_before"]
    assert contents(t)[:2] == ["You are a support agent.", SUMMARY]
    assert contents(t)[-1] == "One more question about order 21." and len(contents(t)) == 4
    assert t.pending_proposals() == []
    assert [(e.decision, e.proposal_id) for e in t.policy_log(3)] == [
        ("executed", proposal.id),
        ("approved", proposal.id),
        ("proposed", proposal.id),
    ]
    assert t.proposals(status="executed") == [done]


@pytest.mark.parametrize("backend", ["memory"])
@pytest.mark.parametrize("form", ["commit-info", "hash"])
def test_approving_with_a_changed_range_compresses_that_range(factory, form):
    t, proposal = proposed_compression(factory)
    history = list(reversed(t.log(None)))
    upto = history[4]  # the system message and the first four messages
    done = t.approve_proposal(proposal.id, to_commit=upto if form == "commit-info" else upto.hash)

    assert done.status == "executed" and done.params["to_commit"] == upto.hash
    assert done.params["keep_recent"] == 2  # kept as proposed, but a range wins over it
    assert contents(t) == ["You are a support agent.", SUMMARY, *[c.content for c in history[5:]]]


@pytest.mark.parametrize("backend", ["memory"])
def test_approving_with_a_changed_keep_recent_keeps_that_many(factory):
    t, proposal = proposed_compression(factory)
    last = [c.content for c in reversed(t.log(5))]
    t.approve_proposal(proposal, keep_recent=5)
    assert contents(t) == ["You are a support agent.", SUMMARY, *last]


def test_rejecting_changes_nothing_and_the_same_action_is_not_proposed_again(factory):
    t, proposal = proposed_compression(factory)
    before = t.compile().digest
    head = t.head

    rejected = t.reject_proposal(proposal, reason="not during the incident", decided_by="ana")

    assert (rejected.status, rejected.decided_by) == ("rejected", "ana")
    assert rejected.outcome == {"reason": "not during the incident"}
    assert t.compile().digest == before and t.head == head and t.compressions() == []
    assert t.run_policies() == [] and t.pending_proposals() == []
    assert len(t.proposals()) == 1
    assert t.policy_log(1)[0].decision == "rejected" and t.policy_log(1)[0].detail["by"] == "ana"


@pytest.mark.parametrize("backend", ["memory"])
def test_unknown_proposals_and_bad_references_are_clear_errors(factory):
    t, proposal = proposed_compression(factory)
    with pytest.raises(ProposalNotFoundError, match="has no proposal 999; see pending_proposals"):
        t.approve_proposal(999)
    with pytest.raises(ProposalNotFoundError, match="999"):
        t.reject_proposal(999)
    with pytest.raises(InvalidInputError, match="a proposal is a Proposal or its id"):
        t.approve_proposal("1")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="status must be one of"):
        t.proposals(status="done")
    assert t.pending_proposals() == [proposal]


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
@pytest.mark.parametrize(
    ("first", "second"), [("approve", "approve"), ("approve", "reject"), ("reject", "approve"), ("reject", "reject")]
)
def test_deciding_a_proposal_twice_is_refused(factory, first, second):
    t, proposal = proposed_compression(factory)
    decide = {"approve": t.approve_proposal, "reject": t.reject_proposal}
    decided = decide[first](proposal)
    digest = t.compile().digest
    with pytest.raises(ProposalDecidedError, match=f"proposal {proposal.id} is already {decided.status}"):
        decide[second](proposal)
    assert t.compile().digest == digest and t.proposals() == [decided]


def _move_head_away(t: Tract, how: str) -> None:
    """Make HEAD's history lose the commits the pending proposal names."""
    if how == "reset":
        t.reset(t.log(3)[-1].hash)
    elif how == "compress-by-hand":
        t.compress(content="Summary written by hand.", keep_recent=1)
    else:
        t.branch("earlier", t.log(3)[-1].hash)
        t.switch("earlier")


@pytest.mark.parametrize("backend", ["memory"])
@pytest.mark.parametrize("how", ["reset", "compress-by-hand", "switch-branch"])
@pytest.mark.parametrize("listed_first", [True, False], ids=["listed-first", "approved-at-once"])
def test_a_proposal_whose_commits_left_history_is_stale(factory, how, listed_first):
    _check_stale(factory, how, listed_first)


def test_stale_proposals_are_found_on_every_backend(factory):
    _check_stale(factory, "reset", listed_first=True)


def _check_stale(factory: Any, how: str, listed_first: bool) -> None:
    t, proposal = proposed_compression(factory)
    _move_head_away(t, how)
    digest = t.compile().digest
    if listed_first:
        assert t.pending_proposals() == []
        assert [p.id for p in t.proposals(status="stale")] == [proposal.id]

    with pytest.raises(StaleProposalError, match=r"no longer in HEAD's history.*run_policies\(\)"):
        t.approve_proposal(proposal)

    assert t.compile().digest == digest
    [stale] = t.proposals()
    assert stale.status == "stale" and stale.outcome == {"missing": [proposal.params["head"]]}
    assert t.pending_proposals() == []
    with pytest.raises(ProposalDecidedError):
        t.reject_proposal(proposal)


@pytest.mark.parametrize("backend", ["memory"])
def test_approving_with_a_range_outside_history_is_stale_and_changes_nothing(factory):
    t, proposal = proposed_compression(factory)
    t.branch("side", switch=True)
    elsewhere = t.user("only on side")
    t.switch("main")
    digest = t.compile().digest
    with pytest.raises(StaleProposalError, match=elsewhere.hash[:12]):
        t.approve_proposal(proposal, to_commit=elsewhere)
    assert t.compile().digest == digest and t.proposals()[0].status == "stale"


# -- pause, resume and the log ------------------------------------------------------------------


def test_pausing_is_stored_and_every_handle_sees_it(factory):
    t = factory.open(tract_id="ops")
    t.configure_policies([PinPolicy(patterns=["must never"])], autonomy="autonomous")
    other = factory.open(tract_id="ops")
    assert not other.policies_paused

    t.pause_policies()

    assert t.policies_paused and other.policies_paused and factory.open(tract_id="ops").policies_paused
    must = other.user(MUST)
    assert other.run_policies() == [] and t.run_policies() == []
    assert not t.show(must).annotations and t.proposals() == []

    other.resume_policies()

    assert not t.policies_paused
    [entry] = t.run_policies()
    assert (entry.policy, entry.decision, entry.trigger) == ("pin", "executed", "manual")
    assert [a.priority.value for a in t.show(must).annotations] == ["pinned"]


def test_pausing_a_tract_with_no_policies_yet_is_remembered(factory):
    t = factory.open()
    t.pause_policies()
    t.configure_policies([PinPolicy()], autonomy="autonomous")
    assert t.policies_paused
    t.system("You are terse.")
    assert t.proposals() == []


def test_the_policy_log_is_newest_first_and_limited(factory):
    t = factory.open()
    t.configure_policies([PinPolicy(patterns=["must never"])], autonomy="autonomous")
    musts = [t.user(f"You must never do thing {i}.") for i in range(5)]
    log = t.policy_log()
    assert [e.proposal_id for e in log] == [p.id for p in reversed(t.proposals())]
    assert [e.detail["target"] for e in log] == [m.hash for m in reversed(musts)]
    assert [e.id for e in log] == sorted((e.id for e in log), reverse=True)
    assert t.policy_log(2) == log[:2]
    assert t.policy_log(None) == log
    assert all(e.decision == "executed" and e.trigger == "commit" and e.kind == "annotate" for e in log)
    with pytest.raises(InvalidInputError):
        t.policy_log(-1)


def test_run_policies_checks_its_trigger():
    with Tract.open() as t, warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidInputError, match="trigger must be 'commit', 'compile' or None"):
            t.run_policies("push")
        assert t.run_policies() == []
