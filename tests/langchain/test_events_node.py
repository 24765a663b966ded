"""Events pushed from another process reach the model of a real LangGraph graph: ``TractEventsNode``.

A real ``StateGraph`` (``MessagesState``) checkpointed by a real ``TractSaver`` on a SQLite file; the
chat model is LangChain's ``GenericFakeChatModel``, recording what each call was given; the events
come from a separate Python process pushing to the inbox tract in the same file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatResult
from langgraph.graph import START, MessagesState, StateGraph
from pydantic import Field

from tract_core import InvalidInputError, Tract, TractClosedError
from tract_core.testing.processes import ChildProcess
from tract_langchain import TractEventsNode, TractSaver
from tract_langchain.events_node import EVENT_METADATA


class RecordingModel(GenericFakeChatModel):
    """A scripted chat model that records the messages of every call."""

    received: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.received.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


PUSH_FROM_ANOTHER_PROCESS = """
import json, sys
from tract_core import Tract
args = json.loads(sys.argv[1])
with Tract.open(args["db"], tract_id="inbox") as t:
    for text in args["events"]:
        t.push(text, source="ci", key=args.get("key"), role=args.get("role", "user"))
print(json.dumps("ok"))
"""


def push_elsewhere(tmp_path: Path, db: Path, events: list[str], name: str, **extra: Any) -> None:
    child = ChildProcess(PUSH_FROM_ANOTHER_PROCESS, {"db": str(db), "events": events, **extra}, tmp_path, name)
    assert child.result() == "ok"


def graph(model: RecordingModel, node: TractEventsNode, saver: TractSaver) -> Any:
    def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("events", node)
    builder.add_node("model", call_model)
    builder.add_edge(START, "events")
    builder.add_edge("events", "model")
    return builder.compile(checkpointer=saver)


def test_the_model_sees_an_event_pushed_from_another_process_between_two_invocations(tmp_path) -> None:
    db = tmp_path / "app.db"
    inbox = Tract.open(db, tract_id="inbox")
    saver = TractSaver(db)
    model = RecordingModel(messages=iter([AIMessage("All green.", id="a1"), AIMessage("Looking at arm64.", id="a2")]))
    app = graph(model, TractEventsNode(inbox), saver)
    config = {"configurable": {"thread_id": "ops"}}
    try:
        app.invoke({"messages": [HumanMessage("status?", id="h1")]}, config)
        assert [m.content for m in model.received[0]] == ["status?"]

        push_elsewhere(tmp_path, db, ["build 41 failed on arm64"], "pusher")
        assert [e.payload for e in inbox.pending_events()] == ["build 41 failed on arm64"]
        state = app.invoke({"messages": [HumanMessage("anything new?", id="h2")]}, config)

        seen = model.received[1]
        assert [m.content for m in seen] == [
            "status?",
            "All green.",
            "anything new?",
            "[event from ci] build 41 failed on arm64",
        ]
        event = seen[-1]
        assert isinstance(event, HumanMessage)
        assert inbox.pending_events() == []  # drained once, committed in the inbox
        commit = inbox.show(event.id)
        assert commit.content == event.content and commit.metadata["event"] == {"id": 1, "source": "ci"}
        assert event.response_metadata[EVENT_METADATA] == {"id": 1, "source": "ci", "key": None, "commit": commit.hash}
        assert state["messages"][-1].content == "Looking at arm64."
        thread = saver.tract("ops")  # the thread's own tract holds what the model saw, the event included
        assert "[event from ci] build 41 failed on arm64" in [m["content"] for m in thread.compile().to_openai()]
        thread.close()
    finally:
        inbox.close()
        saver.close()


async def test_a_per_thread_inbox_opened_by_a_function_drains_in_async_graphs(tmp_path) -> None:
    db = tmp_path / "async.db"
    opened: list[Tract] = []

    def inbox_of(config: dict[str, Any]) -> Tract:
        opened.append(Tract.open(db, tract_id="inbox/" + config["configurable"]["thread_id"]))
        return opened[-1]

    with Tract.open(db, tract_id="inbox/night") as night:
        night.push("maintenance at 02:00", role="system", source="ops")
    saver = TractSaver(db)
    model = RecordingModel(messages=iter([AIMessage("Noted.", id="a1"), AIMessage("Hello.", id="a2")]))
    app = graph(model, TractEventsNode(inbox_of), saver)
    try:
        await app.ainvoke({"messages": [HumanMessage("hi", id="h1")]}, {"configurable": {"thread_id": "night"}})
        await app.ainvoke({"messages": [HumanMessage("hi", id="h1")]}, {"configurable": {"thread_id": "day"}})
    finally:
        saver.close()
    assert isinstance(model.received[0][-1], SystemMessage)
    assert model.received[0][-1].content == "[event from ops] maintenance at 02:00"
    assert [m.content for m in model.received[1]] == ["hi"]  # another thread's inbox has nothing
    for handle in opened:  # the node closed the handles it opened
        with pytest.raises(TractClosedError):
            handle.pending_events()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="needs the inbox Tract"):
        TractEventsNode("inbox")  # type: ignore[arg-type]
    with Tract.open() as t, pytest.raises(InvalidInputError, match="limit must be a positive"):
        TractEventsNode(t, limit=0)
