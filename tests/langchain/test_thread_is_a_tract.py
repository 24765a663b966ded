"""A LangGraph thread is a tract both ways: what is changed through the tract reaches the graph.

``saver.tract(thread_id)`` opens the thread as a tract. A SKIP, an EDIT, a compression or a message
committed there must change what the model is given on the next turn, and be recorded as LangGraph
records any outside change: a new checkpoint (``source="update"``, its parent the previous latest,
the messages channel's version bumped) visible in ``get_state_history``, while every earlier
checkpoint keeps what it had. Real ``StateGraph`` and ``create_agent`` graphs with deterministic
models that record what they are given; SQLite files and PostgreSQL; changes made by this process
and by another one; sync and async.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    message_to_dict,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, interrupt

from tract_core import EDIT, NORMAL, PINNED, SKIP, InvalidInputError, Tract
from tract_core.store.sql import SqlStore
from tract_core.testing import create_database
from tract_core.testing.processes import WAIT_FOR_FILE, ChildProcess, write_atomically
from tract_langchain import AsyncTractSaver, TractSaver

SEEN: list[list[BaseMessage]] = []
"""What each model call was given, in order (this process)."""

ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


# -- models that record their input ---------------------------------------------------------------


class RecordingModel(BaseChatModel):
    """Answers ``answer <k>`` (id ``ai-<k>``, ``k``: the call's number) and records what it was given."""

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        SEEN.append(list(messages))
        k = len(SEEN)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(f"answer {k}", id=f"ai-{k}"))])


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


class RecordingToolModel(BaseChatModel):
    """``multiply 2 5 3 4`` becomes one parallel ``multiply`` call per pair; tool results become a final
    answer listing what it was given. Records every input."""

    @property
    def _llm_type(self) -> str:
        return "recording-tools"

    def bind_tools(self, tools: Any, **kwargs: Any) -> RecordingToolModel:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        SEEN.append(list(messages))
        k, last = len(SEEN), messages[-1]
        if isinstance(last, HumanMessage):
            numbers = [int(word) for word in str(last.content).split()[1:]]
            calls = [
                {"name": "multiply", "args": {"a": a, "b": b}, "id": f"call_{k}_{i}", "type": "tool_call"}
                for i, (a, b) in enumerate(zip(numbers[::2], numbers[1::2], strict=True))
            ]
            reply = AIMessage("", id=f"ai-{k}", tool_calls=calls)
        else:
            results = [str(m.content) for m in messages if isinstance(m, ToolMessage)]
            reply = AIMessage(f"Results so far: {', '.join(results)}.", id=f"ai-{k}")
        return ChatResult(generations=[ChatGeneration(message=reply)])


# -- graphs and helpers ---------------------------------------------------------------------------


class ChatState(TypedDict):
    messages: Annotated[list, add_messages]


def _chat(state: ChatState) -> dict[str, Any]:
    return {"messages": [RecordingModel().invoke(state["messages"])]}


def chat_graph(checkpointer: Any) -> Any:
    """START -> chat -> END."""
    builder = StateGraph(ChatState)
    builder.add_node("chat", _chat)
    builder.add_edge(START, "chat")
    builder.add_edge("chat", END)
    return builder.compile(checkpointer=checkpointer)


def _review(state: ChatState) -> dict[str, Any]:
    answer = interrupt("approve?")
    return {"messages": [HumanMessage(f"reviewer: {answer}", id=f"review-{len(state['messages'])}")]}


def review_graph(checkpointer: Any) -> Any:
    """START -> chat -> review (``interrupt``) -> chat -> END (``chat`` again under another name)."""
    builder = StateGraph(ChatState)
    builder.add_node("chat", _chat)
    builder.add_node("review", _review)
    builder.add_node("follow_up", _chat)
    builder.add_edge(START, "chat")
    builder.add_edge("chat", "review")
    builder.add_edge("review", "follow_up")
    builder.add_edge("follow_up", END)
    return builder.compile(checkpointer=checkpointer)


def agent_graph(checkpointer: Any) -> Any:
    return create_agent(model=RecordingToolModel(), tools=[multiply], checkpointer=checkpointer)


def thread(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def ask(text: str, id: str) -> dict[str, Any]:
    return {"messages": [HumanMessage(text, id=id)]}


def contents(messages: list[BaseMessage]) -> list[Any]:
    return [m.content for m in messages]


def shape(messages: list[BaseMessage]) -> list[tuple[Any, ...]]:
    """Role, content and tool-call ids of LangChain messages (what the model is shown)."""
    found = []
    for m in messages:
        calls = tuple(c["id"] for c in getattr(m, "tool_calls", None) or ())
        found.append((ROLES[m.type], m.content, calls, getattr(m, "tool_call_id", None)))
    return found


def compiled_shape(tract: Tract) -> list[tuple[Any, ...]]:
    """The same for ``tract.compile()`` (OpenAI-shaped messages)."""
    found = []
    for m in tract.compile().messages:
        calls = tuple(c["id"] for c in m.get("tool_calls") or ())
        found.append((m["role"], m["content"] or "", calls, m.get("tool_call_id")))
    return found


def history(graph: Any, config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every checkpoint of a thread: its messages (fully serialised), by checkpoint id."""
    return {
        s.config["configurable"]["checkpoint_id"]: [message_to_dict(m) for m in s.values.get("messages", [])]
        for s in graph.get_state_history(config)
    }


def commit_holding(tract: Tract, text: str) -> Any:
    """The newest commit whose message contains ``text``."""
    return next(c for c in tract.log(limit=None) if isinstance(c.content, str) and text in c.content)


def commit_of(tract: Tract, content: str) -> Any:
    """The newest commit whose message is exactly ``content``."""
    return next(c for c in tract.log(limit=None) if c.content == content)


@pytest.fixture(autouse=True)
def _forget_seen() -> Iterator[None]:
    SEEN.clear()
    yield
    SEEN.clear()


@pytest.fixture(params=["sqlite", "postgres"])
def conn_string(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: a SQLite file path or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "thread.db")
    return create_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def saver(conn_string: str) -> Iterator[TractSaver]:
    with TractSaver(conn_string) as opened:
        yield opened


# -- SKIP, EDIT and compression through the tract ---------------------------------------------------


def test_skip_edit_and_compression_through_the_tract_reach_the_model(saver: TractSaver, conn_string: str) -> None:
    graph, config = chat_graph(saver), thread("support")
    graph.invoke(ask("My card is 4111 1111 1111 1111.", "q0"), config)
    graph.invoke(ask("Where is my order?", "q1"), config)
    latest = graph.get_state(config)
    before = history(graph, config)
    tract = saver.tract("support")
    card = commit_holding(tract, "4111")

    # SKIP: the next read stores an update checkpoint, as update_state would, without the message
    tract.annotate(card.hash, SKIP, reason="card number")
    state = graph.get_state(config)
    assert contents(state.values["messages"]) == ["answer 1", "Where is my order?", "answer 2"]
    assert state.metadata == {"source": "update", "step": latest.metadata["step"] + 1, "parents": {}}
    assert state.parent_config["configurable"]["checkpoint_id"] == latest.config["configurable"]["checkpoint_id"]
    assert state.next == ()
    old_version = saver.get_tuple(latest.config).checkpoint["channel_versions"]["messages"]
    assert saver.get_tuple(config).checkpoint["channel_versions"]["messages"] > old_version
    assert compiled_shape(tract) == shape(state.values["messages"])
    marker = tract.show(saver.checkpoint_commit(state.config))  # a commit with no message records the SKIP
    assert (marker.role, marker.preview(), marker.parents) == (
        None,
        "LangGraph update: 1 message hidden",
        (saver.checkpoint_commit(latest.config),),
    )
    assert tract.head == marker.hash
    after = history(graph, config)
    assert list(after)[0] == state.config["configurable"]["checkpoint_id"]
    assert {k: v for k, v in after.items() if k in before} == before  # every earlier checkpoint keeps what it had
    assert len(after) == len(before) + 1
    assert graph.get_state(config).config == state.config  # read again: nothing new to record

    # the model's next call does not see it
    graph.invoke(ask("Thanks. Is it insured?", "q2"), config)
    assert contents(SEEN[-1]) == ["answer 1", "Where is my order?", "answer 2", "Thanks. Is it insured?"]

    # EDIT: the message is replaced (same id: add_messages sees the same message, changed)
    reply = commit_holding(tract, "answer 2")
    tract.commit("Your order ships on Monday.", role="assistant", operation=EDIT, response_to=reply.hash)
    graph.invoke(ask("Which carrier?", "q3"), config)
    edited = SEEN[-1][2]
    assert (edited.content, edited.id, type(edited)) == ("Your order ships on Monday.", "ai-2", AIMessage)
    assert not any("4111" in str(m.content) for m in SEEN[-1])

    # compression: the range becomes its summary
    tract.compress(content="The customer asked where their order is; it ships Monday.", keep_recent=2)
    graph.invoke(ask("Thank you!", "q4"), config)
    assert isinstance(SEEN[-1][0], SystemMessage)
    assert contents(SEEN[-1]) == [
        "The customer asked where their order is; it ships Monday.",
        "Which carrier?",
        "answer 4",
        "Thank you!",
    ]
    state = graph.get_state(config)
    assert compiled_shape(tract) == shape(state.values["messages"])

    # history keeps everything: every change is an update checkpoint, the tract's log and old commits stay
    sources = [s.metadata["source"] for s in graph.get_state_history(config)]
    assert sources.count("update") == 3
    assert [b.name for b in tract.list_branches()] == ["main"]
    assert "4111" in tract.show(card.hash).content
    assert "4111" in tract.compile(at_commit=card.hash).messages[0]["content"]
    assert before == {k: v for k, v in history(graph, config).items() if k in before}

    # a new saver (nothing cached) reads the same state and history, and carries on from it
    with TractSaver(conn_string) as fresh:
        again = chat_graph(fresh)
        assert [message_to_dict(m) for m in again.get_state(config).values["messages"]] == [
            message_to_dict(m) for m in state.values["messages"]
        ]
        assert history(again, config) == history(graph, config)
        again.invoke(ask("Bye.", "q5"), config)
        assert contents(SEEN[-1])[0] == "The customer asked where their order is; it ships Monday."
    assert compiled_shape(saver.tract("support")) == shape(graph.get_state(config).values["messages"])


def test_unskip_and_a_message_committed_through_the_tract(saver: TractSaver) -> None:
    graph, config = chat_graph(saver), thread("notes")
    graph.invoke(ask("first", "q0"), config)
    tract = saver.tract("notes")
    first = commit_holding(tract, "first")
    tract.annotate(first.hash, SKIP)
    graph.invoke(ask("second", "q1"), config)
    assert contents(SEEN[-1]) == ["answer 1", "second"]

    # back to NORMAL: the message returns where it was; a message committed to the tract joins in
    tract.annotate(first.hash, NORMAL)
    note = tract.system("The customer is a VIP.")
    graph.invoke(ask("third", "q2"), config)
    assert contents(SEEN[-1]) == ["first", "answer 1", "second", "answer 2", "The customer is a VIP.", "third"]
    assert isinstance(SEEN[-1][4], SystemMessage) and SEEN[-1][4].id == note.hash  # a stable id for add_messages
    assert compiled_shape(tract) == shape(graph.get_state(config).values["messages"])
    markers = [c.preview() for c in tract.log(limit=None) if c.role is None]
    assert markers == ["LangGraph update: no message hidden", "LangGraph update: 1 message hidden"]
    assert [s.metadata["source"] for s in graph.get_state_history(config)].count("update") == 2

    # a PIN changes nothing the model is shown: no update, however many turns follow
    tract.annotate(note.hash, PINNED)
    for i in range(3):
        graph.invoke(ask(f"more {i}", f"m{i}"), config)
    assert [s.metadata["source"] for s in graph.get_state_history(config)].count("update") == 2
    assert compiled_shape(tract) == shape(graph.get_state(config).values["messages"])


def test_the_same_changes_give_the_same_commits(tmp_path: Path) -> None:
    heads = []
    for name in ("a.db", "b.db"):
        with TractSaver(str(tmp_path / name)) as saver:
            graph, config = chat_graph(saver), thread("t")
            graph.invoke(ask("hello", "q0"), config)
            tract = saver.tract("t")
            tract.annotate(commit_holding(tract, "hello").hash, SKIP)
            graph.invoke(ask("again", "q1"), config)
            heads.append([c.hash for c in tract.log(limit=None)])
        SEEN.clear()
    assert heads[0] == heads[1]


# -- create_agent -----------------------------------------------------------------------------------


def test_create_agent_skipping_a_tool_result_or_call_keeps_pairs_whole(saver: TractSaver) -> None:
    agent, config = agent_graph(saver), thread("agent")
    agent.invoke(ask("multiply 2 5 3 4", "h0"), config)
    tract = saver.tract("agent")
    assert [c.preview() for c in reversed(tract.log(limit=None))][:2] == [
        "multiply 2 5 3 4",
        "multiply(a=2, b=5), multiply(a=3, b=4)",
    ]

    # a skipped result takes its call out of the assistant message; the other call stays paired
    tract.annotate(commit_of(tract, "12").hash, SKIP)
    state = agent.get_state(config)
    assert shape(state.values["messages"]) == [
        ("user", "multiply 2 5 3 4", (), None),
        ("assistant", "", ("call_1_0",), None),
        ("tool", "10", (), "call_1_0"),
        ("assistant", "Results so far: 10, 12.", (), None),
    ]
    assert compiled_shape(tract) == shape(state.values["messages"])
    agent.invoke(ask("multiply 6 7", "h1"), config)
    assert shape(SEEN[2]) == shape(state.values["messages"]) + [("user", "multiply 6 7", (), None)]
    assert shape(SEEN[3])[-2:] == [("assistant", "", ("call_3_0",), None), ("tool", "42", (), "call_3_0")]

    # a skipped call takes its result with it (and an assistant message with nothing left goes too)
    calls = next(c for c in tract.log(limit=None) if c.body and c.body.get("tool_calls") and "6" in c.preview())
    tract.annotate(calls.hash, SKIP)
    agent.invoke(ask("multiply 1 1", "h2"), config)
    assert [type(m).__name__ for m in SEEN[4]] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
        "HumanMessage",
        "AIMessage",
        "HumanMessage",
    ]
    assert "42" not in [m.content for m in SEEN[4]]
    assert compiled_shape(tract) == shape(agent.get_state(config).values["messages"])


# -- another process, async, interrupts -------------------------------------------------------------

_EDITOR = """
import json, sys
from tract_core import EDIT, SKIP
from tract_langchain import TractSaver

args = json.loads(sys.argv[1])
with TractSaver(args["conn"]) as saver:
    tract = saver.tract(args["thread"])
    log = {c.content: c for c in tract.log(limit=None)}
    tract.annotate(log[args["skip"]].hash, SKIP, reason="personal data")
    tract.commit(args["edit"][1], role="assistant", operation=EDIT, response_to=log[args["edit"][0]].hash)
    print(json.dumps({"head": tract.head}))
"""


def test_a_change_made_by_another_process_reaches_the_next_turn(
    saver: TractSaver, conn_string: str, tmp_path: Path
) -> None:
    graph, config = chat_graph(saver), thread("shared")
    graph.invoke(ask("I live at 1 Main St.", "q0"), config)
    graph.invoke(ask("Send it there.", "q1"), config)
    before = history(graph, config)
    args = {"conn": conn_string, "thread": "shared", "skip": "I live at 1 Main St.", "edit": ["answer 2", "Sent."]}
    child = ChildProcess(_EDITOR, args, tmp_path, "editor").result()

    graph.invoke(ask("Thanks.", "q2"), config)  # this long-lived saver sees the other process's change
    assert contents(SEEN[-1]) == ["answer 1", "Send it there.", "Sent.", "Thanks."]
    tract = saver.tract("shared")
    assert compiled_shape(tract) == shape(graph.get_state(config).values["messages"])
    assert tract.log(limit=None)[-1].hash != child["head"]  # the graph built on the child's change
    assert child["head"] in {c.hash for c in tract.log(limit=None)}
    states = list(graph.get_state_history(config))
    update = next(s for s in states if s.metadata["source"] == "update")
    assert contents(update.values["messages"]) == ["answer 1", "Send it there.", "Sent."]
    assert {k: v for k, v in history(graph, config).items() if k in before} == before


_READER = (
    WAIT_FOR_FILE
    + """
import json, sys
from tract_langchain import TractSaver

args = json.loads(sys.argv[1])
with TractSaver(args["conn"]) as saver:
    wait_for_file(args["go"])
    found = saver.get_tuple({"configurable": {"thread_id": args["thread"]}})
    print(json.dumps([m.content for m in found.checkpoint["channel_values"]["messages"]]))
"""
)


def test_readers_racing_to_record_a_change_record_it_once(saver: TractSaver, conn_string: str, tmp_path: Path) -> None:
    graph, config = chat_graph(saver), thread("race")
    graph.invoke(ask("secret", "q0"), config)
    tract = saver.tract("race")
    tract.annotate(commit_holding(tract, "secret").hash, SKIP)
    go = tmp_path / "go"
    args = {"conn": conn_string, "thread": "race", "go": str(go)}
    readers = [ChildProcess(_READER, args, tmp_path, f"reader{i}") for i in range(2)]
    try:
        write_atomically(go, "go")
        assert [reader.result() for reader in readers] == [["answer 1"]] * 2
    finally:
        for reader in readers:
            reader.kill()
    sources = [s.metadata["source"] for s in graph.get_state_history(config)]
    assert sources.count("update") == 1
    assert [c.preview() for c in tract.log(limit=None)].count("LangGraph update: 1 message hidden") == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_async_graph_with_async_tract_saver(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if backend == "sqlite":
        conn = str(tmp_path / "async.db")
    else:
        conn = create_database(request.getfixturevalue("postgres_server"))
    config = thread("a1")
    async with AsyncTractSaver.from_conn_string(conn) as saver:
        graph = chat_graph(saver)
        await graph.ainvoke(ask("secret: 1234", "q0"), config)
        tract = await asyncio.to_thread(saver.tract, "a1")
        await asyncio.to_thread(tract.annotate, commit_holding(tract, "secret").hash, SKIP)
        state = await graph.aget_state(config)
        assert (state.metadata["source"], contents(state.values["messages"])) == ("update", ["answer 1"])
        await graph.ainvoke(ask("go on", "q1"), config)
        assert contents(SEEN[-1]) == ["answer 1", "go on"]
        sources = [s.metadata["source"] async for s in graph.aget_state_history(config)]
        assert sources.count("update") == 1
    with TractSaver(conn) as reader:
        assert contents(chat_graph(reader).get_state(config).values["messages"]) == ["answer 1", "go on", "answer 2"]


def test_an_interrupted_run_resumes_on_the_changed_messages(tmp_path: Path) -> None:
    with TractSaver(str(tmp_path / "review.db")) as saver:
        graph, config = review_graph(saver), thread("review")
        graph.invoke(ask("Draft a reply to jane@example.com", "q0"), config)
        assert graph.get_state(config).next == ("review",)
        tract = saver.tract("review")
        tract.annotate(commit_holding(tract, "jane@").hash, SKIP)
        state = graph.get_state(config)
        assert state.next == ("review",) and state.metadata["source"] == "update"
        out = graph.invoke(Command(resume="approved"), config)
        assert contents(SEEN[-1]) == ["answer 1", "reviewer: approved"]
        assert contents(out["messages"]) == ["answer 1", "reviewer: approved", "answer 2"]


# -- the saver's constructors --------------------------------------------------------------------


def test_the_one_line_switch(conn_string: str) -> None:
    graph = chat_graph(TractSaver(conn_string))  # the one line: a path or a URL
    graph.invoke(ask("hi", "q0"), thread("one"))
    saver = graph.checkpointer
    assert contents(saver.tract("one").compile().to_langchain()) == ["hi", "answer 1"]
    assert saver.store.engine.pool.checkedin() > 0
    saver.close()  # the saver closes the store it opened: no pooled connection is left
    assert saver.store.engine.pool.checkedin() == 0
    with TractSaver(conn_string) as reopened:
        assert contents(chat_graph(reopened).get_state(thread("one")).values["messages"]) == ["hi", "answer 1"]


def test_a_store_passed_in_is_left_open_and_bad_input_is_refused(tmp_path: Path) -> None:
    store = SqlStore(path=tmp_path / "shared.db")
    with TractSaver(store) as saver:
        chat_graph(saver).invoke(ask("hi", "q0"), thread("t"))
    assert store.engine.pool.checkedin() > 0  # left open for its owner
    assert Tract.open(store=store, tract_id="t").compile().messages[0]["content"] == "hi"
    store.close()
    for bad in (None, "", "   ", 42, b"agent.db"):
        with pytest.raises(InvalidInputError, match="SQLite path, a database URL"):
            TractSaver(bad)  # type: ignore[arg-type]


async def test_async_tract_saver_is_the_same_saver(tmp_path: Path) -> None:
    assert issubclass(AsyncTractSaver, TractSaver)
    async with AsyncTractSaver.from_conn_string(str(tmp_path / "a.db")) as saver:
        assert isinstance(saver, AsyncTractSaver)
        await chat_graph(saver).ainvoke(ask("hi", "q0"), thread("t"))
    async with AsyncTractSaver(str(tmp_path / "a.db")) as saver:
        assert contents((await chat_graph(saver).aget_state(thread("t"))).values["messages"]) == ["hi", "answer 1"]


# -- fork branches -------------------------------------------------------------------------------


def _fork_twice(saver: TractSaver) -> None:
    graph, config = chat_graph(saver), thread("fork")
    for i in range(4):
        graph.invoke(ask(f"question {i}", f"q{i}"), config)
    past = next(s for s in graph.get_state_history(config) if s.metadata["step"] == 4)
    for text in ("edited once", "edited twice"):
        forked = graph.update_state(past.config, {"messages": [AIMessage(text, id=past.values["messages"][-1].id)]})
        graph.invoke(ask(f"after {text}", f"after-{text}"), forked)


def test_fork_branches_have_readable_deterministic_names(tmp_path: Path) -> None:
    found = []
    for name in ("a.db", "b.db"):
        with TractSaver(str(tmp_path / name)) as saver:
            _fork_twice(saver)
            found.append({b.name: b.commit for b in saver.tract("fork").list_branches()})
        SEEN.clear()
    assert sorted(found[0]) == ["lg/step-4", "lg/step-4-2", "main"]
    assert found[0] == found[1]  # same history, same names and commits

    # a database whose fork branches have the old names keeps them, and no line is kept twice
    with TractSaver(str(tmp_path / "old.db")) as saver:
        graph, config = chat_graph(saver), thread("fork")
        for i in range(4):
            graph.invoke(ask(f"question {i}", f"q{i}"), config)
        tract = saver.tract("fork")
        old_name = "lg/1f0a1b2c-3d4e-6f70-8000-000000000001-" + tract.head[:12]
        tract.branch(old_name, tract.head)
        past = next(s for s in graph.get_state_history(config) if s.metadata["step"] == 4)
        forked = graph.update_state(past.config, {"messages": [AIMessage("edited", id=past.values["messages"][-1].id)]})
        graph.invoke(ask("after", "after"), forked)
        assert sorted(b.name for b in tract.list_branches()) == sorted([old_name, "main"])
