"""Every ChatMessage LlamaIndex accepts goes through TractChatStore and TractMemory and comes back equal.

Equal means ``==`` on the ``ChatMessage``: its role (``tool`` without a ``tool_call_id`` and
``function`` included), every block type (text, image, audio, video, document, cache point,
citable, citation, thinking, tool call) and its ``additional_kwargs``. Hypothesis generates the
messages; they are stored in a real SQLite file and in PostgreSQL. What tract compiles for the model
from them stays valid for the chat APIs. Then LlamaIndex's own ``Memory`` tests on tool turns
(``test_memory_base.py``: ``test_manage_queue_with_tool_messages``,
``test_manage_queue_only_tool_message_remaining``), run with ``Memory`` on TractChatStore.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from llama_index.core.base.llms.types import (
    AudioBlock,
    CacheControl,
    CachePoint,
    ChatMessage,
    CitableBlock,
    CitationBlock,
    DocumentBlock,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    VideoBlock,
)
from llama_index.core.memory import Memory
from llama_index.core.storage.chat_store.base_db import MessageStatus

from tract_core import InvalidInputError
from tract_core.testing import assert_chat_api_valid, create_database
from tract_core.tokens import REPLY_PRIMING
from tract_llamaindex import TractChatStore, TractMemory, close_stores

text = st.text(max_size=12)
json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text
json_value = st.recursive(
    json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=6
)
json_dict = st.dictionaries(text, json_value, max_size=3)
urls = st.sampled_from(["https://example.com/cat.png", "https://example.com/a.mp4", "https://example.com/d.pdf"])
openai_call = st.builds(
    lambda i, n, a: {"id": i, "type": "function", "function": {"name": n, "arguments": a}}, text, text, text
)

blocks = st.one_of(
    st.builds(TextBlock, text=text),
    st.builds(ImageBlock, url=urls, detail=st.none() | st.sampled_from(["low", "high", "auto"])),
    st.builds(ImageBlock, image=st.binary(min_size=1, max_size=16), image_mimetype=st.just("image/png")),
    st.builds(AudioBlock, audio=st.binary(min_size=1, max_size=16), format=st.just("wav")),
    st.builds(VideoBlock, url=urls, fps=st.none() | st.integers(1, 60)),
    st.builds(
        DocumentBlock, data=st.binary(min_size=1, max_size=16), title=text, document_mimetype=st.just("text/plain")
    ),
    st.builds(
        lambda ttl: CachePoint(cache_control=CacheControl(type="ephemeral", ttl=ttl)), st.sampled_from(["5m", "1h"])
    ),
    st.builds(lambda t, s, c: CitableBlock(title=t, source=s, content=[TextBlock(text=c)]), text, text, text),
    st.builds(
        lambda t, s, c, info: CitationBlock(
            title=t, source=s, cited_content=TextBlock(text=c), additional_location_info=info
        ),
        text,
        text,
        text,
        st.dictionaries(text, st.integers(), max_size=2),
    ),
    st.builds(
        ThinkingBlock,
        content=st.none() | text,
        num_tokens=st.none() | st.integers(0, 99),
        additional_information=json_dict,
    ),
    st.builds(ToolCallBlock, tool_call_id=st.none() | text, tool_name=text, tool_kwargs=json_dict | text),
)
extras = st.fixed_dictionaries(
    {},
    optional={
        "tool_call_id": st.none() | text,
        "name": st.none() | text,
        "tool_calls": st.lists(openai_call, max_size=2) | json_value,
        "usage": json_dict,
        "session_id": text,
    },
)


@st.composite
def llamaindex_messages(draw: st.DrawFn) -> ChatMessage:
    role = draw(st.sampled_from(list(MessageRole)))
    additional_kwargs = {**draw(json_dict), **draw(extras)}
    try:
        if draw(st.booleans()):
            return ChatMessage(role=role, content=draw(st.none() | text), additional_kwargs=additional_kwargs)
        return ChatMessage(role=role, blocks=draw(st.lists(blocks, max_size=3)), additional_kwargs=additional_kwargs)
    except (ValueError, TypeError):  # LlamaIndex itself refuses this combination
        assume(False)
        raise


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return {"path": str(tmp_path / "chat.db")}
    return {"url": create_database(request.getfixturevalue("postgres_server"))}


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    close_stores()


def every_kind() -> list[ChatMessage]:
    """One message of each kind the issue named (the ones refused before included)."""
    return [
        ChatMessage(role="system", content="You add numbers."),
        ChatMessage(role="user", content="a " * 40, additional_kwargs={"session_id": "u42"}),
        ChatMessage(role="assistant", content="b " * 20),  # a tool call LlamaIndex's Memory tests write as text
        ChatMessage(role="tool", content="c " * 20),  # a tool result naming no call
        ChatMessage(role="function", content="22 degrees", additional_kwargs={"name": "thermometer"}),
        ChatMessage(
            role="assistant",
            blocks=[
                ThinkingBlock(content="add them"),
                ToolCallBlock(tool_call_id="c1", tool_name="add", tool_kwargs={}),
            ],
            additional_kwargs={"usage": {"input": 3}},
        ),
        ChatMessage(role="tool", content="3", additional_kwargs={"tool_call_id": "c1"}),
        ChatMessage(
            role="user",
            blocks=[
                TextBlock(text="And this?"),
                ImageBlock(url="https://example.com/cat.png"),
                AudioBlock(audio=b"RIFF"),
            ],
        ),
        ChatMessage(role="chatbot", content="A cat."),
    ]


async def test_every_kind_of_message_comes_back_from_the_chat_store_and_the_memory(location: dict[str, str]) -> None:
    put = every_kind()
    store = TractChatStore(**location)
    await store.add_messages("k", put)
    assert await store.get_messages("k") == put
    assert await TractChatStore(**location).get_messages("k") == put  # a new instance: nothing cached
    compiled = store.tract("k").compile().to_openai()
    assert_chat_api_valid(compiled)
    assert compiled[3] == {"role": "user", "content": "c " * 20}  # what the model reads of a tool result with no call
    assert compiled[4] == {"role": "user", "name": "thermometer", "content": "22 degrees"}

    memory = TractMemory.from_defaults(session_id="m", **location)
    await memory.aput_messages(put)
    assert await memory.aget_all() == put
    assert await memory.aget() == put


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(put=st.lists(llamaindex_messages(), min_size=1, max_size=4))
async def test_generated_messages_round_trip(location: dict[str, str], put: list[ChatMessage]) -> None:
    key = uuid.uuid4().hex
    store = TractChatStore(**location)
    await store.add_messages(key, put)
    assert await store.get_messages(key) == put
    assert_chat_api_valid(store.tract(key).compile().to_openai())
    archived = await store.archive_oldest_messages(key, len(put))
    assert archived == put and await store.get_messages(key, status=MessageStatus.ARCHIVED) == put

    memory = TractMemory.from_defaults(session_id=key, **location)
    memory.put_messages(put)
    assert memory.get_all() == put


async def test_data_json_cannot_hold_is_refused_and_nothing_is_stored(location: dict[str, str]) -> None:
    store = TractChatStore(**location)
    await store.add_messages("k", [ChatMessage(role="user", content="kept")])
    for bad in (float("nan"), {1, 2}, (1, 2), object()):
        with pytest.raises(InvalidInputError):
            await store.add_messages("k", [ChatMessage(role="user", content="x", additional_kwargs={"v": bad})])
    assert await store.get_messages("k") == [ChatMessage(role="user", content="kept")]


# -- LlamaIndex's own Memory tests on tool turns, with Memory on TractChatStore ------------------


def assert_turn_starts_with_user(messages: list[ChatMessage]) -> None:
    assert messages, "the queue must not be empty"
    assert messages[0].role == MessageRole.USER, f"the first message must be the user's, not {messages[0].role}"


async def test_upstream_manage_queue_with_tool_messages(location: dict[str, str]) -> None:
    """user -> assistant (tool call) -> tool -> assistant, flushed: the turn stays whole and in order."""
    memory = Memory(
        token_limit=150,
        token_flush_size=80,
        chat_history_token_ratio=0.5,
        session_id="tool_calling",
        sql_store=TractChatStore(**location),
    )
    put = [
        ChatMessage(role="user", content="a " * 40),
        ChatMessage(role="assistant", content="b " * 20),
        ChatMessage(role="tool", content="c " * 20),
        ChatMessage(role="assistant", content="d " * 20),
    ]
    await memory.aput_messages(put)  # raised InvalidInputError before: a tool message without a tool_call_id
    got = await memory.aget()
    assert_turn_starts_with_user(got)
    for i, message in enumerate(got):
        if message.role == MessageRole.TOOL:
            assert i > 0 and got[i - 1].role in (MessageRole.ASSISTANT, MessageRole.TOOL)
    assert await memory.aget_all() == put  # archived then active: nothing lost, every field


async def test_upstream_manage_queue_only_tool_message_remaining(location: dict[str, str]) -> None:
    """A flush that would leave only the tool result keeps the whole turn from its user message."""
    memory = Memory(
        token_limit=80,
        token_flush_size=40,
        chat_history_token_ratio=0.5,
        session_id="only_tool",
        sql_store=TractChatStore(**location),
    )
    put = [
        ChatMessage(role="user", content="x " * 50),
        ChatMessage(role="assistant", content="call"),
        ChatMessage(role="tool", content="result"),
    ]
    await memory.aput_messages(put)
    got = await memory.aget()
    if got:
        assert_turn_starts_with_user(got)
    assert await memory.aget_all() == put


def test_memory_window_starts_at_a_user_message_not_at_a_tool_result(tmp_path: Path) -> None:
    """Without an LLM, TractMemory sends the latest turns that fit, starting at a user message: a
    tool result naming no call (sent to the model as user text) does not start a turn."""
    memory = TractMemory.from_defaults(path=tmp_path / "m.db", session_id="s")
    put = [
        ChatMessage(role="user", content="first question " * 4),
        ChatMessage(role="assistant", content="calling the tool now, with a long preamble " * 3),
        ChatMessage(role="tool", content="result " * 3),
        ChatMessage(role="user", content="second"),
        ChatMessage(role="assistant", content="done"),
    ]
    memory.put_messages(put)
    sizes = [c.token_count for c in reversed(memory.tract.log())]
    # room for the tool result and the last turn, not for the assistant message before them
    limit = REPLY_PRIMING + sum(sizes[2:]) + sizes[1] // 2
    assert memory.get(initial_token_count=memory.token_budget - limit) == put[3:]
