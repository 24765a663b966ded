"""Events (reactive context): ``t.push`` queues durably and in order, ``t.drain_events`` commits the
queue as messages on the checked-out branch exactly once, from any number of processes."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tract_core import (
    EventInfo,
    InvalidInputError,
    InvalidRoleError,
    Sticky,
    Temporary,
    Tract,
    TractClosedError,
)
from tract_core.cli import main
from tract_core.store import migrations
from tract_core.testing import create_database, database_digest
from tract_core.testing.processes import WAIT_FOR_FILE, ChildProcess, wait_for_files, write_atomically

DATA = Path(__file__).resolve().parents[1] / "data"


def _shown(t: Tract) -> list[str]:
    return [m["content"] for m in t.compile().to_openai()]


def test_a_push_is_queued_without_touching_the_history_and_a_drain_commits_it(factory) -> None:
    t = factory.open()
    t.system("You watch the build farm.")
    t.user("status?")
    t.assistant("All green.")
    head, digest = t.head, t.compile().digest
    first = t.push("build 41 failed on arm64", source="ci", metadata={"build": 41})
    second = t.push({"disk": "/var", "used": 0.91}, source="monitor")
    assert isinstance(first, EventInfo) and first.pending and (first.id, second.id) == (1, 2)
    assert t.head == head and t.compile().digest == digest  # a push never moves HEAD
    assert [e.payload for e in t.pending_events()] == ["build 41 failed on arm64", {"disk": "/var", "used": 0.91}]
    assert [e.id for e in t.pending_events(limit=1)] == [1]

    drained = t.drain_events()

    assert [e.id for e in drained] == [1, 2] and all(not e.pending for e in drained)
    assert t.pending_events() == [] and t.drain_events() == []
    assert _shown(t)[-2:] == [
        "[event from ci] build 41 failed on arm64",
        '[event from monitor] {"disk":"/var","used":0.91}',
    ]
    commit = t.show(drained[0].commit)
    assert (commit.role, commit.content_type, commit.message) == ("user", "event", "event 1 from ci")
    assert commit.metadata == {"build": 41, "event": {"id": 1, "source": "ci"}}
    assert [c.hash for c in t.log(limit=2)] == [drained[1].commit, drained[0].commit]
    assert t.compile().to_openai()[2] == {"role": "assistant", "content": "All green."}
    assert t.verify() == 10  # 5 commits and 5 blobs, the events table beside them is fine


def test_keys_lifecycles_and_roles_carry_to_the_message(factory) -> None:
    t = factory.open()
    t.system("S")
    t.push("build 41 failed", source="ci", key="build:arm64")
    t.push("sensor: 21.5C", lifecycle=Temporary(1))
    t.push("maintenance window at 02:00", role="system", lifecycle=Sticky())
    t.push("build 42 passed", source="ci", key="build:arm64")
    drained = t.drain_events()
    assert [t.show(e.commit).role for e in drained] == ["user", "user", "system", "user"]
    assert [e.lifecycle for e in drained] == [None, Temporary(1), Sticky(), None]
    shown = _shown(t)
    assert "[event from ci] build 41 failed" not in shown  # the keyed event replaced itself
    assert "[event from ci] build 42 passed" in shown and "[event] sensor: 21.5C" in shown
    t.assistant("noted")
    t.user("and now?")
    t.assistant("still fine")
    assert "[event] sensor: 21.5C" not in _shown(t)  # its one cycle ran out
    assert "[event] maintenance window at 02:00" in _shown(t)


def test_events_land_on_the_branch_checked_out_when_drained_and_belong_to_their_tract(factory) -> None:
    t = factory.open()
    t.user("on main")
    main_head = t.head
    t.push("queued while on main")
    t.branch("incident", switch=True)
    child = t.spawn("helper")
    child.push("for the helper only")
    assert [e.payload for e in t.pending_events()] == ["queued while on main"]
    drained = t.drain_events()
    assert t.current_branch == "incident" and t.head == drained[0].commit
    assert next(b.commit for b in t.list_branches() if b.name == "main") == main_head
    assert [e.payload for e in child.pending_events()] == ["for the helper only"]
    assert child.drain_events()[0].commit == child.head


def test_a_drain_inside_a_rolled_back_batch_leaves_the_events_pending(factory) -> None:
    t = factory.open()
    t.user("hello")
    head = t.head
    t.push("one")
    with pytest.raises(RuntimeError, match="boom"), t.batch():
        assert len(t.drain_events()) == 1
        raise RuntimeError("boom")
    assert t.head == head and [e.payload for e in t.pending_events()] == ["one"]
    assert t.drain_events()[0].payload == "one"


def test_gc_keeps_pending_events_and_deleting_a_tract_removes_its_queue(factory) -> None:
    t = factory.open()
    t.user("hello")
    t.user("a message reset away")
    t.push("waiting")
    t.reset("HEAD~1")
    assert t.gc(orphan_retention_days=0, archive_retention_days=0).orphans == 1
    assert [e.payload for e in t.pending_events()] == ["waiting"]
    drained = t.drain_events()
    t.gc(orphan_retention_days=0, archive_retention_days=0)
    assert t.show(drained[0].commit).content == "[event] waiting" and t.pending_events() == []
    other = factory.open("other")
    other.push("queued for a tract about to go")
    with t.store.write() as session:  # what Storage.delete_tract does
        session.tracts.delete("other")
    with t.store.read() as session:
        assert session.events.list("other") == [] and len(session.events.list(t.tract_id)) == 1


BAD_PUSHES = [
    ({"payload": None}, InvalidInputError, "needs a payload"),
    ({"payload": "  "}, InvalidInputError, "payload is empty"),
    ({"payload": {"at": object()}}, InvalidInputError, "not JSON-serializable"),
    ({"payload": float("nan")}, InvalidInputError, "JSON"),
    ({"payload": "nul \x00 here"}, InvalidInputError, "NUL"),
    ({"payload": "x", "lifecycle": {"ttl": -1}}, InvalidInputError, "ttl"),
    ({"payload": "x", "lifecycle": "sticky"}, InvalidInputError, "lifecycle must be a Lifecycle"),
    ({"payload": "x", "role": "assistant"}, InvalidInputError, "'user' or 'system'"),
    ({"payload": "x", "key": ""}, InvalidInputError, "non-empty name"),
    ({"payload": "x", "source": "ci\nbot"}, InvalidInputError, "control character"),
    ({"payload": "x", "metadata": {"event": 1}}, InvalidInputError, "reserved"),
    ({"payload": "x", "metadata": ["a"]}, InvalidInputError, "must be a dict"),
]


@pytest.mark.parametrize(("kwargs", "error", "says"), BAD_PUSHES, ids=[b[2] for b in BAD_PUSHES])
def test_a_bad_push_is_refused_and_writes_nothing(tmp_path, kwargs, error, says) -> None:
    with Tract.open(tmp_path / "bad.db") as t:
        t.user("hello")
        before = database_digest(t.store)
        arguments = dict(kwargs)
        payload = arguments.pop("payload")
        with pytest.raises(error, match=says):
            t.push(payload, **arguments)
        assert database_digest(t.store) == before and t.pending_events() == []


def test_a_closed_handle_refuses_events(tmp_path) -> None:
    t = Tract.open(tmp_path / "closed.db")
    t.push("before closing")
    t.close()
    for call in (lambda: t.push("after"), t.pending_events, t.drain_events):
        with pytest.raises(TractClosedError, match="was closed; open it again"):
            call()
    with Tract.open(tmp_path / "closed.db") as again:
        assert [e.payload for e in again.pending_events()] == ["before closing"]
    assert not issubclass(InvalidRoleError, TractClosedError)


# -- many processes ------------------------------------------------------------------------------

_PUSHER = (
    WAIT_FOR_FILE
    + """
import json, sys
from tract_core import Tract
args = json.loads(sys.argv[1])
drained = []
with Tract.open(**args["location"], tract_id="inbox", create=False) as t:
    write_atomically(args["ready"], "ready")
    wait_for_file(args["go"])
    for n in range(args["count"]):
        t.push({"pusher": args["pusher"], "n": n}, source=f"p{args['pusher']}")
        if n % args["drain_every"] == args["drain_every"] - 1:  # the four processes drain as they push
            drained += [[e.id, e.commit] for e in t.drain_events()]
    drained += [[e.id, e.commit] for e in t.drain_events()]
print(json.dumps(drained))
"""
)

PUSHERS, PER_PUSHER = 4, 200


def _location(backend: str, tmp_path: Path, postgres_server) -> dict[str, str]:
    if backend == "sqlite":
        return {"path": str(tmp_path / "events.db")}
    return {"url": create_database(postgres_server)}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_four_processes_pushing_and_draining_at_once_lose_nothing_and_commit_each_event_once(
    backend, tmp_path, request
) -> None:
    server = request.getfixturevalue("postgres_server") if backend == "postgres" else None
    location = _location(backend, tmp_path, server)
    with Tract.open(**location, tract_id="inbox") as t:
        t.system("You triage events.")
    go = tmp_path / "go"
    children = [
        ChildProcess(
            _PUSHER,
            {
                "location": location,
                "pusher": p,
                "count": PER_PUSHER,
                "drain_every": 25 + 10 * p,  # the drains of the processes fall at different moments
                "ready": str(tmp_path / f"ready{p}"),
                "go": str(go),
            },
            tmp_path,
            f"pusher{p}",
        )
        for p in range(PUSHERS)
    ]
    try:
        wait_for_files([tmp_path / f"ready{p}" for p in range(PUSHERS)], children)
        write_atomically(go, "go")  # all four start pushing together
        claimed = [pair for child in children for pair in child.result()]
    finally:
        for child in children:
            child.kill()

    with Tract.open(**location, tract_id="inbox") as t:
        assert t.pending_events() == [] and t.drain_events() == []
        total = PUSHERS * PER_PUSHER
        assert sorted(seq for seq, _ in claimed) == list(range(1, total + 1))  # each drained once, none lost
        history = [c for c in reversed(t.log(limit=None)) if c.content_type == "event"]
        assert len(history) == total  # every event committed exactly once, on main
        seqs = [c.metadata["event"]["id"] for c in history]
        assert seqs == list(range(1, total + 1))  # history order is queue order
        assert dict(claimed) == {c.metadata["event"]["id"]: c.hash for c in history}
        by_pusher: dict[int, list[int]] = {}
        for c in history:
            payload = json.loads(c.content.split("] ", 1)[1])
            assert c.metadata["event"]["source"] == f"p{payload['pusher']}"
            by_pusher.setdefault(payload["pusher"], []).append(payload["n"])
        assert by_pusher == {p: list(range(PER_PUSHER)) for p in range(PUSHERS)}  # each pusher's order kept
        t.verify()


# -- CLI and migration ---------------------------------------------------------------------------


def test_the_cli_lists_and_pushes_events(tmp_path, capsys) -> None:
    db = str(tmp_path / "cli.db")
    Tract.open(db).close()
    assert main(["--db", db, "push", "disk at 91%", "--source", "monitor", "--key", "disk"]) == 0
    assert "queued event 1: [event from monitor] disk at 91%" in capsys.readouterr().out
    assert main(["--db", db, "push", "hello", "--role", "system", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["role"] == "system"
    assert main(["--db", db, "events", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(e["id"], e["payload"], e["source"], e["key"]) for e in listed] == [
        (1, "disk at 91%", "monitor", "disk"),
        (2, "hello", None, None),
    ]
    assert main(["--db", db, "events"]) == 0
    assert "2 pending events" in capsys.readouterr().out
    assert main(["--db", db, "push", " "]) == 2
    assert "payload is empty" in capsys.readouterr().err
    with Tract.open(db) as t:
        assert len(t.drain_events()) == 2
    assert main(["--db", db, "events", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


V8_HEAD = "7e06d1a22a9a437d505d062ff5ce2a03885d18a8c0da8a29927d8e54bcb49ea1"
V8_DIGEST = "3715aac4000970bb13f3bb8c835589471ac2c7d567ae97b995fd3ad5911b7de1"


def test_a_version_8_file_upgrades_unchanged_and_takes_events(tmp_path) -> None:
    """tests/data/schema_v8_events.db was written by the schema-8 code (before events existed)."""
    path = tmp_path / "v8.db"
    shutil.copy(DATA / "schema_v8_events.db", path)
    with Tract.open(path=path, tract_id="ops") as t:
        assert t.head == V8_HEAD and t.compile().digest == V8_DIGEST
        assert t.verify() == 12 and t.verify().annotations == 1
        assert t.pending_events() == []
        t.push("build 43 passed on arm64", source="ci", key="build:arm64")
        event = t.drain_events()[0]
        assert _shown(t)[-1] == "[event from ci] build 43 passed on arm64"
        assert "build 41 failed on arm64" not in _shown(t)  # the keyed node of version 8 was replaced
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM tract_schema").fetchone()[0] == migrations.SCHEMA_VERSION >= 9
        assert conn.execute("SELECT seq, consumed_by FROM tract_events").fetchall() == [(1, event.commit)]
    with Tract.open(path=path, tract_id="ops") as t:
        assert t.verify() == 14 and t.head == event.commit
