"""Tract's agent toolkit as LlamaIndex tools, under a real ``FunctionAgent``.

The agents are LlamaIndex ``FunctionAgent`` runs driven by LlamaIndex's own
``MockFunctionCallingLLM`` with a scripted reply function: each step reads the tool results the
agent fed back (commit hashes from ``context_log``, error texts) and makes the next call, the way a
function-calling model would. The model manages the very tract its ``TractMemory`` keeps the
conversation in: it pins a message, compresses the small talk with its own summary and opens a
branch, and its next turn is sent the context it made. Bad calls come back as errors the model
reads, and the run goes on. The databases are SQLite files.
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
from llama_index.core.tools import FunctionTool

from tract_core import InvalidInputError, Priority, Tract
from tract_core.testing.blocking import no_blocking_io
from tract_core.toolkit import tools_for
from tract_llamaindex import TractMemory, close_stores
from tract_llamaindex.tools import TractTool, build_tools

pytestmark = [
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20"),
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211"),
]

ALLERGY = "Hi! I'm Ada, and I am allergic to peanuts."
SMALL_TALK = [
    ("user", ALLERGY),
    ("assistant", "Noted, Ada: nothing with peanuts."),
    ("user", "Lovely weather today, isn't it?"),
    ("assistant", "Sunny and warm all afternoon."),
    ("user", "Did you watch the match yesterday?"),
    ("assistant", "I did not, but I heard it went to penalties."),
]
REQUEST = "Tidy your context: keep my allergy, summarise the small talk, then open a branch for my Lisbon trip."
SUMMARY = "Ada and the assistant chatted about the sunny weather and yesterday's match (it went to penalties)."

Step = Callable[[Sequence[ChatMessage]], ChatMessage]


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    close_stores()


# -- a scripted function-calling model ------------------------------------------------------------


def calls(*called: tuple[str, str, dict[str, Any]]) -> ChatMessage:
    """An assistant message calling tools (``(id, name, arguments)``), as function-calling LLMs return it."""
    blocks = [ToolCallBlock(tool_call_id=i, tool_name=name, tool_kwargs=kwargs) for i, name, kwargs in called]
    return ChatMessage(role="assistant", blocks=blocks)


def result(messages: Sequence[ChatMessage], call_id: str) -> str:
    """The content of the tool result the agent fed back for ``call_id``."""
    found = [m for m in messages if m.role == MessageRole.TOOL and m.additional_kwargs["tool_call_id"] == call_id]
    assert len(found) == 1, f"no single result for {call_id}"
    return found[0].content or ""


def scripted(steps: list[Step], seen: list[list[ChatMessage]]) -> MockFunctionCallingLLM:
    """A function-calling LLM whose n-th reply is ``steps[n](messages)``; records every input."""
    remaining = iter(steps)

    def reply(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        seen.append(list(messages))
        return next(remaining)(messages)

    return MockFunctionCallingLLM(response_generator=reply)


def commit_of(messages: Sequence[ChatMessage], call_id: str, text: str) -> str:
    """The hash ``context_log`` (called as ``call_id``) showed for the message starting with ``text``."""
    (found,) = [c["commit"] for c in json.loads(result(messages, call_id)) if c["text"].startswith(text)]
    return found


def tidy_up() -> list[Step]:
    """The model's steps for :data:`REQUEST`: a mistyped call, the log, a parallel pair of pins (one
    naming a commit that does not exist), its own summary of the small talk, a branch, an answer."""

    def first(messages: Sequence[ChatMessage]) -> ChatMessage:
        return calls(("log-1", "context_log", {"limit": "all of them"}))

    def second(messages: Sequence[ChatMessage]) -> ChatMessage:
        assert result(messages, "log-1").startswith("Error: bad arguments for log: limit")
        return calls(("log-2", "context_log", {"limit": 20}))

    def third(messages: Sequence[ChatMessage]) -> ChatMessage:
        allergy = commit_of(messages, "log-2", "Hi! I'm Ada")
        return calls(
            ("pin-bad", "context_annotate", {"commit": "0123456789ab", "priority": "pinned"}),
            ("pin", "context_annotate", {"commit": allergy, "priority": "pinned", "reason": "the allergy"}),
        )

    def fourth(messages: Sequence[ChatMessage]) -> ChatMessage:
        assert result(messages, "pin-bad").startswith("Error: commit '0123456789ab'")
        assert json.loads(result(messages, "pin"))["status"] == "executed"
        last_small_talk = commit_of(messages, "log-2", "I did not")
        return calls(("squash", "context_compress", {"to_commit": last_small_talk, "summary": SUMMARY}))

    def fifth(messages: Sequence[ChatMessage]) -> ChatMessage:
        assert json.loads(result(messages, "squash"))["status"] == "executed"
        return calls(("fork", "context_branch", {"name": "trip/lisbon"}))

    def answer(messages: Sequence[ChatMessage]) -> ChatMessage:
        assert json.loads(result(messages, "fork"))["status"] == "executed"
        return ChatMessage(role="assistant", content="Done: allergy pinned, small talk summarised, on trip/lisbon.")

    return [first, second, third, fourth, fifth, answer]


def memory_with_small_talk(tmp_path: Path) -> TractMemory:
    memory = TractMemory.from_defaults(path=str(tmp_path / "agent.db"), session_id="ada")
    memory.put_messages([ChatMessage(role=role, content=text) for role, text in SMALL_TALK])
    return memory


# -- the agent manages its own context ----------------------------------------------------------------


async def test_function_agent_manages_the_tract_its_memory_lives_on(tmp_path: Path) -> None:
    memory = memory_with_small_talk(tmp_path)
    tract = memory.tract
    seen: list[list[ChatMessage]] = []
    agent = FunctionAgent(
        tools=tract.as_tools(profile="self", format="llamaindex"),
        llm=scripted(tidy_up(), seen),
        system_prompt="You manage your own context with the context_ tools.",
    )
    results: list[ToolCallResult] = []
    with no_blocking_io():  # the tools run tract's database work in worker threads
        handler = agent.run(REQUEST, memory=memory)
        async for event in handler.stream_events():
            if isinstance(event, ToolCallResult):
                results.append(event)
        await handler
    assert len(seen) == 6  # every step ran: the errors did not end the run

    # the bad calls were answered with errors the model read; they wrote nothing
    outcome = {r.tool_id: (r.tool_output.is_error, r.tool_output.content) for r in results}
    assert outcome["log-1"][0] and outcome["pin-bad"][0]
    assert "Call context_log to see the commits" in outcome["pin-bad"][1]
    assert not any(outcome[i][0] for i in ("log-2", "pin", "squash", "fork"))
    done = tract.proposals(status="executed", limit=10)
    assert sorted((p.kind, p.policy) for p in done) == [
        ("annotate", "agent"),
        ("branch", "agent"),
        ("compress", "agent"),
    ]
    assert tract.proposals(status="failed", limit=10) == []

    # pinned, compressed with the model's own summary, on the new branch
    allergy = next(c for c in tract.log(limit=None, start="main") if c.content == ALLERGY)
    first = tract.show(allergy.hash).annotations[0]  # then compression's own "kept by compression"
    assert (first.priority, first.reason) == (Priority.PINNED, "the allergy")
    assert tract.status().branch == "trip/lisbon"
    context = tract.compile()
    texts = [e.message.get("content") for e in context.entries()]
    assert ALLERGY in texts and SUMMARY in texts and REQUEST in texts
    assert not {text for _, text in SMALL_TALK[1:]} & set(texts)
    assert next(e for e in context.entries() if e.message.get("content") == ALLERGY).pinned

    # the run's messages (tool calls, results, answer) landed on the branch; main stops at the request
    assert tract.log(limit=1, start="main")[0].content == REQUEST
    assert tract.log(limit=1)[0].content.startswith("Done: allergy pinned")
    # nothing was lost: the small talk is still in the session's history
    assert [m.content for m in memory.get_all()][: len(SMALL_TALK)] == [text for _, text in SMALL_TALK]

    # the next turn is sent the context the model made
    later: list[list[ChatMessage]] = []
    answer = ChatMessage(role="assistant", content="You are allergic to peanuts.")
    agent = FunctionAgent(tools=tract.as_tools(format="llamaindex"), llm=scripted([lambda m: answer], later))
    await agent.run("What am I allergic to?", memory=memory)
    sent = [m.content for m in later[0]]
    assert ALLERGY in sent and SUMMARY in sent and "Lovely weather today, isn't it?" not in sent
    assert sent[-1] == "What am I allergic to?"


async def test_collaborative_autonomy_leaves_the_compression_for_approval(tmp_path: Path) -> None:
    memory = memory_with_small_talk(tmp_path)
    tract = memory.tract
    head = tract.head

    def compress(messages: Sequence[ChatMessage]) -> ChatMessage:
        return calls(("squash", "context_compress", {"keep_recent": 2, "summary": SUMMARY}))

    def answer(messages: Sequence[ChatMessage]) -> ChatMessage:
        return ChatMessage(role="assistant", content=f"Asked: {result(messages, 'squash')}")

    seen: list[list[ChatMessage]] = []
    agent = FunctionAgent(
        tools=tract.as_tools(format="llamaindex", autonomy="collaborative"), llm=scripted([compress, answer], seen)
    )
    await agent.run("Make room.", memory=memory)
    (pending,) = tract.pending_proposals()
    reply = json.loads(result(seen[-1], "squash"))
    assert reply["status"] == "pending" and reply["proposal"] == pending.id
    assert f"waiting for approval (proposal {pending.id})" in reply["note"]
    assert tract.compressions() == [] and tract.log(limit=None, start=head)[0].hash == head

    memory.approve_proposal(pending.id)
    assert SUMMARY in [m.content for m in memory.get()]


# -- the tools themselves --------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["self", "supervisor", "full"])
def test_each_tool_carries_the_operation_name_description_and_schema(profile: str) -> None:
    tract = Tract.open()
    tools = tract.as_tools(profile=profile, format="llamaindex", prefix="ctx_")
    specs = tools_for(profile)
    assert all(isinstance(t, FunctionTool) for t in tools)
    assert [t.metadata.name for t in tools] == [f"ctx_{s.name}" for s in specs]
    assert [t.metadata.description for t in tools] == [s.description for s in specs]
    assert [t.metadata.fn_schema for t in tools] == [s.model for s in specs]
    for tool, spec in zip(tools, specs, strict=True):  # what an OpenAI-backed agent would send
        parameters = tool.metadata.to_openai_tool()["function"]["parameters"]
        assert set(parameters["properties"]) == set(spec.parameters["properties"])
        assert parameters.get("required", []) == spec.parameters.get("required", [])


async def test_a_call_runs_through_execute_tool_sync_and_async() -> None:
    tract = Tract.open()
    first = tract.commit("Remember: the launch is on Friday.", role="user").hash
    tools = {t.metadata.name: t for t in tract.as_tools(format="llamaindex", prefix="ctx_")}

    status = tools["ctx_status"].fn()
    assert isinstance(status, str) and json.loads(status)["messages"] == 1
    pinned = await tools["ctx_annotate"].acall(commit=first[:12], priority="pinned")
    assert not pinned.is_error and json.loads(pinned.content)["status"] == "executed"
    assert tract.compile().entry(0).pinned

    wrong = [
        tools["ctx_annotate"].call(commit=first, priority="very"),
        tools["ctx_log"].call(limit=0),
        tools["ctx_show"].call(commit=first, verbose=True),
        await tools["ctx_switch"].acall(branch="nowhere"),
    ]
    assert all(output.is_error and output.content.startswith("Error: ") for output in wrong)
    assert "priority" in wrong[0].content and "limit must be between 1 and 200" in wrong[1].content
    assert "verbose" in wrong[2].content
    assert len(tract.log(limit=None)) == 1 and len(tract.proposals(limit=10)) == 1


def test_bad_builder_arguments_are_clear_errors() -> None:
    tract = Tract.open()
    with pytest.raises(InvalidInputError, match="autonomy must be"):
        tract.as_tools(format="llamaindex", autonomy="yolo")
    with pytest.raises(InvalidInputError, match="prefix must be"):
        build_tools(tract, tools_for("self"), prefix=None, autonomy=None)  # type: ignore[arg-type]
    assert all(isinstance(t, TractTool) for t in build_tools(tract, tools_for("self"), prefix="", autonomy=None))
