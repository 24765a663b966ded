"""A commit's lifecycle damaged in the database (a real SQLite file changed outside tract) is reported
as damage naming the commit, by compile and by ``verify``, never as a raw decoding error."""

from __future__ import annotations

import sqlite3

import pytest

from tract_core import CorruptObjectError, Cyclic, Temporary, Tract
from tract_core.tree.lifecycle import lifecycle_of_json, lifecycle_problem


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ("ttl=2", "is not JSON"),
        ('{"ttl":', "is not JSON"),
        ("[2]", "is not a JSON object"),
        ("2", "is not a JSON object"),
        ('{"ttl":2,"colour":"red"}', "unknown field"),
        ('{"ttl":-1}', "ttl must be >= 0"),
        ('{"ttl":"2"}', "whole number"),
        ('{"sticky":1}', "True or False"),
        ('{"window":2}', "needs a cadence"),
    ],
)
def test_a_damaged_lifecycle_is_reported_as_damage_naming_its_commit(tmp_path, stored, problem):
    path = tmp_path / "t.db"
    with Tract.open(path=path) as t:
        t.system("S")
        node = t.user("node", lifecycle=Temporary(2))
        t.assistant("a0")
    with sqlite3.connect(path) as db:
        changed = db.execute("UPDATE tract_commits SET lifecycle = ? WHERE hash = ?", (stored, node.hash)).rowcount
    assert changed == 1
    with Tract.open(path=path) as t:
        with pytest.raises(CorruptObjectError, match=problem) as compiled:
            t.compile()
        assert f"commit {node.hash[:12]} of tract 'default' is damaged: its lifecycle" in str(compiled.value)
        assert "restore it from a backup" in str(compiled.value)
        with pytest.raises(CorruptObjectError) as verified:  # the commit's hash covers its lifecycle
            t.verify()
        assert any(node.hash[:12] in p and "no longer matches its hash" in p for p in verified.value.problems)
        with pytest.raises(CorruptObjectError, match=node.hash[:12]):
            t.show(node.hash)


def test_stored_lifecycles_decode_and_damage_is_named():
    assert lifecycle_of_json(None) is None
    assert lifecycle_of_json('{"cadence":3,"window":2}') == Cyclic(3, 2)
    assert lifecycle_problem('{"ttl":2}') is None
    assert lifecycle_problem(b'{"ttl":2}') == "its lifecycle is stored as bytes, not text"
    with pytest.raises(CorruptObjectError, match=r"^a stored commit is damaged: its lifecycle '\[\]' is not a JSON"):
        lifecycle_of_json("[]")
    with pytest.raises(CorruptObjectError, match=r"^commit 0123456789ab is damaged"):
        lifecycle_of_json("{", commit="0123456789abcdef")
