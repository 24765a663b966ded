"""Pre- and post-context nodes (``attach_to=``/``offset=``, ``at=``) and sticky offsets (DESIGN 14)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tract_core import (
    SKIP,
    CommitNotFoundError,
    InvalidInputError,
    Sticky,
    Temporary,
    Tract,
)
from tract_core.store import migrations
from tract_core.testing.snapshot import database_digest
from tract_core.tree import Placement

DATA = Path(__file__).resolve().parents[1] / "data"
V8_HEAD = "8736d0b039946c74097267bb1c12a09523f1a8cac1450e77e449c725985815d1"
V8_DIGEST = "6dee81b6d1f96ff0c66b46b0d1057679da2c00625a862ad1fd0be56f37431aff"


def shown(t: Tract, at: str | None = None) -> list[str]:
    return [m["content"] for m in t.compile(at_commit=at).messages]


def coordinates(t: Tract) -> dict[str, tuple[int, int, int]]:
    snap = t.snapshot()
    return {m["content"]: n.coordinate for n, m in zip(snap.nodes, snap.messages, strict=True)}


def test_attached_nodes_show_around_their_message_ordered_by_offset_then_history():
    with Tract.open() as t:
        t.system("S")
        q = t.user("question")
        t.user("post 2", attach_to=q, offset=2)
        t.user("post 1", attach_to=q, offset=1)
        t.user("pre -1", attach_to=q, offset=-1)
        t.user("pre -2", attach_to=q, offset=-2)
        t.user("pre -1 again", attach_to=q, offset=-1)
        assert shown(t) == ["S", "pre -2", "pre -1", "pre -1 again", "question", "post 1", "post 2"]
        assert t.show(t.log(limit=1)[0]).placement == Placement(q.hash, -1)


def test_an_attached_node_keeps_its_anchor_place_and_coordinates_as_cycles_pass():
    with Tract.open() as t:
        t.system("S")
        q = t.user("question")
        t.assistant("answer")
        t.user("(the question was about units)", attach_to=q, offset=1)  # added a cycle later
        t.user("next")
        assert shown(t) == ["S", "question", "(the question was about units)", "answer", "next"]
        assert coordinates(t)["(the question was about units)"] == (1, 0, 1)
        for i in range(3):
            t.assistant(f"a{i}")
            t.user(f"u{i}")
        # ODI: the depth grows with the cycles; index and offset stay
        assert coordinates(t)["question"] == (4, 0, 0)
        assert coordinates(t)["(the question was about units)"] == (4, 0, 1)
        assert shown(t)[1:4] == ["question", "(the question was about units)", "answer"]


def test_at_names_the_message_by_its_coordinates_in_the_current_context():
    with Tract.open() as t:
        t.system("S")
        t.user("first")
        t.assistant("reply")
        t.user("second")
        t.user("(about the reply)", at=(1, 1, 1))
        assert shown(t) == ["S", "first", "reply", "(about the reply)", "second"]
        assert coordinates(t)["(about the reply)"] == (1, 1, 1)
        t.system("(before everything)", at=(-1, 0, -1))
        assert shown(t)[:2] == ["(before everything)", "S"]


def test_an_attached_node_keeps_its_own_priority_and_lifecycle():
    with Tract.open() as t:
        t.system("S")
        q = t.user("question")
        note = t.user("note", attach_to=q, offset=1, lifecycle=Temporary(0))
        t.user("after")
        t.annotate(q, SKIP)
        assert shown(t) == ["S", "note", "after"]  # the note stays where the question would be
        t.assistant("a")
        assert "note" not in shown(t)  # its own ttl ran out
        assert t.show(note).lifecycle == Temporary(0)


def test_sticky_offsets_place_nodes_before_or_after_the_active_head_every_cycle():
    with Tract.open() as t:
        t.system("S")
        t.user("u0")
        t.assistant("a0")
        t.user("(plan)", lifecycle=Sticky(offset=-1))
        t.user("(first of all)", lifecycle=Sticky(offset=-2))
        t.user("(remember)", lifecycle=Sticky())
        t.user("u1")
        assert shown(t) == ["S", "u0", "a0", "(first of all)", "(plan)", "u1", "(remember)"]
        t.assistant("a1")
        t.user("u2")
        assert shown(t) == ["S", "u0", "a0", "u1", "a1", "(first of all)", "(plan)", "u2", "(remember)"]
    assert Sticky().to_json() == Sticky(offset=1).to_json() == '{"sticky":true}'
    assert Sticky(offset=-1).to_json() == '{"offset":-1,"sticky":true}'


def test_a_sticky_node_before_the_head_of_a_tract_without_replies_follows_the_system_prompt():
    with Tract.open() as t:
        t.system("S")
        t.user("u0")
        t.user("(plan)", lifecycle=Sticky(offset=-1))
        assert shown(t) == ["S", "(plan)", "u0"]


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"offset": 1}, "give attach_to="),
        ({"attach_to": "first"}, "needs offset="),
        ({"attach_to": "first", "offset": 0}, "non-zero whole number"),
        ({"attach_to": "first", "offset": True}, "non-zero whole number"),
        ({"at": (7, 0, 1)}, "no message at (7, 0, 0)"),
        ({"at": (1, 0, 0)}, "non-zero whole number"),
        ({"at": (1, 0)}, "three whole numbers"),
        ({"at": (1, 0, 1), "attach_to": "first"}, "not both"),
        ({"attach_to": "note", "offset": 1}, "itself attached"),
        ({"attach_to": "first", "offset": 1, "role": "assistant"}, "not a assistant message"),
        ({"lifecycle": {"sticky": True, "offset": 0}}, "sticky offset"),
        ({"lifecycle": {"offset": -1}}, "give sticky=True"),
    ],
)
def test_bad_placements_are_refused_and_write_nothing(kwargs, problem):
    with Tract.open() as t:
        t.system("S")
        first = t.user("first")
        t.assistant("reply")
        note = t.user("note", attach_to=first, offset=1)
        refs = {"first": first.hash, "note": note.hash}
        if isinstance(kwargs.get("attach_to"), str):
            kwargs = {**kwargs, "attach_to": refs[kwargs["attach_to"]]}
        role = kwargs.pop("role", "user")
        before = database_digest(t.store)
        with pytest.raises(InvalidInputError, match=problem.replace("(", r"\(").replace(")", r"\)")):
            t.commit("x", role=role, **kwargs)
        assert database_digest(t.store) == before


def test_attaching_to_an_unknown_or_unreachable_message_is_a_commit_not_found_error():
    with Tract.open() as t:
        t.system("S")
        t.branch("side", switch=True)
        other = t.user("only on side")
        t.switch("main")
        before = database_digest(t.store)
        with pytest.raises(CommitNotFoundError, match="HEAD can reach"):
            t.user("x", attach_to=other, offset=1)
        with pytest.raises(CommitNotFoundError):
            t.user("x", attach_to="0" * 64, offset=1)
        assert database_digest(t.store) == before


def test_an_edit_keeps_its_place_and_takes_no_placement():
    with Tract.open() as t:
        t.system("S")
        q = t.user("question")
        note = t.user("note", attach_to=q, offset=-1)
        t.commit("new note", operation="edit", response_to=note)
        assert shown(t) == ["S", "new note", "question"]
        with pytest.raises(InvalidInputError, match="EDIT keeps its place"):
            t.commit("x", operation="edit", response_to=note, attach_to=q, offset=1)
        edit = t.commit("the question", operation="edit", response_to=q)
        t.user("via the edit", attach_to=edit, offset=1)  # an EDIT names the message it edits
        assert shown(t)[1:4] == ["new note", "the question", "via the edit"]


def test_the_placement_is_hashed_and_rebase_and_cherry_pick_carry_it():
    with Tract.open() as t:
        t.system("S")
        q = t.user("question")
        a = t.user("note", attach_to=q, offset=-1)
        with Tract.open() as other:
            other.system("S")
            q2 = other.user("question")
            b = other.user("note", attach_to=q2, offset=1)
            assert q2.hash == q.hash and b.hash != a.hash  # same content, another place: another commit
        t.branch("side", switch=True)
        t.user("side work")
        t.switch("main")
        t.user("main work")
        t.switch("side")
        t.rebase("main")
        assert shown(t) == ["S", "note", "question", "main work", "side work"]
        t.switch("main")
        t.branch("bare", t.log(limit=None)[-1], switch=True)  # only the system prompt
        result = t.cherry_pick(a)
        assert any("not in the new history" in w for w in result.warnings)
        assert shown(t) == ["S", "note"]  # its anchor is not here: a core node at its own place


def test_the_same_history_with_placements_compiles_to_the_same_bytes_on_every_backend(factory):
    t = factory.open()
    t.system("S")
    q = t.user("question")
    t.user("pre", attach_to=q, offset=-1)
    t.assistant("answer")
    t.user("post", at=(1, 0, 1))
    t.user("(plan)", lifecycle=Sticky(offset=-1))
    t.user("next")
    assert shown(t) == ["S", "pre", "question", "post", "answer", "(plan)", "next"]
    assert t.compile().digest == "e7f2fd2607633f750054728e213ca0e01b8c573de596a5859b8a76ae636e9853"
    assert t.verify() == 14  # commits + blobs, every hash (placements included) checked


def test_a_version_8_file_upgrades_unchanged_and_takes_placements(tmp_path):
    path = tmp_path / "v8.db"
    shutil.copy(DATA / "schema_v8.db", path)
    with Tract.open(path=path) as t:
        assert t.head == V8_HEAD and t.compile().digest == V8_DIGEST
        assert t.verify() == 14
        question = next(c for c in t.log() if c.content == "What's the weather in NYC?")
        t.user("(in Fahrenheit)", attach_to=question, offset=1)
        assert shown(t)[1:3] == ["What's the weather in NYC?", "(in Fahrenheit)"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM tract_schema").fetchone()[0] == migrations.SCHEMA_VERSION >= 9
    with Tract.open(path=path) as t:
        assert t.verify() == 16 and shown(t)[2] == "(in Fahrenheit)"


def test_compress_select_takes_the_history_range_of_a_selection_with_attached_nodes():
    with Tract.open() as t:
        t.system("S")
        t.user("u0")
        call = {"id": "c1", "type": "function", "function": {"name": "read", "arguments": "{}"}}
        t.assistant(None, tool_calls=[call])
        result = t.tool_result("c1", "a long file")
        t.assistant("read it")
        t.user("u1")
        t.user("(the file is outdated)", attach_to=result, offset=1)  # committed later, shown after the result
        t.assistant("ok")
        t.user("u2")
        # one run of the context (call, result, note) but not of history: u1 and the reply lie between
        with pytest.raises(InvalidInputError, match="not of history"):
            t.compress(content="read a file", select="^seq (d3,1,0), (d2,0,0), (d2,0,1)")
        # from the first message to u1: one run of the context and of history
        t.compress(content="read a file; it is outdated", select="^seq (d3), (d2), (d1,0)")
        assert shown(t) == ["S", "read a file; it is outdated", "ok", "u2"]
