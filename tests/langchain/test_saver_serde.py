"""What the saver's serializer decides: which stored types may be rebuilt, and encryption at rest.

* By default the saver deserialises strictly (LangGraph's allowlisted msgpack mode): a stored row
  rewritten to rebuild an arbitrary callable is not executed on read. A user's own state types
  round-trip once allowed (``JsonPlusSerializer(allowed_msgpack_modules=[...])`` or
  ``saver.with_allowlist([...])``).
* With LangGraph's ``EncryptedSerializer`` every message is stored encrypted too: its text is
  nowhere in the database, ids stay reproducible (hashed over the plaintext), a saver with the key
  reads everything back, and one without it gets a clear error.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any, TypedDict

import ormsgpack
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage, message_to_dict
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import interrupt
from pydantic import BaseModel
from sqlalchemy import text

from tract_core import InvalidInputError
from tract_core.testing import create_database
from tract_langchain import TractSaver


@pytest.fixture(params=["sqlite", "postgres"])
def conn_string(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "serde.db")
    return create_database(request.getfixturevalue("postgres_server"))


def execute(saver: TractSaver, sql: str, **params: Any) -> list[Any]:
    with saver.store.write() as session:
        result = session.conn.execute(text(sql), params)
        return list(result) if result.returns_rows else []


# -- item 7: strict deserialisation by default ---------------------------------------------------------


class Profile(BaseModel):
    name: str
    tags: list[str]


@dataclasses.dataclass
class Point:
    x: int
    y: int


class RichState(TypedDict):
    messages: Annotated[list, add_messages]
    profile: Profile
    point: Point
    notes: str


def _remember(state: RichState) -> dict[str, Any]:
    n = len(state["messages"])
    return {
        "messages": [AIMessage(f"noted {state['profile'].name} at {state['point'].x}", id=f"ai-{n}")],
        "notes": f"turn {n}",
        "point": Point(state["point"].x + 1, state["point"].y),
    }


def rich_graph(checkpointer: Any) -> Any:
    builder = StateGraph(RichState)
    builder.add_node("remember", _remember)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", END)
    return builder.compile(checkpointer=checkpointer)


def _os_system_payload(marker: Path) -> bytes:
    """msgpack that the permissive deserialiser turns into ``os.system("touch <marker>")``."""
    return ormsgpack.packb(ormsgpack.Ext(0, ormsgpack.packb(["os", "system", f"touch {marker}"])))


def _json_constructor_payload(marker: Path) -> bytes:
    return json.dumps({"lc": 2, "type": "constructor", "id": ["os", "system"], "args": [f"touch {marker}"]}).encode()


def test_a_rewritten_row_does_not_run_code_on_read(conn_string: str, tmp_path: Path) -> None:
    config = {"configurable": {"thread_id": "t"}}
    with TractSaver.from_conn_string(conn_string) as saver:
        graph = rich_graph(saver)
        start = {
            "messages": [HumanMessage("hi", id="h1")],
            "profile": Profile(name="ann", tags=[]),
            "point": Point(1, 2),
        }
        graph.invoke(start, config)
        saver.put_writes(saver.get_tuple(config).config, [("notes", "pending")], "task-1")
        # an attacker with write access to the database rewrites every serialized value and write
        msgpack_marker, json_marker = tmp_path / "msgpack-ran", tmp_path / "json-ran"
        payload = _os_system_payload(msgpack_marker)
        execute(saver, "UPDATE tract_lg_values SET type = 'msgpack', data = :data", data=payload)
        execute(saver, "UPDATE tract_lg_writes SET type = 'msgpack', data = :data", data=payload)
        execute(saver, "UPDATE tract_lg_checkpoints SET metadata_type = 'msgpack', metadata_blob = :data", data=payload)
    for rewritten in ("msgpack", "json"):
        if rewritten == "json":
            with TractSaver.from_conn_string(conn_string) as saver:
                execute(
                    saver,
                    "UPDATE tract_lg_values SET type = 'json', data = :data",
                    data=_json_constructor_payload(json_marker),
                )
        with TractSaver.from_conn_string(conn_string) as fresh:
            found = fresh.get_tuple(config)
            listed = list(fresh.list(config))
            assert found is not None and len(listed) >= 2
            assert [m.content for m in found.checkpoint["channel_values"]["messages"]] == ["hi", "noted ann at 1"]
    assert not msgpack_marker.exists() and not json_marker.exists()


def test_langchain_messages_round_trip_with_the_strict_default(conn_string: str) -> None:
    config = {"configurable": {"thread_id": "m"}}

    class Chat(TypedDict):
        messages: Annotated[list, add_messages]
        last: Any

    def ask(state: Chat) -> dict[str, Any]:
        answer = interrupt({"question": "ok?", "last": state["messages"][-1]})
        return {
            "messages": [ToolMessage(f"tool says {answer}", tool_call_id="c1", id="tm")],
            "last": AIMessage("x", id="ax"),
        }

    builder = StateGraph(Chat)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    with TractSaver.from_conn_string(conn_string) as saver:
        graph = builder.compile(checkpointer=saver)
        call = {"id": "c1", "name": "f", "args": {"a": 1}, "type": "tool_call"}
        graph.invoke({"messages": [HumanMessage("q", id="h"), AIMessage("", id="a", tool_calls=[call])]}, config)
    with TractSaver.from_conn_string(conn_string) as fresh:
        graph = builder.compile(checkpointer=fresh)
        pending = graph.get_state(config).interrupts[0].value
        assert isinstance(pending["last"], AIMessage) and pending["last"].tool_calls[0]["args"] == {"a": 1}
        from langgraph.types import Command

        out = graph.invoke(Command(resume="yes"), config)
        assert [type(m).__name__ for m in out["messages"]] == ["HumanMessage", "AIMessage", "ToolMessage"]
        assert isinstance(out["last"], AIMessage)


def test_a_users_own_types_round_trip_once_allowed(conn_string: str) -> None:
    config = {"configurable": {"thread_id": "u"}}
    start = {
        "messages": [HumanMessage("hi", id="h1")],
        "profile": Profile(name="ann", tags=["a"]),
        "point": Point(1, 2),
    }
    allowed = JsonPlusSerializer(allowed_msgpack_modules=[Profile, Point])
    with TractSaver.from_conn_string(conn_string, serde=allowed) as saver:
        rich_graph(saver).invoke(start, config)
    with TractSaver.from_conn_string(
        conn_string, serde=JsonPlusSerializer(allowed_msgpack_modules=[Profile, Point])
    ) as fresh:
        values = rich_graph(fresh).get_state(config).values
        assert values["profile"] == Profile(name="ann", tags=["a"]) and values["point"] == Point(2, 2)
    with TractSaver.from_conn_string(conn_string) as fresh:
        allowing = fresh.with_allowlist([(Profile.__module__, "Profile"), (Point.__module__, "Point")])
        values = rich_graph(allowing).get_state(config).values
        assert values["profile"] == Profile(name="ann", tags=["a"]) and values["point"] == Point(2, 2)
        # not allowed: the stored fields come back as plain data, nothing is imported or called
        plain = rich_graph(fresh).get_state(config).values
        assert not isinstance(plain["profile"], Profile) and plain["profile"] == {"name": "ann", "tags": ["a"]}
        assert [m.content for m in plain["messages"]] == ["hi", "noted ann at 1"]


# -- item 8: encryption at rest ---------------------------------------------------------------------------

SECRET = "Project-Nightingale-7731"


def _aes(key: bytes = b"0123456789abcdef") -> EncryptedSerializer:
    return EncryptedSerializer.from_pycryptodome_aes(key=key)


class ToolState(TypedDict):
    messages: Annotated[list, add_messages]


def _agent(state: ToolState) -> dict[str, Any]:
    n = len(state["messages"])
    last = state["messages"][-1]
    if isinstance(last, HumanMessage):
        call = {"id": f"call-{n}", "name": "lookup", "args": {"code": SECRET + "-arg"}, "type": "tool_call"}
        return {"messages": [AIMessage("", id=f"ai-{n}", tool_calls=[call], additional_kwargs={"k": SECRET + "-kw"})]}
    return {"messages": [AIMessage(f"The answer is {last.content}", id=f"ai-{n}")]}


def _tool(state: ToolState) -> dict[str, Any]:
    call = state["messages"][-1].tool_calls[0]
    return {
        "messages": [
            ToolMessage(f"{SECRET}-result for {call['args']['code']}", tool_call_id=call["id"], id=f"t-{call['id']}")
        ]
    }


def tool_graph(checkpointer: Any) -> Any:
    builder = StateGraph(ToolState)
    builder.add_node("agent", _agent)
    builder.add_node("tool", _tool)
    builder.add_node("final", _agent)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "tool")
    builder.add_edge("tool", "final")
    builder.add_edge("final", END)
    return builder.compile(checkpointer=checkpointer)


def _stored_text(conn_string: str, tmp_path: Path) -> bytes:
    """Everything the database holds, as bytes: the SQLite files, or every PostgreSQL row as text."""
    if "://" not in conn_string:
        return b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(Path(conn_string).name))
    with TractSaver.from_conn_string(conn_string) as saver, saver.store.read() as session:
        tables = session.conn.execute(
            text("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        ).scalars()
        rows = [session.conn.execute(text(f'SELECT t::text FROM "{table}" t')).scalars().all() for table in tables]
        return "\n".join(row for table in rows for row in table).encode()


def _run_secret_thread(saver: TractSaver, thread_id: str) -> list[dict[str, Any]]:
    graph = tool_graph(saver)
    out = graph.invoke(
        {"messages": [HumanMessage(f"Tell me about {SECRET}", id="h-1")]}, {"configurable": {"thread_id": thread_id}}
    )
    return [message_to_dict(m) for m in out["messages"]]


def test_encrypted_serde_keeps_message_text_off_the_disk(conn_string: str, tmp_path: Path) -> None:
    config = {"configurable": {"thread_id": "secret"}}
    with TractSaver.from_conn_string(conn_string, serde=_aes()) as saver:
        expected = _run_secret_thread(saver, "secret")
        assert SECRET in json.dumps(expected)
        latest = saver.checkpoint_commit(config)
    stored = _stored_text(conn_string, tmp_path)
    assert stored  # the database was read
    for needle in (SECRET, SECRET.encode().hex()):
        assert needle.encode() not in stored, f"{needle} found in the database"

    with TractSaver.from_conn_string(conn_string, serde=_aes()) as reopened:
        with pytest.raises(InvalidInputError, match="encrypt"):
            reopened.tract("secret")  # tract's API would only see placeholders: refused, clearly
        state = tool_graph(reopened).get_state(config)
        assert [message_to_dict(m) for m in state.values["messages"]] == expected
        assert reopened.checkpoint_commit(config) == latest
        for snapshot in tool_graph(reopened).get_state_history(config):  # every checkpoint decrypts
            messages = [message_to_dict(m) for m in snapshot.values.get("messages", [])]
            assert messages == expected[: len(messages)]
        # the thread continues, still encrypted
        tool_graph(reopened).invoke({"messages": [HumanMessage("and more", id="h-2")]}, config)
        assert len(tool_graph(reopened).get_state(config).values["messages"]) == 8
    for wrong in (None, _aes(b"fedcba9876543210")):
        with TractSaver.from_conn_string(conn_string, serde=wrong) as other:
            with pytest.raises(InvalidInputError, match="serde"):
                other.get_tuple(config)
            with pytest.raises(InvalidInputError, match="serde"):
                tool_graph(other).get_state(config)


def test_encrypted_ids_are_reproducible(tmp_path: Path) -> None:
    """Commit ids are hashed over the plaintext, not the ciphertext: the same history gives the same
    ids in any database, with any key."""
    commits = []
    for name, serde in (("a.db", _aes()), ("b.db", _aes(b"another key 16by"))):
        with TractSaver.from_conn_string(str(tmp_path / name), serde=serde) as saver:
            _run_secret_thread(saver, "t")
            history = tool_graph(saver).get_state_history({"configurable": {"thread_id": "t"}})
            commits.append([saver.checkpoint_commit(s.config) for s in history])
    assert commits[0] == commits[1] and len(set(commits[0]) - {None}) == 4


def test_an_encrypting_saver_deletes_and_copies_threads(conn_string: str, tmp_path: Path) -> None:
    with TractSaver.from_conn_string(conn_string, serde=_aes()) as saver:
        expected = _run_secret_thread(saver, "one")
        _run_secret_thread(saver, "two")
        saver.copy_thread("one", "three")
        saver.delete_thread("one")
        assert saver.get_tuple({"configurable": {"thread_id": "one"}}) is None
        for thread_id in ("two", "three"):
            state = tool_graph(saver).get_state({"configurable": {"thread_id": thread_id}})
            assert [message_to_dict(m) for m in state.values["messages"]] == expected
        saver.delete_thread("two")
        saver.delete_thread("three")
        for table in ("tract_blobs", "tract_commits", "tract_lg_values"):
            assert execute(saver, f"SELECT count(*) FROM {table}")[0][0] == 0, table
    stored = _stored_text(conn_string, tmp_path)
    assert SECRET.encode() not in stored
