"""On PostgreSQL, the round trips to the server that the common units of work cost, counted from
libpq's own protocol trace: a round trip is the client sending and then waiting for an answer.

The short-conversation figures of ``benchmarks/checkpointer.py --postgres`` rest on these: a
transaction's BEGIN travels with its first statement, statements nobody reads the result of travel
with the COMMIT, reads run without a transaction, and a commit on a branch needs one answer (its
compare-and-swap) before the COMMIT.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

import psycopg
import pytest
from psycopg import pq

from tract_core import Tract
from tract_core.testing import create_database


class Trace:
    """Every psycopg connection opened while installed writes libpq's protocol trace to one file."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile("w+")  # noqa: SIM115  (closed by the fixture)

    def attach(self, connection: psycopg.Connection[Any]) -> None:
        connection.pgconn.trace(self.file.fileno())
        connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)

    def mark(self) -> int:
        self.file.flush()
        return os.lseek(self.file.fileno(), 0, os.SEEK_END)

    def round_trips(self, since: int) -> int:
        """Round trips since ``since`` (a mark): each switch from frontend messages to backend ones."""
        self.file.flush()
        self.file.seek(since)
        trips, last = 0, None
        for line in self.file.read().splitlines():
            direction = line.split("\t", 1)[0]
            if direction not in ("F", "B"):
                continue
            if direction == "B" and last == "F":
                trips += 1
            last = direction
        return trips


@pytest.fixture
def trace(monkeypatch: pytest.MonkeyPatch) -> Iterator[Trace]:
    traced = Trace()
    connect = psycopg.Connection.connect.__func__  # type: ignore[attr-defined]

    def traced_connect(cls: type, *args: Any, **kwargs: Any) -> Any:
        connection = connect(cls, *args, **kwargs)
        traced.attach(connection)
        return connection

    monkeypatch.setattr(psycopg.Connection, "connect", classmethod(traced_connect))
    monkeypatch.setattr(psycopg, "connect", psycopg.Connection.connect)
    yield traced
    traced.file.close()


def _costs(trace: Trace, action: Any) -> int:
    start = trace.mark()
    action()
    return trace.round_trips(start)


def test_a_commit_a_read_and_a_compile_on_a_warm_handle(postgres_server: Any, trace: Trace) -> None:
    url = create_database(postgres_server)
    with Tract.open(url=url) as t:
        t.system("You are terse.")
        for k in range(6):  # past psycopg's prepare threshold: its server-side prepares are pipelined too
            t.user(f"question {k}")
            t.assistant(f"answer {k}")
        # BEGIN, the branch's compare-and-swap (answered) | blob, commit, reflog, COMMIT
        assert _costs(trace, lambda: t.user("one more")) == 2
        assert t.compile().messages[-1]["content"] == "one more"
        assert _costs(trace, t.compile) == 0  # unchanged: served from the handle's cache
    opened = trace.mark()
    with Tract.open(url=url, create=False) as again:
        # a new engine's first connection: what SQLAlchemy's dialect asks about the server, in one
        # query (no BEGIN, no ROLLBACK, no hstore lookup, no second engine to check the schema), the
        # schema check's two reads, and the tract's own two (it exists; its HEAD)
        assert trace.round_trips(opened) <= 5
        # a fresh handle compiles from two reads, HEAD and the history (no BEGIN, no COMMIT)
        assert _costs(trace, again.compile) == 2


def test_the_dialect_learns_what_the_stock_first_connect_questions_would_tell_it(postgres_server: Any) -> None:
    """One query and the connection's reported parameters stand in for SQLAlchemy's four questions:
    the dialect must end up knowing exactly what the stock questions tell it."""
    from sqlalchemy import create_engine, text

    from tract_core.store.engine import make_engine

    url = create_database(postgres_server)
    stock = create_engine(url)
    ours, _, _ = make_engine(url=url)
    try:
        for engine in (stock, ours):
            with engine.connect() as conn:
                conn.execute(text("select 1"))
        for attribute in (
            "server_version_info",
            "default_schema_name",
            "default_isolation_level",
            "_backslash_escapes",
        ):
            assert getattr(ours.dialect, attribute) == getattr(stock.dialect, attribute), attribute
        assert ours.dialect.server_version_info >= (13,) and ours.dialect.default_isolation_level == "READ COMMITTED"
    finally:
        stock.dispose()
        ours.dispose()


class _State(TypedDict):
    messages: Annotated[list[Any], Any]


def test_a_langgraph_turn_with_tract_saver(postgres_server: Any, trace: Trace) -> None:
    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.graph import START, MessagesState, StateGraph

    from tract_langchain import TractSaver

    def chat(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(f"reply {len(state['messages'])}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("chat", chat)
    builder.add_edge(START, "chat")
    with TractSaver.from_conn_string(create_database(postgres_server)) as saver:
        graph = builder.compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "t1"}}
        # a new thread's first turn: the tract is declared with the first put's COMMIT, and the
        # first message creates main by one insert (main was read as missing in that transaction)
        first = _costs(trace, lambda: graph.invoke({"messages": [HumanMessage("hi")]}, config, durability="sync"))
        assert first <= 10, first
        for k in range(6):
            graph.invoke({"messages": [HumanMessage(f"hello {k}")]}, config, durability="sync")
        turn = _costs(trace, lambda: graph.invoke({"messages": [HumanMessage("again")]}, config, durability="sync"))
        # get_tuple (2: the checkpoint row, then its channels and writes together), 3 puts of which
        # 2 carry a message (2 round trips each), 2 put_writes
        assert turn <= 9, turn
        state = graph.get_state(config)
        assert [m.content for m in state.values["messages"]][-2:] == ["again", "reply 15"]
        assert _costs(trace, lambda: saver.get_tuple(config)) <= 2
