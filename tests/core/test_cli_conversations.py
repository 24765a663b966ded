"""Conversation names: ``tract --thread``, ``--session`` and ``--chat`` open the tract a framework's
conversation is stored in, by the name its user knows, through the one mapping of
:mod:`tract_core.names` that the adapters use too.

Each conversation is written by the real adapter (a LangGraph graph on ``TractSaver``, LangChain's
chat history, LlamaIndex's ``TractMemory`` and ``Memory`` on ``TractChatStore``), then read back
with the command line, in process (``main()``) and as a real process.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.memory import Memory

import tract_core.names as names
import tract_langchain
import tract_llamaindex
from tract_core import InvalidInputError, Tract
from tract_core.testing import create_database
from tract_core.testing.cli import run_cli as run
from tract_langchain import TractChatMessageHistory, TractSaver
from tract_llamaindex import TractChatStore, TractMemory

pytestmark = pytest.mark.filterwarnings("ignore::tract_core.TokenizerFallbackWarning")


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("TRACT_DB", raising=False)


def compiled(capsys: pytest.CaptureFixture[str], db: str, *naming: str) -> list[str]:
    code, out, err = run(capsys, "--db", db, *naming, "compile", "--json")
    assert code == 0, err
    return [m["content"] for m in json.loads(out)["messages"]]


def assert_one_line_error(code: int, out: str, err: str, *expected: str) -> None:
    assert code == 2
    assert out == ""
    assert err.startswith("tract: error: ") and err.count("\n") == 1, err
    for text in expected:
        assert text in err


class State(TypedDict):
    messages: Annotated[list, add_messages]


def _reply(state: State) -> dict[str, Any]:
    return {"messages": [AIMessage(f"reply to {state['messages'][-1].content}")]}


def chat_graph(saver: TractSaver) -> Any:
    builder = StateGraph(State)
    builder.add_node("chat", _reply)
    builder.add_edge(START, "chat")
    builder.add_edge("chat", END)
    return builder.compile(checkpointer=saver)


def put_in_namespace(saver: TractSaver, thread_id: str, checkpoint_ns: str, messages: list[Any]) -> None:
    """A checkpoint of a subgraph (its messages live in the namespace's own tract)."""
    checkpoint = empty_checkpoint()
    version = saver.get_next_version(None, None)
    checkpoint["channel_values"] = {"messages": messages}
    checkpoint["channel_versions"] = {"messages": version}
    cfg = {"configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns}}
    saver.put(cfg, checkpoint, {"source": "input", "step": -1}, {"messages": version})


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "agent.db")
    return create_database(request.getfixturevalue("postgres_server"))


def location(db: str) -> dict[str, str]:
    return {"url": db} if db.startswith("postgresql") else {"path": db}


# -- one mapping ----------------------------------------------------------------------------------


def test_each_adapter_exposes_the_cores_mapping() -> None:
    assert tract_langchain.thread_tract_id is names.thread_tract_id
    assert tract_langchain.session_tract_id is names.session_tract_id
    assert tract_llamaindex.session_tract_id is names.session_tract_id
    assert tract_llamaindex.chat_tract_id is names.chat_tract_id
    assert names.thread_tract_id("support-42") == "support-42"
    assert names.thread_tract_id("support-42", "tools:1f2e") == "support-42|tools:1f2e"
    assert names.thread_tract_id("a|b") == "|a%7Cb|"
    assert names.thread_tract_id(42) == "42"
    assert names.session_tract_id("user-7") == "user-7"
    assert names.chat_tract_id("user-7") == "chat/user-7"
    assert names.chat_tract_id("user-7", prefix=names.ARCHIVED_CHAT_PREFIX) == "chat-archived/user-7"
    for bad in ("", "   ", None, "x" * 256, "nul\x00"):
        with pytest.raises(InvalidInputError):
            names.session_tract_id(bad)
    for bad_key in ("", None, 7, "k" * 251):
        with pytest.raises(InvalidInputError):
            names.chat_tract_id(bad_key)
    with pytest.raises(InvalidInputError, match="thread_id"):
        names.thread_tract_id("  ")


# -- the command line opens each framework's conversation ------------------------------------------


def test_thread_opens_a_langgraph_thread_and_its_subgraph_namespace(db: str, capsys) -> None:
    with TractSaver.from_conn_string(db) as saver:
        graph = chat_graph(saver)
        for thread_id in ("support-42", "a|b"):
            graph.invoke(
                {"messages": [HumanMessage(f"hello from {thread_id}")]}, {"configurable": {"thread_id": thread_id}}
            )
        put_in_namespace(saver, "support-42", "tools:1f2e", [HumanMessage("inside the subgraph", id="s1")])
        for thread_id, ns in (("support-42", ""), ("a|b", ""), ("support-42", "tools:1f2e")):
            assert saver.tract(thread_id, ns).tract_id == names.thread_tract_id(thread_id, ns)
        expected = saver.tract("support-42").compile().digest

    assert compiled(capsys, db, "--thread", "support-42") == ["hello from support-42", "reply to hello from support-42"]
    assert compiled(capsys, db, "--thread", "a|b") == ["hello from a|b", "reply to hello from a|b"]
    assert compiled(capsys, db, "--thread", "support-42", "--ns", "tools:1f2e") == ["inside the subgraph"]
    code, out, _ = run(capsys, "compile", "--json", "--thread", "support-42", "--db", db)  # after the command too
    assert code == 0 and json.loads(out)["digest"] == expected
    code, out, _ = run(capsys, "--db", db, "log", "--thread", "support-42")
    assert code == 0 and "reply to hello from support-42" in out
    assert_one_line_error(*run(capsys, "--db", db, "--thread", "nobody", "log"), "'nobody'", "support-42")


def test_session_opens_a_langchain_chat_history_and_a_llamaindex_memory(db: str, capsys) -> None:
    history = TractChatMessageHistory("user-7", **location(db))
    history.add_messages([HumanMessage("Hi, I'm Ada."), AIMessage("Hello Ada!")])
    history.close()
    memory = TractMemory.from_defaults(session_id="li-session", **location(db))
    memory.put_messages([ChatMessage(role="user", content="Hi from LlamaIndex.")])
    assert memory.tract.tract_id == names.session_tract_id("li-session")
    memory.close()

    assert compiled(capsys, db, "--session", "user-7") == ["Hi, I'm Ada.", "Hello Ada!"]
    assert compiled(capsys, db, "--session", "li-session") == ["Hi from LlamaIndex."]
    code, out, _ = run(capsys, "--db", db, "--session", "user-7", "status")
    assert code == 0 and "user-7" in out


def test_chat_opens_a_llamaindex_chat_store_key(db: str, capsys) -> None:
    store = TractChatStore(**location(db))
    memory = Memory.from_defaults(session_id="bob", chat_store=store)

    async def talk() -> None:
        await memory.aput_messages(
            [
                ChatMessage(role="user", content="Where is my order?"),
                ChatMessage(role="assistant", content="On its way."),
            ]
        )

    asyncio.run(talk())
    assert store.tract("bob").tract_id == names.chat_tract_id("bob")
    expected = store.tract("bob").compile().digest

    assert compiled(capsys, db, "--chat", "bob") == ["Where is my order?", "On its way."]
    code, out, _ = run(capsys, "--db", db, "--chat", "bob", "compile", "--json")
    assert code == 0 and json.loads(out)["digest"] == expected
    # the key is the chat store's, not a tract id: --tract bob finds nothing, --tract chat/bob does
    assert_one_line_error(*run(capsys, "--db", db, "--tract", "bob", "log"), "'bob'", "chat/bob")
    assert compiled(capsys, db, "--tract", "chat/bob") == ["Where is my order?", "On its way."]


# -- usage ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--tract", "t", "--thread", "t", "log"], "pass one of --tract, --thread"),
        (["--session", "s", "log", "--chat", "c"], "pass one of --session, --chat"),
        (["--ns", "tools:1", "log"], "--ns"),
        (["--session", "s", "--ns", "tools:1", "log"], "use it with --thread"),
        (["--thread", "   ", "log"], "thread_id must not be empty"),
        (["--session", "x" * 300, "log"], "session_id is the tract_id"),
        (["--chat", "", "log"], "a chat store key is a non-empty string"),
    ],
)
def test_naming_options_refuse_clearly(tmp_path, capsys, argv, expected) -> None:
    path = tmp_path / "agent.db"
    Tract.open(path=path).close()
    assert_one_line_error(*run(capsys, "--db", path, *argv), expected)


def test_demo_and_the_console_script_accept_a_thread(tmp_path, capsys) -> None:
    path = tmp_path / "demo.db"
    code, _, err = run(capsys, "--db", path, "--thread", "support-42", "demo")
    assert code == 0, err
    assert Tract.open(path=path, tract_id="support-42", create=False).status().commit_count > 0
    command = [sys.executable, "-m", "tract_core", "--db", str(path), "--thread", "support-42", "status"]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "support-42" in done.stdout
