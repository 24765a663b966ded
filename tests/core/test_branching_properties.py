"""Property tests for branches, merges, cherry-picks and rebases, against a naive sequential model.

Hypothesis draws three linear lines of operations (appends of user/assistant messages, EDITs and
annotations): a shared *base* on ``main``, then ``main``'s own line and the ``feature`` branch's own
line, both forked from the base's tip. ``main`` may edit and annotate any message it can see
(shared ones included); ``feature`` edits and annotates only its own messages, so merging it never
conflicts. Each line's first operation is an append, so every annotation is anchored on a commit of
the line that made it. :class:`Line` replays the operations on plain dicts: compile of a linear
history is "apply every operation in order, drop SKIP".

Checked on every backend of the ``factory`` fixture:

- ``rebase("main")`` from ``feature`` gives main's context followed by the feature's own messages
  (edits applied, SKIP honoured), its mapping covers exactly the feature's own commits in order,
  and the copies keep each commit's role, content, operation and order;
- cherry-picking a subset of the feature's commits onto main appends exactly the picked messages
  (as they were committed, with the priority they had there), in order;
- a fast-forward merge makes main equal to the branch (same head, same digest);
- a merge commit compiles to ours, then theirs since the merge base;
- merging a branch a second time changes nothing, for fast-forwards and merge commits alike;
- deleting a merged branch leaves everything it reached reachable from HEAD, and ``verify()`` passes;
- the same operations replayed into a fresh database of the same backend, and into memory, give
  identical commit hashes for merges, cherry-picks and rebases, and identical compiles.

Hand-written cases at the end pin down how annotations of shared messages travel through rebases
and merges.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tract_core import EDIT, NORMAL, PINNED, SKIP, Operation, Priority, Tract
from tract_core.testing import store_snapshot

ROLES = ("user", "assistant")
TEXTS = ("hi", "ok", "30 days", "How do I return shoes?", "héllo ✓ 日本", "")
PRIORITIES = (SKIP, NORMAL, PINNED, SKIP)  # SKIP twice: it is the one that changes what compile shows

_pick = st.integers(min_value=0, max_value=10**6)
_append = st.tuples(st.just("append"), st.sampled_from(ROLES), st.sampled_from(TEXTS))
_operation = st.one_of(
    _append,
    _append,
    st.tuples(st.just("edit"), _pick, st.sampled_from(TEXTS)),
    st.tuples(st.just("annotate"), _pick, st.sampled_from(PRIORITIES)),
)


def line(max_size: int) -> st.SearchStrategy[list[tuple]]:
    """A line of operations that starts with an append (so annotations anchor on the line's own commits)."""
    return st.builds(lambda first, rest: [first, *rest], _append, st.lists(_operation, max_size=max_size - 1))


diverged = st.tuples(line(6), line(6), line(8))
"""(base, main, feature): main and feature both have commits of their own."""
ahead = st.tuples(line(6), st.just([]), line(8))
"""(base, no main commits, feature): merging feature into main fast-forwards."""
picks = st.integers(min_value=0, max_value=2**12 - 1)
"""A bit mask choosing which of the feature's commits to cherry-pick."""

EXAMPLES = {"memory": 40, "sqlite": 15, "postgres": 10}


def _settings(factory: Any, scale: float = 1.0) -> settings:
    return settings(
        max_examples=max(3, int(EXAMPLES[factory.backend] * scale)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


# -- the naive reference model -------------------------------------------------------------------


@dataclass(frozen=True)
class Msg:
    """A message as compile should show it."""

    role: str
    content: str
    priority: Priority = NORMAL


@dataclass
class Line:
    """One linear line of commits, replayed on plain dicts."""

    slots: dict[str, Msg] = field(default_factory=dict)
    """Message key (its APPEND commit) -> current state, in history order."""
    own: list[str] = field(default_factory=list)
    """Messages appended on this line (not inherited)."""
    commits: list[str] = field(default_factory=list)
    """Commits made on this line, in order."""
    edits: dict[str, str] = field(default_factory=dict)
    """EDIT commit -> the message it replaces."""
    at: dict[str, dict[str, Msg]] = field(default_factory=dict)
    """Commit -> the slots as they are when HEAD is on that commit."""
    tip: str | None = None

    def fork(self) -> Line:
        return Line(slots=dict(self.slots), tip=self.tip)


def expected(slots: dict[str, Msg], rename: dict[str, str] | None = None) -> tuple[list[dict], list[str]]:
    """Messages and commit hashes compile must return for ``slots`` (SKIP dropped)."""
    rename = rename or {}
    kept = [(key, msg) for key, msg in slots.items() if msg.priority is not SKIP]
    return [{"role": m.role, "content": m.content} for _, m in kept], [rename.get(k, k) for k, _ in kept]


def assert_compiles_to(ctx: Any, slots: dict[str, Msg], rename: dict[str, str] | None = None) -> None:
    messages, keys = expected(slots, rename)
    assert ctx.messages == messages
    assert list(ctx.commit_hashes) == keys


class Builder:
    """Applies lines of operations to a tract and to :class:`Line` models."""

    def __init__(self, t: Tract) -> None:
        self.t = t
        self.count = itertools.count()

    def run(self, line: Line, ops: list[tuple], tag: str, *, own_only: bool) -> None:
        t = self.t
        for op in ops:
            n = next(self.count)
            targets = line.own if own_only else list(line.slots)
            if op[0] == "append":
                _, role, text = op
                content = f"{tag}{n} {text}"  # unique: no two lines ever make the same commit
                info = t.commit(content, role=role)
                line.slots[info.hash] = Msg(role, content)
                line.own.append(info.hash)
                line.commits.append(info.hash)
            elif op[0] == "edit":
                if not targets:
                    continue
                target = targets[op[1] % len(targets)]
                content = f"{tag}{n} edit {op[2]}"
                info = t.commit(content, operation=EDIT, response_to=target)
                assert info.response_to == target
                line.slots[target] = replace(line.slots[target], content=content)
                line.edits[info.hash] = target
                line.commits.append(info.hash)
            else:
                if not targets:
                    continue
                target = targets[op[1] % len(targets)]
                t.annotate(target, op[2])
                line.slots[target] = replace(line.slots[target], priority=op[2])
            line.tip = t.head
            line.at[line.tip] = dict(line.slots)


@dataclass
class World:
    base: Line
    main: Line
    feature: Line
    builder: Builder


def build(t: Tract, scenario: tuple[list, list, list]) -> World:
    """Base on main, branch ``feature`` at its tip, main's own line, then feature's (HEAD ends on feature)."""
    base_ops, main_ops, feature_ops = scenario
    builder = Builder(t)
    base = Line()
    builder.run(base, base_ops, "b", own_only=False)
    t.branch("feature")
    main = base.fork()
    builder.run(main, main_ops, "m", own_only=False)
    t.switch("feature")
    feature = base.fork()
    builder.run(feature, feature_ops, "f", own_only=True)
    assert_compiles_to(t.compile(), feature.slots)
    assert_compiles_to(t.compile(at_commit="main"), main.slots)
    return World(base, main, feature, builder)


def ours_then_theirs(world: World) -> dict[str, Msg]:
    """Main's messages, then the feature's own ones (as the feature's tip shows them)."""
    slots = dict(world.main.slots)
    for key in world.feature.own:
        slots[key] = world.feature.slots[key]
    return slots


def reachable(t: Tract, start: str = "HEAD") -> set[str]:
    return {c.hash for c in t.log(limit=None, start=start)}


def _tract_ids(prefix: str) -> Any:
    counter = itertools.count()
    return lambda: f"{prefix}-{next(counter)}"


# -- rebase and cherry-pick ----------------------------------------------------------------------


def test_rebase_puts_the_branch_s_own_messages_after_main(factory):
    new_id = _tract_ids("rebase")

    @_settings(factory)
    @given(scenario=diverged)
    def run(scenario: tuple) -> None:
        t = factory.open(tract_id=new_id())
        try:
            world = build(t, scenario)
            feature, main_tip = world.feature, world.main.tip
            originals = {h: t.show(h) for h in feature.commits}
            result = t.rebase("main")

            assert list(result.mapping) == feature.commits, "the mapping must cover exactly the branch's own commits"
            assert result.warnings == ()
            assert result.head == t.head == result.replayed[-1]
            assert t.status().branch == "feature"
            assert {b.name: b.commit for b in t.list_branches()}["main"] == main_tip, "rebase moved main"
            parent = main_tip
            for old, new in result.mapping.items():
                copy, original = t.show(new), originals[old]
                assert copy.parents == (parent,)
                assert (copy.role, copy.content, copy.operation) == (
                    original.role,
                    original.content,
                    original.operation,
                )
                if copy.operation is Operation.EDIT:
                    assert copy.response_to == result.mapping[original.response_to]
                parent = new

            slots = ours_then_theirs(world)
            assert_compiles_to(t.compile(), slots, result.mapping)
            assert t.verify() > 0
        finally:
            t.close()

    run()


def test_cherry_picks_append_exactly_the_picked_messages_in_order(factory):
    new_id = _tract_ids("pick")

    @_settings(factory)
    @given(scenario=diverged, mask=picks)
    def run(scenario: tuple, mask: int) -> None:
        t = factory.open(tract_id=new_id())
        try:
            world = build(t, scenario)
            feature = world.feature
            chosen = [h for i, h in enumerate(feature.commits) if mask >> i & 1]
            t.switch("main")
            slots = dict(world.main.slots)
            rename: dict[str, str] = {}
            for h in chosen:
                before = t.head
                result = t.cherry_pick(h)
                assert list(result.mapping) == [h]
                assert result.head == t.head == result.mapping[h]
                copy = t.show(result.head)
                assert copy.parents == (before,)
                if h in feature.edits:
                    # The EDIT's target is one of the feature's own messages: never in main's history.
                    target = feature.edits[h]
                    assert len(result.warnings) == 1 and target[:12] in result.warnings[0]
                    assert copy.operation is Operation.EDIT and copy.response_to == target
                else:
                    assert result.warnings == ()
                    committed = feature.at[h][h]  # the message as committed, with its priority there
                    assert (copy.role, copy.content, copy.operation) == (
                        committed.role,
                        committed.content,
                        Operation.APPEND,
                    )
                    slots[h] = committed
                    rename[h] = result.head
            assert_compiles_to(t.compile(), slots, rename)
            assert t.status().branch == "main"
            assert_compiles_to(t.compile(at_commit="feature"), feature.slots)
            assert t.verify() > 0
        finally:
            t.close()

    run()


# -- merges --------------------------------------------------------------------------------------


def _merge_again_changes_nothing(t: Tract) -> None:
    head, digest, snapshot = t.head, t.compile().digest, store_snapshot(t)
    again = t.merge("feature")
    assert again.kind == "up-to-date" and again.merge_commit is None
    assert again.head == t.head == head
    assert t.compile().digest == digest
    assert store_snapshot(t) == snapshot


def _delete_loses_nothing(t: Tract) -> None:
    before = reachable(t, "feature")
    deleted = t.delete_branch("feature")
    assert deleted.name == "feature"
    assert [b.name for b in t.list_branches()] == ["main"]
    assert before <= reachable(t), "deleting a merged branch made commits unreachable"
    assert t.verify() >= len(before)


def test_fast_forward_merge_equals_the_branch(factory):
    new_id = _tract_ids("ff")

    @_settings(factory)
    @given(scenario=ahead)
    def run(scenario: tuple) -> None:
        t = factory.open(tract_id=new_id())
        try:
            world = build(t, scenario)
            branch_head, branch_digest = t.head, t.compile().digest
            t.switch("main")
            result = t.merge("feature")
            assert result.kind == "fast-forward" and result.merge_commit is None
            assert result.head == t.head == branch_head
            assert t.compile().digest == branch_digest
            assert_compiles_to(t.compile(), world.feature.slots)
            assert {b.name: b.commit for b in t.list_branches()} == {"feature": branch_head, "main": branch_head}
            _merge_again_changes_nothing(t)
            _delete_loses_nothing(t)
            assert t.head == branch_head and t.compile().digest == branch_digest
        finally:
            t.close()

    run()


def test_merge_commit_is_ours_then_theirs_since_the_merge_base(factory):
    new_id = _tract_ids("merge")

    @_settings(factory)
    @given(scenario=diverged, strategy=st.sampled_from(("auto", "no-ff")))
    def run(scenario: tuple, strategy: str) -> None:
        t = factory.open(tract_id=new_id())
        try:
            world = build(t, scenario)
            feature_tip, main_tip = world.feature.tip, world.main.tip
            feature_digest = t.compile().digest
            t.switch("main")
            result = t.merge("feature", strategy=strategy)
            assert result.kind == "merge" and result.resolved == ()
            assert result.base == world.base.tip
            assert result.head == t.head == result.merge_commit  # no conflicts: no resolution commits
            merge = t.show(result.merge_commit)
            assert merge.parents == (main_tip, feature_tip)
            assert merge.content is None and merge.role is None

            slots = ours_then_theirs(world)
            assert_compiles_to(t.compile(), slots)
            # Both sides are untouched.
            assert_compiles_to(t.compile(at_commit=main_tip), world.main.slots)
            assert t.compile(at_commit="feature").digest == feature_digest

            _merge_again_changes_nothing(t)
            _delete_loses_nothing(t)
            assert_compiles_to(t.compile(), slots)
        finally:
            t.close()

    run()


def test_no_ff_merge_of_a_branch_that_is_ahead(factory):
    """``no-ff`` writes a merge commit even when a fast-forward is possible; its compile is the branch's."""
    new_id = _tract_ids("noff")

    @_settings(factory, 0.5)
    @given(scenario=ahead)
    def run(scenario: tuple) -> None:
        t = factory.open(tract_id=new_id())
        try:
            world = build(t, scenario)
            digest = t.compile().digest
            t.switch("main")
            result = t.merge("feature", strategy="no-ff")
            assert result.kind == "merge"
            assert t.show(result.merge_commit).parents == (world.base.tip, world.feature.tip)
            assert t.compile().digest == digest
            assert_compiles_to(t.compile(), world.feature.slots)
            _merge_again_changes_nothing(t)
            _delete_loses_nothing(t)
        finally:
            t.close()

    run()


# -- determinism ---------------------------------------------------------------------------------


def script(t: Tract, scenario: tuple, mask: int) -> dict[str, Any]:
    """Build, cherry-pick, rebase and merge; return every id and digest the operations produced."""
    world = build(t, scenario)
    record: dict[str, Any] = {
        "base": world.base.commits,
        "main": world.main.commits,
        "feature": world.feature.commits,
    }
    t.switch("main")
    t.branch("picks", switch=True)
    record["picks"] = [
        (r.head, r.mapping, r.warnings)
        for r in (t.cherry_pick(h) for i, h in enumerate(world.feature.commits) if mask >> i & 1)
    ]
    t.branch("rebased", "feature", switch=True)
    rebased = t.rebase("main")
    record["rebase"] = (rebased.head, rebased.mapping, rebased.warnings)
    t.switch("main")
    merged = t.merge("feature")
    record["merge"] = (merged.kind, merged.head, merged.merge_commit, merged.base)
    t.branch("catch-up", world.main.tip, switch=True)
    forward = t.merge("rebased")
    record["fast-forward"] = (forward.kind, forward.head)
    t.switch("picks")
    merged_picks = t.merge("main", strategy="no-ff")
    record["merge picks"] = (merged_picks.kind, merged_picks.head, merged_picks.merge_commit)
    record["branches"] = [(b.name, b.commit, b.current) for b in t.list_branches()]
    record["logs"] = {b.name: [c.hash for c in t.log(limit=None, start=b.name)] for b in t.list_branches()}
    record["digests"] = {b.name: t.compile(at_commit=b.name).digest for b in t.list_branches()}
    return record


def test_branch_operations_replay_to_identical_ids_everywhere(factory):
    new_id = _tract_ids("replay")
    fresh = factory.fresh()

    @_settings(factory, 0.6)
    @given(scenario=diverged, mask=picks)
    def run(scenario: tuple, mask: int) -> None:
        tract_id = new_id()
        t = factory.open(tract_id=tract_id)
        try:
            record = script(t, scenario, mask)
            assert t.verify() > 0
        finally:
            t.close()
        for other in (fresh.open(tract_id=tract_id), Tract.open(tract_id=tract_id)):
            try:
                assert script(other, scenario, mask) == record
            finally:
                other.close()

    run()


# -- hand-written cases --------------------------------------------------------------------------


def test_rebase_keeps_main_s_annotation_of_a_shared_message(factory):
    """Main hid a message both lines share; rebasing the branch onto main must not bring it back.

    The branch never annotated that message, so rebase has no change of the branch's to carry over:
    the rebased context is main's context followed by the branch's own messages, as a merge gives.
    """
    t = factory.open()
    question = t.user("base question")
    t.assistant("base answer")
    t.branch("feature")
    t.user("main own")
    t.annotate(question, SKIP)
    assert [m["content"] for m in t.compile().messages] == ["base answer", "main own"]
    t.switch("feature")
    t.user("feature own")
    t.branch("to-merge")

    t.rebase("main")
    rebased = [m["content"] for m in t.compile().messages]

    t.switch("main")
    t.merge("to-merge")
    merged = [m["content"] for m in t.compile().messages]
    assert merged == ["base answer", "main own", "feature own"]
    assert rebased == merged


def test_rebase_carries_the_branch_s_own_annotation_of_a_shared_message(factory):
    """The other direction: a priority the branch itself gave a shared message travels with the rebase."""
    t = factory.open()
    question = t.user("base question")
    t.assistant("base answer")
    t.branch("feature", switch=True)
    t.user("feature own")
    t.annotate(question, SKIP)
    t.switch("main")
    t.user("main own")
    t.switch("feature")
    t.rebase("main")
    assert [m["content"] for m in t.compile().messages] == ["base answer", "main own", "feature own"]
    assert [m["content"] for m in t.compile(at_commit="main").messages] == [
        "base question",
        "base answer",
        "main own",
    ]


@pytest.mark.parametrize("strategy", ["auto", "no-ff"])
def test_merge_keeps_main_s_annotation_made_at_the_fork_point(factory, strategy):
    """Main hid a message while still on the commit the branch forked from; merging the branch keeps it hidden.

    The annotation is main's change (the branch, which already went on from that commit, rightly
    does not see it); a merge is "ours, then theirs since the merge base", so ours' SKIP must survive
    whether the merge fast-forwards or writes a merge commit.
    """
    t = factory.open()
    noisy = t.user("noisy tool output")
    t.assistant("answer")
    t.branch("feature", switch=True)
    t.user("feature question")
    t.switch("main")
    t.annotate(noisy, SKIP)
    assert [m["content"] for m in t.compile().messages] == ["answer"]
    assert [m["content"] for m in t.compile(at_commit="feature").messages] == [
        "noisy tool output",
        "answer",
        "feature question",
    ]
    t.merge("feature", strategy=strategy)
    assert [m["content"] for m in t.compile().messages] == ["answer", "feature question"]
    assert [m["content"] for m in t.compile(at_commit="feature").messages] == [
        "noisy tool output",
        "answer",
        "feature question",
    ]
