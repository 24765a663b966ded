"""Policies never cost the user a commit (DESIGN §12): a policy that raises is logged, warned and,
after three failures in a row, paused; policies wait for a batch to commit (and never run for one
that rolls back); an action's own commits do not trigger another evaluation; a failing action is
recorded as failed and the commit that triggered it stays.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tract_core import CommitNotFoundError, InvalidInputError, PolicyWarning, Tract, TractConfig
from tract_core.policies import CompressPolicy, PinPolicy, PolicyAction

MUST = "You must never share the vault password."


class Scripted:
    """A commit policy whose evaluations follow a script: "raise", "junk" (not an action), or None."""

    trigger = "commit"

    def __init__(self, script: list[str | None], *, name: str = "flaky", priority: int = 50) -> None:
        self.script = list(script)
        self.name = name
        self.priority = priority
        self.heads: list[str | None] = []

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        self.heads.append(tract.head)
        step = self.script.pop(0) if self.script else None
        if step == "raise":
            raise ValueError(f"boom {len(self.heads)}")
        if step == "junk":
            return "compress please"  # type: ignore[return-value]
        return None


class Counting:
    """Counts its evaluations and records HEAD each time."""

    def __init__(self, trigger: str = "commit", *, name: str = "counting", priority: int = 50) -> None:
        self.trigger = trigger
        self.name = name
        self.priority = priority
        self.heads: list[str | None] = []

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        self.heads.append(tract.head)
        return None


class Compiling:
    """A commit policy that reads the compiled context to decide (and decides nothing)."""

    trigger = "commit"
    name = "reader"
    priority = 50

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        tract.compile()
        return None


class Echo:
    """Would loop if an action's commits re-triggered evaluation: on every commit it executes a
    custom action that commits one more message."""

    trigger = "commit"

    def __init__(self, *, name: str = "echo", priority: int = 60) -> None:
        self.name = name
        self.priority = priority
        self.evaluations = 0
        self.executed = 0

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        self.evaluations += 1
        return PolicyAction("note", {"after": tract.head}, reason="note every commit", risk="low")

    def execute(self, tract: Tract, action: PolicyAction) -> dict[str, Any]:
        self.executed += 1
        return {"commit": tract.assistant(f"noted {str(action.params['after'])[:12]}").hash}


def decisions(t: Tract, policy: str) -> list[str]:
    return [e.decision for e in reversed(t.policy_log(None)) if e.policy == policy]


# -- a raising policy ---------------------------------------------------------------------------


def test_a_policy_that_raises_never_loses_the_commit(factory):
    t = factory.open()
    t.configure_policies([Scripted(["raise"] * 2, name="boom"), PinPolicy(patterns=["must never"])], autonomy="manual")

    with pytest.warns(PolicyWarning, match=r"policy 'boom' failed \(ValueError: boom 1\); the commit is kept"):
        info = t.user(MUST)

    assert t.head == info.hash and [c.hash for c in t.log(None)] == [info.hash]
    assert [m["content"] for m in t.compile().messages] == [MUST]
    [error] = [e for e in t.policy_log() if e.policy == "boom"]
    assert (error.decision, error.trigger, error.reason) == ("error", "commit", "ValueError: boom 1")
    assert [p.policy for p in t.pending_proposals()] == ["pin"]  # the other policy still ran
    with pytest.warns(PolicyWarning, match="test_policies_reliability:Scripted could not be restored"):
        reopened = factory.open()  # a class that needs arguments it did not store cannot come back
    assert reopened.head == info.hash and [p.name for p in reopened.policies] == ["pin"]


@pytest.mark.parametrize("backend", ["memory"])
def test_evaluate_returning_something_else_than_an_action_is_a_logged_failure(factory):
    t = factory.open()
    t.configure_policies([Scripted(["junk"])])
    with pytest.warns(PolicyWarning, match="evaluate\\(\\) returned 'compress please'; return a PolicyAction or None"):
        info = t.user("hello")
    assert t.head == info.hash and t.proposals() == []
    assert t.policy_log()[0].decision == "error"


def test_three_failures_in_a_row_pause_the_policy_until_resumed(factory):
    flaky = Scripted(["raise", "raise", "raise", None, None])
    t = factory.open()
    t.configure_policies([flaky, PinPolicy(patterns=["must never"])], autonomy="autonomous")
    with pytest.warns(PolicyWarning) as caught:
        for i in range(3):
            t.user(f"message {i}")
    messages = [str(w.message) for w in caught]
    assert len(messages) == 4 and "failed 3 times in a row and is paused" in messages[-1]
    assert "resume_policies()" in messages[-1]
    assert decisions(t, "flaky") == ["error", "error", "error", "paused"]

    must = t.user(MUST)  # paused: not evaluated; the other policy still runs
    assert len(flaky.heads) == 3
    assert [a.priority.value for a in t.show(must).annotations] == ["pinned"]
    assert not t.policies_paused  # only this policy, only on this handle

    t.resume_policies()
    after = t.user("message 4")
    assert flaky.heads[-1] == after.hash and len(flaky.heads) == 4
    assert decisions(t, "flaky") == ["error", "error", "error", "paused"]


@pytest.mark.parametrize("backend", ["memory"])
def test_failures_must_be_in_a_row_to_pause(factory):
    flaky = Scripted(["raise", "raise", None, "raise", "raise", None])
    t = factory.open()
    t.configure_policies([flaky])
    with pytest.warns(PolicyWarning):
        for i in range(6):
            t.user(f"message {i}")
    assert decisions(t, "flaky") == ["error"] * 4
    assert len(flaky.heads) == 6


# -- batches ------------------------------------------------------------------------------------


def test_policies_wait_for_the_batch_and_run_once_after_it(factory):
    counting = Counting()
    t = factory.open()
    t.configure_policies([counting, PinPolicy(patterns=["must never"])], autonomy="autonomous")
    with t.batch():
        first = t.user(MUST)
        t.assistant("Understood.")
        last = t.user("Thanks.")
        assert counting.heads == [] and t.proposals() == []
    assert counting.heads == [last.hash]
    [pinned] = t.proposals()  # evaluated once, it still sees every commit of the batch
    assert pinned.params["target"] == first.hash and pinned.status == "executed"
    assert [a.priority.value for a in t.show(first).annotations] == ["pinned"]


def test_a_rolled_back_batch_runs_no_policies_and_later_batches_still_do(factory):
    counting = Counting()
    t = factory.open()
    t.configure_policies([counting])
    with pytest.raises(RuntimeError, match="abandon"), t.batch():
        t.user("doomed")
        raise RuntimeError("abandon")
    assert counting.heads == [] and t.head is None

    with t.batch():
        kept = t.user("kept")
    assert counting.heads == [kept.hash]
    with t.batch():
        again = t.user("again")
    assert counting.heads == [kept.hash, again.hash]


# -- no loops -----------------------------------------------------------------------------------


def test_an_actions_own_commits_do_not_trigger_evaluation(factory):
    echo = Echo()
    t = factory.open()
    t.configure_policies([echo], autonomy="autonomous")

    first = t.user("hello")

    assert (echo.evaluations, echo.executed) == (1, 1)
    assert [c.content for c in reversed(t.log(None))] == ["hello", f"noted {first.hash[:12]}"]
    [done] = t.proposals()
    assert done.status == "executed" and done.outcome == {"commit": t.head}

    t.user("again")
    assert (echo.evaluations, echo.executed) == (2, 2) and len(t.log(None)) == 4


@pytest.mark.parametrize("backend", ["memory"])
def test_a_pass_is_not_re_entered_after_one_of_its_actions_executed(factory):
    """Compiling inside a commit pass (after the pin executed) does not start a compile pass."""
    on_compile = Counting("compile", name="on-compile")
    echo = Echo(priority=70)
    t = factory.open()
    t.configure_policies([PinPolicy(), Compiling(), on_compile, echo], autonomy="autonomous")

    t.system("You are terse.")  # the pin executes first, then the reader compiles, then echo commits

    assert on_compile.heads == []
    assert (echo.evaluations, echo.executed) == (1, 1) and len(t.log(None)) == 2
    t.compile()
    assert len(on_compile.heads) == 1


# -- failing actions ----------------------------------------------------------------------------


def _over_budget(factory: Any) -> Tract:
    t = factory.open(config=TractConfig(token_budget=120))
    t.system("You are a support agent.")
    for i in range(6):
        (t.user if i % 2 == 0 else t.assistant)(f"message {i} about order {i} with a few more words")
    assert t.status().token_count >= 0.8 * 120
    return t


def test_a_failing_action_is_recorded_as_failed_and_the_commit_stays(factory):
    t = _over_budget(factory)
    t.configure_policies([CompressPolicy(0.8, keep_recent=2)], autonomy="autonomous")  # no LLM anywhere

    with pytest.warns(
        PolicyWarning, match="policy 'compress': compress action failed: InvalidInputError: .*needs an LLM"
    ):
        info = t.user("one more")

    assert t.head == info.hash and t.compressions() == []
    [failed] = t.proposals()
    assert failed.status == "failed" and "CompressPolicy(llm=...)" in failed.outcome["error"]
    [entry] = t.policy_log(1)
    assert (entry.decision, entry.proposal_id) == ("failed", failed.id)


def test_approving_an_action_this_process_cannot_execute_is_refused_and_stays_pending(factory):
    t = _over_budget(factory)
    t.configure_policies([CompressPolicy(0.8, keep_recent=2)], autonomy="manual")  # no LLM anywhere
    t.user("one more")
    [proposal] = t.pending_proposals()
    digest = t.compile().digest

    with pytest.raises(InvalidInputError, match="content='<your summary>'"):
        t.approve_proposal(proposal)

    assert t.compile().digest == digest and t.pending_proposals() == [proposal]
    done = t.approve_proposal(proposal, content="Summary written by the operator.")
    assert done.status == "executed" and "Summary written by the operator." in [
        m["content"] for m in t.compile().messages
    ]


class Explodes:
    """Proposes a custom action whose execution raises."""

    trigger = "commit"
    name = "explodes"
    priority = 50

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        return PolicyAction("explode", {"head": tract.head}, reason="try something that breaks")

    def execute(self, tract: Tract, action: PolicyAction) -> None:
        raise RuntimeError("the external system is down")


def test_approving_an_action_that_fails_raises_its_error_and_marks_it_failed(factory):
    t = factory.open()
    t.configure_policies([Explodes()], autonomy="manual")
    info = t.user("hello")
    [proposal] = t.pending_proposals()

    with (
        pytest.warns(PolicyWarning, match="explode action failed: RuntimeError"),
        pytest.raises(RuntimeError, match="the external system is down"),
    ):
        t.approve_proposal(proposal)

    [failed] = t.proposals()
    assert failed.status == "failed" and failed.outcome == {"error": "RuntimeError: the external system is down"}
    assert t.contains(info) and t.pending_proposals() == []
    assert [e.decision for e in t.policy_log(3)] == ["failed", "approved", "proposed"]


class PinsHeadLate:
    """Pins HEAD's message with a custom action; the first time, another writer compresses the
    history while the action runs (as a second process running the same policies may)."""

    trigger = "commit"
    name = "pin-late"
    priority = 10

    def __init__(self, other: Tract) -> None:
        self.other = other
        self.interfered = False

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        newest = tract.log(1)[0]
        if newest.role != "user" or tract.show(newest).annotations:
            return None
        return PolicyAction("pin-late", {"target": newest.hash}, reason="pin the newest message", risk="low")

    def execute(self, tract: Tract, action: PolicyAction) -> dict[str, Any]:
        if not self.interfered:
            self.interfered = True
            self.other.compress(content="Summary by the other writer.", keep_recent=1)
        tract.annotate(action.params["target"], "pinned")
        return {"pinned": action.params["target"]}


def test_an_action_whose_target_left_history_while_it_ran_is_stale_and_evaluated_again(factory):
    t = factory.open()
    for i in range(4):
        t.user(f"message {i}")
    policy = PinsHeadLate(factory.open())
    t.configure_policies([policy], autonomy="autonomous")

    must = t.user(MUST)

    assert t.head != must.hash  # the other writer's compression replayed it
    first, second = t.proposals()
    assert first.status == "stale" and first.params["target"] == must.hash
    assert "CommitNotFoundError" in first.outcome["error"] and first.outcome["missing"] == [must.hash]
    assert (second.status, second.params["target"]) == ("executed", t.head)
    assert [a.priority.value for a in t.show(t.head).annotations] == ["pinned"]
    assert t.show(t.head).content == MUST
    assert [e.decision for e in reversed(t.policy_log(2))] == ["stale", "executed"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_pin_racing_a_compression_is_never_silently_lost(factory):
    """Another process pins a message while this one's compression (replaying that message) is
    being written: the pin waits for it and then fails clearly, instead of landing on the old
    commit while the replayed message stays unpinned (and is summarised away later)."""
    t = factory.open()
    for i in range(6):
        t.user(f"message {i}")
    must = t.user(MUST)
    other = Tract.open(**factory.location)  # its own connection, like another process
    outcome: dict[str, Any] = {}

    def pin() -> None:
        try:
            outcome["pinned"] = other.annotate(must.hash, "pinned")
        except Exception as error:
            outcome["pinned"] = error

    racer = threading.Thread(target=pin)
    try:
        with t.batch():
            t.compress(content="Summary of messages 0 to 4.", keep_recent=2)
            racer.start()
            time.sleep(0.5)  # the pin runs now, or waits for this transaction
        racer.join(60)
    finally:
        other.close()

    assert not t.contains(must.hash)
    replayed = t.log(1)[0]
    assert replayed.content == MUST
    if isinstance(outcome["pinned"], Exception):
        assert isinstance(outcome["pinned"], CommitNotFoundError), outcome["pinned"]
        assert not t.show(replayed).annotations
    else:  # it landed first: the compression carried it
        assert [a.priority.value for a in t.show(replayed).annotations] == ["pinned"]
