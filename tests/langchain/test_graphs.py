"""TractSaver under real LangGraph graphs, on a SQLite file and on PostgreSQL.

Every graph here is a real ``StateGraph`` (or LangChain 1.x ``create_agent``) driven by a
deterministic fake chat model; where LangGraph's own ``InMemorySaver`` can run the same graph, the
two are compared. Each test also looks at the thread through tract (``saver.tract(thread_id)``):
one commit per message, ``main`` following the latest checkpoint, forks kept as ``lg/...`` branches.
Reopening happens with a new saver and in a new process; caches never stand in for the database.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage, message_to_dict
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, interrupt
from sqlalchemy import text

from tract_core import TractNotFoundError
from tract_core.testing import create_database
from tract_core.testing.processes import run_in_child
from tract_langchain import TractSaver

ROOT = Path(__file__).resolve().parents[2]
FAR_FUTURE = 4_102_444_800.0  # 2100-01-01: every retention window has passed
ROLES = {"human": "user", "ai": "assistant", "system": "system"}


# -- deterministic models -------------------------------------------------------------------------


class EchoModel(BaseChatModel):
    """Answers ``reply <n>: <last message>`` with the id ``ai-<n>`` (``n``: how many messages it was given)."""

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
        n = len(messages)
        reply = AIMessage(f"reply {n}: {messages[-1].content}", id=f"ai-{n}")
        return ChatResult(generations=[ChatGeneration(message=reply)])


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


class ToolCallingModel(BaseChatModel):
    """A tool-calling model: ``multiply 2 5 3 4`` becomes one ``multiply`` call per pair of numbers
    (parallel calls), and the tool results become a final answer. Ids, usage and metadata are
    deterministic so their round-trip can be checked exactly."""

    @property
    def _llm_type(self) -> str:
        return "fake-tool-calling"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ToolCallingModel:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        n = len(messages)
        last = messages[-1]
        usage = {"input_tokens": 10 * n, "output_tokens": 7, "total_tokens": 10 * n + 7}
        if isinstance(last, HumanMessage):
            numbers = [int(word) for word in str(last.content).split()[1:]]
            calls = [
                {"name": "multiply", "args": {"a": a, "b": b}, "id": f"call_{n}_{k}", "type": "tool_call"}
                for k, (a, b) in enumerate(zip(numbers[::2], numbers[1::2], strict=True))
            ]
            reply = AIMessage(
                "",
                id=f"ai-{n}",
                tool_calls=calls,
                usage_metadata=usage,
                response_metadata={"model_name": "fake-tool-calling", "finish_reason": "tool_calls"},
            )
        else:
            results = []
            for message in reversed(messages):
                if not isinstance(message, ToolMessage):
                    break
                results.append(str(message.content))
            reply = AIMessage(
                f"The products are {', '.join(reversed(results))}.",
                id=f"ai-{n}",
                usage_metadata=usage,
                response_metadata={"model_name": "fake-tool-calling", "finish_reason": "stop"},
            )
        return ChatResult(generations=[ChatGeneration(message=reply)])


# -- graphs ---------------------------------------------------------------------------------------


class ChatState(TypedDict):
    messages: Annotated[list, add_messages]


def _chat(state: ChatState) -> dict[str, Any]:
    return {"messages": [EchoModel().invoke(state["messages"])]}


def chat_graph(checkpointer: Any) -> Any:
    """START -> chat -> END: one human and one AI message per turn."""
    builder = StateGraph(ChatState)
    builder.add_node("chat", _chat)
    builder.add_edge(START, "chat")
    builder.add_edge("chat", END)
    return builder.compile(checkpointer=checkpointer)


def _review(state: ChatState) -> dict[str, Any]:
    answer = interrupt({"question": "approve?", "draft": state["messages"][-1].content})
    n = len(state["messages"])
    return {"messages": [HumanMessage(f"reviewer: {answer}", id=f"review-{n}")]}


def review_graph(checkpointer: Any) -> Any:
    """START -> chat -> review (a human-in-the-loop ``interrupt``) -> END."""
    builder = StateGraph(ChatState)
    builder.add_node("chat", _chat)
    builder.add_node("review", _review)
    builder.add_edge(START, "chat")
    builder.add_edge("chat", "review")
    builder.add_edge("review", END)
    return builder.compile(checkpointer=checkpointer)


def _think(state: ChatState) -> dict[str, Any]:
    n = len(state["messages"])
    return {"messages": [AIMessage(f"sub thinking {n}", id=f"sub-{n}")]}


def _answer(state: ChatState) -> dict[str, Any]:
    n = len(state["messages"])
    return {"messages": [AIMessage(f"sub answer {n}", id=f"sub-{n}")]}


def research_graph(checkpointer: Any) -> Any:
    """A parent graph (chat -> research) whose ``research`` node is a compiled subgraph (think -> answer)."""
    sub = StateGraph(ChatState)
    sub.add_node("think", _think)
    sub.add_node("answer", _answer)
    sub.add_edge(START, "think")
    sub.add_edge("think", "answer")
    sub.add_edge("answer", END)
    builder = StateGraph(ChatState)
    builder.add_node("chat", _chat)
    builder.add_node("research", sub.compile())
    builder.add_edge(START, "chat")
    builder.add_edge("chat", "research")
    builder.add_edge("research", END)
    return builder.compile(checkpointer=checkpointer)


def agent_graph(checkpointer: Any) -> Any:
    """LangChain 1.x ``create_agent`` with a real tool."""
    return create_agent(model=ToolCallingModel(), tools=[multiply], checkpointer=checkpointer)


# -- helpers --------------------------------------------------------------------------------------


def thread(thread_id: str, **extra: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, **extra}}


def ask(i: int, prefix: str = "question") -> dict[str, Any]:
    return {"messages": [HumanMessage(f"{prefix} {i}", id=f"{prefix}-{i}")]}


def dump(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """Messages as LangChain serialises them: type and every field (ids, tool calls, metadata)."""
    return [message_to_dict(m) for m in messages]


def openai(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """Plain chat messages in the OpenAI shape ``compile()`` gives."""
    return [{"role": ROLES[m.type], "content": m.content} for m in messages]


def checkpoint_id(config: dict[str, Any]) -> str:
    return config["configurable"]["checkpoint_id"]


def scalar(saver: TractSaver, sql: str, **params: Any) -> Any:
    with saver.store.read() as session:
        return session.conn.execute(text(sql), params).scalar_one()


def column(saver: TractSaver, sql: str, **params: Any) -> list[Any]:
    with saver.store.read() as session:
        return list(session.conn.execute(text(sql), params).scalars())


def tract_ids(saver: TractSaver) -> list[str]:
    return sorted(column(saver, "SELECT tract_id FROM tract_tracts"))


def history_dump(graph: Any, config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every checkpoint of a thread: its messages, by checkpoint id."""
    return {checkpoint_id(s.config): dump(s.values.get("messages", [])) for s in graph.get_state_history(config)}


@pytest.fixture(params=["sqlite", "postgres"])
def conn_string(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: a SQLite file path or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "graphs.db")
    return create_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def saver(conn_string: str) -> Iterator[TractSaver]:
    with TractSaver.from_conn_string(conn_string) as opened:
        yield opened


@contextmanager
def reopened(conn_string: str) -> Iterator[TractSaver]:
    """A second saver on the same database: nothing cached, everything read back from storage."""
    with TractSaver.from_conn_string(conn_string) as fresh:
        yield fresh


@contextmanager
def same(saver: TractSaver) -> Iterator[TractSaver]:
    """The saver itself, as a context manager (to loop over "this saver" and "a reopened one")."""
    yield saver


def run_child(function: str, *args: Any) -> Any:
    """Run ``function(*args)`` of this module in a new Python process; return what it printed (JSON)."""
    return run_in_child(__file__, function, *args)


def child_resume_review(conn_string: str, thread_id: str, answer: str) -> Any:
    """(In a child process) resume an interrupted review with ``answer``."""
    with TractSaver.from_conn_string(conn_string) as fresh:
        graph = review_graph(fresh)
        before = graph.get_state(thread(thread_id))
        out = graph.invoke(Command(resume=answer), thread(thread_id))
        return {
            "next_before": list(before.next),
            "interrupts_before": [i.value for i in before.interrupts],
            "messages": dump(out["messages"]),
        }


def child_read_and_continue(conn_string: str, thread_ids: list[str], continue_thread: str) -> Any:
    """(In a child process) list the threads, read their states, then add one turn to one of them."""
    with TractSaver.from_conn_string(conn_string) as fresh:
        graph = chat_graph(fresh)
        listed = sorted({t.config["configurable"]["thread_id"] for t in fresh.list(None)})
        states = {t: dump(graph.get_state(thread(t)).values["messages"]) for t in thread_ids}
        latest = {t: checkpoint_id(graph.get_state(thread(t)).config) for t in thread_ids}
        graph.invoke(ask(100, "from-child"), thread(continue_thread))
        log = [c.content for c in reversed(fresh.tract(continue_thread).log(limit=None))]
        return {"threads": listed, "states": states, "latest": latest, "log": log}


# -- a long conversation --------------------------------------------------------------------------


def test_long_conversation_matches_in_memory_saver_and_grows_linearly(saver: TractSaver, conn_string: str) -> None:
    turns = 60
    graph, memory = chat_graph(saver), chat_graph(InMemorySaver())
    config = thread("long")
    for i in range(turns):
        graph.invoke(ask(i), config)
        memory.invoke(ask(i), config)
        if i + 1 == turns // 2:  # halfway: storage so far
            half = (
                scalar(saver, "SELECT count(*) FROM tract_commits"),
                scalar(saver, "SELECT count(*) FROM tract_blobs"),
            )

    state, expected = graph.get_state(config), memory.get_state(config)
    messages = state.values["messages"]
    assert len(messages) == 2 * turns
    assert dump(messages) == dump(expected.values["messages"])
    assert [m.id for m in messages] == [x for i in range(turns) for x in (f"question-{i}", f"ai-{2 * i + 1}")]
    assert state.next == expected.next == ()
    assert {k: state.metadata[k] for k in ("source", "step")} == {k: expected.metadata[k] for k in ("source", "step")}
    checkpoints = scalar(saver, "SELECT count(*) FROM tract_lg_checkpoints WHERE thread_id = 'long'")
    assert checkpoints == len(list(memory.get_state_history(config))) == 3 * turns

    # the thread as a tract: one commit per message, in order, main at the latest checkpoint
    tract = saver.tract("long")
    assert tract.compile().messages == openai(messages)
    log = tract.log(limit=None)
    assert len(log) == len(messages)
    assert [(c.role, c.content) for c in reversed(log)] == [(ROLES[m.type], m.content) for m in messages]
    assert tract.head == log[0].hash == saver.checkpoint_commit(state.config)
    assert [b.name for b in tract.list_branches()] == ["main"]

    # linear storage: one commit and one blob per message, never per checkpoint
    assert half == (turns, turns)
    assert scalar(saver, "SELECT count(*) FROM tract_commits") == len(messages)
    assert scalar(saver, "SELECT count(*) FROM tract_blobs") == len(messages)
    assert scalar(saver, "SELECT count(*) FROM tract_commits WHERE tract_id = 'long'") == len(messages)
    # no other stored row holds the conversation: each is bounded, whatever the history length
    assert scalar(saver, "SELECT max(length(data)) FROM tract_lg_values") < 1_000
    assert scalar(saver, "SELECT max(length(checkpoint)) FROM tract_lg_checkpoints") < 2_000
    assert scalar(saver, "SELECT max(length(data)) FROM tract_lg_writes") < 1_000

    # a new saver reads the same state from storage alone
    with reopened(conn_string) as fresh:
        assert dump(chat_graph(fresh).get_state(config).values["messages"]) == dump(messages)


# -- history, checkpoints as commits, diff ---------------------------------------------------------


def test_state_history_parent_links_before_limit_and_diff(saver: TractSaver) -> None:
    graph, memory = chat_graph(saver), chat_graph(InMemorySaver())
    config = thread("hist")
    for i in range(4):
        graph.invoke(ask(i), config)
        memory.invoke(ask(i), config)

    history, expected = list(graph.get_state_history(config)), list(memory.get_state_history(config))

    def shape(snapshots: list[Any]) -> list[Any]:
        return [
            (s.metadata["step"], s.metadata["source"], s.next, [m.id for m in s.values.get("messages", [])])
            for s in snapshots
        ]

    assert shape(history) == shape(expected)
    assert len(history) == 12
    ids = [checkpoint_id(s.config) for s in history]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)  # newest first
    for newer, older in zip(history, history[1:], strict=False):
        assert checkpoint_id(newer.parent_config) == checkpoint_id(older.config)
    assert history[-1].parent_config is None

    # before / limit, through the graph and through the saver
    page = list(graph.get_state_history(config, before=history[2].config, limit=3))
    assert [checkpoint_id(s.config) for s in page] == ids[3:6]
    listed = list(saver.list(thread("hist"), before=history[2].config, limit=3))
    assert [checkpoint_id(t.config) for t in listed] == ids[3:6]
    assert [checkpoint_id(t.config) for t in saver.list(thread("hist"), limit=2)] == ids[:2]
    inputs = [t.metadata["step"] for t in saver.list(thread("hist"), filter={"source": "input"})]
    assert inputs == [t.metadata["step"] for t in memory.checkpointer.list(config, filter={"source": "input"})]
    assert inputs == [8, 5, 2, -1]

    # checkpoints are commits: time travel with compile(at_commit=)
    tract = saver.tract("hist")
    by_step = {s.metadata["step"]: s for s in history}
    assert saver.checkpoint_commit(by_step[-1].config) is None  # before the first message
    for snapshot in history[:-1]:
        commit = saver.checkpoint_commit(snapshot.config)
        assert tract.compile(at_commit=commit).messages == openai(snapshot.values["messages"])
    # an input checkpoint that did not change the messages shares the previous checkpoint's commit
    assert saver.checkpoint_commit(by_step[2].config) == saver.checkpoint_commit(by_step[1].config)

    # diff between two checkpoints: exactly the messages added in between
    first, last = by_step[1], history[0]
    diff = tract.diff(saver.checkpoint_commit(first.config), saver.checkpoint_commit(last.config))
    added = last.values["messages"][2:]
    assert [(c.kind, c.role, c.after["content"]) for c in diff.changes] == [
        ("added", ROLES[m.type], m.content) for m in added
    ]
    assert diff.removed == [] and len(diff.added) == 6
    assert [c.hash_b for c in diff.added] == [c.hash for c in reversed(tract.log(limit=6))]


# -- time travel and forks ------------------------------------------------------------------------


def test_update_state_fork_keeps_the_abandoned_line_as_a_branch(saver: TractSaver, conn_string: str) -> None:
    graph, memory = chat_graph(saver), chat_graph(InMemorySaver())
    config = thread("fork")
    for i in range(4):
        graph.invoke(ask(i), config)
        memory.invoke(ask(i), config)
    original, original_in_memory = graph.get_state(config), memory.get_state(config)
    original_messages = original.values["messages"]
    original_tip = saver.checkpoint_commit(original.config)
    tract = saver.tract("fork")
    original_hashes = [c.hash for c in reversed(tract.log(limit=None))]

    def after_turn_two(g: Any) -> Any:
        return next(s for s in g.get_state_history(config) if s.metadata["step"] == 4)

    # edit the second reply at the checkpoint after turn two (add_messages replaces by id), continue there
    for g in (graph, memory):
        past = after_turn_two(g)
        assert len(past.values["messages"]) == 4
        edited = AIMessage("an edited reply", id=past.values["messages"][-1].id)
        forked = g.update_state(past.config, {"messages": [edited]})
        g.invoke(ask(0, "after-edit"), forked)
        g.invoke(ask(1, "after-edit"), config)

    state, expected = graph.get_state(config), memory.get_state(config)
    new_messages = state.values["messages"]
    assert dump(new_messages) == dump(expected.values["messages"])
    assert [m.content for m in new_messages] == [
        "question 0",
        "reply 1: question 0",
        "question 1",
        "an edited reply",
        "after-edit 0",
        "reply 5: after-edit 0",
        "after-edit 1",
        "reply 7: after-edit 1",
    ]

    # the tract: main follows the new line, the old line is a branch lg/..., both fully readable
    branches = {b.name: b.commit for b in tract.list_branches()}
    forks = [name for name in branches if name.startswith("lg/")]
    assert sorted(branches) == sorted(["main", *forks]) and len(forks) == 1
    assert branches[forks[0]] == original_tip
    assert branches["main"] == tract.head == saver.checkpoint_commit(state.config)
    assert tract.compile().messages == openai(new_messages)
    assert tract.compile(at_commit=forks[0]).messages == openai(original_messages)
    assert [c.hash for c in reversed(tract.log(limit=None, start=forks[0]))] == original_hashes
    assert [c.content for c in reversed(tract.log(limit=None, start=forks[0]))] == [
        m.content for m in original_messages
    ]
    new_hashes = [c.hash for c in reversed(tract.log(limit=None))]
    assert new_hashes[:3] == original_hashes[:3]  # the common prefix is shared, not copied
    assert scalar(saver, "SELECT count(*) FROM tract_commits") == 8 + 5
    assert scalar(saver, "SELECT count(*) FROM tract_blobs") == 8 + 5

    # the old checkpoint still loads; resuming it forks again and keeps the edited line too
    assert dump(graph.get_state(original.config).values["messages"]) == dump(original_messages)
    graph.invoke(ask(0, "back-on-old-line"), original.config)
    memory.invoke(ask(0, "back-on-old-line"), original_in_memory.config)
    state, expected = graph.get_state(config), memory.get_state(config)
    assert dump(state.values["messages"]) == dump(expected.values["messages"])
    assert dump(state.values["messages"][:8]) == dump(original_messages)
    branches = {b.name: b.commit for b in tract.list_branches()}
    forks = sorted(name for name in branches if name.startswith("lg/"))
    assert len(forks) == 2
    assert sorted(branches[f] for f in forks) == sorted([original_tip, new_hashes[-1]])
    assert branches["main"] == saver.checkpoint_commit(state.config)
    assert tract.compile().messages == openai(state.values["messages"])
    with reopened(conn_string) as fresh:
        again = chat_graph(fresh)
        assert dump(again.get_state(config).values["messages"]) == dump(state.values["messages"])
        assert dump(again.get_state(original.config).values["messages"]) == dump(original_messages)


# -- human in the loop ----------------------------------------------------------------------------


def test_interrupt_and_resume_in_a_new_process(saver: TractSaver, conn_string: str) -> None:
    graph, memory = review_graph(saver), review_graph(InMemorySaver())
    config = thread("review")
    out = graph.invoke(ask(0, "draft"), config)
    expected_out = memory.invoke(ask(0, "draft"), config)
    question = {"question": "approve?", "draft": "reply 1: draft 0"}
    assert [i.value for i in out["__interrupt__"]] == [i.value for i in expected_out["__interrupt__"]] == [question]

    state = graph.get_state(config)
    assert state.next == ("review",)
    assert [i.value for i in state.interrupts] == [question]
    assert [t.name for t in state.tasks] == ["review"]
    pending = saver.get_tuple(config).pending_writes
    expected_pending = memory.checkpointer.get_tuple(config).pending_writes
    assert [(w[1], [i.value for i in w[2]]) for w in pending] == [("__interrupt__", [question])]
    assert [(w[1], [i.value for i in w[2]]) for w in expected_pending] == [("__interrupt__", [question])]
    assert pending[0][0] == state.tasks[0].id
    interrupted = state.config

    # resume in another process
    child = run_child("child_resume_review", conn_string, "review", "looks good")
    memory.invoke(Command(resume="looks good"), config)
    assert child["next_before"] == ["review"]
    assert child["interrupts_before"] == [question]
    expected = memory.get_state(config)
    assert child["messages"] == dump(expected.values["messages"])
    assert [m["data"]["content"] for m in child["messages"]] == ["draft 0", "reply 1: draft 0", "reviewer: looks good"]

    # this process sees the resumed run, and the interrupted checkpoint now carries the resume write
    in_memory_interrupted = next(s for s in memory.get_state_history(config) if s.next == ("review",))
    expected_writes = memory.checkpointer.get_tuple(in_memory_interrupted.config).pending_writes
    for current in (lambda: same(saver), lambda: reopened(conn_string)):
        with current() as reader:
            state = review_graph(reader).get_state(config)
            assert state.next == () and state.interrupts == ()
            assert dump(state.values["messages"]) == dump(expected.values["messages"])
            writes = reader.get_tuple(interrupted).pending_writes
            assert [w[1] for w in writes] == [w[1] for w in expected_writes]
            assert ("__resume__", "looks good") in [(w[1], w[2]) for w in writes]
            assert [w[1] for w in writes].count("__interrupt__") == 1
    assert saver.tract("review").compile().messages == openai(expected.values["messages"])

    # a second round, interrupted here and resumed by a new saver in this process
    graph.invoke(ask(1, "draft"), config)
    memory.invoke(ask(1, "draft"), config)
    assert graph.get_state(config).next == ("review",)
    with reopened(conn_string) as fresh:
        review_graph(fresh).invoke(Command(resume="ship it"), config)
    memory.invoke(Command(resume="ship it"), config)
    assert dump(graph.get_state(config).values["messages"]) == dump(memory.get_state(config).values["messages"])
    assert [m.content for m in graph.get_state(config).values["messages"]][-1] == "reviewer: ship it"


# -- subgraphs ------------------------------------------------------------------------------------


def test_subgraph_namespaces_are_tracts_and_delete_thread_removes_them_all(saver: TractSaver, conn_string: str) -> None:
    graph, memory = research_graph(saver), research_graph(InMemorySaver())
    for thread_id in ("research", "other"):
        for i in range(2):
            graph.invoke(ask(i), thread(thread_id))
            memory.invoke(ask(i), thread(thread_id))
    config = thread("research")
    state = graph.get_state(config)
    assert dump(state.values["messages"]) == dump(memory.get_state(config).values["messages"])
    assert [m.content for m in state.values["messages"]][2:4] == ["sub thinking 2", "sub answer 3"]

    # list without checkpoint_ns: every namespace; with it: only that one
    everything = list(saver.list(config))
    expected_everything = list(memory.checkpointer.list(config))

    def per_namespace(tuples: list[Any]) -> list[tuple[bool, int]]:
        counts: dict[str, int] = {}
        for t in tuples:
            counts[t.config["configurable"]["checkpoint_ns"]] = (
                counts.get(t.config["configurable"]["checkpoint_ns"], 0) + 1
            )
        return sorted((ns == "", n) for ns, n in counts.items())

    assert per_namespace(everything) == per_namespace(expected_everything)
    namespaces = sorted({t.config["configurable"]["checkpoint_ns"] for t in everything} - {""})
    assert len(namespaces) == 2 and all(ns.startswith("research:") for ns in namespaces)
    root = list(saver.list(thread("research", checkpoint_ns="")))
    assert root and {t.config["configurable"]["checkpoint_ns"] for t in root} == {""}
    assert len(root) == len(list(memory.checkpointer.list(thread("research", checkpoint_ns=""))))
    assert len(root) + sum(len(list(saver.list(thread("research", checkpoint_ns=ns)))) for ns in namespaces) == len(
        everything
    )

    # each subgraph namespace is the tract "<thread>|<ns>", with the subgraph's own messages
    other_namespaces = {t.config["configurable"]["checkpoint_ns"] for t in saver.list(thread("other"))} - {""}
    assert len(other_namespaces) == 2 and not other_namespaces & set(namespaces)
    expected_tracts = ["research", "other", *[f"research|{ns}" for ns in namespaces]]
    assert tract_ids(saver) == sorted(expected_tracts + [f"other|{ns}" for ns in other_namespaces])
    for ns in namespaces:
        latest = saver.get_tuple(thread("research", checkpoint_ns=ns))
        sub_messages = latest.checkpoint["channel_values"]["messages"]
        assert [m.content for m in sub_messages][-2:] == [
            f"sub thinking {len(sub_messages) - 2}",
            f"sub answer {len(sub_messages) - 1}",
        ]
        sub_tract = saver.tract("research", ns)
        assert sub_tract.tract_id == f"research|{ns}"
        assert sub_tract.compile().messages == openai(sub_messages)
        assert len(sub_tract.log(limit=None)) == len(sub_messages)
        assert saver.checkpoint_commit(latest.config) == sub_tract.head
    # the root tract holds the parent graph's messages
    assert saver.tract("research").compile().messages == openai(state.values["messages"])

    # delete_thread removes the thread in every namespace, and nothing of the other thread
    other_before = dump(graph.get_state(thread("other")).values["messages"])
    saver.delete_thread("research")
    assert list(saver.list(config)) == []
    assert saver.get_tuple(config) is None
    for ns in namespaces:
        assert saver.get_tuple(thread("research", checkpoint_ns=ns)) is None
        with pytest.raises(TractNotFoundError):
            saver.tract("research", ns)
    with pytest.raises(TractNotFoundError):
        saver.tract("research")
    assert tract_ids(saver) == sorted(["other", *[f"other|{ns}" for ns in other_namespaces]])
    assert scalar(saver, "SELECT count(*) FROM tract_commits WHERE tract_id LIKE 'research%'") == 0
    for table in ("tract_lg_checkpoints", "tract_lg_channels", "tract_lg_writes"):
        assert scalar(saver, f"SELECT count(*) FROM {table} WHERE thread_id = 'research'") == 0
    assert dump(graph.get_state(thread("other")).values["messages"]) == other_before
    with reopened(conn_string) as fresh:
        assert dump(research_graph(fresh).get_state(thread("other")).values["messages"]) == other_before
        assert research_graph(fresh).get_state(config).values == {}


# -- create_agent with tools ----------------------------------------------------------------------


def test_create_agent_tool_calls_round_trip_exactly(saver: TractSaver, conn_string: str) -> None:
    agent, memory = agent_graph(saver), agent_graph(InMemorySaver())
    config = thread("agent")
    asks = ["multiply 2 5", "multiply 3 6 4 7", "multiply 8 9"]
    for i, question in enumerate(asks[:2]):
        agent.invoke({"messages": [HumanMessage(question, id=f"human-{i}")]}, config)
        memory.invoke({"messages": [HumanMessage(question, id=f"human-{i}")]}, config)
    state = agent.get_state(config)
    messages = state.values["messages"]

    def without_tool_message_ids(found: list[BaseMessage]) -> list[dict[str, Any]]:  # ToolNode draws uuid4 ids
        return dump([m.model_copy(update={"id": None}) if isinstance(m, ToolMessage) else m for m in found])

    assert without_tool_message_ids(messages) == without_tool_message_ids(memory.get_state(config).values["messages"])
    assert [type(m).__name__ for m in messages] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "ToolMessage",
        "AIMessage",
    ]
    assert messages[1].tool_calls == [
        {"name": "multiply", "args": {"a": 2, "b": 5}, "id": "call_1_0", "type": "tool_call"}
    ]
    assert messages[5].tool_calls == [
        {"name": "multiply", "args": {"a": 3, "b": 6}, "id": "call_5_0", "type": "tool_call"},
        {"name": "multiply", "args": {"a": 4, "b": 7}, "id": "call_5_1", "type": "tool_call"},
    ]
    tool_results = [(m.tool_call_id, m.name, m.content) for m in messages if isinstance(m, ToolMessage)]
    assert tool_results == [
        ("call_1_0", "multiply", "10"),
        ("call_5_0", "multiply", "18"),
        ("call_5_1", "multiply", "28"),
    ]
    assert [m.content for m in messages if isinstance(m, AIMessage) and not m.tool_calls] == [
        "The products are 10.",
        "The products are 18, 28.",
    ]
    assert messages[8].usage_metadata == {"input_tokens": 80, "output_tokens": 7, "total_tokens": 87}
    assert messages[5].response_metadata["finish_reason"] == "tool_calls"
    assert all(m.id for m in messages)

    # the tract shows the tool calls and results in the OpenAI shape
    compiled = saver.tract("agent").compile().messages
    assert compiled[1]["tool_calls"] == [
        {"id": "call_1_0", "type": "function", "function": {"name": "multiply", "arguments": '{"a": 2, "b": 5}'}}
    ]
    assert [json.loads(c["function"]["arguments"]) for c in compiled[5]["tool_calls"]] == [
        {"a": 3, "b": 6},
        {"a": 4, "b": 7},
    ]
    assert [(c["role"], c.get("tool_call_id"), c["content"]) for c in compiled if c["role"] == "tool"] == [
        ("tool", "call_1_0", "10"),
        ("tool", "call_5_0", "18"),
        ("tool", "call_5_1", "28"),
    ]
    assert len(saver.tract("agent").log(limit=None)) == len(messages)

    # reopened (a new saver on the same database): exactly the same state, and the agent carries on
    before = dump(messages)
    history_before = history_dump(agent, config)
    with reopened(conn_string) as fresh:
        again = agent_graph(fresh)
        assert dump(again.get_state(config).values["messages"]) == before
        assert history_dump(again, config) == history_before
        again.invoke({"messages": [HumanMessage(asks[2], id="human-2")]}, config)
        after = again.get_state(config).values["messages"]
    assert dump(after[: len(messages)]) == before
    assert after[-3].tool_calls == [
        {"name": "multiply", "args": {"a": 8, "b": 9}, "id": "call_10_0", "type": "tool_call"}
    ]
    assert (after[-2].tool_call_id, after[-2].content) == ("call_10_0", "72")
    assert after[-1].content == "The products are 72."
    assert dump(agent.get_state(config).values["messages"]) == dump(after)


# -- reopening in another process -----------------------------------------------------------------


def test_a_new_process_sees_the_same_threads_and_state(saver: TractSaver, conn_string: str) -> None:
    graph, memory = chat_graph(saver), chat_graph(InMemorySaver())
    names = ["ada", "bob", "eve"]
    for n, name in enumerate(names):
        for i in range(n + 2):
            graph.invoke(ask(i, f"{name}-question"), thread(name))
            memory.invoke(ask(i, f"{name}-question"), thread(name))
    states = {name: dump(graph.get_state(thread(name)).values["messages"]) for name in names}
    latest = {name: checkpoint_id(graph.get_state(thread(name)).config) for name in names}

    child = run_child("child_read_and_continue", conn_string, names, "bob")
    assert child["threads"] == names
    assert child["states"] == states
    assert child["latest"] == latest

    # the child's turn is visible here, and this (long-lived) saver continues after it
    memory.invoke(ask(100, "from-child"), thread("bob"))
    assert dump(graph.get_state(thread("bob")).values["messages"]) == dump(
        memory.get_state(thread("bob")).values["messages"]
    )
    graph.invoke(ask(5, "bob-question"), thread("bob"))
    memory.invoke(ask(5, "bob-question"), thread("bob"))
    final = graph.get_state(thread("bob")).values["messages"]
    assert dump(final) == dump(memory.get_state(thread("bob")).values["messages"])
    assert child["log"] == [m.content for m in final][:-2]
    tract = saver.tract("bob")
    assert [c.content for c in reversed(tract.log(limit=None))] == [m.content for m in final]
    assert [b.name for b in tract.list_branches()] == ["main"]
    for name in ("ada", "eve"):
        assert dump(graph.get_state(thread(name)).values["messages"]) == states[name]


# -- copy, prune, gc, delete ----------------------------------------------------------------------


def test_copy_thread_then_diverging_leaves_the_original_untouched(saver: TractSaver, conn_string: str) -> None:
    graph = chat_graph(saver)
    for i in range(3):
        graph.invoke(ask(i), thread("source"))
    source_state = graph.get_state(thread("source"))
    source_history = history_dump(graph, thread("source"))
    source_log = [c.hash for c in saver.tract("source").log(limit=None)]

    saver.copy_thread("source", "copy")
    copied = graph.get_state(thread("copy"))
    assert dump(copied.values["messages"]) == dump(source_state.values["messages"])
    assert history_dump(graph, thread("copy")) == source_history
    assert [c.hash for c in saver.tract("copy").log(limit=None)] == source_log  # same content, same commit ids
    assert scalar(saver, "SELECT count(*) FROM tract_blobs") == 6  # shared, not copied

    for i in range(3, 5):
        graph.invoke(ask(i, "copy-question"), thread("copy"))
    diverged = graph.get_state(thread("copy")).values["messages"]
    assert [m.content for m in diverged][6:] == [
        "copy-question 3",
        "reply 7: copy-question 3",
        "copy-question 4",
        "reply 9: copy-question 4",
    ]

    # the original is untouched: state, history, tract
    assert dump(graph.get_state(thread("source")).values["messages"]) == dump(source_state.values["messages"])
    assert history_dump(graph, thread("source")) == source_history
    assert [c.hash for c in saver.tract("source").log(limit=None)] == source_log
    assert saver.tract("source").compile().messages == openai(source_state.values["messages"])
    assert saver.tract("copy").compile().messages == openai(diverged)
    assert scalar(saver, "SELECT count(*) FROM tract_blobs") == 6 + 4
    with reopened(conn_string) as fresh:
        again = chat_graph(fresh)
        assert history_dump(again, thread("source")) == source_history
        assert dump(again.get_state(thread("copy")).values["messages"]) == dump(diverged)


def _forked_thread(graph: Any, thread_id: str) -> None:
    """Four turns, then a fork from the checkpoint after turn two, then one more turn."""
    for i in range(4):
        graph.invoke(ask(i), thread(thread_id))
    past = next(s for s in graph.get_state_history(thread(thread_id)) if s.metadata["step"] == 4)
    graph.invoke(ask(0, "forked"), past.config)
    graph.invoke(ask(1, "forked"), thread(thread_id))


def test_prune_keep_latest_then_gc_keeps_the_latest_checkpoint(saver: TractSaver, conn_string: str) -> None:
    graph = chat_graph(saver)
    _forked_thread(graph, "pruned")
    _forked_thread(graph, "kept")
    latest = graph.get_state(thread("pruned"))
    kept_history = history_dump(graph, thread("kept"))

    saver.prune(["pruned"], strategy="keep_latest")
    assert [checkpoint_id(t.config) for t in saver.list(thread("pruned"))] == [checkpoint_id(latest.config)]
    result = saver.tract("pruned").gc(now=FAR_FUTURE, orphan_retention_days=0, archive_retention_days=0)
    assert result.dry_run is False
    for current in (lambda: same(saver), lambda: reopened(conn_string)):
        with current() as reader:
            g = chat_graph(reader)
            state = g.get_state(thread("pruned"))
            assert checkpoint_id(state.config) == checkpoint_id(latest.config)
            assert dump(state.values["messages"]) == dump(latest.values["messages"])
            assert history_dump(g, thread("kept")) == kept_history
    assert saver.tract("pruned").compile().messages == openai(latest.values["messages"])

    # the pruned thread carries on
    graph.invoke(ask(2, "forked"), thread("pruned"))
    messages = graph.get_state(thread("pruned")).values["messages"]
    assert dump(messages[:-2]) == dump(latest.values["messages"])
    assert [m.content for m in messages[-2:]] == ["forked 2", f"reply {len(messages) - 1}: forked 2"]
    with reopened(conn_string) as fresh:
        assert dump(chat_graph(fresh).get_state(thread("pruned")).values["messages"]) == dump(messages)


def test_gc_never_removes_commits_saved_checkpoints_need(saver: TractSaver, conn_string: str) -> None:
    """Holds, not just refs, protect what checkpoints point at: deleting the fork's branch or
    compressing ``main`` (tract's own tools on a LangGraph thread) and then collecting garbage must
    leave every saved checkpoint loadable."""
    graph = chat_graph(saver)
    _forked_thread(graph, "held")
    everything = history_dump(graph, thread("held"))
    tract = saver.tract("held")
    forks = [b.name for b in tract.list_branches() if b.name.startswith("lg/")]
    assert len(forks) == 1
    tract.delete_branch(forks[0], force=True)
    tract.compress(content="Summary of the conversation so far.", keep_recent=2)
    tract.gc(now=FAR_FUTURE, orphan_retention_days=0, archive_retention_days=0)
    with reopened(conn_string) as fresh:
        assert history_dump(chat_graph(fresh), thread("held")) == everything


def test_a_turn_after_main_moved_outside_the_saver_still_lands_whole(saver: TractSaver, conn_string: str) -> None:
    """The saver writes through tract's one write path: ``main`` moves only by compare-and-swap from
    where the saver last left it. When something else moved it (a commit made through
    ``saver.tract``), the next turn is still stored in full, every move is in the reflog, and the
    commit made outside stays reachable."""
    graph = chat_graph(saver)
    graph.invoke(ask(0), thread("moved"))
    note = saver.tract("moved").user("a note made through tract")
    graph.invoke(ask(1), thread("moved"))
    contents = [m.content for m in graph.get_state(thread("moved")).values["messages"]]
    assert contents[0] == "question 0" and contents[-2:] == ["question 1", f"reply {len(contents) - 1}: question 1"]
    with reopened(conn_string) as fresh:
        tract = fresh.tract("moved")
        assert tract.compile().messages[-1]["content"] == contents[-1]
        reachable = {c.hash for b in tract.list_branches() for c in tract.log(limit=None, start=b.name)}
        assert note.hash in reachable
        moves = [(r.old, r.new) for r in reversed(tract.reflog(ref="main"))]
        assert all(new == moves[i + 1][0] for i, (_, new) in enumerate(moves[:-1]))  # an unbroken chain of moves
        assert moves[-1][1] == tract.head
        assert tract.verify() > 0


def test_delete_thread_then_gc_frees_the_blobs_only_it_used(saver: TractSaver, conn_string: str) -> None:
    graph = chat_graph(saver)
    for thread_id in ("doomed", "survivor"):
        graph.invoke(ask(0, "shared"), thread(thread_id))  # the same first turn in both: shared blobs
        for i in range(1, 3):
            graph.invoke(ask(i, f"{thread_id}-only"), thread(thread_id))
    survivor = graph.get_state(thread("survivor"))
    assert scalar(saver, "SELECT count(*) FROM tract_blobs") == 2 + 4 + 4

    saver.delete_thread("doomed")
    saver.tract("survivor").gc(now=FAR_FUTURE, orphan_retention_days=0, archive_retention_days=0)
    survivor_blobs = column(saver, "SELECT DISTINCT blob_hash FROM tract_commits WHERE tract_id = 'survivor'")
    assert sorted(column(saver, "SELECT hash FROM tract_blobs")) == sorted(survivor_blobs)
    assert len(survivor_blobs) == 6
    assert not any("doomed-only" in c for c in column(saver, "SELECT content FROM tract_blobs"))
    assert saver.get_tuple(thread("doomed")) is None
    with reopened(conn_string) as fresh:
        g = chat_graph(fresh)
        assert dump(g.get_state(thread("survivor")).values["messages"]) == dump(survivor.values["messages"])
        assert g.get_state(thread("doomed")).values == {}
        g.invoke(ask(0, "shared"), thread("doomed"))  # the id can be used again from scratch
        assert [m.content for m in g.get_state(thread("doomed")).values["messages"]] == [
            "shared 0",
            "reply 1: shared 0",
        ]


def test_delete_thread_leaves_no_stored_value_of_the_thread(saver: TractSaver) -> None:
    """After ``delete_thread`` nothing the thread said remains anywhere in the saver's tables."""
    graph = chat_graph(saver)
    graph.invoke(ask(0, "shared"), thread("survivor"))
    graph.invoke(ask(0, "confidential-doomed-text"), thread("doomed"))
    saver.delete_thread("doomed")
    saver.tract("survivor").gc(now=FAR_FUTURE, orphan_retention_days=0, archive_retention_days=0)
    marker = b"confidential-doomed-text"
    for table, field in [
        ("tract_blobs", "content"),
        ("tract_commits", "metadata"),
        ("tract_lg_checkpoints", "checkpoint"),
        ("tract_lg_checkpoints", "metadata_blob"),
        ("tract_lg_writes", "data"),
        ("tract_lg_values", "data"),
    ]:
        stored = [v if isinstance(v, bytes) else str(v).encode() for v in column(saver, f"SELECT {field} FROM {table}")]
        assert not [v for v in stored if marker in v], f"{table}.{field} still holds the deleted thread's data"


# -- async ----------------------------------------------------------------------------------------


async def test_ainvoke_and_aget_state(saver: TractSaver, conn_string: str) -> None:
    graph, memory = chat_graph(saver), chat_graph(InMemorySaver())
    config = thread("async")
    for i in range(5):
        await graph.ainvoke(ask(i), config)
        await memory.ainvoke(ask(i), config)
    state, expected = await graph.aget_state(config), await memory.aget_state(config)
    assert dump(state.values["messages"]) == dump(expected.values["messages"])
    assert len(state.values["messages"]) == 10
    history = [s async for s in graph.aget_state_history(config)]
    assert [checkpoint_id(s.config) for s in history] == [
        checkpoint_id(s.config) for s in graph.get_state_history(config)
    ]
    assert [(s.metadata["step"], len(s.values.get("messages", []))) for s in history] == [
        (s.metadata["step"], len(s.values.get("messages", []))) async for s in memory.aget_state_history(config)
    ]
    assert saver.tract("async").compile().messages == openai(state.values["messages"])

    # several conversations at once on one saver
    async def conversation(name: str) -> None:
        for i in range(4):
            await graph.ainvoke(ask(i, f"{name}-question"), thread(name))

    names = [f"concurrent-{k}" for k in range(4)]
    await asyncio.gather(*(conversation(name) for name in names))
    for name in names:
        messages = (await graph.aget_state(thread(name))).values["messages"]
        assert [m.content for m in messages] == [
            x for i in range(4) for x in (f"{name}-question {i}", f"reply {2 * i + 1}: {name}-question {i}")
        ]
        assert len(saver.tract(name).log(limit=None)) == 8
    with reopened(conn_string) as fresh:
        again = chat_graph(fresh)
        assert dump((await again.aget_state(config)).values["messages"]) == dump(state.values["messages"])


async def test_async_methods_await_postgres_on_the_event_loop(
    saver: TractSaver, conn_string: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the a-methods run their statements on the loop (no worker thread); on SQLite
    they run in a worker thread, as documented."""
    seen: list[int] = []
    for name in ("put_checkpoint", "put_writes", "locate"):
        original = getattr(saver._rows, name)

        def recording(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            seen.append(threading.get_ident())
            return _original(*args, **kwargs)

        monkeypatch.setattr(saver._rows, name, recording)
    graph = chat_graph(saver)
    for i in range(3):
        await graph.ainvoke(ask(i), thread("loop"))
    assert len((await graph.aget_state(thread("loop"))).values["messages"]) == 6
    loop_thread = threading.get_ident()
    assert seen
    if conn_string.startswith("postgresql"):
        assert set(seen) == {loop_thread}
    else:
        assert loop_thread not in seen


def test_async_use_from_several_event_loops_then_sync_close(conn_string: str) -> None:
    """``asyncio.run`` per turn (scripts, notebooks) on one saver, then the sync context exit."""
    with TractSaver.from_conn_string(conn_string) as saver:
        graph = chat_graph(saver)
        for i in range(3):
            asyncio.run(graph.ainvoke(ask(i), thread("loops")))
        assert [m.content for m in graph.get_state(thread("loops")).values["messages"]][-1] == "reply 5: question 2"


async def test_afrom_conn_string_closes_on_the_loop(conn_string: str) -> None:
    async with TractSaver.afrom_conn_string(conn_string) as saver:
        await chat_graph(saver).ainvoke(ask(0), thread("a"))
    async with TractSaver.afrom_conn_string(conn_string) as saver:
        state = await chat_graph(saver).aget_state(thread("a"))
        assert [m.content for m in state.values["messages"]] == ["question 0", "reply 1: question 0"]
