"""``t.set_lifecycle``: changing a message's lifecycle later, as an append-only row anchored at HEAD
(DESIGN 14, issue 14): visibility over cycles, branches, time travel, merge, rebase, cherry-pick,
compression, gc, verify, snapshots, backends, the toolkit and the schema-7 upgrade."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tract_core import (
    NORMAL,
    SKIP,
    CommitNotFoundError,
    Cyclic,
    InvalidInputError,
    Lifecycle,
    LifecycleInfo,
    Permanent,
    Sticky,
    Temporary,
    Tract,
    storage,
)
from tract_core.store import migrations
from tract_core.testing import database_digest

DATA = Path(__file__).resolve().parents[1] / "data"
V7_HEAD = "b88c4e94ed7eb6aa52278c97b9ad58b6b2d673d7bb1949a34870046da87489b2"
V7_DIGEST = "3caa064e8754cc2e098d2d9ddf94adfd80e08544b6ef585251fe7507e4822ac5"


def shown(t: Tract, at: Any = None) -> list[str]:
    return [m["content"] for m in t.compile(at_commit=at).messages]


def visibility(change: Any, cycles: int = 5, *, committed_with: Any = None, wait: int = 1) -> str:
    """Commit ``node`` (with ``committed_with``), let ``wait`` cycles pass, ``set_lifecycle(node, change)``,
    then whether it is shown now and after each of ``cycles`` more replies ("1" shown, "0" hidden)."""
    with Tract.open() as t:
        t.system("S")
        node = t.user("node", lifecycle=committed_with)
        for i in range(wait):
            t.assistant(f"w{i}")
            t.user(f"q{i}")
        t.set_lifecycle(node, change)
        row = ["node" in shown(t)]
        for i in range(cycles):
            t.assistant(f"a{i}")
            t.user(f"u{i}")
            row.append("node" in shown(t))
        return "".join("1" if seen else "0" for seen in row)


@pytest.mark.parametrize(
    ("change", "committed_with", "expected"),
    [
        (Temporary(2), None, "111000"),  # this cycle and 2 more, counted from the change
        ({"ttl": 0}, None, "100000"),
        (Cyclic(3, 1), None, "100100"),
        (Cyclic(every=2, visible_for=1), None, "101010"),
        (None, Temporary(0), "111111"),  # expired before the change: back, for good
        (Permanent(), Temporary(0), "111111"),
        (Temporary(1), Temporary(0), "110000"),  # an expired message comes back for the new ttl
        (Lifecycle(ttl=3, cadence=2), None, "101000"),
    ],
)
def test_the_new_lifecycle_counts_from_the_cycle_it_was_set_in(change, committed_with, expected):
    assert visibility(change, committed_with=committed_with) == expected


def test_sticky_set_later_moves_the_message_to_the_end_every_cycle():
    with Tract.open() as t:
        t.system("S")
        rules = t.user("rules")
        t.assistant("a0")
        t.user("q1")
        t.set_lifecycle(rules, Sticky())
        assert shown(t) == ["S", "a0", "q1", "rules"]
        t.assistant("a1")
        assert shown(t)[-1] == "rules"
        t.set_lifecycle(rules, None)
        assert shown(t) == ["S", "rules", "a0", "q1", "a1"]


def test_the_latest_change_wins_and_show_lists_every_change():
    with Tract.open() as t:
        t.system("S")
        node = t.user("node")
        t.set_lifecycle(node, Temporary(0), reason="one turn only")
        t.set_lifecycle(node, Temporary(5))
        t.assistant("a")
        t.assistant("b")
        assert "node" in shown(t)
        changes = t.show(node).lifecycle_changes
        assert [(c.lifecycle, c.reason) for c in changes] == [(Temporary(0), "one turn only"), (Temporary(5), None)]
        assert all(isinstance(c, LifecycleInfo) for c in changes)
        assert t.show(node).annotations == () and t.show(node).lifecycle is None  # the commit is unchanged
        head = t.head
        with storage.read(t.store) as tx:
            assert tx.annotations(t.tract_id) == []  # priorities only
            assert tx.priorities(t.tract_id, storage.compile_order(head, tx.history(t.tract_id)))[node.hash] == NORMAL


def test_a_lifecycle_row_leaves_the_priority_alone_and_skip_still_hides():
    with Tract.open() as t:
        t.system("S")
        node = t.user("node")
        t.annotate(node, SKIP)
        t.set_lifecycle(node, Temporary(3))
        assert "node" not in shown(t)
        assert t.compile(at_commit=t.head) is not None and [a.priority for a in t.show(node).annotations] == [SKIP]
        t.annotate(node, "normal")
        assert "node" in shown(t)


def test_an_edit_names_the_message_it_edits_and_keys_still_supersede():
    with Tract.open() as t:
        t.system("S")
        old = t.user("weather: rain", key="weather")
        fixed = t.commit("weather: drizzle", role="user", operation="edit", response_to=old)
        info = t.set_lifecycle(fixed, Temporary(0))
        assert info.target == old.hash
        assert "weather: drizzle" in shown(t)
        t.user("weather: sun", key="weather")
        t.set_lifecycle(old, None)  # permanent, but a newer node with its key supersedes it
        assert "weather: drizzle" not in shown(t) and "weather: sun" in shown(t)
        t.assistant("a")
        assert "weather: drizzle" not in shown(t)


def test_other_branches_and_past_commits_are_unaffected():
    with Tract.open() as t:
        t.system("S")
        node = t.user("node")
        t.assistant("a0")
        t.branch("side")
        t.user("main goes on")
        before = t.head
        t.switch("side")
        t.user("side goes on")
        t.switch("main")
        t.set_lifecycle(node, Temporary(0))
        t.assistant("a1")
        assert "node" not in shown(t)
        assert "node" in shown(t, before)  # what the model was sent then
        assert "node" in shown(t, "side")
        t.switch("side")
        t.assistant("s1")
        assert "node" in shown(t)


def test_bad_input_and_bad_targets_write_nothing(tmp_path):
    with Tract.open(tmp_path / "t.db") as t:
        empty_error = pytest.raises(CommitNotFoundError, match="no commits to change the lifecycle")
        with empty_error:
            t.set_lifecycle("0" * 64, Temporary(1))
        t.system("S")
        node = t.user("node")
        t.branch("side")
        t.switch("side")
        elsewhere = t.user("only on side")
        t.switch("main")
        before = database_digest(t.store)
        for bad, problem in [
            ({"ttl": -1}, "ttl must be >= 0"),
            ({"window": 2}, "needs a cadence"),
            ({"forever": True}, "unknown lifecycle field"),
            (3, "must be a Lifecycle"),
        ]:
            with pytest.raises(InvalidInputError, match=problem):
                t.set_lifecycle(node, bad)
        with pytest.raises(InvalidInputError):
            t.set_lifecycle(node, Temporary(1), reason=5)
        with pytest.raises(CommitNotFoundError):
            t.set_lifecycle("deadbeef", Temporary(1))
        with pytest.raises(CommitNotFoundError, match="change the lifecycle of a message HEAD can reach"):
            t.set_lifecycle(elsewhere, Temporary(1))
        assert database_digest(t.store) == before


def _diverged(t: Tract) -> Any:
    """A message, then branches main and other that each went on from it (HEAD on main)."""
    t.system("S")
    node = t.user("node")
    t.assistant("a0")
    t.branch("other")
    t.user("m1")
    t.switch("other")
    t.user("o1")
    t.switch("main")
    return node


def test_different_changes_on_two_branches_conflict_and_resolve():
    with Tract.open() as t:
        node = _diverged(t)
        t.set_lifecycle(node, Temporary(0))
        t.switch("other")
        t.set_lifecycle(node, Cyclic(2))
        t.switch("main")
        pending = t.merge("other", auto_commit=False)
        [conflict] = pending.conflicts
        assert (conflict.kind, conflict.target) == ("lifecycle", node.hash)
        assert (conflict.base, conflict.ours, conflict.theirs) == (None, Temporary(0), Cyclic(2))
        with pytest.raises(InvalidInputError, match="lifecycle conflict"):
            pending.resolve(node, {"ttl": -2})
        pending.resolve(node, {"ttl": 1})
        result = pending.commit()
        assert result.kind == "merge" and t.show(node).lifecycle_changes[-1].lifecycle == Temporary(1)
        assert "node" in shown(t)
        t.assistant("x")
        assert "node" in shown(t)
        t.assistant("y")
        assert "node" not in shown(t)


@pytest.mark.parametrize("strategy", ["ours", "theirs"])
def test_a_lifecycle_conflict_takes_a_side_with_a_strategy(strategy):
    with Tract.open() as t:
        node = _diverged(t)
        t.set_lifecycle(node, Temporary(0))
        t.switch("other")
        t.set_lifecycle(node, Temporary(5))
        t.switch("main")
        t.merge("other", strategy=strategy)
        t.assistant("later")
        assert ("node" in shown(t)) is (strategy == "theirs")


def test_the_same_change_on_both_sides_and_a_one_sided_change_merge_cleanly():
    with Tract.open() as t:
        node = _diverged(t)
        other = t.user("other node")
        t.set_lifecycle(node, Temporary(0))
        t.switch("other")
        t.set_lifecycle(node, Temporary(0))
        t.switch("main")
        assert t.merge("other").resolved == ()
        t.assistant("a1")
        assert "node" not in shown(t) and "other node" in shown(t)
        t.branch("third")
        t.user("m2")
        t.switch("third")
        t.user("t2")
        t.set_lifecycle(other, Temporary(0))
        t.switch("main")
        assert t.merge("third").resolved == ()
        t.assistant("a2")
        assert "other node" not in shown(t)


def test_rebase_and_cherry_pick_carry_the_change_with_its_age():
    with Tract.open() as t:
        t.system("S")
        t.user("q")
        t.assistant("a0")
        t.branch("feature")
        t.user("m1")
        t.assistant("ma")
        t.switch("feature")
        node = t.user("node")
        t.set_lifecycle(node, Temporary(1))
        t.assistant("fa")
        assert "node" in shown(t)
        t.rebase("main")
        assert "node" in shown(t)  # one cycle old: still shown
        t.assistant("fb")
        assert "node" not in shown(t)  # the count went on, it did not start again
        t.switch("main")
        picked_from = t.user("picked")
        t.set_lifecycle(picked_from, Temporary(0))
        t.switch("feature")
        t.cherry_pick(picked_from)
        assert "picked" in shown(t)
        t.assistant("fc")
        assert "picked" not in shown(t)


def test_compression_keeps_a_live_changed_message_and_its_count(tmp_path):
    with Tract.open(tmp_path / "c.db") as t:
        t.system("S")
        node = t.user("remember this")
        for i in range(4):
            t.assistant(f"a{i}")
            t.user(f"u{i}")
        t.set_lifecycle(node, Temporary(1))
        result = t.compress(content="Summary of the early turns.", keep_recent=2)
        assert "remember this" in shown(t)
        assert result.head == t.head
        t.assistant("b")
        assert "remember this" in shown(t)
        t.assistant("c")
        assert "remember this" not in shown(t)
        assert t.verify() > 0


def test_verify_chains_lifecycle_rows_and_finds_a_changed_one(tmp_path):
    path = tmp_path / "v.db"
    with Tract.open(path) as t:
        t.system("S")
        node = t.user("node")
        t.annotate(node, "pinned")
        t.set_lifecycle(node, Temporary(2))
        assert t.verify().annotations == 2
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE tract_annotations SET lifecycle = '{\"ttl\":9}' WHERE lifecycle IS NOT NULL")
    with Tract.open(path) as t, pytest.raises(Exception, match="annotation chain"):
        t.verify()


def test_gc_of_a_deleted_line_drops_its_lifecycle_rows(tmp_path):
    with Tract.open(tmp_path / "g.db") as t:
        t.system("S")
        t.branch("doomed")
        t.switch("doomed")
        node = t.user("node")
        t.set_lifecycle(node, Temporary(0))
        t.switch("main")
        t.delete_branch("doomed", force=True)
        t.gc(orphan_retention_days=0)
        with t.store.read() as session:
            assert session.annotations.all(t.tract_id) == []
        assert t.verify() > 0


def test_a_lifecycle_change_is_a_pact_change_and_in_the_snapshot():
    with Tract.open() as t:
        t.system("S")
        node = t.user("node")
        before = t.head
        later = t.user("later")
        t.set_lifecycle(node, Cyclic(2))
        after = t.snapshot()
        assert after.node(node.hash).lifecycle == {"cadence": 2, "window": 1}
        assert t.snapshot(before).node(node.hash).lifecycle is None  # anchored after it: unchanged
        assert t.diff(before, t.head, format="pact") == {
            "added": [later.hash],
            "removed": [],
            "changed": [{"id": node.hash, "fields": ["lifecycle"]}],
        }
        assert type(after).from_bytes(after.canonical_bytes()) == after


def test_every_backend_gives_the_same_bytes_and_digests(factory):
    t = factory.open()
    t.system("S")
    weather = t.user("weather NYC: rain", key="weather:NYC", lifecycle=Temporary(0))
    rules = t.user("rules")
    tip = t.user("tip", lifecycle=Cyclic(2))
    t.assistant("a0")
    t.set_lifecycle(weather, None)
    t.set_lifecycle(rules, Sticky())
    t.set_lifecycle(tip, Temporary(1))
    for i in range(3):
        t.user(f"q{i}")
        t.assistant(f"a{i + 1}")
    assert shown(t)[-1] == "rules" and "tip" not in shown(t) and "weather NYC: rain" in shown(t)
    assert t.compile().to_bytes("openai") == t.snapshot().render("openai")
    assert t.compile().digest == "c74d790f350a5e2a63cb678218832bba3f15f00e8abeed04dd44f1866d8c9857"
    assert t.snapshot().digest == "a757101f5750c91ec7d69cb7a2fa70e3e28b4406182e30703d3e6d508c8d8a20"
    assert t.verify().annotations == 3


def test_the_toolkit_tool_changes_a_lifecycle(tmp_path):
    with Tract.open(tmp_path / "k.db") as t:
        t.system("S")
        node = t.user("a long tool output")
        t.assistant("a0")
        reply = t.execute_tool(
            {"name": "context_set_lifecycle", "arguments": {"commit": node.hash[:12], "ttl": 0, "reason": "bulky"}}
        )
        assert reply["is_error"] is False, reply["content"]
        assert json.loads(reply["content"])["outcome"] == {"target": node.hash, "lifecycle": {"ttl": 0}}
        t.user("q")
        t.assistant("a1")
        assert "a long tool output" not in shown(t)
        assert [(p.kind, p.status) for p in t.proposals()] == [("set_lifecycle", "executed")]
        before = database_digest(t.store)
        bad = t.execute_tool({"name": "context_set_lifecycle", "arguments": {"commit": node.hash, "ttl": -1}})
        assert bad["is_error"] is True and "ttl must be >= 0" in bad["content"]
        assert database_digest(t.store) == before
        back = t.execute_tool({"name": "context_set_lifecycle", "arguments": {"commit": node.hash}})
        assert back["is_error"] is False and "a long tool output" in shown(t)


def test_a_version_7_file_upgrades_unchanged_and_takes_lifecycle_rows(tmp_path):
    path = tmp_path / "v7.db"
    shutil.copy(DATA / "schema_v7.db", path)
    with Tract.open(path=path) as t:
        assert t.head == V7_HEAD and t.compile().digest == V7_DIGEST
        report = t.verify()
        assert report == 16 and report.annotations == 2
        weather = next(c for c in t.log() if c.content == "weather NYC: rain")
        assert "weather NYC: rain" not in shown(t)  # its ttl of 2 ran out
        t.set_lifecycle(weather, None, reason="keep the forecast")
        assert "weather NYC: rain" in shown(t)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM tract_schema").fetchone()[0] == migrations.SCHEMA_VERSION >= 8
        rows = conn.execute("SELECT priority, lifecycle FROM tract_annotations ORDER BY id").fetchall()
        assert rows[:2] == [("pinned", None), ("skip", None)] and rows[2] == ("lifecycle", "{}")
    with Tract.open(path=path) as t:
        assert t.verify().annotations == 3 and "weather NYC: rain" in shown(t)
