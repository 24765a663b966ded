"""Policies across processes (DESIGN §12), on a SQLite file and on PostgreSQL: proposals made in one
process are seen and decided in another; two processes running the same policies on one tract
execute each action once; two processes approving the same proposal: one wins, the other is told.

Children are real interpreters (:class:`~tract_core.testing.ChildProcess`) coordinated with files;
the summariser is a deterministic :class:`~tract_core.testing.ScriptedLLM`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tract_core import Tract, TractConfig
from tract_core.policies import CompressPolicy, PinPolicy
from tract_core.testing.processes import WAIT_FOR_FILE, ChildProcess, wait_for_files

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["sqlite", "postgres"])]

BUDGET = 300
MUST = "You must never share the vault password."


def filler(i: int) -> str:
    return f"message number {i} about order {i} with some words to fill the context budget quickly"


def contents(t: Tract) -> list[str]:
    return [m["content"] for m in t.compile().messages]


def run_children(children: list[ChildProcess]) -> list[Any]:
    try:
        return [child.result() for child in children]
    finally:
        for child in children:
            child.kill()


# -- decided in another process -----------------------------------------------------------------

DECIDER = """
import json, sys
from tract_core import Tract

args = json.loads(sys.argv[1])
t = Tract.open(**args["location"])
paused = t.policies_paused
t.resume_policies()
pending = t.pending_proposals()
done = {}
for p in pending:
    changes = {"content": "Summary written in the child."} if p.kind == "compress" else {}
    done[p.kind] = t.approve_proposal(p.id, decided_by="child", **changes).status
print(json.dumps({
    "paused": paused,
    "pending": [[p.id, p.policy, p.kind] for p in pending],
    "done": done,
    "head": t.head,
    "policies": [type(p).__name__ for p in t.policies],
}))
"""


def test_proposals_made_here_are_seen_and_approved_in_another_process(factory, tmp_path):
    t = factory.open(config=TractConfig(token_budget=BUDGET))
    t.system("You are a support agent.")
    i = 0
    while t.status().token_count < 0.8 * BUDGET:
        t.user(filler(i))
        i += 1
    t.configure_policies([CompressPolicy(0.8, keep_recent=2), PinPolicy(patterns=["must never"])], autonomy="manual")
    must = t.user(MUST)
    made = t.pending_proposals()
    assert [p.kind for p in made] == ["annotate", "compress"]  # the pin (priority 10) first
    t.pause_policies()

    [child] = run_children([ChildProcess(DECIDER, {"location": factory.location}, tmp_path, "decider")])

    assert child["paused"] is True and not t.policies_paused  # the pause was stored; the child resumed
    assert child["policies"] == ["CompressPolicy", "PinPolicy"]
    assert child["pending"] == [[p.id, p.policy, p.kind] for p in made]
    assert child["done"] == {"annotate": "executed", "compress": "executed"}
    assert [(p.status, p.decided_by) for p in t.proposals()] == [("executed", "child")] * 2
    assert t.head == child["head"] and t.pending_proposals() == []
    assert contents(t) == ["You are a support agent.", "Summary written in the child.", filler(i - 1), MUST]
    assert [a.priority.value for a in t.show(must).annotations] == ["pinned"]
    assert [e.decision for e in t.policy_log(4)] == ["executed", "approved", "executed", "approved"]


# -- the same policies in two processes ---------------------------------------------------------

RUNNER = (
    WAIT_FOR_FILE
    + """
import json, sys
from pathlib import Path
from tract_core import Tract
from tract_core.policies import CompressPolicy, PinPolicy
from tract_core.testing import ScriptedLLM

args = json.loads(sys.argv[1])
folder = Path(args["folder"])
t = Tract.open(**args["location"])
summariser = ScriptedLLM(lambda messages: "Summary of the conversation so far.")
t.configure_policies(
    [CompressPolicy(0.8, keep_recent=2, llm=summariser), PinPolicy(patterns=["must never"])], autonomy="autonomous"
)
write_atomically(folder / f"ready-{args['me']}", "ready")
rounds = []
for r in range(args["rounds"]):
    wait_for_file(folder / f"go-{r}")
    rounds.append([[e.policy, e.kind, e.decision, e.proposal_id] for e in t.run_policies()])
    write_atomically(folder / f"done-{r}-{args['me']}", "done")
wait_for_file(folder / "finish")  # exiting early would look like a crash to the parent's waits
print(json.dumps({"rounds": rounds, "llm_calls": summariser.calls}))
"""
)


def test_two_processes_running_the_same_policies_execute_each_action_once(factory, tmp_path):
    rounds = 4
    t = factory.open(config=TractConfig(token_budget=BUDGET))  # opened before any policy: it runs none
    t.system("You are a support agent.")
    args = {"location": factory.location, "folder": str(tmp_path), "rounds": rounds}
    children = [ChildProcess(RUNNER, {**args, "me": me}, tmp_path, f"runner-{me}") for me in (0, 1)]
    try:
        wait_for_files([tmp_path / "ready-0", tmp_path / "ready-1"], children)
        for r in range(rounds):
            n = 0
            while t.status().token_count < 0.8 * BUDGET:
                t.user(filler(100 * r + n))
                n += 1
            t.user(f"{MUST} (round {r})")
            (tmp_path / f"go-{r}").write_text("go")
            wait_for_files([tmp_path / f"done-{r}-0", tmp_path / f"done-{r}-1"], children)
            assert t.status().token_count < 0.8 * BUDGET, f"round {r}: nobody compressed"
        (tmp_path / "finish").write_text("finish")
        results = run_children(children)
    finally:
        for child in children:
            child.kill()

    entries = [entry for result in results for round_ in result["rounds"] for entry in round_]
    executed = [(proposal_id, kind) for _, kind, decision, proposal_id in entries if decision == "executed"]
    assert not [pid for pid, n in Counter(pid for pid, _ in executed).items() if n > 1], "executed twice"
    assert Counter(kind for _, kind in executed) == {"compress": rounds, "annotate": rounds}
    # a pin whose message a compression in the other process replayed meanwhile is stale, and made again
    assert {decision for _, kind, decision, _ in entries if decision != "executed"} <= {"stale"}
    assert sum(r["llm_calls"] for r in results) == rounds  # one summary per situation, not two
    assert len(t.compressions()) == rounds
    assert Counter(p.status for p in t.proposals()) == Counter(decision for *_, decision, _ in entries)

    compiled = contents(t)
    assert [c for c in compiled if c.startswith(MUST)] == [f"{MUST} (round {r})" for r in range(rounds)]
    for commit in t.log(None):  # every "must never" message is pinned, once
        if str(commit.content).startswith(MUST):
            assert [a.priority.value for a in t.show(commit).annotations] == ["pinned"], commit.content
    assert t.verify() > 0


# -- two processes approving one proposal -------------------------------------------------------

APPROVER = (
    WAIT_FOR_FILE
    + """
import json, sys
from pathlib import Path
from tract_core import ProposalDecidedError, Tract

args = json.loads(sys.argv[1])
folder = Path(args["folder"])
t = Tract.open(**args["location"])
write_atomically(folder / f"ready-{args['me']}", "ready")
wait_for_file(folder / "go")
outcomes = {}
for proposal_id in args["ids"]:
    try:
        outcomes[proposal_id] = t.approve_proposal(proposal_id, decided_by=f"child-{args['me']}").status
    except ProposalDecidedError as error:
        outcomes[proposal_id] = f"decided: {error}"
print(json.dumps(outcomes))
"""
)


def test_two_processes_approving_the_same_proposal_one_wins_the_other_is_told(factory, tmp_path):
    t = factory.open()
    t.configure_policies([PinPolicy(patterns=["must never"])], autonomy="manual")
    musts = [t.user(f"{MUST} ({k})") for k in range(6)]
    ids = [p.id for p in t.pending_proposals()]
    assert len(ids) == 6
    args = {"location": factory.location, "folder": str(tmp_path), "ids": ids}
    children = [ChildProcess(APPROVER, {**args, "me": me}, tmp_path, f"approver-{me}") for me in (0, 1)]
    try:
        wait_for_files([tmp_path / "ready-0", tmp_path / "ready-1"], children)
        (tmp_path / "go").write_text("go")
        results = run_children(children)
    finally:
        for child in children:
            child.kill()

    for proposal_id, must in zip(ids, musts, strict=True):
        outcomes = sorted(result[str(proposal_id)] for result in results)
        assert outcomes[1] == "executed", outcomes
        assert outcomes[0].startswith(f"decided: proposal {proposal_id} ")
        assert (
            ("already executed" in outcomes[0])
            or ("decided meanwhile" in outcomes[0])
            or ("already approved" in outcomes[0])
        )
        stored = t.proposals()[ids.index(proposal_id)]
        winner = next(me for me, result in enumerate(results) if result[str(proposal_id)] == "executed")
        assert (stored.status, stored.decided_by) == ("executed", f"child-{winner}")
        assert [a.priority.value for a in t.show(must).annotations] == ["pinned"]
    assert Counter(e.decision for e in t.policy_log(None)) == {"proposed": 6, "approved": 6, "executed": 6}
