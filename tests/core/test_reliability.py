"""Reliability: processes killed mid-batch, concurrent writers, and bad input that must change nothing.

The multi-process tests start real child processes (``sys.executable -c``) on a SQLite file and on
a real PostgreSQL database. Each child signals readiness by writing a file, so the parent acts at a
known point and every wait has a deadline with the child's stderr in the failure message.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import threading
import time
from collections import Counter
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import func, select

from tract_core import (
    EDIT,
    PINNED,
    SKIP,
    AmbiguousRefError,
    BranchNotFoundError,
    CommitNotFoundError,
    ConfigError,
    DatabaseNotFoundError,
    EditTargetError,
    InvalidInputError,
    InvalidRoleError,
    SchemaVersionError,
    Tract,
    TractConfig,
    TractError,
    TractNotFoundError,
)
from tract_core.store.schema import BLOBS
from tract_core.testing.processes import WAIT_FOR_FILE, ChildProcess, wait_for_files
from tract_core.testing.snapshot import store_snapshot

# -- child processes ------------------------------------------------------------------------------

KILLED_IN_BATCH = """
import json, sys, time
from pathlib import Path
from tract_core import EDIT, SKIP, Tract

args = json.loads(sys.argv[1])
t = Tract.open(tract_id=args["tract_id"], **args["location"])
with t.batch():
    for i in range(5):
        t.user(f"doomed message {i}")
    t.commit("doomed edit", operation=EDIT, response_to=args["target"])
    t.annotate(args["target"], SKIP, reason="doomed")
    t.record_usage(commit=args["target"], prompt_tokens=7, completion_tokens=3)
    t.checkout(args["target"])
    t.user("doomed detached commit")
    assert "doomed detached commit" == t.compile().messages[-1]["content"]
    Path(args["ready"]).write_text("inside the batch")
    time.sleep(600)
sys.exit("the parent should have killed this process inside the batch")
"""

APPENDER = (
    WAIT_FOR_FILE
    + """
import json, sys
from tract_core import Tract

args = json.loads(sys.argv[1])
t = Tract.open(tract_id=args["tract_id"], **args["location"])
write_atomically(args["ready"], "ready")
wait_for_file(args["go"])
mine = []
for k in range(args["n"]):
    mine.append(t.user(f"worker {args['worker']} message {k}").hash)
    if k % 10 == 9:
        seen = set(t.compile().commit_hashes)
        missing = [h[:12] for h in mine if h not in seen]
        if missing:
            sys.exit(f"worker {args['worker']}: own commits missing from compile(): {missing}")
print(json.dumps(mine))
"""
)


def blob_count(t: Tract) -> int:
    """Blob rows in the whole database (the snapshot only holds the tract's own)."""
    with t.store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(BLOBS)).scalar_one()


# -- a process killed inside batch() --------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sigkill_inside_batch_leaves_the_store_as_before(factory, tmp_path):
    t = factory.open(tract_id="victim")
    t.system("You are terse.")
    question = t.user("How do I return shoes?")
    t.assistant("Within 30 days.")
    t.record_usage(prompt_tokens=12, completion_tokens=4)
    before, digest, blobs = store_snapshot(t), t.compile().digest, blob_count(t)

    ready = tmp_path / "ready"
    args = {"location": factory.location, "tract_id": "victim", "target": question.hash, "ready": str(ready)}
    child = ChildProcess(KILLED_IN_BATCH, args, tmp_path, "batch-child")
    try:
        wait_for_files([ready], [child])
        os.kill(child.proc.pid, signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL, child.stderr()
    finally:
        child.kill()

    assert store_snapshot(t) == before
    assert blob_count(t) == blobs, "the killed batch left blob rows behind"
    assert t.compile().digest == digest
    reopened = factory.open(tract_id="victim")
    assert store_snapshot(reopened) == before
    assert reopened.compile().digest == digest
    assert reopened.verify() > 0

    info = reopened.user("After the crash")
    assert reopened.compile().messages[-1] == {"role": "user", "content": "After the crash"}
    assert t.head == info.hash
    assert t.compile().commit_hashes[-1] == info.hash
    assert [e.new for e in reopened.reflog(limit=1)] == [info.hash]


# -- four processes appending to one tract --------------------------------------------------------

WORKERS = 4
PER_WORKER = 50


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_concurrent_appends_from_four_processes_lose_nothing(factory, tmp_path):
    t = factory.open(tract_id="shared")
    root = t.system("Shared instructions.")
    assert t.compile().commit_hashes == (root.hash,)

    go = tmp_path / "go"
    readies = [tmp_path / f"ready{w}" for w in range(WORKERS)]
    children = [
        ChildProcess(
            APPENDER,
            {
                "location": factory.location,
                "tract_id": "shared",
                "worker": w,
                "n": PER_WORKER,
                "ready": str(readies[w]),
                "go": str(go),
            },
            tmp_path,
            f"worker{w}",
        )
        for w in range(WORKERS)
    ]
    try:
        wait_for_files(readies, children)
        go.write_text("go")
        for child in children:
            code = child.wait()
            assert code == 0, f"{child.name} failed with exit code {code}:\n{child.stderr()}"
    finally:
        for child in children:
            child.kill()
    reported = [json.loads(child.out.read_text()) for child in children]

    # The chain: linear, consistent, and it holds every commit of the tract.
    with t.store.read() as s:
        commits = s.commits.all("shared")
        head = s.refs.head("shared")
        branches = [(r.name, r.commit) for r in s.refs.list("shared")]
    assert head.branch == "main" and branches == [("main", head.commit)]
    chain, current = [], head.commit
    while current is not None:
        assert current in commits, f"the chain reaches a missing commit {current[:12]}"
        stored = commits[current]
        assert len(stored.commit.parents) <= 1, "an append produced a merge commit"
        chain.append(stored)
        current = stored.commit.parent
    chain.reverse()
    hashes = [c.commit.hash for c in chain]
    assert len(chain) == len(commits) == WORKERS * PER_WORKER + 1, "commits off the chain, or lost"
    assert hashes[0] == root.hash
    assert [c.depth for c in chain] == list(range(1, len(chain) + 1))
    for parent, child in pairwise(chain):
        assert child.commit.parents == (parent.commit.hash,)

    # Every worker's commits are on the chain, in the order the worker made them.
    position = {h: i for i, h in enumerate(hashes)}
    for w, mine in enumerate(reported):
        assert len(mine) == PER_WORKER and all(h in position for h in mine), f"worker {w} lost commits"
        assert [position[h] for h in mine] == sorted(position[h] for h in mine)

    # compile() shows each message exactly once, for a cold reader and for the warm parent alike.
    fresh = factory.open(tract_id="shared")
    ctx = fresh.compile()
    contents = [m["content"] for m in ctx.messages]
    expected = ["Shared instructions."] + [f"worker {w} message {k}" for w in range(WORKERS) for k in range(PER_WORKER)]
    assert Counter(contents) == Counter(expected)
    assert list(ctx.commit_hashes) == hashes
    for w in range(WORKERS):
        assert [c for c in contents if c.startswith(f"worker {w} ")] == [
            f"worker {w} message {k}" for k in range(PER_WORKER)
        ]
    assert t.compile().digest == ctx.digest
    assert t.status().commit_count == len(chain)

    # The reflog has one entry per commit, in commit order.
    log = list(reversed(fresh.reflog()))
    assert [(e.ref, e.old, e.new) for e in log] == [("main", c.commit.parent, c.commit.hash) for c in chain]
    assert all(e.action.startswith("commit:") for e in log)
    assert fresh.verify() > 0


# -- a writer that waited for another one ----------------------------------------------------------


def test_a_writer_that_waited_for_another_appends_on_top(factory):
    """Deterministic two-writer case: B's append queues behind A's open transaction, then lands on top."""
    a = factory.open(tract_id="pair")
    a.user("root")
    b = factory.open(tract_id="pair")
    b.compile()
    outcome: list[Any] = []

    def append_b() -> None:
        try:
            outcome.append(b.user("from b"))
        except BaseException as exc:  # reported below
            outcome.append(exc)

    with a.batch():
        mine = a.user("from a")
        thread = threading.Thread(target=append_b, daemon=True)
        thread.start()
        time.sleep(0.3)
        assert not outcome, "B must wait for A's transaction"
    thread.join(timeout=60)
    assert not thread.is_alive(), "B is still blocked after A committed"
    assert not isinstance(outcome[0], BaseException), f"B's append failed: {outcome[0]!r}"
    assert outcome[0].parents == (mine.hash,)
    for t in (a, b, factory.open(tract_id="pair")):
        assert [m["content"] for m in t.compile().messages] == ["root", "from a", "from b"]


# -- bad input raises a TractError and changes nothing --------------------------------------------


def rejected(t: Tract, call: Any, error: type[TractError], match: str) -> TractError:
    """Run ``call``, expect ``error`` with a message matching ``match``, and check nothing changed."""
    before, digest = store_snapshot(t), t.compile().digest
    with pytest.raises(error, match=match) as caught:
        call()
    assert isinstance(caught.value, TractError)
    assert store_snapshot(t) == before, f"{caught.value!r} left the store changed"
    assert t.compile().digest == digest
    cold = Tract.open(store=t.store, tract_id=t.tract_id)
    try:
        assert cold.compile().digest == digest
    finally:
        cold.close()
    return caught.value


def history(t: Tract) -> list[Any]:
    return [t.system("Be brief."), t.user("How do I return shoes?"), t.assistant("Within 60 days.")]


def unused_prefix(t: Tract) -> str:
    with t.store.read() as s:
        known = list(s.commits.all(t.tract_id))
    return next(p for p in ("0000aaaa", "1111bbbb", "2222cccc", "3333dddd") if not any(h.startswith(p) for h in known))


def test_unknown_hash(factory):
    t = factory.open()
    history(t)
    prefix, full = unused_prefix(t), unused_prefix(t) + "0" * 56
    for ref in (prefix, full):
        rejected(t, lambda ref=ref: t.show(ref), CommitNotFoundError, "no commit")
        rejected(t, lambda ref=ref: t.compile(at_commit=ref), CommitNotFoundError, "no commit")
        rejected(t, lambda ref=ref: t.checkout(ref), CommitNotFoundError, "no commit")
        rejected(t, lambda ref=ref: t.annotate(ref, SKIP), CommitNotFoundError, "no commit")
        rejected(
            t,
            lambda ref=ref: t.record_usage(commit=ref, prompt_tokens=1, completion_tokens=1),
            CommitNotFoundError,
            "no commit",
        )
    rejected(t, lambda: t.checkout("no-such-branch"), BranchNotFoundError, "branches: main")
    rejected(t, lambda: t.show("HEAD~3"), CommitNotFoundError, "past the first commit")


def test_ambiguous_prefix(factory):
    t = factory.open()
    seen: dict[str, str] = {}
    pair: tuple[str, str] | None = None
    with t.batch():
        for i in range(5000):
            h = t.user(f"message {i}").hash
            if h[:4] in seen:
                pair = (seen[h[:4]], h)
                break
            seen[h[:4]] = h
    assert pair is not None, "no two of 5000 commits share a 4-character prefix"
    prefix = pair[0][:4]
    error = rejected(t, lambda: t.show(prefix), AmbiguousRefError, "ambiguous")
    assert set(pair) <= set(error.candidates)
    assert pair[0][:12] in str(error) and pair[1][:12] in str(error)
    rejected(t, lambda: t.checkout(prefix), AmbiguousRefError, "ambiguous")
    rejected(t, lambda: t.compile(at_commit=prefix), AmbiguousRefError, "ambiguous")
    rejected(t, lambda: t.annotate(prefix, SKIP), AmbiguousRefError, "ambiguous")
    rejected(t, lambda: t.commit("x", operation=EDIT, response_to=prefix), EditTargetError, "ambiguous")
    for h in pair:  # a longer prefix is unique again
        assert t.show(h[:12]).hash == h


def test_edit_of_a_missing_commit(factory):
    t = factory.open()
    rejected(
        t,
        lambda: t.commit("x", role="user", operation=EDIT, response_to="abcd1234"),
        EditTargetError,
        "nothing to edit",
    )
    history(t)
    missing = unused_prefix(t)
    rejected(t, lambda: t.commit("x", operation=EDIT, response_to=missing), EditTargetError, "cannot EDIT")
    rejected(t, lambda: t.commit("x", operation=EDIT, response_to=missing + "0" * 56), EditTargetError, "cannot EDIT")
    rejected(t, lambda: t.commit("x", role="user", operation=EDIT), EditTargetError, "response_to")
    rejected(t, lambda: t.commit("x", role="user", response_to="HEAD"), InvalidInputError, "only for operation=EDIT")
    rejected(t, lambda: t.commit("x", role="user", operation="rewrite"), InvalidInputError, "APPEND or EDIT")


def test_edit_of_a_commit_outside_the_current_history(factory):
    t = factory.open()
    system, question, answer = history(t)
    t.checkout(question)
    rejected(
        t,
        lambda: t.commit("It is 30 days.", operation=EDIT, response_to=answer),
        EditTargetError,
        "not a message in the current history",
    )
    rejected(t, lambda: t.annotate(answer, SKIP), CommitNotFoundError, "HEAD can reach")
    rejected(
        t,
        lambda: t.commit("Be kind.", role="user", operation=EDIT, response_to=system),
        EditTargetError,
        "keeps the role",
    )
    t.checkout("main")
    edited = t.commit("It is 30 days.", operation=EDIT, response_to=answer)
    assert t.compile().messages[-1]["content"] == "It is 30 days."
    assert edited.response_to == answer.hash


def test_invalid_roles(factory):
    t = factory.open()
    history(t)
    rejected(t, lambda: t.commit("x", role="wizard"), InvalidRoleError, "use one of")
    rejected(t, lambda: t.commit({"role": "robot", "content": "x"}), InvalidRoleError, "use one of")
    rejected(t, lambda: t.commit({"content": "x"}), InvalidRoleError, "no 'role'")
    rejected(t, lambda: t.commit({"role": "user", "content": "x"}, role="assistant"), InvalidRoleError, "contradicts")
    rejected(t, lambda: t.commit("hello"), InvalidRoleError, "needs a role")
    rejected(t, lambda: t.commit(["not", "parts"]), InvalidRoleError, "needs a role")


def test_non_json_metadata_and_generation_config(factory):
    t = factory.open()
    history(t)
    now = datetime.datetime.now()
    rejected(t, lambda: t.user("x", metadata={"at": now}), InvalidInputError, "datetime")
    rejected(t, lambda: t.user("x", metadata={"nested": [{"at": now}]}), InvalidInputError, "datetime")
    rejected(t, lambda: t.user("x", metadata="just text"), InvalidInputError, "must be a dict")
    rejected(t, lambda: t.assistant("x", generation_config={"temperature": float("nan")}), InvalidInputError, "NaN")
    rejected(t, lambda: t.assistant("x", generation_config={"stop": {"a", "b"}}), InvalidInputError, "set")
    rejected(t, lambda: t.commit({"role": "user", "content": "x", "extra": now}), InvalidInputError, "datetime")


def test_metadata_with_non_string_keys_is_rejected(factory):
    """JSON object keys are strings: ``{1: "one"}`` must not be silently stored as ``{"1": "one"}``."""
    t = factory.open()
    history(t)
    rejected(t, lambda: t.user("x", metadata={1: "one"}), InvalidInputError, "non-string key")
    rejected(t, lambda: t.assistant("x", generation_config={None: 1}), InvalidInputError, "non-string key")
    rejected(t, lambda: t.user("x", metadata={"ok": {2.5: "x"}}), InvalidInputError, "non-string key")


def test_token_budget_must_be_positive(tmp_path):
    for budget in (-1, 0):
        with pytest.raises(ConfigError, match="positive"):
            TractConfig(token_budget=budget)
    for budget in (1.5, True, "100"):
        with pytest.raises(ConfigError, match="whole number"):
            TractConfig(token_budget=budget)
    path = tmp_path / "budget.db"
    with pytest.raises(ConfigError):
        Tract.open(path=path, config=TractConfig(token_budget=-1))
    assert not path.exists()
    with pytest.raises(InvalidInputError, match="TractConfig"):
        Tract.open(path=path, config={"token_budget": 100})  # type: ignore[arg-type]
    assert not path.exists()
    assert issubclass(ConfigError, TractError)


def test_annotate_with_an_invalid_priority(factory):
    t = factory.open()
    _, question, _ = history(t)
    for priority in ("urgent", 3, None, "PINNED!"):
        rejected(
            t, lambda priority=priority: t.annotate(question, priority), InvalidInputError, "PINNED, SKIP or NORMAL"
        )
    rejected(t, lambda: t.annotate(question, PINNED, reason=42), InvalidInputError, "reason")
    rejected(t, lambda: t.annotate(question, "high"), InvalidInputError, "'high'")


def test_record_usage_with_negative_counts(factory):
    t = factory.open()
    history(t)
    t.record_usage(prompt_tokens=10, completion_tokens=2)
    rejected(t, lambda: t.record_usage(prompt_tokens=-1, completion_tokens=2), InvalidInputError, "negative")
    rejected(t, lambda: t.record_usage({"prompt_tokens": 5, "completion_tokens": -5}), InvalidInputError, "negative")
    rejected(t, lambda: t.record_usage({"input_tokens": -3, "output_tokens": 1}), InvalidInputError, "negative")
    rejected(t, lambda: t.record_usage(prompt_tokens=1.5, completion_tokens=2), InvalidInputError, "whole number")
    rejected(t, lambda: t.record_usage(), InvalidInputError, "needs usage numbers")
    assert t.status().last_usage.prompt_tokens == 10


def test_newer_schema_is_refused_and_left_untouched(tmp_path):
    import sqlite3

    path = tmp_path / "future.db"
    with Tract.open(path=path) as t:
        t.user("written by this version")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE tract_schema SET version = 999")
    db.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    content = path.read_bytes()

    with pytest.raises(SchemaVersionError, match=r"version 999.*upgrade") as caught:
        Tract.open(path=path)
    assert isinstance(caught.value, TractError)
    with pytest.raises(SchemaVersionError):
        Tract.open(path=path, create=False)
    with pytest.raises(SchemaVersionError):
        Tract.list_tracts(path)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == files


@pytest.mark.parametrize("backend", ["postgres"])
def test_newer_schema_is_refused_on_postgres(factory):
    t = factory.open()
    t.user("written by this version")
    t.close()
    from sqlalchemy import create_engine, text

    engine = create_engine(factory.location["url"])
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE tract_schema SET version = 999"))
        with pytest.raises(SchemaVersionError, match="999"):
            Tract.open(**factory.location)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version FROM tract_schema")).scalar_one() == 999
            assert conn.execute(text("SELECT count(*) FROM tract_commits")).scalar_one() == 1
    finally:
        engine.dispose()


def test_opening_a_missing_database_without_create(tmp_path):
    missing = tmp_path / "missing.db"
    with pytest.raises(DatabaseNotFoundError, match="missing.db") as caught:
        Tract.open(path=missing, create=False)
    assert isinstance(caught.value, TractError)
    with pytest.raises(DatabaseNotFoundError):
        Tract.list_tracts(missing)
    with pytest.raises(DatabaseNotFoundError, match="does not exist"):
        Tract.open(path=tmp_path / "no-folder" / "x.db")
    assert list(tmp_path.iterdir()) == []

    with Tract.open(path=tmp_path / "real.db", tract_id="present") as t:
        t.user("hi")
    with pytest.raises(TractNotFoundError, match="present"):
        Tract.open(path=tmp_path / "real.db", tract_id="absent", create=False)
    assert Tract.list_tracts(tmp_path / "real.db") == ["present"]
