"""Provider bytes and prompt-cache awareness (DESIGN 14, 17).

The request bodies tract builds for OpenAI, Anthropic and Gemini are checked with the providers'
own SDK types (their request TypedDicts and google-genai's pydantic models; no network), on a fixed
rich conversation and on random ones; ``to_bytes`` is identical for identical contexts on two
backends. Then ``stable_prefix``, ``status().cached_prefix_tokens``, Anthropic cache breakpoints and
the cache clause of compression reasons.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import MessageParam, TextBlockParam
from google.genai import types as genai
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletionMessageParam
from pydantic import TypeAdapter

from tract_core import EDIT, SKIP, CompiledContext, InvalidInputError, Tract, TractConfig
from tract_core.formats.gemini import to_gemini
from tract_core.orchestrator import OrchestratorConfig
from tract_core.policies import CompressPolicy, cached_prefix_lost

FORMATS = ("openai", "anthropic", "gemini", "langchain", "llamaindex")
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg=="
EPHEMERAL = {"type": "ephemeral"}

OPENAI_MESSAGES = TypeAdapter(list[ChatCompletionMessageParam])
ANTHROPIC_MESSAGES = TypeAdapter(list[MessageParam])
ANTHROPIC_SYSTEM = TypeAdapter(str | list[TextBlockParam])
GEMINI_CONTENTS = TypeAdapter(list[genai.Content])


def _plain(value: Any) -> Any:
    """``value`` with the SDK TypedDicts' lazily validated iterables drawn out (validating them)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return value
    return [_plain(v) for v in value]


def check_openai(messages: list[dict[str, Any]]) -> None:
    # TypedDict validation drops unknown keys, so equality after validation also catches a stray key
    assert _plain(OPENAI_MESSAGES.validate_python(messages)) == messages


def check_anthropic(body: dict[str, Any]) -> None:
    assert set(body) in ({"system", "messages"}, {"messages"})
    if "system" in body:
        assert _plain(ANTHROPIC_SYSTEM.validate_python(body["system"])) == body["system"]
    assert _plain(ANTHROPIC_MESSAGES.validate_python(body["messages"])) == body["messages"]
    roles = [turn["role"] for turn in body["messages"]]
    assert all(a != b for a, b in zip(roles, roles[1:], strict=False)), "roles must alternate"
    marks = json.dumps(body).count('"cache_control"')
    assert marks <= 4


def check_gemini(body: dict[str, Any]) -> None:
    assert set(body) <= {"system_instruction", "contents"}
    if "system_instruction" in body:  # what GenerateContentConfig(system_instruction=...) takes
        config = genai.GenerateContentConfig.model_validate_json(
            json.dumps({"system_instruction": body["system_instruction"]})
        )  # extra="forbid" in the SDK
        assert config.system_instruction is not None
        system = genai.Content.model_validate_json(json.dumps(body["system_instruction"]))
        assert system.model_dump(mode="json", exclude_none=True) == body["system_instruction"]
    contents = GEMINI_CONTENTS.validate_json(json.dumps(body["contents"]))  # base64 data decodes
    assert [c.model_dump(mode="json", exclude_none=True) for c in contents] == body["contents"]
    roles = [c.role for c in contents]
    assert set(roles) <= {"user", "model"}
    assert all(a != b for a, b in zip(roles, roles[1:], strict=False)), "roles must alternate"
    assert all(c.parts for c in contents), "Gemini rejects a turn without parts"


def _call(call_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def rich(t: Tract) -> Tract:
    """System, a greeting later compressed into a summary, an image message, two tool calls and
    their results, a system message mid-conversation and an edited last question."""
    t.system("You are a travel agent.")
    t.user("Hi")
    greeting = t.assistant("Hello! Where to?")
    t.user(
        [
            {"type": "text", "text": "Paris, like this:"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/eiffel.jpg"}},
        ]
    )
    calls = [_call("call_w", "weather", {"city": "Paris"}), _call("call_f", "flights", {"from": "NYC", "to": "CDG"})]
    t.assistant("Let me check.", tool_calls=calls)
    t.tool_result("call_w", '{"sky": "sunny", "celsius": 21}')
    t.tool_result("call_f", "3 flights from $400")
    t.assistant("Sunny, 21 C; flights from $400.")
    t.system("Policy: confirm before booking.")
    t.user("Book it")
    t.compress(content="The user said hi; the agent asked where to.", to_commit=greeting.hash)
    t.commit("Book the cheapest one", operation=EDIT, response_to=t.compile().commit_hashes[-1])
    return t


RICH_GEMINI = {
    "system_instruction": {
        "parts": [{"text": "You are a travel agent."}, {"text": "The user said hi; the agent asked where to."}]
    },
    "contents": [
        {
            "role": "user",
            "parts": [
                {"text": "Paris, like this:"},
                {"inline_data": {"mime_type": "image/png", "data": PIXEL}},
                {"file_data": {"file_uri": "https://example.com/eiffel.jpg", "mime_type": "image/jpeg"}},
            ],
        },
        {
            "role": "model",
            "parts": [
                {"text": "Let me check."},
                {"function_call": {"name": "weather", "args": {"city": "Paris"}}},
                {"function_call": {"name": "flights", "args": {"from": "NYC", "to": "CDG"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"function_response": {"name": "weather", "response": {"sky": "sunny", "celsius": 21}}},
                {"function_response": {"name": "flights", "response": {"output": "3 flights from $400"}}},
            ],
        },
        {"role": "model", "parts": [{"text": "Sunny, 21 C; flights from $400."}]},
        {"role": "user", "parts": [{"text": "Policy: confirm before booking."}, {"text": "Book the cheapest one"}]},
    ],
}


# -- shapes -------------------------------------------------------------------------------------


def test_a_rich_conversation_is_valid_for_each_provider_sdk_and_gemini_gets_the_documented_shape() -> None:
    with Tract.open() as t:
        context = rich(t).compile()
        assert context.to_gemini() == RICH_GEMINI
        check_gemini(context.to_gemini())
        check_openai(context.to_openai())
        for breakpoints in (None, "auto", [2, 4, 6, 8]):
            check_anthropic(context.to_anthropic(cache_breakpoints=breakpoints))
        for fmt in FORMATS:
            assert json.loads(context.to_bytes(fmt)) is not None


def test_to_bytes_is_the_same_for_the_same_conversation_on_two_backends(tmp_path) -> None:
    with Tract.open() as memory, Tract.open(path=tmp_path / "t.db") as sqlite:
        one, two = rich(memory).compile(), rich(sqlite).compile()
        for fmt in FORMATS:
            data = one.to_bytes(fmt)
            assert data == two.to_bytes(fmt) == one.to_bytes(fmt), fmt
            assert (
                data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            )
        assert json.loads(one.to_bytes("gemini")) == RICH_GEMINI
        assert json.loads(one.to_bytes("anthropic")) == one.to_anthropic()
        # the framework bodies round-trip through the frameworks' own loaders
        from langchain_core.messages import messages_from_dict
        from llama_index.core.llms import ChatMessage

        assert messages_from_dict(json.loads(one.to_bytes("langchain"))["messages"]) == one.to_langchain()
        loaded = [ChatMessage.model_validate(m) for m in json.loads(one.to_bytes("llamaindex"))["messages"]]
        assert loaded == one.to_llamaindex()


def test_an_unknown_format_names_the_five_known_ones() -> None:
    with Tract.open() as t:
        t.user("Hi")
        with pytest.raises(InvalidInputError, match="anthropic, gemini, langchain, llamaindex, openai"):
            t.compile().to_bytes("cohere")


def test_gemini_names_a_tool_result_after_its_call_and_keeps_non_object_arguments() -> None:
    body = to_gemini(
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "tool_calls": [_call("a", "ls", {})]},
            {"role": "assistant", "content": None, "tool_calls": [_call("b", "pwd", {})]},
            {"role": "tool", "tool_call_id": "b", "content": "[1, 2]"},
            {"role": "tool", "tool_call_id": "a", "content": "{}"},
            {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "x", "arguments": "[1]"}}]},
        ]
    )
    assert body == {
        "contents": [
            {"role": "user", "parts": [{"text": "go"}]},
            {
                "role": "model",
                "parts": [
                    {"function_call": {"name": "ls", "args": {}}},
                    {"function_call": {"name": "pwd", "args": {}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"function_response": {"name": "pwd", "response": {"output": "[1, 2]"}}},
                    {"function_response": {"name": "ls", "response": {}}},
                ],
            },
            {"role": "model", "parts": [{"function_call": {"name": "x", "args": {"arguments": [1]}}}]},
        ]
    }
    check_gemini(body)


texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("user"), texts, st.booleans()),
        st.tuples(st.just("assistant"), texts, st.integers(0, 2)),
        st.tuples(st.just("tools"), texts, st.integers(1, 3)),
        st.tuples(st.just("system"), texts, st.booleans()),
        st.tuples(st.just("edit"), texts, st.integers(0, 30)),
        st.tuples(st.just("skip"), texts, st.integers(0, 30)),
    ),
    min_size=1,
    max_size=12,
)


def build(t: Tract, plan: list[tuple[str, str, Any]]) -> CompiledContext:
    """A conversation from a random plan: tool calls always get their results."""
    counter = iter(range(1000))
    for kind, text, n in plan:
        if kind == "user":
            image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}
            t.user([{"type": "text", "text": text}, image] if n else text)
        elif kind in ("assistant", "tools"):
            ids = [f"call_{next(counter)}" for _ in range(n)]
            args = {"q": text, "n": len(ids)}
            calls = [_call(i, f"tool_{i[-1]}", args) for i in ids]
            t.assistant(text if kind == "assistant" else None, tool_calls=calls or None)
            for i in ids:
                t.tool_result(i, json.dumps({"answer": text}) if n % 2 else text)
        elif kind == "system":
            t.system(text)
        else:
            messages = t.compile()
            if not len(messages):
                continue
            target = messages.commit_hashes[n % len(messages)]
            if kind == "skip":
                t.annotate(target, SKIP)
            elif messages.messages[n % len(messages)]["role"] in ("user", "system"):
                t.commit(text, operation=EDIT, response_to=target)
    return t.compile()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=steps)
def test_random_conversations_are_valid_for_each_provider_sdk_and_their_bytes_are_stable(plan) -> None:
    with Tract.open() as one, Tract.open() as two:
        context = build(one, plan)
        check_openai(context.to_openai())
        check_anthropic(context.to_anthropic())
        check_anthropic(context.to_anthropic(cache_breakpoints="auto"))
        check_gemini(context.to_gemini())
        again = build(two, plan)
        for fmt in ("openai", "anthropic", "gemini"):
            assert context.to_bytes(fmt) == again.to_bytes(fmt)


# -- Anthropic cache breakpoints ----------------------------------------------------------------


def small(t: Tract) -> CompiledContext:
    t.system("Be brief.")
    t.user("What is 2 + 2?")
    t.assistant("4", tool_calls=[_call("c1", "calc", {"x": "2+2"})])
    t.tool_result("c1", "4")
    t.assistant("It is 4.")
    t.user("And 3 + 3?")
    return t.compile()


SMALL = {
    "system": "Be brief.",
    "messages": [
        {"role": "user", "content": "What is 2 + 2?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "4"},
                {"type": "tool_use", "id": "c1", "name": "calc", "input": {"x": "2+2"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1", "content": "4"}]},
        {"role": "assistant", "content": "It is 4."},
        {"role": "user", "content": "And 3 + 3?"},
    ],
}


def test_without_breakpoints_the_anthropic_body_is_unchanged() -> None:
    with Tract.open() as t:
        context = small(t)
        assert context.to_anthropic() == context.to_anthropic(cache_breakpoints=None) == SMALL
        assert json.loads(context.to_bytes("anthropic")) == SMALL


def test_auto_breakpoints_mark_the_system_prompt_and_the_end_of_the_last_sealed_cycle() -> None:
    with Tract.open() as t:
        body = small(t).to_anthropic(cache_breakpoints="auto")
    assert body["system"] == [{"type": "text", "text": "Be brief.", "cache_control": EPHEMERAL}]
    assert body["messages"][3] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "It is 4.", "cache_control": EPHEMERAL}],
    }
    assert {**body, "system": SMALL["system"]} != SMALL  # the mark is there...
    body["messages"][3]["content"] = "It is 4."
    assert {**body, "system": SMALL["system"]} == SMALL  # ...and nothing else moved
    check_anthropic(body)


def test_listed_breakpoints_mark_those_messages_last_blocks() -> None:
    with Tract.open() as t:
        context = small(t)
        body = context.to_anthropic(cache_breakpoints=[0, 2, -1])
        assert body["system"][0]["cache_control"] == EPHEMERAL
        assert body["messages"][1]["content"][-1] == {
            "type": "tool_use",
            "id": "c1",
            "name": "calc",
            "input": {"x": "2+2"},
            "cache_control": EPHEMERAL,
        }
        assert body["messages"][4]["content"] == [{"type": "text", "text": "And 3 + 3?", "cache_control": EPHEMERAL}]
        assert json.dumps(body).count("cache_control") == 3
        check_anthropic(body)
        with Tract.open() as bare:  # no system prompt, no assistant yet: auto marks nothing
            bare.user("Hi")
            assert bare.compile().to_anthropic(cache_breakpoints="auto") == bare.compile().to_anthropic()
        for bad, message in (
            ([0, 1, 2, 3, 4], "at most 4 cache breakpoints"),
            ([6], "has 6 messages"),
            ("everywhere", "'auto', None or a list"),
            ([True], "names message True"),
        ):
            with pytest.raises(InvalidInputError, match=message):
                context.to_anthropic(cache_breakpoints=bad)


# -- stable prefix and status -------------------------------------------------------------------


def sizes(context: CompiledContext) -> list[int]:
    return [tokens for _, _, _, tokens, _ in context.outline()]


def conversation(t: Tract, turns: int = 4) -> list[str]:
    hashes = [t.system("You answer questions about the solar system.").hash]
    for i in range(turns):
        hashes.append(t.user(f"Question {i}: how far is planet {i} from the sun?").hash)
        hashes.append(t.assistant(f"Planet {i} is about {i + 1} astronomical units away.").hash)
    return hashes


def test_after_an_append_the_whole_previous_context_is_a_stable_prefix() -> None:
    with Tract.open() as t:
        conversation(t)
        before = t.compile()
        t.user("And the moon?")
        after = t.compile()
        assert after.stable_prefix(before) == sum(sizes(before)) == before.token_count - 3  # minus reply priming
        assert before.stable_prefix(after) == sum(sizes(before))  # symmetric in what is shared
        assert after.stable_prefix(after) == sum(sizes(after)) and after.stable_prefix(None) == 0
        assert t.status().cached_prefix_tokens == sum(sizes(before))


def test_after_an_early_edit_or_skip_the_prefix_stops_before_the_changed_message() -> None:
    with Tract.open() as t:
        hashes = conversation(t)
        before = t.compile()
        t.commit("Question 1: how far is Venus from the sun?", operation=EDIT, response_to=hashes[3])
        edited = t.compile()
        assert edited.stable_prefix(before) == sum(sizes(before)[:3])
        assert t.status().cached_prefix_tokens == sum(sizes(before)[:3])
        t.annotate(hashes[1], SKIP)  # an annotation is not a commit: status compares with the commit before
        assert t.compile().stable_prefix(edited) == sizes(edited)[0]
        assert t.status().cached_prefix_tokens == sizes(edited)[0]


def test_after_a_compression_only_the_pinned_system_region_is_stable(tmp_path) -> None:
    with Tract.open(path=tmp_path / "c.db") as t:
        conversation(t, turns=6)
        before = t.compile()
        t.compress(content="Planets 0-4 are 1-5 AU away.", keep_recent=2)
        after = t.compile()
        assert after.stable_prefix(before) == sizes(before)[0]
        assert t.status().cached_prefix_tokens == sizes(before)[0]  # the old tip, from the reflog
    with Tract.open(path=tmp_path / "c.db") as reopened:  # a cold cache computes the same figure
        assert reopened.status().cached_prefix_tokens == sizes(before)[0]


def test_status_has_no_cached_prefix_without_an_earlier_context_and_hand_built_contexts_are_refused() -> None:
    with Tract.open() as t:
        assert t.status().cached_prefix_tokens == 0
        t.system("Be brief.")
        assert t.status().cached_prefix_tokens == 0
        t.user("Hi")
        assert t.status().cached_prefix_tokens == sizes(t.compile())[0]
        by_hand = CompiledContext([{"role": "user", "content": "Hi"}], ["x"], 5, None)
        with pytest.raises(InvalidInputError, match="made by Tract.compile"):
            by_hand.stable_prefix(t.compile())


# -- compression reasons weigh the cache --------------------------------------------------------


def test_compress_policy_reason_says_how_many_cached_tokens_the_compression_drops() -> None:
    with Tract.open(config=TractConfig(token_budget=150)) as t:
        conversation(t, turns=4)
        t.user("One more question.")
        context = t.compile()
        # the sealed cycles (up to the last assistant message) minus the pinned system prompt
        lost = sum(sizes(context)[1:-1])
        assert cached_prefix_lost(context) == lost
        action = CompressPolicy(0.5, keep_recent=2).evaluate(t)
        assert action is not None and action.reason.endswith(f"; drops a cached prefix of {lost:,} tokens")
    policy = CompressPolicy(0.5, keep_recent=2)
    assert policy.action_for(900, 1000, 10, cached_prefix=2300).reason.endswith(
        "before the last 2; drops a cached prefix of 2,300 tokens"
    )
    assert policy.action_for(900, 1000, 10, cached_prefix=0).reason.endswith("before the last 2")


def test_the_orchestrator_compress_rule_says_how_many_cached_tokens_it_drops() -> None:
    with Tract.open(config=TractConfig(token_budget=150)) as t:
        conversation(t, turns=5)
        lost = cached_prefix_lost(t.compile())
        assert lost == sum(sizes(t.compile())[1:])
        t.configure_orchestrator(OrchestratorConfig(compress_at=0.5, keep_recent=2))
        (action,) = [a for a in t.orchestrate(dry_run=True).planned if a.kind == "compress"]
        assert action.reason.endswith(f"(keep the last 2); drops a cached prefix of {lost:,} tokens")


def test_without_a_system_prompt_the_anthropic_body_has_no_system_key() -> None:
    t = Tract.open()
    t.user("Hi")
    body = t.compile().to_anthropic()
    assert body == {"messages": [{"role": "user", "content": "Hi"}]}  # **body goes straight into messages.create
    assert b'"system"' not in t.compile().to_bytes("anthropic")
