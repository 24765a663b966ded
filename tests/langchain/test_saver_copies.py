"""Reads hand out independent message objects, and a put sees every change, made in place or not.

LangGraph's own ``test_large_cases.py::test_state_graph_packets`` (and its async twin) edits a
message of ``get_state()`` in place and passes it to ``update_state``. Its fake model hands out the
same response objects on every call, so a saver that shares objects with its callers lets that edit
reach the model and the next thread. The scenario is reproduced here on every tract backend, next
to LangGraph's ``InMemorySaver`` (which serialises on every put, so it never shares anything), and
then read back by a second saver that has nothing cached.
"""

from __future__ import annotations

import asyncio
import copy
import enum
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage, message_to_dict
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Send

from tract_core.store.sql import SqlStore
from tract_core.testing import create_database
from tract_langchain import TractSaver

# -- LangGraph's test_state_graph_packets graph -----------------------------------------------------


class AgentState(TypedDict):
    messages: Annotated[list[BaseMessage], add_messages]


@tool
def search_api(query: str, idx: int = 0) -> str:
    """Searches the API for the query."""
    return f"result for {query}"


def _responses() -> list[AIMessage]:
    return [
        AIMessage(
            id="ai1", content="", tool_calls=[{"id": "tool_call123", "name": "search_api", "args": {"query": "query"}}]
        ),
        AIMessage(
            id="ai2",
            content="",
            tool_calls=[
                {"id": "tool_call234", "name": "search_api", "args": {"query": "another", "idx": 0}},
                {"id": "tool_call567", "name": "search_api", "args": {"query": "a third one", "idx": 1}},
            ],
        ),
        AIMessage(id="ai3", content="answer"),
    ]


def packets_workflow() -> tuple[StateGraph, FakeMessagesListChatModel]:
    """The agent/tools loop of the LangGraph test; the fake model returns the *same* objects each time."""
    model = FakeMessagesListChatModel(responses=_responses())

    def agent(data: AgentState) -> dict[str, Any]:
        return {"messages": model.invoke(data["messages"]), "something_extra": "hi there"}

    def should_continue(data: dict[str, Any]) -> Any:
        if tool_calls := data["messages"][-1].tool_calls:
            return [Send("tools", tool_call) for tool_call in tool_calls]
        return END

    def tools_node(call: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        output = search_api.invoke(call["args"], config)
        return {"messages": ToolMessage(content=output, name=call["name"], tool_call_id=call["id"])}

    workflow = StateGraph(AgentState)
    workflow.add_node("agent", agent)
    workflow.add_node("tools", tools_node)
    workflow.add_edge(START, "agent")
    workflow.add_conditional_edges("agent", should_continue)
    workflow.add_edge("tools", "agent")
    return workflow, model


def plain(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """Messages as dicts, without the random ids ``add_messages`` gives tool results."""
    dumped = []
    for message in messages:
        data = message_to_dict(message)
        if isinstance(message, ToolMessage):
            data["data"]["id"] = None
        dumped.append(data)
    return dumped


def ai(id: str, *calls: tuple[str, dict[str, Any]], content: str = "") -> dict[str, Any]:
    tool_calls = [{"id": call_id, "name": "search_api", "args": args, "type": "tool_call"} for call_id, args in calls]
    return message_to_dict(AIMessage(id=id, content=content, tool_calls=tool_calls))


def result(text: str, call_id: str) -> dict[str, Any]:
    return plain([ToolMessage(content=f"result for {text}", name="search_api", tool_call_id=call_id)])[0]


QUESTION = HumanMessage(content="what is weather in sf", id="question")
EDITED_AI1 = ai("ai1", ("tool_call123", {"query": "a different query"}))
AI2 = ai("ai2", ("tool_call234", {"query": "another", "idx": 0}), ("tool_call567", {"query": "a third one", "idx": 1}))


# -- the scenario, sync and async -------------------------------------------------------------------


def run_packets(checkpointer: Any, reread: Any) -> list[Any]:
    """LangGraph's interrupt_after and interrupt_before threads; ``reread(config)`` reads a thread's
    messages through a saver with nothing cached. Returns every observation, in order."""
    seen: list[Any] = []
    workflow, model = packets_workflow()
    for thread_id, interrupt in (("1", {"interrupt_after": ["agent"]}), ("2", {"interrupt_before": ["tools"]})):
        model.i = 0
        app = workflow.compile(checkpointer=checkpointer, **interrupt)
        config = {"configurable": {"thread_id": thread_id}}
        seen.append([list(c) for c in app.stream({"messages": copy.copy(QUESTION)}, config, durability="exit")])
        first = app.get_state(config)
        assert plain(first.values["messages"])[1] == ai("ai1", ("tool_call123", {"query": "query"}))

        last_message = app.get_state(config).values["messages"][-1]
        last_message.tool_calls[0]["args"]["query"] = "a different query"  # edited in place, as the test does
        assert plain(first.values["messages"])[1] == ai("ai1", ("tool_call123", {"query": "query"}))
        assert plain(app.get_state(config).values["messages"])[1]["data"]["tool_calls"][0]["args"] == {"query": "query"}
        app.update_state(config, {"messages": last_message, "something_extra": "hi there"})
        seen.append(plain(app.get_state(config).values["messages"]))
        assert seen[-1] == plain([QUESTION]) + [EDITED_AI1]
        assert reread(config) == seen[-1]  # the edit was saved, not only kept in memory

        seen.append([list(c) for c in app.stream(None, config)])
        seen.append(plain(app.get_state(config).values["messages"]))
        assert seen[-1] == plain([QUESTION]) + [EDITED_AI1, result("a different query", "tool_call123"), AI2]
        assert reread(config) == seen[-1]  # the tool's input and its result agree after a restart

        app.update_state(config, {"messages": AIMessage(content="answer", id="ai2"), "something_extra": "hi there"})
        seen.append(plain(app.get_state(config).values["messages"]))
        assert seen[-1][-1] == ai("ai2", content="answer") and len(seen[-1]) == 4
        assert reread(config) == seen[-1]
    # the model's own response objects were never touched by the edits above
    assert plain(model.responses) == plain(_responses())
    return seen


async def arun_packets(checkpointer: Any, reread: Any) -> list[Any]:
    """The async twin of :func:`run_packets` (``astream``, ``aget_state``, ``aupdate_state``)."""
    seen: list[Any] = []
    workflow, model = packets_workflow()
    for thread_id, interrupt in (("1", {"interrupt_after": ["agent"]}), ("2", {"interrupt_before": ["tools"]})):
        model.i = 0
        app = workflow.compile(checkpointer=checkpointer, **interrupt)
        config = {"configurable": {"thread_id": thread_id}}
        seen.append([list(c) async for c in app.astream({"messages": copy.copy(QUESTION)}, config, durability="exit")])
        last_message = (await app.aget_state(config)).values["messages"][-1]
        last_message.tool_calls[0]["args"]["query"] = "a different query"
        assert plain((await app.aget_state(config)).values["messages"])[1] == ai(
            "ai1", ("tool_call123", {"query": "query"})
        )
        await app.aupdate_state(config, {"messages": last_message, "something_extra": "hi there"})
        seen.append(plain((await app.aget_state(config)).values["messages"]))
        assert seen[-1] == plain([QUESTION]) + [EDITED_AI1]
        assert reread(config) == seen[-1]
        seen.append([list(c) async for c in app.astream(None, config)])
        seen.append(plain((await app.aget_state(config)).values["messages"]))
        assert seen[-1] == plain([QUESTION]) + [EDITED_AI1, result("a different query", "tool_call123"), AI2]
        assert reread(config) == seen[-1]
        await app.aupdate_state(
            config, {"messages": AIMessage(content="answer", id="ai2"), "something_extra": "hi there"}
        )
        seen.append(plain((await app.aget_state(config)).values["messages"]))
        assert reread(config) == seen[-1]
    assert plain(model.responses) == plain(_responses())
    return seen


# -- fixtures: every tract backend ------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "memory":
        opened = SqlStore()
    elif request.param == "sqlite":
        opened = SqlStore(path=tmp_path / "copies.db")
    else:
        opened = SqlStore(url=create_database(request.getfixturevalue("postgres_server")))
    yield opened
    opened.close()


def rereader(store: SqlStore) -> Any:
    """Reads a thread's latest messages through a new saver on the same store (nothing cached)."""

    def reread(config: dict[str, Any]) -> list[dict[str, Any]]:
        fresh = TractSaver(store)
        return plain(fresh.get_tuple(config).checkpoint["channel_values"]["messages"])

    return reread


def test_state_graph_packets_like_langgraph_test(store: SqlStore) -> None:
    memory = InMemorySaver()
    expected = run_packets(
        memory, lambda config: plain(memory.get_tuple(config).checkpoint["channel_values"]["messages"])
    )
    assert run_packets(TractSaver(store), rereader(store)) == expected


async def test_state_graph_packets_async_like_langgraph_test(store: SqlStore) -> None:
    memory = InMemorySaver()
    expected = await arun_packets(
        memory, lambda config: plain(memory.get_tuple(config).checkpoint["channel_values"]["messages"])
    )
    assert await arun_packets(TractSaver(store), rereader(store)) == expected


# -- independence of what reads return ---------------------------------------------------------------


def _put(saver: TractSaver, thread_id: str, messages: list[Any], parent: str | None = None) -> Any:
    checkpoint = empty_checkpoint()
    version = saver.get_next_version(None, None)
    checkpoint["channel_values"] = {"messages": messages}
    checkpoint["channel_versions"] = {"messages": version}
    config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    if parent:
        config["configurable"]["checkpoint_id"] = parent
    return saver.put(config, checkpoint, {"source": "loop", "step": 0}, {"messages": version})


def commits(saver: TractSaver, thread_id: str) -> int:
    """How many commits the thread's tract holds (every line, not only ``main``)."""
    tract_id = saver.tract(thread_id).tract_id
    with saver.store.read() as session:
        return len(session.commits.graph(tract_id))


def _messages(saver: TractSaver, config: dict[str, Any]) -> list[BaseMessage]:
    return saver.get_tuple(config).checkpoint["channel_values"]["messages"]


def test_every_read_returns_new_objects_that_share_nothing(store: SqlStore) -> None:
    saver = TractSaver(store)
    call = {"id": "c1", "name": "search_api", "args": {"query": "q", "filters": ["a"]}}
    original = [
        HumanMessage("hello", id="h1", additional_kwargs={"tags": ["x"]}),
        AIMessage("", id="a1", tool_calls=[call], response_metadata={"usage": {"n": 1}}),
    ]
    first = _put(saver, "t", original)
    second = _put(saver, "t", [*original, HumanMessage("more", id="h2")], first["configurable"]["checkpoint_id"])
    saver.copy_thread("t", "copy")
    expected = plain(_messages(saver, second))

    # what the caller passed to put is not what reads return, and editing it changes nothing stored
    original[1].tool_calls[0]["args"]["query"] = "changed by the caller"
    assert plain(_messages(saver, second)) == expected

    one, two = _messages(saver, second), _messages(saver, second)
    earlier = _messages(saver, first)
    for a, b in zip(one, two, strict=True):
        assert a is not b and a == b
        assert a.additional_kwargs is not b.additional_kwargs and a.response_metadata is not b.response_metadata
    assert one[1].tool_calls[0]["args"] is not two[1].tool_calls[0]["args"]
    assert earlier[1] is not one[1]

    one[0].content = "edited"
    one[0].additional_kwargs["tags"].append("y")
    one[1].tool_calls[0]["args"]["filters"].append("b")
    one[1].response_metadata["usage"]["n"] = 2
    assert plain(two) == expected
    assert plain(_messages(saver, second)) == expected
    assert plain(_messages(saver, first)) == expected[:2]
    assert plain(_messages(saver, {"configurable": {"thread_id": "copy"}})) == expected
    assert plain(
        next(iter(saver.list({"configurable": {"thread_id": "t"}}))).checkpoint["channel_values"]["messages"]
    ) == (expected)


def test_cold_reads_hand_out_objects_that_share_nothing(store: SqlStore) -> None:
    """A new saver decodes messages from the database and hands them out without copying them again:
    they must share nothing with each other, with later reads or with what the store keeps, within
    one ``list`` (checkpoints of two lines, read in one transaction) and across reads."""
    image = {"type": "image_url", "image_url": {"url": "https://e.x/a.png"}}
    call = {"id": "c1", "name": "search_api", "args": {"query": "q", "filters": ["a"]}}
    base = [
        HumanMessage([{"type": "text", "text": "look"}, image], id="h1", additional_kwargs={"tags": ["x"]}),
        AIMessage([{"type": "text", "text": "a cat"}], id="a1", tool_calls=[call]),
    ]
    shown = HumanMessage([{"type": "text", "text": "and this?"}, image], id="y1")
    parent = _put(TractSaver(store), "t", base)["configurable"]["checkpoint_id"]
    # three lines forked from the first checkpoint; the newest is the longest and is read first, so
    # the other two both decode their shared message ``y1`` from the same stored commit
    _put(TractSaver(store), "t", [*base, shown, HumanMessage("more", id="y2")], parent)
    _put(TractSaver(store), "t", [*base, shown, HumanMessage("other", id="y3")], parent)
    _put(TractSaver(store), "t", [*base, *(HumanMessage(f"x{i}", id=f"x{i}") for i in range(4))], parent)
    config = {"configurable": {"thread_id": "t"}}
    expected = [plain(t.checkpoint["channel_values"]["messages"]) for t in TractSaver(store).list(config)]

    cold = TractSaver(store)
    read = [t.checkpoint["channel_values"]["messages"] for t in cold.list(config)]
    assert [plain(messages) for messages in read] == expected
    for k, messages in enumerate(read):  # change everything mutable in each checkpoint's messages
        for message in messages:
            if isinstance(message.content, list):
                message.content.append({"type": "text", "text": "changed"})
                message.content[0]["text"] = "changed"
            message.additional_kwargs.setdefault("tags", []).append("y")
            for made in getattr(message, "tool_calls", []):
                made["args"]["filters"].append("b")
        assert [plain(later) for later in read[k + 1 :]] == expected[k + 1 :]  # the others are untouched
    assert [plain(t.checkpoint["channel_values"]["messages"]) for t in cold.list(config)] == expected
    assert [plain(t.checkpoint["channel_values"]["messages"]) for t in TractSaver(store).list(config)] == expected


def test_a_put_notices_edits_made_in_place_and_new_objects_alike(store: SqlStore) -> None:
    saver = TractSaver(store)
    config = _put(saver, "t", [HumanMessage("q", id="h1"), AIMessage("a", id="a1")])
    for edit in (
        lambda ms: setattr(ms[1], "content", "a, edited"),
        lambda ms: ms[1].additional_kwargs.update(flag=True),
        lambda ms: ms[1].response_metadata.update(score=1),
        lambda ms: ms[1].response_metadata.update(score=True),  # 1 == True in Python, not in JSON
        lambda ms: ms[1].response_metadata.update(score=1.0),
        lambda ms: ms[0].__setattr__("name", "ann"),
        lambda ms: ms.__setitem__(1, AIMessage("a, replaced", id="a1")),
    ):
        messages = _messages(saver, config)
        edit(messages)
        wanted = plain(messages)
        config = _put(saver, "t", messages, config["configurable"]["checkpoint_id"])
        assert plain(_messages(saver, config)) == wanted
        assert plain(_messages(TractSaver(store), config)) == wanted
    # unchanged messages are not written again: five edits of the second message add one commit
    # each, the edit of the first re-appends both, the replacement adds one
    assert commits(saver, "t") == 2 + 5 + 2 + 1


def test_a_list_read_back_and_put_again_unchanged_writes_no_commit(store: SqlStore) -> None:
    saver = TractSaver(store)
    config = _put(saver, "t", [HumanMessage("q", id="h1"), AIMessage("a", id="a1")])
    for _ in range(3):
        config = _put(saver, "t", _messages(saver, config), config["configurable"]["checkpoint_id"])
    fresh = TractSaver(store)
    config = _put(fresh, "t", _messages(fresh, config), config["configurable"]["checkpoint_id"])
    assert commits(saver, "t") == 2


def test_async_reads_are_independent_too(store: SqlStore) -> None:
    saver = TractSaver(store)
    config = _put(saver, "t", [HumanMessage("q", id="h1")])

    async def read_twice() -> tuple[Any, Any]:
        a = await saver.aget_tuple(config)
        b = [t async for t in saver.alist(config)][0]
        return a.checkpoint["channel_values"]["messages"], b.checkpoint["channel_values"]["messages"]

    a, b = asyncio.run(read_twice())
    a[0].content = "edited"
    assert b[0].content == "q" and _messages(saver, config)[0].content == "q"


def test_messages_holding_values_beyond_plain_data_are_copied_and_compared_too(store: SqlStore) -> None:
    """An Enum in a message's metadata: the snapshot is a deep copy, the fingerprint its canonical JSON."""

    class Reason(str, enum.Enum):
        STOP = "stop"

    saver = TractSaver(store)
    config = _put(
        saver, "t", [HumanMessage("q", id="h1"), AIMessage("a", id="a1", response_metadata={"why": Reason.STOP})]
    )
    one, two = _messages(saver, config), _messages(saver, config)
    assert one[1].response_metadata["why"] is Reason.STOP and one[1] is not two[1]
    one[1].response_metadata["extra"] = [1]
    assert "extra" not in two[1].response_metadata and "extra" not in _messages(saver, config)[1].response_metadata
    config = _put(saver, "t", one, config["configurable"]["checkpoint_id"])  # the edit, made in place, is saved
    assert _messages(TractSaver(store), config)[1].response_metadata == {"why": "stop", "extra": [1]}
    assert commits(saver, "t") == 3
