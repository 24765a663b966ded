"""Scaffolds in a real LangGraph agent: the model keeps a task list and a working memory in its tract.

A ``StateGraph`` whose model node sends the tract's compiled context to LangChain's own
``GenericFakeChatModel`` (scripted tool calls, recording what each call was given) and commits the
reply; a prebuilt ``ToolNode`` runs the tract's tools (``as_tools(format="langchain")``, scaffold
operations included) and a record node commits the tool results. The tract is a SQLite file.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatResult
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from pydantic import Field

from tract_core import TaskList, Tract, WorkingMemory

_IDS = itertools.count()


class RecordingModel(GenericFakeChatModel):
    """A scripted chat model that records the messages of every call."""

    received: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.received.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


def calls(*made: tuple[str, dict[str, Any]]) -> AIMessage:
    """An assistant message calling tools (several: called at once, run in parallel by ToolNode)."""
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call-{next(_IDS)}"} for name, args in made])


def agent(tract: Tract, model: RecordingModel) -> Any:
    """The graph: the model reads the tract's context; tools run on it; results are committed to it."""

    def call_model(state: MessagesState) -> dict[str, Any]:
        reply = model.invoke(tract.compile().to_langchain())
        tract.commit(reply)
        return {"messages": [reply]}

    def record(state: MessagesState) -> dict[str, Any]:
        results = list(itertools.takewhile(lambda m: isinstance(m, ToolMessage), reversed(state["messages"])))
        for message in reversed(results):
            tract.commit(message)
        return {}

    builder = StateGraph(MessagesState)
    builder.add_node("model", call_model)
    builder.add_node("tools", ToolNode(tract.as_tools(format="langchain")))
    builder.add_node("record", record)
    builder.add_edge(START, "model")
    builder.add_conditional_edges("model", tools_condition, {"tools": "tools", END: END})
    builder.add_edge("tools", "record")
    builder.add_edge("record", "model")
    return builder.compile()


def last(received: list[BaseMessage]) -> str:
    return str(received[-1].content)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_langgraph_agent_keeps_its_tasks_and_notes_in_scaffolds(tmp_path: Path, mode: str) -> None:
    db = tmp_path / "agent.db"
    with Tract.open(db) as tract:
        tract.system("You plan trips. Keep your task list and notes up to date.")
        tract.user("Plan my Lisbon weekend; my budget is 1500 EUR.")
        tract.mount(TaskList())
        tract.mount(WorkingMemory())
        model = RecordingModel(
            messages=iter(
                [
                    calls(  # three calls at once: ToolNode runs them in threads, the tract one at a time
                        ("tasks_add", {"text": "Book the flights"}),
                        ("tasks_add", {"text": "Reserve a hotel"}),
                        ("memory_set", {"key": "budget", "value": "1500 EUR"}),
                    ),
                    calls(("tasks_complete", {"id": "first"})),  # a bad argument: the model reads the error
                    calls(("tasks_complete", {"id": 1}), ("memory_set", {"key": "city", "value": "Lisbon"})),
                    AIMessage("Flights booked; the hotel is next."),
                ]
            )
        )
        app = agent(tract, model)
        start = {"messages": []}
        state = app.invoke(start) if mode == "sync" else await app.ainvoke(start)

        first, second, third, fourth = model.received
        assert [last(first[:-1]), last(first)] == [
            "Task list (tasks): empty (add tasks with tasks_add)",
            "Working memory (memory): empty (write notes with memory_set)",
        ]
        # every call sees the scaffolds' current state at the end of its context (sticky); the two are
        # in the order their newest instances were committed, which the racing tool threads decide
        assert sorted(m.content for m in second[-2:]) == [
            "Task list (tasks): 0 of 2 done\n[ ] 1. Book the flights\n[ ] 2. Reserve a hotel",
            "Working memory (memory): 1 note\n- budget: 1500 EUR",
        ]
        bad = [m for m in third if isinstance(m, ToolMessage)][-1]  # as the tract recorded it
        assert bad.content == (
            "Error: bad arguments for tasks_complete: id: Input should be a valid integer (got 'first')"
        )
        assert sorted(m.content for m in fourth[-2:]) == [
            "Task list (tasks): 1 of 2 done\n[x] 1. Book the flights\n[ ] 2. Reserve a hotel",
            "Working memory (memory): 2 notes\n- budget: 1500 EUR\n- city: Lisbon",
        ]
        assert state["messages"][-1].content == "Flights booked; the hotel is next."
        # the tool results came back as the tract answered them
        results = [m for m in state["messages"] if isinstance(m, ToolMessage)]
        assert [m.status for m in results] == ["success"] * 3 + ["error"] + ["success"] * 2

    with Tract.open(db) as reopened:  # the next session starts from where the agent left off
        assert reopened.scaffold("tasks").state.tasks[0].done is True
        assert reopened.scaffold("memory").state.notes == {"budget": "1500 EUR", "city": "Lisbon"}
        tasks_instances = [c for c in reopened.log(limit=None) if c.key == "scaffold:tasks"]
        assert len(tasks_instances) == 4  # mounted, two adds, one completion (the failed call wrote none)
