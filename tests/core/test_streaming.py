"""Streaming replies (scenario X.5): ``t.stream()`` / ``t.astream()`` fed with each SDK's own chunk types.

No network: OpenAI ``ChatCompletionChunk``s and Anthropic stream events are built with the SDKs' types,
LangChain chunks come from ``GenericFakeChatModel.stream()`` (and hand-built ``AIMessageChunk``s for tool
calls and usage), LlamaIndex chunks from ``MockLLM.stream_chat()``. Every streamed commit is compared with
the commit of the same reply made without streaming.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from anthropic.lib.streaming import InputJsonEvent, TextEvent
from anthropic.types import (
    Message,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
)
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from llama_index.core.base.llms.types import TextBlock, ToolCallBlock
from llama_index.core.llms import ChatMessage, ChatResponse, MockLLM
from llama_index.core.llms.mock import MockFunctionCallingLLM
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tract_core import EDIT, CommitNotFoundError, EditTargetError, InvalidInputError, Tract, Usage
from tract_core.streaming import ReplyStream
from tract_core.testing.blocking import no_blocking_io

GEN = {"model": "gpt-test", "temperature": 0.2}


@pytest.fixture
def t(tmp_path: Any) -> Iterator[Tract]:
    with Tract.open(tmp_path / "stream.db") as tract:
        tract.system("You are a coding assistant.")
        tract.user("Fix the bug")
        yield tract


def _reference(tmp_path: Any, message: Any, usage: Any) -> Any:
    """The same reply committed without streaming (a fresh tract with the same history)."""
    with Tract.open(tmp_path / "reference.db") as ref:
        ref.system("You are a coding assistant.")
        ref.user("Fix the bug")
        info = ref.commit(message, generation_config=GEN)
        ref.record_usage(usage, commit=info)
        return ref.show(info)


def _same_commit(streamed: Any, reference: Any) -> None:
    assert streamed.body == reference.body
    assert streamed.role == reference.role and streamed.content_type == reference.content_type
    assert streamed.usage == reference.usage
    assert streamed.generation_config == reference.generation_config and streamed.metadata is None
    assert streamed.hash == reference.hash  # same parent, message and config: the very same commit


# --------------------------------------------------------------------------- OpenAI


def _oa_chunk(delta: dict[str, Any] | None = None, finish: str | None = None, usage: Any = None) -> ChatCompletionChunk:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    data = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-test", "choices": choices}
    if usage is not None:
        data["usage"] = usage
    return ChatCompletionChunk.model_validate(data)


OA_USAGE = {
    "prompt_tokens": 40,
    "completion_tokens": 9,
    "total_tokens": 49,
    "prompt_tokens_details": {"cached_tokens": 32},
}


def openai_text_chunks() -> list[ChatCompletionChunk]:
    pieces = [_oa_chunk({"role": "assistant", "content": ""})]
    pieces += [_oa_chunk({"content": p}) for p in ["Use ", "`is None`", " here."]]
    return [*pieces, _oa_chunk({}, finish="stop"), _oa_chunk(None, usage=OA_USAGE)]


def openai_tool_chunks() -> list[ChatCompletionChunk]:
    def call(index: int, **fields: Any) -> dict[str, Any]:
        return {"tool_calls": [{"index": index, **fields}]}

    return [
        _oa_chunk({"role": "assistant", "content": None}),
        _oa_chunk(call(0, id="call_a", type="function", function={"name": "read_file", "arguments": ""})),
        _oa_chunk(call(0, function={"arguments": '{"path": '})),
        _oa_chunk(call(1, id="call_b", type="function", function={"name": "run_tests", "arguments": "{}"})),
        _oa_chunk(call(0, function={"arguments": '"app.py"}'})),
        _oa_chunk({}, finish="tool_calls"),
        _oa_chunk(None, usage=OA_USAGE),
    ]


def _completion(message: dict[str, Any]) -> ChatCompletion:
    return ChatCompletion.model_validate(
        {
            "id": "c1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-test",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": OA_USAGE,
        }
    )


def test_openai_text_stream_commits_once_like_a_non_streamed_reply(t: Tract, tmp_path: Any) -> None:
    before = t.head
    with t.stream(generation_config=GEN) as s:
        seen = []
        for chunk in s.wrap(openai_text_chunks()):
            seen.append(chunk)
            assert t.head == before  # nothing is written per chunk
        assert s.text == "Use `is None` here." and s.kind == "openai"
        assert s.usage == Usage(40, 9, 49, cache_read_tokens=32, source="openai")
    assert seen == openai_text_chunks()  # handed on unchanged
    assert s.finish_reason == "stop" and not s.partial
    completion = _completion({"role": "assistant", "content": "Use `is None` here."})
    reference = _reference(tmp_path, completion.choices[0].message, completion.usage)
    _same_commit(t.show(s.commit), reference)
    assert s.commit.usage == reference.usage and t.status().last_usage == reference.usage
    assert t.compile().to_openai()[-1] == {"role": "assistant", "content": "Use `is None` here."}


def test_openai_tool_call_fragments_assemble_by_index(t: Tract, tmp_path: Any) -> None:
    with t.stream(generation_config=GEN) as s:
        for i, chunk in enumerate(openai_tool_chunks()):
            s.feed(chunk)
            if i == 3:  # mid-way: the first call's arguments are still open
                assert s.message["tool_calls"][0]["function"]["arguments"] == '{"path": '
    calls = [
        {"id": "call_a", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "app.py"}'}},
        {"id": "call_b", "type": "function", "function": {"name": "run_tests", "arguments": "{}"}},
    ]
    assert s.message == {"role": "assistant", "content": None, "tool_calls": calls}
    completion = _completion({"role": "assistant", "content": None, "tool_calls": calls})
    _same_commit(t.show(s.commit), _reference(tmp_path, completion.choices[0].message, completion.usage))
    assert s.commit.content_type == "tool_call" and s.finish_reason == "tool_calls"


# --------------------------------------------------------------------------- Anthropic


def _anthropic_message(content: list[dict[str, Any]], usage: dict[str, Any], stop: str | None = None) -> Message:
    return Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }
    )


START_USAGE = {"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 7}


def anthropic_events() -> list[Any]:
    def delta(index: int, **d: Any) -> RawContentBlockDeltaEvent:
        return RawContentBlockDeltaEvent(type="content_block_delta", index=index, delta=d)

    return [
        RawMessageStartEvent(type="message_start", message=_anthropic_message([], START_USAGE)),
        RawContentBlockStartEvent(type="content_block_start", index=0, content_block={"type": "text", "text": ""}),
        delta(0, type="text_delta", text="Let me look"),
        delta(0, type="text_delta", text=" at it."),
        RawContentBlockStopEvent(type="content_block_stop", index=0),
        RawContentBlockStartEvent(
            type="content_block_start",
            index=1,
            content_block={"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {}},
        ),
        delta(1, type="input_json_delta", partial_json='{"path"'),
        delta(1, type="input_json_delta", partial_json=': "app.py"}'),
        RawContentBlockStopEvent(type="content_block_stop", index=1),
        RawMessageDeltaEvent(
            type="message_delta",
            delta={"stop_reason": "tool_use", "stop_sequence": None},
            usage={"output_tokens": 31},
        ),
        RawMessageStopEvent(type="message_stop"),
    ]


def _with_helper_events(events: list[Any]) -> Iterator[Any]:
    """What the SDK's ``client.messages.stream()`` yields: each raw delta, then its text/input_json event."""
    text = ""
    for event in events:
        yield event
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            text += event.delta.text
            yield TextEvent(type="text", text=event.delta.text, snapshot=text)
        elif event.type == "content_block_delta":
            yield InputJsonEvent(type="input_json", partial_json=event.delta.partial_json, snapshot={})


@pytest.mark.parametrize("helper", [False, True], ids=["raw events", "messages.stream() helper"])
def test_anthropic_events_commit_text_and_tool_use_with_usage(t: Tract, tmp_path: Any, helper: bool) -> None:
    events = _with_helper_events(anthropic_events()) if helper else anthropic_events()
    with t.stream(generation_config=GEN) as s:
        for _ in s.wrap(events):
            pass
    assert s.kind == "anthropic" and s.finish_reason == "tool_use"
    # the reply as the non-streamed API returns it, stored in tract's (OpenAI) shape
    whole = _anthropic_message(
        [
            {"type": "text", "text": "Let me look at it."},
            {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "app.py"}},
        ],
        {**START_USAGE, "output_tokens": 31},
        "tool_use",
    )
    block = whole.content[1]
    call = {"id": block.id, "type": "function", "function": {"name": block.name, "arguments": json.dumps(block.input)}}
    message = {"role": "assistant", "content": "Let me look at it.", "tool_calls": [call]}
    reference = _reference(tmp_path, message, whole)  # record_usage reads the Message's usage
    _same_commit(t.show(s.commit), reference)
    assert reference.usage == Usage(132, 31, 163, cache_read_tokens=100, cache_write_tokens=7, source="anthropic")
    sent = t.compile().to_anthropic()["messages"][-1]
    use = {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "app.py"}}
    assert sent["content"][-1] == use


# --------------------------------------------------------------------------- LangChain


def test_langchain_fake_model_stream_is_one_commit(t: Tract) -> None:
    model = GenericFakeChatModel(messages=iter(["Rename the variable and rerun."]))
    with t.stream(generation_config=GEN) as s:
        chunks = list(s.wrap(model.stream(t.compile().to_langchain())))
    assert len(chunks) > 5 and all(isinstance(c, AIMessageChunk) for c in chunks)
    assert s.kind == "langchain" and s.commit.content == "Rename the variable and rerun."
    assert [m["content"] for m in t.compile().to_openai()][-2:] == ["Fix the bug", "Rename the variable and rerun."]
    assert len(t.log()) == 3


def test_langchain_tool_call_chunks_and_usage_match_the_whole_message(t: Tract, tmp_path: Any) -> None:
    usage = [
        {"input_tokens": 30, "output_tokens": 0, "total_tokens": 30},
        {"input_tokens": 0, "output_tokens": 12, "total_tokens": 12},
    ]
    chunks = [
        AIMessageChunk(content="Checking.", usage_metadata=usage[0]),
        AIMessageChunk(content="", tool_call_chunks=[{"index": 0, "id": "c1", "name": "read_file", "args": '{"pa'}]),
        AIMessageChunk(content="", tool_call_chunks=[{"index": 0, "id": None, "name": None, "args": 'th": "a.py"}'}]),
        AIMessageChunk(content="", usage_metadata=usage[1], response_metadata={"finish_reason": "tool_calls"}),
    ]
    with t.stream(generation_config=GEN) as s:
        for chunk in chunks:
            s.feed(chunk)
    whole = AIMessage(
        content="Checking.",
        tool_calls=[{"id": "c1", "name": "read_file", "args": {"path": "a.py"}}],
        usage_metadata={"input_tokens": 30, "output_tokens": 12, "total_tokens": 42},
    )
    _same_commit(t.show(s.commit), _reference(tmp_path, whole, whole))
    assert s.usage == Usage(30, 12, 42, source="langchain") and s.finish_reason == "tool_calls"


async def test_langchain_astream_through_astream_does_not_block_the_loop(tmp_path: Any) -> None:
    model = GenericFakeChatModel(messages=iter(["All tests pass now."]))
    with no_blocking_io():
        t = await asyncio.to_thread(Tract.open, tmp_path / "async.db")
        async with t.astream(generation_config=GEN) as s:
            async for _ in s.wrap(model.astream("Fix the bug")):
                pass
        compiled = await asyncio.to_thread(t.compile)
        await asyncio.to_thread(t.close)
    assert s.commit.content == "All tests pass now." and s.commit.generation_config == GEN
    assert compiled.to_openai() == [{"role": "assistant", "content": "All tests pass now."}]


# --------------------------------------------------------------------------- LlamaIndex


def test_llamaindex_mock_llm_stream_chat(t: Tract, tmp_path: Any) -> None:
    llm = MockLLM()  # echoes the prompt, one character per ChatResponse
    question = [ChatMessage(role="user", content="Fix the bug")]
    with t.stream(generation_config=GEN) as s:
        deltas = [r.delta for r in s.wrap(llm.stream_chat(question))]
    assert len(deltas) > 10 and s.kind == "llamaindex"
    whole = llm.chat(question).message
    assert s.text == whole.content and s.commit.content == whole.content
    with Tract.open(tmp_path / "ref.db") as ref:
        ref.system("You are a coding assistant.")
        ref.user("Fix the bug")
        assert ref.commit(whole, generation_config=GEN).hash == s.commit.hash
    assert t.compile().to_llamaindex()[-1].content == whole.content


def test_llamaindex_function_calling_stream_with_a_tool_call(t: Tract, tmp_path: Any) -> None:
    call = ToolCallBlock(tool_call_id="call_1", tool_name="read_file", tool_kwargs={"path": "app.py"})

    def replies(messages: Any, **kwargs: Any) -> Iterator[ChatMessage]:  # each message holds the reply so far
        yield ChatMessage(role="assistant", content="Reading")
        yield ChatMessage(role="assistant", content="Reading the file.")
        yield ChatMessage(role="assistant", blocks=[TextBlock(text="Reading the file."), call])

    llm = MockFunctionCallingLLM(response_generator=replies)
    with t.stream(generation_config=GEN) as s:
        for _ in s.wrap(llm.stream_chat([ChatMessage(role="user", content="Fix the bug")])):
            pass
    whole = ChatMessage(role="assistant", blocks=[TextBlock(text="Reading the file."), call])
    with Tract.open(tmp_path / "ref.db") as ref:
        ref.system("You are a coding assistant.")
        ref.user("Fix the bug")
        assert ref.commit(whole, generation_config=GEN).hash == s.commit.hash
    assert s.commit.body["tool_calls"][0]["function"] == {"name": "read_file", "arguments": '{"path": "app.py"}'}


def test_llamaindex_responses_over_openai_chunks_carry_the_usage(t: Tract) -> None:
    chunks, so_far, responses = openai_text_chunks(), "", []
    for chunk in chunks:  # what an OpenAI-backed LlamaIndex LLM streams: a delta, the message so far, the raw chunk
        delta = chunk.choices[0].delta.content or "" if chunk.choices else ""
        so_far += delta
        responses.append(ChatResponse(message=ChatMessage(role="assistant", content=so_far), delta=delta, raw=chunk))
    with t.stream() as s:
        for response in responses:
            s.feed(response)
    assert s.commit.content == "Use `is None` here." and s.finish_reason == "stop"
    assert t.show().usage == Usage(40, 9, 49, cache_read_tokens=32, source="openai")


# --------------------------------------------------------------------------- interruptions and retries


def test_an_exception_commits_the_partial_reply_and_a_retry_edits_it(t: Tract) -> None:
    def flaky() -> Iterator[ChatCompletionChunk]:
        yield from openai_text_chunks()[:3]  # "Use `is None`"
        raise ConnectionError("connection reset")

    with pytest.raises(ConnectionError), t.stream(generation_config=GEN) as s:
        for _ in s.wrap(flaky()):
            pass
    partial = t.show()
    assert s.partial and partial.hash == s.commit.hash
    assert partial.content == "Use `is None`"
    assert partial.metadata == {"partial": True, "error": "ConnectionError"}
    assert "interrupted by ConnectionError" in partial.message and partial.generation_config == GEN
    assert t.compile().to_openai()[-1]["content"] == "Use `is None`"  # the model sees what arrived

    with t.stream(generation_config=GEN, retry=True) as again:
        assert again.retry_of == partial.hash
        for _ in again.wrap(openai_text_chunks()):
            pass
    edit = t.show()
    assert edit.operation is EDIT and edit.response_to == partial.hash
    assert edit.metadata is None and edit.message is None  # not flagged partial
    assert edit.usage == Usage(40, 9, 49, cache_read_tokens=32, source="openai")
    contents = [m["content"] for m in t.compile().to_openai()]
    assert contents == ["You are a coding assistant.", "Fix the bug", "Use `is None` here."]
    assert [c.operation.value for c in t.log()][:2] == ["edit", "append"]  # history keeps the partial


def test_keyboard_interrupt_mid_tool_call_keeps_what_arrived(t: Tract) -> None:
    events = anthropic_events()[:7]  # the tool_use block's first fragment only
    with pytest.raises(KeyboardInterrupt), t.stream(metadata={"attempt": 1}) as s:
        for event in events:
            s.feed(event)
        raise KeyboardInterrupt
    partial = t.show()
    assert partial.metadata == {"attempt": 1, "partial": True, "error": "KeyboardInterrupt"}
    assert partial.body["tool_calls"][0]["function"] == {"name": "read_file", "arguments": '{"path"'}
    assert partial.usage == Usage(132, 1, 133, cache_read_tokens=100, cache_write_tokens=7, source="anthropic")
    assert t.compile().to_anthropic()["messages"][-1]["content"][0] == {"type": "text", "text": "Let me look at it."}

    with t.stream(retry=s.commit) as again:  # retry names the partial reply explicitly
        for event in anthropic_events():
            again.feed(event)
    retried = t.show()
    assert retried.operation is EDIT and retried.body["tool_calls"][0]["function"]["arguments"] == '{"path": "app.py"}'


async def _stalled(chunks: list[Any], arrived: asyncio.Event) -> AsyncIterator[Any]:
    for chunk in chunks:
        yield chunk
    arrived.set()
    await asyncio.Event().wait()  # the provider stops sending


async def test_cancellation_commits_the_partial_reply_without_blocking_the_loop(tmp_path: Any) -> None:
    t = await asyncio.to_thread(Tract.open, tmp_path / "cancel.db")
    await asyncio.to_thread(t.user, "Fix the bug")
    arrived = asyncio.Event()

    async def consume() -> ReplyStream:
        async with t.astream(generation_config=GEN) as s:
            async for _ in s.wrap(_stalled(openai_text_chunks()[:3], arrived)):
                pass
        return s

    with no_blocking_io():
        task = asyncio.create_task(consume())
        await arrived.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        partial = await asyncio.to_thread(t.show)
        assert partial.content == "Use `is None`"
        assert partial.metadata == {"partial": True, "error": "CancelledError"}

        async with t.astream(generation_config=GEN, retry=True) as again:
            async for _ in again.wrap(_chunks(openai_text_chunks())):
                pass
        final = await asyncio.to_thread(t.compile)
    assert again.commit.operation is EDIT and again.commit.response_to == partial.hash
    assert final.to_openai()[-1] == {"role": "assistant", "content": "Use `is None` here."}
    await asyncio.to_thread(t.close)


async def _chunks(chunks: list[Any]) -> AsyncIterator[Any]:
    for chunk in chunks:
        yield chunk


def test_a_retry_that_fails_again_stays_an_edit_of_the_first_reply(t: Tract) -> None:
    first = None
    for attempt, cut in enumerate([2, 4]):
        with pytest.raises(TimeoutError), t.stream(retry=attempt > 0) as s:
            for chunk in openai_text_chunks()[:cut]:
                s.feed(chunk)
            raise TimeoutError
        first = first or s.commit.hash
    assert t.show().operation is EDIT and t.show().response_to == first and t.show().metadata["partial"]
    with t.stream(retry=True) as s:
        s.feed("Use `is None` here.")
    assert s.commit.response_to == first and s.commit.metadata is None
    with t.stream(retry=True) as s:  # HEAD is no partial reply now: a retry appends
        s.feed("Anything else?")
    assert s.commit.operation.value == "append" and s.retry_of is None


# --------------------------------------------------------------------------- edges and bad input


def test_nothing_fed_commits_nothing_and_bad_input_is_refused(t: Tract) -> None:
    head = t.head
    with t.stream() as s:
        pass
    assert s.commit is None and t.head == head
    with pytest.raises(RuntimeError), t.stream() as s:
        raise RuntimeError("failed before the first token")
    assert s.commit is None and s.partial and t.head == head

    with pytest.raises(InvalidInputError, match="cannot read a stream chunk of type int"), t.stream() as s:
        s.feed(42)
    with pytest.raises(InvalidInputError, match="feed the AIMessageChunks"), t.stream() as s:
        s.feed(AIMessage(content="a whole reply"))
    with pytest.raises(InvalidInputError, match="of type dict"), t.stream() as s:
        s.feed({"type": ["not", "an", "event"]})
    with pytest.raises(InvalidInputError, match="fed text chunks and now a openai chunk"), t.stream() as s:
        s.feed("Hi")
        s.feed(openai_text_chunks()[1])
    assert t.show().metadata == {"partial": True, "error": "InvalidInputError"}  # what arrived ("Hi") is kept
    with pytest.raises(InvalidInputError, match="has ended"):
        s.feed("late")
    with pytest.raises(InvalidInputError, match="set by the stream itself"):
        t.stream(metadata={"partial": False})
    with pytest.raises(InvalidInputError, match="generation_config must be a dict"):
        t.stream("gpt-4o")
    with pytest.raises(InvalidInputError, match="not open yet"):
        t.stream().feed("Hi")
    with pytest.raises(InvalidInputError, match="at most 256 characters"):
        t.stream(retry="~" * 40000)  # refused before any database work
    with pytest.raises(CommitNotFoundError), t.stream(retry="0" * 64):
        pass
    with pytest.raises(EditTargetError, match="names a user message"), t.stream(retry="HEAD~1"):
        pass
    t.branch("side", switch=True)
    elsewhere = t.assistant("On the side branch")
    t.switch("main")
    with pytest.raises(EditTargetError, match="not in HEAD's history"), t.stream(retry=elsewhere):
        pass
    with pytest.raises(InvalidInputError, match="wrap"), t.stream() as s:
        s.wrap("not a stream")


def test_dict_chunks_read_like_the_sdk_objects(t: Tract) -> None:
    """Servers and proxies that hand back plain JSON (LiteLLM, raw SSE) give the same message."""
    replies = []
    for chunks in (openai_tool_chunks(), anthropic_events()):
        with t.stream() as s:
            for chunk in chunks:
                s.feed(chunk.model_dump())
        with t.stream() as objects:
            for chunk in chunks:
                objects.feed(chunk)
        assert s.message == objects.message and s.usage == objects.usage and s.kind == objects.kind
        replies.append(s.message)
    assert [r["tool_calls"][0]["function"]["name"] for r in replies] == ["read_file", "read_file"]
