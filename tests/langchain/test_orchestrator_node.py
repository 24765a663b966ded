"""A thread's tract orchestrator in real graphs: ``TractOrchestratorNode`` and ``TractOrchestratorMiddleware``.

Real LangGraph graphs (``StateGraph`` + ``MessagesState``) and a real ``create_agent`` agent,
checkpointed by a real ``TractSaver`` on a SQLite file; the chat models are LangChain fake models,
summaries (and, in LLM mode, the orchestrator's own choices) come from tract's ``ScriptedLLM``. The
orchestrator's proposals surface as interrupts decided with ``Command(resume=...)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatResult
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import Command
from pydantic import Field

from tract_core import SKIP, InvalidInputError, Tract, TractConfig
from tract_core.messages import normalize_message
from tract_core.orchestrator import OrchestratorConfig
from tract_core.testing import ScriptedLLM, tool_reply
from tract_core.testing.blocking import no_blocking_io
from tract_langchain import TractOrchestratorMiddleware, TractOrchestratorNode, TractSaver
from tract_langchain.policy_node import QUESTION_KEY

SYSTEM = "You are the bakery's assistant."
FILLER = "The starter needs feeding twice a day and the oven runs hot on the left. "
SUMMARY = "Ada asked about batches 1 to 20; the starter and the oven were discussed."
BUDGET = 400


class AgentModel(GenericFakeChatModel):
    """A scripted chat model (tool calls included) that records the messages of every call."""

    received: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Any, **kwargs: Any) -> AgentModel:
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.received.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


def replies(count: int = 20) -> AgentModel:
    return AgentModel(messages=iter([AIMessage(f"Reply {i}: {FILLER}", id=f"ai{i}") for i in range(count)]))


def history(pairs: int) -> list[BaseMessage]:
    """The system prompt, then ``pairs`` questions and answers: m1 (system), m2, m3, ... by id."""
    out: list[BaseMessage] = [SystemMessage(SYSTEM, id="m1")]
    for i in range(pairs):
        out.append(HumanMessage(f"How is batch {i}? {FILLER}", id=f"m{len(out) + 1}"))
        out.append(AIMessage(f"Batch {i} is proving. {FILLER}", id=f"m{len(out) + 1}"))
    return out


def graph_with(saver: TractSaver, node: Any, model: AgentModel) -> Any:
    """START -> model -> orchestrator: the node after the model, as the docs place it."""

    def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("model", call_model)
    builder.add_node("orchestrator", node)
    builder.add_edge(START, "model")
    builder.add_edge("model", "orchestrator")
    return builder.compile(checkpointer=saver)


def node_for(saver: TractSaver, **config: Any) -> TractOrchestratorNode:
    settings = OrchestratorConfig(**{"keep_recent": 4, **config})
    return TractOrchestratorNode(saver, settings, token_budget=BUDGET, llm=ScriptedLLM([SUMMARY], repeat_last=True))


def config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def shaped(messages: list[BaseMessage]) -> list[tuple[str, str]]:
    out = []
    for message in messages:
        normalized = normalize_message(message)
        out.append((normalized.role, str(normalized.body.get("content") or "")))
    return out


def compiled(saver: TractSaver, thread: str) -> list[tuple[str, str]]:
    return [(m["role"], str(m.get("content") or "")) for m in saver.tract(thread).compile().messages]


def state_of(graph: Any, thread: str) -> list[BaseMessage]:
    return list(graph.get_state(config(thread)).values["messages"])


def commit_of(saver: TractSaver, thread: str, message_id: str) -> str:
    for info in saver.tract(thread).log(limit=None):
        if (info.metadata or {}).get("lc", {}).get("data", {}).get("id") == message_id:
            return info.hash
    raise AssertionError(f"no commit holds message {message_id}")


@pytest.fixture
def saver(tmp_path: Path) -> Iterator[TractSaver]:
    with TractSaver.from_conn_string(str(tmp_path / "agent.db")) as made:
        yield made


# -- over budget: a proposal interrupts; a dict of changes narrows it -----------------------------


def test_compress_1_to_40_keep_41_to_50(saver: TractSaver) -> None:
    model = replies()
    graph = graph_with(saver, node_for(saver), model)
    result = graph.invoke({"messages": history(24) + [HumanMessage(f"And batch 24? {FILLER}", id="m50")]}, config("t"))

    (asked,) = result["__interrupt__"]
    thread = saver.tract("t")
    (pending,) = thread.pending_proposals()
    assert asked.value == {**pending.to_dict(), QUESTION_KEY: 0}
    assert (asked.value["policy"], asked.value["kind"], asked.value["risk"]) == ("orchestrator", "compress", "high")
    assert (
        f"of {BUDGET:,} tokens; recommend compressing messages 1-47 (keep the last 4); drops a cached prefix of "
        in asked.value["reason"]
    )
    assert asked.value["params"] == {"to_commit": commit_of(saver, "t", "m47")}
    assert graph.get_state(config("t")).next == ("orchestrator",)
    assert len(state_of(graph, "t")) == 51 and thread.compressions() == []  # nothing changed while it waits

    fortieth = commit_of(saver, "t", "m40")
    result = graph.invoke(Command(resume={"to_commit": fortieth}), config("t"))
    assert "__interrupt__" not in result
    state = state_of(graph, "t")
    assert shaped(state) == compiled(saver, "t")  # the graph's messages are the tract's compiled context
    assert [state[0].id, state[1].content] == ["m1", SUMMARY]  # the pinned system prompt stays first
    assert [m.id for m in state[2:]] == [f"m{i}" for i in range(41, 51)] + ["ai0"]  # 41-50 (and the reply) kept
    (done,) = thread.proposals()
    assert (done.status, done.decided_by, done.params["to_commit"]) == ("executed", "interrupt", fortieth)
    assert thread.compressions()[0].status == "committed"

    # the next turn starts from the compressed context; kept 41-50 are still over budget: asked anew
    result = graph.invoke({"messages": [HumanMessage("Thanks!", id="thanks")]}, config("t"))
    assert shaped(model.received[-1]) == compiled(saver, "t")[:-1]
    (again,) = result["__interrupt__"]
    assert again.value["id"] != done.id and again.value["params"] == {"to_commit": commit_of(saver, "t", "m49")}
    assert [b.name for b in thread.list_branches()] == ["main"]


def test_rejecting_keeps_the_history_and_a_new_turn_asks_again(saver: TractSaver) -> None:
    graph = graph_with(saver, node_for(saver), replies())
    (asked,) = graph.invoke({"messages": history(24)}, config("t"))["__interrupt__"]
    before = state_of(graph, "t")

    result = graph.invoke(Command(resume={"approve": False, "reason": "not now", "by": "ada"}), config("t"))
    assert "__interrupt__" not in result
    assert state_of(graph, "t") == before
    thread = saver.tract("t")
    (rejected,) = thread.proposals()
    assert (rejected.id, rejected.status, rejected.decided_by) == (asked.value["id"], "rejected", "ada")
    assert thread.compressions() == []
    assert thread.orchestrate().steps[0].proposal.status == "rejected"  # the same situation: not proposed again

    (again,) = graph.invoke({"messages": [HumanMessage("One more?", id="more")]}, config("t"))["__interrupt__"]
    assert again.value["id"] != asked.value["id"] and again.value[QUESTION_KEY] == 0


def test_an_unusable_answer_asks_again(saver: TractSaver) -> None:
    graph = graph_with(saver, node_for(saver), replies())
    (asked,) = graph.invoke({"messages": history(24)}, config("t"))["__interrupt__"]
    (again,) = graph.invoke(Command(resume="sure"), config("t"))["__interrupt__"]
    assert (again.value["id"], again.value[QUESTION_KEY]) == (asked.value["id"], 1)
    assert "True (approve), False (reject)" in again.value["error"]
    (third,) = graph.invoke(Command(resume={"to_commit": "0000beef"}), config("t"))["__interrupt__"]
    assert third.value["id"] == asked.value["id"] and "the changes name '0000beef'" in third.value["error"]
    assert saver.tract("t").pending_proposals()[0].id == asked.value["id"]  # nothing was decided
    assert "__interrupt__" not in graph.invoke(Command(resume=True), config("t"))
    assert saver.tract("t").proposals()[0].status == "executed"


# -- LLM mode, decided from a fresh process's handles ---------------------------------------------


def test_llm_mode_is_not_rerun_on_resume_and_a_fresh_saver_summarises_with_its_model(tmp_path: Path) -> None:
    db = str(tmp_path / "agent.db")
    chooser = ScriptedLLM([tool_reply(("context_compress", {"keep_recent": 2})), "Compression proposed."])
    with TractSaver.from_conn_string(db) as saver:
        node = TractOrchestratorNode(saver, OrchestratorConfig(llm=chooser), token_budget=BUDGET)
        result = graph_with(saver, node, replies()).invoke({"messages": history(24)}, config("t"))
        (asked,) = result["__interrupt__"]
        assert (asked.value["kind"], asked.value["params"]) == ("compress", {"keep_recent": 2})
        assert chooser.calls == 2  # the model chose the tool, then said it was done

    # "another process": a new saver, a new node, handles that never ran the orchestrator
    writer = ScriptedLLM(["The summary the second process wrote."])
    with TractSaver.from_conn_string(db) as saver:
        node = TractOrchestratorNode(saver, OrchestratorConfig(llm=writer), token_budget=BUDGET)
        graph = graph_with(saver, node, replies())
        result = graph.invoke(Command(resume=True), config("t"))
        assert "__interrupt__" not in result
        assert writer.calls == 1  # asked for the summary only: the orchestrator did not run again
        state = state_of(graph, "t")
        assert state[1].content == "The summary the second process wrote." and len(state) == 2 + 2
        assert saver.tract("t").proposals()[0].status == "executed"


# -- low-risk actions run without asking; pausing stops the node ----------------------------------


@tool
def oven_log() -> str:
    """Read the oven's temperature log."""
    return "Temperatures: " + ", ".join(str(200 + i % 40) for i in range(400))


def test_an_oversized_tool_output_is_hidden_without_asking_in_an_agent(saver: TractSaver) -> None:
    call = {"name": "oven_log", "args": {}, "id": "call1"}
    model = AgentModel(
        messages=iter(
            [
                AIMessage("", tool_calls=[call], id="ai-call"),
                AIMessage("The oven peaked at 239.", id="ai-answer"),
                AIMessage("Yes, feed it tonight.", id="ai-2"),
                AIMessage("You're welcome.", id="ai-3"),
            ]
        )
    )
    middleware = TractOrchestratorMiddleware(
        saver, OrchestratorConfig(keep_recent=2, tool_output_tokens=100), token_budget=100_000
    )
    agent = create_agent(model, [oven_log], system_prompt=SYSTEM, middleware=[middleware], checkpointer=saver)
    for text in ("How hot was the oven?", "Should I feed the starter?", "Thanks!"):
        result = agent.invoke({"messages": [HumanMessage(text)]}, config("t"))
        assert "__interrupt__" not in result
    (hidden,) = saver.tract("t").proposals()
    assert (hidden.kind, hidden.status, hidden.decided_by) == ("annotate", "executed", "autonomy:collaborative")
    assert saver.tract("t").show(hidden.params["targets"][0]).annotations[-1].priority is SKIP
    last = model.received[-1]
    assert not any(isinstance(m, ToolMessage) for m in last)  # hidden from the next model call...
    assert all(isinstance(m, ToolMessage) or not getattr(m, "tool_calls", None) for m in last)  # ...with its call
    assert "Temperatures:" in str(model.received[1][-1].content)  # the model had read it when it was new


def test_a_paused_orchestrator_does_nothing_until_resumed(saver: TractSaver) -> None:
    graph = graph_with(saver, node_for(saver), replies())
    graph.invoke({"messages": [SystemMessage(SYSTEM, id="m1"), HumanMessage("Hi", id="m2")]}, config("t"))
    saver.tract("t").pause_orchestrator()
    result = graph.invoke({"messages": history(24)[2:]}, config("t"))
    assert "__interrupt__" not in result and saver.tract("t").proposals() == []
    saver.tract("t").resume_orchestrator()
    (asked,) = graph.invoke({"messages": [HumanMessage("Still there?")]}, config("t"))["__interrupt__"]
    assert asked.value["kind"] == "compress"


# -- the middleware, async, configuration ----------------------------------------------------------


async def test_middleware_interrupts_before_the_model_call_async(saver: TractSaver) -> None:
    model = replies()
    middleware = TractOrchestratorMiddleware(
        saver, OrchestratorConfig(keep_recent=2), token_budget=BUDGET, llm=ScriptedLLM([SUMMARY])
    )
    agent = create_agent(model, [], system_prompt=SYSTEM, middleware=[middleware], checkpointer=saver)
    with no_blocking_io():  # the orchestrator, the store and the summariser stay off the loop's thread
        result = await agent.ainvoke({"messages": history(24)[1:]}, config("t"))
    (asked,) = result["__interrupt__"]
    assert asked.value["kind"] == "compress" and model.received == []  # asked before the model call
    assert agent.get_state(config("t")).next[0].startswith("TractOrchestratorMiddleware")

    with no_blocking_io():
        result = await agent.ainvoke(Command(resume=True), config("t"))
    assert "__interrupt__" not in result
    (sent,) = model.received  # the call the interrupt held back got the compressed context
    assert [m.content for m in sent] == [SYSTEM, SUMMARY, *[m.content for m in history(24)[-2:]]]
    assert shaped((await agent.aget_state(config("t"))).values["messages"]) == compiled(saver, "t")


def test_stored_settings_and_the_default_autonomy(saver: TractSaver) -> None:
    graph = graph_with(saver, node_for(saver), replies())
    graph.invoke({"messages": [HumanMessage("Hi", id="m2")]}, config("t"))
    thread = saver.tract("t")
    stored = thread.orchestrator_config
    assert stored is not None and (stored.autonomy, stored.keep_recent) == ("collaborative", 4)
    assert thread.config.token_budget == BUDGET  # the node's budget is the thread's, for the CLI too
    # a node without settings runs each thread's stored ones
    plain = TractOrchestratorNode(saver, llm=ScriptedLLM([SUMMARY]))
    assert plain.config is None and "TractOrchestratorNode" in repr(plain)
    (asked,) = graph_with(saver, plain, replies()).invoke({"messages": history(24)[1:]}, config("t"))["__interrupt__"]
    assert "(keep the last 4)" in asked.value["reason"]  # the stored keep_recent, not the default 6


def test_policy_node_and_orchestrator_node_ask_about_their_own(saver: TractSaver) -> None:
    graph = graph_with(saver, node_for(saver), replies())
    graph.invoke({"messages": [HumanMessage("Hi", id="m2")]}, config("t"))
    thread = saver.tract("t")
    agent_made = thread.execute_tool(
        {"name": "context_compress", "arguments": {"keep_recent": 1}}, autonomy="manual"
    )  # an agent's request, pending
    assert "waiting for approval" in agent_made["content"]
    result = graph.invoke({"messages": [HumanMessage("Anything to tidy?")]}, config("t"))
    assert "__interrupt__" not in result  # not an orchestrator proposal: the orchestrator node does not ask
    assert [p.policy for p in thread.pending_proposals()] == ["agent"]


def test_misconfiguration_is_a_clear_error(saver: TractSaver) -> None:
    with pytest.raises(InvalidInputError, match="TractSaver"):
        TractOrchestratorNode("agent.db")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="OrchestratorConfig"):
        TractOrchestratorNode(saver, {"keep_recent": 2})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="token_budget"):
        TractOrchestratorMiddleware(saver, token_budget=0)
    with pytest.raises(InvalidInputError, match="interrupt_on_proposal"):
        TractOrchestratorNode(saver, interrupt_on_proposal="yes")  # type: ignore[arg-type]
    builder = StateGraph(MessagesState).add_node("o", TractOrchestratorNode(saver)).add_edge(START, "o")
    with pytest.raises(InvalidInputError, match="thread_id"):
        builder.compile().invoke({"messages": [HumanMessage("Hi")]})


# -- the core fixes this adapter relies on ---------------------------------------------------------


def over_budget_tract() -> Tract:
    tract = Tract.open(config=TractConfig(token_budget=BUDGET))
    for message in history(24):
        tract.commit(message)
    return tract


def test_core_a_handle_configured_with_a_model_summarises_another_handles_proposal() -> None:
    with over_budget_tract() as tract:
        tract.configure_orchestrator(OrchestratorConfig(autonomy="manual", keep_recent=2))
        (pending,) = tract.orchestrate().pending
        # configured with a model after the run (as a new process would be): approving uses it
        tract.configure_orchestrator(OrchestratorConfig(autonomy="manual", llm=ScriptedLLM([SUMMARY])))
        assert tract.approve_proposal(pending.id).status == "executed"
        assert tract.compile().messages[1]["content"] == SUMMARY
