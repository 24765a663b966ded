"""No blocking I/O on the event loop in tract_langchain's async paths, on SQLite files and PostgreSQL.

Each test runs an async path under :func:`tract_core.testing.blocking.no_blocking_io` (blockbuster,
the detector langchain-core's own tests use, plus psycopg's synchronous calls): any blocking call
made by tract code on the loop's thread fails the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core._api import LangChainDeprecationWarning
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnablePassthrough
from langchain_core.runnables.history import RunnableWithMessageHistory
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from pydantic import Field

from tract_core.testing import create_database
from tract_core.testing.blocking import no_blocking_io
from tract_langchain import TractChatMessageHistory, TractSaver
from tract_langchain.policies import SUMMARY_MARKER, TractCompressMiddleware, TractCompressNode

FILLER = "The sourdough starter needs feeding twice a day and the oven runs hot on the left side. " * 3


class EchoChatModel(BaseChatModel):
    """Answers ``echo: <last message>``."""

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(f"echo: {messages[-1].content}"))])


class AgentModel(GenericFakeChatModel):
    """Scripted agent replies; tools are accepted and ignored."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> AgentModel:
        return self


class SummaryModel(BaseChatModel):
    """A summariser that records how often it was asked."""

    calls: list[int] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "summary"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.calls.append(len(messages))
        return ChatResult(generations=[ChatGeneration(message=AIMessage("They talked about bread."))])


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return {"path": str(tmp_path / "chat.db")}
    return {"url": create_database(request.getfixturevalue("postgres_server"))}


def history_chain(factory: Any, shape: str) -> RunnableWithMessageHistory:
    model = EchoChatModel()
    with pytest.warns(LangChainDeprecationWarning):
        if shape == "history key":
            prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history"), ("human", "{question}")])
            return RunnableWithMessageHistory(
                prompt | model, factory, input_messages_key="question", history_messages_key="history"
            )
        prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("messages")])
        if shape == "input key":
            return RunnableWithMessageHistory(prompt | model, factory, input_messages_key="messages")
        return RunnableWithMessageHistory({"messages": RunnablePassthrough()} | prompt | model, factory)


@pytest.mark.parametrize("shape", ["history key", "input key", "message list"])
async def test_runnable_with_message_history_ainvoke_does_not_block(location: dict[str, str], shape: str) -> None:
    opened: list[TractChatMessageHistory] = []

    def factory(session_id: str) -> TractChatMessageHistory:  # called on the event loop by ainvoke
        opened.append(TractChatMessageHistory(session_id, **location))
        return opened[-1]

    chain = history_chain(factory, shape)
    payloads = {
        "history key": lambda q: {"question": q},
        "input key": lambda q: {"messages": [HumanMessage(q)]},
        "message list": lambda q: [HumanMessage(q)],
    }
    config = {"configurable": {"session_id": "ada"}}
    try:
        with no_blocking_io():
            for question in ("Hi, I'm Ada.", "What is my name?"):
                reply = await chain.ainvoke(payloads[shape](question), config)
                assert reply.content == f"echo: {question}"
        with TractChatMessageHistory("ada", **location) as stored:
            assert [m.content for m in stored.messages] == [
                "Hi, I'm Ada.",
                "echo: Hi, I'm Ada.",
                "What is my name?",
                "echo: What is my name?",
            ]
    finally:
        for history in opened:
            history.close()


async def test_history_async_methods_do_not_block(location: dict[str, str]) -> None:
    with no_blocking_io():
        history = TractChatMessageHistory("bob", **location)
        repr(history)
        await history.aadd_messages([HumanMessage("Hi"), AIMessage("Hello")])
        assert [m.content for m in await history.aget_messages()] == ["Hi", "Hello"]
        await history.aclear()
        assert await history.aget_messages() == []
    assert len(history.tract.log(start="cleared/1")) == 2
    history.close()


def conversation(turns: int) -> list[BaseMessage]:
    messages: list[BaseMessage] = [SystemMessage("You are terse.", id="sys")]
    for i in range(turns):
        messages.append(HumanMessage(f"Question {i}: {FILLER}", id=f"h{i}"))
        messages.append(AIMessage(f"Answer {i}: {FILLER}", id=f"a{i}"))
    return messages


@pytest.fixture
def tract_saver(location: dict[str, str]) -> Any:
    with TractSaver.from_conn_string(location.get("path") or location["url"]) as saver:
        yield saver


async def test_compress_node_in_an_async_graph_does_not_block(tract_saver: TractSaver) -> None:
    summary = SummaryModel()
    with no_blocking_io():
        node = TractCompressNode(summary, token_budget=700, keep_recent=2, saver=tract_saver)
        builder = StateGraph(MessagesState)
        builder.add_node("compress", node)
        builder.add_edge(START, "compress")
        graph = builder.compile(checkpointer=InMemorySaver())
        await graph.ainvoke({"messages": conversation(5)}, {"configurable": {"thread_id": "t"}})
    state = (await graph.aget_state({"configurable": {"thread_id": "t"}})).values["messages"]
    assert summary.calls and SUMMARY_MARKER in state[1].additional_kwargs


async def test_compress_middleware_in_an_async_agent_does_not_block(tract_saver: TractSaver) -> None:
    summary = SummaryModel()
    replies = iter([AIMessage(f"Answer {i}: {FILLER}", id=f"ai{i}") for i in range(4)])
    with no_blocking_io():
        middleware = TractCompressMiddleware(summary, token_budget=500, keep_recent=2, saver=tract_saver)
        agent = create_agent(AgentModel(messages=replies), [], middleware=[middleware], checkpointer=InMemorySaver())
        for i in range(4):
            await agent.ainvoke(
                {"messages": [HumanMessage(f"Round {i}: {FILLER}", id=f"q{i}")]}, {"configurable": {"thread_id": "t"}}
            )
    assert summary.calls


async def test_tract_saver_async_path_does_not_block(location: dict[str, str]) -> None:
    builder = StateGraph(MessagesState)
    builder.add_node("chat", lambda state: {"messages": [AIMessage("Hello!")]})
    builder.add_edge(START, "chat")
    where = location.get("path") or location["url"]
    with no_blocking_io():
        async with TractSaver.afrom_conn_string(where) as saver:
            graph = builder.compile(checkpointer=saver)
            await graph.ainvoke({"messages": [HumanMessage("Hi")]}, {"configurable": {"thread_id": "t"}})
            state = await graph.aget_state({"configurable": {"thread_id": "t"}})
    assert [m.content for m in state.values["messages"]] == ["Hi", "Hello!"]
