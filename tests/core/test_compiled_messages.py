"""The messages of a compiled context are read-only, shared between compiles and never copied per call.

``CompiledContext.messages`` / ``to_openai()`` hand out compile's own message objects in a fresh list
(a pointer copy, so an LLM call does not pay for the whole history). These tests pin down what a
caller relies on: nothing they do to what they get changes the next compile; every attempt to change
a message fails with a TypeError saying how to get a copy; and the messages still go everywhere plain
dicts go (JSON, pickle, copy, ``==``, the OpenAI and Anthropic SDKs, LangChain, LlamaIndex).
"""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.messages.utils import convert_to_messages

from tract_core import EDIT, SKIP, Sticky, Temporary, Tract
from tract_core.formats import CompiledContext, FrozenDict, FrozenList, thaw

CALL = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"city": "Lisbon"}'}}
PARTS = [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
EXPECTED = [
    {"role": "system", "content": "You plan trips."},
    {"role": "user", "content": PARTS},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    {"role": "assistant", "content": "It is sunny."},
]


@pytest.fixture
def tract(tmp_path: Path) -> Iterator[Tract]:
    with Tract.open(path=tmp_path / "t.db") as t:
        t.system("You plan trips.")
        t.user(PARTS)
        t.assistant(None, tool_calls=[CALL])
        t.tool_result("call_1", "sunny")
        t.assistant("It is sunny.")
        yield t


def _walk(value: Any) -> Iterator[Any]:
    """Every dict and list in ``value``, at any depth."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, (list, tuple)):
        if isinstance(value, list):
            yield value
        for item in value:
            yield from _walk(item)


def _all_read_only(messages: list[dict[str, Any]]) -> bool:
    return all(type(m) is FrozenDict for m in messages) and all(
        type(v) in (FrozenDict, FrozenList) for m in messages for v in _walk(m)
    )


def _all_plain(value: Any) -> bool:
    return all(type(v) in (dict, list) for v in _walk(value))


MUTATIONS: dict[str, Callable[[list[dict[str, Any]]], Any]] = {
    "set a key": lambda ms: ms[0].__setitem__("content", "changed"),
    "add a key": lambda ms: ms[0].__setitem__("name", "x"),
    "del a key": lambda ms: ms[0].__delitem__("content"),
    "update": lambda ms: ms[0].update(content="changed"),
    "|=": lambda ms: ms[0].__ior__({"content": "changed"}),
    "pop": lambda ms: ms[0].pop("content"),
    "popitem": lambda ms: ms[0].popitem(),
    "setdefault": lambda ms: ms[0].setdefault("name", "x"),
    "clear": lambda ms: ms[0].clear(),
    "__init__ again": lambda ms: ms[0].__init__({"content": "changed"}),  # changes nothing
    "nested call name": lambda ms: ms[2]["tool_calls"][0]["function"].__setitem__("name", "drop_tables"),
    "nested call id": lambda ms: ms[2]["tool_calls"][0].__setitem__("id", "other"),
    "tool_calls append": lambda ms: ms[2]["tool_calls"].append(CALL),
    "content append": lambda ms: ms[1]["content"].append({"type": "text", "text": "injected"}),
    "content extend": lambda ms: ms[1]["content"].extend([{"type": "text", "text": "injected"}]),
    "content +=": lambda ms: ms[1]["content"].__iadd__([{"type": "text", "text": "injected"}]),
    "content *=": lambda ms: ms[1]["content"].__imul__(2),
    "content insert": lambda ms: ms[1]["content"].insert(0, "x"),
    "content item": lambda ms: ms[1]["content"].__setitem__(0, "x"),
    "content slice": lambda ms: ms[1]["content"].__setitem__(slice(0, 1), []),
    "content del": lambda ms: ms[1]["content"].__delitem__(0),
    "content pop": lambda ms: ms[1]["content"].pop(),
    "content remove": lambda ms: ms[1]["content"].remove(PARTS[0]),
    "content clear": lambda ms: ms[1]["content"].clear(),
    "content sort": lambda ms: ms[1]["content"].sort(key=str),
    "content reverse": lambda ms: ms[1]["content"].reverse(),
    "part text": lambda ms: ms[1]["content"][0].__setitem__("text", "changed"),
    "part url": lambda ms: ms[1]["content"][1]["image_url"].__setitem__("url", "https://evil.example"),
}


def test_no_mutation_reaches_the_next_compile(tract: Tract) -> None:
    ctx = tract.compile()
    for name, mutate in MUTATIONS.items():
        for got in (ctx.messages, ctx.to_openai(), list(ctx)):
            if name == "__init__ again":
                mutate(got)
            else:
                with pytest.raises(TypeError, match=r"cannot be changed: .*copy\.deepcopy\(message\)"):
                    mutate(got)
            assert got == EXPECTED, name
    assert tract.compile().messages == EXPECTED and ctx.messages == EXPECTED


def test_each_call_returns_a_fresh_list_of_the_same_shared_messages(tract: Tract) -> None:
    ctx = tract.compile()
    first = ctx.messages
    first.append({"role": "user", "content": "injected"})
    del first[0]
    first.reverse()
    assert ctx.messages == ctx.to_openai() == EXPECTED and ctx.messages is not ctx.messages
    tract.user("Thanks")
    later = tract.compile()
    # the next compile shares the messages themselves: getting them copies no message
    assert all(a is b for a, b in zip(ctx.messages, later.messages, strict=False))
    assert later.messages[-1] == {"role": "user", "content": "Thanks"}
    assert _all_read_only(later.messages)


def test_a_mutable_copy_is_one_call_away(tract: Tract) -> None:
    messages = tract.compile().messages
    deep = copy.deepcopy(messages)
    assert deep == EXPECTED and _all_plain(deep) and thaw(messages) == deep and _all_plain(thaw(messages))
    deep[1]["content"].append({"type": "text", "text": "more"})
    deep[2]["tool_calls"][0]["function"]["name"] = "other"
    shallow = [dict(messages[0]), messages[0].copy(), copy.copy(messages[0]), {**messages[0]}, messages[0] | {}]
    for one in shallow:
        assert type(one) is dict
        one["content"] = "changed"
    parts = list(messages[1]["content"])
    parts.append("x")
    assert type(parts) is list and type(messages[1]["content"][:]) is list and type(messages[1]["content"] + []) is list
    assert tract.compile().messages == EXPECTED


def test_json_pickle_and_equality_treat_them_as_plain_data(tract: Tract) -> None:
    messages = tract.compile().messages
    plain = copy.deepcopy(messages)
    assert messages == EXPECTED and plain == messages and messages[1]["content"] == PARTS
    assert json.dumps(messages) == json.dumps(plain) and json.loads(json.dumps(messages, sort_keys=True)) == EXPECTED
    assert repr(messages) == repr(plain)
    back = pickle.loads(pickle.dumps(messages))
    assert back == EXPECTED and _all_plain(back)
    assert all(isinstance(m, dict) for m in messages) and isinstance(messages[1]["content"], list)
    assert tract.compile().canonical_bytes() == CompiledContext(plain, ["h"] * 5, 0, None).canonical_bytes()


def test_every_compile_path_hands_out_read_only_messages(tmp_path: Path) -> None:
    with Tract.open(path=tmp_path / "paths.db") as t:
        t.system("rules")
        t.user("Reply in French.", lifecycle=Sticky())  # a masked view of the shared history
        t.user("(notice)", lifecycle=Temporary(1))
        asked = t.assistant(None, tool_calls=[CALL, {**CALL, "id": "call_2"}])
        t.tool_result("call_1", "sunny")
        hidden = t.tool_result("call_2", "rain")
        t.annotate(hidden, SKIP)  # compile drops call_2 from the assistant message
        first = t.user("first draft")
        t.commit([{"type": "text", "text": "edited", "k": [1, 2]}], role="user", operation=EDIT, response_to=first.hash)
        t.assistant("ok")
        contexts = [t.compile(), t.compile(at_commit=asked.hash), t.compile(at_commit="HEAD~1")]
        reopened = Tract.open(path=tmp_path / "paths.db")
        contexts.append(reopened.compile())
        reopened.close()
    for ctx in contexts:
        assert _all_read_only(ctx.messages)
    calls = [m for m in contexts[0].messages if m.get("tool_calls")]
    assert [c["id"] for c in calls[0]["tool_calls"]] == ["call_1"]
    with pytest.raises(TypeError):
        calls[0]["tool_calls"].append(CALL)
    assert any(m["content"] == [{"type": "text", "text": "edited", "k": [1, 2]}] for m in contexts[0].messages)


def test_a_context_built_by_hand_keeps_its_own_copy(tract: Tract) -> None:
    source = copy.deepcopy(EXPECTED)
    ctx = CompiledContext(source, ["h"] * len(source), 0, None)
    source[1]["content"].append("changed after")
    source[0]["content"] = "changed after"
    assert ctx.messages == EXPECTED and _all_read_only(ctx.messages)
    with pytest.raises(TypeError, match="deepcopy"):
        ctx.to_openai()[0]["content"] = "x"


def test_the_other_formats_return_plain_mutable_data(tract: Tract) -> None:
    arguments = {"city": {"name": "Oslo"}, "days": [1, 2]}  # arguments as an object, not JSON text
    tract.assistant(
        None, tool_calls=[{"id": "c2", "type": "function", "function": {"name": "f", "arguments": arguments}}]
    )
    tract.tool_result(
        "c2", [{"type": "text", "text": "rain"}, {"type": "image_url", "image_url": {"url": "https://x/r.png"}}]
    )
    ctx = tract.compile()
    expected = copy.deepcopy(ctx.messages)
    bodies = [ctx.to_anthropic(), ctx.to_anthropic(cache_breakpoints="auto"), ctx.to_gemini(), ctx.entries()[1].message]
    for body in bodies:
        assert _all_plain(body)
        for value in _walk(body):  # every level is the caller's to change
            if isinstance(value, dict):
                value["x"] = 1
            else:
                value.append(1)
    assert tract.compile().messages == expected and ctx.to_anthropic() == tract.compile().to_anthropic()
    assert ctx.to_gemini() == tract.compile().to_gemini() and expected[:5] == EXPECTED
    assert ctx.to_langchain()[1].content == PARTS and ctx.to_llamaindex()[0].content == "You plan trips."


def _capture(seen: list[dict[str, Any]], reply: dict[str, Any]) -> httpx2.Client:
    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        return httpx2.Response(200, json=reply)

    return httpx2.Client(transport=httpx2.MockTransport(handle))


def test_the_openai_sdk_sends_them_as_they_are(tract: Tract) -> None:
    seen: list[dict[str, Any]] = []
    reply = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-test",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Pack light."}}],
    }
    client = openai.OpenAI(api_key="test", base_url="http://llm.test/v1", http_client=_capture(seen, reply))
    completion = client.chat.completions.create(model="gpt-test", messages=tract.compile().to_openai())
    assert completion.choices[0].message.content == "Pack light."
    assert seen[0]["messages"] == EXPECTED


def test_the_anthropic_sdk_sends_the_anthropic_body(tract: Tract) -> None:
    seen: list[dict[str, Any]] = []
    reply = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [{"type": "text", "text": "Pack light."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }
    client = anthropic.Anthropic(api_key="test", base_url="http://llm.test", http_client=_capture(seen, reply))
    body = tract.compile().to_anthropic(cache_breakpoints="auto")
    message = client.messages.create(model="claude-test", max_tokens=64, **body)
    assert message.content[0].text == "Pack light."  # type: ignore[union-attr]
    assert seen[0]["messages"] == body["messages"] and seen[0]["system"] == body["system"]


def test_langchain_converts_them(tract: Tract) -> None:
    converted = convert_to_messages(tract.compile().messages)
    assert isinstance(converted[1], HumanMessage) and converted[1].content == PARTS
    assert isinstance(converted[2], AIMessage) and converted[2].tool_calls[0]["args"] == {"city": "Lisbon"}
    assert tract.compile().messages == EXPECTED
