"""Scaffolds under a real LlamaIndex ``FunctionAgent``: a task list and a working memory in the tract
its ``TractMemory`` keeps the conversation in.

The agent is driven by LlamaIndex's own ``MockFunctionCallingLLM`` with a scripted reply function:
each step reads what the agent sent (the scaffolds' renderings at the end of the memory's context,
the tool results) and makes the next call, as a function-calling model would. SQLite file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM

from tract_core import TaskList, WorkingMemory
from tract_llamaindex import TractMemory, close_stores

pytestmark = [
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20"),
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211"),
]

Step = Callable[[Sequence[ChatMessage]], ChatMessage]


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    close_stores()


def calls(*called: tuple[str, str, dict[str, Any]]) -> ChatMessage:
    """An assistant message calling tools (``(id, name, arguments)``)."""
    blocks = [ToolCallBlock(tool_call_id=i, tool_name=name, tool_kwargs=kwargs) for i, name, kwargs in called]
    return ChatMessage(role="assistant", blocks=blocks)


def result(messages: Sequence[ChatMessage], call_id: str) -> str:
    (found,) = [m for m in messages if m.role == MessageRole.TOOL and m.additional_kwargs["tool_call_id"] == call_id]
    return found.content or ""


def scaffold_text(messages: Sequence[ChatMessage], header: str) -> str:
    """The newest message the agent sent that starts with ``header`` (a scaffold's rendering)."""
    return [m.content for m in messages if (m.content or "").startswith(header)][-1] or ""


def scripted(steps: list[Step], seen: list[list[ChatMessage]]) -> MockFunctionCallingLLM:
    remaining = iter(steps)

    def reply(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        seen.append(list(messages))
        return next(remaining)(messages)

    return MockFunctionCallingLLM(response_generator=reply)


def plan_the_trip() -> list[Step]:
    """Add tasks and a note, fail once (an unknown task), complete the task the list shows first."""

    def first(messages: Sequence[ChatMessage]) -> ChatMessage:
        assert scaffold_text(messages, "Task list").startswith("Task list (tasks): empty")
        # the agent runs one response's calls concurrently: these two touch different scaffolds
        return calls(
            ("a1", "tasks_add", {"text": "Book the flights"}),
            ("m1", "memory_set", {"key": "budget", "value": "1500 EUR"}),
        )

    def then(messages: Sequence[ChatMessage]) -> ChatMessage:
        assert json.loads(result(messages, "a1")) == {"id": 1}
        return calls(("a2", "tasks_add", {"text": "Reserve a hotel"}))

    def second(messages: Sequence[ChatMessage]) -> ChatMessage:
        assert json.loads(result(messages, "a2")) == {"id": 2}
        assert scaffold_text(messages, "Task list") == (
            "Task list (tasks): 0 of 2 done\n[ ] 1. Book the flights\n[ ] 2. Reserve a hotel"
        )
        assert scaffold_text(messages, "Working memory") == "Working memory (memory): 1 note\n- budget: 1500 EUR"
        return calls(("bad", "tasks_complete", {"id": 9}))

    def third(messages: Sequence[ChatMessage]) -> ChatMessage:
        assert result(messages, "bad") == "Error: there is no task 9; the task ids are: 1, 2"
        return calls(("c1", "tasks_complete", {"id": 1}), ("r1", "tasks_reorder", {"ids": [2]}))

    def answer(messages: Sequence[ChatMessage]) -> ChatMessage:
        assert scaffold_text(messages, "Task list") == (
            "Task list (tasks): 1 of 2 done\n[ ] 2. Reserve a hotel\n[x] 1. Book the flights"
        )
        return ChatMessage(role="assistant", content="Flights booked; the hotel is next.")

    return [first, then, second, third, answer]


async def test_a_function_agent_keeps_its_tasks_and_notes_in_scaffolds(tmp_path: Path) -> None:
    memory = TractMemory.from_defaults(path=str(tmp_path / "agent.db"), session_id="trip")
    tract = memory.tract
    tract.mount(TaskList())
    tract.mount(WorkingMemory())
    seen: list[list[ChatMessage]] = []
    agent = FunctionAgent(
        tools=tract.as_tools(format="llamaindex"),
        llm=scripted(plan_the_trip(), seen),
        system_prompt="You plan trips. Keep your task list and notes up to date.",
    )
    outputs: list[ToolCallResult] = []
    handler = agent.run("Plan my Lisbon weekend; my budget is 1500 EUR.", memory=memory)
    async for event in handler.stream_events():
        if isinstance(event, ToolCallResult):
            outputs.append(event)
    response = await handler
    assert str(response) == "Flights booked; the hotel is next."
    assert len(seen) == 5  # the error did not end the run
    results = [(o.tool_id, o.tool_output.is_error) for o in outputs]
    # calls of one response finish in any order
    assert sorted(results[:2]) == [("a1", False), ("m1", False)]
    assert results[2:4] == [("a2", False), ("bad", True)]
    assert sorted(results[4:]) == [("c1", False), ("r1", False)]

    # the next run (a new agent on the same memory) is sent the state the last one left
    later: list[list[ChatMessage]] = []
    answer = ChatMessage(role="assistant", content="The hotel is next.")
    agent = FunctionAgent(tools=tract.as_tools(format="llamaindex"), llm=scripted([lambda m: answer], later))
    await agent.run("What is left to do?", memory=memory)
    sent = [m.content for m in later[0]]
    assert "Working memory (memory): 1 note\n- budget: 1500 EUR" in sent
    assert "Task list (tasks): 1 of 2 done\n[ ] 2. Reserve a hotel\n[x] 1. Book the flights" in sent
    assert [s.name for s in tract.scaffolds()] == ["memory", "tasks"]
