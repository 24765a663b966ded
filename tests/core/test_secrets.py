"""No database password in any repr, str or serialisation of tract's public objects, nor in errors.

A PostgreSQL role with a distinctive password (enforced by the server: scram authentication) is
opened through every public object of the three packages that takes a URL; each object's
``repr``/``str`` and every serialisation it offers (``to_dict``, ``to_json``, ``model_dump``,
``model_dump_json``, LangChain's ``dumpd``, a workflow ``Context``) is scanned for the password,
raw and URL-encoded, as are the errors raised when a connection fails. Then the serialised
LlamaIndex components reconnect: in the same process through the shared store registry, in
another process through libpq's own password sources (``PGPASSWORD``) or an explicit URL.
"""

from __future__ import annotations

import json
import traceback
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.load import dumpd
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.llms import ChatMessage
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.memory import Memory
from llama_index.core.workflow import Context, JsonSerializer
from sqlalchemy import URL, create_engine, make_url, text

from tract_core import DatabaseNotFoundError, InvalidInputError, Tract, TractError
from tract_core.store import SqlStore
from tract_core.testing.processes import run_in_child
from tract_langchain import TractChatMessageHistory, TractSaver
from tract_llamaindex import TractChatStore, TractMemory, close_stores

PASSWORD = "Tr4ct-S3cr3t_p@ss/w0rd"
MARKER = "S3cr3t"  # in the password however it is encoded (raw, %-quoted)
ROLE = "tract_secret_owner"
CHILD = Path(__file__).with_name("_secrets_child.py")
SERIALISERS = ("to_dict", "to_json", "to_string", "model_dump", "model_dump_json")

# LlamaIndex's workflows inspect the agents' pydantic attributes when building their steps,
# touching deprecated pydantic accessors: noise from the libraries, not from tract.
pytestmark = [
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20"),
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211"),
]


@pytest.fixture(scope="module")
def role_database(postgres_server: Any) -> dict[str, str]:
    """A database owned by a role that must give its password (scram), and URLs for it."""
    admin = create_engine(postgres_server.get_uri(driver="psycopg"), isolation_level="AUTOCOMMIT")
    name = f"tract_secret_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": ROLE}).first()
            if not exists:
                conn.execute(text(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'"))
            conn.execute(text(f'CREATE DATABASE "{name}" OWNER {ROLE}'))
            hba = Path(postgres_server.pgdata) / "pg_hba.conf"
            rule = f"local all {ROLE} scram-sha-256\n"
            if rule not in hba.read_text():
                hba.write_text(rule + hba.read_text())  # first match wins: only this role needs a password
                conn.execute(text("SELECT pg_reload_conf()"))
    finally:
        admin.dispose()
    found = make_url(postgres_server.get_uri(database=name, driver="psycopg"))
    base = URL.create(found.drivername, ROLE, None, found.host, found.port, found.database, found.query)
    return {
        "url": base.set(password=PASSWORD).render_as_string(hide_password=False),
        "no_password": base.render_as_string(hide_password=False),
        "wrong": base.set(password=PASSWORD + "-wrong").render_as_string(hide_password=False),
        "in_query": base.update_query_dict({"password": PASSWORD + "-q"}).render_as_string(hide_password=False),
    }


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    close_stores()


def exposed(value: Any) -> list[str]:
    """Every way ``value`` shows itself as text: repr, str and each serialisation it has."""
    shown = [repr(value), str(value)]
    for name in SERIALISERS:
        method = getattr(value, name, None)
        if callable(method):
            try:
                result = method()
            except (TypeError, NotImplementedError):  # e.g. a method that needs arguments
                continue
            shown.append(result if isinstance(result, str) else json.dumps(result, default=repr))
    return shown


def error_text(exc: BaseException) -> str:
    """The error as a user sees it: its message, repr and the whole traceback with its causes."""
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


def assert_no_secret(what: str, texts: list[str]) -> None:
    for shown in texts:
        assert MARKER not in shown and urllib.parse.quote(PASSWORD) not in shown, f"{what} shows the password: {shown}"


def test_the_password_is_enforced(role_database: dict[str, str]) -> None:
    with pytest.raises(DatabaseNotFoundError):
        SqlStore(url=role_database["wrong"])
    SqlStore(url=role_database["url"]).close()


async def test_no_public_object_shows_the_password(role_database: dict[str, str]) -> None:
    url = role_database["url"]
    store = SqlStore(url=url)
    tract = Tract.open(url=url, tract_id="t")
    tract.user("hello")
    history = TractChatMessageHistory("ada", url=url)
    assert_no_secret("TractChatMessageHistory (not opened)", [repr(history), str(history), json.dumps(dumpd(history))])
    history.add_messages([HumanMessage("Hi"), AIMessage("Hello")])
    memory = TractMemory.from_defaults(session_id="m1", url=url)
    memory.put(ChatMessage(role="user", content="Hi"))
    chat_store = TractChatStore(url=url)
    await chat_store.add_message("k", ChatMessage(role="user", content="Hi"))
    llama_memory = Memory.from_defaults(session_id="k", chat_store=chat_store)
    with TractSaver.from_conn_string(url) as saver:
        builder = StateGraph(MessagesState)
        builder.add_node("chat", lambda state: {"messages": [AIMessage("Hello!")]})
        builder.add_edge(START, "chat")
        graph = builder.compile(checkpointer=saver)
        graph.invoke({"messages": [HumanMessage("Hi")]}, {"configurable": {"thread_id": "1"}})
        for what, value in [
            ("SqlStore", store),
            ("Tract", tract),
            ("TractSaver", saver),
            ("TractSaver.tract()", saver.tract("1")),
            ("TractChatMessageHistory", history),
            ("TractChatMessageHistory.tract", history.tract),
            ("TractMemory", memory),
            ("TractMemory.tract", memory.tract),
            ("TractChatStore", chat_store),
            ("TractChatStore.tract()", chat_store.tract("k")),
            ("Memory on TractChatStore", llama_memory),
        ]:
            assert_no_secret(what, exposed(value))
        assert_no_secret("dumpd(TractChatMessageHistory)", [json.dumps(dumpd(history))])
        assert_no_secret("dumpd(TractSaver)", [json.dumps(dumpd(saver))])

    agent = FunctionAgent(tools=[], llm=MockFunctionCallingLLM(max_tokens=200), system_prompt="Be brief.")
    ctx = Context(agent)
    await agent.run("Hi", memory=memory, ctx=ctx)
    assert_no_secret("workflow Context", [json.dumps(ctx.to_dict(serializer=JsonSerializer()))])
    for closing in (history, tract, store):
        closing.close()


def test_connection_errors_do_not_show_the_password(role_database: dict[str, str]) -> None:
    attempts = {
        "SqlStore": lambda url: SqlStore(url=url),
        "Tract.open": lambda url: Tract.open(url=url),
        "TractSaver": lambda url: TractSaver.from_conn_string(url).__enter__(),
        "TractChatMessageHistory": lambda url: TractChatMessageHistory("ada", url=url).messages,
        "TractMemory": lambda url: TractMemory.from_defaults(session_id="m", url=url).get(),
    }
    for url in (role_database["wrong"], role_database["in_query"]):
        for what, attempt in attempts.items():
            with pytest.raises(TractError) as raised:
                attempt(url)
            assert_no_secret(f"{what} on a failed connection", [error_text(raised.value)])
    broken = role_database["url"].replace("@/", "@localhost:notaport/", 1)
    with pytest.raises(InvalidInputError) as raised:
        SqlStore(url=broken)
    assert_no_secret("a URL with a bad port", [error_text(raised.value)])


async def test_a_serialised_memory_reconnects_in_this_process(role_database: dict[str, str]) -> None:
    memory = TractMemory.from_defaults(session_id=f"ada-{uuid.uuid4().hex}", url=role_database["url"])
    memory.put(ChatMessage(role="user", content="Hi, I'm Ada."))
    data = memory.to_dict()
    assert data["db"] == role_database["no_password"]
    restored = TractMemory.from_dict(data)
    assert [m.content for m in restored.get()] == ["Hi, I'm Ada."]

    chat_store = TractChatStore(url=role_database["url"])
    key = f"k-{uuid.uuid4().hex}"
    await chat_store.add_message(key, ChatMessage(role="user", content="kept"))
    again = TractChatStore.model_validate(chat_store.model_dump())
    assert [m.content for m in await again.get_messages(key)] == ["kept"]


def test_a_serialised_memory_reconnects_in_another_process(role_database: dict[str, str]) -> None:
    memory = TractMemory.from_defaults(session_id=f"ada-{uuid.uuid4().hex}", url=role_database["url"])
    memory.put(ChatMessage(role="user", content="Hi, I'm Ada."))
    results = run_in_child(CHILD, "child_reconnects", memory.to_dict(), PASSWORD, role_database["url"])

    refused = results["as is"]  # no password anywhere: a clear error that says where to put it
    assert refused["error"] == "DatabaseNotFoundError" and "PGPASSWORD" in refused["message"]
    assert MARKER not in refused["message"]
    assert results["PGPASSWORD"] == ["Hi, I'm Ada."]  # libpq's own password source
    assert results["db=url"] == ["Hi, I'm Ada."]  # the URL given again
