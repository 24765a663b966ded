"""Finding a conversation: ``tract list`` names every tract of a database by the name its framework
knows it by, with the options that open it; without ``--tract``, a database's only tract is opened;
``tract log REF`` lists any commit's history.

The conversations are written by the real adapters (a LangGraph graph on ``TractSaver``, LangChain's
chat history, LlamaIndex's ``TractMemory`` and ``Memory`` on ``TractChatStore``).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.memory import Memory

from tract_core import Tract
from tract_core.names import hashed_tract_id
from tract_core.testing.cli import run_cli as run
from tract_langchain import TractChatMessageHistory, TractSaver
from tract_llamaindex import TractChatStore, TractMemory

pytestmark = pytest.mark.filterwarnings("ignore::tract_core.TokenizerFallbackWarning")

LONG_THREAD = "t" * 300
"""A thread id too long for a tract id: its tract's id is hashed."""


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("TRACT_DB", raising=False)


class State(TypedDict):
    messages: Annotated[list, add_messages]


def _reply(state: State) -> dict[str, Any]:
    return {"messages": [AIMessage(f"reply to {state['messages'][-1].content}")]}


def _graph(saver: TractSaver) -> Any:
    builder = StateGraph(State)
    builder.add_node("chat", _reply)
    builder.add_edge(START, "chat")
    builder.add_edge("chat", END)
    return builder.compile(checkpointer=saver)


def _talk(saver: TractSaver, thread_id: str, text: str) -> None:
    _graph(saver).invoke({"messages": [HumanMessage(text)]}, {"configurable": {"thread_id": thread_id}})


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database holding a conversation of every kind (and a plain tract)."""
    path = tmp_path_factory.mktemp("agents") / "agents.db"
    with TractSaver.from_conn_string(str(path)) as saver:
        _talk(saver, "support-42", "hello from support-42")
        _talk(saver, "support-42", "and again")
        _talk(saver, "a|b", "hello from a|b")
        _talk(saver, LONG_THREAD, "hello from a long thread")
    history = TractChatMessageHistory("user-7", path=path)
    history.add_messages([HumanMessage("Hi, I'm Ada."), AIMessage("Hello Ada!")])
    history.close()
    memory = TractMemory.from_defaults(session_id="li-session", path=path)
    memory.put_messages([ChatMessage(role="user", content="Hi from LlamaIndex.")])
    memory.close()
    store = TractChatStore(path=path)
    chat = Memory.from_defaults(session_id="bob", chat_store=store)
    asyncio.run(chat.aput_messages([ChatMessage(role="user", content="Where is my order?")]))
    with Tract.open(path=path, tract_id="notes") as t:
        t.system("Plain notes.")
        t.user("first note")
        t.branch("drafts")
    return path


def test_list_names_each_conversation_and_the_options_that_open_it(agents, capsys):
    code, out, err = run(capsys, "--db", agents, "list", "--json")
    assert (code, err) == (0, "")
    entries = {entry["tract"]: entry for entry in json.loads(out)}
    long_id = hashed_tract_id(LONG_THREAD)
    expected = {
        "support-42": ("langgraph-thread", "support-42", ["--thread", "support-42"], 4),
        "|a%7Cb|": ("langgraph-thread", "a|b", ["--thread", "a|b"], 2),
        long_id: ("langgraph-thread", LONG_THREAD, ["--thread", LONG_THREAD], 2),
        "user-7": ("langchain-session", "user-7", ["--session", "user-7"], 2),
        # plain LlamaIndex messages carry no metadata: the session reads as a plain tract (same id)
        "li-session": ("tract", "li-session", ["--tract", "li-session"], 1),
        "chat/bob": ("llamaindex-chat", "bob", ["--chat", "bob"], 1),
        "notes": ("tract", "notes", ["--tract", "notes"], 2),
    }
    assert set(entries) == set(expected)
    for tract_id, (kind, name, select, messages) in expected.items():
        entry = entries[tract_id]
        assert (entry["kind"], entry["name"], entry["select"], entry["messages"]) == (kind, name, select, messages)
        assert entry["namespace"] is None and entry["branch"] == "main" and len(entry["head"]) == 64
        assert isinstance(entry["last_activity"], float)
    assert entries["notes"]["branches"] == 2 and entries["user-7"]["branches"] == 1
    times = [entry["last_activity"] for entry in json.loads(out)]
    assert times == sorted(times, reverse=True) and json.loads(out)[0]["tract"] == "notes"  # newest first

    for entry in entries.values():  # the options it gives open that very tract
        code, out, err = run(capsys, "--db", agents, *entry["select"], "compile", "--json")
        assert code == 0, err
        assert json.loads(out)["head"] == entry["head"]


def test_list_as_a_table(agents, capsys):
    code, out, _ = run(capsys, "--db", agents, "list")
    assert code == 0
    lines = out.splitlines()
    row = next(line for line in lines if "support-42" in line)
    assert row.split()[:4] == ["LangGraph", "thread", "support-42", "4"] and "--thread support-42" in row
    assert any(line.split()[:3] == ["LlamaIndex", "chat", "bob"] and "--chat bob" in line for line in lines)
    assert any(line.split()[:3] == ["LangChain", "session", "user-7"] for line in lines)
    assert "7 tracts" in out and f"tract --db {agents} --tract notes log" in out


def test_list_reads_threads_from_the_tract_ids_alone():
    """Without the saver's table, the naming of tract_core.names still tells threads and chats apart."""
    from tract_core.cli.listing import describe

    assert describe("support-42|tools:1", {}, set())[:3] == ("langgraph-thread", "support-42", "tools:1")
    assert describe("support-42|tools:1", {}, set())[3] == ["--thread", "support-42", "--ns", "tools:1"]
    assert describe("|a%7Cb%25|ns", {}, set())[:3] == ("langgraph-thread", "a|b%", "ns")
    assert describe(hashed_tract_id("x" * 300), {}, set())[:2] == ("langgraph-thread", None)
    assert describe("chat-archived/bob", {}, set())[:2] == ("llamaindex-chat-archived", "bob")
    assert describe("plain", {}, {"langchain"})[0] == "langchain-session"
    assert describe("plain", {}, {"llamaindex"})[:2] == ("llamaindex-session", "plain")
    assert describe("plain", {}, set())[0] == "tract"


def test_list_of_an_empty_or_missing_database(tmp_path, capsys):
    from tract_core import storage

    storage.open_store(str(tmp_path / "empty.db")).close()
    code, out, _ = run(capsys, "--db", tmp_path / "empty.db", "list")
    assert code == 0 and "holds no tracts yet" in out
    assert run(capsys, "--db", tmp_path / "empty.db", "list", "--json")[1] == "[]\n"
    code, out, err = run(capsys, "--db", tmp_path / "missing.db", "list")
    assert code == 2 and out == "" and "missing.db" in err
    assert not (tmp_path / "missing.db").exists()


def test_without_a_tract_name_the_only_tract_is_opened(tmp_path, capsys):
    path = tmp_path / "one-thread.db"
    with TractSaver.from_conn_string(str(path)) as saver:
        _talk(saver, "support-42", "hello")
    code, out, err = run(capsys, "--db", path, "compile", "--json")
    assert code == 0, err
    assert [m["content"] for m in json.loads(out)["messages"]] == ["hello", "reply to hello"]
    code, out, _ = run(capsys, "--db", path, "status")
    assert code == 0 and "support-42" in out


def test_without_a_tract_name_several_tracts_are_listed_in_the_error(agents, capsys):
    code, out, err = run(capsys, "--db", agents, "log")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "has no 'default' tract but 7 others" in err
    assert "'support-42'" in err and "'chat/bob'" in err and "`tract list`" in err and "--thread ID" in err
    code, _, err = run(capsys, "--db", agents, "--tract", "nobody", "log")  # a name given: no guessing
    assert code == 2 and "no tract 'nobody'" in err


def test_log_lists_the_history_of_any_commit(tmp_path, capsys):
    path = tmp_path / "log.db"
    with Tract.open(path=path) as t:
        first = t.system("You are terse.").hash
        second = t.user("question one").hash
        t.branch("side", switch=True)
        side = t.user("a side question").hash
        t.switch("main")
        third = t.user("question two").hash

    def hashes(*argv: str) -> list[str]:
        code, out, err = run(capsys, "--db", path, "log", *argv)
        assert code == 0, err
        return [word for word in out.split() if len(word) == 12 and word in {h[:12] for h in hashes_all}]

    hashes_all = [first, second, side, third]
    assert hashes() == [third[:12], second[:12], first[:12]]
    assert hashes("side") == [side[:12], second[:12], first[:12]]
    assert hashes(side[:8]) == [side[:12], second[:12], first[:12]]
    assert hashes("HEAD~1") == [second[:12], first[:12]]
    assert hashes("side~1", "--limit", "1") == [second[:12]]
    code, out, _ = run(capsys, "--db", path, "log", "--graph", "side")
    assert [line.split()[1] for line in out.splitlines()] == [side[:12], second[:12], first[:12]]
    code, _, err = run(capsys, "--db", path, "log", "nosuchref")
    assert code == 2 and "'nosuchref'" in err
    code, _, err = run(capsys, "--db", path, "log", "--graph", "--all", "side")
    assert code == 2 and "--all" in err


def test_list_on_postgresql(postgres_server, capsys):
    from tract_core.testing import create_database

    url = create_database(postgres_server)
    with TractSaver.from_conn_string(url) as saver:
        _talk(saver, "support-42", "hello from postgres")
    history = TractChatMessageHistory("user-7", url=url)
    history.add_messages([HumanMessage("Hi, I'm Ada.")])
    history.close()
    code, out, err = run(capsys, "--db", url, "list", "--json")
    assert code == 0, err
    found = {entry["tract"]: (entry["kind"], entry["select"], entry["messages"]) for entry in json.loads(out)}
    assert found == {
        "support-42": ("langgraph-thread", ["--thread", "support-42"], 2),
        "user-7": ("langchain-session", ["--session", "user-7"], 1),
    }
