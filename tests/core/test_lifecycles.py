"""Lifecycles and keyed nodes (DESIGN 14): what compile shows cycle by cycle, computed from history."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tract_core import (
    PINNED,
    SKIP,
    Cyclic,
    InvalidInputError,
    Lifecycle,
    Permanent,
    Sticky,
    Temporary,
    Tract,
)
from tract_core.objects import APPEND, Commit, ObjectId, canonical_json
from tract_core.store import migrations

DATA = Path(__file__).resolve().parents[1] / "data"
V6_HEAD = "13719d8087af3d9d2568aedf81b776898abebe6417bcccaa6dc851e98cbff893"
V6_DIGEST = "be22031765143a81ebd1e7eaeebd11aa58da86dc962e504b774d3d37287e47e6"


def shown(t: Tract, at: str | None = None) -> list[str]:
    return [m["content"] for m in t.compile(at_commit=at).messages]


def visibility(lifecycle: Lifecycle | None, cycles: int) -> list[bool]:
    """Whether a user message committed with ``lifecycle`` is shown after 0, 1, ... ``cycles`` replies."""
    with Tract.open() as t:
        t.system("S")
        t.user("node", lifecycle=lifecycle)
        row = ["node" in shown(t)]
        for i in range(cycles):
            t.assistant(f"a{i}")
            t.user(f"u{i}")
            row.append("node" in shown(t))
        return row


@pytest.mark.parametrize(
    ("lifecycle", "expected"),
    [
        (None, "111111"),
        (Permanent(), "111111"),
        (Temporary(0), "100000"),
        (Temporary(2), "111000"),
        (Cyclic(3, 1), "100100"),
        (Cyclic(every=3, visible_for=2), "110110"),
        (Lifecycle(ttl=3, cadence=2), "101000"),
        ({"cadence": 2}, "101010"),
        (Sticky(), "111111"),
    ],
)
def test_each_preset_is_shown_in_the_cycles_it_says(lifecycle, expected):
    assert "".join("1" if v else "0" for v in visibility(lifecycle, 5)) == expected


def test_presets_are_lifecycles_and_only_non_default_fields_are_stored():
    assert Temporary(2) == Lifecycle(ttl=2) and Cyclic(4, 2) == Lifecycle(cadence=4, window=2)
    assert Sticky().to_json() == '{"sticky":true}' and Permanent().to_json() is None
    with Tract.open() as t:
        plain = t.user("plain", lifecycle=Permanent())
        timed = t.user("timed", lifecycle={"ttl": 1})
        assert plain.lifecycle is None and timed.lifecycle == Temporary(1)
        assert t.show(timed).lifecycle == Temporary(1)


def test_sticky_is_rendered_after_the_active_head_every_cycle():
    with Tract.open() as t:
        t.system("S")
        t.user("rules", lifecycle=Sticky())
        t.user("q1")
        assert shown(t) == ["S", "q1", "rules"]
        t.assistant("a1")
        t.user("q2")
        assert shown(t) == ["S", "q1", "a1", "q2", "rules"]
        nodes = t.snapshot().nodes
        assert nodes[-1].lifecycle == {"sticky": True} and nodes[-1].region == "^ah"


def test_a_newer_keyed_node_supersedes_the_older_and_history_keeps_both():
    with Tract.open() as t:
        t.system("S")
        old = t.user("weather NYC: rain", key="weather:NYC")
        t.user("weather LA: sun", key="weather:LA")
        t.assistant("ok")
        new = t.user("weather NYC: snow", key="weather:NYC")
        assert shown(t) == ["S", "weather LA: sun", "ok", "weather NYC: snow"]
        assert [c.hash for c in t.log() if c.key == "weather:NYC"] == [new.hash, old.hash]
        assert t.show(old).key == "weather:NYC"
        assert t.snapshot().node(new.hash).key == "weather:NYC"


def test_ttl_beats_pinned_and_skip_beats_everything():
    with Tract.open() as t:
        t.system("S")
        note = t.user("note", lifecycle=Temporary(0))
        keyed = t.user("state", key="k")
        t.annotate(note, PINNED)
        t.annotate(keyed, SKIP)
        assert shown(t) == ["S", "note"]
        t.assistant("a")
        assert shown(t) == ["S", "a"]
        sticky = t.user("always", lifecycle=Sticky())
        t.annotate(sticky, SKIP)
        assert "always" not in shown(t)


def test_hiding_one_side_of_a_tool_pair_hides_the_other():
    call = {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    call2 = {**call, "id": "c2"}
    with Tract.open() as t:
        t.system("S")
        t.user("weather?")
        t.assistant(tool_calls=[call], lifecycle=Temporary(0))
        t.tool_result("c1", "rain")
        assert shown(t)[-1] == "rain"
        t.assistant("It rains.")  # the call expires: its result goes with it
        assert shown(t) == ["S", "weather?", "It rains."]

        t.user("and now?")
        t.assistant(tool_calls=[call2])
        t.tool_result("c2", "sun", key="weather")
        t.assistant(tool_calls=[{**call, "id": "c3"}])
        t.tool_result("c3", "snow", key="weather")  # supersedes the result of c2: its call goes too
        roles = [(m["role"], m.get("tool_call_id"), [c["id"] for c in m.get("tool_calls") or ()]) for m in t.compile()]
        assert ("tool", "c2", []) not in roles and ("assistant", None, ["c2"]) not in roles
        assert roles[-2:] == [("assistant", None, ["c3"]), ("tool", "c3", [])]


def test_compile_at_a_past_commit_shows_what_was_visible_then():
    with Tract.open() as t:
        t.system("S")
        t.user("note", lifecycle=Temporary(1))
        t.assistant("a0")
        then = t.user("q1")
        t.assistant("a1")
        t.user("q2")
        assert "note" not in shown(t)
        assert shown(t, then.hash) == ["S", "note", "a0", "q1"]
        assert "note" in shown(t, "@t-1") and "note" not in shown(t, "@t0")
        incremental = t.compile().digest
        t._compiler.clear()  # a cold compile from history gives the same bytes
        assert t.compile().digest == incremental
        assert shown(t, then.hash) == ["S", "note", "a0", "q1"]


def test_compression_keeps_live_nodes_verbatim_and_drops_expired_ones():
    with Tract.open() as t:
        t.system("S")
        gone = t.user("expired", lifecycle=Temporary(0))
        t.assistant("a0")
        live = t.user("still live", lifecycle=Temporary(9))
        keyed = t.user("state v1", key="state")
        t.user("state v2", key="state")
        t.user("plain")
        t.assistant("a1")
        t.user("recent")
        result = t.compress("SUMMARY", keep_recent=1)
        assert gone.hash not in result.replaced and keyed.hash not in result.replaced
        assert live.hash not in result.replaced and len(result.kept) == 2
        assert shown(t) == ["S", "SUMMARY", "still live", "state v2", "recent"]
        # the kept node's copy counts a1 (summarised after it) into its age: see test_lifecycle_compression.py
        assert [t.show(h).lifecycle for h in result.kept] == [Lifecycle(ttl=9, elapsed=1), None]
        assert t.show(result.kept[1]).key == "state"


def test_cherry_pick_carries_the_lifecycle_and_key():
    with Tract.open() as t:
        t.system("S")
        t.branch("side", switch=True)
        picked = t.user("tip", lifecycle=Cyclic(2), key="tips")
        t.switch("main")
        t.user("main's own")
        copy = t.cherry_pick(picked.hash).head
        info = t.show(copy)
        assert info.lifecycle == Cyclic(2) and info.key == "tips" and copy != picked.hash
        t.assistant("a")
        assert "tip" not in shown(t)


def test_commits_without_a_lifecycle_keep_their_hash():
    parents, blob = (ObjectId("0" * 64),), ObjectId("ab" * 32)
    commit = Commit(parents, blob, "user", "dialogue", APPEND, metadata_json='{"a":1}', message="m")
    assert commit.hash == "93bf689553f8e2e816757c7fbf34ff2fb698685b596ef908e5e5a8463aa823b0"  # the schema-6 code's
    timed = Commit(
        parents,
        blob,
        "user",
        "dialogue",
        APPEND,
        metadata_json='{"a":1}',
        message="m",
        lifecycle_json='{"ttl":1}',
        key="k",
    )
    assert timed.hash != commit.hash
    assert timed.canonical_text() == canonical_json(timed.payload())
    assert commit.canonical_text() == canonical_json(commit.payload()) and "lifecycle" not in commit.payload()


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"lifecycle": {"ttl": -1}}, "ttl must be >= 0"),
        ({"lifecycle": {"ttl": "2"}}, "whole number"),
        ({"lifecycle": {"window": 2}}, "needs a cadence"),
        ({"lifecycle": {"cadence": 2, "window": 3}}, "cannot be larger"),
        ({"lifecycle": {"ttl": True}}, "whole number"),
        ({"lifecycle": {"forever": True}}, "unknown lifecycle field"),
        ({"lifecycle": 3}, "must be a Lifecycle"),
        ({"key": ""}, "non-empty"),
        ({"key": "a\nb"}, "control character"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(kwargs, problem):
    with Tract.open() as t:
        t.system("S")
        before = t.head
        with pytest.raises(InvalidInputError, match=problem):
            t.user("x", **kwargs)
        assert t.head == before and len(t.log()) == 1


def test_an_edit_keeps_the_original_lifecycle_and_takes_none_itself():
    with Tract.open() as t:
        note = t.user("note", lifecycle=Temporary(0))
        with pytest.raises(InvalidInputError, match="APPEND"):
            t.commit("new", operation="edit", response_to=note, lifecycle=Temporary(3))
        t.commit("new note", operation="edit", response_to=note)
        assert shown(t) == ["new note"]
        t.assistant("a")
        assert shown(t) == ["a"]


def test_a_lifecycle_change_is_a_pact_change():
    with Tract.open() as t:
        t.system("S")
        t.user("v1", key="k")
        before = t.head
        newer = t.user("v2", key="k", lifecycle=Temporary(3))
        change = t.diff(before, format="pact")
        assert change["added"] == [newer.hash] and len(change["removed"]) == 1
        snap = t.snapshot()
        assert snap.node(newer.hash).lifecycle == {"ttl": 3}
        assert type(snap).from_bytes(snap.canonical_bytes()) == snap


def test_the_same_history_compiles_to_the_same_bytes_on_every_backend(factory):
    t = factory.open()
    t.system("S")
    t.user("weather NYC: rain", key="weather:NYC", lifecycle=Temporary(2))
    t.user("rules", lifecycle=Sticky())
    t.user("tip", lifecycle=Cyclic(2))
    for i in range(4):
        t.assistant(f"a{i}")
        t.user(f"weather NYC: {i}", key="weather:NYC")
    assert t.compile().digest == "6015e45730432bc15d8ac210ef1806469d09645a77dadd13f1647a9973ffcaca"
    assert t.snapshot("@t-2").digest == t.snapshot("@t-2").digest
    assert t.verify() == 24


def test_a_version_6_file_upgrades_unchanged_and_takes_lifecycles(tmp_path):
    path = tmp_path / "v6.db"
    shutil.copy(DATA / "schema_v6.db", path)
    with Tract.open(path=path) as t:
        assert t.head == V6_HEAD and t.compile().digest == V6_DIGEST and t.verify() == 14
        timed = t.user("for one cycle", lifecycle=Temporary(1), key="k")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM tract_schema").fetchone()[0] == migrations.SCHEMA_VERSION >= 7
        stored = conn.execute("SELECT lifecycle, node_key FROM tract_commits WHERE hash = ?", (timed.hash,)).fetchone()
        assert stored == ('{"ttl":1}', "k")
        assert json.loads(stored[0]) == {"ttl": 1}
    with Tract.open(path=path) as t:
        assert t.show(timed).lifecycle == Temporary(1) and t.verify() == 16
        assert "for one cycle" in shown(t)
