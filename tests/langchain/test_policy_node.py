"""A thread's tract policies in real graphs: ``TractPolicyNode`` and ``TractPolicyMiddleware``.

Real LangGraph graphs (``StateGraph`` + ``MessagesState``) and real ``create_agent`` agents,
checkpointed by a real ``TractSaver`` on a SQLite file (and PostgreSQL where the backend matters);
the models are LangChain fake chat models, the summariser is tract's ``ScriptedLLM``. Proposals
surface as LangGraph interrupts and are decided with ``Command(resume=...)``, in this process and
in a new one.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatResult
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import Command
from pydantic import Field

from tract_core import PINNED, SKIP, InvalidInputError, PolicyWarning
from tract_core.messages import normalize_message
from tract_core.policies import CompressPolicy, PinPolicy, PolicyAction
from tract_core.testing import ScriptedLLM, create_database
from tract_core.testing.processes import run_in_child
from tract_langchain import TractPolicyMiddleware, TractPolicyNode, TractSaver
from tract_langchain.policy_node import QUESTION_KEY

SYSTEM = "You are the bakery's assistant. You must never share the alarm code."
FILLER = "The sourdough starter needs feeding twice a day and the oven runs hot on the left side. " * 2
SUMMARY = "Ada asked about her batches; the starter and the oven were discussed."
BUDGET = 700


# -- models, graphs, helpers --------------------------------------------------------------------


class AgentModel(GenericFakeChatModel):
    """A scripted chat model (tool calls included) that records the messages of every call."""

    received: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Any, **kwargs: Any) -> AgentModel:
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.received.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


@tool
def oven_temperature(side: str) -> str:
    """Read the oven thermometer on one side."""
    return f"The {side} side reads 231 degrees. " + FILLER


def replies(count: int = 60) -> AgentModel:
    return AgentModel(messages=iter([AIMessage(f"Reply {i}: {FILLER}", id=f"ai{i}") for i in range(count)]))


def compress_policy(**kwargs: Any) -> CompressPolicy:
    options = {"keep_recent": 2, "token_budget": BUDGET, "llm": ScriptedLLM([SUMMARY], repeat_last=True)}
    return CompressPolicy(0.8, **{**options, **kwargs})


def chat_graph(saver: TractSaver, node: TractPolicyNode, model: AgentModel) -> Any:
    """START -> model -> policies: the node after the model, as the docs place it."""

    def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("model", call_model)
    builder.add_node("policies", node)
    builder.add_edge(START, "model")
    builder.add_edge("model", "policies")
    return builder.compile(checkpointer=saver)


def config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def question(i: int) -> HumanMessage:
    return HumanMessage(f"How is batch {i}? {FILLER}", id=f"q{i}")


def until_interrupt(graph: Any, thread: str, first: int = 0, limit: int = 20) -> tuple[int, Any]:
    """Run turns until one is interrupted; return the turn and its interrupts."""
    for i in range(first, first + limit):
        turn: list[BaseMessage] = [SystemMessage(SYSTEM, id="sys"), question(i)] if i == 0 else [question(i)]
        result = graph.invoke({"messages": turn}, config(thread))
        if "__interrupt__" in result:
            return i, result["__interrupt__"]
    raise AssertionError(f"no interrupt in {limit} turns")


def shaped(messages: list[BaseMessage]) -> list[tuple[str, str]]:
    """(role, text) of LangChain messages, as tract stores them."""
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


@pytest.fixture(params=["sqlite", "postgres"])
def any_saver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TractSaver]:
    where = (
        str(tmp_path / "agent.db")
        if request.param == "sqlite"
        else create_database(request.getfixturevalue("postgres_server"))
    )
    with TractSaver.from_conn_string(where) as made:
        yield made


# -- (a) collaborative: a proposal interrupts, True executes it ---------------------------------


def test_a_proposal_interrupts_and_approving_compresses_the_state(any_saver: TractSaver) -> None:
    saver = any_saver
    model = replies()
    graph = chat_graph(saver, TractPolicyNode(saver, policies=[compress_policy()]), model)
    graph.invoke({"messages": [SystemMessage(SYSTEM, id="sys"), question(0)]}, config("t"))
    thread = saver.tract("t")
    thread.annotate(commit_of(saver, "t", "q0"), PINNED)  # pinned through the tract: survives verbatim
    turn, interrupts = until_interrupt(graph, "t", first=1)

    (asked,) = interrupts
    (pending,) = thread.pending_proposals()
    assert asked.value == {**pending.to_dict(), QUESTION_KEY: 0}
    assert asked.value["kind"] == "compress" and asked.value["policy"] == "compress"
    assert asked.value["reason"].startswith("Context at ") and f"of {BUDGET} tokens" in asked.value["reason"]
    waiting = state_of(graph, "t")
    assert graph.get_state(config("t")).next == ("policies",)
    assert [m.id for m in waiting][-2:] == [f"q{turn}", f"ai{turn}"]  # nothing changed while it waits
    assert thread.compressions() == []

    result = graph.invoke(Command(resume=True), config("t"))
    assert "__interrupt__" not in result
    state = state_of(graph, "t")
    assert shaped(state) == compiled(saver, "t")  # the graph's messages are the tract's compiled context
    assert [state[0].id, state[1].id, state[2].content] == ["sys", "q0", SUMMARY]  # leading pinned stay first
    assert [m.id for m in state[3:]] == [f"q{turn}", f"ai{turn}"]
    (compression,) = thread.compressions()
    assert compression.status == "committed" and thread.show(compression.summary_commit).content == SUMMARY
    (decided,) = thread.proposals()
    assert (decided.status, decided.decided_by) == ("executed", "interrupt")
    assert [e.decision for e in thread.policy_log()][:3] == ["executed", "approved", "proposed"]

    # the next turn continues from the compressed context; nothing was copied or left behind
    graph.invoke({"messages": [question(99)]}, config("t"))
    assert shaped(model.received[-1]) == compiled(saver, "t")[:-1]
    assert [b.name for b in thread.list_branches()] == ["main"]
    assert len(shaped(state_of(graph, "t"))) == len(state) + 2


# -- (b) rejecting leaves history alone, and the proposal does not come back --------------------


def test_rejecting_leaves_the_history_and_is_not_asked_again(saver: TractSaver) -> None:
    graph = chat_graph(saver, TractPolicyNode(saver, policies=[compress_policy()]), replies())
    turn, (asked,) = until_interrupt(graph, "t")
    before = state_of(graph, "t")
    log_before = [c.hash for c in saver.tract("t").log(limit=None)]

    result = graph.invoke(Command(resume={"approve": False, "reason": "not yet"}), config("t"))
    assert "__interrupt__" not in result
    assert state_of(graph, "t") == before
    thread = saver.tract("t")
    assert [c.hash for c in thread.log(limit=None)] == log_before and thread.compressions() == []
    (rejected,) = thread.proposals()
    assert (rejected.id, rejected.status, rejected.outcome) == (asked.value["id"], "rejected", {"reason": "not yet"})

    # the same situation is not proposed again, by the graph or anyone running the policies
    thread.configure_policies([compress_policy()])
    assert thread.run_policies() == [] and thread.pending_proposals() == []
    # a new turn is a new situation (another head): a new proposal, asked as the first question
    nxt, (again,) = until_interrupt(graph, "t", first=turn + 1, limit=1)
    assert again.value["id"] != asked.value["id"] and again.value[QUESTION_KEY] == 0
    assert again.value["params"]["head"] != asked.value["params"]["head"]


# -- (c) resumed in another process -------------------------------------------------------------


def child_graph(saver: TractSaver) -> Any:
    """The graph both processes build (the summariser is not stored: each process gives its own)."""
    node = TractPolicyNode(saver, policies=[compress_policy(llm=ScriptedLLM(["Summary written by the child."]))])
    return chat_graph(saver, node, replies())


def child_run_until_interrupt(db: str) -> dict[str, Any]:
    with TractSaver.from_conn_string(db) as saver:
        graph = child_graph(saver)
        turn, (asked,) = until_interrupt(graph, "night-shift")
        return {"turn": turn, "asked": dict(asked.value)}


def child_resume(db: str, answer: Any) -> dict[str, Any]:
    with TractSaver.from_conn_string(db) as saver:
        result = child_graph(saver).invoke(Command(resume=answer), config("night-shift"))
        return {"interrupted": "__interrupt__" in result, "messages": shaped(result["messages"])}


def test_resumed_in_a_new_process_with_changes(tmp_path: Path) -> None:
    db = str(tmp_path / "agent.db")
    first = run_in_child(__file__, "child_run_until_interrupt", db)
    assert first["asked"]["kind"] == "compress" and first["asked"]["params"]["keep_recent"] == 2
    with TractSaver.from_conn_string(db) as saver:
        (pending,) = saver.tract("night-shift").pending_proposals()  # the first process left it pending
        assert pending.id == first["asked"]["id"]

    resumed = run_in_child(__file__, "child_resume", db, {"keep_recent": 3})
    assert not resumed["interrupted"]
    assert resumed["messages"][1] == ["system", "Summary written by the child."]
    assert len(resumed["messages"]) == 2 + 3  # the system prompt, the summary, the three most recent

    with TractSaver.from_conn_string(db) as saver:
        thread = saver.tract("night-shift")
        (proposal,) = thread.proposals()
        assert (proposal.status, proposal.params["keep_recent"]) == ("executed", 3)
        assert compiled(saver, "night-shift") == [tuple(m) for m in resumed["messages"]]
        graph = chat_graph(saver, TractPolicyNode(saver), replies())
        assert shaped(state_of(graph, "night-shift")) == compiled(saver, "night-shift")
        assert graph.get_state(config("night-shift")).next == ()


# -- (d) autonomous: actions execute, no interrupt ----------------------------------------------


def test_autonomous_policies_execute_without_interrupts(saver: TractSaver) -> None:
    model = AgentModel(
        messages=iter(
            [AIMessage(f"Reply {i}: {FILLER}", id=f"ai{i}") for i in range(2)]
            + [AIMessage("Noted: we must never bake on Sundays.", id="rule")]
            + [AIMessage(f"Reply {i}: {FILLER}", id=f"ai{i}") for i in range(3, 30)]
        )
    )
    pin = PinPolicy(patterns=("must never",))
    node = TractPolicyNode(saver, policies=[pin, compress_policy()], autonomy="autonomous")
    graph = chat_graph(saver, node, model)
    compressed_at = None
    for i in range(12):
        result = graph.invoke(
            {"messages": [question(i)] if i else [SystemMessage(SYSTEM, id="sys"), question(i)]}, config("t")
        )
        assert "__interrupt__" not in result
        if saver.tract("t").compressions() and compressed_at is None:
            compressed_at = i
    assert compressed_at is not None
    thread = saver.tract("t")
    assert {(p.kind, p.status, p.decided_by) for p in thread.proposals()} == {
        ("annotate", "executed", "autonomy:autonomous"),
        ("compress", "executed", "autonomy:autonomous"),
    }
    state = state_of(graph, "t")
    assert shaped(state) == compiled(saver, "t")
    assert state[0].id == "sys" and state[1].content == SUMMARY
    assert "rule" in [m.id for m in state]  # pinned by PinPolicy, kept verbatim through every compression
    later = model.received[compressed_at + 1 :]
    assert later and all(call[1].content == SUMMARY and "rule" in [m.id for m in call] for call in later)


# -- two questions in one step, matched by order across re-runs ---------------------------------


class PinEveryReply:
    """Proposes pinning the newest reply (a custom policy, manual: always a proposal)."""

    name = "pin-replies"
    priority = 10
    trigger = "commit"
    autonomy = "manual"

    def evaluate(self, tract: Any) -> PolicyAction | None:
        newest = tract.log(1)[0]
        if newest.role != "assistant" or tract.show(newest.hash).annotations:
            return None
        return PolicyAction("annotate", {"target": newest.hash, "priority": "pinned"}, reason="pin the reply")


def test_several_proposals_are_asked_in_order_and_answers_stay_matched(saver: TractSaver) -> None:
    node = TractPolicyNode(saver, policies=[PinEveryReply(), compress_policy()])
    graph = chat_graph(saver, node, replies())
    seen = []
    turn = 0
    while True:  # answer every pin question with False until the compression is asked too
        turn, (asked,) = until_interrupt(graph, "t", first=turn)
        seen.append(asked.value)
        result = graph.invoke(Command(resume=False), config("t"))
        if "__interrupt__" in result:
            break
        turn += 1
    (second,) = result["__interrupt__"]
    assert (seen[-1]["kind"], seen[-1][QUESTION_KEY]) == ("annotate", 0)
    assert (second.value["kind"], second.value[QUESTION_KEY]) == ("compress", 1)

    result = graph.invoke(Command(resume=True), config("t"))  # the node runs again: False, then True
    assert "__interrupt__" not in result
    thread = saver.tract("t")
    by_id = {p.id: p for p in thread.proposals()}
    assert by_id[seen[-1]["id"]].status == "rejected"
    assert by_id[second.value["id"]].status == "executed"
    assert shaped(state_of(graph, "t")) == compiled(saver, "t")


def test_an_answer_to_a_proposal_decided_elsewhere_is_not_given_to_the_next(saver: TractSaver) -> None:
    node = TractPolicyNode(saver, policies=[PinEveryReply(), compress_policy()])
    graph = chat_graph(saver, node, replies())
    turn = 0
    while True:
        turn, (asked,) = until_interrupt(graph, "t", first=turn)
        if len(saver.tract("t").pending_proposals()) == 2:
            break
        graph.invoke(Command(resume=False), config("t"))
        turn += 1
    assert asked.value["kind"] == "annotate"
    saver.tract("t").reject_proposal(asked.value["id"], decided_by="cli")  # decided while the graph waits

    with pytest.warns(PolicyWarning, match="not applied"):
        result = graph.invoke(Command(resume=True), config("t"))
    (nxt,) = result["__interrupt__"]  # the compression is asked, not approved by the pin's answer
    assert (nxt.value["kind"], nxt.value[QUESTION_KEY]) == ("compress", 1)
    thread = saver.tract("t")
    assert thread.proposals(status="pending")[0].id == nxt.value["id"]
    assert thread.compressions() == []
    graph.invoke(Command(resume=False), config("t"))
    assert thread.proposals(status="pending") == [] and thread.compressions() == []


def test_an_unusable_answer_asks_again(saver: TractSaver) -> None:
    graph = chat_graph(saver, TractPolicyNode(saver, policies=[compress_policy()]), replies())
    _, (asked,) = until_interrupt(graph, "t")
    result = graph.invoke(Command(resume="yes please"), config("t"))
    (again,) = result["__interrupt__"]
    assert again.value["id"] == asked.value["id"] and again.value[QUESTION_KEY] == 1
    assert "True (approve), False (reject)" in again.value["error"]
    result = graph.invoke(Command(resume={"approve": True, "id": asked.value["id"] + 1}), config("t"))
    (third,) = result["__interrupt__"]
    assert "names proposal" in third.value["error"] and third.value[QUESTION_KEY] == 2
    result = graph.invoke(Command(resume={"approve": True, "id": asked.value["id"], "by": "ada"}), config("t"))
    assert "__interrupt__" not in result
    (done,) = saver.tract("t").proposals()
    assert (done.status, done.decided_by) == ("executed", "ada")


# -- a low-risk action that hides a message reaches the state -----------------------------------


class HideCardNumbers:
    """Skips messages carrying a card number (low risk: collaborative mode executes it)."""

    name = "pii"
    priority = 5
    trigger = "commit"

    def evaluate(self, tract: Any) -> PolicyAction | None:
        for info in tract.log(3):
            if "4111" in str(info.content) and not tract.show(info.hash).annotations:
                return PolicyAction("annotate", {"target": info.hash, "priority": "skip"}, reason="card number")
        return None


def test_a_skip_executed_by_a_policy_hides_the_message_from_the_next_model_call(saver: TractSaver) -> None:
    model = replies()
    graph = chat_graph(saver, TractPolicyNode(saver, policies=[HideCardNumbers()]), model)
    graph.invoke({"messages": [HumanMessage("My card is 4111 1111 1111 1111.", id="card")]}, config("t"))
    state = state_of(graph, "t")
    assert [m.id for m in state] == ["ai0"]
    assert saver.tract("t").show(commit_of(saver, "t", "card")).annotations[0].priority is SKIP
    graph.invoke({"messages": [HumanMessage("Refund order 88?", id="q")]}, config("t"))
    assert [m.id for m in model.received[-1]] == ["ai0", "q"]


# -- (e) create_agent with the middleware -------------------------------------------------------


def agent_script(rounds: int) -> list[AIMessage]:
    script = []
    for i in range(rounds):
        call = {"name": "oven_temperature", "args": {"side": "left"}, "id": f"call{i}"}
        script.append(AIMessage("", tool_calls=[call], id=f"ai-call{i}"))
        script.append(AIMessage(f"Answer {i}: the left side reads 231. {FILLER}", id=f"ai-answer{i}"))
    return script


def tool_pairs_intact(messages: list[BaseMessage]) -> bool:
    calls = {call["id"] for m in messages if isinstance(m, AIMessage) for call in m.tool_calls}
    results = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    return results <= calls and all(
        isinstance(m, ToolMessage) or not isinstance(m, AIMessage) or {c["id"] for c in m.tool_calls} <= results
        for m in messages
    )


def test_middleware_interrupts_a_create_agent_agent_and_resumes(any_saver: TractSaver) -> None:
    saver = any_saver
    model = AgentModel(messages=iter(agent_script(12)))
    middleware = TractPolicyMiddleware(saver, policies=[compress_policy(token_budget=900, keep_recent=3)])
    agent = create_agent(model, [oven_temperature], system_prompt=SYSTEM, middleware=[middleware], checkpointer=saver)
    asked = None
    for i in range(8):
        result = agent.invoke({"messages": [question(i)]}, config("t"))
        if "__interrupt__" in result:
            (asked,) = result["__interrupt__"]
            break
    assert asked is not None and asked.value["kind"] == "compress"
    calls_before = len(model.received)
    state = agent.get_state(config("t"))
    assert len(state.next) == 1 and state.next[0].startswith("TractPolicyMiddleware")

    result = agent.invoke(Command(resume=True), config("t"))
    assert "__interrupt__" not in result
    thread = saver.tract("t")
    assert [p.status for p in thread.proposals()] == ["executed"]
    sent = model.received[calls_before]  # the model call the interrupt held back got the compiled context
    assert sent[0].content == SYSTEM and sent[1].content == SUMMARY
    assert shaped(sent[1:]) == compiled(saver, "t")[: len(sent) - 1]
    assert tool_pairs_intact(sent[1:])
    final = agent.get_state(config("t")).values["messages"]
    assert shaped(final) == compiled(saver, "t")
    assert [b.name for b in thread.list_branches()] == ["main"]


async def test_middleware_async(saver: TractSaver) -> None:
    model = AgentModel(messages=iter(agent_script(12)))
    middleware = TractPolicyMiddleware(saver, policies=[compress_policy(token_budget=900, keep_recent=3)])
    agent = create_agent(model, [oven_temperature], system_prompt=SYSTEM, middleware=[middleware], checkpointer=saver)
    asked = None
    for i in range(8):
        result = await agent.ainvoke({"messages": [question(i)]}, config("t"))
        if "__interrupt__" in result:
            (asked,) = result["__interrupt__"]
            break
    assert asked is not None
    # rejected: the agent goes on (a tool call, its result), and before the next model call the
    # grown context is a new situation, so a new proposal is asked
    result = await agent.ainvoke(Command(resume=False), config("t"))
    (again,) = result["__interrupt__"]
    assert again.value["id"] != asked.value["id"] and again.value[QUESTION_KEY] == 0
    result = await agent.ainvoke(Command(resume=True), config("t"))
    assert "__interrupt__" not in result
    assert [p.status for p in saver.tract("t").proposals()] == ["rejected", "executed"]
    assert shaped((await agent.aget_state(config("t"))).values["messages"]) == compiled(saver, "t")


# -- async, configuration, errors ---------------------------------------------------------------


async def test_async_graph_interrupts_and_resumes(any_saver: TractSaver) -> None:
    saver = any_saver
    graph = chat_graph(saver, TractPolicyNode(saver, policies=[compress_policy()]), replies())
    asked = None
    for i in range(20):
        turn = [SystemMessage(SYSTEM, id="sys"), question(i)] if i == 0 else [question(i)]
        result = await graph.ainvoke({"messages": turn}, config("t"))
        if "__interrupt__" in result:
            (asked,) = result["__interrupt__"]
            break
    assert asked is not None
    result = await graph.ainvoke(Command(resume=True), config("t"))
    assert "__interrupt__" not in result
    state = (await graph.aget_state(config("t"))).values["messages"]
    assert state[1].content == SUMMARY and shaped(state) == compiled(saver, "t")


def test_without_interrupts_proposals_wait_and_the_stored_policies_run(saver: TractSaver) -> None:
    node = TractPolicyNode(saver, policies=[compress_policy()], interrupt_on_proposal=False)
    graph = chat_graph(saver, node, replies())
    for i in range(12):
        result = graph.invoke({"messages": [question(i)]}, config("t"))
        assert "__interrupt__" not in result
    thread = saver.tract("t")
    (pending,) = thread.pending_proposals()  # one_pending: one proposal however many turns went by
    assert [p.name for p in thread.policies] == ["compress"]  # stored with the tract
    # a node without policies= runs the stored ones (the CLI, another process, see the same)
    stored = chat_graph(saver, TractPolicyNode(saver), replies())
    result = stored.invoke({"messages": [question(50)]}, config("t"))
    (asked,) = result["__interrupt__"]
    assert asked.value["id"] == pending.id
    # the stored policy has no model: approving is refused before anything is decided, and asked again
    again = stored.invoke(Command(resume=True), config("t"))
    (retry,) = again["__interrupt__"]
    assert retry.value["id"] == pending.id and "needs an LLM" in retry.value["error"]
    assert thread.proposals()[0].status == "pending"
    stored.invoke(Command(resume={"content": "The customer asked twelve questions."}), config("t"))
    assert thread.proposals()[0].status == "executed"


def test_approving_without_a_model_with_my_own_summary(saver: TractSaver) -> None:
    graph = chat_graph(saver, TractPolicyNode(saver, policies=[compress_policy(llm=None)]), replies())
    until_interrupt(graph, "t")
    graph.invoke(Command(resume={"content": "My own summary."}), config("t"))
    assert state_of(graph, "t")[1].content == "My own summary."


def test_misconfigured_graphs_are_clear_errors(saver: TractSaver, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="TractSaver"):
        TractPolicyNode("agent.db")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="not a policy"):
        TractPolicyNode(saver, policies=["compress"])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="autonomy"):
        TractPolicyMiddleware(saver, autonomy="sometimes")
    graph = chat_graph(saver, TractPolicyNode(saver), replies())
    with pytest.raises(InvalidInputError, match='durability "sync" or "async"'):
        graph.invoke({"messages": [question(0)]}, config("t"), durability="exit")
    with (
        TractSaver.from_conn_string(str(tmp_path / "other.db")) as other,
        pytest.raises(InvalidInputError, match="does not checkpoint with"),
    ):
        chat_graph(saver, TractPolicyNode(other), replies()).invoke({"messages": [question(0)]}, config("u"))
    builder = StateGraph(MessagesState).add_node("policies", TractPolicyNode(saver)).add_edge(START, "policies")
    with pytest.raises(InvalidInputError, match="thread_id"):
        builder.compile().invoke({"messages": [question(0)]})


def test_a_run_with_nothing_to_do_changes_nothing(saver: TractSaver) -> None:
    graph = chat_graph(saver, TractPolicyNode(saver, policies=[compress_policy(token_budget=100_000)]), replies())
    for i in range(3):
        graph.invoke({"messages": [question(i)]}, config("t"))
    history = list(graph.get_state_history(config("t")))
    assert [s.metadata["source"] for s in history[:2]] == ["loop", "loop"]
    assert history[0].values["messages"] == history[1].values["messages"]  # the node returned {}
    assert saver.tract("t").proposals() == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        asyncio.run(graph.ainvoke({"messages": [question(9)]}, config("t")))


def test_a_langchain_summariser_stays_out_of_the_message_stream(saver: TractSaver) -> None:
    summariser = FakeListChatModel(responses=[SUMMARY])
    graph = chat_graph(saver, TractPolicyNode(saver, policies=[compress_policy(llm=summariser)]), replies())
    until_interrupt(graph, "t")
    streamed = [chunk for chunk, _ in graph.stream(Command(resume=True), config("t"), stream_mode="messages")]
    assert state_of(graph, "t")[1].content == SUMMARY  # the summariser was called...
    said = "".join(str(c.content) for c in streamed if isinstance(c, AIMessageChunk))
    assert said == ""  # ...and not streamed token by token as if the agent said it (the new list is streamed)
