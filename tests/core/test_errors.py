"""Clear errors, never raw ones: bounded ref parsing, text the store cannot hold, and the database's
own failures (a lock held too long, a full disk, a read-only file, a PostgreSQL outage).

Every failure here is produced for real: a second process holding SQLite's write lock, a database
at its page limit (SQLITE_FULL, the error a full disk gives), a file on a read-only mount (or
without write permission), PostgreSQL backends terminated and a PostgreSQL server stopped. Each
refused call must raise a :class:`~tract_core.TractError` whose message says what to check and
carries no message content, keep the driver's exception as ``__cause__``, and leave every row of
the database as it was.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from sqlalchemy import create_engine, event, text

from tract_core import (
    EDIT,
    PINNED,
    CommitNotFoundError,
    DatabaseNotFoundError,
    InvalidInputError,
    StorageBusyError,
    StorageError,
    StorageFullError,
    StorageReadOnlyError,
    StorageUnavailableError,
    Tract,
    TractError,
)
from tract_core.store import engine as engine_module
from tract_core.testing import create_database, database_digest, start_postgres
from tract_core.testing.processes import WAIT_FOR_FILE, ChildProcess, wait_for_files
from tract_langchain import TractChatMessageHistory, TractSaver

SECRET = "the launch code is 0000"
"""Message content that must never appear in an error message."""

# -- helpers --------------------------------------------------------------------------------------


def history(t: Tract) -> list[str]:
    """Three commits on main and a side branch ``side`` with one more."""
    hashes = [t.system("Be brief.").hash, t.user("What is 2 + 2?").hash, t.assistant("4").hash]
    t.branch("side", switch=True)
    t.user("And 3 + 3?")
    t.switch("main")
    return hashes


def refused(store: Any, call: Callable[[], Any], error: type[BaseException], match: str) -> BaseException:
    """Run ``call``; expect ``error`` (a TractError) matching ``match``, and no row changed anywhere."""
    before = database_digest(store)
    with pytest.raises(error, match=match) as caught:
        call()
    assert isinstance(caught.value, TractError), f"{caught.value!r} is not a TractError"
    assert database_digest(store) == before, f"{caught.value!r} left the database changed"
    return caught.value


def no_content(error: BaseException) -> None:
    """The error names no message content and no SQL; its driver error is kept as the cause."""
    message = str(error)
    assert SECRET not in message and "0000" not in message, message
    assert "INSERT" not in message and "SELECT" not in message and "parameters" not in message, message
    assert error.__cause__ is not None, "the driver's exception must be kept as __cause__"


class State(TypedDict):
    messages: Annotated[list, add_messages]


def reply_graph(saver: TractSaver) -> Any:
    """A real LangGraph graph whose only node answers every user message."""

    def answer(state: State) -> dict[str, Any]:
        return {"messages": [AIMessage(f"noted ({len(state['messages'])})")]}

    graph = StateGraph(State)
    graph.add_node("answer", answer)
    graph.add_edge(START, "answer")
    return graph.compile(checkpointer=saver)


HOLD_WRITE_LOCK = (
    WAIT_FOR_FILE
    + """
import json, sqlite3, sys
args = json.loads(sys.argv[1])
db = sqlite3.connect(args["path"], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
write_atomically(args["ready"], "locked")
wait_for_file(args["release"], timeout=300)
db.execute("ROLLBACK")
db.close()
"""
)


@contextmanager
def write_lock_held(path: Path, folder: Path) -> Iterator[None]:
    """Another process holds SQLite's write lock on ``path`` (BEGIN IMMEDIATE) inside the block."""
    ready, release = folder / "locked", folder / "release"
    child = ChildProcess(
        HOLD_WRITE_LOCK, {"path": str(path), "ready": str(ready), "release": str(release)}, folder, "holder"
    )
    try:
        wait_for_files([ready], [child])
        yield
    finally:
        release.write_text("go")
        child.wait()


# -- item 10: refs are parsed in linear time, bounded, before any lock ---------------------------

BAD_REFS = {
    "~" * 40000 + "x": "at most 256 characters",
    "HEAD~" + "9" * 5000: "at most 256 characters",
    "HEAD~" + "9" * 20: "at most 9 digits",
    "main" + "~1" * 200: "at most 256 characters",
}


def test_pathological_refs_are_refused_at_once_while_another_process_holds_the_write_lock(tmp_path):
    path = tmp_path / "t.db"
    t = Tract.open(path=path)
    first, question, _ = history(t)
    calls = {
        "reset": lambda ref: t.reset(ref),
        "checkout": lambda ref: t.checkout(ref),
        "branch": lambda ref: t.branch("new", ref),
        "merge": lambda ref: t.merge(ref),
        "cherry_pick": lambda ref: t.cherry_pick(ref),
        "rebase": lambda ref: t.rebase(ref),
        "annotate": lambda ref: t.annotate(ref, PINNED),
        "edit": lambda ref: t.commit("x", operation=EDIT, response_to=ref),
        "record_usage": lambda ref: t.record_usage(commit=ref, prompt_tokens=1, completion_tokens=1),
        "compress": lambda ref: t.compress(content="s", from_commit=ref, to_commit=question),
        "archive": lambda ref: t.archive(ref),
        "show": lambda ref: t.show(ref),
        "log": lambda ref: t.log(start=ref),
        "compile": lambda ref: t.compile(at_commit=ref),
        "diff": lambda ref: t.diff(ref),
    }
    with write_lock_held(path, tmp_path):
        for name, call in calls.items():
            for ref, match in BAD_REFS.items():
                started = time.monotonic()
                with pytest.raises(InvalidInputError, match=match):
                    call(ref)
                assert time.monotonic() - started < 1, f"{name}({ref[:12]}...) took too long"
    assert t.log(limit=None)[-1].hash == first


def test_refs_with_steps_still_resolve_and_overshooting_fails_fast(factory):
    t = factory.open()
    first, question, answer = history(t)
    assert t.show("HEAD~2").hash == first
    assert t.show("main^^").hash == first
    assert t.show("HEAD~1^").hash == first
    assert t.show("main~0").hash == answer
    assert t.show(f"{answer[:8]}~1").hash == question
    assert t.show("side~1").hash == answer
    assert t.show(" HEAD~1 ").hash == question
    for ref in ("HEAD~3", "HEAD~999999999", "main" + "^" * 200):
        started = time.monotonic()
        with pytest.raises(CommitNotFoundError, match="past the first commit"):
            t.show(ref)
        assert time.monotonic() - started < 1
    with pytest.raises(InvalidInputError, match="names no commit"):
        t.show("~~~")


# -- item 11: text the store cannot hold, on every backend ---------------------------------------


def test_nul_is_refused_wherever_it_would_reach_a_text_column(factory, tmp_path):
    t = factory.open()
    _, question, _ = history(t)
    nul = "a\x00b"
    calls: list[tuple[Callable[[], Any], str]] = [
        (lambda: factory.open(tract_id=nul), "tract_id"),
        (lambda: t.show("main\x00"), "ref"),
        (lambda: t.checkout("side\x00"), "ref"),
        (lambda: t.reset("HEAD\x00~1"), "ref"),
        (lambda: t.log(start="\x00"), "ref"),
        (lambda: t.compile(at_commit=question[:8] + "\x00"), "ref"),
        (lambda: t.branch(nul), "branch name"),
        (lambda: t.switch(nul), "branch name"),
        (lambda: t.delete_branch(nul), "branch name"),
        (lambda: t.annotate(question, PINNED, reason=nul), "reason"),
        (lambda: t.user("x", commit_message=nul), "commit_message"),
        (lambda: t.assistant("x", generation_config={"stop": nul}), "generation_config"),
        (lambda: t.assistant("x", generation_config={nul: 1}), "generation_config"),
        (lambda: t.compress(content=nul, auto_commit=False, to_commit=question), "summary"),
        (lambda: t.start_over(keep_as=nul), "keep_as"),
        (lambda: t.spawn(nul), "name"),
        (lambda: t.query_by_config(model=nul), "value"),
        (lambda: t.reflog(ref=nul), "ref"),
        (lambda: Tract.open(path=str(tmp_path / nul)), "path"),
    ]
    for call, match in calls:
        error = refused(t.store, call, InvalidInputError, match)
        assert "NUL" in str(error) or "control character" in str(error), str(error)


def test_nul_in_message_content_and_metadata_is_stored_the_same_on_every_backend(factory):
    """JSON escapes NUL (``\\u0000``), so content, extra fields and metadata keep it, hash the same
    everywhere, and a history moves between backends unchanged."""
    t = factory.open()
    reference = Tract.open()
    for tract in (t, reference):
        tract.user("before\x00after", metadata={"k\x00": ["v\x00"]})
        tract.commit({"role": "assistant", "content": "ok", "vendor_field\x00": "x\x00y"})
        tract.tool_result("call\x00id", "result")
    assert t.head == reference.head
    assert t.compile().digest == reference.compile().digest
    assert t.compile().messages[0]["content"] == "before\x00after"
    assert t.log()[-1].metadata == {"k\x00": ["v\x00"]}
    assert t.verify() > 0
    reference.close()


def test_lone_surrogates_are_refused(factory):
    t = factory.open()
    _, question, _ = history(t)
    lone = "x\ud800y"
    calls: list[tuple[Callable[[], Any], str]] = [
        (lambda: t.user(lone), "message"),
        (lambda: t.user("x", metadata={lone: 1}), "metadata"),
        (lambda: t.user("x", metadata={"k": [lone]}), "metadata"),
        (lambda: t.commit({"role": "user", "content": "x", "extra": lone}), "message"),
        (lambda: t.user("x", commit_message=lone), "commit_message"),
        (lambda: t.annotate(question, PINNED, reason=lone), "reason"),
        (lambda: t.show(lone), "ref"),
        (lambda: t.switch(lone), "branch name"),
        (lambda: factory.open(tract_id=lone), "tract_id"),
        (lambda: t.query_by_config(model=lone), "value"),
    ]
    for call, match in calls:
        error = refused(t.store, call, InvalidInputError, match)
        assert "surrogate" in str(error), str(error)


# -- item 11: the database's own failures --------------------------------------------------------


def test_a_lock_held_past_the_busy_timeout_is_a_storage_busy_error_on_every_write_path(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_MS", 300)
    path = tmp_path / "busy.db"
    t = Tract.open(path=path)
    t.user("hello")
    chat = TractChatMessageHistory("chat", path=path)
    chat.add_message(HumanMessage("first"))
    saver_context = TractSaver.from_conn_string(str(path))
    saver = saver_context.__enter__()
    graph = reply_graph(saver)
    graph.invoke({"messages": [HumanMessage("first")]}, {"configurable": {"thread_id": "g"}})

    def in_batch() -> None:
        with t.batch():
            t.user(SECRET)

    writes: dict[str, Callable[[], Any]] = {
        "commit": lambda: t.user(SECRET),
        "batch": in_batch,
        "annotate": lambda: t.annotate("HEAD", PINNED, reason=SECRET),
        "chat history": lambda: chat.add_message(HumanMessage(SECRET)),
        "graph": lambda: graph.invoke({"messages": [HumanMessage(SECRET)]}, {"configurable": {"thread_id": "g"}}),
        "async graph": lambda: asyncio.run(
            graph.ainvoke({"messages": [HumanMessage(SECRET)]}, {"configurable": {"thread_id": "g"}})
        ),
    }
    try:
        with write_lock_held(path, tmp_path):
            before = database_digest(t.store)  # readers are not blocked by a writer (WAL)
            for name, write in writes.items():
                with pytest.raises(StorageBusyError, match="locked by another") as caught:
                    write()
                assert isinstance(caught.value, StorageError), name
                assert str(path) in str(caught.value) and "retry" in str(caught.value), str(caught.value)
                no_content(caught.value)
            assert database_digest(t.store) == before
        assert t.user("after the lock").content == "after the lock"  # the same handles work again
        chat.add_message(HumanMessage("after the lock"))
    finally:
        saver_context.__exit__(None, None, None)
        chat.close()
        t.close()


def test_a_full_database_is_a_storage_full_error(tmp_path):
    """SQLITE_FULL, the error a full disk gives, produced with ``PRAGMA max_page_count``."""
    path = tmp_path / "full.db"
    t = Tract.open(path=path)
    t.user("hello")
    with t.store.read() as session:
        pages = session.conn.exec_driver_sql("PRAGMA page_count").scalar()

    def limit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count={pages + 2}")

    event.listen(t.store.engine, "connect", limit)
    t.store.engine.dispose()  # new connections get the limit
    before = database_digest(t.store)
    error = refused(t.store, lambda: t.user(SECRET * 20000), StorageFullError, "full")
    assert "free" in str(error) and str(path) in str(error)
    no_content(error)

    def big_batch() -> None:
        with t.batch():
            for i in range(50):
                t.user(f"{SECRET} {i} " * 200)

    no_content(refused(t.store, big_batch, StorageFullError, "full"))
    assert database_digest(t.store) == before
    event.remove(t.store.engine, "connect", limit)
    t.store.engine.dispose()
    assert t.user("room again").content == "room again"
    t.close()


@contextmanager
def read_only_folder(folder: Path) -> Iterator[Path]:
    """``folder`` made read-only for this process: a read-only bind mount when running as root
    (root ignores permissions), otherwise the permission bits of the folder and its files."""
    if os.geteuid() == 0:
        target = Path(tempfile.mkdtemp(prefix="tract-ro-"))
        subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(target)], check=True)
        try:
            yield target
        finally:
            subprocess.run(["umount", "-l", str(target)], check=True)
            target.rmdir()
    else:
        modes = {p: p.stat().st_mode for p in [folder, *folder.iterdir()]}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield folder
        finally:
            for p, mode in modes.items():
                p.chmod(mode)


def test_a_read_only_database_is_a_storage_read_only_error(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    writable = folder / "t.db"
    with Tract.open(path=writable) as t:
        t.user("hello")
    content = writable.read_bytes()
    with read_only_folder(folder) as read_only:
        with pytest.raises(StorageReadOnlyError, match="read-only") as caught:
            Tract.open(path=read_only / "t.db")
        assert "permission" in str(caught.value) and str(read_only / "t.db") in str(caught.value)
        assert caught.value.__cause__ is not None
    assert writable.read_bytes() == content and sorted(p.name for p in folder.iterdir()) == ["t.db"]

    keeper = Tract.open(path=writable)  # an open writer keeps the -wal and -shm files
    keeper.user("kept")
    try:
        with read_only_folder(folder) as read_only:
            reader = Tract.open(path=read_only / "t.db")
            try:
                assert [m["content"] for m in reader.compile().messages] == ["hello", "kept"]
                error = refused(keeper.store, lambda: reader.user(SECRET), StorageReadOnlyError, "read-only")
                assert "permission" in str(error)
                no_content(error)
            finally:
                reader.close()
    finally:
        keeper.close()


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_connection_killed_mid_batch_is_a_storage_unavailable_error(factory):
    t = factory.open()
    t.user("hello")
    before = database_digest(t.store)
    admin = create_engine(factory.location["url"], isolation_level="AUTOCOMMIT")
    try:
        with pytest.raises(StorageUnavailableError, match="connection") as caught, t.batch():
            t.user(SECRET)
            with admin.connect() as conn:
                killed = conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).fetchall()
                assert killed, "no backend to terminate"
            t.user(SECRET + " again")
        no_content(caught.value)
        assert "check that the server is running" in str(caught.value)
        assert database_digest(t.store) == before
        assert t.user("after the reconnect").content == "after the reconnect"  # the pool reconnects
    finally:
        admin.dispose()


def test_a_postgres_outage_is_a_storage_unavailable_error_sync_and_async(tmp_path):
    server = start_postgres()
    try:
        url = create_database(server, "outage")
        t = Tract.open(url=url)
        t.user("hello")
        saver_context = TractSaver.from_conn_string(url)
        saver = saver_context.__enter__()
        graph = reply_graph(saver)
        config = {"configurable": {"thread_id": "g"}}
        graph.invoke({"messages": [HumanMessage("first")]}, config)
        server.stop()

        for call in (
            lambda: t.user(SECRET),
            lambda: t.compile(),
            lambda: graph.invoke({"messages": [HumanMessage(SECRET)]}, config),
            lambda: asyncio.run(graph.ainvoke({"messages": [HumanMessage(SECRET)]}, config)),
        ):
            with pytest.raises(StorageUnavailableError, match="running and reachable") as caught:
                call()
            no_content(caught.value)
        with pytest.raises(DatabaseNotFoundError, match="reachable"):
            Tract.open(url=url)

        server.ensure_postgres_running()
        assert [m["content"] for m in t.compile().messages] == ["hello"]
        assert t.user("back").content == "back"
        saver_context.__exit__(None, None, None)
        t.close()
    finally:
        server.cleanup()


def test_errors_never_echo_sql_parameters(factory):
    """A driver error tract's checks did not foresee still becomes a StorageError without the values."""
    t = factory.open()
    t.user("hello")

    def duplicate_row() -> None:
        with t.store.write() as session:
            session.conn.execute(
                text("INSERT INTO tract_tracts (tract_id, config, created_at) VALUES (:id, :config, 0)"),
                {"id": t.tract_id, "config": SECRET},
            )

    error = refused(t.store, duplicate_row, StorageError, "refused")
    no_content(error)
    assert t.store.engine.hide_parameters


# -- item 13: refusing a file that is not a tract database changes nothing ----------------------


def test_opening_a_non_tract_file_without_create_leaves_it_untouched(tmp_path):
    app = tmp_path / "app.db"
    with sqlite3.connect(app) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
        db.execute("INSERT INTO notes VALUES ('keep me')")
    db.close()
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a database at all\n")
    empty = tmp_path / "empty.db"
    empty.touch()
    for path in (app, text_file, empty):
        content = path.read_bytes()
        with pytest.raises(DatabaseNotFoundError, match="not a tract database|not a database"):
            Tract.open(path=path, create=False)
        with pytest.raises(DatabaseNotFoundError):
            Tract.list_tracts(path)
        assert path.read_bytes() == content, f"{path.name} was modified"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db", "empty.db", "notes.txt"]
    with sqlite3.connect(app) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    db.close()


# -- item 14: errors that used to be unclear -----------------------------------------------------


def test_errors_that_used_to_be_unclear(factory):
    t = factory.open()
    _, question, _ = history(t)
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(5000):
        node["a"] = {}
        node = node["a"]
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    cases: list[tuple[Callable[[], Any], type[BaseException], str]] = [
        (lambda: t.show("ma\nin"), InvalidInputError, "control character"),
        (lambda: t.checkout("HEAD\n~1"), InvalidInputError, "control character"),
        (lambda: t.user("x", metadata=deep), InvalidInputError, "nested more than"),
        (lambda: t.user("x", metadata=cyclic), InvalidInputError, "nested more than"),
        (lambda: t.assistant("x", generation_config={"ok": 1, "deep": deep}), InvalidInputError, "nested"),
        (lambda: t.commit({"role": "user", "content": "x", "extra": deep}), InvalidInputError, "nested"),
        (lambda: t.merge("side", resolutions="x"), InvalidInputError, "resolutions"),
        (lambda: t.merge("side", resolutions=[("a", "b")]), InvalidInputError, "resolutions"),
        (lambda: t.merge("side", resolver="not callable"), InvalidInputError, "resolver"),
        (lambda: t.commit({"role": "user", "content": "x", "extra": {1: "one"}}), InvalidInputError, "non-string key"),
        (lambda: t.commit({"role": "user", "content": "x", 2: "two"}), InvalidInputError, "non-string key"),
        (lambda: t.commit({"role": ["user"], "content": "x"}), InvalidInputError, "role"),
    ]
    for call, error, match in cases:
        refused(t.store, call, error, match)
