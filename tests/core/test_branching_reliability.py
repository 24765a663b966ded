"""Reliability of branches, merges, cherry-picks, rebases and resets.

- Two processes merging different branches into ``main`` from plans made on the same commit: one
  merge lands, the other gets :class:`~tract_core.ConcurrentUpdateError` and writes nothing; the
  loser's branch is intact and can be merged afterwards. On a SQLite file and on PostgreSQL.
- Two processes creating the same branch names at once: each name is created by exactly one of
  them, the other gets :class:`~tract_core.errors.BranchExistsError`.
- Bad input to every branch operation raises a clear :class:`~tract_core.TractError` subclass and
  leaves the store exactly as it was (``store_snapshot`` equal before and after), on every backend.

Child processes signal readiness by writing files, so both act at a known point, and every wait
has a deadline with the child's stderr in the failure message.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tract_core import (
    EDIT,
    SKIP,
    BranchNotFoundError,
    CommitNotFoundError,
    ConcurrentUpdateError,
    EditTargetError,
    InvalidInputError,
    Tract,
    TractError,
)
from tract_core.errors import BranchExistsError, RebaseSafetyError
from tract_core.testing import store_snapshot
from tract_core.testing.processes import WAIT_FOR_FILE, ChildProcess, wait_for_files

# -- child processes ------------------------------------------------------------------------------

MERGER = (
    """
import json, sys, time
from pathlib import Path
from tract_core import ConcurrentUpdateError, Tract
"""
    + WAIT_FOR_FILE
    + """
args = json.loads(sys.argv[1])
t = Tract.open(tract_id=args["tract_id"], **args["location"])
pending = t.merge(args["branch"], auto_commit=False)
plan = json.dumps({"kind": pending.kind, "ours": pending.ours, "theirs": pending.theirs})
write_atomically(args["ready"], plan)  # the parent never reads a half-written file
wait_for_file(args["go"])
try:
    result = pending.commit()
except ConcurrentUpdateError as exc:
    print(json.dumps({"outcome": "refused", "error": str(exc)}))
else:
    print(json.dumps({"outcome": "merged", "kind": result.kind, "head": result.head, "merge": result.merge_commit}))
"""
)

BRANCHER = (
    """
import json, sys, time
from pathlib import Path
from tract_core import Tract
from tract_core.errors import BranchExistsError
"""
    + WAIT_FOR_FILE
    + """
args = json.loads(sys.argv[1])
folder = Path(args["folder"])
t = Tract.open(tract_id=args["tract_id"], **args["location"])
outcome = {}
for i, name in enumerate(args["names"]):
    # A barrier per name: both processes try to create it at the same moment.
    (folder / f"at-{i}-{args['worker']}").write_text("ready")
    for peer in args["peers"]:
        wait_for_file(folder / f"at-{i}-{peer}")
    try:
        info = t.branch(name, args["start"])
    except BranchExistsError as exc:
        outcome[name] = ["exists", str(exc)]
    else:
        outcome[name] = ["created", info.commit]
print(json.dumps(outcome))
"""
)


def reachable(t: Tract, start: str = "HEAD") -> set[str]:
    return {c.hash for c in t.log(limit=None, start=start)}


def contents(t: Tract, **kwargs: Any) -> list[Any]:
    return [m["content"] for m in t.compile(**kwargs).messages]


# -- two processes merging into main at once ------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["merge", "fast-forward"])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_processes_merging_into_main_one_wins_nothing_lost(factory, tmp_path, kind):
    t = factory.open(tract_id="race")
    t.system("Be brief.")
    question = t.user("How do I return shoes?")
    for name in ("left", "right"):
        t.branch(name, switch=True)
        t.assistant(f"{name}: within 30 days.")
        t.annotate(question, "pinned")
        t.user(f"{name}: and sandals?")
        t.switch("main")
    if kind == "merge":
        t.assistant("main: ask the shop.")
    main_before = t.head
    branches_before = {b.name: b.commit for b in t.list_branches()}
    compiled = {name: t.compile(at_commit=name).digest for name in ("left", "right")}
    lines = {name: reachable(t, name) for name in ("left", "right")}
    with t.store.read() as s:
        commits_before = set(s.commits.all("race"))

    go = tmp_path / "go"
    readies = {name: tmp_path / f"ready-{name}" for name in ("left", "right")}
    children = {
        name: ChildProcess(
            MERGER,
            {
                "location": factory.location,
                "tract_id": "race",
                "branch": name,
                "ready": str(readies[name]),
                "go": str(go),
            },
            tmp_path,
            f"merge-{name}",
        )
        for name in ("left", "right")
    }
    try:
        wait_for_files(list(readies.values()), list(children.values()))
        for name, ready in readies.items():  # both planned on the same main commit
            plan = json.loads(ready.read_text())
            assert plan == {"kind": kind, "ours": main_before, "theirs": branches_before[name]}
        go.write_text("go")
        outcomes = {name: child.result() for name, child in children.items()}
    finally:
        for child in children.values():
            child.kill()

    winners = [name for name, o in outcomes.items() if o["outcome"] == "merged"]
    losers = [name for name, o in outcomes.items() if o["outcome"] == "refused"]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    winner, loser = winners[0], losers[0]
    won = outcomes[winner]
    assert won["kind"] == kind
    assert "moved since this merge was planned" in outcomes[loser]["error"]

    # main holds exactly the winner's merge.
    fresh = factory.open(tract_id="race")
    assert fresh.head == won["head"]
    with fresh.store.read() as s:
        commits_after = set(s.commits.all("race"))
    if kind == "merge":
        assert fresh.show(won["head"]).parents == (main_before, branches_before[winner])
        assert commits_after == commits_before | {won["head"]}, "the refused merge wrote commits"
    else:
        assert won["head"] == branches_before[winner]
        assert commits_after == commits_before
    main_line = reachable(fresh, "main")
    assert lines[winner] <= main_line
    assert not (lines[loser] - lines[winner]) & main_line, "the loser's own commits reached main"
    expected = contents(fresh, at_commit=winner)
    if kind == "merge":
        expected = [*contents(fresh, at_commit=main_before), f"{winner}: within 30 days.", f"{winner}: and sandals?"]
    assert contents(fresh) == expected

    # The loser's branch is intact, and nothing moved but main.
    after = {b.name: b.commit for b in fresh.list_branches()}
    assert after == {**branches_before, "main": won["head"]}
    assert {name: fresh.compile(at_commit=name).digest for name in ("left", "right")} == compiled
    main_moves = [e for e in fresh.reflog(ref="main") if e.old == main_before]
    assert [(e.old, e.new) for e in main_moves] == [(main_before, won["head"])]
    assert fresh.verify() > 0

    # Nothing is lost: the loser merges fine on a fresh plan.
    again = fresh.merge(loser)
    assert again.kind == "merge"
    assert lines[loser] <= reachable(fresh) and lines[winner] <= reachable(fresh)
    for name in ("left", "right"):
        assert f"{name}: and sandals?" in contents(fresh)
    assert fresh.verify() > 0


# -- two processes creating the same branches at once ----------------------------------------------

RACED_NAMES = [f"race/{i}" for i in range(25)]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_processes_creating_the_same_branch_one_gets_branch_exists(factory, tmp_path):
    t = factory.open(tract_id="names")
    starts = {"a": t.user("first").hash, "b": t.user("second").hash}
    children = {
        w: ChildProcess(
            BRANCHER,
            {
                "location": factory.location,
                "tract_id": "names",
                "names": RACED_NAMES,
                "start": starts[w],
                "worker": w,
                "peers": sorted(starts),
                "folder": str(tmp_path),
            },
            tmp_path,
            f"brancher-{w}",
        )
        for w in starts
    }
    try:
        outcomes = {w: child.result() for w, child in children.items()}
    finally:
        for child in children.values():
            child.kill()

    fresh = factory.open(tract_id="names")
    branches = {b.name: b.commit for b in fresh.list_branches()}
    assert set(branches) == {"main", *RACED_NAMES}
    for name in RACED_NAMES:
        results = {w: outcomes[w][name] for w in starts}
        created = [w for w, (what, _) in results.items() if what == "created"]
        assert len(created) == 1, f"{name}: {results}"
        (winner,) = created
        (loser,) = set(starts) - {winner}
        assert results[winner][1] == starts[winner] == branches[name]
        assert results[loser][0] == "exists" and "already exists" in results[loser][1]
        assert [(e.old, e.new) for e in fresh.reflog(ref=name)] == [(None, starts[winner])]
    assert branches["main"] == starts["b"] == fresh.head
    assert fresh.verify() > 0


# -- bad input raises a TractError and changes nothing --------------------------------------------


def rejected(t: Tract, call: Any, error: type[TractError], match: str) -> TractError:
    """Run ``call``, expect ``error`` with a message matching ``match``, and check nothing changed."""
    before, head, digest = store_snapshot(t), t.head, t.compile().digest
    with pytest.raises(error, match=match) as caught:
        call()
    assert isinstance(caught.value, TractError)
    assert store_snapshot(t) == before, f"{caught.value!r} left the store changed"
    assert t.head == head
    assert t.compile().digest == digest
    cold = Tract.open(store=t.store, tract_id=t.tract_id)
    try:
        assert cold.compile().digest == digest
    finally:
        cold.close()
    return caught.value


def forked(t: Tract) -> dict[str, Any]:
    """main and ``feature`` diverged from a shared question; HEAD on main."""
    made = {"system": t.system("Be brief."), "question": t.user("How do I return shoes?")}
    t.branch("feature", switch=True)
    made["answer"] = t.assistant("Within 60 days.")
    made["edit"] = t.commit("Within 30 days.", operation=EDIT, response_to=made["answer"])
    t.switch("main")
    made["main"] = t.assistant("Ask the shop.")
    return made


def test_merging_an_unknown_branch(factory):
    t = factory.open()
    forked(t)
    rejected(t, lambda: t.merge("nope"), BranchNotFoundError, "neither a branch nor a commit")
    rejected(t, lambda: t.merge("nope", auto_commit=False), BranchNotFoundError, "feature")
    rejected(t, lambda: t.merge("abcd" * 16), CommitNotFoundError, "no commit")


def test_merging_with_an_unknown_strategy(factory):
    t = factory.open()
    forked(t)
    for strategy in ("recursive", "", "FF-ONLY", None):
        rejected(
            t,
            lambda strategy=strategy: t.merge("feature", strategy=strategy),
            InvalidInputError,
            "unknown merge strategy",
        )
    rejected(t, lambda: t.merge("feature", strategy="ff-only"), InvalidInputError, "cannot fast-forward")


def test_committing_a_pending_merge_after_main_moved(factory):
    t = factory.open()
    forked(t)
    pending = t.merge("feature", auto_commit=False)
    t.user("meanwhile")
    rejected(t, pending.commit, ConcurrentUpdateError, "moved since this merge was planned")
    assert t.merge("feature").kind == "merge"


def test_rebasing_onto_a_descendant(factory):
    t = factory.open()
    made = forked(t)
    t.branch("early", made["answer"], switch=True)
    rejected(t, lambda: t.rebase("feature"), InvalidInputError, "descendant")
    t.checkout(made["question"])  # detached, behind both lines
    rejected(t, lambda: t.rebase("main"), InvalidInputError, "descendant")
    rejected(t, lambda: t.rebase(made["edit"]), InvalidInputError, "descendant")


def test_deleting_the_current_or_an_unknown_branch(factory):
    t = factory.open()
    forked(t)
    rejected(t, lambda: t.delete_branch("main"), InvalidInputError, "current branch")
    rejected(t, lambda: t.delete_branch("main", force=True), InvalidInputError, "current branch")
    rejected(t, lambda: t.delete_branch("nope"), BranchNotFoundError, "no branch 'nope'")
    rejected(t, lambda: t.delete_branch("nope", force=True), BranchNotFoundError, "no branch 'nope'")
    rejected(t, lambda: t.delete_branch("feature"), InvalidInputError, "no other branch reaches")
    rejected(t, lambda: t.switch("nope"), BranchNotFoundError, "no branch 'nope'")


def test_resetting_to_a_commit_of_another_tract(factory):
    t = factory.open(tract_id="mine")
    forked(t)
    other = factory.open(tract_id="theirs")
    foreign = other.user("a message of another tract").hash
    other_before = store_snapshot(other)
    for ref in (foreign, foreign[:16]):
        for mode in ("soft", "hard"):
            rejected(t, lambda ref=ref, mode=mode: t.reset(ref, mode=mode), CommitNotFoundError, "no commit")
    rejected(t, lambda: t.branch("x", foreign), CommitNotFoundError, "no commit")
    rejected(t, lambda: t.cherry_pick(foreign), CommitNotFoundError, "no commit")
    rejected(t, lambda: t.merge(foreign), CommitNotFoundError, "no commit")
    assert store_snapshot(other) == other_before


def test_reset_with_an_unknown_mode(factory):
    t = factory.open()
    forked(t)
    for mode in ("mixed", "HARD", "", None):
        rejected(t, lambda mode=mode: t.reset("HEAD~1", mode=mode), InvalidInputError, "reset mode")


def test_creating_a_branch_with_an_invalid_or_existing_name(factory):
    t = factory.open()
    made = forked(t)
    for name in ("", "HEAD", "a..b", "-x", "has space", "ends.", "ends/", "a//b", "é", "a" * 201, "ab" * 20, None, 7):
        rejected(t, lambda name=name: t.branch(name), InvalidInputError, "not a valid branch name")
    for name in ("main", "feature"):
        error = rejected(t, lambda name=name: t.branch(name, made["question"]), BranchExistsError, "already exists")
        assert isinstance(error, InvalidInputError)
        rejected(t, lambda name=name: t.branch(name, switch=True), BranchExistsError, "already exists")


def test_cherry_picking_a_merge_commit(factory):
    t = factory.open()
    forked(t)
    merged = t.merge("feature")
    assert merged.kind == "merge"
    t.branch("other", "HEAD~1", switch=True)
    rejected(t, lambda: t.cherry_pick(merged.merge_commit), InvalidInputError, "merge commit")
    rejected(t, lambda: t.cherry_pick(merged.merge_commit, strict=True), InvalidInputError, "merge commit")


def test_strict_replays_of_a_dangling_edit(factory):
    t = factory.open()
    made = forked(t)
    t.branch("side", made["question"], switch=True)
    # Cherry-picked without its target, the EDIT dangles (a warning, not an error, without strict).
    picked = t.cherry_pick(made["edit"])
    assert len(picked.warnings) == 1 and made["answer"].hash[:12] in picked.warnings[0]
    assert contents(t) == ["Be brief.", "How do I return shoes?"]
    refused = rejected(t, lambda: t.rebase("main", strict=True), RebaseSafetyError, "rebase refused")
    assert len(refused.warnings) == 1 and made["answer"].hash[:12] in refused.warnings[0]
    t.switch("main")
    error = rejected(t, lambda: t.cherry_pick(made["edit"], strict=True), RebaseSafetyError, "cherry-pick refused")
    assert error.warnings == list(picked.warnings)
    t.switch("side")
    rebased = t.rebase("main")  # without strict: done, with the same warning
    assert rebased.warnings == tuple(refused.warnings)
    assert contents(t) == ["Be brief.", "How do I return shoes?", "Ask the shop."]


def test_annotations_and_edits_of_other_branches_are_refused(factory):
    t = factory.open()
    made = forked(t)
    rejected(t, lambda: t.annotate(made["answer"], SKIP), CommitNotFoundError, "HEAD can reach")
    rejected(t, lambda: t.commit("x", operation=EDIT, response_to=made["answer"]), EditTargetError, "current history")
