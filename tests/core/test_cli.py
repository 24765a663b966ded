"""The ``tract`` command line: run in-process through ``main()``, and as a real process."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from tract_core import EDIT, PINNED, SKIP, Tract
from tract_core.cli import _merge_logs, graph_lines, main
from tract_core.compress import PendingCompression
from tract_core.demo import DemoStore, build_demo
from tract_core.testing import ScriptedLLM, create_database
from tract_core.testing.cli import run_cli as run

pytestmark = pytest.mark.filterwarnings("ignore::tract_core.TokenizerFallbackWarning")

COMMANDS = (
    "log",
    "show",
    "status",
    "compile",
    "diff",
    "branch",
    "switch",
    "merge",
    "reset",
    "reflog",
    "cherry-pick",
    "rebase",
    "compress",
    "gc",
    "demo",
)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render rich output 200 columns wide so no cell is cut, and ignore the caller's $TRACT_DB."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("TRACT_DB", raising=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    return build_demo(tmp_path_factory.mktemp("demo") / "demo.db")


def reopen(path: Path, tract_id: str = "default") -> Tract:
    return Tract.open(path=path, tract_id=tract_id, create=False)


def assert_one_line_error(code: int, out: str, err: str, *expected: str) -> None:
    assert code == 2
    assert out == ""
    assert err.startswith("tract: error: ") and err.count("\n") == 1, err
    for text in expected:
        assert text in err


# -- demo ---------------------------------------------------------------------------------------


def test_demo_tours_the_store_and_its_suggested_commands_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "demo")
    assert code == 0 and err == ""
    assert (tmp_path / "tract-demo.db").is_file()
    assert "Replaced" not in out
    for heading in ("tract log", "tract status", "tract diff", "tract compile"):
        assert heading in out
    lines = [line.strip("│ ") for line in out.splitlines()]
    suggested = [line for line in lines if line.startswith("tract --db tract-demo.db ")]
    assert len(suggested) == 8
    for line in suggested:
        argv = shlex.split(line.split("|")[0])[1:]
        assert main(argv) == 0, line
        assert capsys.readouterr().err == ""


def test_demo_replaces_an_existing_file_and_says_so(tmp_path, capsys):
    path = tmp_path / "store.db"
    assert run(capsys, "demo", "--db", path)[0] == 0
    code, out, _ = run(capsys, "demo", "--db", path)
    assert code == 0
    assert f"Replaced the existing {path}" in out
    with reopen(path) as t:
        assert len(t.log(limit=None)) == 10


def test_demo_writes_to_the_tract_given(tmp_path, capsys):
    path = tmp_path / "store.db"
    code, out, _ = run(capsys, "--tract", "support-42", "demo", "--db", path)
    assert code == 0
    assert f"tract --db {path} --tract support-42 log" in out
    assert Tract.list_tracts(path=path) == ["support-42"]


def test_demo_content_follows_the_scenarios(demo):
    with reopen(demo.path) as t:
        status = t.status()
        assert (status.token_budget, t.config.model) == (128_000, "gpt-4o")
        assert status.last_usage is not None and status.last_usage.source == "openai"
        batch_user, batch_reply = t.show("HEAD~5"), t.show("HEAD~4")  # the batch: retrieval, user, reply
        assert batch_user.parents == (demo.retrieval,) and batch_reply.parents == (batch_user.hash,)
        assert dict(batch_reply.generation_config or {}) == {"model": "gpt-4o", "temperature": 0.7}
        assert t.show(demo.retrieval).content_type == "retrieval"
        assert t.show(demo.correction).response_to == demo.wrong_answer
        assert [note.priority.value for note in t.show(demo.tool_result).annotations] == ["skip"]
        assert t.show(demo.tool_call).annotations == ()
        assert demo.tool_call not in t.compile().commit_hashes  # dropped with its skipped result
        assert "60 days" in t.compile(at_commit=demo.wrong_answer).messages[-1]["content"]


# -- reading commands ---------------------------------------------------------------------------


def test_log_shows_the_edit_and_the_skipped_tool_output(demo, capsys):
    code, out, err = run(capsys, "--db", demo.path, "log")
    assert code == 0 and err == ""
    with reopen(demo.path) as t:
        hashes = [c.short_hash for c in t.log(limit=None)]
    assert len(hashes) == 10 and all(h in out for h in hashes)
    assert f"edits {demo.wrong_answer[:12]}" in out
    assert f"edited by {demo.correction[:12]}" in out
    assert "skipped: raw order-API dump" in out
    assert "not in context" in out  # the tool call, dropped with its result
    assert '"order_id": "SO-48213"' in out


def test_log_previews_a_tool_calling_message_as_its_calls(tmp_path, capsys):
    path = tmp_path / "calls.db"
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "search", "arguments": '{"query": "weather in Paris"}'},
    }
    with Tract.open(path=path) as t:
        t.user("What is the weather in Paris?")
        t.commit({"role": "assistant", "content": "", "tool_calls": [call]})
        t.tool_result("c1", "Sunny, 21 °C")
        t.commit({"role": "assistant", "content": "Let me check again.", "tool_calls": [{**call, "id": "c2"}]})
        assert [c.preview() for c in t.log()][:3] == [
            'Let me check again. → search(query="weather in Paris")',
            "Sunny, 21 °C",
            'search(query="weather in Paris")',
        ]
    code, out, err = run(capsys, "--db", path, "log", "--graph")
    assert (code, err) == (0, "")
    assert 'assistant: search(query="weather in Paris")' in out
    assert "assistant: \n" not in out + "\n" and not re.search(r"assistant:\s*$", out, re.MULTILINE)


def test_log_limit(demo, capsys):
    with reopen(demo.path) as t:
        newest = [c.short_hash for c in t.log(limit=3)]
    code, out, _ = run(capsys, "log", "--db", demo.path, "--limit", "2")
    assert code == 0
    assert newest[0] in out and newest[1] in out and newest[2] not in out
    assert "--limit 0 lists all" in out
    code, out, _ = run(capsys, "--db", demo.path, "log", "--limit", "0")
    assert demo.question[:12] in out and "--limit 0 lists all" not in out


def test_show_prints_a_commit_in_full(demo, capsys):
    code, out, _ = run(capsys, "--db", demo.path, "show", demo.wrong_answer[:8])
    assert code == 0
    assert demo.wrong_answer in out
    assert "60 days" in out and '"temperature": 0.7' in out and '"model": "gpt-4o"' in out
    assert "prompt 61 · completion 22 · total 83 (openai)" in out

    code, out, _ = run(capsys, "--db", demo.path, "show", "HEAD")
    assert f"edit of {demo.wrong_answer}" in out
    assert "Fix the hallucinated return window" in out and "30 days" in out

    code, out, _ = run(capsys, "--db", demo.path, "show", demo.tool_result[:10])
    assert "skip" in out and "raw order-API dump" in out and "call_lookup_1" in out

    _, out, _ = run(capsys, "--db", demo.path, "show", "HEAD~1")
    assert demo.before_fix in out
    _, out, _ = run(capsys, "--db", demo.path, "show", "main~8")
    assert demo.question in out and '"customer_id": "C-1042"' in out


def test_status_reports_tokens_budget_tokenizer_and_usage(demo, capsys):
    with reopen(demo.path) as t:
        expected = t.status()
    code, out, _ = run(capsys, "--db", demo.path, "status")
    assert code == 0
    assert "main" in out and expected.head[:12] in out
    assert "10 in HEAD's history" in out and "7 in the compiled context" in out
    assert f"{expected.token_count:,} / 128,000 ({expected.budget_ratio:.1%} of the budget)" in out
    assert expected.tokenizer in out
    if expected.tokenizer_note:
        assert "offline" in out
    assert "prompt 498 · completion 35 · total 533 (openai)" in out
    assert f"{expected.cached_prefix_tokens:,} tokens unchanged since HEAD's last move" in out


def test_compile_json_is_the_library_compile(demo, capsys):
    code, out, err = run(capsys, "--db", demo.path, "compile", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    with reopen(demo.path) as t:
        context = t.compile()
    assert set(data) == {"head", "digest", "token_count", "messages"}
    assert data["digest"] == context.digest
    assert data["head"] == demo.correction == context.head
    assert data["token_count"] == context.token_count
    assert data["messages"] == context.messages
    assert "30 days" in data["messages"][2]["content"]
    assert "60 days" not in out
    assert all(m["role"] != "tool" and "tool_calls" not in m for m in data["messages"])
    assert data["messages"][-1]["content"].startswith("Your order SO-48213 was delivered")


def test_compile_at_reconstructs_what_the_model_saw(demo, capsys):
    code, out, _ = run(capsys, "--db", demo.path, "compile", "--at", demo.wrong_answer[:10], "--json")
    assert code == 0
    data = json.loads(out)
    assert data["head"] == demo.wrong_answer
    assert "60 days" in data["messages"][-1]["content"]
    _, out, _ = run(capsys, "--db", demo.path, "compile", "--at", demo.before_fix, "--json")
    roles = [m["role"] for m in json.loads(out)["messages"]]
    assert roles[-3:] == ["assistant", "tool", "assistant"]


def test_compile_pretty_prints_one_panel_per_message(demo, capsys):
    code, out, _ = run(capsys, "--db", demo.path, "compile")
    assert code == 0
    with reopen(demo.path) as t:
        context = t.compile()
    for index, message in enumerate(context.messages):
        assert f"[{index}] {message['role']}" in out
    assert f"digest {context.digest[:16]}" in out
    assert "[kb/returns-policy.md]" in out
    assert "60 days" not in out


def test_diff_shows_the_edit_and_the_skip(demo, capsys):
    code, out, _ = run(capsys, "--db", demo.path, "diff", demo.before_fix[:12])
    assert code == 0
    assert "-No problem! You have 60 days" in out and "+No problem! You have 30 days" in out
    assert "- removed [6] assistant" in out and "- removed [7] tool" in out
    assert "1 changed, 2 removed, 0 added" in out


def test_diff_between_two_given_commits(demo, capsys):
    code, out, _ = run(capsys, "--db", demo.path, "diff", demo.question, demo.wrong_answer)
    assert code == 0
    assert "+ added [2] assistant" in out and "60 days" in out
    assert "0 changed, 0 removed, 1 added" in out
    _, out, _ = run(capsys, "--db", demo.path, "diff", "HEAD", "main")
    assert "no differences" in out


def test_an_empty_tract(tmp_path, capsys):
    path = tmp_path / "empty.db"
    Tract.open(path=path).close()
    assert "has no commits yet" in run(capsys, "--db", path, "log")[1]
    assert "0 in HEAD's history" in run(capsys, "--db", path, "status")[1]
    data = json.loads(run(capsys, "--db", path, "compile", "--json")[1])
    assert (data["head"], data["messages"], data["token_count"]) == (None, [], 0)


# -- choosing the database and the tract --------------------------------------------------------


def test_tract_option_selects_among_several_tracts(tmp_path, capsys):
    path = tmp_path / "many.db"
    for name in ("alpha", "beta"):
        with Tract.open(path=path, tract_id=name) as t:
            t.user(f"hello from {name}")
    code, out, _ = run(capsys, "--db", path, "--tract", "beta", "compile", "--json")
    assert code == 0
    assert [m["content"] for m in json.loads(out)["messages"]] == ["hello from beta"]
    code, out, _ = run(capsys, "compile", "--json", "--tract", "alpha", "--db", path)
    assert [m["content"] for m in json.loads(out)["messages"]] == ["hello from alpha"]
    assert_one_line_error(
        *run(capsys, "--db", path, "log"), "has no 'default' tract but 2 others", "'alpha', 'beta'", "tract list"
    )
    assert_one_line_error(*run(capsys, "--db", path, "--tract", "gamma", "status"), "'gamma'", "alpha, beta")


def test_database_from_the_environment_and_as_a_sqlite_url(demo, monkeypatch, capsys):
    monkeypatch.setenv("TRACT_DB", str(demo.path))
    assert run(capsys, "status")[0] == 0
    monkeypatch.delenv("TRACT_DB")
    code, out, _ = run(capsys, "--db", f"sqlite:///{demo.path}", "show", "HEAD")
    assert code == 0 and demo.correction in out


def test_postgres_url(postgres_server, capsys):
    url = create_database(postgres_server)
    with Tract.open(url=url, tract_id="pg") as t:
        t.system("You are terse.")
        t.user("hello from postgres")
        expected = t.compile().digest
    code, out, err = run(capsys, "--db", url, "--tract", "pg", "compile", "--json")
    assert code == 0, err
    assert json.loads(out)["digest"] == expected


# -- errors -------------------------------------------------------------------------------------


def test_a_missing_database_is_an_error_and_is_not_created(tmp_path, capsys):
    for command in (["log"], ["status"], ["show", "HEAD"], ["compile", "--json"], ["diff", "HEAD"]):
        missing = tmp_path / "missing.db"
        assert_one_line_error(*run(capsys, "--db", missing, *command), "missing.db")
        assert list(tmp_path.iterdir()) == []
    assert_one_line_error(*run(capsys, "--db", f"sqlite:///{tmp_path}/gone.db", "log"), "gone.db")
    assert list(tmp_path.iterdir()) == []


def test_no_database_given(capsys):
    assert_one_line_error(*run(capsys, "log"), "--db", "TRACT_DB")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["show", "nosuchref"], "'nosuchref' is neither a branch nor a commit hash"),
        (["show", "0000ffff"], "no commit '0000ffff'"),
        (["show", "abc"], "too short"),
        (["show", "HEAD~99"], "goes back past the first commit"),
        (["compile", "--at", "nosuchref", "--json"], "'nosuchref'"),
        (["diff", "HEAD~99"], "goes back past the first commit"),
        (["diff", "HEAD", "nosuchbranch"], "(branches: main)"),
    ],
)
def test_unknown_refs_are_one_line_errors(demo, capsys, argv, expected):
    assert_one_line_error(*run(capsys, "--db", demo.path, *argv), expected)


def test_an_ambiguous_prefix_lists_the_candidates(tmp_path, capsys):
    path = tmp_path / "busy.db"
    seen: dict[str, str] = {}
    with Tract.open(path=path) as t:
        while True:  # hashes are reproducible, so this ends at the same commit on every run
            commit = t.user(f"message {len(seen)}")
            prefix = commit.hash[:4]
            if prefix in seen:
                break
            seen[prefix] = commit.hash
    code, out, err = run(capsys, "--db", path, "show", prefix)
    assert_one_line_error(code, out, err, "ambiguous", seen[prefix][:12], commit.hash[:12])


def test_demo_refuses_a_url(capsys):
    assert_one_line_error(*run(capsys, "demo", "--db", "postgresql://localhost/tract"), "file path")


def test_usage_errors_and_help(capsys):
    for command in COMMANDS:
        code, out, _ = run(capsys, command, "--help")
        assert code == 0 and f"usage: tract {command}" in out and "--db" in out
    code, _, err = run(capsys, "log", "--limit", "-3")
    assert code == 2 and "-3 is negative" in err
    code, _, err = run(capsys)
    assert code == 2 and "COMMAND" in err


# -- the commit graph layout ----------------------------------------------------------------------


def test_graph_of_a_linear_history():
    commits = [("c", ["b"]), ("b", ["a"]), ("a", [])]
    labels = {"c": ["HEAD -> main"], "a": ["old"]}
    messages = {"c": "user: third", "b": "assistant: second", "a": "system: first"}
    assert graph_lines(commits, labels, messages) == [
        "* c (HEAD -> main) user: third",
        "* b assistant: second",
        "* a (old) system: first",
    ]
    assert graph_lines([("a" * 64, [])]) == ["* " + "a" * 12]  # short hashes


def test_graph_of_a_branch_merged_back():
    commits = [("m", ["b", "f2"]), ("f2", ["f1"]), ("b", ["a"]), ("f1", ["a"]), ("a", [])]
    labels = {"m": ["HEAD -> main"], "f2": ["feature", "review"]}
    assert graph_lines(commits, labels) == [
        "*   m (HEAD -> main)",
        "|\\",
        "| * f2 (feature, review)",
        "* | b",
        "| * f1",
        "|/",
        "* a",
    ]


def test_graph_of_diverged_branches():
    commits = [("m2", ["m1"]), ("f1", ["b"]), ("m1", ["b"]), ("b", ["r"]), ("r", [])]
    assert graph_lines(commits, {"m2": ["HEAD -> main"], "f1": ["draft"]}) == [
        "* m2 (HEAD -> main)",
        "| * f1 (draft)",
        "* | m1",
        "|/",
        "* b",
        "* r",
    ]


def test_graph_lanes_right_of_a_merge_move_right_and_forks_join_left():
    commits = [("t", ["m"]), ("o", ["q"]), ("m", ["p1", "p2"]), ("p2", ["r"]), ("q", ["r"]), ("p1", ["r"]), ("r", [])]
    assert graph_lines(commits) == [
        "* t",
        "| * o",
        "* |   m",
        "|\\ \\",
        "| * | p2",
        "| | * q",
        "| |/",
        "* | p1",
        "|/",
        "* r",
    ]


def test_graph_merge_joining_a_lane_on_its_left():
    # "m" (a new tip) merges "p2", which the first lane already waits for.
    commits = [("x", ["p2"]), ("m", ["p1", "p2"]), ("p2", ["r"]), ("p1", ["r"]), ("r", [])]
    assert graph_lines(commits) == ["* x", "| * m", "|/|", "* | p2", "| * p1", "|/", "* r"]


def test_graph_lane_crossing_moves_one_column_per_line():
    commits = [("a", ["c"]), ("b", ["root"]), ("x", ["c"]), ("c", ["root"]), ("root", [])]
    assert graph_lines(commits) == ["* a", "| * b", "| | * x", "| |/", "|/|", "* | c", "|/", "* root"]


def test_graph_root_commits_close_their_lane():
    commits = [("a", ["r1"]), ("b", ["r2"]), ("r1", []), ("r2", [])]
    assert graph_lines(commits) == ["* a", "| * b", "* | r1", " /", "* r2"]


def test_merge_logs_puts_every_commit_before_its_parents():
    def log(*pairs: tuple[str, tuple[str, ...]]) -> list[SimpleNamespace]:
        return [SimpleNamespace(hash=h, parents=p) for h, p in pairs]

    main_log = log(("m3", ("m2",)), ("m2", ("m1",)), ("m1", ("b",)), ("b", ()))
    draft_log = log(("d2", ("d1",)), ("d1", ("b",)), ("b", ()))
    merged = [c.hash for c in _merge_logs([main_log, draft_log])]
    assert merged == ["m3", "m2", "m1", "d2", "d1", "b"]
    assert [c.hash for c in _merge_logs([main_log])] == ["m3", "m2", "m1", "b"]  # a log comes out unchanged
    assert [c.hash for c in _merge_logs([draft_log, main_log])] == ["d2", "d1", "m3", "m2", "m1", "b"]


# -- branching, merging and undoing ---------------------------------------------------------------


@dataclass
class Branched:
    """main: system, question, answer; then 'review' (an EDIT of the answer) merged into main after
    a follow-up; 'draft' forked from the answer with one question, never merged."""

    path: Path
    system: str
    question: str
    answer: str
    follow_up: str
    fix: str
    draft: str
    merge: str


def build_branched(path: Path) -> Branched:
    with Tract.open(path=path) as t:
        system = t.system("You are terse.").hash
        question = t.user("How long do I have to return shoes?").hash
        answer = t.assistant("60 days.").hash
        t.branch("review")
        t.branch("draft")
        follow_up = t.user("Thanks!").hash
        t.switch("review")
        fix = t.commit("30 days.", role="assistant", operation=EDIT, response_to=answer).hash
        t.switch("draft")
        draft = t.user("And for sandals?").hash
        t.switch("main")
        merge = t.merge("review").merge_commit
    assert merge is not None
    return Branched(path, system, question, answer, follow_up, fix, draft, merge)


@pytest.fixture
def branched(tmp_path) -> Branched:
    return build_branched(tmp_path / "branched.db")


def linear(tmp_path: Path, count: int = 3) -> tuple[Path, list[str]]:
    path = tmp_path / "linear.db"
    with Tract.open(path=path) as t:
        hashes = [t.system("You are terse.").hash]
        hashes += [t.user(f"message {n}").hash for n in range(1, count)]
    return path, hashes


def test_branch_creates_lists_switches_and_deletes(tmp_path, capsys):
    path, hashes = linear(tmp_path)
    code, out, err = run(capsys, "--db", path, "branch", "feature")
    assert (code, err) == (0, "")
    assert f"Created branch 'feature' at {hashes[-1][:12]}  user: message 2" in out
    code, out, _ = run(capsys, "--db", path, "branch", "old", "--from", "HEAD~2", "--switch")
    assert code == 0 and f"switched to 'old' at {hashes[0][:12]}" in out
    with reopen(path) as t:
        branches = {b.name: b for b in t.list_branches()}
        assert branches["feature"].commit == hashes[-1] and not branches["feature"].current
        assert branches["old"].commit == hashes[0] and branches["old"].current

    code, out, _ = run(capsys, "--db", path, "branch")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3
    assert lines[0].split() == ["feature", hashes[-1][:12], "user:", "message", "2"]
    assert lines[1].split() == ["main", hashes[-1][:12], "user:", "message", "2"]
    assert lines[2].split() == ["*", "old", hashes[0][:12], "system:", "You", "are", "terse."]

    code, out, _ = run(capsys, "--db", path, "switch", "main")
    assert code == 0 and f"Switched to branch 'main' at {hashes[-1][:12]}" in out
    code, out, _ = run(capsys, "--db", path, "branch", "-d", "old")
    assert code == 0 and f"Deleted branch 'old' (was {hashes[0][:12]})" in out
    with reopen(path) as t:
        assert [b.name for b in t.list_branches()] == ["feature", "main"]
        assert t.status().branch == "main"


def test_branch_refusals_are_one_line_errors(branched, capsys):
    path = branched.path
    assert_one_line_error(*run(capsys, "--db", path, "branch", "-d", "main"), "cannot delete 'main'", "current branch")
    assert_one_line_error(
        *run(capsys, "--db", path, "branch", "-d", "draft"), "'draft' has 1 commit(s) no other branch reaches"
    )
    assert_one_line_error(*run(capsys, "--db", path, "branch", "review"), "'review' already exists")
    assert_one_line_error(*run(capsys, "--db", path, "branch", "-d", "nope"), "no branch 'nope'")
    assert_one_line_error(*run(capsys, "--db", path, "switch", "nope"), "no branch 'nope'")
    assert_one_line_error(*run(capsys, "--db", path, "branch", "bad..name"), "not a valid branch name")
    with reopen(path) as t:
        assert [b.name for b in t.list_branches()] == ["draft", "main", "review"]
    code, out, _ = run(capsys, "--db", path, "branch", "-d", "draft", "--force")
    assert code == 0 and "Deleted branch 'draft'" in out
    with reopen(path) as t:
        assert [b.name for b in t.list_branches()] == ["main", "review"]
        assert t.show(branched.draft).hash == branched.draft  # kept in the store until gc


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["branch", "-d"], "needs the name"),
        (["branch", "-d", "x", "--switch"], "--from and --switch do not apply"),
        (["branch", "x", "--force"], "--force goes with -d"),
        (["branch", "--switch"], "need the name"),
        (["log", "--all"], "use it with --graph"),
    ],
)
def test_branch_usage_errors(branched, capsys, argv, expected):
    assert_one_line_error(*run(capsys, "--db", branched.path, *argv), expected)


def test_merge_writes_a_merge_commit_with_two_parents(tmp_path, capsys):
    path, hashes = linear(tmp_path)
    with Tract.open(path=path) as t:
        t.branch("feature", switch=True)
        theirs = t.assistant("feature work").hash
        t.switch("main")
        ours = t.user("main work").hash
    code, out, err = run(capsys, "--db", path, "merge", "feature")
    assert (code, err) == (0, "")
    with reopen(path) as t:
        head = t.show("HEAD")
        assert head.parents == (ours, theirs) and head.content_type == "merge"
        assert [m["content"] for m in t.compile().messages][-2:] == ["main work", "feature work"]
    assert f"Merged 'feature' into 'main': merge commit {head.short_hash} (parents {ours[:12]}, {theirs[:12]})" in out
    code, out, _ = run(capsys, "--db", path, "merge", "feature")
    assert code == 0 and "Already up to date: 'main' contains 'feature'." in out


def test_merge_fast_forwards_and_strategies(tmp_path, capsys):
    path, hashes = linear(tmp_path)
    with Tract.open(path=path) as t:
        t.branch("feature", switch=True)
        tip = t.assistant("ahead").hash
        t.switch("main")
        t.branch("other", switch=True)
    code, out, _ = run(capsys, "--db", path, "merge", "feature", "--strategy", "no-ff")
    assert code == 0 and "merge commit" in out
    run(capsys, "--db", path, "switch", "main")
    code, out, _ = run(capsys, "--db", path, "merge", "feature", "--strategy", "ff-only")
    assert code == 0 and f"Fast-forward 'main': {hashes[-1][:12]} → {tip[:12]}  assistant: ahead" in out
    with reopen(path) as t:
        assert t.head == tip and len(t.show(tip).parents) == 1
    code, _, err = run(capsys, "--db", path, "merge", "feature", "--strategy", "sideways")
    assert code == 2 and "invalid choice: 'sideways'" in err


def conflicted(path: Path) -> tuple[str, str]:
    """main and 'reviewer' EDIT the same answer differently and annotate the same note differently."""
    with Tract.open(path=path) as t:
        t.system("You are terse.")
        answer = t.assistant("60 days.")
        note = t.user("raw order dump")
        t.branch("reviewer")
        t.commit("30 days, unworn.", role="assistant", operation=EDIT, response_to=answer)
        t.annotate(note, SKIP)
        t.switch("reviewer")
        t.commit("14 days.\nReceipt needed.", role="assistant", operation=EDIT, response_to=answer)
        t.annotate(note, PINNED)
        t.switch("main")
    return answer.hash, note.hash


def test_merge_conflicts_exit_1_list_both_versions_and_write_nothing(tmp_path, capsys):
    path = tmp_path / "conflict.db"
    answer, note = conflicted(path)
    with reopen(path) as t:
        before = (t.head, len(t.reflog(limit=None)))
    code, out, err = run(capsys, "--db", path, "merge", "reviewer")
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert lines[0] == (
        "tract: merge conflict: merging 'reviewer' into 'main' conflicts on 2 message(s); nothing was written"
    )
    assert (
        f"  edit of assistant message {answer[:12]}: ours '30 days, unworn.' vs theirs '14 days. Receipt needed.'"
        in lines
    )
    assert f"  annotation of user message {note[:12]}: ours 'skip' vs theirs 'pinned'" in lines
    assert lines[-1].startswith("hint: ") and "--strategy ours or --strategy theirs" in lines[-1]
    assert f"t.merge('reviewer', resolutions={{'{answer[:12]}': ...}})" in lines[-1]
    assert len(lines) == 4
    with reopen(path) as t:
        assert (t.head, len(t.reflog(limit=None))) == before


def test_merge_strategy_theirs_resolves_the_conflicts(tmp_path, capsys):
    path = tmp_path / "conflict.db"
    answer, note = conflicted(path)
    code, out, err = run(capsys, "--db", path, "merge", "reviewer", "--strategy", "theirs")
    assert (code, err) == (0, "")
    assert "Resolved 2 conflict(s):" in out
    assert f"  edit of assistant message {answer[:12]}: took theirs '14 days. Receipt needed.'" in out
    assert f"  annotation of user message {note[:12]}: took theirs 'pinned'" in out
    with reopen(path) as t:
        context = t.compile()
        assert "14 days.\nReceipt needed." in [m["content"] for m in context.messages]
        assert "raw order dump" in [m["content"] for m in context.messages]
        merge = next(c for c in t.log(limit=None) if c.content_type == "merge")
        assert len(merge.parents) == 2
        head = t.show("HEAD")
    assert head.parents == (merge.hash,) and head.response_to == answer  # the resolution, an EDIT
    assert f"HEAD is now at {head.short_hash}  assistant (edit): 14 days. Receipt needed." in out


def test_soft_reset_keeps_the_commits_and_says_how_to_get_them_back(tmp_path, capsys):
    path, hashes = linear(tmp_path, 4)
    code, out, err = run(capsys, "--db", path, "reset", "HEAD~2")
    assert (code, err) == (0, "")
    assert f"Reset 'main' (soft): {hashes[3][:12]} → {hashes[1][:12]}  user: message 1" in out
    assert "2 commit(s) dropped, kept in the store until gc" in out
    assert f"tract reflog --ref main shows where it was; tract reset {hashes[3][:12]} returns there" in out
    with reopen(path) as t:
        assert t.head == hashes[1]
    assert run(capsys, "--db", path, "show", hashes[3][:12])[0] == 0
    code, out, _ = run(capsys, "--db", path, "reflog", "--ref", "main")
    assert code == 0 and hashes[1][:12] in out and f"reset: moving to {hashes[1][:12]} (soft)" in out
    code, out, _ = run(capsys, "--db", path, "reset", hashes[3][:12])
    assert code == 0 and "No commit was dropped" in out
    with reopen(path) as t:
        assert t.head == hashes[3]


def test_hard_reset_deletes_the_commits(tmp_path, capsys):
    path, hashes = linear(tmp_path, 4)
    code, out, err = run(capsys, "--db", path, "reset", "--hard", "HEAD~2")
    assert (code, err) == (0, "")
    assert f"Reset 'main' (hard): {hashes[3][:12]} → {hashes[1][:12]}" in out
    assert "2 commit(s) dropped; 2 deleted from the store." in out
    for gone in hashes[2:]:
        assert_one_line_error(*run(capsys, "--db", path, "show", gone), f"no commit '{gone[:12]}")
    with reopen(path) as t:
        assert [c.hash for c in t.log(limit=None)] == hashes[1::-1]


def test_reflog_lists_moves_newest_first(branched, capsys):
    code, out, err = run(capsys, "--db", branched.path, "reflog", "--limit", "3")
    assert (code, err) == (0, "")
    with reopen(branched.path) as t:
        entries = t.reflog(limit=4)
    rows = [line.split() for line in out.splitlines()]
    rows = [row for row in rows if row and re.fullmatch(r"[0-9a-f]{12}|-", row[0])]
    assert [row[:2] for row in rows] == [[(e.new or "-")[:12], e.ref] for e in entries[:3]]
    assert f"merge review: {branched.merge[:12]}" in out
    assert "older entries exist: --limit 0 lists all" in out
    code, out, _ = run(capsys, "--db", branched.path, "reflog", "--ref", "draft", "--limit", "0")
    assert code == 0 and "branch: created from" in out and "commit: append user dialogue" in out
    assert "merge review" not in out and "older entries" not in out


def tool_branch(path: Path) -> tuple[str, str]:
    """main: a question; 'tools': a tool call and its result, from the same question."""
    with Tract.open(path=path) as t:
        t.user("Where is my order?")
        t.branch("tools", switch=True)
        t.assistant(
            tool_calls=[{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]
        )
        result = t.tool_result("call_1", "delivered").hash
        t.switch("main")
        main_tip = t.assistant("Let me check.").hash
    return result, main_tip


def test_cherry_pick_prints_the_new_head_and_warnings(tmp_path, capsys):
    path = tmp_path / "tools.db"
    result, main_tip = tool_branch(path)
    code, out, err = run(capsys, "--db", path, "cherry-pick", "--strict", "tools")
    assert_one_line_error(code, out, err, "cherry-pick refused (--strict)", "answers call 'call_1'")
    with reopen(path) as t:
        assert t.head == main_tip
    code, out, err = run(capsys, "--db", path, "cherry-pick", "tools")
    assert (code, err) == (0, "")
    with reopen(path) as t:
        head = t.show("HEAD")
    assert head.parents == (main_tip,) and head.content == "delivered"
    assert f"Cherry-picked {result[:12]} onto 'main' as {head.short_hash}  tool: delivered" in out
    assert f"warning: tool result {result[:12]} answers call 'call_1', which is not in the new history" in out


def test_rebase_replays_the_branch_onto_another(branched, capsys):
    path = branched.path
    run(capsys, "--db", path, "switch", "draft")
    code, out, err = run(capsys, "--db", path, "rebase", "main", "--strict")
    assert (code, err) == (0, "")
    with reopen(path) as t:
        head = t.show("HEAD")
        assert t.status().branch == "draft"
    assert head.parents[0] == branched.merge and head.content == "And for sandals?"
    assert f"Rebased 1 commit(s) of 'draft' onto 'main': HEAD is now at {head.short_hash}" in out
    assert f"  {branched.draft[:12]} → {head.short_hash}" in out
    assert "warning" not in out
    code, out, _ = run(capsys, "--db", path, "rebase", "main")
    assert code == 0 and "Nothing to rebase: 'main' is already in the history of 'draft'." in out
    run(capsys, "--db", path, "switch", "main")
    assert_one_line_error(*run(capsys, "--db", path, "rebase", "draft"), "descendant")


# -- log --graph on a real store ------------------------------------------------------------------


def test_log_graph_of_a_linear_history(tmp_path, capsys):
    path, hashes = linear(tmp_path)
    code, out, err = run(capsys, "--db", path, "log", "--graph")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"* {hashes[2][:12]} (HEAD -> main) user: message 2",
        f"* {hashes[1][:12]} user: message 1",
        f"* {hashes[0][:12]} system: You are terse.",
    ]
    code, out, _ = run(capsys, "--db", path, "log", "--graph", "--limit", "1")
    assert out.splitlines() == [
        f"* {hashes[2][:12]} (HEAD -> main) user: message 2",
        "older commits exist: --limit 0 lists all",
    ]


def branched_graph(b: Branched, order: list[str]) -> list[str]:
    """The expected graph of every branch; ``order``: HEAD's log order (which of the merged parents
    comes first is up to the library's tie-break)."""
    on_main = {
        b.follow_up: f"* | {b.follow_up[:12]} user: Thanks!",
        b.fix: f"| * {b.fix[:12]} (review) assistant (edit): 30 days.",
    }
    return [
        f"*   {b.merge[:12]} (HEAD -> main) Merge 'review' into 'main'",
        "|\\",
        *(on_main[h] for h in order[1:3]),
        "|/",
        f"| * {b.draft[:12]} (draft) user: And for sandals?",
        "|/",
        f"* {b.answer[:12]} assistant: 60 days.",
        f"* {b.question[:12]} user: How long do I have to return shoes?",
        f"* {b.system[:12]} system: You are terse.",
    ]


def test_log_graph_all_draws_the_merge_and_the_unmerged_branch(branched, capsys):
    with reopen(branched.path) as t:
        order = [c.hash for c in t.log(limit=None)]
    assert set(order[1:3]) == {branched.follow_up, branched.fix}
    expected = branched_graph(branched, order)
    code, out, err = run(capsys, "--db", branched.path, "log", "--graph", "--all")
    assert (code, err) == (0, "")
    assert out.splitlines() == expected

    code, out, _ = run(capsys, "--db", branched.path, "log", "--graph")  # HEAD's history: no draft
    without_draft = [line for line in expected if "draft" not in line]
    without_draft.remove("|/")
    assert out.splitlines() == without_draft


def test_log_graph_labels_a_detached_head(branched, capsys):
    with reopen(branched.path) as t:
        t.checkout(branched.question)
    code, out, _ = run(capsys, "--db", branched.path, "log", "--graph")
    assert out.splitlines() == [
        f"* {branched.question[:12]} (HEAD) user: How long do I have to return shoes?",
        f"* {branched.system[:12]} system: You are terse.",
    ]
    code, out, _ = run(capsys, "--db", branched.path, "log", "--graph", "--all")
    assert f"* {branched.question[:12]} (HEAD) user:" in out and f"{branched.merge[:12]} (main) Merge" in out
    code, out, _ = run(capsys, "--db", branched.path, "branch")
    assert out.splitlines()[0].split()[:4] == ["*", "(HEAD", "detached)", branched.question[:12]]


def test_graph_and_branches_of_an_empty_tract(tmp_path, capsys):
    path = tmp_path / "empty.db"
    Tract.open(path=path).close()
    assert "has no commits yet" in run(capsys, "--db", path, "log", "--graph", "--all")[1]
    assert "has no branches yet" in run(capsys, "--db", path, "branch")[1]
    assert "the reflog is empty" in run(capsys, "--db", path, "reflog")[1]
    assert_one_line_error(*run(capsys, "--db", path, "branch", "x"), "nothing to branch from")


def test_new_commands_refuse_a_missing_database(tmp_path, capsys):
    missing = tmp_path / "missing.db"
    for command in (
        ["branch"],
        ["switch", "x"],
        ["merge", "x"],
        ["reset", "HEAD"],
        ["reflog"],
        ["rebase", "x"],
        ["compress", "--content", "x"],
        ["compress", "--pending"],
        ["gc", "--dry-run"],
        ["gc"],
    ):
        assert_one_line_error(*run(capsys, "--db", missing, *command), "missing.db")
    assert list(tmp_path.iterdir()) == []


# -- compression and gc ---------------------------------------------------------------------------


@dataclass
class TherapySession:
    """A therapy session: a system prompt, then eight exchanges; the user's message of exchange 2 is
    PINNED, the assistant's reply of exchange 3 SKIPped."""

    path: Path
    system: str
    users: list[str]
    replies: list[str]


def therapy_session(tmp_path: Path, turns: int = 8) -> TherapySession:
    path = tmp_path / "therapy.db"
    with Tract.open(path=path) as t:
        system = t.system("You are a supportive listener.").hash
        users, replies = [], []
        for week in range(turns):
            users.append(t.user(f"Week {week}: work was stressful again.").hash)
            replies.append(t.assistant(f"That sounds hard. What helped in week {week}?").hash)
        t.annotate(users[2], PINNED, reason="diagnosis")
        t.annotate(replies[3], SKIP, reason="small talk")
    return TherapySession(path, system, users, replies)


SUMMARY = "Five weeks of work stress; breathing exercises helped."


def test_compress_with_content_prints_the_summary_and_archives_the_originals(tmp_path, capsys):
    s = therapy_session(tmp_path)
    with reopen(s.path) as t:
        before = t.compile()
    code, out, err = run(capsys, "--db", s.path, "compress", "--content", SUMMARY)
    assert (code, err) == (0, "")
    with reopen(s.path) as t:
        ((record),) = t.compressions()
        context = t.compile()
        summary = t.show(record.summary_commit)
        archived = t.archived()
        kept = record.details["kept"]
        head = t.head
    # the compiled context: system prompt, summary, the pinned message verbatim, the 6 most recent untouched
    assert context.messages[0] == before.messages[0]
    assert context.messages[1] == {"role": "system", "content": SUMMARY}
    assert context.messages[2] == {"role": "user", "content": "Week 2: work was stressful again."}
    assert context.messages[3:] == before.messages[-6:]
    assert "That sounds hard. What helped in week 3?" not in [m["content"] for m in context.messages]
    assert context.commit_hashes[2] == kept[0]
    assert summary.content_type == "summary" and summary.metadata["compression"]["messages"] == 8

    lines = out.splitlines()
    assert lines[0] == f"Compressed 8 messages into the summary {summary.short_hash}  system: {SUMMARY}"
    assert lines[1] == f"Kept 1 pinned message verbatim after the summary: {kept[0][:12]}."
    assert lines[2] == "Left out 1 skipped message."
    tokens_before, tokens_after = record.details["tokens_before"], record.details["tokens_after"]
    assert (tokens_before, tokens_after) == (before.token_count, context.token_count)
    assert lines[3] == f"Tokens: {tokens_before:,} → {tokens_after:,} ({tokens_after - tokens_before:+,})."
    assert lines[4] == f"HEAD is now at {head[:12]}  assistant: That sounds hard. What helped in week 7?"
    assert lines[5].startswith(f"Archived {len(archived)} commits (compression #1): `tract show` still finds them;")
    assert "`tract gc` removes them once the archive window (30 days by default) has passed." in lines[5]
    assert len(lines) == 6 and len(archived) == 16  # everything after the system prompt was rewritten

    assert run(capsys, "--db", s.path, "show", s.users[0])[0] == 0  # archived, still readable
    code, out, _ = run(capsys, "--db", s.path, "compile", "--at", s.replies[-1], "--json")
    assert json.loads(out)["messages"] == before.messages  # what the model saw before, exactly
    out = run(capsys, "--db", s.path, "status")[1]
    assert "16 archived commits (until tract gc)" in out and "pending" not in out


def test_compress_from_a_file_over_a_given_range(tmp_path, capsys):
    s = therapy_session(tmp_path)
    summary_file = tmp_path / "summary.md"
    summary_file.write_text("Weeks 0-1: work stress.\n\n- sleeps badly\n", encoding="utf-8")
    code, out, err = run(
        capsys, "--db", s.path, "compress", "--file", summary_file, "--from", s.users[0][:8], "--to", s.replies[1]
    )
    assert (code, err) == (0, "")
    assert out.startswith("Compressed 4 messages into the summary ")
    assert "Kept 0 pinned messages verbatim after the summary." in out and "skipped" not in out
    with reopen(s.path) as t:
        contents = [m["content"] for m in t.compile().messages]
        (record,) = t.compressions()
    assert contents[:3] == [
        "You are a supportive listener.",
        "Weeks 0-1: work stress.\n\n- sleeps badly",  # read as UTF-8, surrounding whitespace stripped
        "Week 2: work was stressful again.",
    ]
    assert len(contents) == 1 + 1 + 16 - 4 - 1  # system, summary, the rest less the skipped reply
    assert (record.range_from, record.range_to) == (s.users[0], s.replies[1])


def test_compress_keep_recent_and_standard_input(tmp_path, monkeypatch, capsys):
    s = therapy_session(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO("Summary from a pipe.\n"))
    code, out, err = run(capsys, "--db", s.path, "compress", "--file", "-", "--keep-recent", "2")
    assert (code, err) == (0, "")
    with reopen(s.path) as t:
        contents = [m["content"] for m in t.compile().messages]
    assert contents == [
        "You are a supportive listener.",
        "Summary from a pipe.",
        "Week 2: work was stressful again.",
        "Week 7: work was stressful again.",
        "That sounds hard. What helped in week 7?",
    ]


def drafts(s: TherapySession) -> tuple[int, int]:
    """Two pending compressions drafted by scripted LLMs: #1 fits, #2 was re-asked and then trimmed."""
    with reopen(s.path) as t:
        first = t.compress(llm=ScriptedLLM(["Work stress for weeks.\nBreathing helps."]), auto_commit=False)
        long = " ".join(["stress"] * 300)
        second = t.compress(
            llm=ScriptedLLM([long], repeat_last=True), target_tokens=12, keep_recent=2, auto_commit=False
        )
    assert isinstance(first, PendingCompression) and isinstance(second, PendingCompression)
    return first.id, second.id


def test_compress_pending_lists_the_drafts(tmp_path, capsys):
    s = therapy_session(tmp_path)
    assert run(capsys, "--db", s.path, "compress", "--pending")[1] == "no pending compressions in tract 'default'\n"
    first, second = drafts(s)
    with reopen(s.path) as t:
        head = t.head
    code, out, err = run(capsys, "--db", s.path, "compress", "--pending")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == (
        f"#{first}  8 messages from {s.users[0][:12]} to {s.replies[4][:12]}, drafted at HEAD {head[:12]} "
        "by an LLM (1 attempt)"
    )
    assert lines[1] == "    Work stress for weeks."  # the draft's first line
    assert lines[2] == (
        f"#{second}  12 messages from {s.users[0][:12]} to {s.replies[6][:12]}, drafted at HEAD {head[:12]} "
        "by an LLM (2 attempts, trimmed to fit)"
    )
    assert lines[3].startswith("    stress stress") and lines[3].endswith("…")
    assert "tract compress --approve ID" in lines[4] and "tract compress --reject ID" in lines[4]
    assert len(lines) == 5
    assert "2 pending drafts (tract compress --pending)" in run(capsys, "--db", s.path, "status")[1]


def test_compress_approve_with_edited_content_and_reject(tmp_path, capsys):
    s = therapy_session(tmp_path)
    first, second = drafts(s)
    code, out, err = run(capsys, "--db", s.path, "compress", "--reject", second)
    assert (code, err, out) == (0, "", f"Rejected compression #{second}; the history is unchanged.\n")
    code, out, err = run(capsys, "--db", s.path, "compress", "--approve", first, "--content", "Edited by a human.")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"Approved compression #{first} with the summary given."
    assert lines[1].startswith("Compressed 8 messages into the summary ") and "system: Edited by a human." in lines[1]
    with reopen(s.path) as t:
        assert t.compile().messages[1]["content"] == "Edited by a human."
        assert [(c.id, c.status) for c in t.compressions()] == [(first, "committed"), (second, "rejected")]
        assert t.pending_compressions() == []
    assert_one_line_error(
        *run(capsys, "--db", s.path, "compress", "--approve", first), f"compression {first} is already committed"
    )
    assert_one_line_error(
        *run(capsys, "--db", s.path, "compress", "--reject", second), f"compression {second} is already rejected"
    )


def test_compress_approve_keeps_the_draft_and_refuses_a_stale_one(tmp_path, capsys):
    s = therapy_session(tmp_path)
    first, second = drafts(s)
    code, out, _ = run(capsys, "--db", s.path, "compress", "--approve", first)
    assert code == 0 and f"Approved compression #{first} with its draft." in out
    with reopen(s.path) as t:
        assert t.compile().messages[1]["content"] == "Work stress for weeks.\nBreathing helps."
    out = run(capsys, "--db", s.path, "compress", "--pending")[1]
    assert "    stale: HEAD has moved since, so approving is refused; reject it" in out
    assert_one_line_error(
        *run(capsys, "--db", s.path, "compress", "--approve", second),
        f"HEAD moved since compression {second} was drafted",
        "nothing was changed",
    )
    assert run(capsys, "--db", s.path, "compress", "--reject", second)[0] == 0


def test_compress_approve_from_a_file(tmp_path, capsys):
    s = therapy_session(tmp_path)
    first, _ = drafts(s)
    reviewed = tmp_path / "reviewed.txt"
    reviewed.write_text("Reviewed: work stress; breathing helps.\n", encoding="utf-8")
    code, _, err = run(capsys, "--db", s.path, "compress", "--approve", first, "--file", reviewed)
    assert (code, err) == (0, "")
    with reopen(s.path) as t:
        assert t.compile().messages[1]["content"] == "Reviewed: work stress; breathing helps."


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["compress"], "needs the summary: --content TEXT or --file PATH"),
        (["compress", "--content", "a", "--file", "b.txt"], "--content or with --file, not both"),
        (["compress", "--content", "   "], "the summary is empty"),
        (["compress", "--file", "no-such-summary.txt"], "cannot read the summary file 'no-such-summary.txt'"),
        (["compress", "--content", "x", "--keep-recent", "40"], "the range to compress is empty"),
        (["compress", "--content", "x", "--from", "HEAD", "--to", "HEAD~1"], "the range to compress is empty"),
        (["compress", "--content", "x", "--from", "nosuchref"], "'nosuchref'"),
        (["compress", "--approve", "7"], "no pending compression 7 in tract 'default' (pending: none)"),
        (["compress", "--reject", "7"], "no pending compression 7"),
        (["compress", "--pending", "--reject", "1"], "--pending and --reject do not go together"),
        (["compress", "--approve", "1", "--from", "HEAD"], "--from: only for a new compression, not with --approve"),
        (["compress", "--reject", "1", "--content", "x"], "--content and --file give a summary: not for --reject"),
        (["compress", "--content", "x", "--to", "HEAD", "--keep-recent", "1"], "not with --to"),
    ],
)
def test_compress_errors_are_one_line(tmp_path, capsys, argv, expected):
    s = therapy_session(tmp_path)
    with reopen(s.path) as t:
        head = t.head
    assert_one_line_error(*run(capsys, "--db", s.path, *argv), expected)
    with reopen(s.path) as t:
        assert t.head == head and t.compressions() == []


def test_compress_refuses_a_range_with_nothing_to_summarise(tmp_path, capsys):
    s = therapy_session(tmp_path)
    pinned = s.users[2]
    assert_one_line_error(
        *run(capsys, "--db", s.path, "compress", "--content", "x", "--from", pinned, "--to", pinned),
        "nothing to compress in that range",
    )
    path = tmp_path / "short.db"
    with Tract.open(path=path) as t:
        t.system("You are terse.")
        t.user("Hi")
    assert_one_line_error(*run(capsys, "--db", path, "compress", "--content", "x"), "the range to compress is empty")


def test_gc_dry_run_then_real_after_a_compression(tmp_path, capsys):
    s = therapy_session(tmp_path)
    run(capsys, "--db", s.path, "compress", "--content", SUMMARY)
    with reopen(s.path) as t:
        archived = t.archived()
        digest = t.compile().digest
        reflog = len(t.reflog())

    # defaults: inside the 30-day archive window, nothing goes
    code, out, err = run(capsys, "--db", s.path, "gc", "--dry-run")
    assert (code, err) == (0, "")
    assert out.splitlines()[:4] == [
        "gc of tract 'default': orphans older than 7 days, archived commits older than 30 days "
        "(dry run: nothing was removed)",
        "Would remove 0 commits: 0 orphans, 0 archived by compressions.",
        "Would remove 0 blobs no commit uses any more (0 bytes).",
        "Would expire 0 reflog entries.",
    ]
    assert f"Kept {len(archived)} archived commits: inside the archive window, or still reached by a branch" in out
    assert re.search(r"^File size: [\d,]+ bytes\.$", out, re.M)

    # the archive window alone decides for archived commits (recent reflog entries only protect orphans)
    code, out, _ = run(capsys, "--db", s.path, "gc", "--orphan-days", "0", "--archive-days", "0", "--dry-run")
    lines = out.splitlines()
    assert code == 0 and lines[0].endswith("(dry run: nothing was removed)")
    assert lines[1] == f"Would remove {len(archived)} commits: 0 orphans, {len(archived)} archived by compressions."
    assert re.fullmatch(r"Would remove (\d+) blobs no commit uses any more \([\d,]+ bytes\)\.", lines[2])
    assert lines[3] == f"Would expire {reflog} reflog entries."
    with reopen(s.path) as t:
        assert t.archived() == archived and t.show(s.users[0]).hash == s.users[0]  # a dry run removes nothing

    files = (s.path, s.path.with_name(s.path.name + "-wal"))
    size_before = sum(f.stat().st_size for f in files if f.exists())
    code, out, err = run(capsys, "--db", s.path, "gc", "--orphan-days", "0", "--archive-days", "0", "--vacuum", "full")
    assert (code, err) == (0, "")
    real = out.splitlines()
    assert real[0] == "gc of tract 'default': orphans older than 0 days, archived commits older than 0 days"
    assert real[1:4] == [
        line.replace("Would remove", "Removed").replace("Would expire", "Expired") for line in lines[1:4]
    ]
    match = re.fullmatch(r"File size: ([\d,]+) → ([\d,]+) bytes \(([-+][\d,]+)\)\.", real[-1])
    assert match is not None
    before_bytes, after_bytes = (int(match[i].replace(",", "")) for i in (1, 2))
    assert before_bytes == size_before and after_bytes < before_bytes
    assert "Kept" not in out
    with reopen(s.path) as t:
        assert t.archived() == [] and t.compile().digest == digest  # the context is untouched
        assert t.verify() > 0
    assert_one_line_error(*run(capsys, "--db", s.path, "show", s.users[0]), f"no commit '{s.users[0][:12]}")
    assert "compression" not in run(capsys, "--db", s.path, "status")[1]


def test_gc_removes_orphans_of_a_reset(tmp_path, capsys):
    path, hashes = linear(tmp_path, 4)
    run(capsys, "--db", path, "reset", "HEAD~2")
    code, out, _ = run(capsys, "--db", path, "gc", "--dry-run")
    assert code == 0 and "Would remove 0 commits" in out
    code, out, _ = run(capsys, "--db", path, "gc", "--orphan-days", "0.5", "--vacuum", "none", "--dry-run")
    assert "orphans older than 0.5 days" in out and "Would remove 0 commits" in out  # the reflog is recent
    code, out, _ = run(capsys, "--db", path, "gc", "--orphan-days", "0", "--vacuum", "none")
    assert code == 0
    assert "Removed 2 commits: 2 orphans, 0 archived by compressions." in out
    assert "Removed 2 blobs no commit uses any more" in out
    for gone in hashes[2:]:
        assert_one_line_error(*run(capsys, "--db", path, "show", gone), "no commit")
    with reopen(path) as t:
        assert [c.hash for c in t.log(limit=None)] == hashes[1::-1]


def test_compress_and_gc_on_postgres(postgres_server, capsys):
    url = create_database(postgres_server)
    with Tract.open(url=url, tract_id="pg") as t:
        t.system("You are terse.")
        for n in range(8):
            t.user(f"question {n}")
    code, out, err = run(capsys, "--db", url, "--tract", "pg", "compress", "--content", "Eight questions.")
    assert (code, err) == (0, "") and out.startswith("Compressed 2 messages into the summary ")
    code, out, err = run(capsys, "--db", url, "--tract", "pg", "gc", "--orphan-days", "0", "--archive-days", "0")
    assert (code, err) == (0, "")
    assert "Removed 8 commits: 0 orphans, 8 archived by compressions." in out and "File size" not in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["gc", "--orphan-days", "-1"], "-1 is not a non-negative number of days"),
        (["gc", "--archive-days", "soon"], "'soon' is not a number of days"),
        (["gc", "--vacuum", "always"], "invalid choice: 'always'"),
        (["compress", "--approve", "one"], "'one' is not a whole number"),
    ],
)
def test_gc_and_compress_usage_errors(tmp_path, capsys, argv, expected):
    path, _ = linear(tmp_path)
    code, _, err = run(capsys, "--db", path, *argv)
    assert code == 2 and expected in err


# -- the documentation --------------------------------------------------------------------------


def documented_examples() -> list[tuple[str, list[str]]]:
    """In page order: each ``$ tract ...`` line of docs/cli.md with the output lines shown under it,
    and each ```python block (as ``("python", [its lines])``)."""
    examples: list[tuple[str, list[str]]] = []
    block: str | None = None
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            block = line[3:] or None
            if block == "python":
                examples.append(("python", []))
        elif block == "python":
            examples[-1][1].append(line)
        elif block == "console" and line.startswith("$ "):
            examples.append((line[2:], []))
        elif block == "console" and examples:
            examples[-1][1].append(line)
    return examples


def test_the_documented_examples_run(tmp_path, monkeypatch, capsys):
    """Every example runs, in page order, in one directory (python blocks write stores the commands
    then use). Output shown under a command is its exact output: an error (status 2) or a merge
    conflict (status 1) on stderr, anything else on stdout (status 0)."""
    monkeypatch.chdir(tmp_path)
    examples = documented_examples()
    assert [command for command, _ in examples][0] == "tract demo"
    for command, shown in examples:
        if command == "python":
            exec(compile("\n".join(shown), "docs/cli.md", "exec"), {"__name__": "__doc_example__"})
            continue
        argv = shlex.split(command.split("|")[0])
        assert argv[0] == "tract"
        code, out, err = run(capsys, *argv[1:])
        if shown and shown[0].startswith("tract: error: "):
            assert (code, out, err.splitlines()) == (2, "", shown), command
        elif shown and shown[0].startswith("tract: merge conflict: "):
            assert (code, out, err.splitlines()) == (1, "", shown), command
        elif shown:
            assert (code, err, out.splitlines()) == (0, "", shown), command
        else:
            assert (code, err) == (0, ""), command
            assert out


# -- the real process ---------------------------------------------------------------------------


def test_the_console_script_pipes_plain_json(demo):
    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": "80"}
    command = [sys.executable, "-m", "tract_core", "--db", str(demo.path), "compile", "--json"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout
    pretty = subprocess.run(
        [sys.executable, "-m", "json.tool"], input=result.stdout, capture_output=True, text=True, timeout=60
    )
    assert pretty.returncode == 0 and json.loads(pretty.stdout)["head"] == demo.correction

    failed = subprocess.run(
        [sys.executable, "-m", "tract_core", "--db", str(demo.path), "show", "HEAD~99"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert failed.returncode == 2
    assert failed.stdout == "" and "Traceback" not in failed.stderr
    assert failed.stderr.startswith("tract: error: ") and failed.stderr.count("\n") == 1
