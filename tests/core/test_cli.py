"""The ``tract`` command line: run in-process through ``main()``, and as a real process."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tract_core import Tract
from tract_core.cli import main
from tract_core.demo import DemoStore, build_demo
from tract_core.testing import create_database

pytestmark = pytest.mark.filterwarnings("ignore::tract_core.TokenizerFallbackWarning")

COMMANDS = ("log", "show", "status", "compile", "diff", "demo")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render rich output 200 columns wide so no cell is cut, and ignore the caller's $TRACT_DB."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("TRACT_DB", raising=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    return build_demo(tmp_path_factory.mktemp("demo") / "demo.db")


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


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
    assert_one_line_error(*run(capsys, "--db", path, "log"), "no tract 'default'", "alpha, beta")
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


# -- the documentation --------------------------------------------------------------------------


def documented_examples() -> list[tuple[str, list[str]]]:
    """Each ``$ tract ...`` line of docs/cli.md with the output lines shown under it."""
    examples: list[tuple[str, list[str]]] = []
    in_console = False
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_console = line == "```console"
        elif in_console and line.startswith("$ "):
            examples.append((line[2:], []))
        elif in_console and examples:
            examples[-1][1].append(line)
    return examples


def test_the_documented_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    examples = documented_examples()
    assert [command for command, _ in examples][0] == "tract demo"
    for command, shown in examples:
        argv = shlex.split(command.split("|")[0])
        assert argv[0] == "tract"
        code, out, err = run(capsys, *argv[1:])
        if shown:
            assert (code, out, err.splitlines()) == (2, "", shown), command
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
