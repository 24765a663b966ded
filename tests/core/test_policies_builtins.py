"""The built-in policies on real conversations: CompressPolicy (threshold, pinned messages verbatim,
one proposal at a time, the LLM it uses), PinPolicy, and ArchivePolicy in simulated time
(:func:`tract_core.clock.use_clock`). BranchPolicy's drift detection is tested with the detector.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tract_core import EDIT, SKIP, StaleProposalError, Tract, TractConfig
from tract_core.clock import use_clock
from tract_core.policies import ArchivePolicy, CompressPolicy, PinPolicy, cached_prefix_lost
from tract_core.testing import ScriptedLLM

DAY = 86_400.0
BUDGET = 400
SUMMARY = "Summary: Ada's order 1182 arrived broken; a replacement and a refund were discussed."

CONVERSATION = [
    ("system", "You are the support agent of Ada's bakery supplies shop."),
    ("user", "Hi, my order 1182 arrived today and the stand mixer bowl is cracked."),
    ("assistant", "I'm sorry to hear that. Could you send a photo of the cracked bowl and the box?"),
    ("user", "Sure, I just uploaded two photos to the ticket. The box looked fine from outside."),
    ("assistant", "Thank you. The damage looks like it happened in the warehouse. I can send a new bowl."),
    ("user", "Remember: you must never charge my card again without asking me first."),
    ("assistant", "Understood, no charge will be made without your explicit confirmation."),
    ("user", "How long would the replacement take? I have a big baking weekend coming up."),
    ("assistant", "A replacement ships within two days; delivery usually takes three to four more."),
    ("user", "That is too late for the weekend. Could I get a refund for the bowl instead?"),
    ("assistant", "Yes, a refund of 49 euros for the bowl can be issued to your original payment method."),
    ("user", "Please do that, and can you also check whether order 1190 has shipped yet?"),
    ("assistant", "The refund is on its way. Order 1190 left our warehouse this morning with DHL."),
    ("user", "Great. Is there a tracking number I can use for order 1190?"),
    ("assistant", "The tracking number is 00340434161234567890; it becomes active tonight."),
    ("user", "Thanks a lot for your help today, that was quick and painless."),
    ("assistant", "You're welcome! Enjoy the baking weekend, and reach out any time."),
    ("user", "One last thing: does the new mixer model fit the old bowls?"),
    ("assistant", "It does: the 5-litre bowls of the previous model fit the new mixer."),
]


def say(t: Tract, role: str, text: str) -> Any:
    return t.commit(text, role=role)


def summariser() -> ScriptedLLM:
    return ScriptedLLM([SUMMARY], repeat_last=True)


def contents(t: Tract) -> list[str]:
    return [m["content"] for m in t.compile().messages]


# -- CompressPolicy -----------------------------------------------------------------------------


def test_compress_policy_fires_when_the_context_reaches_the_threshold(factory):
    t = factory.open(config=TractConfig(token_budget=BUDGET))
    t.configure_policies([CompressPolicy(0.8, keep_recent=4, llm=summariser())], autonomy="collaborative")
    fired_at = None
    for step, (role, text) in enumerate(CONVERSATION):
        say(t, role, text)
        tokens = t.status().token_count
        pending = t.pending_proposals()
        if tokens < 0.8 * BUDGET:
            assert pending == [], f"fired at {tokens} tokens"
        elif fired_at is None:
            fired_at = step
            [proposal] = pending
            share = tokens / BUDGET
            assert proposal.reason == (
                f"Context at {share:.0%} of 400 tokens; compress the {t.status().message_count - 4} messages "
                f"before the last 4; drops a cached prefix of {cached_prefix_lost(t.compile()):,} tokens"
            )
            assert proposal.params == {"head": t.head, "keep_recent": 4} and proposal.risk == "high"
    assert fired_at is not None and fired_at < len(CONVERSATION) - 1, "the conversation never reached 80%"
    assert len(t.proposals()) == 1  # one_pending: no second proposal while the first waits


def test_pinned_messages_survive_compression_verbatim(factory):
    t = factory.open(config=TractConfig(token_budget=BUDGET))
    t.configure_policies(
        [CompressPolicy(0.8, keep_recent=2, llm=summariser()), PinPolicy(patterns=["must never"])],
        autonomy="autonomous",
    )
    for role, text in CONVERSATION:
        say(t, role, text)
        if t.compressions():
            break
    [record] = t.compressions()
    compiled = contents(t)
    assert compiled[0] == CONVERSATION[0][1]  # the instruction, verbatim
    assert compiled[1] == SUMMARY
    assert compiled[2] == CONVERSATION[5][1]  # the pinned "must never" message, verbatim, after the summary
    assert t.status().token_count < 0.8 * BUDGET
    [done] = [p for p in t.proposals() if p.kind == "compress"]
    assert done.outcome["compression"] == record.id and done.status == "executed"
    assert len(t.archived(record.id)) > 0  # the originals are archived, not lost


def test_compress_policy_uses_the_tracts_configured_llm(factory):
    llm = summariser()
    t = factory.open(config=TractConfig(token_budget=BUDGET, llm=llm))
    t.configure_policies([CompressPolicy(0.8, keep_recent=2, target_tokens=40)], autonomy="autonomous")
    for role, text in CONVERSATION:
        say(t, role, text)
        if t.compressions():
            break
    assert llm.calls == 1 and SUMMARY in contents(t)
    assert t.proposals()[-1].params["target_tokens"] == 40


@pytest.mark.parametrize("backend", ["memory"])
def test_one_pending_compression_at_a_time_until_it_is_decided(factory):
    t = factory.open(config=TractConfig(token_budget=BUDGET))
    t.configure_policies([CompressPolicy(0.8, keep_recent=2, llm=summariser())], autonomy="manual")
    for role, text in CONVERSATION[:16]:
        say(t, role, text)
    [first] = t.pending_proposals()
    say(t, "user", "And another question.")
    assert t.pending_proposals() == [first]

    t.reject_proposal(first, reason="later")
    say(t, "user", "Still here.")  # a new situation: proposed again
    [second] = t.pending_proposals()
    assert second.id != first.id and second.params["head"] == t.head


@pytest.mark.parametrize("backend", ["memory"])
def test_a_stale_pending_compression_does_not_block_the_next_one(factory):
    """The pending proposal's commits left the history (compressed by hand): when the context
    crowds again, the policy proposes anew instead of waiting for a proposal nobody can approve."""
    t = factory.open(config=TractConfig(token_budget=BUDGET))
    t.configure_policies([CompressPolicy(0.8, keep_recent=2, llm=summariser())], autonomy="manual")
    for role, text in CONVERSATION[:16]:
        say(t, role, text)
    [first] = t.pending_proposals()
    t.compress(content="Summary written by hand.", keep_recent=2)
    i = 0
    while t.status().token_count < 0.8 * BUDGET:
        say(t, "user", f"Follow-up question {i} about the tracking number and the refund.")
        i += 1

    [second] = t.pending_proposals()

    assert second.id != first.id and second.params["head"] == t.head
    assert [p.status for p in t.proposals()] == ["stale", "pending"]


# -- PinPolicy ----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["memory"])
def test_pin_policy_pins_instructions_and_matching_messages_once(factory):
    t = factory.open()
    t.configure_policies([PinPolicy(patterns=["must never", r"severity:\s*critical"])], autonomy="collaborative")
    system = t.system("You are terse.")
    plain = t.user("What's the weather?")
    loud = t.user("You MUST NEVER do that again.")
    alert = t.user("alert: disk full, SEVERITY: critical")
    pinned = {p.params["target"] for p in t.proposals(status="executed")}
    assert pinned == {system.hash, loud.hash, alert.hash}
    for info in (system, loud, alert):
        [annotation] = t.show(info).annotations
        assert annotation.priority.value == "pinned" and annotation.reason.startswith("PinPolicy: ")
    assert not t.show(plain).annotations
    assert len(t.proposals()) == 3


@pytest.mark.parametrize("backend", ["memory"])
def test_pin_policy_leaves_a_persons_annotation_alone_and_pins_the_original_of_an_edit(factory):
    t = factory.open()
    t.configure_policies([PinPolicy(patterns=["must never"])], autonomy="manual")
    first = t.user("Note to self.")
    t.annotate(first, SKIP, reason="noise")
    t.commit("You must never mind this note.", operation=EDIT, response_to=first)  # matches, but annotated
    assert t.proposals() == []

    second = t.user("Another note.")
    t.commit("You must never forget this note.", operation=EDIT, response_to=second)
    [proposal] = t.pending_proposals()
    assert proposal.params["target"] == second.hash


# -- ArchivePolicy ------------------------------------------------------------------------------


class Clock:
    """Simulated time: starts at ``start``; ``advance(days=...)`` moves it."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, days: float = 0, seconds: float = 0) -> None:
        self.now += days * DAY + seconds


@pytest.fixture
def clock() -> Iterator[Clock]:
    simulated = Clock()
    with use_clock(simulated):
        yield simulated


def branches(t: Tract, include_archived: bool = False) -> list[str]:
    return [b.name for b in t.list_branches(include_archived=include_archived)]


def workspace(factory: Any, clock: Clock) -> tuple[Tract, dict[str, str]]:
    """main, feature and work idle since day 0, recent with a commit on day 6; HEAD on work."""
    t = factory.open()
    tips = {"main": t.system("You are terse.").hash}
    for name in ("feature", "work"):
        t.branch(name, switch=True)
        tips[name] = t.user(f"only on {name}").hash
        t.switch("main")
    clock.advance(days=6)
    t.branch("recent", switch=True)
    tips["recent"] = t.user("only on recent").hash
    t.switch("work")
    return t, tips


def test_archive_policy_archives_idle_branches_but_never_the_current_one_or_main(factory, clock):
    t, tips = workspace(factory, clock)
    t.configure_policies([ArchivePolicy(days=7)], autonomy="collaborative")
    clock.advance(days=1, seconds=-1)  # feature: 7 days minus a second
    assert t.run_policies() == []

    clock.advance(seconds=3601)  # 7 days and an hour: feature is idle; work is current, main is kept
    [entry] = t.run_policies()

    assert (entry.kind, entry.decision) == ("archive", "executed")
    assert entry.reason == "1 branch(es) had no commit for 7 days (feature): move them to archive/<name>"
    assert branches(t) == ["main", "recent", "work"]
    assert branches(t, include_archived=True) == ["archive/feature", "main", "recent", "work"]
    assert [b.archived for b in t.list_branches(include_archived=True)] == [True, False, False, False]
    assert [m["content"] for m in t.compile(at_commit="archive/feature").messages][-1] == "only on feature"

    t.switch("main")
    t.delete_branch("work", force=True)  # its commit is now an orphan; feature's is archived, not orphaned
    clock.advance(days=60)
    t.gc(orphan_retention_days=0, archive_retention_days=0)
    assert t.show(tips["feature"]).content == "only on feature"
    assert [b.commit for b in t.list_branches(include_archived=True) if b.name == "archive/feature"] == [
        tips["feature"]
    ]
    with pytest.raises(Exception, match="not found|no commit|unknown"):
        t.show(tips["work"])

    restored = t.restore_branch("feature")
    assert (restored.name, restored.commit) == ("feature", tips["feature"])
    assert "feature" in branches(t) and "archive/feature" not in branches(t, include_archived=True)
    assert [m["content"] for m in t.compile(at_commit="feature").messages][-1] == "only on feature"


@pytest.mark.parametrize("backend", ["memory"])
def test_archive_policy_looks_at_the_branches_at_most_once_per_check_every(factory, clock):
    t, tips = workspace(factory, clock)
    t.configure_policies([ArchivePolicy(days=7, check_every=3600)], autonomy="autonomous")
    clock.advance(days=1, seconds=3600)
    [first] = t.run_policies()
    assert first.detail == {"archived": ["archive/feature"]}

    t.branch("old", tips["main"])  # its tip was written on day 0: idle
    clock.advance(seconds=60)
    assert t.run_policies() == []  # within the hour: not looked at
    say(t, "user", "a commit on work")
    assert "old" in branches(t)

    clock.advance(seconds=3600)
    [second] = t.run_policies()
    assert second.detail == {"archived": ["archive/old"]} and "old" not in branches(t)


@pytest.mark.parametrize("backend", ["memory"])
def test_an_archive_proposal_approved_after_the_branch_got_new_commits_is_stale(factory, clock):
    t, tips = workspace(factory, clock)
    t.configure_policies([ArchivePolicy(days=7)], autonomy="manual")
    clock.advance(days=1, seconds=3600)
    t.run_policies()
    [proposal] = t.pending_proposals()
    assert proposal.params == {"branches": ["feature"], "tips": [tips["feature"]]}

    colleague = factory.open()
    colleague.switch("feature")
    colleague.user("back at work on the feature")

    with pytest.raises(StaleProposalError, match=r"branch\(es\) feature moved .* run_policies\(\)"):
        t.approve_proposal(proposal)
    assert "feature" in branches(t) and t.proposals()[0].status == "stale"


@pytest.mark.parametrize("backend", ["memory"])
def test_a_branch_restored_by_hand_is_not_archived_again_until_it_has_new_commits(factory, clock):
    t, tips = workspace(factory, clock)
    t.configure_policies([ArchivePolicy(days=7, check_every=0)], autonomy="collaborative")
    clock.advance(days=1, seconds=3600)
    t.run_policies()
    t.restore_branch("feature")
    assert t.run_policies() == [] and "feature" in branches(t)

    clock.advance(days=6)  # now recent is idle too: it goes, the restored feature stays
    [entry] = t.run_policies()
    assert entry.detail == {"archived": ["archive/recent"]}
    assert "feature" in branches(t)

    colleague = factory.open()
    colleague.switch("feature")
    colleague.user("new work on feature")
    clock.advance(days=7)  # idle again since its new commit: archived again
    [entry] = t.run_policies()
    assert entry.detail == {"archived": ["archive/feature"]}


@pytest.mark.parametrize("backend", ["memory", "postgres"])
def test_a_message_pinned_while_the_summary_is_written_survives_the_compression(factory):
    """A person (or another process) pins a message of the range while the LLM writes the summary:
    the compression does not summarise it away; CompressPolicy compresses around it next time."""
    t = factory.open(config=TractConfig(token_budget=BUDGET))
    for role, text in CONVERSATION[:16]:
        say(t, role, text)
    person = factory.open()
    target = t.log(None)[-3]  # an early message, inside the range

    def summarise(messages: list[dict[str, Any]]) -> str:
        if not person.show(target).annotations:
            person.annotate(target, "pinned", reason="the customer's own words")
        return SUMMARY

    llm = ScriptedLLM(summarise)
    t.configure_policies([CompressPolicy(0.8, keep_recent=2, llm=llm)], autonomy="autonomous")
    say(t, "user", "One more thing about the order.")

    [stale] = t.proposals()  # nothing was written: the summary was made without knowing of the pin
    assert stale.status == "stale" and "was pinned since this compression was planned" in stale.outcome["error"]
    assert t.compressions() == [] and target.content in contents(t)

    say(t, "user", "And the invoice?")  # the next commit: compressed around the pinned message
    assert [p.status for p in t.proposals()] == ["stale", "executed"] and llm.calls == 2
    compiled = contents(t)
    assert compiled[compiled.index(SUMMARY) + 1] == target.content
    assert [a.priority.value for a in t.show(t.log(None)[-3]).annotations][-1] == "pinned"
