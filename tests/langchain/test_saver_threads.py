"""Thread ids and checkpoint namespaces: one tract per (thread, namespace), and clear errors for bad ids.

The mapping onto tract ids is injective (thread ``"a|b"`` and thread ``"a"`` in namespace ``"b"``
are different tracts), keeps every id an existing database used (a thread id without ``|`` is its
own tract id; a subgraph namespace is ``"<thread>|<ns>"``), and gives long thread ids a short tract
id. Ids the saver cannot store raise :class:`~tract_core.errors.InvalidInputError` from every
method, sync and async, before anything is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from sqlalchemy import text

from tract_core import InvalidInputError, Tract, TractNotFoundError
from tract_core.testing import create_database
from tract_langchain import TractSaver
from tract_langchain.checkpoint import saver as saver_module
from tract_langchain.checkpoint import tract_id_for


class State(TypedDict):
    messages: Annotated[list, add_messages]


def _reply(state: State) -> dict[str, Any]:
    n = len(state["messages"])
    return {"messages": [AIMessage(f"reply to {state['messages'][-1].content}", id=f"ai-{n}")]}


def chat_graph(checkpointer: Any) -> Any:
    builder = StateGraph(State)
    builder.add_node("chat", _reply)
    builder.add_edge(START, "chat")
    builder.add_edge("chat", END)
    return builder.compile(checkpointer=checkpointer)


def config(thread_id: Any, checkpoint_ns: Any = "", **extra: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, **extra}}


def put(saver: TractSaver, thread_id: Any, checkpoint_ns: Any, messages: list[Any]) -> Any:
    checkpoint = empty_checkpoint()
    version = saver.get_next_version(None, None)
    checkpoint["channel_values"] = {"messages": messages}
    checkpoint["channel_versions"] = {"messages": version}
    return saver.put(
        config(thread_id, checkpoint_ns), checkpoint, {"source": "input", "step": -1}, {"messages": version}
    )


def contents(saver: TractSaver, cfg: dict[str, Any]) -> list[str]:
    found = saver.get_tuple(cfg)
    return [] if found is None else [m.content for m in found.checkpoint["channel_values"]["messages"]]


@pytest.fixture(params=["sqlite", "postgres"])
def conn_string(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "threads.db")
    return create_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def saver(conn_string: str) -> Iterator[TractSaver]:
    with TractSaver.from_conn_string(conn_string) as opened:
        yield opened


def tract_ids(saver: TractSaver) -> list[str]:
    with saver.store.read() as session:
        return sorted(session.conn.execute(text("SELECT tract_id FROM tract_tracts")).scalars())


# -- item 4: an injective mapping ----------------------------------------------------------------


def test_a_thread_with_the_separator_and_a_subgraph_namespace_are_different_tracts(saver: TractSaver) -> None:
    put(saver, "a|b", "", [HumanMessage("root thread a|b", id="1")])
    put(saver, "a", "b", [HumanMessage("thread a, namespace b", id="2")])
    put(saver, "a", "", [HumanMessage("root thread a", id="3")])
    assert len(set(tract_ids(saver))) == 3
    assert [m["content"] for m in saver.tract("a|b").compile().messages] == ["root thread a|b"]
    assert [m["content"] for m in saver.tract("a", "b").compile().messages] == ["thread a, namespace b"]

    saver.delete_thread("a|b")
    assert contents(saver, config("a|b")) == []
    assert contents(saver, config("a", "b")) == ["thread a, namespace b"]
    assert contents(saver, config("a")) == ["root thread a"]
    assert [m["content"] for m in saver.tract("a", "b").compile().messages] == ["thread a, namespace b"]
    with pytest.raises(TractNotFoundError):
        saver.tract("a|b")

    saver.delete_thread("a")
    assert contents(saver, config("a", "b")) == [] and tract_ids(saver) == []


def test_the_mapping_is_injective_and_keeps_the_ids_existing_databases_use() -> None:
    assert tract_id_for("support-42") == "support-42"  # a root thread is its own tract, as before
    assert tract_id_for("t", "research:1f2e") == "t|research:1f2e"  # a subgraph namespace, as before
    assert tract_id_for("t", "a:1|b:2") == "t|a:1|b:2"
    pairs = [
        ("a|b", ""),
        ("a", "b"),
        ("a", "|b"),
        ("a|", "b"),
        ("a|", ""),
        ("|a", ""),
        ("a", "b|"),
        ("a%7Cb", ""),
        ("a%", "b"),
        ("a|b", "c"),
        ("a", "b|c"),
        ("a|b|c", ""),
        ("x" * 300, ""),
        ("x" * 300, "ns"),
        ("x" * 254, "ns"),
        ("x" * 255, ""),
        ("x" * 256, ""),
        ("é" * 300, ""),
    ]
    ids = [tract_id_for(thread_id, ns) for thread_id, ns in pairs]
    assert len(set(ids)) == len(pairs), dict(zip(pairs, ids, strict=True))
    for tract_id in ids:
        assert 0 < len(tract_id) <= 255 and tract_id.strip()
    assert tract_id_for("x" * 300) == tract_id_for("x" * 300)  # stable: the same thread opens the same tract


def test_a_thread_stored_under_the_previous_mapping_still_opens_and_continues(
    conn_string: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database written before the mapping was injective: thread ``"a|b"`` lives in tract ``"a|b"``."""

    def previous(thread_id: str, checkpoint_ns: str = "") -> str:
        return thread_id if not checkpoint_ns else f"{thread_id}|{checkpoint_ns}"

    with monkeypatch.context() as patch:
        patch.setattr(saver_module, "tract_id_for", previous)
        with TractSaver.from_conn_string(conn_string) as old:
            chat_graph(old).invoke({"messages": [HumanMessage("first", id="q1")]}, config("a|b"))
            assert tract_ids(old) == ["a|b"]
    with TractSaver.from_conn_string(conn_string) as new:
        graph = chat_graph(new)
        graph.invoke({"messages": [HumanMessage("second", id="q2")]}, config("a|b"))
        expected = ["first", "reply to first", "second", "reply to second"]
        assert [m.content for m in graph.get_state(config("a|b")).values["messages"]] == expected
        assert [m["content"] for m in new.tract("a|b").compile().messages] == expected
        assert tract_ids(new) == ["a|b"]
        put(new, "a", "b", [HumanMessage("namespace b of thread a", id="3")])  # no longer the same tract
        assert [m["content"] for m in new.tract("a|b").compile().messages] == expected
        new.delete_thread("a|b")
        assert contents(new, config("a", "b")) == ["namespace b of thread a"]
        assert graph.get_state(config("a|b")).values == {}


# -- item 11: long ids work, bad ids are refused clearly --------------------------------------------


def test_long_thread_ids_and_namespaces_work_like_the_stock_savers(saver: TractSaver, conn_string: str) -> None:
    long_id = "user-" + "x" * 995  # 1000 characters
    wide_id = "ü" * 300  # 300 characters, 600 bytes
    long_ns = "outer:" + "n" * 400
    graph = chat_graph(saver)
    for thread_id in (long_id, wide_id):
        graph.invoke({"messages": [HumanMessage(f"hello {len(thread_id)}", id="q1")]}, config(thread_id))
        graph.invoke({"messages": [HumanMessage("again", id="q2")]}, config(thread_id))
        state = graph.get_state(config(thread_id))
        assert [m.content for m in state.values["messages"]][-2:] == ["again", "reply to again"]
        assert state.config["configurable"]["thread_id"] == thread_id
        assert len(list(saver.list(config(thread_id)))) == len(list(graph.get_state_history(config(thread_id))))
        tract = saver.tract(thread_id)
        assert len(tract.tract_id) <= 255
        assert [m["content"] for m in tract.compile().messages] == [m.content for m in state.values["messages"]]
    put(saver, long_id, long_ns, [HumanMessage("in a long namespace", id="n1")])
    assert contents(saver, config(long_id, long_ns)) == ["in a long namespace"]
    assert [m["content"] for m in saver.tract(long_id, long_ns).compile().messages] == ["in a long namespace"]
    assert {t.config["configurable"]["thread_id"] for t in saver.list(None)} == {long_id, wide_id}
    assert {t.config["configurable"]["checkpoint_ns"] for t in saver.list(config(long_id, None))} >= {"", long_ns}

    saver.copy_thread(long_id, wide_id + "-copy")
    assert contents(saver, config(wide_id + "-copy")) == contents(saver, config(long_id))
    saver.delete_thread(long_id)
    assert contents(saver, config(long_id)) == [] and contents(saver, config(long_id, long_ns)) == []
    assert contents(saver, config(wide_id + "-copy"))[-1] == "reply to again"
    with TractSaver.from_conn_string(conn_string) as fresh:
        assert [m.content for m in chat_graph(fresh).get_state(config(wide_id)).values["messages"]][-1] == (
            "reply to again"
        )


def test_an_integer_thread_id_is_its_decimal_string_as_in_the_stock_savers(saver: TractSaver) -> None:
    put(saver, 7, "", [HumanMessage("seven", id="1")])
    assert contents(saver, config("7")) == ["seven"]
    assert contents(saver, config(7)) == ["seven"]
    assert saver.get_tuple(config(7)).config["configurable"]["thread_id"] == "7"
    assert [m["content"] for m in saver.tract(7).compile().messages] == ["seven"]


BAD_THREAD_IDS = [None, "", "   ", "a\x00b", "x" * 5000, 1.5, ["a"]]
BAD_NAMESPACES = ["ns\x00", 3]


def _calls(saver: TractSaver, thread_id: Any, checkpoint_ns: Any = "") -> dict[str, Any]:
    """Every saver method that takes a thread id, as (sync, async) callables."""
    cfg = config(thread_id, checkpoint_ns)
    checkpoint = empty_checkpoint()
    written = dict(cfg["configurable"], checkpoint_id=checkpoint["id"])

    async def alist() -> list[Any]:
        return [t async for t in saver.alist(cfg)]

    return {
        "put": (
            lambda: saver.put(cfg, checkpoint, {}, {}),
            lambda: saver.aput(cfg, checkpoint, {}, {}),
        ),
        "put_writes": (
            lambda: saver.put_writes({"configurable": written}, [("x", 1)], "task"),
            lambda: saver.aput_writes({"configurable": written}, [("x", 1)], "task"),
        ),
        "get_tuple": (lambda: saver.get_tuple(cfg), lambda: saver.aget_tuple(cfg)),
        "list": (lambda: list(saver.list(cfg)), alist),
        "delete_thread": (lambda: saver.delete_thread(thread_id), lambda: saver.adelete_thread(thread_id)),
        "copy_thread": (lambda: saver.copy_thread(thread_id, "t"), lambda: saver.acopy_thread(thread_id, "t")),
        "copy_thread_target": (lambda: saver.copy_thread("t", thread_id), lambda: saver.acopy_thread("t", thread_id)),
        "prune": (lambda: saver.prune([thread_id]), lambda: saver.aprune([thread_id])),
        "tract": (lambda: saver.tract(thread_id, checkpoint_ns), None),
        "checkpoint_commit": (lambda: saver.checkpoint_commit(cfg), None),
    }


def _assert_refused(saver: TractSaver, thread_id: Any, checkpoint_ns: Any) -> None:
    for name, (sync, asynchronous) in _calls(saver, thread_id, checkpoint_ns).items():
        if checkpoint_ns != "" and name in ("delete_thread", "copy_thread", "copy_thread_target", "prune"):
            continue  # these take no namespace
        with pytest.raises(InvalidInputError, match="thread_id|checkpoint_ns"):
            sync()
        if asynchronous is not None:
            with pytest.raises(InvalidInputError, match="thread_id|checkpoint_ns"):
                asyncio.run(asynchronous())


@pytest.mark.parametrize("thread_id", BAD_THREAD_IDS, ids=lambda value: repr(value)[:24])
def test_bad_thread_ids_are_refused_by_every_method_sync_and_async(saver: TractSaver, thread_id: Any) -> None:
    put(saver, "t", "", [HumanMessage("kept", id="1")])
    _assert_refused(saver, thread_id, "")
    assert contents(saver, config("t")) == ["kept"]
    assert {t.config["configurable"]["thread_id"] for t in saver.list(None)} == {"t"}
    assert tract_ids(saver) == ["t"]


@pytest.mark.parametrize("checkpoint_ns", BAD_NAMESPACES, ids=lambda value: repr(value)[:24])
def test_bad_namespaces_are_refused_by_every_method_sync_and_async(saver: TractSaver, checkpoint_ns: Any) -> None:
    put(saver, "t", "", [HumanMessage("kept", id="1")])
    _assert_refused(saver, "t", checkpoint_ns)
    assert contents(saver, config("t")) == ["kept"]
    assert tract_ids(saver) == ["t"]


def test_a_tract_opened_by_id_agrees_with_saver_tract(saver: TractSaver) -> None:
    for thread_id, ns in (("plain", ""), ("with|pipe", ""), ("plain", "sub:1"), ("y" * 400, "")):
        put(saver, thread_id, ns, [HumanMessage(f"{thread_id[:10]}/{ns}", id="1")])
        by_id = Tract.open(store=saver.store, tract_id=tract_id_for(thread_id, ns), create=False)
        assert by_id.compile().messages == saver.tract(thread_id, ns).compile().messages
        assert by_id.compile().messages[0]["content"] == f"{thread_id[:10]}/{ns}"


def test_a_postgres_database_made_with_varchar_ids_is_widened_on_open(postgres_server: Any) -> None:
    """Databases created before long thread ids had ``VARCHAR(255)`` id columns; ``setup()`` widens them."""
    url = create_database(postgres_server)
    tables = ("tract_lg_checkpoints", "tract_lg_channels", "tract_lg_writes")
    with TractSaver.from_conn_string(url) as saver:
        put(saver, "old", "", [HumanMessage("from before", id="1")])
        with saver.store.write() as session:
            for table in tables:
                for column in ("thread_id", "checkpoint_ns"):
                    session.conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR(255)"))

    def id_column_types(saver: TractSaver) -> set[str]:
        with saver.store.read() as session:
            return set(
                session.conn.execute(
                    text(
                        "SELECT data_type FROM information_schema.columns WHERE table_name LIKE 'tract_lg_%' "
                        "AND column_name IN ('thread_id', 'checkpoint_ns')"
                    )
                ).scalars()
            )

    with TractSaver.from_conn_string(url) as saver:
        assert id_column_types(saver) == {"text"}
        assert contents(saver, config("old")) == ["from before"]
        long_id = "y" * 900
        put(saver, long_id, "", [HumanMessage("long", id="2")])
        assert contents(saver, config(long_id)) == ["long"]
