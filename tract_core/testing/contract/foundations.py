"""Contract: the foundations (scenarios 1.1–2.3): commits, compile, budgets, edits, annotations."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from ...config import TractConfig
from ...errors import (
    AmbiguousRefError,
    BranchNotFoundError,
    CommitNotFoundError,
    CorruptObjectError,
    EditTargetError,
    InvalidInputError,
    InvalidRoleError,
    TractNotFoundError,
)
from ...objects import EDIT, NORMAL, PINNED, SKIP, ContentType, Priority
from ..factory import TractFactory
from ..llm import ScriptedLLM

__all__ = ["FoundationsContract", "GOLDEN_HISTORY"]

GOLDEN_HISTORY: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a support agent for Acme Shoes."},
    {"role": "user", "content": "How do I return shoes?"},
    {"role": "assistant", "content": "Returns are accepted within 30 days."},
]
"""A fixed history whose hashes are part of the contract: they must never change."""


def _contents(ctx: Any) -> list[Any]:
    return [m["content"] for m in ctx.messages]


def _tool_call(call_id: str, name: str = "lookup_order", arguments: str = '{"order": 42}') -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


class FoundationsContract:
    """Commits, compile, budgets, edits and annotations. Needs the ``factory`` fixture."""

    # -- scenario 1.1: first conversation ------------------------------------------------------

    def test_scenario_1_1_first_conversation_survives_a_restart(self, factory: TractFactory) -> None:
        llm = ScriptedLLM(["Use a list comprehension: [x * 2 for x in xs].", "Use sorted(xs, reverse=True)."])
        t = factory.open()
        t.commit({"role": "system", "content": "You are a coding assistant."})
        t.commit("How do I double every item of a list?", role="user")
        reply = llm(t.compile().to_openai())
        t.commit(reply, role="assistant")
        first = t.compile()
        assert _contents(first) == [
            "You are a coding assistant.",
            "How do I double every item of a list?",
            "Use a list comprehension: [x * 2 for x in xs].",
        ]
        assert [m["role"] for m in llm.prompts[0]] == ["system", "user"]
        head = t.head
        t.close()

        tomorrow = factory.open()
        assert tomorrow.head == head
        assert tomorrow.compile().digest == first.digest
        tomorrow.user("And to sort it descending?")
        tomorrow.assistant(llm(tomorrow.compile().to_openai()))
        assert len(llm.prompts[1]) == 4
        assert _contents(tomorrow.compile())[-1] == "Use sorted(xs, reverse=True)."
        assert tomorrow.status().commit_count == 5

    # -- scenario 1.2: token budget guardrail ---------------------------------------------------

    def test_scenario_1_2_status_before_the_call_and_real_usage_after(self, factory: TractFactory) -> None:
        t = factory.open(config=TractConfig(token_budget=128_000))
        t.system("You are a helpful chatbot.")
        t.user("Summarise the plot of Hamlet in one sentence.")
        before = t.status()
        assert before.token_budget == 128_000
        assert 0 < before.token_count < 100
        assert before.budget_ratio == pytest.approx(before.token_count / 128_000)
        assert before.remaining_tokens == 128_000 - before.token_count
        assert not before.over_budget
        assert before.last_usage is None

        t.assistant("A prince avenges his father's murder and nearly everyone dies.")
        t.record_usage({"prompt_tokens": 31, "completion_tokens": 14, "total_tokens": 45})
        after = t.status()
        assert after.last_usage is not None
        assert (after.last_usage.prompt_tokens, after.last_usage.completion_tokens) == (31, 14)
        assert after.token_count > before.token_count  # the estimate is kept beside the real numbers
        assert t.show("HEAD").usage == after.last_usage

    def test_budget_ratio_flags_a_context_over_budget(self, factory: TractFactory) -> None:
        t = factory.open(config=TractConfig(token_budget=50))
        t.system("Be brief.")
        t.user("word " * 80)
        status = t.status()
        assert status.over_budget and status.budget_ratio is not None and status.budget_ratio > 1
        assert status.remaining_tokens is not None and status.remaining_tokens < 0

    # -- scenario 1.3: atomic multi-turn exchange -----------------------------------------------

    def test_scenario_1_3_batch_lands_together_with_its_generation_config(self, factory: TractFactory) -> None:
        t = factory.open()
        t.system("Answer from the retrieved documents.")
        with t.batch():
            docs = t.commit(
                {"role": "user", "content": "[doc 7] Returns: 30 days with receipt."}, content_type="retrieval"
            )
            t.user("Do I need the receipt?")
            reply = t.assistant("Yes, keep the receipt.", generation_config={"model": "gpt-4o", "temperature": 0.7})
        assert t.status().commit_count == 4
        assert t.show(docs).content_type == ContentType.RETRIEVAL
        assert t.show(reply).generation_config == {"model": "gpt-4o", "temperature": 0.7}

        head = t.head
        with pytest.raises(RuntimeError, match="retriever crashed"), t.batch():
            t.commit({"role": "user", "content": "[doc 9] partial"}, content_type="retrieval")
            t.user("And shipping?")
            raise RuntimeError("retriever crashed")
        assert t.head == head
        assert t.status().commit_count == 4
        assert [c.hash for c in t.log()][0] == head
        reopened = factory.open()
        assert reopened.status().commit_count == 4

    def test_batch_compiles_its_own_uncommitted_work_and_nests(self, factory: TractFactory) -> None:
        t = factory.open()
        with t.batch():
            t.user("one")
            with t.batch():
                t.assistant("two")
            assert _contents(t.compile()) == ["one", "two"]
        assert _contents(factory.open().compile()) == ["one", "two"]

    # -- scenario 2.1: correcting a hallucination ----------------------------------------------

    def test_scenario_2_1_edit_replaces_in_place_and_keeps_the_original(self, factory: TractFactory) -> None:
        t = factory.open()
        t.system("You are the Acme support agent.")
        t.user("What is the return policy?")
        wrong = t.assistant("You can return items within 60 days.")
        t.user("Great, thanks!")
        fix = t.commit("You can return items within 30 days.", role="assistant", operation=EDIT, response_to=wrong.hash)

        ctx = t.compile()
        assert _contents(ctx) == [
            "You are the Acme support agent.",
            "What is the return policy?",
            "You can return items within 30 days.",
            "Great, thanks!",
        ]
        assert ctx.commit_hashes[2] == wrong.hash  # same position, same message identity
        assert t.show(wrong).content == "You can return items within 60 days."
        assert t.show(fix).response_to == wrong.hash
        assert "60 days" in _contents(t.compile(at_commit=fix.parents[0]))[2]

    def test_edit_accepts_a_prefix_and_a_later_edit_wins(self, factory: TractFactory) -> None:
        t = factory.open()
        t.user("Q")
        answer = t.assistant("draft 1")
        t.commit("draft 2", operation=EDIT, response_to=answer.hash[:10])
        t.commit({"role": "assistant", "content": "draft 3"}, operation="edit", response_to=answer)
        assert _contents(t.compile()) == ["Q", "draft 3"]

    def test_edit_must_keep_the_role(self, factory: TractFactory) -> None:
        t = factory.open()
        answer = t.assistant("draft")
        with pytest.raises(EditTargetError, match="role"):
            t.commit("user text", role="user", operation=EDIT, response_to=answer)
        assert t.status().commit_count == 1

    # -- scenario 2.2: pinning instructions, hiding noise ---------------------------------------

    def test_scenario_2_2_pin_instructions_and_skip_noisy_tool_output(self, factory: TractFactory) -> None:
        t = factory.open()
        system = t.system("Cite clauses as [§n]. Never give legal advice.")
        t.user("Review clause 4 of the lease.")
        call = t.assistant(tool_calls=[_tool_call("call_1", "fetch_clause", '{"n": 4}')])
        noisy = t.tool_result("call_1", "SELECT * FROM clauses ...\n" + "row " * 300)
        t.assistant("Clause 4 [§4] limits subletting.")
        before_skip = t.head

        t.annotate(system, PINNED, reason="formatting rules must survive compression")
        t.annotate(noisy, SKIP, reason="verbose database dump")
        ctx = t.compile()
        assert "row row" not in json.dumps(ctx.messages)
        assert all(m.get("tool_calls") is None for m in ctx.messages)  # the call goes with its result
        assert ctx.messages[0]["content"].startswith("Cite clauses")
        assert call.hash not in ctx.commit_hashes and noisy.hash not in ctx.commit_hashes

        # preserved for audit: in the log, in show(), and in what the model saw before the skip
        assert noisy.hash in [c.hash for c in t.log(limit=None)]
        shown = t.show(noisy)
        assert "row row" in shown.content
        assert [(a.priority, a.reason) for a in shown.annotations] == [(SKIP, "verbose database dump")]
        # annotations apply from the HEAD they were made on; the commit before still shows the dump
        assert "row row" in json.dumps(t.compile(at_commit=f"{before_skip}~1").messages)
        assert t.show(system).annotations[-1].priority is PINNED

    def test_annotations_latest_wins_and_normal_restores(self, factory: TractFactory) -> None:
        t = factory.open()
        note = t.user("aside")
        t.assistant("ok")
        t.annotate(note, SKIP)
        assert "aside" not in _contents(t.compile())
        t.annotate(note, NORMAL, reason="needed after all")
        assert "aside" in _contents(t.compile())
        assert [a.priority for a in t.show(note).annotations] == [SKIP, NORMAL]

    def test_instructions_are_pinned_by_default(self, factory: TractFactory) -> None:
        from ...compile import default_priority

        assert default_priority(ContentType.INSTRUCTION) is Priority.PINNED
        assert default_priority(ContentType.DIALOGUE) is Priority.NORMAL
        t = factory.open()
        assert t.system("rules").content_type == ContentType.INSTRUCTION

    def test_annotation_applies_from_the_head_it_was_made_on(self, factory: TractFactory) -> None:
        t = factory.open()
        first = t.user("first")
        second = t.assistant("second")
        t.annotate(first, SKIP)
        third = t.user("third")
        assert _contents(t.compile()) == ["second", "third"]
        assert _contents(t.compile(at_commit=second)) == ["second"]  # annotated while HEAD was here
        assert _contents(t.compile(at_commit=first)) == ["first"]  # before: what the model saw then

        # a line of history that already went on from an older commit is not affected
        t.checkout(first)
        t.annotate(first, PINNED)
        assert _contents(t.compile(at_commit=third)) == ["second", "third"]

    # -- scenario 2.3: debugging a bad response -------------------------------------------------

    def test_scenario_2_3_reconstruct_exactly_what_the_model_saw(self, factory: TractFactory) -> None:
        replies = [f"answer {i}" for i in range(16)]
        replies[9] = "The report shows revenue of $9 trillion."  # the terrible answer
        llm = ScriptedLLM(replies)
        t = factory.open()
        t.system("You write quarterly reports.")
        answers = []
        for turn in range(16):
            t.user(f"question {turn}" if turn != 8 else "Use this data: revenue=9e12 (bad feed)")
            answers.append(t.assistant(llm(t.compile().to_openai())))
        bad = answers[9]
        now = t.head

        log = t.log(limit=None)
        assert [c.hash for c in log][0] == now and log[-1].role == "system"
        suspect = next(c for c in log if c.content == "The report shows revenue of $9 trillion.")
        assert suspect.hash == bad.hash

        then = t.checkout(bad.parents[0])
        assert t.status().detached
        seen = t.compile()
        assert seen.messages == llm.prompts[9]  # byte for byte what the model received
        assert t.compile(at_commit=bad.parents[0]).digest == seen.digest

        changes = t.diff(then, now)
        assert [c.kind for c in changes.changes] == ["added"] * len(changes.changes)
        assert changes.added[0].after == {"role": "assistant", "content": "The report shows revenue of $9 trillion."}
        assert len(changes.added) == 1 + 2 * 6
        assert changes.token_delta > 0

        t.checkout("main")
        assert t.head == now and not t.status().detached

    # -- commit inputs -------------------------------------------------------------------------

    def test_commit_accepts_dicts_strings_and_framework_messages(self, factory: TractFactory) -> None:
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
        from llama_index.core.llms import ChatMessage

        t = factory.open()
        t.commit(SystemMessage("Be terse."))
        t.commit(HumanMessage("Where is order 42?"))
        t.commit(AIMessage("", tool_calls=[{"name": "lookup_order", "args": {"order": 42}, "id": "c1"}]))
        t.commit(ToolMessage("shipped", tool_call_id="c1"))
        t.commit(ChatMessage(role="assistant", content="It has shipped."))
        t.commit({"role": "user", "content": [{"type": "text", "text": "Thanks"}]})
        messages = t.compile().messages
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant", "user"]
        assert messages[2]["tool_calls"][0]["function"] == {"name": "lookup_order", "arguments": '{"order": 42}'}
        assert messages[3] == {"role": "tool", "content": "shipped", "tool_call_id": "c1"}

        lc = t.compile().to_langchain()
        assert isinstance(lc[1], HumanMessage) and lc[2].tool_calls[0]["args"] == {"order": 42}
        li = t.compile().to_llamaindex()
        assert li[4].content == "It has shipped." and li[3].additional_kwargs["tool_call_id"] == "c1"

    def test_bad_messages_are_refused_and_nothing_is_written(self, factory: TractFactory) -> None:
        t = factory.open()
        t.user("hello")
        head = t.head
        with pytest.raises(InvalidRoleError, match="role"):
            t.commit("no role given")
        with pytest.raises(InvalidRoleError, match="narrator"):
            t.commit("text", role="narrator")
        with pytest.raises(InvalidInputError, match="JSON"):
            t.user("x", metadata={"when": object()})
        with pytest.raises(InvalidInputError, match="tool_call_id"):
            t.commit({"role": "tool", "content": "orphan"})
        with pytest.raises(InvalidInputError):
            t.commit(12345, role="user")
        with pytest.raises(InvalidInputError, match="response_to"):
            t.user("x", response_to=head)
        with pytest.raises(EditTargetError):
            t.commit("x", operation=EDIT, response_to="0" * 64)
        assert t.head == head and t.status().commit_count == 1

    # -- identity: content addressing and reproducible hashes ----------------------------------

    def test_same_history_same_hashes_in_any_tract_and_run(self, factory: TractFactory) -> None:
        a = factory.open("support-a")
        b = factory.open("support-b")
        for t in (a, b):
            for message in GOLDEN_HISTORY:
                t.commit(message)
        assert [c.hash for c in a.log()] == [c.hash for c in b.log()]
        assert a.compile().digest == b.compile().digest
        # pinned values: the encoding is part of the contract, on every backend and machine
        assert a.head == "f1a64919d8ec605ec3a63f23810d5fcdfca02d4251f8ed584ce7cccf36747429"
        assert a.compile().digest == "ca26807d7e21687aa2f37c773f4a02210f3accdce6ce6be934a6afdb66ee42aa"

    def test_one_blob_per_distinct_message_across_tracts(self, factory: TractFactory) -> None:
        a = factory.open("a")
        b = factory.open("b")
        a.system("Shared instructions.")
        b.system("Shared instructions.")
        b.user("Only in b.")
        from sqlalchemy import func, select

        from ...store.schema import BLOBS

        with a.store.read() as session:
            blobs = session.conn.execute(select(func.count()).select_from(BLOBS)).scalar_one()
        assert blobs == 2

    def test_many_tracts_in_one_database_are_isolated(self, factory: TractFactory) -> None:
        alpha = factory.open("alpha")
        beta = factory.open("beta")
        alpha.user("in alpha")
        beta.user("in beta")
        beta.assistant("still beta")
        assert _contents(alpha.compile()) == ["in alpha"]
        assert _contents(beta.compile()) == ["in beta", "still beta"]
        with pytest.raises(CommitNotFoundError):
            alpha.show(beta.head)
        assert {"alpha", "beta"} <= set(_list_tracts(alpha))

    # -- naming commits ------------------------------------------------------------------------

    def test_commit_references(self, factory: TractFactory) -> None:
        t = factory.open()
        first = t.user("one")
        second = t.assistant("two")
        third = t.user("three")
        assert t.show(first.hash).hash == first.hash
        assert t.show(first.hash[:8]).hash == first.hash
        assert t.show(first).hash == first.hash
        assert t.show("main").hash == third.hash
        assert t.show("HEAD").hash == third.hash
        assert t.show("HEAD~1").hash == second.hash
        assert t.show("HEAD~2").hash == first.hash
        assert t.show("HEAD^^").hash == first.hash
        assert t.show("main~1").hash == second.hash
        with pytest.raises(CommitNotFoundError, match="past the first commit"):
            t.show("HEAD~3")
        with pytest.raises(CommitNotFoundError):
            t.show("0" * 64)
        with pytest.raises(BranchNotFoundError, match="neither a branch"):
            t.show("no-such-branch")
        with pytest.raises(InvalidInputError, match="too short"):
            t.show("ab")

    def test_ambiguous_prefix_lists_the_candidates(self, factory: TractFactory) -> None:
        t = factory.open()
        hashes = [t.user(f"message {i}").hash for i in range(1000)]
        by_prefix: dict[str, list[str]] = {}
        for h in hashes:
            by_prefix.setdefault(h[:4], []).append(h)
        prefix, matches = next((p, m) for p, m in sorted(by_prefix.items()) if len(m) > 1)
        with pytest.raises(AmbiguousRefError) as raised:
            t.show(prefix)
        assert raised.value.candidates == sorted(matches)
        assert matches[0][:12] in str(raised.value)

    # -- compile -------------------------------------------------------------------------------

    def test_compiled_context_is_immutable_and_safe_to_mutate(self, factory: TractFactory) -> None:
        t = factory.open()
        t.user([{"type": "text", "text": "look"}])
        t.assistant("ok")
        ctx = t.compile()
        messages = ctx.messages  # a fresh list of read-only messages
        with pytest.raises(TypeError, match="deepcopy"):
            messages[0]["content"][0]["text"] = "tampered"
        messages.append({"role": "user", "content": "injected"})
        with pytest.raises(TypeError, match="read-only"):
            ctx.to_openai()[1]["content"] = "tampered too"
        mutable = copy.deepcopy(ctx.messages)
        mutable[0]["content"][0]["text"] = "tampered"
        mutable[1]["content"] = "tampered too"
        assert _contents(t.compile()) == [[{"type": "text", "text": "look"}], "ok"]
        assert _contents(ctx) == [[{"type": "text", "text": "look"}], "ok"]
        with pytest.raises(AttributeError):
            name = "token_count"  # assigned by name: type checkers know the context is read-only too
            setattr(ctx, name, 0)

    def test_compile_is_deterministic_and_matches_a_cold_recompile(self, factory: TractFactory) -> None:
        t = factory.open()
        t.system("rules")
        for i in range(30):
            t.user(f"q{i}")
            answer = t.assistant(f"a{i}")
            if i % 7 == 3:
                t.commit(f"a{i} (fixed)", operation=EDIT, response_to=answer)
            if i % 5 == 1:
                t.annotate(answer, SKIP)
        warm = t.compile()
        cold = factory.open().compile()
        assert warm.canonical_bytes() == cold.canonical_bytes()
        assert warm.digest == cold.digest == t.compile().digest
        assert warm.token_count == cold.token_count
        assert len(warm) == 1 + 30 + 30 - 6

    def test_anthropic_export_splits_system_and_merges_roles(self, factory: TractFactory) -> None:
        t = factory.open()
        t.system("Rules one.")
        t.system("Rules two.")
        t.user("Where is order 42?")
        t.user("It was due Monday.")
        t.assistant("Let me check.", tool_calls=[_tool_call("toolu_1")])
        t.tool_result("toolu_1", "shipped Friday")
        t.assistant("It shipped on Friday.")
        exported = t.compile().to_anthropic()
        assert exported["system"] == "Rules one.\n\nRules two."
        roles = [m["role"] for m in exported["messages"]]
        assert roles == ["user", "assistant", "user", "assistant"]
        assert exported["messages"][0]["content"] == [
            {"type": "text", "text": "Where is order 42?"},
            {"type": "text", "text": "It was due Monday."},
        ]
        assert exported["messages"][1]["content"][1] == {
            "type": "tool_use",
            "id": "toolu_1",
            "name": "lookup_order",
            "input": {"order": 42},
        }
        assert exported["messages"][2]["content"] == [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "shipped Friday"}
        ]
        assert exported["messages"][3]["content"] == "It shipped on Friday."

    def test_token_count_tracks_the_visible_messages(self, factory: TractFactory) -> None:
        t = factory.open()
        assert t.compile().token_count == 0 and len(t.compile()) == 0
        t.user("hello there")
        one = t.compile().token_count
        noise = t.user("lorem ipsum " * 50)
        two = t.compile().token_count
        assert two > one + 50
        t.annotate(noise, SKIP)
        assert t.compile().token_count == one
        assert t.status().token_count == one

    # -- history -------------------------------------------------------------------------------

    def test_log_show_and_reflog(self, factory: TractFactory) -> None:
        t = factory.open()
        commits = [t.user(f"m{i}", metadata={"turn": i}, commit_message=f"turn {i}") for i in range(5)]
        log = t.log(limit=3)
        assert [c.hash for c in log] == [c.hash for c in reversed(commits)][:3]
        assert log[0].metadata == {"turn": 4} and log[0].message == "turn 4"
        assert len(t.log(limit=None)) == 5 and t.log(limit=0) == []
        shown = t.show(commits[2])
        assert shown.content == "m2" and shown.parents == (commits[1].hash,)
        assert shown.token_count and shown.token_count > 3
        t.checkout(commits[0])
        t.checkout("main")
        moves = t.reflog()
        assert moves[0].action.startswith("checkout: moving to main")
        assert moves[1].new == commits[0].hash and moves[1].ref == "HEAD"
        assert [m.new for m in moves if m.ref == "main"] == [c.hash for c in reversed(commits)]

    def test_detached_head_commits_and_the_way_back(self, factory: TractFactory) -> None:
        t = factory.open()
        first = t.user("first")
        t.assistant("second")
        main_tip = t.head
        t.checkout(first)
        side = t.assistant("alternative second")
        assert t.status().branch is None and t.head == side.hash
        assert _contents(t.compile()) == ["first", "alternative second"]
        t.checkout("main")
        assert t.head == main_tip
        assert _contents(t.compile()) == ["first", "second"]
        assert t.show(side.hash).content == "alternative second"  # still reachable by hash

    def test_diff_reports_added_removed_and_changed(self, factory: TractFactory) -> None:
        t = factory.open()
        t.system("rules")
        question = t.user("What is 2+2?")
        answer = t.assistant("5")
        before = t.head
        t.commit("4", operation=EDIT, response_to=answer)
        t.annotate(question, SKIP)
        t.user("Thanks")
        diff = t.diff(before)
        removed, changed = diff.removed[0], diff.changed[0]
        assert removed.before is not None and changed.before is not None and changed.after is not None
        assert [c.kind for c in diff.removed] == ["removed"] and removed.before["content"] == "What is 2+2?"
        assert changed.before["content"] == "5" and changed.after["content"] == "4"
        assert "-5" in diff.changed[0].unified and "+4" in diff.changed[0].unified
        assert diff.added[0].after == {"role": "user", "content": "Thanks"}
        assert "tokens:" in diff.render()
        assert t.diff("HEAD", "HEAD").is_empty

    # -- usage ---------------------------------------------------------------------------------

    def test_record_usage_accepts_provider_shapes(self, factory: TractFactory) -> None:
        from langchain_core.messages import AIMessage

        t = factory.open()
        t.user("hi")
        t.assistant("hello")
        openai = t.record_usage(
            {"prompt_tokens": 10, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 4}}
        )
        assert (openai.prompt_tokens, openai.total_tokens, openai.cache_read_tokens) == (10, 13, 4)
        anthropic = t.record_usage(
            {"input_tokens": 5, "output_tokens": 7, "cache_read_input_tokens": 20, "cache_creation_input_tokens": 2}
        )
        assert (anthropic.prompt_tokens, anthropic.completion_tokens, anthropic.source) == (27, 7, "anthropic")
        message = AIMessage("hello", usage_metadata={"input_tokens": 12, "output_tokens": 2, "total_tokens": 14})
        langchain = t.record_usage(message)
        assert (langchain.prompt_tokens, langchain.source) == (12, "langchain")
        manual = t.record_usage(prompt_tokens=9, completion_tokens=1, commit="HEAD~1")
        assert t.show("HEAD~1").usage == manual
        assert t.status().last_usage == langchain
        with pytest.raises(InvalidInputError, match="negative"):
            t.record_usage(prompt_tokens=-1, completion_tokens=0)
        with pytest.raises(InvalidInputError):
            t.record_usage({"tokens": 3})
        assert t.status().last_usage == langchain

    # -- configuration and opening -------------------------------------------------------------

    def test_config_is_saved_with_the_tract(self, factory: TractFactory) -> None:
        factory.open("cfg", config=TractConfig(token_budget=4_000, model="gpt-4"))
        assert factory.open("cfg").status().token_budget == 4_000
        factory.open("cfg", config=TractConfig(token_budget=8_000))
        again = factory.open("cfg")
        assert again.config.token_budget == 8_000 and again.config.model is None

    def test_opening_a_missing_tract_without_create_fails_clearly(self, factory: TractFactory) -> None:
        existing = factory.open("exists")
        with pytest.raises(TractNotFoundError, match="exists"):
            factory.open("missing", create=False)
        assert "missing" not in _list_tracts(existing)

    def test_verify_detects_tampering(self, factory: TractFactory) -> None:
        t = factory.open()
        t.user("original")
        t.assistant("reply")
        assert t.verify() == 4
        with t.store.write() as session:
            session.conn.exec_driver_sql("UPDATE tract_blobs SET content = REPLACE(content, 'original', 'forged')")
        with pytest.raises(CorruptObjectError, match="does not match"):
            t.verify()
        with pytest.raises(CorruptObjectError):
            t.show("HEAD~1")


def _list_tracts(tract: Any) -> list[str]:
    with tract.store.read() as session:
        return [t.tract_id for t in session.tracts.list()]
