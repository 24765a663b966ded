"""TractMemory under real LlamaIndex agents, on SQLite files and on PostgreSQL.

Every agent here is a real ``FunctionAgent`` or ``AgentWorkflow`` driven by LlamaIndex's
``MockFunctionCallingLLM`` with a deterministic reply function that records every message list
it is given. Where LlamaIndex's own ``ChatMemoryBuffer`` can hold the same conversation, the
two are compared message for message (``model_dump(mode="json")``). Each test also looks at the
session through tract (``memory.tract``): one commit per message, compressions that keep the
originals, ``cleared/<n>`` branches. Reopening happens with new memory objects, through a
workflow ``Context`` and in new processes.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    LLMMetadata,
    MessageRole,
    TextBlock,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import Field
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.workflow import Context, JsonSerializer

from tract_core import InvalidInputError, Tract, TractConfig
from tract_core.messages import normalize_message
from tract_core.testing import create_database
from tract_core.testing.processes import run_in_child
from tract_core.tokens import MESSAGE_OVERHEAD, REPLY_PRIMING, count_body
from tract_llamaindex import TractMemory, close_stores
from tract_llamaindex.memory import DEFAULT_TOKEN_BUDGET

# LlamaIndex's workflows inspect the agents' pydantic attributes when building their steps,
# touching deprecated pydantic accessors: noise from the libraries, not from tract.
pytestmark = [
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20"),
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211"),
]

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = "You are a careful calculator: always use the add tool and report the sum."
SUMMARY = "Summary of the earlier conversation: the user asked for several sums and the add tool answered each."
Dump = list[dict[str, Any]]


# -- deterministic models and tools ---------------------------------------------------------------


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def dump(messages: Sequence[ChatMessage]) -> Dump:
    """Messages exactly as LlamaIndex serialises them (roles, blocks, tool calls, additional_kwargs)."""
    return [m.model_dump(mode="json") for m in messages]


def dump_to_messages(dumped: Dump) -> list[ChatMessage]:
    """Messages back from their dumps (new objects)."""
    return [ChatMessage.model_validate(m) for m in dumped]


def numbers(messages: Sequence[ChatMessage]) -> tuple[int, int]:
    """The last two numbers of the latest user message."""
    text = next(m.content or "" for m in reversed(messages) if m.role == MessageRole.USER)
    a, b = (int(n) for n in re.findall(r"\d+", text)[-2:])
    return a, b


def tool_call(name: str, call_id: str, **kwargs: Any) -> ChatMessage:
    """An assistant message that calls one tool (blocks only, like LlamaIndex's function-calling LLMs)."""
    return ChatMessage(
        role="assistant", blocks=[ToolCallBlock(tool_call_id=call_id, tool_name=name, tool_kwargs=kwargs)]
    )


def calculator(calls: list[Any], name: str | None = None) -> MockFunctionCallingLLM:
    """A function-calling LLM: a user question ``... a + b?`` (or a hand-off to it) becomes an ``add``
    call with the id ``add-a-b``; the tool's result becomes ``The sum is <result>.``. Ids depend
    on the question only, never on how much context the model was given. Records every input."""

    def reply(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        calls.append(dump(messages) if name is None else (name, dump(messages)))
        last = messages[-1]
        if last.role == MessageRole.TOOL:
            called = next(b for b in messages[-2].blocks if isinstance(b, ToolCallBlock))
            if called.tool_name == "add":
                return ChatMessage(role="assistant", content=f"The sum is {last.content}.")
        a, b = numbers(messages)
        return tool_call("add", f"add-{a}-{b}", a=a, b=b)

    return MockFunctionCallingLLM(response_generator=reply)


def router(calls: list[Any]) -> MockFunctionCallingLLM:
    """A function-calling LLM that hands every user question off to the ``calculator`` agent."""

    def reply(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        calls.append(("router", dump(messages)))
        a, b = numbers(messages)
        return tool_call("handoff", f"handoff-{a}-{b}", to_agent="calculator", reason="the user wants a sum")

    return MockFunctionCallingLLM(response_generator=reply)


class Summarizer(CustomLLM):
    """A LlamaIndex LLM that answers every chat with :data:`SUMMARY` and records how it was called."""

    calls: list[tuple[str, list[ChatMessage]]] = Field(default_factory=list)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="summarizer")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        raise AssertionError("tract summarises through chat()/achat(), never complete()")

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        raise AssertionError("tract never streams a summary")

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        self.calls.append(("chat", list(messages)))
        return ChatResponse(message=ChatMessage(role="assistant", content=SUMMARY))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        self.calls.append(("achat", list(messages)))
        return ChatResponse(message=ChatMessage(role="assistant", content=SUMMARY))


def turn(question: str, a: int, b: int) -> Dump:
    """The four messages a FunctionAgent turn with one ``add`` call leaves in memory."""
    return dump(
        [
            ChatMessage(role="user", content=question),
            tool_call("add", f"add-{a}-{b}", a=a, b=b),
            ChatMessage(role="tool", content=str(a + b), additional_kwargs={"tool_call_id": f"add-{a}-{b}"}),
            ChatMessage(role="assistant", content=f"The sum is {a + b}."),
        ]
    )


def context_tokens(memory: TractMemory, messages: Sequence[ChatMessage]) -> int:
    """Tokens of a message list counted the way tract counts a compiled context (its tokenizer,
    the per-message overhead and the reply priming)."""
    counter = memory.tract.counter
    total = sum(count_body(counter, normalize_message(m).body) + MESSAGE_OVERHEAD for m in messages)
    return total + (REPLY_PRIMING if messages else 0)


def first_calls(calls: list[Dump]) -> list[Dump]:
    """The first LLM call of every agent run (the one that ends with the user's question): exactly
    what the memory returned, since no system prompt is added and no tool has run yet."""
    return [call for call in calls if call[-1]["role"] == "user"]


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    """Every test opens its databases afresh; nothing cached in the process survives it."""
    yield
    close_stores()


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """A fresh database, as ``from_defaults`` takes it: a SQLite file or a PostgreSQL URL."""
    if request.param == "sqlite":
        return {"path": str(tmp_path / "memory.db")}
    return {"url": create_database(request.getfixturevalue("postgres_server"))}


def run_child(function: str, *args: Any) -> Any:
    """Run ``function(*args)`` of this module in a new Python process; return what it returned (JSON)."""
    return run_in_child(__file__, function, *args)


async def child_continue(location: dict[str, str], session_id: str, question: str) -> Any:
    """(In a child process) one more agent turn on the session, opened with ``from_defaults``."""
    calls: list[Dump] = []
    memory = TractMemory.from_defaults(session_id=session_id, **location)
    before = dump(memory.get_all())
    agent = FunctionAgent(tools=[add], llm=calculator(calls), system_prompt=SYSTEM)
    answer = str(await agent.run(question, memory=memory))
    return {"before": before, "answer": answer, "calls": calls, "after": dump(memory.get_all())}


async def child_restore_context(data: dict[str, Any], question: str) -> Any:
    """(In a child process) restore a serialised workflow Context and run the agent on it, no memory given."""
    calls: list[Dump] = []
    agent = FunctionAgent(tools=[add], llm=calculator(calls), system_prompt=SYSTEM)
    ctx = Context.from_dict(agent, data, serializer=JsonSerializer())
    memory = await ctx.store.get("memory")
    answer = str(await agent.run(question, ctx=ctx))
    return {"type": type(memory).__name__, "answer": answer, "calls": calls, "after": dump(memory.get_all())}


# -- 1. a FunctionAgent with a tool ---------------------------------------------------------------


async def test_function_agent_sees_what_chat_memory_buffer_gives_and_every_message_is_a_commit(
    location: dict[str, str],
) -> None:
    questions = [("What is 2 + 3?", 2, 3), ("And 10 + 32?", 10, 32), ("Finally, 7 + 8?", 7, 8)]

    async def converse(memory: Any) -> tuple[list[str], list[Dump]]:
        calls: list[Dump] = []
        agent = FunctionAgent(tools=[add], llm=calculator(calls), system_prompt=SYSTEM)
        answers = [str(await agent.run(q, memory=memory)) for q, _, _ in questions]
        return answers, calls

    memory = TractMemory.from_defaults(session_id="agent-1", **location)
    answers, calls = await converse(memory)
    buffer = ChatMemoryBuffer.from_defaults()
    buffer_answers, buffer_calls = await converse(buffer)

    assert answers == buffer_answers == ["The sum is 5.", "The sum is 42.", "The sum is 15."]
    assert len(calls) == 6  # a tool call and a final answer per question
    assert calls == buffer_calls  # the very same messages, call after call

    expected = [m for q, a, b in questions for m in turn(q, a, b)]
    history = memory.get_all()
    assert dump(history) == dump(buffer.get_all()) == expected
    assert calls[-1] == dump([ChatMessage(role="system", content=SYSTEM), *history[:-1]])
    call = history[1].blocks[0]
    assert isinstance(call, ToolCallBlock) and (call.tool_name, call.tool_kwargs) == ("add", {"a": 2, "b": 3})
    assert history[2].additional_kwargs == {"tool_call_id": "add-2-3"}

    log = list(reversed(memory.tract.log(limit=None)))
    assert [c.role for c in log] == ["user", "assistant", "tool", "assistant"] * 3
    assert [c.body.get("content") for c in log if c.role == "user"] == [q for q, _, _ in questions]
    assert log[1].body["tool_calls"][0]["id"] == "add-2-3"
    assert log[2].body["tool_call_id"] == "add-2-3"
    # under budget, the memory's token count is tract's own count of its compiled context
    assert context_tokens(memory, memory.get()) == memory.tract.compile().token_count

    reopened = TractMemory.from_defaults(session_id="agent-1", **location)
    assert dump(reopened.get_all()) == dump(reopened.get()) == expected


# -- 2. a multi-agent workflow with a hand-off ----------------------------------------------------


async def test_agent_workflow_handoff_matches_chat_memory_buffer(location: dict[str, str]) -> None:
    questions = [("What is 4 + 5?", 4, 5), ("Now 20 + 22?", 20, 22)]
    handed_off = "Agent calculator is now handling the request due to the following reason: the user wants a sum."

    async def converse(memory: Any) -> tuple[list[str], list[Any]]:
        calls: list[Any] = []
        workflow = AgentWorkflow(
            agents=[
                FunctionAgent(
                    name="router",
                    description="Sends questions to the right agent.",
                    system_prompt="Route the question.",
                    llm=router(calls),
                    can_handoff_to=["calculator"],
                ),
                FunctionAgent(
                    name="calculator",
                    description="Adds numbers.",
                    system_prompt=SYSTEM,
                    tools=[add],
                    llm=calculator(calls, "calculator"),
                    can_handoff_to=[],
                ),
            ],
            root_agent="router",
        )
        answers = [str(await workflow.run(user_msg=q, memory=memory)) for q, _, _ in questions]
        return answers, calls

    memory = TractMemory.from_defaults(session_id="workflow", **location)
    answers, calls = await converse(memory)
    buffer = ChatMemoryBuffer.from_defaults()
    buffer_answers, buffer_calls = await converse(buffer)

    assert answers == buffer_answers == ["The sum is 9.", "The sum is 42."]
    assert [name for name, _ in calls] == ["router", "calculator", "calculator"] * 2
    assert calls == buffer_calls

    def handoff_turn(question: str, a: int, b: int) -> Dump:
        handoff = [
            ChatMessage(role="user", content=question),
            tool_call("handoff", f"handoff-{a}-{b}", to_agent="calculator", reason="the user wants a sum"),
            ChatMessage(
                role="tool",
                content=f"{handed_off}\nPlease continue with the current request.",
                additional_kwargs={"tool_call_id": f"handoff-{a}-{b}"},
            ),
        ]
        return dump(handoff) + turn(question, a, b)[1:]

    expected = [m for q, a, b in questions for m in handoff_turn(q, a, b)]
    history = memory.get_all()
    assert dump(history) == dump(buffer.get_all()) == expected
    assert len(memory.tract.log(limit=None)) == len(expected) == 12

    # the calculator took over mid-run from what the router left in the memory
    assert calls[1][1][1:] == expected[:3]
    assert calls[1][1][0]["blocks"] == [{"block_type": "text", "text": SYSTEM}]
    # the second question starts with the router, which sees the whole first exchange
    assert calls[3] == ("router", dump([ChatMessage(role="system", content="Route the question.")]) + expected[:7])


# -- 3. the token budget --------------------------------------------------------------------------


async def test_long_agent_conversation_is_summarised_within_budget_and_nothing_is_lost(
    location: dict[str, str],
) -> None:
    limit = 400
    summarizer = Summarizer()
    memory = TractMemory.from_defaults(session_id="long", token_budget=limit, llm=summarizer, **location)
    system = ChatMessage(role="system", content=SYSTEM)
    memory.put(system)
    calls: list[Dump] = []
    agent = FunctionAgent(tools=[add], llm=calculator(calls))  # no system prompt: the LLM sees the memory
    questions = [
        (
            f"Question {i}: please add {10 * i + 1} and {i + 2} for me, then explain the result kindly, "
            "step by step, so that I can check it myself later on.",
            10 * i + 1,
            i + 2,
        )
        for i in range(12)
    ]
    for question, _, _ in questions:
        await agent.run(question, memory=memory)

    expected = dump([system]) + [m for q, a, b in questions for m in turn(q, a, b)]
    # every message put is still there, in order, compressed or not
    assert dump(memory.get_all()) == expected

    # the summaries were written through the LLM's async API (the agent calls aget), from the transcript
    assert summarizer.calls and {how for how, _ in summarizer.calls} == {"achat"}
    assert "Question 0" in "\n".join(m.content or "" for m in summarizer.calls[0][1])
    records = [r for r in memory.tract.compressions() if r.status == "committed"]
    assert len(records) == len(summarizer.calls)

    compressed = 0
    for call in first_calls(calls):
        # the system message is always first and verbatim, and the LLM never gets more than the limit
        assert call[0] == dump([system])[0]
        assert context_tokens(memory, [ChatMessage.model_validate(m) for m in call]) <= limit
        end = expected.index(call[-1]) + 1  # the question this run answers
        if len(call) == end:  # under budget: the whole conversation, untouched
            assert call == expected[:end]
            continue
        compressed += 1
        # over budget: the summary, then the most recent turns verbatim, starting at a question
        assert call[1]["role"] == "system" and call[1]["blocks"] == [{"block_type": "text", "text": SUMMARY}]
        recent = call[2:]
        assert recent[0]["role"] == "user"
        assert recent == expected[end - len(recent) : end]
        assert len(recent) >= 5  # at least the previous turn and the new question
    assert compressed >= 3

    # the stored context itself was brought under the limit; the originals stay in the store
    assert memory.tract.compile().token_count <= limit
    assert len(memory.tract.log(limit=None)) < len(expected)
    lines = [memory.tract.log(limit=None)] + [memory.tract.log(limit=None, start=r.old_head) for r in records]
    assert {q for q, _, _ in questions} <= {c.body.get("content") for line in lines for c in line}
    for record in records:
        assert record.details["replaced"]
        for commit in record.details["replaced"]:
            assert memory.tract.show(commit).hash == commit

    # the synchronous get() compresses too, through chat()
    more: Dump = []
    while memory.tract.compile().token_count <= limit:
        n = 1000 + len(more)
        last = turn(f"Another one, please: what is {n} + 2345 when you add them up?", n, 2345)
        memory.put_messages(dump_to_messages(last))
        more += last
    before = len(summarizer.calls)
    got = memory.get()
    assert [how for how, _ in summarizer.calls[before:]] == ["chat"]
    assert dump(got[:1]) == dump([system]) and got[1].content == SUMMARY
    assert dump(got[-4:]) == last
    assert context_tokens(memory, got) <= limit
    assert memory.tract.compile().token_count <= limit
    assert dump(memory.get_all()) == expected + more


async def test_without_an_llm_get_sends_pinned_messages_and_the_latest_turns_and_writes_nothing(
    tmp_path: Path,
) -> None:
    system = ChatMessage(role="system", content=SYSTEM)
    history = [system] + [
        ChatMessage.model_validate(m)
        for i in range(12)
        for m in turn(f"Question {i}: what do {i * 7} and {i + 3} make together?", i * 7, i + 3)
    ]
    memory = TractMemory.from_defaults(path=tmp_path / "window.db", session_id="window")
    memory.put_messages(history)
    head, total = memory.tract.head, memory.tract.compile().token_count
    latest = len(history) - 4  # the last question

    for limit in range(25, total + 5):  # every budget, including those just under a turn's size
        window = TractMemory.from_dict({**memory.to_dict(), "token_budget": limit})
        got = window.get()
        assert dump(got[:1]) == dump([system])  # pinned: always there, first and verbatim
        start = len(history) - len(got) + 1
        assert dump(got[1:]) == dump(history[start:])  # the most recent messages...
        assert got[1].role == MessageRole.USER  # ... from a question on: a turn is never cut in the middle
        if start == latest and context_tokens(window, got) > limit:
            continue  # not even the latest turn fits: it is sent anyway
        assert context_tokens(window, got) <= limit
        if start > 1:  # ... and as many turns as fit: one more would not
            previous = max(i for i in range(1, start) if history[i].role == MessageRole.USER)
            assert context_tokens(window, [system, *history[previous:]]) > limit
        if limit % 50 == 0:
            assert dump(await window.aget()) == dump(got)
    assert dump(TractMemory.from_dict({**memory.to_dict(), "token_budget": 25}).get()[1:]) == dump(history[latest:])
    assert dump(TractMemory.from_dict({**memory.to_dict(), "token_budget": total}).get()) == dump(history)

    # nothing was written: no compression, the same head, the whole history
    assert memory.tract.head == head
    assert memory.tract.compressions() == []
    assert len(memory.tract.log(limit=None)) == len(history)
    assert dump(memory.get_all()) == dump(history)


@pytest.mark.filterwarnings("ignore::tract_core.TokenizerFallbackWarning")  # gpt-4o's encoding, offline
def test_the_budget_is_the_tracts_token_budget(tmp_path: Path) -> None:
    path = tmp_path / "budget.db"
    memory = TractMemory.from_defaults(path=path, session_id="given", token_budget=300)
    memory.put(ChatMessage(role="user", content="Hi"))
    assert memory.tract.config.token_budget == memory.tract.status().token_budget == 300
    assert Tract.open(path=path, tract_id="given", create=False).config.token_budget == 300  # saved with it

    with Tract.open(path=path, tract_id="preset", config=TractConfig(token_budget=123, model="gpt-4o")) as t:
        t.user("set up elsewhere")
    inherited = TractMemory.from_defaults(path=path, session_id="preset")  # none given: the tract's
    assert inherited.token_budget is None  # building a memory does no I/O
    assert inherited.get(initial_token_count=100)[0].content == "set up elsewhere"
    assert inherited.token_budget == 123 and inherited.tract.config == TractConfig(token_budget=123, model="gpt-4o")
    with pytest.raises(InvalidInputError, match=r"leaves nothing of token_budget \(123\)"):
        inherited.get(initial_token_count=123)
    resized = TractMemory.from_defaults(path=path, session_id="preset", token_budget=456)  # given: it replaces it
    resized.get()
    assert resized.tract.config == TractConfig(token_budget=456, model="gpt-4o")  # the model is kept

    default = TractMemory.from_defaults(path=path, session_id="fresh")
    default.get()
    assert default.token_budget == default.tract.status().token_budget == DEFAULT_TOKEN_BUDGET


def test_token_limit_is_the_deprecated_name_of_token_budget_and_behaves_the_same(tmp_path: Path) -> None:
    history = [ChatMessage(role="system", content=SYSTEM)] + dump_to_messages(
        [m for i in range(6) for m in turn(f"What is {i} + {i + 1}?", i, i + 1)]
    )
    with pytest.warns(DeprecationWarning, match=r"token_limit=\.\.\.\) is deprecated: use token_budget=120") as caught:
        old = TractMemory.from_defaults(path=tmp_path / "old.db", session_id="s", token_limit=120)
    assert caught[0].filename == __file__  # it points at the caller
    with pytest.warns(DeprecationWarning, match="use token_budget=120") as caught:
        built = TractMemory(session_id="s", token_limit=120, db=str(tmp_path / "built.db"))
    assert caught[0].filename == __file__
    new = TractMemory.from_defaults(path=tmp_path / "new.db", session_id="s", token_budget=120)
    assert old.token_budget == built.token_budget == new.token_budget == 120
    with pytest.warns(DeprecationWarning, match="TractMemory.token_limit is deprecated: use token_budget"):
        assert old.token_limit == 120
    for memory in (old, built, new):
        memory.put_messages(history)
    assert dump(old.get()) == dump(built.get()) == dump(new.get()) != dump(history)  # the same window
    assert old.tract.status().token_budget == new.tract.status().token_budget == 120
    assert repr(old).replace("old.db", "new.db") == repr(new)

    with pytest.raises(InvalidInputError, match="pass token_budget only, not token_budget and token_limit"):
        TractMemory.from_defaults(session_id="s", token_budget=120, token_limit=120)
    with pytest.raises(ValueError, match="pass token_budget only"):
        TractMemory(session_id="s", token_budget=120, token_limit=120)

    # a memory serialized before the rename restores without a warning
    data = {**new.to_dict(), "token_limit": 99}
    del data["token_budget"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert TractMemory.from_dict(data).token_budget == 99


# -- 4. fresh copies, truthiness ------------------------------------------------------------------


def test_get_returns_fresh_messages_and_an_empty_memory_is_truthy(tmp_path: Path) -> None:
    memory = TractMemory.from_defaults(path=tmp_path / "copies.db", session_id="copies")
    assert bool(memory) is True and memory.get() == [] and memory.get_all() == []
    fallback = ChatMemoryBuffer.from_defaults()
    assert (memory or fallback) is memory  # what agents do with the memory they are given

    history = dump_to_messages(turn("What is 1 + 2?", 1, 2))
    memory.put_messages(history)
    expected = dump(history)

    for read in (memory.get, memory.get_all):
        got = read()
        got.append(ChatMessage(role="user", content="appended by the agent"))
        got[0].content = "changed"
        got[0].additional_kwargs["extra"] = True
        got[1].blocks.append(TextBlock(text="more"))
        got[1].blocks[0].tool_kwargs["a"] = 99
        got[2].additional_kwargs["tool_call_id"] = "tampered"
        assert dump(memory.get()) == expected
        assert dump(memory.get_all()) == expected
    assert memory.get() is not memory.get()
    assert memory.get()[0] is not memory.get()[0]


async def test_aget_hands_out_new_objects_so_changing_them_changes_no_other_aget(tmp_path: Path) -> None:
    """The memory decodes each message once and copies it for every aget(): what one caller does to
    the messages it got (AgentWorkflow writes its state into the last one's text block, in place)
    shows neither in what another aget() returned before nor in any later one."""
    memory = TractMemory.from_defaults(path=tmp_path / "aget.db", session_id="aget")
    history = [
        ChatMessage(role="user", content="Hi, I'm Ada."),
        ChatMessage(role="assistant", content="Hello Ada!"),
        *dump_to_messages(turn("What is 1 + 2?", 1, 2)),
    ]
    for message in history:
        await memory.aput(message)
    first, second = await memory.aget(), await memory.aget()
    expected = dump(history)
    unset = [m.model_dump(mode="json", exclude_unset=True) for m in second]
    assert dump(first) == dump(second) == expected
    for a, b in zip(first, second, strict=True):
        assert a is not b and a.blocks is not b.blocks and a.additional_kwargs is not b.additional_kwargs
        assert all(x is not y for x, y in zip(a.blocks, b.blocks, strict=True))

    block = first[0].blocks[0]
    assert isinstance(block, TextBlock)
    block.text = "Current state: {}. Hi, I'm Ada."  # what AgentWorkflow does with a state
    first[1].blocks.append(TextBlock(text="more"))
    first[1].additional_kwargs = {"assigned": True}  # an assignment marks the field as set
    first[2].role = MessageRole.SYSTEM
    first[2].additional_kwargs["extra"] = True
    first[3].blocks[0].tool_kwargs["a"] = 99  # type: ignore[union-attr]
    first[4].additional_kwargs["tool_call_id"] = "tampered"
    first[5].model_fields_set.discard("role")  # pydantic's own record of the fields set, too
    first.append(ChatMessage(role="user", content="appended by the agent"))

    third = await memory.aget()
    for got in (second, third):
        assert dump(got) == expected
        assert [m.model_dump(mode="json", exclude_unset=True) for m in got] == unset


def test_messages_written_through_tract_come_back_as_llamaindex_builds_them(tmp_path: Path) -> None:
    """Text messages committed through the tract (no LlamaIndex dump kept with them) come back as
    ``ChatMessage(role=..., content=..., additional_kwargs={})`` would be: equal, with the same
    fields marked as set (what ``model_dump(exclude_unset=True)`` writes)."""
    memory = TractMemory.from_defaults(path=tmp_path / "typed.db", session_id="typed")
    tract = memory.tract
    typed = [("system", "Be brief."), ("developer", "Use metric units."), ("user", "Hi"), ("assistant", "Hello!")]
    for role, text in typed:
        tract.commit({"role": role, "content": text})
    expected = [ChatMessage(role=role, content=text, additional_kwargs={}) for role, text in typed]
    for got in (memory.get(), memory.get()):
        assert got == expected
        assert [m.model_dump(exclude_unset=True) for m in got] == [m.model_dump(exclude_unset=True) for m in expected]
        assert [(m.model_fields_set, m.blocks[0].model_fields_set) for m in got] == [
            (m.model_fields_set, m.blocks[0].model_fields_set) for m in expected
        ]


def test_get_follows_edits_pins_and_branches_between_reads(tmp_path: Path) -> None:
    """What get() returns follows every change made through the tract between two reads: an EDIT
    in the middle, a pin (same message, new priority), a new branch, a switch back."""
    memory = TractMemory.from_defaults(path=tmp_path / "changes.db", session_id="changes")
    texts = [f"message {i}: " + "words " * 20 for i in range(6)]
    history = [ChatMessage(role="user" if i % 2 == 0 else "assistant", content=t) for i, t in enumerate(texts)]
    memory.put_messages(history)
    tract = memory.tract
    assert dump(memory.get()) == dump(history)

    second = tract.log(limit=None)[-2]  # the second message (log is newest first)
    tract.commit({"role": "assistant", "content": "edited"}, operation="edit", response_to=second.hash)
    edited = [history[0], ChatMessage(role="assistant", content="edited"), *history[2:]]
    assert dump(memory.get()) == dump(edited)

    # room for the last turn only: pinning the first message keeps it in front of that turn
    sizes = [e.tokens for e in tract.compile().entries()]
    room = memory.token_budget - (REPLY_PRIMING + sizes[0] + sizes[-2] + sizes[-1])
    assert dump(memory.get(initial_token_count=room)) == dump(history[-2:])
    tract.annotate(tract.log(limit=None)[-1].hash, "pinned")
    assert dump(memory.get(initial_token_count=room)) == dump([history[0], *history[-2:]])

    tract.branch("side", switch=True)
    memory.put(ChatMessage(role="user", content="on the side branch"))
    assert dump(memory.get())[-1]["blocks"][0]["text"] == "on the side branch"
    tract.switch("main")
    assert dump(memory.get()) == dump(edited)


# -- 5. another process -------------------------------------------------------------------------


async def test_another_process_continues_the_conversation(location: dict[str, str]) -> None:
    calls: list[Dump] = []
    memory = TractMemory.from_defaults(session_id="shared", **location)
    agent = FunctionAgent(tools=[add], llm=calculator(calls), system_prompt=SYSTEM)
    assert str(await agent.run("What is 3 + 4?", memory=memory)) == "The sum is 7."
    first = turn("What is 3 + 4?", 3, 4)

    child = run_child("child_continue", location, "shared", "Then 30 + 12?")
    second = turn("Then 30 + 12?", 30, 12)
    assert child["before"] == first
    assert child["answer"] == "The sum is 42."
    # the child's LLM saw the earlier turn before the new question
    assert child["calls"][0] == dump([ChatMessage(role="system", content=SYSTEM)]) + first + second[:1]
    assert child["after"] == first + second

    # the first process's memory (the same object) sees the child's messages, and continues after them
    assert dump(memory.get_all()) == dump(memory.get()) == first + second
    assert str(await agent.run("Last: 1 + 1?", memory=memory)) == "The sum is 2."
    assert calls[-2][1:] == first + second + turn("Last: 1 + 1?", 1, 1)[:1]
    assert dump(memory.get_all()) == first + second + turn("Last: 1 + 1?", 1, 1)
    assert len(memory.tract.log(limit=None)) == 12


# -- 6. serialization -----------------------------------------------------------------------------


async def test_to_dict_and_from_dict_reconnect_to_the_session(tmp_path: Path) -> None:
    summarizer = Summarizer()
    memory = TractMemory.from_defaults(path=tmp_path / "dict.db", session_id="dict", token_budget=999)
    memory.put_messages(dump_to_messages(turn("What is 5 + 6?", 5, 6)))

    data = memory.to_dict()
    assert json.loads(json.dumps(data)) == data  # plain data
    assert data == {
        "session_id": "dict",
        "token_budget": 999,
        "db": str(tmp_path / "dict.db"),
        "recent_ratio": 0.5,
        "summary_tokens": None,
        "class_name": "TractMemory",
    }
    restored = TractMemory.from_dict(data)
    assert restored is not memory and restored.tract.tract_id == memory.tract.tract_id == "dict"
    assert restored.token_budget == 999 and restored.llm is None
    assert dump(restored.get_all()) == dump(memory.get_all()) == turn("What is 5 + 6?", 5, 6)
    restored.put(ChatMessage(role="user", content="Thanks!"))
    assert memory.get()[-1].content == "Thanks!"

    with_llm = TractMemory.from_dict(data, llm=summarizer)
    assert with_llm.llm is summarizer
    # the llm is not serialized, but a memory restored in the same process finds it again
    assert "llm" not in with_llm.to_dict()
    assert TractMemory.from_dict(with_llm.to_dict()).llm is summarizer

    in_memory = TractMemory.from_defaults(session_id="private")
    in_memory.put(ChatMessage(role="user", content="Only in this process"))
    private = in_memory.to_dict()
    assert private["db"].startswith("tract-store://")
    assert [m.content for m in TractMemory.from_dict(private).get()] == ["Only in this process"]
    unknown = {**private, "db": "tract-store://" + "0" * 32}
    with pytest.raises(InvalidInputError, match="another process"):
        TractMemory.from_dict(unknown)
    close_stores()  # the in-memory database is gone, and so is its handle
    with pytest.raises(InvalidInputError, match="path= or url="):
        TractMemory.from_dict(private)


async def test_workflow_context_round_trip_continues_the_conversation(location: dict[str, str]) -> None:
    summarizer = Summarizer()
    calls: list[Dump] = []
    agent = FunctionAgent(tools=[add], llm=calculator(calls), system_prompt=SYSTEM)
    memory = TractMemory.from_defaults(session_id="ctx", llm=summarizer, **location)
    ctx = Context(agent)
    assert str(await agent.run("What is 8 + 9?", ctx=ctx, memory=memory)) == "The sum is 17."
    system = dump([ChatMessage(role="system", content=SYSTEM)])
    first, second, third = turn("What is 8 + 9?", 8, 9), turn("Plus 11 + 12?", 11, 12), turn("And 2 + 2?", 2, 2)

    data = ctx.to_dict(serializer=JsonSerializer())
    data = json.loads(json.dumps(data))  # what a server would store
    restored = Context.from_dict(agent, data, serializer=JsonSerializer())
    restored_memory = await restored.store.get("memory")
    assert isinstance(restored_memory, TractMemory) and restored_memory is not memory
    assert (restored_memory.session_id, restored_memory.db) == ("ctx", memory.db)
    assert restored_memory.llm is summarizer  # found again in this process

    assert str(await agent.run("Plus 11 + 12?", ctx=restored)) == "The sum is 23."
    assert calls[2] == system + first + second[:1]  # the previous turn, read from the tract
    assert dump(memory.get_all()) == first + second
    assert len(memory.tract.log(limit=None)) == 8

    # another process restores the same Context and continues too (no memory argument, no llm there)
    child = run_child("child_restore_context", ctx.to_dict(serializer=JsonSerializer()), "And 2 + 2?")
    assert child["type"] == "TractMemory"
    assert child["answer"] == "The sum is 4."
    assert child["calls"][0] == system + first + second + third[:1]
    assert dump(memory.get_all()) == child["after"] == first + second + third


# -- 7. set / reset -------------------------------------------------------------------------------


def test_set_and_reset_keep_the_old_conversation_on_a_branch(tmp_path: Path) -> None:
    memory = TractMemory.from_defaults(path=tmp_path / "set.db", session_id="set")
    first = [ChatMessage(role="user", content="Hi, I'm Ada."), ChatMessage(role="assistant", content="Hello Ada!")]
    memory.put_messages(first)
    second = [
        ChatMessage(role="system", content="Be brief."),
        *dump_to_messages(turn("What is 1 + 2?", 1, 2)),
    ]

    memory.set(second)
    assert dump(memory.get()) == dump(memory.get_all()) == dump(second)
    assert [c.content for c in reversed(memory.tract.log(limit=None, start="cleared/1"))] == [
        "Hi, I'm Ada.",
        "Hello Ada!",
    ]
    assert len(memory.tract.log(limit=None)) == len(second)

    head = memory.tract.head
    branches = sorted(b.name for b in memory.tract.list_branches())
    memory.set(dump_to_messages(dump(second)))  # the same messages again (new objects): nothing is written
    assert memory.tract.head == head
    assert sorted(b.name for b in memory.tract.list_branches()) == branches == ["cleared/1", "main"]

    memory.reset()
    assert memory.get() == [] and memory.get_all() == [] and memory
    assert memory.tract.head is None
    assert len(memory.tract.log(limit=None, start="cleared/2")) == len(second)
    assert len(memory.tract.log(limit=None, start="cleared/1")) == 2
    memory.put(ChatMessage(role="user", content="A new start"))
    assert [m.content for m in memory.get_all()] == ["A new start"]


def test_a_message_tract_cannot_store_raises_and_stores_nothing(tmp_path: Path) -> None:
    memory = TractMemory.from_defaults(path=tmp_path / "bad.db", session_id="bad")
    good = [ChatMessage(role="user", content="What is 1 + 1?"), ChatMessage(role="assistant", content="2")]
    memory.put_messages(good)
    head = memory.tract.head
    orphan = ChatMessage(role="tool", content="42", additional_kwargs={"score": float("inf")})  # not JSON

    with pytest.raises(InvalidInputError):
        memory.put_messages([ChatMessage(role="user", content="Stored?"), orphan])
    with pytest.raises(InvalidInputError):
        memory.put(orphan)
    with pytest.raises(InvalidInputError):
        memory.set([ChatMessage(role="user", content="Replace?"), orphan])

    assert memory.tract.head == head
    assert dump(memory.get()) == dump(memory.get_all()) == dump(good)
    assert [b.name for b in memory.tract.list_branches()] == ["main"]
    assert len(memory.tract.log(limit=None)) == 2


async def test_agent_chat_history_replaces_the_conversation_like_chat_memory_buffer(tmp_path: Path) -> None:
    given = [ChatMessage(role="user", content="I like round numbers."), ChatMessage(role="assistant", content="Noted.")]

    async def converse(memory: Any) -> list[Dump]:
        calls: list[Dump] = []
        agent = FunctionAgent(tools=[add], llm=calculator(calls))
        await agent.run("What is 10 + 20?", chat_history=given, memory=memory)
        await agent.run("And 30 + 40?", chat_history=given, memory=memory)
        return calls

    memory = TractMemory.from_defaults(path=tmp_path / "history.db", session_id="history")
    buffer = ChatMemoryBuffer.from_defaults()
    calls = await converse(memory)
    assert calls == await converse(buffer)
    assert first_calls(calls) == [dump(given) + turn("What is 10 + 20?", 10, 20)[:1]] + [
        dump(given) + turn("And 30 + 40?", 30, 40)[:1]
    ]
    assert dump(memory.get_all()) == dump(buffer.get_all()) == dump(given) + turn("And 30 + 40?", 30, 40)
    # the replaced conversation is kept
    assert [c.content for c in reversed(memory.tract.log(limit=None, start="cleared/1"))] == [
        m.content for m in dump_to_messages(dump(given) + turn("What is 10 + 20?", 10, 20))
    ]
