"""Contract: branching, merging and history surgery (scenarios 3.1–3.3, X.3, X.6)."""

from __future__ import annotations

from typing import Any

import pytest

from ...errors import (
    BranchExistsError,
    BranchNotFoundError,
    CommitNotFoundError,
    ConcurrentUpdateError,
    InvalidInputError,
    MergeConflict,
    RebaseSafetyError,
)
from ...merge import Conflict, LLMResolver, MergeResult, PendingMerge
from ...objects import EDIT, NORMAL, PINNED, SKIP
from ...tract import Tract
from ..factory import TractFactory
from ..llm import ScriptedLLM
from ..snapshot import store_snapshot

__all__ = ["BranchingContract"]


def _merged(result: MergeResult | PendingMerge) -> MergeResult:
    """The merge ``merge()`` carried out (``auto_commit=True``, the default)."""
    assert isinstance(result, MergeResult), f"expected a finished merge, not {result!r}"
    return result


def _planned(result: MergeResult | PendingMerge) -> PendingMerge:
    """The merge ``merge(auto_commit=False)`` planned."""
    assert isinstance(result, PendingMerge), f"expected a pending merge, not {result!r}"
    return result


def _message(message: Any) -> Any:
    """A message of a diff entry that must be there (not None)."""
    assert message is not None
    return message


def _contents(ctx: Any) -> list[Any]:
    return [m["content"] for m in ctx.messages]


def _tool_call(call_id: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": "search", "arguments": "{}"}}


class BranchingContract:
    """Branches, merges, cherry-picks, rebases, resets and config queries. Needs ``factory``."""

    # -- scenario 3.1: try two approaches, keep the winner --------------------------------------

    def test_scenario_3_1_two_drafts_diffed_winner_kept(self, factory: TractFactory) -> None:
        t = factory.open()
        t.system("You draft emails for the user.")
        t.user("Draft an email to my landlord about the broken heating.")
        shared = t.head
        t.branch("casual")
        formal = t.assistant("Dear Mr. Smith,\nI am writing to report that the heating has failed.")
        t.switch("casual")
        casual = t.assistant("Hi John! Heads up, the heating's out again.")
        assert t.status().branch == "casual"

        drafts = t.diff("main", "casual")
        assert [c.kind for c in drafts.changes] == ["changed"]
        change = drafts.changes[0]
        assert (change.hash_a, change.hash_b) == (formal.hash, casual.hash)
        assert "-Dear Mr. Smith," in change.unified and "+Hi John!" in change.unified

        # the user picks formal: main keeps it, and the experiment goes
        t.switch("main")
        with pytest.raises(InvalidInputError, match="no other branch reaches"):
            t.delete_branch("casual")
        t.delete_branch("casual", force=True)
        assert [b.name for b in t.list_branches()] == ["main"]
        assert _contents(t.compile())[-1].startswith("Dear Mr. Smith")
        assert t.show(casual.hash).content.startswith("Hi John")  # kept in the store, reachable by hash

        # a winner drafted on its own branch comes back by fast-forward
        t.branch("polish", switch=True)
        polished = t.user("Make it shorter.")
        t.switch("main")
        result = t.merge("polish")
        assert result.kind == "fast-forward" and t.head == polished.hash
        t.delete_branch("polish")  # everything it had is on main now
        assert t.log(limit=None)[-2].hash == shared

    def test_branch_switch_and_the_way_back_from_detached_head(self, factory: TractFactory) -> None:
        t = factory.open()
        first = t.user("one")
        t.assistant("two")
        info = t.branch("topic", from_=first, switch=True)
        assert info.current and info.commit == first.hash
        assert t.status().branch == "topic" and _contents(t.compile()) == ["one"]
        t.checkout(first)
        assert t.status().detached
        t.switch("main")
        assert _contents(t.compile()) == ["one", "two"]
        assert {b.name: b.current for b in t.list_branches()} == {"main": True, "topic": False}
        with pytest.raises(BranchExistsError):
            t.branch("topic")
        with pytest.raises(InvalidInputError, match="not a valid branch name"):
            t.branch("bad..name")
        with pytest.raises(BranchNotFoundError, match="checkout"):
            t.switch(first.hash)

    # -- merges ---------------------------------------------------------------------------------

    def test_merge_commit_is_ours_then_theirs_since_the_base(self, factory: TractFactory) -> None:
        t = factory.open()
        t.system("Plan the project.")
        t.branch("research")
        t.user("ours 1")
        t.assistant("ours 2")
        t.switch("research")
        t.user("theirs 1")
        t.assistant("theirs 2")
        t.switch("main")
        result = _merged(t.merge("research"))
        assert result.kind == "merge" and result.merge_commit == t.head
        merge = t.show("HEAD")
        assert len(merge.parents) == 2 and merge.content is None
        assert _contents(t.compile()) == ["Plan the project.", "ours 1", "ours 2", "theirs 1", "theirs 2"]
        assert t.merge("research").kind == "up-to-date"  # merging twice changes nothing
        assert t.head == result.head
        # the merge commit and its compile are deterministic
        again = factory.fresh().open()
        again.system("Plan the project.")
        again.branch("research")
        again.user("ours 1")
        again.assistant("ours 2")
        again.switch("research")
        again.user("theirs 1")
        again.assistant("theirs 2")
        again.switch("main")
        assert _merged(again.merge("research")).head == result.head
        assert again.compile().digest == t.compile().digest

    def test_fast_forward_merge_equals_the_branch(self, factory: TractFactory) -> None:
        t = factory.open()
        t.user("start")
        t.branch("feature", switch=True)
        t.assistant("feature work")
        tip = t.compile()
        t.switch("main")
        assert t.merge("feature", strategy="ff-only").kind == "fast-forward"
        assert t.compile().digest == tip.digest
        no_ff = factory.open("no-ff")
        no_ff.user("start")
        no_ff.branch("feature", switch=True)
        no_ff.assistant("feature work")
        no_ff.switch("main")
        result = no_ff.merge("feature", strategy="no-ff")
        assert result.kind == "merge" and no_ff.compile().digest == tip.digest

    def _diverged_edits(self, factory: TractFactory, tract_id: str = "default") -> tuple[Any, Any]:
        t = factory.open(tract_id)
        t.user("What is our refund window?")
        answer = t.assistant("Refunds within 14 days.")
        t.branch("legal")
        t.commit("Refunds within 30 days of delivery.", operation=EDIT, response_to=answer)
        t.switch("legal")
        t.commit("Refunds within 30 days, receipt required.", operation=EDIT, response_to=answer)
        t.switch("main")
        return t, answer

    def test_conflicting_edits_raise_and_change_nothing(self, factory: TractFactory) -> None:
        t, answer = self._diverged_edits(factory)
        before = store_snapshot(t)
        with pytest.raises(MergeConflict) as raised:
            t.merge("legal")
        (conflict,) = raised.value.conflicts
        assert conflict.kind == "edit" and conflict.target == answer.hash
        assert (conflict.base, conflict.ours, conflict.theirs) == (
            "Refunds within 14 days.",
            "Refunds within 30 days of delivery.",
            "Refunds within 30 days, receipt required.",
        )
        assert answer.hash[:12] in str(raised.value)
        assert store_snapshot(t) == before

    def test_conflicts_resolved_by_hand_by_callback_and_by_side(self, factory: TractFactory) -> None:
        merged = "Refunds within 30 days of delivery, receipt required."
        t, answer = self._diverged_edits(factory, "by-hand")
        result = t.merge("legal", resolutions={answer.hash[:10]: merged})
        assert _contents(t.compile())[-1] == merged
        assert [c.target for c, _ in result.resolved] == [answer.hash]

        t2, _ = self._diverged_edits(factory, "callback")
        seen = []

        def resolve(conflict: Conflict) -> str:
            seen.append(conflict.kind)
            return f"{conflict.ours} / {conflict.theirs}"

        t2.merge("legal", resolver=resolve)
        assert seen == ["edit"]
        assert _contents(t2.compile())[-1] == (
            "Refunds within 30 days of delivery. / Refunds within 30 days, receipt required."
        )

        t3, _ = self._diverged_edits(factory, "theirs")
        t3.merge("legal", strategy="theirs")
        assert _contents(t3.compile())[-1] == "Refunds within 30 days, receipt required."

    def test_llm_resolver_writes_the_merged_message(self, factory: TractFactory) -> None:
        t, answer = self._diverged_edits(factory)
        llm = ScriptedLLM(["Refunds within 30 days of delivery; keep the receipt."])
        t.merge("legal", resolver=LLMResolver(llm))
        assert _contents(t.compile())[-1] == "Refunds within 30 days of delivery; keep the receipt."
        prompt = llm.prompts[0][-1]["content"]
        assert "Refunds within 14 days." in prompt and "receipt required" in prompt and "of delivery" in prompt
        assert t.show(answer).content == "Refunds within 14 days."  # the original stays

    def test_conflicting_annotations(self, factory: TractFactory) -> None:
        t = factory.open()
        note = t.user("Customer mentioned a lawsuit.")
        t.assistant("Noted.")
        t.branch("triage")
        t.user("main goes on")
        t.annotate(note, SKIP, reason="not relevant to the refund")
        t.switch("triage")
        t.user("triage goes on")
        t.annotate(note, PINNED, reason="legal hold")
        t.switch("main")
        with pytest.raises(MergeConflict) as raised:
            t.merge("triage")
        (conflict,) = raised.value.conflicts
        assert (conflict.kind, conflict.ours, conflict.theirs, conflict.base) == ("annotation", SKIP, PINNED, NORMAL)
        t.merge("triage", resolver=LLMResolver(ScriptedLLM([])))  # no model call: the safer priority wins
        assert "Customer mentioned a lawsuit." in _contents(t.compile())
        assert t.show(note).annotations[-1].priority is PINNED

    def test_an_annotation_at_a_shared_commit_is_shared(self, factory: TractFactory) -> None:
        t = factory.open()
        note = t.user("aside")
        t.branch("other")  # both branches point at the same commit
        t.annotate(note, SKIP)  # anchored at that shared point in history
        t.user("main goes on")
        t.switch("other")
        t.user("other goes on")
        assert "aside" not in _contents(t.compile())
        t.switch("main")
        t.annotate(note, NORMAL)  # made after the lines diverged: this line only
        t.switch("other")
        assert "aside" not in _contents(t.compile())

    def test_one_sided_changes_merge_cleanly(self, factory: TractFactory) -> None:
        t = factory.open()
        note = t.user("scratch note")
        answer = t.assistant("draft")
        t.branch("edits")
        t.annotate(note, SKIP)
        t.user("main continues")
        t.switch("edits")
        t.commit("final", operation=EDIT, response_to=answer)
        t.switch("main")
        t.merge("edits")
        assert _contents(t.compile()) == ["final", "main continues"]

    def test_pending_merge_is_reviewed_then_committed(self, factory: TractFactory) -> None:
        t, answer = self._diverged_edits(factory)
        head = t.head
        pending = t.merge("legal", auto_commit=False)
        assert isinstance(pending, PendingMerge) and len(pending.unresolved) == 1
        assert t.head == head
        with pytest.raises(MergeConflict):
            pending.commit()
        pending.resolve(answer, "Refunds within 30 days.")
        assert pending.commit().kind == "merge"
        assert _contents(t.compile())[-1] == "Refunds within 30 days."

    def test_a_stale_pending_merge_is_refused(self, factory: TractFactory) -> None:
        t = factory.open()
        t.user("base")
        t.branch("a")
        t.branch("b")
        t.switch("a")
        t.assistant("from a")
        t.switch("b")
        t.assistant("from b")
        t.switch("main")
        t.user("main work")
        first = _planned(t.merge("a", auto_commit=False))
        second = _planned(t.merge("b", auto_commit=False))
        first.commit()
        before = store_snapshot(t)
        with pytest.raises(ConcurrentUpdateError, match="moved since this merge was planned"):
            second.commit()
        assert store_snapshot(t) == before

    def test_merge_bad_input(self, factory: TractFactory) -> None:
        t = factory.open()
        t.user("x")
        before = store_snapshot(t)
        with pytest.raises(BranchNotFoundError):
            t.merge("no-such-branch")
        with pytest.raises(InvalidInputError, match="strategy"):
            t.merge("main", strategy="octopus")
        t.branch("side", switch=True)
        t.user("y")
        t.switch("main")
        t.user("z")
        with pytest.raises(InvalidInputError, match="fast-forward"):
            t.merge("side", strategy="ff-only")
        assert _contents(t.compile()) == ["x", "z"]
        assert before["commits"][0] in store_snapshot(t)["commits"]

    # -- scenario 3.2: A/B testing model configurations ----------------------------------------

    def test_scenario_3_2_ab_test_configs_and_query_them(self, factory: TractFactory) -> None:
        t = factory.open()
        t.system("You review Python code.")
        t.user("Review: def f(x): return eval(x)")
        t.branch("mini")
        strict = t.assistant(
            "eval on input is unsafe; use ast.literal_eval.", generation_config={"model": "gpt-4o", "temperature": 0.3}
        )
        t.switch("mini")
        loose = t.assistant(
            "Looks fine, maybe add a docstring.",
            generation_config={"model": "gpt-4o-mini", "temperature": 0.7, "sampling": {"top_p": 0.9}},
        )
        comparison = t.diff("main", "mini")
        assert _message(comparison.changed[0].after)["content"].startswith("Looks fine")
        assert [c.hash for c in t.query_by_config(model="gpt-4o")] == [strict.hash]
        assert [c.hash for c in t.query_by_config("temperature", ">", 0.5)] == [loose.hash]
        assert {c.hash for c in t.query_by_config("temperature", "<=", 0.7)} == {strict.hash, loose.hash}
        assert [c.hash for c in t.query_by_config("sampling.top_p", ">=", 0.9)] == [loose.hash]
        assert t.query_by_config(model="gpt-4o", temperature=0.7) == []
        assert t.query_by_config(model="claude") == []
        assert _message(t.query_by_config(model="gpt-4o-mini")[0].generation_config)["temperature"] == 0.7
        with pytest.raises(InvalidInputError, match="operator"):
            t.query_by_config("temperature", "~", 1)
        with pytest.raises(InvalidInputError):
            t.query_by_config()

    # -- scenario 3.3: moving work across branches ---------------------------------------------

    def test_scenario_3_3_cherry_pick_and_rebase_with_safety_checks(self, factory: TractFactory) -> None:
        t = factory.open()
        t.system("You build a feature.")
        t.user("Plan the API.")
        t.branch("tangent")
        t.branch("subtask")
        t.switch("tangent")
        insight = None
        for i in range(20):
            if i == 13:
                insight = t.assistant("Insight: cache the token counts per blob.")
            else:
                t.assistant(f"tangent note {i}")
        t.switch("main")
        t.assistant("Main moved: the API is REST.")
        picked = t.cherry_pick(insight)
        assert not picked.warnings
        assert _contents(t.compile())[-1] == "Insight: cache the token counts per blob."
        assert t.show("HEAD").parents == (t.show("HEAD~1").hash,)

        t.switch("subtask")
        question = t.user("Subtask: write the client.")
        call = t.assistant(tool_calls=[_tool_call("call_7")])
        t.tool_result("call_7", "client skeleton")
        t.commit("Subtask: write the Python client.", operation=EDIT, response_to=question)
        result = t.rebase("main")
        assert not result.warnings and len(result.mapping) == 4
        assert _contents(t.compile())[:4] == [
            "You build a feature.",
            "Plan the API.",
            "Main moved: the API is REST.",
            "Insight: cache the token counts per blob.",
        ]
        assert _contents(t.compile())[4] == "Subtask: write the Python client."
        assert call.hash in result.mapping and result.mapping[call.hash] in t.compile().commit_hashes
        assert t.rebase("main").mapping == {}  # already on top

    def test_picks_and_rebases_warn_when_an_edit_or_tool_result_would_dangle(self, factory: TractFactory) -> None:
        t = factory.open()
        t.user("base")
        t.branch("other")
        original = t.assistant("only on main")
        t.assistant(tool_calls=[_tool_call("call_1")])
        edit = t.commit("fixed text", operation=EDIT, response_to=original)
        result = t.tool_result("call_1", "result")
        t.switch("other")
        t.user("other work")
        t.branch("upstream")
        t.branch("work", switch=True)
        picked = [t.cherry_pick(edit), t.cherry_pick(result)]
        assert "not in the new history" in picked[0].warnings[0]
        assert "call_1" in picked[1].warnings[0]
        with pytest.raises(RebaseSafetyError):
            t.cherry_pick(edit, strict=True)

        t.switch("upstream")
        t.user("upstream moved")
        t.switch("work")
        before = store_snapshot(t)
        with pytest.raises(RebaseSafetyError) as raised:
            t.rebase("upstream", strict=True)
        assert len(raised.value.warnings) == 2
        assert store_snapshot(t) == before
        rebased = t.rebase("upstream")
        assert len(rebased.warnings) == 2 and len(rebased.mapping) == 2
        assert _contents(t.compile()) == ["base", "other work", "upstream moved", "result"]

    def test_rebase_keeps_priorities_and_refuses_a_descendant(self, factory: TractFactory) -> None:
        t = factory.open()
        t.user("base")
        t.branch("feature", switch=True)
        noisy = t.user("noisy dump")
        t.assistant("summary")
        t.annotate(noisy, SKIP)
        t.switch("main")
        t.user("main work")
        t.switch("feature")
        t.rebase("main")
        assert _contents(t.compile()) == ["base", "main work", "summary"]
        with pytest.raises(InvalidInputError, match="descendant"):
            t.switch("main")
            t.rebase("feature")

    # -- scenario X.3: context forensics -------------------------------------------------------

    def test_scenario_x3_find_the_contamination_and_rebuild_without_it(self, factory: TractFactory) -> None:
        t = factory.open()
        t.system("You write the quarterly report.")
        for turn in range(80):
            if turn == 37:
                t.user("Feed: Q3 revenue = -$4B (corrupted export)")
            else:
                t.user(f"Feed: metric {turn} = {turn * 3}")
            t.assistant(f"Noted metric {turn}.")
        log = t.log(limit=None)
        assert len(log) == 161

        bad = None
        for newer, older in zip(log[:-1], log[1:], strict=True):  # walk backwards, diffing neighbours
            added = t.diff(older, newer).added
            if added and "corrupted" in str(_message(added[0].after)["content"]):
                bad = newer
                break
        assert bad is not None
        assert "corrupted" in str(t.compile(at_commit=bad).messages[-1])
        assert "corrupted" not in str(t.compile(at_commit=bad.parents[0]).messages)

        later = list(reversed(log[: log.index(bad)]))  # the good work after it, oldest first
        t.branch("clean", from_=bad.parents[0], switch=True)
        for commit in later:
            assert not t.cherry_pick(commit).warnings
        t.switch("main")
        t.reset("clean")
        clean = t.compile()
        assert "corrupted" not in str(clean.messages)
        assert len(clean) == 1 + 2 * 80 - 1
        assert _contents(clean)[-1] == "Noted metric 79."
        assert t.show(bad).content.startswith("Feed: Q3")  # the evidence stays in the store

    # -- scenario X.6: undo / redo -------------------------------------------------------------

    def test_scenario_x6_undo_redo_with_soft_and_hard_reset(self, factory: TractFactory) -> None:
        t = factory.open()
        t.user("Name our product.")
        before_bad = t.head
        bad = t.assistant("ProductMcProductFace")
        dropped = t.reset(before_bad, mode="soft")
        assert dropped.dropped == (bad.hash,) and dropped.deleted == 0
        assert t.show(bad.hash).content == "ProductMcProductFace"  # unreachable, not deleted
        retry = t.assistant("Lumen")
        assert _contents(t.compile()) == ["Name our product.", "Lumen"]

        # worse: go back and redo the original, found through the reflog
        t.reset(before_bad)
        orphan = next(e.new for e in t.reflog() if e.new == bad.hash)
        t.cherry_pick(orphan)
        assert _contents(t.compile()) == ["Name our product.", "ProductMcProductFace"]
        assert t.head == bad.hash  # same parent, same content: the very same commit

        hard = t.reset(before_bad, mode="hard")
        assert (hard.dropped, hard.deleted) == ((bad.hash,), 1)
        with pytest.raises(CommitNotFoundError):
            t.show(bad.hash)
        assert t.show(retry.hash).content == "Lumen"  # an older orphan, still in the reflog's reach
        assert _contents(t.compile()) == ["Name our product."]
        assert t.verify() > 0

    def test_reset_bad_input_changes_nothing(self, factory: TractFactory) -> None:
        t = factory.open()
        t.user("mine")
        other = factory.open("other")
        foreign = other.user("theirs")
        before = store_snapshot(t)
        with pytest.raises(CommitNotFoundError):
            t.reset(foreign.hash)
        with pytest.raises(InvalidInputError, match="soft"):
            t.reset("HEAD", mode="mixed")
        with pytest.raises(InvalidInputError, match="current branch"):
            t.delete_branch("main")
        assert store_snapshot(t) == before

    def test_hard_reset_keeps_what_a_surviving_edit_points_at(self, factory: TractFactory) -> None:
        t = factory.open()
        t.user("q")
        base = t.head
        t.branch("work", switch=True)
        draft = t.assistant("draft")
        fix = t.commit("fixed", operation=EDIT, response_to=draft)
        t.branch("scratch", from_=base)
        t.switch("scratch")
        assert t.cherry_pick(fix).warnings  # copied without its target
        t.switch("work")
        result = t.reset(base, mode="hard")
        assert set(result.dropped) == {draft.hash, fix.hash} and result.deleted == 1
        assert t.show(draft).content == "draft"  # the scratch EDIT still names it
        assert t.verify() > 0

    def test_reset_none_empties_the_branch_and_keeps_the_history(self, factory: TractFactory) -> None:
        t = factory.open()
        t.user("first")
        old = t.assistant("one").hash
        t.branch("kept")
        result = t.reset(None)
        assert (result.old, result.new) == (old, None)
        assert t.head is None and t.status().branch == "main" and len(t.compile()) == 0
        assert [b.name for b in t.list_branches()] == ["kept"]
        t.user("again")  # the branch is born again
        assert _contents(t.compile()) == ["again"]
        assert _contents(t.compile(at_commit="kept")) == ["first", "one"]
        t.checkout(old)
        with pytest.raises(InvalidInputError, match="detached"):
            t.reset(None)

    def test_start_over_keeps_the_old_line_as_the_next_numbered_branch(self, factory: TractFactory) -> None:
        t = factory.open()
        assert t.start_over() is None  # nothing to keep yet
        t.user("first")
        first = t.assistant("one").hash
        t.branch("cleared/x")  # not a number: ignored when numbering
        assert t.start_over() == "cleared/1"
        assert t.head is None and t.status().branch == "main" and len(t.compile()) == 0
        t.user("second")
        assert t.start_over() == "cleared/2"
        assert _contents(t.compile(at_commit="cleared/1")) == ["first", "one"]
        assert _contents(t.compile(at_commit="cleared/2")) == ["second"]
        t.user("third")
        dropped = t.head
        assert t.start_over(None) is None and t.head is None  # no branch: an orphan the reflog still finds
        assert dropped in {e.old for e in t.reflog()}
        assert t.show(dropped).content == "third"
        assert {b.name for b in t.list_branches()} == {"cleared/1", "cleared/2", "cleared/x"}
        t.checkout(first)
        before = store_snapshot(t)
        with pytest.raises(InvalidInputError, match="detached"):
            t.start_over()
        assert store_snapshot(t) == before

    def test_a_batch_spans_every_tract_on_the_store(self, factory: TractFactory) -> None:
        a = factory.open("batch-a")
        b = Tract.open(store=a.store, tract_id="batch-b")  # another tract on the same open store
        a.user("kept")
        before = store_snapshot(a), store_snapshot(b)
        with pytest.raises(RuntimeError), a.batch():
            a.user("a, rolled back")
            b.user("b, rolled back")  # joins a's transaction instead of waiting for the write lock
            raise RuntimeError("boom")
        assert (store_snapshot(a), store_snapshot(b)) == before
        with a.batch():
            a.user("a, kept")
            b.user("b, kept")
        assert _contents(a.compile()) == ["kept", "a, kept"] and _contents(b.compile()) == ["b, kept"]
        b.close()
