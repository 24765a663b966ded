"""Contract: compression, garbage collection and sub-agents (scenarios 4.1–4.3, 5.1, 5.2)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from ...compress import CompressionResult, PendingCompression
from ...config import TractConfig
from ...errors import CommitNotFoundError, ConcurrentUpdateError, InvalidInputError
from ...merge import LLMResolver
from ...objects import EDIT, PINNED, SKIP, ContentType
from ...records import CommitInfo
from ...tract import Tract
from ..factory import TractFactory
from ..llm import ScriptedLLM
from ..snapshot import store_snapshot

__all__ = ["CompressionContract"]

DAY = 86_400.0
THERAPY_PROMPT = "You are a warm, careful therapy companion. Never diagnose; suggest a professional when in doubt."
MANUAL_SUMMARY = (
    "Summary of sessions 1-194: Sam has felt anxious before team meetings for weeks; slow breathing and "
    "a walk at lunch help. Sam is proud of speaking up once. Be gentle about the manager."
)


def _contents(ctx: Any) -> list[Any]:
    return [m["content"] for m in ctx.messages]


def _tool_call(call_id: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": "lookup_rates", "arguments": "{}"}}


def _therapy(t: Tract, turns: int = 200) -> list[CommitInfo]:
    """A therapy-bot conversation: the pinned system prompt, then ``turns`` user/assistant pairs."""
    commits = [t.system(THERAPY_PROMPT)]
    with t.batch():
        for turn in range(turns):
            commits.append(t.user(f"Session {turn}: I felt anxious before the team meeting again."))
            commits.append(t.assistant(f"Reply {turn}: That sounds heavy. What helped you last time?"))
    return commits


def _committed(result: CompressionResult | PendingCompression) -> CompressionResult:
    """The compression ``compress()`` committed (``auto_commit=True``, the default)."""
    assert isinstance(result, CompressionResult), f"expected a committed compression, not {result!r}"
    return result


def _pending(result: CompressionResult | PendingCompression) -> PendingCompression:
    """The draft ``compress(auto_commit=False)`` returned."""
    assert isinstance(result, PendingCompression), f"expected a pending compression, not {result!r}"
    return result


def _summary(result: CompressionResult) -> CommitInfo:
    """The summary commit of a compression (every compression but ``Tract.archive`` writes one)."""
    assert result.summary is not None, f"{result!r} wrote no summary"
    return result.summary


def _long_text(words: int) -> str:
    return " ".join(f"detail{i}" for i in range(words))


class CompressionContract:
    """Compression (manual, LLM, collaborative), gc and sub-agents. Needs the ``factory`` fixture."""

    # -- scenario 4.1: three ways to compress ----------------------------------------------------

    def test_scenario_4_1_manual_summary_is_deterministic(self, factory: TractFactory) -> None:
        t = factory.open("therapy-a")
        twin = factory.open("therapy-b")
        commits = _therapy(t)
        _therapy(twin)
        before = t.compile()

        result = _committed(t.compress(content=MANUAL_SUMMARY))
        again = _committed(twin.compress(content=MANUAL_SUMMARY))
        assert result.draft is None
        assert (_summary(result).hash, result.head) == (_summary(again).hash, again.head)  # same content, same ids
        assert t.compile().digest == twin.compile().digest

        ctx = t.compile()  # pinned system prompt, the summary, the most recent turns
        assert _contents(ctx) == [THERAPY_PROMPT, MANUAL_SUMMARY, *_contents(before)[-6:]]
        assert ctx.messages[1]["role"] == "system"
        assert t.show(_summary(result)).content_type == ContentType.SUMMARY
        assert result.replaced == tuple(c.hash for c in commits[1:-6])
        assert result.tokens_after < result.tokens_before == before.token_count
        assert t.status().token_count == result.tokens_after == ctx.token_count

    def test_scenario_4_1_llm_summarises_the_first_150_turns(self, factory: TractFactory) -> None:
        t = factory.open()
        commits = _therapy(t)
        before = t.compile()
        summary = "Sam has felt anxious before team meetings for 150 sessions; breathing helps."
        llm = ScriptedLLM([summary])
        result = _committed(t.compress(llm=llm, target_tokens=2000, to_commit=commits[300]))  # reply 149

        assert llm.calls == 1
        system, transcript = llm.prompts[0][0]["content"], llm.prompts[0][-1]["content"]
        assert "2000 tokens" in system
        assert "Session 0:" in transcript and "Reply 149:" in transcript and "Session 150:" not in transcript
        assert THERAPY_PROMPT not in transcript  # pinned: kept verbatim, not summarised
        assert result.draft is not None
        assert (result.draft.attempts, result.draft.trimmed, result.draft.target_tokens) == (1, False, 2000)
        assert _summary(result).content == summary
        assert _contents(t.compile()) == [THERAPY_PROMPT, summary, *_contents(before)[301:]]
        assert len(t.compile()) == 2 + 100
        assert t.compressions()[-1].details["attempts"] == 1

    def test_llm_summary_over_budget_is_asked_again_then_trimmed(self, factory: TractFactory) -> None:
        too_long = _long_text(3000)
        t = factory.open("re-asked")
        _therapy(t, 20)
        llm = ScriptedLLM([too_long, "Sam is anxious before meetings; breathing helps."])
        result = _committed(t.compress(llm=llm, target_tokens=2000))
        assert llm.calls == 2  # the model was asked once more, with its own answer and the limit
        first, second = llm.prompts
        assert second[: len(first)] == first
        assert second[len(first)] == {"role": "assistant", "content": too_long}
        assert second[-1]["role"] == "user" and "2000" in second[-1]["content"]
        assert result.draft is not None and (result.draft.attempts, result.draft.trimmed) == (2, False)
        assert _summary(result).content == "Sam is anxious before meetings; breathing helps."

        trimmed = factory.open("trimmed")
        _therapy(trimmed, 20)
        stubborn = ScriptedLLM([too_long, too_long])
        result = _committed(trimmed.compress(llm=stubborn, target_tokens=2000))
        assert stubborn.calls == 2
        draft = result.draft
        assert draft is not None and (draft.attempts, draft.trimmed) == (2, True)
        text = _summary(result).content
        assert draft.tokens <= 2000 and trimmed.counter.count_text(text) <= 2000
        assert draft.tokens > 1900  # cut near the budget, not emptied
        assert too_long.startswith(text.rstrip(" …"))  # cut at a word boundary of the model's answer
        assert trimmed.compressions()[-1].details["trimmed"] is True

    def test_acompress_awaits_the_model_and_matches_compress(self, factory: TractFactory) -> None:
        too_long = _long_text(3000)
        summary = "Sam is anxious before meetings; breathing helps."
        t = factory.open("sync")
        twin = factory.open("async")
        _therapy(t, 20)
        _therapy(twin, 20)
        sync_llm = ScriptedLLM([too_long, summary])
        async_llm = ScriptedLLM([too_long, summary])
        result = _committed(t.compress(llm=sync_llm, target_tokens=2000, keep_recent=4))
        aresult = _committed(asyncio.run(twin.acompress(llm=async_llm, target_tokens=2000, keep_recent=4)))
        assert async_llm.prompts == sync_llm.prompts  # the same exchange, re-ask included
        assert aresult.draft == result.draft
        assert (_summary(aresult).hash, aresult.head) == (_summary(result).hash, result.head)
        assert twin.compile().digest == t.compile().digest

        pending = _pending(asyncio.run(twin.acompress(content="by hand", keep_recent=2, auto_commit=False)))
        assert isinstance(pending, PendingCompression) and twin.head == aresult.head
        before = store_snapshot(twin)
        with pytest.raises(InvalidInputError, match="content="):
            asyncio.run(twin.acompress(keep_recent=2))  # no content, no llm: refused, nothing written
        assert store_snapshot(twin) == before

    def test_config_llm_writes_the_summary_when_none_is_passed(self, factory: TractFactory) -> None:
        llm = ScriptedLLM(["Sam is anxious before meetings."])
        t = factory.open(config=TractConfig(llm=llm))
        _therapy(t, 20)
        result = _committed(t.compress(target_tokens=2000))
        assert llm.calls == 1 and _summary(result).content == "Sam is anxious before meetings."
        assert _contents(t.compile())[1] == "Sam is anxious before meetings."

    def test_scenario_4_1_collaborative_draft_edited_then_approved(self, factory: TractFactory) -> None:
        draft = "Sam feels anxious before meetings."
        edited = "Sam feels anxious before meetings and is ashamed of it; breathing and walks help. Go gently."
        t = factory.open()
        _therapy(t, 40)
        head, digest, before = t.head, t.compile().digest, store_snapshot(t)
        llm = ScriptedLLM([draft])
        pending = _pending(t.compress(auto_commit=False, llm=llm, target_tokens=2000))
        assert isinstance(pending, PendingCompression)
        assert pending.draft == draft and pending.old_head == head
        assert len(pending.messages) == 80 - 6 and pending.messages[0]["content"].startswith("Session 0:")
        assert (t.head, t.compile().digest) == (head, digest)  # nothing happens until approval
        assert store_snapshot(t) == before

        reviewer = factory.open()  # another Tract object (another process, in production)
        (seen,) = reviewer.pending_compressions()
        assert (seen.id, seen.draft, seen.range_from, seen.range_to) == (
            pending.id,
            draft,
            pending.range_from,
            pending.range_to,
        )
        result = reviewer.approve_compression(seen, content=edited)
        assert _summary(result).content == edited
        assert _contents(t.compile())[:2] == [THERAPY_PROMPT, edited]
        assert draft not in _contents(t.compile())
        assert t.head == result.head and t.pending_compressions() == []
        assert [(c.id, c.status) for c in t.compressions()] == [(pending.id, "committed")]
        assert llm.calls == 1

    def test_pending_draft_seen_from_another_tract_lists_what_it_summarises(self, factory: TractFactory) -> None:
        t = factory.open()
        _therapy(t, 10)
        pending = _pending(t.compress(auto_commit=False, content="Sam is anxious."))
        (seen,) = factory.open().pending_compressions()
        # the reviewer needs the originals to check the draft
        assert seen.messages == pending.messages, f"{len(seen.messages)} messages, not {len(pending.messages)}"

    def test_rejected_draft_leaves_history_untouched(self, factory: TractFactory) -> None:
        t = factory.open()
        _therapy(t, 20)
        digest, before = t.compile().digest, store_snapshot(t)
        pending = _pending(t.compress(auto_commit=False, llm=ScriptedLLM(["A draft nobody likes."])))
        pending.reject()
        assert store_snapshot(t) == before and t.compile().digest == digest
        assert t.pending_compressions() == []
        assert [c.status for c in t.compressions()] == ["rejected"]

    def test_approved_draft_keeps_how_it_was_drafted(self, factory: TractFactory) -> None:
        t = factory.open()
        _therapy(t, 20)
        too_long = _long_text(300)
        pending = _pending(t.compress(auto_commit=False, llm=ScriptedLLM([too_long, too_long]), target_tokens=100))
        pending.approve(content="Sam is anxious before meetings.")
        (record,) = t.compressions()
        assert record.status == "committed" and record.draft == pending.draft  # what the model proposed
        # the audit trail still says how the draft was written
        how = {k: record.details.get(k) for k in ("target_tokens", "attempts", "trimmed")}
        assert how == {"target_tokens": 100, "attempts": 2, "trimmed": True}, f"details after approval: {how}"

    def test_compress_undo_and_redo_keeps_the_provenance(self, factory: TractFactory) -> None:
        t = factory.open()
        _therapy(t, 10)
        old_head = t.head
        first = _committed(t.compress(content=MANUAL_SUMMARY))
        t.reset(old_head)  # undo
        assert t.head == old_head
        redo = _committed(t.compress(content=MANUAL_SUMMARY))
        assert (_summary(redo).hash, redo.head) == (_summary(first).hash, first.head)
        archived = t.archived(redo)  # the redo took them out of the history
        assert set(archived) == set(redo.archived), f"archived(redo) lists {len(archived)} of {len(redo.archived)}"

    # -- scenario 4.2: pinned content survives compression --------------------------------------

    def test_scenario_4_2_pinned_citations_survive_verbatim_in_order(self, factory: TractFactory) -> None:
        disclaimer = "You are a financial adviser. COMPLIANCE: This is not investment advice. Past returns vary."
        citations = [
            "Per SEC Rule 10b-5, no statement may omit a material fact.",
            "FINRA Rule 2111: recommendations must be suitable for the client.",
            "MiFID II Art. 25(2): assess the client's knowledge and experience.",
        ]
        t = factory.open()
        t.system(disclaimer)
        first = t.user("I have $50k to invest. Where do I start?")
        t.assistant("Start with an emergency fund, then low-cost index funds.")
        pins = [t.user(citations[0])]
        noise = t.assistant("[price feed] " + "AAPL 189.2 MSFT 410.1 " * 40)
        t.annotate(noise, SKIP, reason="raw tool output")
        fees = t.assistant("Index fund fees are about 2% a year.")
        pins.append(t.assistant(citations[1]))
        t.commit("Index fund fees are about 0.03% a year.", role="assistant", operation=EDIT, response_to=fees)
        t.user("What about bonds?")
        pins.append(t.assistant(citations[2]))
        last = t.assistant("Bonds lower volatility; a 60/40 split is common.")
        t.user("And crypto?")
        t.assistant("Keep speculative assets small.")
        for pin in pins:
            t.annotate(pin, PINNED, reason="regulatory citation")

        summary = "The client has $50k; advised emergency fund, index funds (0.03% fees), 60/40 with bonds."
        llm = ScriptedLLM([summary])
        result = _committed(t.compress(llm=llm, from_commit=first, to_commit=last))
        assert _contents(t.compile()) == [
            disclaimer,
            summary,
            *citations,  # verbatim, in their original order, after the summary
            "And crypto?",
            "Keep speculative assets small.",
        ]
        assert [t.show(k).content for k in result.kept] == citations
        assert all(t.show(k).annotations[-1].priority is PINNED for k in result.kept)
        assert [t.show(h).content for h in result.replaced] == [
            "I have $50k to invest. Where do I start?",
            "Start with an emergency fund, then low-cost index funds.",
            "Index fund fees are about 2% a year.",  # the original commit; its EDIT was applied
            "What about bonds?",
            "Bonds lower volatility; a 60/40 split is common.",
        ]

        prompt = str(llm.prompts)
        assert "[price feed]" not in prompt and "AAPL" not in prompt  # SKIP: excluded entirely
        assert "0.03% a year" in prompt and "about 2% a year" not in prompt  # the EDIT applied first

        # the pins stay pinned on their new commits: a later compression keeps them too
        t.compress(content="Earlier advice summarised.", keep_recent=1)
        assert _contents(t.compile()) == [
            disclaimer,
            "Earlier advice summarised.",
            *citations,
            "Keep speculative assets small.",
        ]

    # -- provenance and audit ---------------------------------------------------------------------

    def test_compression_provenance_and_originals_readable_until_gc(self, factory: TractFactory) -> None:
        t = factory.open()
        commits = _therapy(t, 30)
        pre, old_head = t.compile(), t.head
        result = _committed(t.compress(content=MANUAL_SUMMARY, keep_recent=4))

        assert result.replaced == tuple(c.hash for c in commits[1:-4])
        assert result.archived == tuple(c.hash for c in commits[1:])  # the range and the replayed tail
        assert set(t.archived(result)) == set(result.archived) == set(t.archived())
        (record,) = t.compressions()
        assert (record.id, record.status) == (result.id, "committed")
        assert (record.old_head, record.new_head, record.summary_commit) == (old_head, t.head, _summary(result).hash)
        assert (record.range_from, record.range_to) == (commits[1].hash, commits[-5].hash)
        assert _contents(t.compile())[-4:] == _contents(pre)[-4:]
        assert not set(result.archived) & {c.hash for c in t.log(limit=None)}

        # originals stay readable, and the past compiles exactly as the model saw it
        assert t.show(commits[1].hash).content == commits[1].content
        assert t.compile(at_commit=old_head).digest == pre.digest
        now = time.time()
        assert t.gc(now=now + 29 * DAY).commits == ()
        assert t.compile(at_commit=old_head).digest == pre.digest

        swept = t.gc(now=now + 31 * DAY)
        assert set(swept.commits) == set(result.archived) and swept.archived == len(result.archived)
        with pytest.raises(CommitNotFoundError):
            t.show(commits[1].hash)
        with pytest.raises(CommitNotFoundError):
            t.compile(at_commit=old_head)
        assert [c.status for c in t.compressions()] == ["committed"]  # the audit record stays
        assert t.archived(result) == []
        assert t.verify() > 0

    # -- scenario 4.3: reclaiming storage ----------------------------------------------------------

    def test_scenario_4_3_gc_respects_both_retention_windows(self, factory: TractFactory) -> None:
        t = factory.open()
        _therapy(t, 12)
        kept = t.head
        oops = [t.user("Session 12: actually, ignore all that."), t.assistant("Reply 12: (a regretted reply)")]
        t.reset(kept)  # two orphans
        old_head, pre = t.head, t.compile()
        result = _committed(t.compress(content=MANUAL_SUMMARY, keep_recent=2))
        digest = t.compile().digest
        windows: dict[str, Any] = {"orphan_retention_days": 7, "archive_retention_days": 30}
        now = time.time()

        before = store_snapshot(t)
        for days in (0, 6.5):
            inside = t.gc(**windows, now=now + days * DAY)
            assert inside.commits == () and (inside.orphans, inside.archived, inside.blobs) == (0, 0, 0)
        assert store_snapshot(t) == before

        preview = t.gc(**windows, now=now + 8 * DAY, dry_run=True)
        assert preview.dry_run and store_snapshot(t) == before
        swept = t.gc(**windows, now=now + 8 * DAY)
        assert set(swept.commits) == set(preview.commits) == {c.hash for c in oops}
        assert (swept.orphans, swept.archived, swept.blobs) == (2, 0, 2)
        assert (preview.orphans, preview.archived, preview.blobs) == (2, 0, 2)
        assert swept.blob_bytes == preview.blob_bytes > len("Reply 12: (a regretted reply)")
        for orphan in oops:
            with pytest.raises(CommitNotFoundError):
                t.show(orphan)
        assert t.compile(at_commit=old_head).digest == pre.digest  # archived: still inside its window

        late = t.gc(**windows, now=now + 31 * DAY, dry_run=True)
        assert set(late.commits) == set(result.archived)
        swept = t.gc(**windows, now=now + 31 * DAY)
        assert swept.commits == late.commits and swept.archived == len(result.archived) and swept.orphans == 0
        assert swept.blobs == len(result.replaced)  # the replayed tail shares its blobs with the new commits
        assert t.compile().digest == digest
        assert t.verify() > 0
        assert t.gc(**windows, now=now + 365 * DAY).commits == ()

    def test_gc_never_removes_what_is_still_reachable(self, factory: TractFactory) -> None:
        t = factory.open()
        t.system("You coordinate research.")
        start = t.user("Plan the study.")
        t.branch("side", switch=True)
        side = t.user("side-branch work")
        t.switch("main")
        spawned = [t.assistant("First plan."), t.user("Refine it.")]
        child = t.spawn("helper")  # the child starts from here
        drafted = t.user("Refine it more.")
        pending = _pending(t.compress(auto_commit=False, content="A plan was made.", to_commit=drafted))
        t.reset(start)  # main leaves all of that behind
        junk = t.assistant("A dead end.")
        t.reset(start)
        t.checkout(start)
        detached = t.user("Work on a detached HEAD.")

        years = time.time() + 365 * DAY
        preview = t.gc(orphan_retention_days=7, archive_retention_days=30, now=years, dry_run=True)
        swept = t.gc(orphan_retention_days=7, archive_retention_days=30, now=years)
        assert swept.commits == preview.commits == (junk.hash,)
        for keep in (side, *spawned, drafted, detached):  # a branch, a child's start, a pending draft, HEAD
            assert t.show(keep).content == keep.content
        assert child.compile().messages[0]["content"] == "You coordinate research."
        assert t.verify() > 0

        pending.reject()  # the draft no longer needs its history
        swept = t.gc(orphan_retention_days=7, archive_retention_days=30, now=years)
        assert swept.commits == (drafted.hash,)
        assert t.show(spawned[1]).content == "Refine it."
        assert t.verify() > 0

    def test_gc_keeps_blobs_another_tract_shares(self, factory: TractFactory) -> None:
        mine = factory.open("mine")
        theirs = factory.open("theirs")
        base = mine.user("Hello.")
        shared = mine.user("The meeting is on Tuesday.")
        unique = mine.assistant("Only this tract ever said this.")
        theirs.user("The meeting is on Tuesday.")
        mine.reset(base)
        theirs_before = store_snapshot(theirs)

        swept = mine.gc(orphan_retention_days=7, archive_retention_days=30, now=time.time() + 8 * DAY)
        assert set(swept.commits) == {shared.hash, unique.hash} and swept.orphans == 2
        assert swept.blobs == 1 and swept.blob_bytes > len("Only this tract ever said this.")
        assert store_snapshot(theirs) == theirs_before
        assert _contents(theirs.compile()) == ["The meeting is on Tuesday."]
        assert theirs.verify() > 0 and mine.verify() > 0

    # -- scenario 5.1: sub-agent delegation ------------------------------------------------------

    def test_scenario_5_1_sub_agent_work_absorbed_as_one_message(self, factory: TractFactory) -> None:
        t = factory.open("lead")
        t.system("You are a research lead. Cite every source.")
        deadline = t.user("Deadline: the report is due Friday.")
        t.annotate(deadline, PINNED)
        t.user("Find out how solid-state batteries are progressing.")
        child = t.spawn("research")
        assert child.tract_id == "lead/research"
        parent = child.parent()
        assert parent is not None and parent.tract_id == "lead"
        assert [c.tract_id for c in t.children()] == ["lead/research"]
        assert t.parent() is None and child.children() == []
        inherited = child.compile()  # the parent's pinned messages, still pinned
        assert _contents(inherited) == ["You are a research lead. Cite every source.", deadline.content]
        assert child.show(inherited.commit_hashes[1]).annotations[-1].priority is PINNED

        with child.batch():
            for turn in range(40):
                child.user(f"Dig into aspect {turn}.")
                child.assistant(f"Finding {turn}: source {turn} reports progress.")
        assert len(child.compile()) == 2 + 80
        child_digest, child_head, child_log = child.compile().digest, child.head, child.log(limit=None)
        parent_commits = t.status().commit_count

        paragraphs = "Electrolytes improved.\n\nCosts remain high.\n\nPilot lines open in 2027."
        llm = ScriptedLLM([paragraphs])
        info = t.absorb(child, llm=llm)
        assert llm.calls == 1 and "Finding 39: source 39" in llm.prompts[0][-1]["content"]
        assert t.status().commit_count == parent_commits + 1  # 40 turns collapsed into one message
        assert _contents(t.compile())[-1] == paragraphs and t.head == info.hash
        assert info.metadata is not None
        link = info.metadata["subagent"]
        assert (link["tract"], link["head"]) == ("lead/research", child_head)
        assert Tract.open(store=t.store, tract_id=link["tract"], create=False).head == child_head
        assert t.show(info).content_type == ContentType.SUMMARY
        # the child's history is intact
        assert child.compile().digest == child_digest
        assert [c.hash for c in child.log(limit=None)] == [c.hash for c in child_log]

    # -- scenario 5.2: parallel agents, supervisor merge -----------------------------------------

    def test_scenario_5_2_supervisor_merges_three_branches(self, factory: TractFactory) -> None:
        t = factory.open()
        t.system("You plan the launch of a budgeting app.")
        findings = t.user("Shared findings: none yet.")
        work = {
            "competitor-research": ["Competitor A charges $8/month.", "Competitor B is free with ads."],
            "market-size": ["The addressable market is $2B.", "It grows 12% a year."],
            "tech-feasibility": ["Bank sync via Plaid is feasible.", "An MVP takes 10 weeks."],
        }
        edits = {
            "competitor-research": "Shared findings: two direct competitors.",
            "market-size": "Shared findings: a $2B market growing 12%.",
        }
        for name in work:
            t.branch(name)
        for name, lines in work.items():
            t.switch(name)
            for line in lines:
                t.assistant(line)
            if name in edits:
                t.commit(edits[name], role="user", operation=EDIT, response_to=findings)
        t.switch("main")
        t.user("Supervisor: reviewing the three reports.")

        merged = "Shared findings: two direct competitors in a $2B market growing 12%."
        llm = ScriptedLLM([merged])
        resolver = LLMResolver(llm)
        kinds = [t.merge(name, resolver=resolver).kind for name in work]
        assert kinds == ["merge", "merge", "merge"]
        assert llm.calls == 1  # only the overlapping findings needed the model
        prompt = llm.prompts[0][-1]["content"]
        assert all(text in prompt for text in ("none yet", *edits.values()))
        assert _contents(t.compile()) == [
            "You plan the launch of a budgeting app.",
            merged,
            "Supervisor: reviewing the three reports.",
            *work["competitor-research"],
            *work["market-size"],
            *work["tech-feasibility"],
        ]
        assert t.show(findings).content == "Shared findings: none yet."
        assert t.verify() > 0

    # -- bad input ---------------------------------------------------------------------------------

    def test_compress_bad_input_changes_nothing(self, factory: TractFactory) -> None:
        t = factory.open()
        t.system("You compare savings rates.")
        question = t.user("Which bank pays most?")
        call = t.assistant(tool_calls=[_tool_call("call_1")])
        result = t.tool_result("call_1", "Bank A 4.1%, Bank B 3.9%")
        answer = t.assistant("Bank A pays 4.1%.")
        pin_a = t.user("Rates change daily.")
        pin_b = t.assistant("Noted: quote the date with every rate.")
        t.annotate(pin_a, PINNED)
        t.annotate(pin_b, PINNED)
        t.user("Thanks.")
        before = store_snapshot(t)

        with pytest.raises(InvalidInputError, match="empty"):
            t.compress(content="x", from_commit=answer, to_commit=question)
        with pytest.raises(InvalidInputError, match="empty"):
            t.compress(content="x", keep_recent=50)
        with pytest.raises(InvalidInputError, match="nothing to compress"):
            t.compress(content="x", from_commit=pin_a, to_commit=pin_b)
        for bad in (0, -5):
            with pytest.raises(InvalidInputError, match="target_tokens"):
                t.compress(llm=ScriptedLLM(["never asked"]), target_tokens=bad)
        with pytest.raises(InvalidInputError, match="llm"):
            t.compress()
        with pytest.raises(InvalidInputError, match="tool call"):
            t.compress(content="x", from_commit=question, to_commit=call)
        with pytest.raises(InvalidInputError, match="tool call"):
            t.compress(content="x", from_commit=result, to_commit=answer)
        assert store_snapshot(t) == before
        assert t.compressions() == []

        empty = factory.open("empty")
        nothing = store_snapshot(empty)
        with pytest.raises(InvalidInputError, match="nothing to compress"):
            empty.compress(content="x")
        assert store_snapshot(empty) == nothing

    # -- archive: an exact range leaves the context, no summary ------------------------------------

    def test_archive_takes_the_exact_range_out_with_provenance(self, factory: TractFactory) -> None:
        t = factory.open()
        commits = _therapy(t, 5)  # the system prompt (pinned) and 10 messages
        t.annotate(commits[3], SKIP)
        pre, old_head = t.compile(), t.head
        result = t.archive(commits[4])

        assert result.summary is None
        # the pinned prompt leaves too; the skipped message was not in the context, so not "replaced"
        assert result.replaced == tuple(c.hash for c in commits[:5] if c is not commits[3])
        assert _contents(t.compile()) == [c.content for c in commits[5:]]
        (record,) = t.compressions()
        assert record.summary_commit is None and record.details["archive"] is True
        assert record.details["replaced"] == list(result.replaced)  # in history order
        assert (record.range_from, record.range_to, record.old_head) == (commits[0].hash, commits[4].hash, old_head)
        assert set(t.archived(result)) == set(result.archived)
        assert t.show(commits[0].hash).content == THERAPY_PROMPT  # originals readable until gc
        assert t.compile(at_commit=old_head).digest == pre.digest

        # archiving may separate a tool call from its result: the caller chose the range
        question = t.user("Which bank pays most?")
        call = t.assistant(tool_calls=[_tool_call("call_1")])
        answer = t.tool_result("call_1", "Bank A 4.1%")
        t.archive(call, from_commit=question)
        assert t.compile().messages[-1]["content"] == answer.content

    def test_archive_everything_leaves_an_empty_branch_that_grows_again(self, factory: TractFactory) -> None:
        t = factory.open()
        _therapy(t, 2)
        first = t.log(limit=None)[0]
        result = t.archive(first.hash)
        assert result.head is None and t.head is None and len(t.compile()) == 0
        assert t.status().branch == "main" and t.status().message_count == 0
        again = t.user("Hello again.")
        assert _contents(t.compile()) == ["Hello again."] and again.parents == ()
        reopened = factory.open(t.tract_id)  # a second instance reads the database afresh
        assert _contents(reopened.compile()) == ["Hello again."]
        assert [r.details.get("archive") for r in reopened.compressions()] == [True]

    def test_archive_bad_input_changes_nothing(self, factory: TractFactory) -> None:
        t = factory.open()
        commits = _therapy(t, 2)
        t.annotate(commits[2], SKIP)
        before = store_snapshot(t)
        with pytest.raises(InvalidInputError, match="empty"):
            t.archive(commits[1], from_commit=commits[3])
        with pytest.raises(InvalidInputError, match="nothing to archive"):
            t.archive(commits[2], from_commit=commits[2])
        with pytest.raises(CommitNotFoundError):
            t.archive("f" * 64)
        assert store_snapshot(t) == before
        empty = factory.open("empty")
        with pytest.raises(InvalidInputError, match="nothing to archive"):
            empty.archive("HEAD")

    def test_keep_recent_zero_compresses_everything_after_the_instructions(self, factory: TractFactory) -> None:
        t = factory.open()
        _therapy(t, 3)
        t.compress(content="Sam is anxious.", keep_recent=0)
        assert _contents(t.compile()) == [THERAPY_PROMPT, "Sam is anxious."]

    def test_stale_and_decided_compressions_cannot_be_approved(self, factory: TractFactory) -> None:
        t = factory.open()
        _therapy(t, 10)
        stale = _pending(t.compress(auto_commit=False, content="A draft of the old history."))
        t.user("Session 10: something new happened.")  # HEAD moves on
        before = store_snapshot(t)
        with pytest.raises(ConcurrentUpdateError, match="HEAD moved"):
            t.approve_compression(stale, content="edited")
        assert store_snapshot(t) == before
        assert [c.status for c in t.compressions()] == ["pending"]

        stale.reject()
        rejected = _pending(t.compress(auto_commit=False, content="A fresh draft."))
        rejected.reject()
        before = store_snapshot(t)
        for decided in (stale, rejected, rejected.id):
            with pytest.raises(ConcurrentUpdateError, match="rejected"):
                t.approve_compression(decided)
        with pytest.raises(ConcurrentUpdateError):
            rejected.reject()
        approved = _pending(t.compress(auto_commit=False, content="A draft to approve."))
        approved.approve()
        after = store_snapshot(t)
        with pytest.raises(ConcurrentUpdateError, match="committed"):
            approved.approve()
        assert store_snapshot(t) == after != before
        assert [c.status for c in t.compressions()] == ["rejected", "rejected", "committed"]

    def test_gc_and_spawn_bad_input_change_nothing(self, factory: TractFactory) -> None:
        t = factory.open()
        t.system("You are a research lead.")
        t.user("Start.")
        child = t.spawn("research")
        child.user("child work")
        before, child_before = store_snapshot(t), store_snapshot(child)
        with pytest.raises(InvalidInputError, match="orphan_retention_days"):
            t.gc(orphan_retention_days=-1)
        with pytest.raises(InvalidInputError, match="archive_retention_days"):
            t.gc(archive_retention_days=-0.5)
        with pytest.raises(InvalidInputError, match="already exists"):
            t.spawn("research")
        assert store_snapshot(t) == before and store_snapshot(child) == child_before
        assert [c.tract_id for c in t.children()] == [child.tract_id]
