"""``--json`` on every reading command: plain JSON on standard output, in the shape docs/cli.md
documents, equal to what the Python API returns."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tract_core import Tract
from tract_core.cli import main
from tract_core.demo import DemoStore, build_demo

pytestmark = pytest.mark.filterwarnings("ignore::tract_core.TokenizerFallbackWarning")


@pytest.fixture(autouse=True)
def narrow_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """JSON does not depend on the width: render 40 columns wide to show it."""
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.delenv("TRACT_DB", raising=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    return build_demo(tmp_path_factory.mktemp("json") / "demo.db")


def as_json(capsys: pytest.CaptureFixture[str], demo: DemoStore, *argv: str) -> Any:
    code = main(["--db", str(demo.path), *argv, "--json"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    assert "\x1b[" not in out and out.endswith("\n")
    return json.loads(out)


def reopen(demo: DemoStore) -> Tract:
    return Tract.open(path=demo.path, create=False, policies=False)


COMMIT_KEYS = [
    "hash",
    "parents",
    "role",
    "content_type",
    "operation",
    "response_to",
    "message",
    "created_at",
    "token_count",
    "body",
]


def test_log_and_show(demo, capsys):
    log = as_json(capsys, demo, "log", "--limit", "0")
    with reopen(demo) as t:
        commits = t.log(limit=None)
        wrong = t.show(demo.wrong_answer)
        correction = t.show(demo.correction)
        tool_result = t.show(demo.tool_result)
    assert [c["hash"] for c in log] == [c.hash for c in commits]
    assert list(log[0]) == COMMIT_KEYS
    assert log[0]["operation"] == "edit" and log[0]["response_to"] == demo.wrong_answer
    assert log[0]["body"]["content"] == correction.content
    assert [c["hash"] for c in as_json(capsys, demo, "log", "HEAD~2", "--limit", "2")] == [c.hash for c in commits[2:4]]

    shown = as_json(capsys, demo, "show", demo.wrong_answer[:10])
    assert list(shown)[: len(COMMIT_KEYS)] == COMMIT_KEYS
    assert shown["hash"] == demo.wrong_answer and shown["body"]["content"] == wrong.content
    assert shown["generation_config"] == dict(wrong.generation_config or {})
    assert shown["usage"]["total_tokens"] == wrong.usage.total_tokens and shown["usage"]["source"] == "openai"
    noisy = as_json(capsys, demo, "show", demo.tool_result)
    assert [(a["priority"], a["reason"]) for a in noisy["annotations"]] == [
        (a.priority.value, a.reason) for a in tool_result.annotations
    ]
    assert noisy["annotations"][0]["priority"] == "skip"


def test_status_branch_reflog(demo, capsys):
    status = as_json(capsys, demo, "status")
    with reopen(demo) as t:
        expected = t.status()
        reflog = t.reflog(limit=3)
    assert status["head"] == expected.head == demo.correction
    assert (status["branch"], status["detached"], status["token_count"]) == ("main", False, expected.token_count)
    assert status["message_count"] == expected.message_count and status["last_usage"]["source"] == "openai"
    assert status["pending_compressions"] == 0 and status["archived_commits"] == 0

    branches = as_json(capsys, demo, "branch")
    assert branches == {
        "head": demo.correction,
        "branch": "main",
        "branches": [{"name": "main", "commit": demo.correction, "current": True}],
    }
    moves = as_json(capsys, demo, "reflog", "--limit", "3")
    assert moves == [
        {"ref": e.ref, "old": e.old, "new": e.new, "action": e.action, "created_at": e.created_at} for e in reflog
    ]


def test_diff_compile_and_the_context_tree(demo, capsys):
    diff = as_json(capsys, demo, "diff", demo.before_fix)
    with reopen(demo) as t:
        expected = t.diff(demo.before_fix)
        snapshot = t.snapshot()
        messages = t.compile().messages
    assert (diff["a"], diff["b"], diff["token_delta"]) == (expected.a, expected.b, expected.token_delta)
    assert [(c["kind"], c["role"], c["hash_b"]) for c in diff["changes"]] == [
        (c.kind, c.role, c.hash_b) for c in expected.changes
    ]
    changed = next(c for c in diff["changes"] if c["kind"] == "changed")
    assert "60 days" in changed["before"]["content"] and "30 days" in changed["after"]["content"]
    assert changed["unified"].startswith("---")

    compiled = as_json(capsys, demo, "compile")
    assert compiled["head"] == demo.correction and compiled["messages"] == messages
    tree = as_json(capsys, demo, "tree")
    assert tree == as_json(capsys, demo, "snapshot") == json.loads(snapshot.to_json())
    selected = as_json(capsys, demo, "select", ".user")
    assert selected["nodes"] and all(node["role"] == "user" for node in selected["nodes"])


def test_list_verify_and_the_policy_commands(demo, capsys):
    (entry,) = as_json(capsys, demo, "list")
    assert (entry["tract"], entry["kind"], entry["head"]) == ("default", "tract", demo.correction)
    verified = as_json(capsys, demo, "verify")
    assert verified["sound"] is True and verified["problems"] == [] and verified["commits"] >= 10
    assert verified["pages"] is True
    assert as_json(capsys, demo, "events") == []
    assert as_json(capsys, demo, "proposals") == []
    assert as_json(capsys, demo, "policies")["policies"] == []
    health = as_json(capsys, demo, "health")
    assert health["tract"] == "default" and health["healthy"] in (True, False)


def test_json_with_options_it_cannot_serve_is_refused(demo, capsys):
    for argv, expected in (
        (["log", "--graph", "--json"], "--graph"),
        (["branch", "x", "--json"], "--json lists the branches"),
    ):
        code = main(["--db", str(demo.path), *argv])
        out, err = capsys.readouterr()
        assert (code, out) == (2, "") and expected in err
