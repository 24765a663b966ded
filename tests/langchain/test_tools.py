"""A tract's operations as LangChain tools, run by a real ``create_agent`` agent.

The agent's model is LangChain's own ``GenericFakeChatModel`` (scripted tool calls); the context it
manages is a real tract on a SQLite file, given to the agent as its messages; summaries the tract
writes itself come from tract's ``ScriptedLLM``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatResult
from langchain_core.tools import StructuredTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from tract_core import PINNED, SKIP, InvalidInputError, Tract, TractConfig
from tract_core.testing import ScriptedLLM
from tract_core.testing.blocking import no_blocking_io
from tract_langchain import build_tools

SUMMARY = "Ada runs a bakery; we discussed her starter, flour and oven for batches 0 to 3."


class AgentModel(GenericFakeChatModel):
    """A scripted chat model (tool calls included) that records the messages of every call."""

    received: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Any, **kwargs: Any) -> AgentModel:
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.received.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


_IDS = itertools.count()


def calls(*made: tuple[str, dict[str, Any]]) -> AIMessage:
    """An assistant message calling tools (several: one turn calling them at once)."""
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call-{next(_IDS)}"} for name, args in made])


@pytest.fixture
def tract(tmp_path: Path) -> Iterator[Tract]:
    """Ada's conversation: a system prompt, the fact to keep, then eight messages about batches."""
    with Tract.open(tmp_path / "ada.db", config=TractConfig(token_budget=2000)) as made:
        made.commit("You are the bakery's assistant.", role="system")
        made.commit("I'm Ada; my shop is allergen-free, never suggest nuts.", role="user")
        made.commit("Noted, Ada: no nuts, ever.", role="assistant")
        for i in range(4):
            made.commit(f"How is batch {i}? The starter smells sour.", role="user")
            made.commit(f"Batch {i} is fine; feed the starter with rye flour.", role="assistant")
        yield made


def by_content(tract: Tract) -> dict[str, str]:
    return {str(c.content): c.hash for c in tract.log(limit=None)}


def tool_messages(result: dict[str, Any]) -> list[ToolMessage]:
    return [m for m in result["messages"] if isinstance(m, ToolMessage)]


# -- the model manages its own context -----------------------------------------------------------


def test_an_agent_pins_compresses_and_branches_its_own_context(tract: Tract) -> None:
    hashes = by_content(tract)
    fact = hashes["I'm Ada; my shop is allergen-free, never suggest nuts."]
    last_old = hashes["Batch 2 is fine; feed the starter with rye flour."]
    model = AgentModel(
        messages=iter(
            [
                calls(("context_log", {"limit": 20})),
                calls(("context_annotate", {"commit": fact[:12], "priority": "pinned", "reason": "allergy rule"})),
                calls(("context_show", {"commit": "0000deadbeef"})),  # no such commit
                calls(("context_log", {"limit": "many"})),  # wrong type
                calls(("context_compress", {"to_commit": last_old[:12], "summary": SUMMARY})),
                calls(("context_branch", {"name": "explore/rye"})),
                AIMessage("My context is tidy: the allergy rule is pinned, batches 0-2 summarised."),
            ]
        )
    )
    agent = create_agent(model, tools=tract.as_tools(format="langchain"))
    conversation = [*tract.compile().to_langchain(), HumanMessage("Tidy up your context before we go on.")]
    result = agent.invoke({"messages": conversation})

    logged, annotated, shown, mistyped, compressed, branched = tool_messages(result)
    assert [m.status for m in (logged, annotated, shown, mistyped, compressed, branched)] == [
        *("success", "success", "error", "error", "success", "success")
    ]
    assert fact[:12] in logged.content  # the model read its history, hashes included
    assert '"status": "executed"' in annotated.content and '"status": "executed"' in compressed.content
    assert shown.content.startswith("Error: commit '0000deadbeef'")
    assert "Call context_log to see the commits" in shown.content
    assert mistyped.content.startswith("Error: bad arguments for context_log: limit: Input should be a valid integer")
    assert '"branch": "explore/rye"' in branched.content
    # the agent went on after each error, and the model read it
    assert model.received[3][-1] == shown and model.received[4][-1] == mistyped
    assert result["messages"][-1].content.startswith("My context is tidy")

    # the tract afterwards: pinned, compressed (the pin survived verbatim), on a new branch
    assert tract.show(fact).annotations[-1].priority is PINNED
    (compression,) = tract.compressions()
    assert compression.status == "committed" and tract.show(compression.summary_commit).content == SUMMARY
    context = [m["content"] for m in tract.compile().messages]
    assert context[:3] == [
        "You are the bakery's assistant.",
        "I'm Ada; my shop is allergen-free, never suggest nuts.",
        SUMMARY,
    ]
    assert context[3:] == [
        "How is batch 3? The starter smells sour.",
        "Batch 3 is fine; feed the starter with rye flour.",
    ]
    branches = {b.name: b for b in tract.list_branches()}
    assert branches["explore/rye"].current and branches["explore/rye"].commit == branches["main"].commit
    assert [(p.policy, p.kind, p.status) for p in tract.proposals()] == [
        ("agent", "annotate", "executed"),
        ("agent", "compress", "executed"),
        ("agent", "branch", "executed"),
    ]


def test_collaborative_compression_waits_for_approval(tract: Tract) -> None:
    recent = by_content(tract)["How is batch 0? The starter smells sour."]
    model = AgentModel(
        messages=iter(
            [
                calls(("context_annotate", {"commit": recent[:12], "priority": "skip"})),  # low risk: runs
                calls(("context_compress", {"keep_recent": 2})),  # high risk: proposed
                AIMessage("I asked to compress; it waits for your approval."),
            ]
        )
    )
    agent = create_agent(model, tools=tract.as_tools(format="langchain", autonomy="collaborative"))
    result = agent.invoke({"messages": [HumanMessage("Make room in your context.")]})

    annotated, said = tool_messages(result)
    assert '"status": "executed"' in annotated.content
    (pending,) = tract.pending_proposals()
    assert said.status == "success" and '"status": "pending"' in said.content
    assert f"waiting for approval (proposal {pending.id})" in said.content
    assert (pending.policy, pending.kind, pending.params["keep_recent"]) == ("agent", "compress", 2)
    assert tract.compressions() == [] and tract.show(recent).annotations[-1].priority is SKIP
    assert result["messages"][-1].content.endswith("waits for your approval.")

    assert tract.approve_proposal(pending.id, content="Ada's batches 0-2 were fine.").status == "executed"
    assert [m["content"] for m in tract.compile().messages] == [
        "You are the bakery's assistant.",
        "Ada's batches 0-2 were fine.",
        "How is batch 3? The starter smells sour.",
        "Batch 3 is fine; feed the starter with rye flour.",
    ]


async def test_async_agent_runs_calls_off_the_event_loop(tract: Tract, tmp_path: Path) -> None:
    loop_thread = threading.current_thread()
    threads: list[threading.Thread] = []

    def summarise(messages: list[dict[str, Any]]) -> str:
        threads.append(threading.current_thread())
        return SUMMARY

    settings = TractConfig(token_budget=2000, llm=ScriptedLLM(summarise))
    with Tract.open(tmp_path / "ada.db", config=settings) as handle:
        model = AgentModel(
            messages=iter(
                [
                    calls(("context_status", {}), ("context_compress", {"keep_recent": 2})),  # two calls at once
                    AIMessage("Done."),
                ]
            )
        )
        agent = create_agent(model, tools=handle.as_tools(format="langchain"))
        with no_blocking_io():  # tract's blocking calls (sqlite, the summariser) stay off the loop's thread
            result = await agent.ainvoke({"messages": [HumanMessage("Compress, please.")]})
        status, compressed = tool_messages(result)
        assert '"branch": "main"' in status.content and '"status": "executed"' in compressed.content
        assert threads and loop_thread not in threads  # the summariser ran in a worker thread, not the loop's
        assert handle.compile().messages[1]["content"] == SUMMARY


# -- the tools themselves ---------------------------------------------------------------------------


def test_tools_carry_the_spec_and_the_prefix(tract: Tract) -> None:
    tools = tract.as_tools(profile="supervisor", format="langchain", prefix="ctx_")
    assert all(isinstance(t, StructuredTool) for t in tools)
    named = {t.name: t for t in tools}
    assert "ctx_approve" in named and "ctx_compress" not in named  # the profile's tools, with the prefix
    log = named["ctx_log"]
    assert log.description.startswith("The newest commits of your history")
    assert log.tool_call_schema.model_json_schema()["properties"]["limit"]["description"] == "How many commits (1-200)."
    assert log.invoke({"limit": 2}).startswith('[{"commit": ')  # calls run with the custom prefix
    assert named["ctx_show"].invoke({"commit": "0000"}).startswith("Error: commit '0000'")
    assert named["ctx_log"].invoke({"limit": 0}) == "Error: limit must be between 1 and 200, not 0"
    wrong = named["ctx_diff"].invoke({"a": "main", "colour": "red"})
    assert wrong.startswith("Error: bad arguments for ctx_diff: colour: Extra inputs are not permitted")
    assert build_tools(tract, [], prefix="x_", autonomy=None) == []


def test_a_chat_model_is_given_the_same_schemas_as_the_openai_format(tract: Tract) -> None:
    """What ``bind_tools`` sends a provider (LangChain's conversion) is the tract's own definition."""
    ours = {d["function"]["name"]: d["function"] for d in tract.as_tools(profile="full", format="openai")}
    converted = [convert_to_openai_tool(t)["function"] for t in tract.as_tools(profile="full", format="langchain")]
    assert [c["name"] for c in converted] == list(ours)
    for function in converted:
        expected = ours[function["name"]]
        parameters = {k: v for k, v in expected["parameters"].items() if k != "additionalProperties"}
        assert (function["description"], function["parameters"]) == (expected["description"], parameters)


def test_bad_settings_are_refused_when_the_tools_are_made(tract: Tract) -> None:
    with pytest.raises(InvalidInputError, match="autonomy"):
        tract.as_tools(format="langchain", autonomy="sometimes")
    with pytest.raises(InvalidInputError, match="profile"):
        tract.as_tools(profile="admin", format="langchain")
