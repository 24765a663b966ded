"""Every message LangChain accepts goes through TractChatMessageHistory and comes back equal.

Equal means ``==`` on the message: same class, content, ``id``, ``name``, ``additional_kwargs``,
``response_metadata``, ``usage_metadata``, tool calls (valid and invalid), a tool message's
``artifact`` and ``status``, a ``FunctionMessage``'s name, a ``ChatMessage``'s custom role.
Hypothesis generates the messages; they are stored in a real SQLite file and in PostgreSQL and
read back by the same history object and by a new one. What tract compiles for the model from
them stays valid for the chat APIs (roles, tool results naming their call, names, content parts).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from tract_core import EDIT, InvalidInputError
from tract_core.store import SqlStore
from tract_core.testing import assert_chat_api_valid, create_database
from tract_langchain import TractChatMessageHistory
from tract_langchain.checkpoint.chains import decode_message, decode_messages, encode_message

# -- strategies -------------------------------------------------------------------------------

text = st.text(max_size=12)
json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text
json_value = st.recursive(
    json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=6
)
json_dict = st.dictionaries(text, json_value, max_size=3)
ids = st.none() | text
urls = st.sampled_from(["https://example.com/cat.png", "data:image/png;base64,iVBORw0KGgo=", "gs://bucket/x.jpg"])

blocks = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, text),
    st.builds(lambda t, i: {"type": "text", "text": t, "id": i}, text, text),
    st.builds(lambda u: {"type": "image_url", "image_url": {"url": u}}, urls),
    st.builds(lambda u: {"type": "image", "url": u}, urls),
    st.just({"type": "image", "base64": "iVBORw0KGgo=", "mime_type": "image/png"}),
    st.builds(lambda t: {"type": "reasoning", "reasoning": t}, text),
    st.builds(lambda t, i: {"type": "tool_use", "id": i, "name": t, "input": {}}, text, text),
    st.builds(lambda k, v: {"type": k, "data": v}, st.text(min_size=1, max_size=8), json_value),
    json_dict,  # blocks without a type: LangChain keeps them
    text,  # bare strings in a content list
)
contents = text | st.lists(blocks, max_size=3)
tool_calls = st.lists(
    st.builds(lambda n, a, i: {"name": n, "args": a, "id": i, "type": "tool_call"}, text, json_dict, ids), max_size=2
)
invalid_tool_calls = st.lists(
    st.builds(
        lambda n, a, i, e: {"name": n, "args": a, "id": i, "error": e, "type": "invalid_tool_call"},
        st.none() | text,
        st.none() | text,
        ids,
        st.none() | text,
    ),
    max_size=2,
)
counts = st.integers(min_value=0, max_value=10**6)
usage = st.none() | st.builds(
    lambda i, o, details: {
        "input_tokens": i,
        "output_tokens": o,
        "total_tokens": i + o,
        **({"input_token_details": {"cache_read": i // 2, "audio": 0}} if details else {}),
        **({"output_token_details": {"reasoning": o // 2}} if details else {}),
    },
    counts,
    counts,
    st.booleans(),
)
common = {"id": ids, "name": st.none() | text, "additional_kwargs": json_dict, "response_metadata": json_dict}


@st.composite
def langchain_messages(draw: st.DrawFn) -> BaseMessage:
    kind = draw(st.sampled_from(["human", "ai", "ai_chunk", "system", "tool", "function", "chat"]))
    fields = {key: draw(strategy) for key, strategy in common.items()}
    content = draw(contents)
    try:
        if kind == "human":
            return HumanMessage(content, **fields)
        if kind == "system":
            return SystemMessage(content, **fields)
        if kind in ("ai", "ai_chunk"):
            cls = AIMessage if kind == "ai" else AIMessageChunk
            return cls(
                content,
                tool_calls=draw(tool_calls),
                invalid_tool_calls=draw(invalid_tool_calls),
                usage_metadata=draw(usage),
                **fields,
            )
        if kind == "tool":
            return ToolMessage(
                content,
                tool_call_id=draw(text),
                artifact=draw(json_value),
                status=draw(st.sampled_from(["success", "error"])),
                **fields,
            )
        if kind == "function":
            return FunctionMessage(content, **{**fields, "name": draw(text)})
        return ChatMessage(content, role=draw(st.text(min_size=1, max_size=12)), **fields)
    except (ValueError, TypeError):  # LangChain itself refuses this combination
        assume(False)
        raise


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A shared store on a SQLite file or a fresh PostgreSQL database (one session per example)."""
    if request.param == "sqlite":
        made = SqlStore(path=tmp_path / "chat.db")
    else:
        made = SqlStore(url=create_database(request.getfixturevalue("postgres_server")))
    yield made
    made.close()


def assert_same(got: list[BaseMessage], put: list[BaseMessage]) -> None:
    assert [type(m) for m in got] == [type(m) for m in put]
    assert got == put


# -- tests ------------------------------------------------------------------------------------


def test_every_field_of_every_message_type_comes_back(store: SqlStore) -> None:
    """The fields the issue named, one message each: nothing dropped, no id overwritten, nothing refused."""
    put: list[BaseMessage] = [
        SystemMessage("Be brief.", id="sys-1"),
        HumanMessage("Weather in Paris?", id="h-1", name="ada", additional_kwargs={"channel": "web"}),
        AIMessage(
            "",
            id="run-42",
            tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}],
            invalid_tool_calls=[
                {"name": "weather", "args": "{bad", "id": "call_2", "error": "bad JSON", "type": "invalid_tool_call"}
            ],
            usage_metadata={"input_tokens": 12, "output_tokens": 7, "total_tokens": 19},
            response_metadata={"model_name": "gpt-4o", "finish_reason": "tool_calls"},
            additional_kwargs={"refusal": None, "logprobs": [0.5]},
        ),
        ToolMessage("sunny", tool_call_id="call_1", artifact={"raw": [1, 2]}, status="success", id="t-1"),
        ToolMessage("no such city", tool_call_id="call_2", status="error"),
        FunctionMessage("22 degrees", name="thermometer"),
        ChatMessage("The door creaks open.", role="narrator"),
        HumanMessage(
            [{"type": "text", "text": "And this?"}, {"type": "image_url", "image_url": {"url": "https://e.x/a.png"}}]
        ),
        AIMessage([{"type": "reasoning", "reasoning": "a cat"}, {"type": "text", "text": "A cat."}], name="Bot 1"),
    ]
    with TractChatMessageHistory("s", store=store) as history:
        history.add_messages(put)
        assert_same(history.messages, put)
        compiled = history.tract.compile().to_openai()
    with TractChatMessageHistory("s", store=store) as reopened:
        assert_same(reopened.messages, put)
    assert_chat_api_valid(compiled)
    assert compiled[5] == {"role": "user", "name": "thermometer", "content": "22 degrees"}
    assert compiled[6] == {"role": "user", "name": "narrator", "content": "The door creaks open."}
    assert compiled[8] == {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(put=st.lists(langchain_messages(), min_size=1, max_size=4))
def test_generated_messages_round_trip(store: SqlStore, put: list[BaseMessage]) -> None:
    session = uuid.uuid4().hex
    with TractChatMessageHistory(session, store=store) as history:
        history.add_messages(put)
        assert_same(history.messages, put)
        assert_chat_api_valid(history.tract.compile().to_openai())
    with TractChatMessageHistory(session, store=store) as reopened:
        assert_same(reopened.messages, put)


def test_an_edit_through_the_tract_replaces_the_content_and_keeps_the_rest(store: SqlStore) -> None:
    put = AIMessage("My card is 4111", id="run-1", response_metadata={"model_name": "m"}, usage_metadata=None)
    with TractChatMessageHistory("s", store=store) as history:
        history.add_messages([HumanMessage("Hi", id="h"), put])
        (_, _), (commit, _) = history.messages_with_commits()
        history.tract.commit("My card is [redacted]", role="assistant", operation=EDIT, response_to=commit)
        assert history.messages[1] == put.model_copy(update={"content": "My card is [redacted]"})
        history.tract.assistant("Written through the tract.")
        written = history.messages_with_commits()[-1]
        assert written[1] == AIMessage("Written through the tract.", id=written[0])  # no record: its commit is its id


def test_data_json_cannot_hold_is_refused_and_nothing_is_stored(store: SqlStore) -> None:
    with TractChatMessageHistory("s", store=store) as history:
        history.add_messages([HumanMessage("kept")])
        for bad in (float("nan"), object(), b"bytes"):
            with pytest.raises(InvalidInputError):
                history.add_messages([HumanMessage("one"), AIMessage("two", additional_kwargs={"x": bad})])
        assert history.messages == [HumanMessage("kept")]


@settings(max_examples=150, deadline=None)
@given(messages=st.lists(langchain_messages(), min_size=1, max_size=6))
def test_bulk_decoding_builds_the_objects_validation_would(messages: list[BaseMessage]) -> None:
    """A cold read decodes many messages at once without validating them again; the objects must be
    exactly those ``messages_from_dict`` (validation) builds: class, fields, fields set and extras."""
    encoded = [encode_message(m) for m in messages]
    items = [(dict(e.body), json.dumps(e.metadata), e.role, f"commit-{i}") for i, e in enumerate(encoded)]
    bulk = decode_messages(items)
    one_by_one = [decode_message(*item) for item in items]
    assert [key for key, _ in bulk] == [key for key, _ in one_by_one] == [e.key for e in encoded]
    for (_, fast), (_, validated), original in zip(bulk, one_by_one, messages, strict=True):
        assert type(fast) is type(validated) is type(original)  # what else is equal: the round-trip tests
        assert fast.__dict__ == validated.__dict__
        assert fast.__pydantic_fields_set__ == validated.__pydantic_fields_set__
        assert fast.__pydantic_extra__ == validated.__pydantic_extra__
