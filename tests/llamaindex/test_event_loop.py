"""No blocking I/O on the event loop in tract_llamaindex's async paths, on SQLite files and PostgreSQL.

LlamaIndex agents are async-only: they build, restore and call their memory on the event loop.
Each test runs under :func:`tract_core.testing.blocking.no_blocking_io` (blockbuster plus psycopg's
synchronous calls), so any blocking call tract makes on the loop's thread fails it. The agents are
real ``FunctionAgent`` runs driven by LlamaIndex's ``MockFunctionCallingLLM``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse, LLMMetadata
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.memory import Memory
from llama_index.core.storage.chat_store.base_db import MessageStatus
from llama_index.core.workflow import Context, JsonSerializer

from tract_core import Priority
from tract_core.policies import CompressPolicy, PinPolicy, PolicyAction
from tract_core.testing import create_database
from tract_core.testing.blocking import no_blocking_io
from tract_llamaindex import TractChatStore, TractMemory, close_stores

pytestmark = [
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20"),
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211"),
]

FILLER = "The sourdough starter needs feeding twice a day and the oven runs hot on the left side. " * 2


class Summarizer(CustomLLM):
    """Answers every chat with a fixed summary."""

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="summarizer")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text="They talked about bread.")

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        raise NotImplementedError

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return ChatResponse(message=ChatMessage(role="assistant", content="They talked about bread."))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return ChatResponse(message=ChatMessage(role="assistant", content="They talked about bread."))


class HideSmallTalk:
    """A compile-triggered policy: hides (SKIP) a "lol" message when the context is compiled."""

    name = "small-talk"
    priority = 20
    trigger = "compile"

    def evaluate(self, tract: Any) -> PolicyAction | None:
        for commit in tract.log(limit=8):
            if commit.content == "lol" and not tract.show(commit.hash).annotations:
                return PolicyAction("annotate", {"target": commit.hash, "priority": Priority.SKIP.value})
        return None


def echo_llm() -> MockFunctionCallingLLM:
    def reply(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        return ChatMessage(role="assistant", content=f"Noted: {messages[-1].content}")

    return MockFunctionCallingLLM(response_generator=reply)


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return {"path": str(tmp_path / "memory.db")}
    return {"url": create_database(request.getfixturevalue("postgres_server"))}


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    close_stores()


async def test_function_agent_on_tract_memory_does_not_block(location: dict[str, str]) -> None:
    agent = FunctionAgent(tools=[], llm=echo_llm(), system_prompt="Be brief.")
    with no_blocking_io():
        memory = TractMemory.from_defaults(session_id="ada", llm=Summarizer(), token_budget=300, **location)
        for i in range(5):
            await agent.run(f"Turn {i}: {FILLER}", memory=memory)
        restored = TractMemory.from_dict(memory.to_dict())
        got = await restored.aget()
        everything = await restored.aget_all()
        await restored.aset(everything[:2])
        await restored.areset()
    assert got[0].content == "They talked about bread."  # compressed on the way, through the LLM's async API
    assert len(everything) == 10 and everything[0].content == f"Turn 0: {FILLER}"
    assert len(memory.tract.log(start="cleared/2")) == 2


async def test_a_workflow_context_restores_tract_memory_without_blocking(location: dict[str, str]) -> None:
    agent = FunctionAgent(tools=[], llm=echo_llm(), system_prompt="Be brief.")
    memory = TractMemory.from_defaults(session_id="bob", **location)
    ctx = Context(agent)
    await agent.run("Hi, I'm Bob.", memory=memory, ctx=ctx)
    data = ctx.to_dict(serializer=JsonSerializer())
    close_stores()
    with no_blocking_io():
        restored = Context.from_dict(agent, data, serializer=JsonSerializer())
        await agent.run("What is my name?", ctx=restored)
        history = await (await restored.store.get("memory")).aget_all()
    assert [m.content for m in history] == [
        "Hi, I'm Bob.",
        "Noted: Hi, I'm Bob.",
        "What is my name?",
        "Noted: What is my name?",
    ]


async def test_memory_on_tract_chat_store_does_not_block(location: dict[str, str]) -> None:
    with no_blocking_io():
        store = TractChatStore(**location)
        memory = Memory.from_defaults(
            session_id="carol", chat_store=store, token_limit=400, token_flush_size=100, chat_history_token_ratio=0.5
        )
        agent = FunctionAgent(tools=[], llm=echo_llm(), system_prompt="Be brief.")
        for i in range(4):
            await agent.run(f"Turn {i}: {FILLER}", memory=memory)
        active = await memory.aget_all(status=MessageStatus.ACTIVE)
        archived = await store.get_messages("carol", status=MessageStatus.ARCHIVED)
        assert await store.count_messages("carol", status=None) == 8
        assert await store.get_keys() == ["carol"]
        await store.add_messages("dave", [ChatMessage(role="user", content="x"), ChatMessage(role="user", content="y")])
        await store.set_messages("dave", [ChatMessage(role="user", content="z")])
        assert (await store.delete_message("dave", 0)).content == "z"
        await store.add_message("dave", ChatMessage(role="user", content="w"))
        assert [m.content for m in await store.delete_oldest_messages("dave", 1)] == ["w"]
        await store.delete_messages("carol")
        await memory.areset()
    assert archived and len(active) + len(archived) == 8


async def test_policies_run_off_the_event_loop(location: dict[str, str]) -> None:
    """Commit policies after aput/aput_messages, compile policies in aget, proposals decided with the
    async methods: all the database work and the summaries in worker threads."""
    agent = FunctionAgent(tools=[], llm=echo_llm(), system_prompt="Be brief.")
    with no_blocking_io():
        memory = TractMemory.from_defaults(
            session_id="erin",
            llm=Summarizer(),
            token_budget=300,
            policies=[PinPolicy(patterns=["must never"]), HideSmallTalk(), CompressPolicy(0.8, keep_recent=2)],
            autonomy="autonomous",
            **location,
        )
        await agent.run("You must never burn the bread.", memory=memory)
        await agent.run("lol", memory=memory)
        for i in range(4):
            await agent.run(f"Turn {i}: {FILLER}", memory=memory)
        got = await memory.aget()
        everything = await memory.aget_all()

        waiting = TractMemory.from_defaults(
            session_id="frank",
            llm=Summarizer(),
            token_budget=300,
            policies=[CompressPolicy(0.8, keep_recent=2)],
            **location,
        )
        for i in range(3):
            await agent.run(f"Turn {i}: {FILLER}", memory=waiting)
        (first,) = await waiting.apending_proposals()
        approved = await waiting.aapprove_proposal(first, decided_by="loop")
        for i in range(3, 6):
            await agent.run(f"Turn {i}: {FILLER}", memory=waiting)
        (second,) = await waiting.apending_proposals()
        rejected = await waiting.areject_proposal(second, reason="later")
        left = await waiting.apending_proposals()

    tract = memory.tract
    rule = "You must never burn the bread."
    assert [m.content for m in got[:3]] == [rule, f"Noted: {rule}", "They talked about bread."]  # both pinned
    assert "lol" not in [m.content for m in got] and len(everything) == 12
    decided = {(e.policy, e.trigger) for e in tract.policy_log(limit=None) if e.decision == "executed"}
    assert decided == {("pin", "commit"), ("small-talk", "compile"), ("compress", "commit")}
    assert (approved.status, approved.decided_by, rejected.status, left) == ("executed", "loop", "rejected", [])
    assert len(waiting.tract.compressions()) == 1
